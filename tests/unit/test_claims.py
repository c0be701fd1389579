import numpy as np
import pandas as pd
import pytest

from crosslingual.claims import (NOT_REPRODUCED, PARTIAL, REPRODUCED, bootstrap_ci, phase_window,
                                 r1_cross_lingual_gap, r2_learning_phase, r3_unification_predicts_transfer,
                                 r4_information, r5_extractability, r6_exposure_control, r7_interventions,
                                 paired_difference, spearman, verdict_table, h1_script_separability,
                                 h2_neighbourhoods_follow_unification, h3_geometry_agrees_across_seeds,
                                 claims_page, record, Verdict, CLAIMS_LOG, g1_core_region, g2_monolingual_regions,
                                 g3_outlier_dimension, g4_core_freezing)


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


def test_paired_difference_matches_seeds_hand_computed():
    arm = pd.DataFrame({"seed": [0, 1, 2, 9], "x": [0.5, 0.7, 0.9, 5.0]})
    control = pd.DataFrame({"seed": [2, 1, 0], "x": [0.6, 0.6, 0.6]})
    mean, ci, n = paired_difference(arm, control, "x")
    assert n == 3 and mean == pytest.approx((-0.1 + 0.1 + 0.3) / 3)  # seed 9 has no control: dropped
    assert ci[0] >= -0.1 - 1e-12 and ci[1] <= 0.3 + 1e-12


def _noisy(values, seeds=5):
    rng = np.random.default_rng(0)
    return [v + rng.normal(0, 0.005) for v in values for _ in range(seeds)]


def test_r5_verdict_per_manipulation_and_overall():
    seeds = list(range(5))
    rows = []
    for sweep, level, unif in [("baseline", 0, 0.5), ("language_marker", 1, 0.3), ("shared_function_words", 1, 0.5),
                               ("entity_overlap", 0, 0.5), ("entity_overlap", 0.5, 0.6), ("entity_overlap", 1, 0.7),
                               ("vocabulary", 60, 0.8), ("vocabulary", 120, 0.7), ("vocabulary", 178, 0.5)]:
        for s, u in zip(seeds, _noisy([unif])):
            rows.append({"run": f"{sweep}{level}/{s}", "sweep": sweep, "level": level, "seed": s, "unification": u})
    final = pd.DataFrame(rows)
    v = {x.claim: x.verdict for x in r5_extractability(final, {"language_marker": +1, "shared_function_words": -1})}
    assert v == {"R5 (language_marker)": REPRODUCED, "R5 (shared_function_words)": NOT_REPRODUCED,
                 "R5 (entity_overlap)": REPRODUCED, "R5 (vocabulary)": REPRODUCED, "R5": PARTIAL}
    # the marker *raising* unification is the opposite of the claim: not reproduced
    flipped = final.assign(unification=np.where(final.sweep == "language_marker", 0.7, final.unification))
    assert r5_extractability(flipped, {"language_marker": +1})[0].verdict == NOT_REPRODUCED


def test_r7_gains_table_and_verdicts():
    arms = {"balanced attributes": ("unbalanced attributes", 0.8), "unbalanced attributes": ("", 0.6),
            "shared function words": ("baseline", 0.75), "no language marker": ("language marker", 0.7),
            "language marker": ("", 0.7), "alignment loss": ("baseline", 0.95), "baseline": ("", 0.7)}
    final = pd.DataFrame([{"run": f"{a}/{s}", "arm": a, "seed": s, "acc_xling": x, "unification": x / 2}
                          for a, (_, acc) in arms.items() for s, x in zip(range(5), _noisy([acc]))])
    verdicts, gains = r7_interventions(final, {a: c for a, (c, _) in arms.items()})
    v = {x.claim: x.verdict for x in verdicts}
    assert v == {"R7 (balanced attributes)": REPRODUCED, "R7 (shared function words)": REPRODUCED,
                 "R7 (no language marker)": NOT_REPRODUCED, "R7": PARTIAL}
    assert gains.intervention.tolist() == ["alignment loss", "balanced attributes", "shared function words",
                                           "no language marker"]
    assert gains.loc[0, "acc_xling gain"] == pytest.approx(0.25, abs=0.01)
    assert "alignment loss" in verdicts[-1].evidence


@pytest.mark.parametrize("acc, expected", [(0.97, REPRODUCED), (0.8, PARTIAL), (0.52, NOT_REPRODUCED)])
def test_h1_thresholds_per_tokenizer_and_overall(acc, expected):
    per_run = pd.DataFrame({"run": range(10), "tokenizer": ["word"] * 5 + ["bpe"] * 5,
                            "separability": _noisy([acc]) + _noisy([0.97])})
    verdicts = {v.claim: v.verdict for v in h1_script_separability(per_run)}
    assert verdicts["H1 (word)"] == expected and verdicts["H1 (bpe)"] == REPRODUCED
    assert verdicts["H1"] == (REPRODUCED if expected == REPRODUCED else PARTIAL)


def test_h2_needs_both_neighbourhood_measures():
    u = np.linspace(0, 1, 12)
    rising = pd.DataFrame({"run": range(12), "unification": u, "cross_script_share": 1 + u,
                           "translation_precision": u ** 2})
    assert h2_neighbourhoods_follow_unification(rising).verdict == REPRODUCED
    flat = rising.assign(translation_precision=np.random.default_rng(0).permutation(u))
    assert h2_neighbourhoods_follow_unification(flat).verdict == PARTIAL


def test_h3_overlap_margin_and_trend():
    steps = [0, 10, 100, 1000]
    rows = [{"pair": p, "step": s, "overlap": o + 0.01 * p} for p in range(3)
            for s, o in zip(steps, [0.05, 0.1, 0.3, 0.5])]
    pairs = pd.DataFrame(rows)
    v = h3_geometry_agrees_across_seeds(pairs, chance=0.05)
    assert v.verdict == REPRODUCED and v.numbers["overlap"] == pytest.approx(0.51)
    assert h3_geometry_agrees_across_seeds(pairs, chance=0.45).verdict == PARTIAL  # grows, but not enough


def test_claims_page_orders_claims_and_links_each_to_its_chapter(tmp_path, monkeypatch):
    verdicts = [Verdict("R4 (parallel_fraction)", "s", REPRODUCED, "rule", "rho -0.9"),
                Verdict("H1", "separable", PARTIAL, "rule", "acc 0.8 | 0.9"), Verdict("R4", "info", PARTIAL, "r", "e"),
                Verdict("R10", "x", NOT_REPRODUCED, "r", "e")]
    record(verdicts, "03_information", "verdicts-03")  # no log set: nothing happens, nothing fails
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv(CLAIMS_LOG, str(log))
    record(verdicts, "03_information", "verdicts-03")
    import json

    rows = [json.loads(line) for line in log.read_text().splitlines()]
    page = claims_page(rows).splitlines()
    assert [line.split("|")[1].strip() for line in page[2:]] == ["**R4**", "**R4 (parallel_fraction)**", "**R10**",
                                                                 "**H1**"]
    assert "{ref}`03_information <verdicts-03>`" in page[2]
    assert "99.24%" in page[-1] and "acc 0.8 \\| 0.9" in page[-1]  # the paper's figure; pipes escaped
    assert page[3].split("|")[3].strip() == ""  # parts carry no paper figure of their own


def _ablation(core_rise: float, control_rise: float, languages: int = 3, seeds: int = 3) -> pd.DataFrame:
    rows = [{"seed": s, "language": k, "region": r, "rise": (core_rise if r == "core" else control_rise) + 0.01 * s}
            for s in range(seeds) for k in range(languages) for r in ("core", "bottom", "random")]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("core, control, expected", [(1.0, 0.05, REPRODUCED), (1.0, 0.5, NOT_REPRODUCED),
                                                     (0.3, 0.0, NOT_REPRODUCED)])
def test_g1_thresholds(core, control, expected):
    assert g1_core_region(_ablation(core, control)).verdict == expected


def test_g1_partial_when_half_the_languages_hold():
    data = _ablation(1.0, 0.0, languages=2)
    data.loc[(data.language == 1) & (data.region == "core"), "rise"] = 0.1
    assert g1_core_region(data).verdict == PARTIAL


@pytest.mark.parametrize("own, other, expected", [(0.2, 0.01, REPRODUCED), (0.2, 0.15, NOT_REPRODUCED)])
def test_g2_thresholds(own, other, expected):
    rows = [{"seed": s, "owner": o, "language": k, "rise": (own if k == o else other) + 0.001 * s}
            for s in range(3) for o in range(2) for k in range(4)]
    assert g2_monolingual_regions(pd.DataFrame(rows)).verdict == expected


@pytest.mark.parametrize("outlier, typical, expected", [(2.0, 0.01, REPRODUCED), (0.5, 0.01, PARTIAL),
                                                        (2.0, 1.0, NOT_REPRODUCED)])
def test_g3_thresholds(outlier, typical, expected):
    rows = [{"seed": s, "kind": "outlier", "dimension": 0, "factor": 4.0, "rise": outlier} for s in range(3)]
    rows += [{"seed": s, "kind": "typical", "dimension": d, "factor": f, "rise": typical * (d + 1) / 2}
             for s in range(3) for d in range(3) for f in (2.0, 4.0)]
    verdict = g3_outlier_dimension(pd.DataFrame(rows))
    assert verdict.verdict == expected and verdict.numbers["typical"] == pytest.approx(typical)


@pytest.mark.parametrize("core, random, expected", [(0.1, 0.3, REPRODUCED), (0.1, 0.1, PARTIAL),
                                                    (0.5, 0.3, NOT_REPRODUCED)])
def test_g4_thresholds(core, random, expected):
    arms = {"full": 0.3, "core frozen": core, "random frozen": random}
    rows = [{"seed": s, "arm": a, "forgetting": f + 0.01 * s, "new_loss": 1.0} for s in range(3) for a, f in arms.items()]
    assert g4_core_freezing(pd.DataFrame(rows)).verdict == expected


@pytest.mark.parametrize("noise, expected", [(0.0, REPRODUCED), (10.0, NOT_REPRODUCED)])
def test_r8_over_language_pairs(noise, expected):
    from crosslingual.claims import r8_real_model

    rng = np.random.default_rng(0)
    u = np.linspace(0, 1, 15)
    pairs = pd.DataFrame({"a": [f"l{i}" for i in range(15)], "b": ["x"] * 15, "unification": u,
                          "transfer": u + noise * rng.standard_normal(15)})
    pairs.loc[0, "transfer"] = np.nan  # a pair where neither language answers: left out
    verdict = r8_real_model(pairs)
    assert verdict.verdict == expected and "14 language pairs" in verdict.evidence


def test_r8_is_untestable_without_answers():
    from crosslingual.claims import r8_real_model

    pairs = pd.DataFrame({"a": ["en", "en"], "b": ["ru", "fr"], "unification": [0.1, 0.2], "transfer": [np.nan, 0.5]})
    verdict = r8_real_model(pairs)
    assert verdict.verdict == NOT_REPRODUCED and "untestable: only 1 language pairs" in verdict.evidence
