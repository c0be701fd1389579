"""The designs the claims' rules were committed with, which the analyses must follow: what a rule's text quotes
and its check assumes (which pretrained models, which languages, how many windows, which scaling factor, which
frozen shares and learning rate). They live here, below the analyses, so that a rule and the analysis it judges
read the same constants, and the claims import no analysis.
"""

from __future__ import annotations

from crosslingual.data import catalogues

# G1-G3 on pretrained causal LMs (crosslingual.analysis.regions_pretrained)
MODEL = "smollm2-135m"  # the pretrained model of the book's G1-G3 rows: a Llama, as the paper's LLaMA-2
GEMMA = "gemma-3-270m"  # the second, of another family: 2.4x the cost per window (its 262k-piece LM head)
MODELS = (MODEL, GEMMA)
SELECTED = ("en", "ru", "zh_CN", "hi")  # four scripts, as our models' chapter selects on four languages
EVALUATED = tuple(catalogues.LANGUAGES)  # eleven languages in nine scripts; seven never influence the choice
# (length, n_select, n_evaluate) per profile: tokens per window, windows per selected language for importance,
# windows per evaluated language (the units of the verdicts). The cost is about 12 forward passes over the
# evaluated windows (before and magnitudes in one, 3 regions, 4 monolingual, 1 + N_TYPICAL scalings) plus one
# backward pass over the selected ones: at ``default`` 199 s on one core of a 2-core AVX-512 AMD EPYC (measured,
# the model's conversion not counted), at ``paper`` about 8x that. A message of the catalogues is a short
# sentence and consecutive messages are unrelated, so a longer window adds little context to the loss it measures.
DESIGNS = {"smoke": (16, 2, 5), "default": (32, 8, 8), "paper": (128, 16, 16)}
FACTOR = 4.0  # the paper's single-parameter scaling
N_TYPICAL = 3  # typical dimensions scaled as controls (their median is the control's rise)

# G4-redesign: continued training of the study regions' models (crosslingual.analysis.regions_study)
G4_REDESIGN_FRACTIONS = (0.01, 0.05, 0.2)  # G4-redesign's frozen shares (the paper's 1%, and larger ones)
G4_REDESIGN_LR = 2e-3  # G4-redesign's learning rate: where the pilot forgot a fifth to two fifths (its rule)
