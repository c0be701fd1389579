"""Linguistic regions (G1-G3) on a pretrained causal LM of :mod:`crosslingual.pretrained`: regions chosen on the
selection side of the Sphinx catalogues' text (:mod:`crosslingual.catalogues`), judged on the evaluation side.

The recipe is chapter 10's (:mod:`crosslingual.regions_study`): signed importance per selected language, the
core / bottom / random 1% regions zeroed in turn, monolingual regions, one norm-weight entry scaled on the
outlier dimension and on typical ones. What differs is the unit. Our models give one number per seed; one
pretrained model has one set of weights, so the units here are the evaluation sequences (consecutive windows of
held-out text in each language), and a verdict describes this model on this text. Sequences of one index are
paired across languages (the j-th window of each), which G2's excess and G3's mean over languages use; the
windows are not translations of each other (the catalogues translate different subsets of messages).

The per-batch ``|theta * grad|`` alternative of our models' chapter is left out here (its cost doubles the
importance pass on a 135M-parameter model); every window is full text, so no padding enters a loss.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from crosslingual import catalogues
from crosslingual.regions import (ablated, bottom_region, dimension_gain, importance, jaccard, monolingual_regions,
                                  norm_input_magnitudes, outlier_and_typical, random_region, region_map, scaled, size,
                                  top_region, total_scores)
from crosslingual.regions_study import PAPER_FRACTION, RegionAnalysis, from_tables, to_tables
from crosslingual.runs import cached_tables

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
BATCH = 8  # windows per forward pass
VERSION = 3  # of ``analyse_model``'s computation: bump it when that changes, and its cached tables are redone


def design(profile: str) -> dict[str, int]:
    """The profile's design as ``analyse_pretrained``'s keyword arguments."""
    if profile not in DESIGNS:
        raise ValueError(f"profile={profile!r} has no design for the pretrained regions: choose one of "
                         f"{', '.join(DESIGNS)}")
    return dict(zip(("length", "n_select", "n_evaluate"), DESIGNS[profile]))


def check_design(length: int, n_select: int, n_evaluate: int) -> None:
    """A clear error for a design the analysis cannot use, before any model is loaded."""
    for name, value, low in (("length", length, 8), ("n_select", n_select, 1), ("n_evaluate", n_evaluate, 5)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name}={value!r} is out of range: an integer >= {low} (n_evaluate: the verdicts "
                             "need at least 5 units)")


def sequence_losses(model: torch.nn.Module, tokens: torch.Tensor, batch_size: int = BATCH) -> torch.Tensor:
    """Mean next-token loss of every window (``[n]``), in batches, without gradients."""
    with torch.no_grad():
        return torch.cat([_window_loss(model, chunk) for chunk in tokens.split(batch_size)])


def _window_loss(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids=tokens).logits[:, :-1]
    return F.cross_entropy(logits.transpose(1, 2).float(), tokens[:, 1:], reduction="none").mean(1)


def mean_loss(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """The mean loss over windows: the importance pass's objective (every window has the same length)."""
    return _window_loss(model, tokens).mean()


def windows(tokenizer, which: str, languages: tuple[str, ...], n: int, length: int) -> dict[str, torch.Tensor]:
    """``n`` windows of ``length`` tokens per language from side ``which`` of the catalogues; a model whose
    tokenizer has a beginning-of-text token gets it at the start of every window."""
    bos = tokenizer.bos_token_id
    return {lang: catalogues.sequences(tokenizer, catalogues.text(lang, which), length, n, bos) for lang in languages}


def analyse_model(model: torch.nn.Module, select: dict[str, torch.Tensor], held: dict[str, torch.Tensor], *,
                  fraction: float = PAPER_FRACTION, factor: float = FACTOR, n_typical: int = N_TYPICAL,
                  seed: int = 0, progress: bool = False) -> RegionAnalysis:
    """G1-G3 on one model: importance on ``select`` (language -> windows), every region zeroed in turn and every
    language of ``held`` measured per window. The model's weights are restored exactly after each step."""
    model.eval()
    with norm_input_magnitudes(model) as measured:  # the outlier dimension, from the same forward passes
        before = {lang: sequence_losses(model, t) for lang, t in held.items()}
    magnitudes = measured()
    steps = tqdm(total=len(select) + 3 + len(select) + 1 + n_typical, desc="regions", disable=not progress)

    def rises(**labels) -> list[dict]:
        rows = []
        for lang, tokens in held.items():
            after = sequence_losses(model, tokens)
            rows += [{**labels, "language": lang, "selected": lang in select, "sequence": j, "loss": float(a),
                      "rise": float(a - b)} for j, (a, b) in enumerate(zip(after, before[lang]))]
        steps.update()
        return rows

    scores = {}
    for lang, tokens in select.items():
        scores[lang] = importance(model, tokens, mean_loss, batch_size=BATCH)
        steps.update()
    total = total_scores(scores)
    regions = {"core": top_region(model, total, fraction), "bottom": bottom_region(model, total, fraction),
               "random": random_region(model, fraction, seed=seed)}
    ablation = []
    for name, mask in regions.items():
        with ablated(model, mask):
            ablation += rises(fraction=fraction, region=name, entries=size(mask),
                              jaccard_with_core=jaccard(mask, regions["core"]))
    own = {lang: top_region(model, s, fraction) for lang, s in scores.items()}
    mono = monolingual_regions(own)
    monolingual = []
    for owner, mask in mono.items():
        with ablated(model, mask):
            monolingual += rises(owner=owner, entries=size(mask))
    overlap = pd.DataFrame([{"a": a, "b": b, "jaccard": jaccard(own[a], own[b])}
                            for i, a in enumerate(select) for b in list(select)[i + 1:]])
    union = {n: torch.stack([m[n] for m in mono.values()]).any(0) for n in next(iter(own.values()))}
    importance_map = region_map(model, total)

    param, dim, typical = outlier_and_typical(magnitudes, n_typical)
    scaling = []
    for kind, d in [("outlier", dim), *(("typical", t) for t in typical)]:
        with scaled(model, param, d, factor):
            rows = pd.DataFrame(rises())
        per_window = rows.groupby("sequence").rise.mean()  # the mean over languages of the j-th windows
        scaling += [{"kind": kind, "dimension": d, "factor": factor, "sequence": int(j), "rise": float(r)}
                    for j, r in per_window.items()]
    steps.close()
    row = magnitudes.loc[param]
    return RegionAnalysis(
        ablation=pd.DataFrame(ablation), monolingual=pd.DataFrame(monolingual), overlap=overlap,
        scaling=pd.DataFrame(scaling), importance_map=importance_map / importance_map.to_numpy().sum(),
        monolingual_map=region_map(model, union),
        outlier={"param": param, "dimension": dim, "ratio": float(row[dim] / row.median()),
                 "gain": dimension_gain(model, param, dim)})


def text_digest(languages: tuple[str, ...]) -> str:
    """SHA-256 of the catalogue text of ``languages`` on both sides: a new Sphinx with other translations
    makes a new cache key."""
    h = hashlib.sha256()
    for lang in languages:
        for which in catalogues.SIDES:
            h.update(f"{lang}/{which}\n{catalogues.text(lang, which)}\n".encode())
    return h.hexdigest()


def analyse_pretrained(name: str = MODEL, *, length: int, n_select: int, n_evaluate: int,
                       progress: bool = False) -> RegionAnalysis:
    """``analyse_model`` on the installed pretrained model ``name``, cached in the run store (one table per
    field) under the model's file digest, the converter's and this module's versions, the text's digest and
    the design; ``crosslingual.pretrained.NotInstalled`` if its package is not installed."""
    from crosslingual import pretrained

    check_design(length, n_select, n_evaluate)
    key = dict(model=name, source=pretrained.source_digest(name), converter=pretrained.CONVERTER_VERSION,
               text=text_digest(EVALUATED), selected=list(SELECTED), evaluated=list(EVALUATED), length=length,
               n_select=n_select, n_evaluate=n_evaluate, fraction=PAPER_FRACTION, factor=FACTOR,
               n_typical=N_TYPICAL)

    def compute() -> dict[str, pd.DataFrame]:
        model, tokenizer, _ = pretrained.load_causal_lm(name)
        select = windows(tokenizer, "select", SELECTED, n_select, length)
        held = windows(tokenizer, "evaluate", EVALUATED, n_evaluate, length)
        return to_tables(analyse_model(model, select, held, progress=progress))

    tables = cached_tables("pretrained-regions", key, compute, list(RegionAnalysis.__dataclass_fields__),
                           version=VERSION)
    return from_tables(tables)


def summary(analysis: RegionAnalysis) -> dict:
    """The section's numbers of one pretrained analysis, each a mean over windows: the core's smallest and largest
    rise over the evaluated languages, the largest rise of a control (bottom or random) in any language, the
    outlier's rise and the median typical dimension's, and the outlier itself (norm weight, dimension, ratio, and
    the gain its norm applies there: a gain of 0 shuts the dimension off, and no scaling of it can act)."""
    rise = analysis.ablation.groupby(["region", "language"]).rise.mean()
    at = analysis.scaling.groupby(["kind", "dimension"]).rise.mean()
    return {"core_min": float(rise["core"].min()), "core_max": float(rise["core"].max()),
            "control_max": float(rise.drop(index="core").max()),
            "outlier_rise": float(at["outlier"].mean()), "typical_rise": float(at["typical"].median()),
            **{f"outlier_{k}": v for k, v in analysis.outlier.items()}}
