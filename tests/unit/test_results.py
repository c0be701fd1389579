"""Tables over runs that the chapters read: hand-computed cases."""

import numpy as np
import pandas as pd
import pytest

from crosslingual.config import make_config
from crosslingual.regions_study import by_seed
from crosslingual.results import majority_baseline, variant_correlations
from crosslingual.world import World


def test_variant_correlations_on_a_hand_made_table():
    rows = []
    for run, shift in (("a", 0.0), ("b", 0.5)):
        for step, acc in ((0, 0.1), (1, 0.4), (2, 0.9)):
            rows += [{"run": run, "step": step, "metric": "acc_xling", "layer": -1, "position": "", "value": acc + shift},
                     {"run": run, "step": step, "metric": "u", "layer": 2, "position": "last", "value": acc + shift},
                     {"run": run, "step": step, "metric": "v", "layer": 2, "position": "last", "value": -acc},
                     {"run": run, "step": step, "metric": "u", "layer": 1, "position": "last", "value": 7.0}]
    sel, corr = variant_correlations(pd.DataFrame(rows), 2, ["u", "v"])
    assert len(sel) == 12 and set(sel.layer) == {2}
    assert corr.loc["u"].tolist() == pytest.approx([1.0, 1.0])
    spearman_v = pd.Series([-0.1, -0.4, -0.9] * 2).corr(pd.Series([0.1, 0.4, 0.9, 0.6, 0.9, 1.4]), method="spearman")
    assert corr.loc["v", "Spearman with cross-lingual accuracy"] == pytest.approx(spearman_v)


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
    from crosslingual.results import extractability_setting

    assert extractability_setting("vocabulary", 0) == "word level"
    assert extractability_setting("vocabulary", 96) == "BPE 96, one script"
    assert extractability_setting("language_marker", 1) == "language marker"
    assert extractability_setting("entity_overlap", 1 / 3) == "entity overlap 0.33"
