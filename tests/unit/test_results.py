"""Tables over runs that the chapters read: hand-computed cases."""

import numpy as np
import pandas as pd
import pytest

from crosslingual.analysis.regions_study import by_seed
from crosslingual.core.config import make_config
from crosslingual.core.world import World
from crosslingual.store.results import (
    describe,
    final_scalars,
    group_means,
    last_checkpoint,
    lowest_level,
    majority_baseline,
    runs_above,
    tracks_best,
    variant_correlations,
)


def test_variant_correlations_on_a_hand_made_table():
    rows = []
    for run, shift in (("a", 0.0), ("b", 0.5)):
        for step, acc in ((0, 0.1), (1, 0.4), (2, 0.9)):
            rows += [{"run": run, "step": step, "metric": "acc_xling", "layer": -1, "position": "",
                      "value": acc + shift},
                     {"run": run, "step": step, "metric": "u", "layer": 2, "position": "last", "value": acc + shift},
                     {"run": run, "step": step, "metric": "v", "layer": 2, "position": "last", "value": -acc},
                     {"run": run, "step": step, "metric": "u", "layer": 1, "position": "last", "value": 7.0}]
    sel, corr = variant_correlations(pd.DataFrame(rows), 2, ["u", "v"])
    assert len(sel) == 12 and set(sel.layer) == {2}
    assert corr.loc["u"].tolist() == pytest.approx([1.0, 1.0])
    spearman_v = pd.Series([-0.1, -0.4, -0.9] * 2).corr(pd.Series([0.1, 0.4, 0.9, 0.6, 0.9, 1.4]), method="spearman")
    assert corr.loc["v", "Spearman with cross-lingual accuracy"] == pytest.approx(spearman_v)
    assert tracks_best(corr) == "u"  # u tracks accuracy exactly, v against it


def test_majority_baseline_equals_a_brute_force_count():
    world = World(make_config("smoke", attribute_association=0.0).world)
    R, values = world.cfg.n_relations, world.values.reshape(-1)
    trained = set(np.unique(world.train_pairs[0]).tolist())
    test = world.eval_cross_lingual(50).fact
    hits = 0
    for f in test:
        counts = np.bincount([values[g] for g in trained if g % R == f % R], minlength=values.max() + 1)
        hits += values[f] == counts.argmax()
    assert majority_baseline(world, 50) == pytest.approx(hits / len(test))
    assert 0.0 <= majority_baseline(world, 50) <= 1.0


def test_by_seed_stacks_one_field_with_its_seed():
    class A:
        def __init__(self, x):
            self.ablation = pd.DataFrame({"rise": [x, x + 1]})

    table = by_seed({3: A(0.0), 5: A(10.0)}, "ablation")
    assert table.seed.tolist() == [3, 3, 5, 5] and table.rise.tolist() == [0.0, 1.0, 10.0, 11.0]


def test_extractability_setting_names_every_point_of_the_study():
    from crosslingual.store.results import extractability_setting

    assert extractability_setting("vocabulary", 0) == "word level"
    assert extractability_setting("vocabulary", 96) == "BPE 96, one script"
    assert extractability_setting("language_marker", 1) == "language marker"
    assert extractability_setting("entity_overlap", 1 / 3) == "entity overlap 0.33"


def test_cue_setting_names_every_point_of_the_cue_isolated_study():
    from crosslingual.store.grids import Grid
    from crosslingual.store.results import cue_setting

    names = {cue_setting(sweep, level) for sweep, level, _ in Grid.load("cue_isolation").expand("smoke", 1)}
    assert names == {"names only", "+ marker", "+ function words", "+ word order", "+ script", "cognates",
                     "BPE 96", "BPE 128", "BPE 192"}


class _TableRun:
    """What run_table reads of a run: its hash (path name), config, final scalars and per-layer metrics."""

    def __init__(self, name: str, cfg, acc_xling: float):
        from pathlib import Path

        self.path, self.config, self.world = Path("/store") / name, cfg, None
        L = cfg.model.n_layers
        rows = [{"step": 60, "metric": "acc_in", "layer": -1, "position": "", "value": 1.0},
                {"step": 60, "metric": "acc_xling", "layer": -1, "position": "", "value": acc_xling},
                {"step": 0, "metric": "acc_xling", "layer": -1, "position": "", "value": 0.0}]
        for metric, value in (("unification", 0.4), ("retrieval_at_1", 0.3), ("language_probe", 0.9)):
            rows += [{"step": 60, "metric": metric, "layer": L, "position": "last", "value": value},
                     {"step": 60, "metric": metric, "layer": L, "position": "entity", "value": -1.0},
                     {"step": 60, "metric": metric, "layer": L - 1, "position": "last", "value": -2.0}]
        self.metrics = pd.DataFrame(rows)

    def scalar(self, metric: str) -> float:
        m = self.metrics
        return float(m[(m.metric == metric) & (m.layer == -1) & (m.step == m.step.max())].value.iloc[0])


def test_run_table_has_the_same_columns_for_every_chapter():
    from crosslingual.store.results import run_table

    cfgs = [make_config("smoke", seed=s, world_seed=s) for s in (0, 1)]
    points = [("parallel_fraction", 1 / 3, cfgs[0]), ("parallel_fraction", 1 / 3, cfgs[1])]
    runs = [_TableRun("aaa", cfgs[0], 0.25), _TableRun("bbb", cfgs[1], 0.5)]
    table = run_table(points, runs, label="arm", extra=lambda name, level, cfg, run: {"twice": 2 * level})
    assert list(table.columns) == ["run", "arm", "level", "seed", "acc_in", "acc_xling", "unification",
                                   "retrieval_at_1", "language_probe", "twice"]
    assert table.run.tolist() == ["aaa", "bbb"] and table.seed.tolist() == [0, 1]
    assert table.level.tolist() == [0.333, 0.333]  # rounded, so that 1/3 groups as one level
    assert table.acc_xling.tolist() == [0.25, 0.5]  # the last checkpoint's, not step 0's
    assert table.unification.tolist() == [0.4, 0.4]  # the last layer at the last token only
    assert table.twice.tolist() == pytest.approx([2 / 3, 2 / 3])
    with pytest.raises(ValueError, match="2 grid points but 1 runs"):
        run_table(points, runs[:1])


def test_vocabulary_levels_are_each_setting_s_mean_measured_size():
    from crosslingual.store.results import vocabulary_levels

    table = pd.DataFrame({"sweep": ["vocabulary"] * 4 + ["baseline"], "setting": ["a", "a", "b", "b", "base"],
                          "level": [0, 0, 96, 96, 0], "query token types": [50, 53, 80, 81, 9]})
    out = vocabulary_levels(table)
    assert out.level.tolist() == [51.5, 51.5, 80.5, 80.5, 0]  # the baseline keeps its level
    assert table.level.tolist() == [0, 0, 96, 96, 0]  # a copy


def _long(rows):
    return pd.DataFrame(rows, columns=["run", "seed", "step", "metric", "layer", "position", "value"])


def test_final_scalars_takes_each_runs_own_last_checkpoint_and_one_layer():
    table = _long([("a", 0, 5, "acc", -1, "", 0.1), ("a", 0, 10, "acc", -1, "", 0.3),
                   ("b", 1, 5, "acc", -1, "", 0.7),  # b stopped earlier: its last checkpoint is step 5
                   ("a", 0, 10, "u", 2, "last", 0.8), ("a", 0, 10, "u", 2, "entity", 0.2),
                   ("a", 0, 10, "u", 1, "last", 9.0), ("b", 1, 5, "u", 2, "last", 0.4)])
    glob = final_scalars(table).set_index("run")
    assert glob.acc.to_dict() == {"a": 0.3, "b": 0.7}
    layer = final_scalars(table, layer=2, position="last").set_index("run")
    assert layer.u.to_dict() == {"a": 0.8, "b": 0.4}
    assert set(last_checkpoint(table).step) == {10, 5} and len(last_checkpoint(table)) == 6


def test_group_means_keeps_first_seen_order_and_drops_the_seed():
    table = pd.DataFrame({"arm": ["z", "z", "a", "a"], "seed": [0, 1, 0, 1], "x": [1.0, 3.0, 10.0, 20.0],
                          "name": ["p", "q", "r", "s"]})
    out = group_means(table, "arm")
    assert out.index.tolist() == ["z", "a"] and out.columns.tolist() == ["x"]
    assert out.x.tolist() == [2.0, 15.0]
    assert group_means(table, ["arm", "seed"], ["x"]).loc[("a", 1), "x"] == 20.0
    with pytest.raises(KeyError, match="nope"):
        group_means(table, "arm", ["nope"])


def test_describe_hand_computed_and_one_row_has_zero_sd():
    out = describe(pd.DataFrame({"x": [1.0, 2.0, 6.0], "y": [0, 0, 3]}), ["x", "y"])
    assert out.loc["x"].tolist() == pytest.approx([3.0, np.sqrt(7.0), 1.0, 6.0, 3])
    assert out.loc["y", "mean"] == 1.0
    assert describe(pd.DataFrame({"x": [4.0]}), ["x"]).loc["x", "sd"] == 0.0
    with pytest.raises(KeyError, match="z"):
        describe(pd.DataFrame({"x": [1.0]}), ["z"])
    with pytest.raises(ValueError, match="no rows"):
        describe(pd.DataFrame({"x": []}), ["x"])


def test_lowest_level_and_runs_above():
    table = pd.DataFrame({"sweep": ["p", "p", "p", "q"], "level": [0.5, 0.1, 0.1, 0.0],
                          "acc": [0.2, 0.5, 0.1, 0.9], "base": [0.3, 0.3, 0.3, 0.3]})
    assert lowest_level(table, "p").acc.tolist() == [0.5, 0.1]
    assert runs_above(table, "acc", "base") == 2  # 0.3 itself is not above
    with pytest.raises(ValueError, match="no rows"):
        lowest_level(table, "r")
