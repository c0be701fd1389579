"""The Rosetta study's experiment grids: which runs each chapter trains, labelled by the knob they vary.

A grid is a list of ``(sweep, level, config)``. Sweeps share their base point, so no run is trained twice.
"""

from __future__ import annotations

from crosslingual.config import RunConfig, make_config

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
    return [(sweep, level, make_config(profile, seed=s, world_seed=s, **{**overrides, **knobs}))
            for sweep, level, knobs in points for s in range(seed, seed + seeds)]


def exposure_grid(profile: str, seeds: int, seed: int = 0, **overrides) -> list[tuple[str, float, RunConfig]]:
    """The runs of ``04_exposure_control``: the parallel-fraction sweep of ``03_information`` (shared runs) and
    its exposure-matched control, where the same facts are repeated K times in their one language."""
    return [(mode, p, make_config(profile, seed=s, world_seed=s, **{**overrides, "parallel_fraction": p,
                                                                      "parallel_mode": mode}))
            for mode in ("parallel", "repeat") for p in PARALLEL_LEVELS for s in range(seed, seed + seeds)]
