import numpy as np
import pandas as pd
import pytest

from crosslingual.claims import (NOT_REPRODUCED, PARTIAL, REPRODUCED, bootstrap_ci, phase_window,
                                 r1_cross_lingual_gap, r2_learning_phase, r3_unification_predicts_transfer,
                                 r4_information, r6_exposure_control, spearman, verdict_table)


def test_bootstrap_ci_is_seeded_and_brackets_the_mean():
    d = pd.DataFrame({"run": range(20), "x": np.linspace(0, 1, 20)})
    a = bootstrap_ci(d, lambda s: s["x"].mean())
    assert a == bootstrap_ci(d, lambda s: s["x"].mean())
    assert a[0] < 0.5 < a[1]
    constant = pd.DataFrame({"run": range(5), "x": [0.3] * 5})
    assert bootstrap_ci(constant, lambda s: s["x"].mean()) == pytest.approx((0.3, 0.3))


def test_spearman_handles_constant_input():
    assert np.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833)  # ties get average ranks


@pytest.mark.parametrize("acc_xling, expected", [(0.05, REPRODUCED), (0.85, PARTIAL), (1.0, NOT_REPRODUCED)])
def test_r1_thresholds(acc_xling, expected):
    final = pd.DataFrame({"run": range(4), "acc_in": [1.0, 0.99, 1.0, 0.98],
                          "acc_xling": [acc_xling + e for e in (0.0, 0.01, -0.01, 0.0)]})
    assert r1_cross_lingual_gap(final).verdict == expected


def _checkpoints(noise: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for run in range(6):
        for step in range(10):
            u = step / 10
            rows.append({"run": run, "step": step, "unification": u + noise * rng.standard_normal(),
                         "acc_xling": u + noise * rng.standard_normal()})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("noise, expected", [(0.01, REPRODUCED), (10.0, NOT_REPRODUCED)])
def test_r3_thresholds(noise, expected):
    v = r3_unification_predicts_transfer(_checkpoints(noise))
    assert v.verdict == expected or (expected == NOT_REPRODUCED and v.verdict in (NOT_REPRODUCED, PARTIAL))


def _sweep(name: str, slope_u: float, slope_x: float) -> pd.DataFrame:
    rows = []
    for level, info in enumerate([0.0, 0.2, 0.4, 0.6]):
        for seed in range(3):
            rows.append({"run": f"{name}{level}{seed}", "sweep": name, "information": info,
                         "unification": 0.5 + slope_u * info + 0.01 * seed,
                         "acc_xling": 0.8 + slope_x * info + 0.01 * seed})
    return pd.DataFrame(rows)


def test_r4_per_sweep_and_overall():
    both = r4_information(_sweep("p", -1.0, -1.0))
    assert [v.verdict for v in both] == [REPRODUCED, REPRODUCED]
    mixed = r4_information(pd.concat([_sweep("p", -1.0, -1.0), _sweep("b", 0.0, -1.0), _sweep("l", 1.0, 1.0)]))
    assert [v.verdict for v in mixed] == [REPRODUCED, PARTIAL, NOT_REPRODUCED, PARTIAL]
    assert list(verdict_table(mixed).index) == ["R4 (p)", "R4 (b)", "R4 (l)", "R4"]


def _exposure(par_slope: float, rep_slope: float) -> pd.DataFrame:
    rows = []
    for mode, slope in (("parallel", par_slope), ("repeat", rep_slope)):
        for level in (0.2, 0.4, 0.6, 0.8):
            for seed in range(3):
                rows.append({"run": f"{mode}{level}{seed}", "mode": mode, "level": level, "seed": seed,
                             "acc_xling": 0.1 + slope * level + 0.01 * seed})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("par, rep, expected", [(1.0, 0.0, REPRODUCED), (1.0, 1.0, PARTIAL),
                                                (0.0, 0.0, NOT_REPRODUCED)])
def test_r6_thresholds(par, rep, expected):
    assert r6_exposure_control(_exposure(par, rep)).verdict == expected


def test_phase_window_hand_computed():
    assert phase_window([0, 0, 1, 5, 6, 6, 6], width=2) == (1, 3, 5.0)
    assert phase_window([3, 3, 0, 0], width=1) == (1, 2, -3.0)


def _sigmoid_runs(shift_u: float, shift_x: float, sharp: float) -> pd.DataFrame:
    steps = np.unique(np.round(np.geomspace(1, 3000, 23)))
    rows = []
    for run in range(4):
        for s in steps:
            t = np.log(s)
            rows.append({"run": run, "step": s, "unification": 1 / (1 + np.exp(-sharp * (t - shift_u))),
                         "acc_xling": 0.05 + 0.9 / (1 + np.exp(-sharp * (t - shift_x)))})
    return pd.DataFrame(rows)


def test_r2_thresholds():
    assert r2_learning_phase(_sigmoid_runs(5.0, 5.2, 4.0), chance=0.05).verdict == REPRODUCED
    assert r2_learning_phase(_sigmoid_runs(2.0, 7.0, 4.0), chance=0.05).verdict == PARTIAL  # phases apart
    assert r2_learning_phase(_sigmoid_runs(5.0, 5.0, 0.2), chance=0.05).verdict != REPRODUCED  # no phase
