"""The Rosetta study's experiment grids: which runs each chapter trains, labelled by the knob they vary.

A grid is a list of ``(sweep, level, config)``. Sweeps share their base point, so no run is trained twice.
"""

from __future__ import annotations

from crosslingual.config import RunConfig, make_config


def _grid(points: list[tuple[str, float, dict]], profile: str, seeds: int, seed: int,
          overrides: dict) -> list[tuple[str, float, RunConfig]]:
    """Every point for ``seeds`` seeds; seed and world seed vary together, so a run is the independent unit."""
    return [(sweep, level, make_config(profile, seed=s, world_seed=s, **{**overrides, **knobs}))
            for sweep, level, knobs in points for s in range(seed, seed + seeds)]


# R4: how informative the language is. Each sweep moves one knob away from the baseline world of chapter 2
# (p = 0.6, b = 1/K, lambda = 0), towards more information in the language (or, for p, less).
PARALLEL_LEVELS = (0.2, 0.4, 0.6, 0.8)  # lowers I(fact; L)
ASSOCIATION_LEVELS = (0.5, 2 / 3, 5 / 6, 1.0)  # b: raises I(entity; L)
ATTRIBUTE_LEVELS = (0.0, 1 / 3, 2 / 3, 1.0)  # lambda at b = 1: raises I(value; L)


def information_grid(profile: str, seeds: int, seed: int = 0, **overrides) -> list[tuple[str, float, RunConfig]]:
    """The runs of ``03_information``: three one-knob sweeps of four levels each, ``seeds`` seeds each."""
    points: list[tuple[str, float, dict]] = []
    points += [("parallel_fraction", p, dict(parallel_fraction=p)) for p in PARALLEL_LEVELS]
    points += [("language_association", b, dict(language_association=b)) for b in ASSOCIATION_LEVELS]
    points += [("attribute_association", lam, dict(language_association=1.0, attribute_association=lam))
               for lam in ATTRIBUTE_LEVELS]
    return _grid(points, profile, seeds, seed, overrides)


def exposure_grid(profile: str, seeds: int, seed: int = 0, **overrides) -> list[tuple[str, float, RunConfig]]:
    """The runs of ``04_exposure_control``: the parallel-fraction sweep of ``03_information`` (shared runs) and
    its exposure-matched control, where the same facts are repeated K times in their one language."""
    points = [(mode, p, dict(parallel_fraction=p, parallel_mode=mode)) for mode in ("parallel", "repeat")
              for p in PARALLEL_LEVELS]
    return _grid(points, profile, seeds, seed, overrides)


# R5: how easy the language is to extract. One-knob changes of the baseline world, each predicted to make the
# language easier (+1) or harder (-1) to extract, and so to lower (+1) or raise (-1) unification.
CUE_ARMS = {"language_marker": (dict(language_marker=True), +1),
            "shared_function_words": (dict(shared_function_words=True), -1)}
OVERLAP_LEVELS = (0.0, 1 / 3, 2 / 3, 1.0)  # entity_overlap: shared entity names are language-neutral tokens
# BPE in one script: smaller vocabularies share more pieces between the languages. Word level (the baseline:
# with atomic tokens the script is invisible to the model) is the largest vocabulary of the sweep.
SAME_SCRIPT = ("latin", "latin")
BPE_LEVELS = (96, 192)


def extractability_grid(profile: str, seeds: int, seed: int = 0, **overrides) -> list[tuple[str, float, RunConfig]]:
    """The runs of ``05_extractability``: the baseline, the two cue arms (level 1 = knob on), the entity
    overlap sweep and the same-script vocabulary sweep (level = BPE vocabulary size; 0 = word level)."""
    points: list[tuple[str, float, dict]] = [("baseline", 0.0, {})]
    points += [(arm, 1.0, knobs) for arm, (knobs, _) in CUE_ARMS.items()]
    points += [("entity_overlap", x, dict(entity_overlap=x)) for x in OVERLAP_LEVELS]
    points += [("vocabulary", 0.0, {})]
    points += [("vocabulary", v, dict(scripts=SAME_SCRIPT, tokenizer="bpe", bpe_vocab_size=v)) for v in BPE_LEVELS]
    return _grid(points, profile, seeds, seed, overrides)


# R7: interventions on the data or the loss, each compared with its own control at the same parallel fraction,
# steps and batch size (no extra parallel data). arm -> (control arm, knobs).
INTERVENTIONS: dict[str, tuple[str, dict]] = {
    "balanced attributes": ("unbalanced attributes", dict(language_association=1.0, attribute_association=0.0)),
    "unbalanced attributes": ("", dict(language_association=1.0, attribute_association=1.0)),
    "shared function words": ("baseline", dict(shared_function_words=True)),
    "no language marker": ("language marker", {}),
    "language marker": ("", dict(language_marker=True)),
    "shared subwords": ("separate subwords", dict(scripts=SAME_SCRIPT, tokenizer="bpe", bpe_vocab_size=96)),
    "separate subwords": ("", dict(tokenizer="bpe", bpe_vocab_size=96)),
    "code-switching": ("baseline", dict(code_switching=0.25)),
    "alignment loss": ("baseline", dict(align_weight=1.0)),
    "baseline": ("", {}),
}


def intervention_grid(profile: str, seeds: int, seed: int = 0, **overrides) -> list[tuple[str, float, RunConfig]]:
    """The runs of ``06_interventions``: every arm and control of ``INTERVENTIONS`` (level unused)."""
    return _grid([(arm, 0.0, knobs) for arm, (_, knobs) in INTERVENTIONS.items()], profile, seeds, seed, overrides)
