"""Simulated tables for every registered rule: data with no effect (the nulls a rule must not pass) and data with the
claimed effect (the positive scenario it must pass), in the shapes the chapters hand to the checks.

``science.md`` 5 asks every rule to pass (reproduced or partial) at most 5% of tables with no effect, within stated
Monte-Carlo error, and to pass a stated positive scenario; ``tests/unit/test_calibration.py`` runs
:data:`CALIBRATIONS` for that, and fails for a registered rule without one. The nulls are of four kinds:

- ``noise``: every quantity the claim compares is drawn alike (seed effects and skewed noise included, so that a
  test that needs symmetry would show it);
- ``trend`` (and ``saturation``): a shared training-time trend, linear in steps or an exponential saturation, that
  moves every quantity together with no relation between runs: what training time alone produces;
- ``opposite``: the claimed effect with the wrong sign;
- ``no part``: for a rule of several parts, no effect in any of them (the multiplicity of "partial if any holds").

A reader can reuse a simulator to calibrate a new rule: each takes a generator and a scenario and returns the
check's verdict on one simulated table. The sizes (5 seeds, 3-6 runs or levels per seed) are those of the
``default`` profile.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crosslingual.claims import hyperpolyglot as hp
from crosslingual.claims import linguistic_regions as lr
from crosslingual.claims import rosetta as ro
from crosslingual.claims.verdicts import PASSES, Verdict

SEEDS = 5
STEPS = np.unique(np.r_[0, np.geomspace(1, 1000, 24).round()])  # the default profile's log-spaced checkpoints
NOISE = "noise"
TREND, SATURATION = "trend", "saturation"
OPPOSITE, NO_PART = "opposite", "no part"
POSITIVE = "positive"


def skewed(rng: np.random.Generator, size, scale: float = 1.0) -> np.ndarray:
    """Right-skewed noise with median 0: an exponential less its median, so that the seed-level values of a null
    are as skewed as the accuracies near 0 and the loss rises the runs show."""
    return scale * (rng.exponential(1.0, size) - np.log(2.0))


# ---------------------------------------------------------------------------------------------- Rosetta
def r1(rng, scenario):
    gap = {NOISE: 0.0, OPPOSITE: -0.2, POSITIVE: 0.7}[scenario]
    runs = np.repeat(np.arange(SEEDS), 3)
    xling = np.clip(0.2 + rng.normal(0, 0.05, SEEDS)[runs] + skewed(rng, len(runs), 0.03), 0, 1)
    table = pd.DataFrame({"seed": runs, "acc_xling": xling,
                          "acc_in": np.clip(xling + gap + rng.normal(0, 0.05, len(runs)), 0, 1)})
    return ro.r1_cross_lingual_gap(table)


def _curve(rng, kind: str, shift: float) -> np.ndarray:
    """One run's curve over STEPS: a sharp sigmoid in log-step (a phase), an exponential saturation, a linear trend,
    a fall, or noise."""
    x, t = np.log10(STEPS + 1), STEPS
    if kind == "phase":
        y = 1 / (1 + np.exp(-(x - 1.8 - shift) / 0.15))
    elif kind == "saturation":
        y = 1 - np.exp(-t / rng.uniform(30, 200))
    elif kind == "trend":
        y = t / t.max()
    elif kind == "fall":
        y = np.exp(-t / rng.uniform(30, 200))
    else:
        y = np.zeros_like(x)
    return y + rng.normal(0, 0.03, len(x))


def _phases(rng, scenario, rule):
    unification, transfer = {NOISE: ("noise", "saturation"), SATURATION: ("saturation", "saturation"),
                             TREND: ("trend", "trend"), OPPOSITE: ("fall", "saturation"),
                             POSITIVE: ("phase", "phase")}[scenario]
    rows = []
    for seed in range(SEEDS):
        for run in range(2):
            shift = rng.normal(0, 0.05)
            u, a = _curve(rng, unification, shift), _curve(rng, transfer, shift)
            rows.append(pd.DataFrame({"seed": seed, "run": f"{seed}-{run}", "step": STEPS,
                                      "unification": 0.2 + 0.3 * u, "acc_xling": 0.05 + 0.3 * a}))
    return ro.r2_learning_phase(pd.concat(rows), chance=0.05, rule=rule)[-1]


def _correlation_runs(rng, scenario) -> pd.DataFrame:
    """Runs x checkpoints of R3: both quantities saturate with training; their run-level asymptotes are related
    (positive), unrelated (the nulls) or opposite."""
    rows, runs, steps = [], 5, STEPS[::3]
    relation = {NOISE: 0.0, SATURATION: 0.0, TREND: 0.0, OPPOSITE: -1.0, POSITIVE: 1.0}[scenario]
    for seed in range(SEEDS):
        level = rng.normal(0, 1, runs)
        other = relation * level + (1 - abs(relation)) * rng.normal(0, 1, runs) + rng.normal(0, 0.05, runs)
        tau = rng.uniform(50, 200)
        for run in range(runs):
            shape = 1 - np.exp(-steps / tau) if scenario != TREND else steps / steps.max()
            if scenario == NOISE:
                shape = np.zeros_like(shape)
            rows.append(pd.DataFrame({
                "seed": seed, "run": f"{seed}-{run}", "step": steps,
                "unification": shape * (0.4 + 0.05 * level[run]) + rng.normal(0, 0.005, len(steps)),
                "acc_xling": shape * (0.3 + 0.05 * other[run]) + rng.normal(0, 0.005, len(steps))}))
    return pd.concat(rows, ignore_index=True)


def r3(rng, scenario):
    return ro.r3_unification_predicts_transfer(_correlation_runs(rng, scenario))


def _information(rng, scenario, rule, sweeps=("language_association", "attribute_association")):
    slope = {NOISE: 0.0, OPPOSITE: +0.1, POSITIVE: -0.1}[scenario]
    rows = []
    for sweep in sweeps:
        for seed in range(SEEDS):
            base = rng.normal(0, 0.05)
            for level, information in enumerate((0.0, 0.1, 0.2, 0.35)):
                rows.append({"sweep": sweep, "seed": seed, "information": information, "prior": 0.05,
                             "unification": 0.4 + base + slope * level + skewed(rng, None, 0.02),
                             "acc_xling": 0.3 + base + slope * level + skewed(rng, None, 0.02)})
    return [v for v in ro.r4_information(pd.DataFrame(rows), rule) if v.claim == rule.claim][0]


def _extractability(rng, scenario, rule, arms, trend_sweeps):
    shift = {NOISE: 0.0, OPPOSITE: -0.1, POSITIVE: 0.15}[scenario]  # along each arm's predicted direction
    rows = []
    for seed in range(SEEDS):
        base = rng.normal(0.4, 0.05)
        rows.append({"sweep": "baseline", "level": 0, "seed": seed, "unification": base + skewed(rng, None, 0.02)})
        for arm, sign in arms.items():
            rows.append({"sweep": arm, "level": 1, "seed": seed,
                         "unification": base - sign * shift + skewed(rng, None, 0.02)})
        for level in (96, 128, 192):
            rows.append({"sweep": "vocabulary", "level": level, "seed": seed,
                         "unification": base - shift * level / 96 + skewed(rng, None, 0.02)})
        for level in range(3):
            rows.append({"sweep": "entity_overlap", "level": level, "seed": seed,
                         "unification": base + 0.05 * level + skewed(rng, None, 0.02)})
    verdicts = ro.r5_extractability(pd.DataFrame(rows), arms, rule, trend_sweeps)
    return verdicts[-1]


def r6(rng, scenario):
    gain = {NOISE: 0.0, TREND: 0.0, OPPOSITE: -0.15, POSITIVE: 0.2}[scenario]
    rows = []
    for seed in range(SEEDS):
        base = rng.normal(0.15, 0.03)
        for level in (0.2, 0.4, 0.6, 0.8):
            exposure = 0.2 * level if scenario != NOISE else 0.0  # repeated data helps as much as parallel data
            for mode, extra in (("parallel", gain * level), ("repeat", 0.0)):
                rows.append({"mode": mode, "level": level, "seed": seed,
                             "acc_xling": base + exposure + extra + skewed(rng, None, 0.02)})
    return ro.r6_exposure_control(pd.DataFrame(rows))


def _interventions(rng, scenario, rule, controls, claimed):
    gain = {NOISE: 0.0, OPPOSITE: -0.1, POSITIVE: 0.2}[scenario]
    arms = {arm for pair in controls.items() for arm in ((pair[0], pair[1]) if isinstance(pair[1], str) else pair[1])}
    arms.discard("")
    treated = {(intervention if isinstance(pair, str) else pair[0]) for intervention, pair in controls.items()
               if intervention in claimed}
    rows = []
    for seed in range(SEEDS):
        base = rng.normal(0.2, 0.03)
        for arm in arms:
            rows.append({"arm": arm, "seed": seed, "prior": 0.05, "unification": base + skewed(rng, None, 0.02),
                         "acc_xling": base + (gain if arm in treated else 0.0) + skewed(rng, None, 0.02)})
    verdicts, _ = ro.r7_interventions(pd.DataFrame(rows), controls, rule, claimed)
    return verdicts[-1]


def r8(rng, scenario):
    relation = {NOISE: 0.0, OPPOSITE: -1.0, POSITIVE: 1.0}[scenario]
    languages = [f"l{i}" for i in range(6)]
    strength = rng.normal(0, 1, len(languages))
    rows = []
    for i, a in enumerate(languages):
        for j in range(i + 1, len(languages)):
            u = strength[i] + strength[j] + rng.normal(0, 0.5)
            noise = rng.normal(0, 1)
            rows.append({"a": a, "b": languages[j], "unification": u,
                         "transfer": relation * u + (1 - abs(relation)) * noise + rng.normal(0, 0.3)})
    return ro.r8_real_model(pd.DataFrame(rows))


# ---------------------------------------------------------------------------------------------- Hyperpolyglot
def h1(rng, scenario):
    level = {NOISE: 0.5, OPPOSITE: 0.4, POSITIVE: 0.97}[scenario]
    rows = [{"seed": seed, "tokenizer": tokenizer, "separability": float(np.clip(level + rng.normal(0, 0.015), 0, 1))}
            for tokenizer in ("word", "BPE") for seed in range(SEEDS)]
    return hp.h1_script_separability(pd.DataFrame(rows))[-1]


def h1_redesign(rng, scenario):
    level = {NOISE: 0.5, OPPOSITE: 0.45, POSITIVE: 0.95}[scenario]
    rows = [{"seed": seed, "run": seed, "step": step, "shuffled": 0.5 + rng.normal(0, 0.02),
             "separability": float(np.clip(level + rng.normal(0, 0.03), 0, 1))}
            for seed in range(SEEDS) for step in (0, 100, 1000)]
    return hp.h1_redesign(pd.DataFrame(rows))


def h1_real(model):
    def simulate(rng, scenario):
        level = {NOISE: 0.5, OPPOSITE: 0.45, POSITIVE: 0.97}[scenario]
        table = pd.DataFrame({"category": range(24), "accuracy": np.clip(level + rng.normal(0, 0.04, 24), 0, 1)})
        return hp.h1_real_model(table, model)
    return simulate


def _neighbourhood_runs(rng, scenario, measures):
    relation = {NOISE: (0.0, 0.0), OPPOSITE: (-1.0, -1.0), NO_PART: (0.0, 0.0), POSITIVE: (1.0, 1.0)}[scenario]
    rows = []
    for seed in range(SEEDS):
        u = rng.uniform(0, 0.5, 6)
        row = {"seed": seed, "unification": u}
        for measure, r in zip(measures, relation):
            row[measure] = 0.3 + 0.2 * (r * u + (1 - abs(r)) * rng.uniform(0, 0.5, 6)) + rng.normal(0, 0.01, 6)
            row[f"{measure}_shuffled"] = np.full(6, 0.5)
        rows.append(pd.DataFrame(row))
    return pd.concat(rows, ignore_index=True)


def h2(rng, scenario):
    return hp.h2_neighbourhoods_follow_unification(
        _neighbourhood_runs(rng, scenario, ("cross_script_share", "translation_precision")))


def h2_redesign(rng, scenario):
    return hp.h2_redesign(_neighbourhood_runs(rng, scenario, ("neighbor_categories", "translation_precision")))


def h2_real(rng, scenario):
    difference = {NOISE: 0.0, OPPOSITE: -0.1, POSITIVE: 0.2}[scenario]
    rows = []
    for language in range(8):
        base = rng.uniform(0.1, 0.5, 2)
        for model, extra in ((hp.H1_REAL_MODEL, difference), (hp.H1_GEMMA_MODEL, 0.0)):
            rows.append({"model": model, "language": language, "pairs": 40,
                         "precision": base[0] + extra + rng.normal(0, 0.05),
                         "cross_share": base[1] + extra + rng.normal(0, 0.05)})
    return hp.h2_real_models(pd.DataFrame(rows))


H3_CHANCE = 0.05


def h3(rng, scenario):
    rows = []
    for pair in range(SEEDS):
        for i, step in enumerate(STEPS[::4]):
            progress = i / (len(STEPS[::4]) - 1)
            overlap = {NOISE: H3_CHANCE, TREND: H3_CHANCE + 0.08 * progress,  # creeps up, below chance + 0.1
                       OPPOSITE: H3_CHANCE - 0.03 * progress, POSITIVE: H3_CHANCE + 0.3 * progress}[scenario]
            rows.append({"pair": pair, "step": step, "overlap": overlap + rng.normal(0, 0.01)})
    return hp.h3_geometry_agrees_across_seeds(pd.DataFrame(rows), H3_CHANCE)


def h3_real(rng, scenario):
    level = {NOISE: 0.001, OPPOSITE: 0.0, POSITIVE: 0.25}[scenario]
    table = pd.DataFrame({"category": range(21), "overlap": np.clip(level + rng.normal(0, 0.01, 21), 0, 1)})
    return hp.h3_real_models(table, chance=0.001)


# ---------------------------------------------------------------------------------------------- Linguistic regions
def _ablation(rng, scenario, unit, n_units, core_rise, share=False):
    rows = []
    effect = {NOISE: 0.0, OPPOSITE: -core_rise / 4, NO_PART: 0.0, POSITIVE: core_rise}[scenario]
    alike = core_rise if scenario == NO_PART else 0.0  # every region breaks the model alike: large, not specific
    for u in range(n_units):
        model = rng.normal(0, 0.02)
        for language in range(6):
            for region in ("core", "bottom", "random"):
                rise = model + alike + (effect if region == "core" else 0.0) + skewed(rng, None, 0.05)
                row = {unit: u, "region": region, "language": language, "rise": rise}
                if share:
                    row["share"] = rise
                rows.append(row)
    return pd.DataFrame(rows)


def g1(rng, scenario):
    return lr.g1_core_region(_ablation(rng, scenario, "seed", SEEDS, 2.0))


def g1_redesign(rng, scenario):
    return lr.g1_redesign(_ablation(rng, scenario, "seed", SEEDS, 0.8, share=True))


def _monolingual(rng, scenario, unit, n_units):
    own_extra = {NOISE: 0.0, NO_PART: 0.0, OPPOSITE: -0.1, POSITIVE: 0.5}[scenario]
    rows = []
    for u in range(n_units):
        for owner in range(4):
            for language in range(6):
                rows.append({unit: u, "owner": owner, "language": language,  # rises near 0: ratios unstable
                             "rise": (own_extra if language == owner else 0.0) + skewed(rng, None, 0.03)})
    return pd.DataFrame(rows)


def g2(rng, scenario):
    return lr.g2_monolingual_regions(_monolingual(rng, scenario, "seed", SEEDS))


def _scaling(rng, scenario, unit, n_units, breaks, share=False):
    outlier = {NOISE: 0.0, OPPOSITE: -0.05, NO_PART: 0.0, POSITIVE: 3 * breaks}[scenario]
    rows = []
    for u in range(n_units):
        rows.append({unit: u, "kind": "outlier", "dimension": 0, "factor": 4.0,
                     "rise": outlier + skewed(rng, None, 0.01)})
        for d in range(1, 4):
            rows.append({unit: u, "kind": "typical", "dimension": d, "factor": 4.0, "rise": skewed(rng, None, 0.01)})
    table = pd.DataFrame(rows)
    return table.assign(share=table.rise) if share else table


OUTLIER_RATIOS = pd.Series([40.0] * SEEDS)  # an outlier exists (G3's precondition): the claim is then tested


def g3(rng, scenario):
    return lr.g3_outlier_dimension(_scaling(rng, scenario, "seed", SEEDS, lr.G3_BREAK), OUTLIER_RATIOS)


def g3_redesign(rng, scenario):
    return lr.g3_redesign(_scaling(rng, scenario, "seed", SEEDS, lr.G3_REDESIGN_BREAK, share=True), OUTLIER_RATIOS)


@dataclass
class _Analysis:
    ablation: pd.DataFrame
    monolingual: pd.DataFrame
    scaling: pd.DataFrame
    outlier: dict


def regions_real(model: str, claim: str) -> Callable:
    """G1-G3 on a pretrained model: windows of one model as items."""
    def simulate(rng, scenario):
        analysis = _Analysis(_ablation(rng, scenario, "sequence", 8, 2.0),
                             _monolingual(rng, scenario, "sequence", 8),
                             _scaling(rng, scenario, "sequence", 8, lr.G3_BREAK), {"ratio": 40.0})
        return {v.claim: v for v in lr.regions_real_model(analysis, model)}[claim]
    return simulate


def g4(rng, scenario):
    protection = {NOISE: 0.0, NO_PART: 0.0, OPPOSITE: -0.02, POSITIVE: 0.05}[scenario]
    rows = []
    for seed in range(SEEDS):
        base = rng.uniform(0.05, 0.2)
        for arm in ("full", "core frozen", "random frozen"):
            rows.append({"seed": seed, "arm": arm, "new_loss": 1.0,
                         "forgetting": base - (protection if arm == "core frozen" else 0.0) + skewed(rng, None, 0.01)})
    return lr.g4_core_freezing(pd.DataFrame(rows))


def g4_redesign(rng, scenario):
    protection = {NOISE: 0.0, NO_PART: 0.0, OPPOSITE: -0.05, POSITIVE: 0.1}[scenario]
    rows = []
    for seed in range(SEEDS):
        base = rng.uniform(0.2, 0.4)
        rows.append({"seed": seed, "arm": "full", "fraction": 0.0, "forgetting_share": base + skewed(rng, None, 0.02)})
        for arm in ("core frozen", "random frozen"):
            for fraction in lr.G4_REDESIGN_FRACTIONS:
                rows.append({"seed": seed, "arm": arm, "fraction": fraction, "forgetting_share": base - (
                    protection if arm == "core frozen" else 0.0) + skewed(rng, None, 0.02)})
    return lr.g4_redesign(pd.DataFrame(rows))


# ---------------------------------------------------------------------------------------------- the registry
@dataclass(frozen=True)
class Calibration:
    """How a registered rule is calibrated: its simulator (generator, scenario -> the rule's verdict on one
    simulated table), the nulls it must not pass, and the number of tables per scenario (fewer for the rules
    whose check fits curves)."""

    simulate: Callable[[np.random.Generator, str], Verdict]
    nulls: tuple[str, ...] = (NOISE, OPPOSITE)
    replicates: int = 60


_R2_NULLS = (NOISE, SATURATION, TREND, OPPOSITE)
_PARTS = (NOISE, OPPOSITE, NO_PART)
CALIBRATIONS: dict[str, Calibration] = {
    "R1": Calibration(r1),
    "R2": Calibration(lambda rng, s: _phases(rng, s, ro.R2), _R2_NULLS, 20),
    "R2-redesign": Calibration(lambda rng, s: _phases(rng, s, ro.R2_REDESIGN), _R2_NULLS, 20),
    "R3": Calibration(r3, (NOISE, SATURATION, TREND, OPPOSITE), 30),
    "R4": Calibration(lambda rng, s: _information(rng, s, ro.R4, ("parallel_fraction", "language_association",
                                                                   "attribute_association"))),
    "R4-redesign": Calibration(lambda rng, s: _information(rng, s, ro.R4_REDESIGN)),
    "R5": Calibration(lambda rng, s: _extractability(rng, s, ro.R5, ro.R5_CUE_SIGNS, ("vocabulary", "entity_overlap"))),
    "R5-redesign": Calibration(lambda rng, s: _extractability(rng, s, ro.R5_REDESIGN, ro.R5_REDESIGN_CUE_SIGNS,
                                                              ("vocabulary",))),
    "R6": Calibration(r6, (NOISE, TREND, OPPOSITE)),
    "R7": Calibration(lambda rng, s: _interventions(rng, s, ro.R7, {"balanced attributes": "unbalanced attributes",
                                                                    "shared function words": "baseline",
                                                                    "no language marker": "language marker",
                                                                    "baseline": "", "unbalanced attributes": "",
                                                                    "language marker": ""}, ro.R7_CLAIMED)),
    "R7-redesign": Calibration(lambda rng, s: _interventions(rng, s, ro.R7_REDESIGN, ro.R7_REDESIGN_COMPARISONS,
                                                             ro.R7_REDESIGN_CLAIMED)),
    "R8": Calibration(r8),
    "H1": Calibration(h1),
    "H1-redesign": Calibration(h1_redesign),
    hp.H1_REAL.claim: Calibration(h1_real(hp.H1_REAL_MODEL)),
    hp.H1_GEMMA.claim: Calibration(h1_real(hp.H1_GEMMA_MODEL)),
    "H2": Calibration(h2, _PARTS),
    "H2-redesign": Calibration(h2_redesign, _PARTS),
    hp.H2_REAL.claim: Calibration(h2_real),
    "H3": Calibration(h3, (NOISE, TREND, OPPOSITE)),
    hp.H3_REAL.claim: Calibration(h3_real),
    "G1": Calibration(g1, _PARTS),
    "G1-redesign": Calibration(g1_redesign, _PARTS),
    "G2": Calibration(g2, _PARTS),
    "G3": Calibration(g3),
    "G3-redesign": Calibration(g3_redesign),
    "G4": Calibration(g4, _PARTS),
    "G4-redesign": Calibration(g4_redesign, _PARTS),
    **{rules[claim].claim: Calibration(regions_real(model, rules[claim].claim), _PARTS if claim in ("G1", "G2")
                                       else (NOISE, OPPOSITE), 30)
       for model, rules in lr.REAL_RULES.items() for claim in rules},
}


def pass_rate(claim: str, scenario: str, replicates: int | None = None) -> float:
    """The share of ``replicates`` simulated tables of ``scenario`` (default: the calibration's number) on which the
    rule of ``claim`` passes (reproduced or partial); the generator is seeded by the claim and the scenario, so a
    rate is reproducible."""
    calibration = CALIBRATIONS[claim]
    seed = int.from_bytes(hashlib.sha256(f"{claim}|{scenario}".encode()).digest()[:4], "big")
    rng = np.random.default_rng(seed)
    return float(np.mean([calibration.simulate(rng, scenario).verdict in PASSES
                          for _ in range(replicates or calibration.replicates)]))


def main(argv: list[str] | None = None) -> None:
    """``python -m crosslingual.claims.nulls [SCALE]``: every rule's pass rate under each null and its positive
    scenario, with SCALE x the test suite's number of tables (default 3), as the Markdown table of
    ``book/method.md``."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    scale = float(args[0]) if args else 3.0
    print("| rule | tables per scenario | " + " | ".join((NOISE, SATURATION, TREND, OPPOSITE, NO_PART, POSITIVE))
          + " |\n|---|---|" + "---|" * 6)
    for claim, calibration in CALIBRATIONS.items():
        n = round(calibration.replicates * scale)
        cells = [f"{pass_rate(claim, s, n):z.3f}" if s in (*calibration.nulls, POSITIVE) else ""
                 for s in (NOISE, SATURATION, TREND, OPPOSITE, NO_PART, POSITIVE)]
        print(f"| {claim} | {n} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
