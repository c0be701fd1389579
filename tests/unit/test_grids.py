from dataclasses import asdict

import pytest

from crosslingual.config import ConfigError, make_config
from crosslingual.grids import Grid, studies


def _flat(cfg) -> dict:
    return {**asdict(cfg.world), **asdict(cfg.model), **asdict(cfg.train)}


def test_product_zip_levels_and_order():
    grid = Grid.parse({"seeds": 2, "seed": 3, "fixed": {"n_layers": 1}, "sweeps": [
        {"name": "a", "product": {"parallel_fraction": [0.2, 0.4], "language_marker": [False, True]}},
        {"name": "b", "zip": {"d_model": [32, 64], "n_heads": [2, 4]}, "fixed": {"n_layers": 2}},
        {"name": "c", "product": {"entity_overlap": [0.5]}},
        {"name": "d", "level": 7}]})
    points = grid.expand("smoke")
    assert len(points) == (4 + 2 + 1 + 1) * 2
    assert [(s, c.seed) for s, _, c in points[:3]] == [("a", 3), ("a", 4), ("a", 3)]
    a = [c for s, _, c in points if s == "a"]
    assert [(c.world.parallel_fraction, c.world.language_marker) for c in a[::2]] == [
        (0.2, False), (0.2, True), (0.4, False), (0.4, True)]
    assert all(c.model.n_layers == 1 for c in a)
    b = [c for s, _, c in points if s == "b"]
    assert [(c.model.d_model, c.model.n_heads, c.model.n_layers) for c in b[::2]] == [(32, 2, 2), (64, 4, 2)]
    levels = {s: sorted({lvl for s2, lvl, _ in points if s2 == s}) for s in "abcd"}
    assert levels == {"a": [0.0, 1.0, 2.0, 3.0], "b": [0.0, 1.0], "c": [0.5], "d": [7.0]}
    assert all(c.world.world_seed == c.seed for *_, c in points)
    assert grid.expand("smoke", seeds=1, seed=0, steps=50)[0][2].train.steps == 50  # overrides come last


def test_scale_multiplies_the_profile_value():
    grid = Grid.parse({"scale": {"steps": 0.5}, "sweeps": [{"name": "x"}]})
    assert grid.expand("default")[0][2].train.steps == make_config("default").train.steps // 2
    assert grid.expand("smoke")[0][2].train.steps == make_config("smoke").train.steps // 2


@pytest.mark.parametrize("spec, message", [
    ({"sweep": []}, r"a grid is a mapping with a 'sweeps' list"),
    ({"sweeps": []}, r"'sweeps' must be a non-empty list"),
    ({"sweeps": [{"product": {}}]}, r"sweeps\[0\] must be a mapping with a 'name'"),
    ({"sweeps": [{"name": "x", "grid": {}}]}, r"sweeps\[0\]: unknown key 'grid'"),
    ({"seed": 0, "profiles": "x", "sweeps": [{"name": "x"}]}, r"unknown key 'profiles'"),
    ({"sweeps": [{"name": "x", "product": {"steps": 5}}]}, r"product\.steps must be a non-empty list"),
    ({"sweeps": [{"name": "x", "zip": {"steps": [5, 6], "lr": [0.1]}}]}, r"equal lengths \(got \[1, 2\]\)"),
    ({"scale": {"steps": -1}, "sweeps": [{"name": "x"}]}, r"scale\.steps=-1 must be a positive number"),
    ({"sweeps": [{"name": "x", "product": {"parallel_fraction": [1.5]}}]}, r"parallel_fraction=1\.5 is out of range"),
    ({"sweeps": [{"name": "x", "fixed": {"paralel_fraction": 0.5}}]}, r"unknown parameter 'paralel_fraction'"),
])
def test_bad_grids_fail_with_a_clear_message(spec, message):
    with pytest.raises(ConfigError, match=message):
        Grid.parse(spec).expand("smoke")


def test_unknown_study_names_the_shipped_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"neither a file nor a study; studies: exposure, extractability"):
        Grid.load("informaton")
    path = tmp_path / "mine.yaml"
    path.write_text("seeds: 1\nsweeps:\n  - {name: x, product: {parallel_fraction: [0.3]}}\n")
    assert Grid.load(path).expand("smoke")[0][2].world.parallel_fraction == 0.3


ROSETTA = ["information", "exposure", "extractability", "interventions"]


@pytest.mark.parametrize("name", ROSETTA)
def test_every_point_is_a_few_knobs_away_from_the_baseline_and_seeds_move_world_and_init(name):
    points = Grid.load(name).expand("smoke", 2, seed=5)
    assert {cfg.seed for *_, cfg in points} == {5, 6}
    for _, _, cfg in points:
        assert cfg.world.world_seed == cfg.seed
        base = _flat(make_config("smoke", seed=cfg.seed, world_seed=cfg.seed))
        changed = {k for k, v in _flat(cfg).items() if base[k] != v}
        assert len(changed) <= 4, changed  # e.g. scripts + tokenizer + bpe_vocab_size


def test_the_book_studies_ship_with_the_package():
    assert studies() == ["exposure", "extractability", "information", "interventions", "real_strings", "regions"]


def test_chapters_share_runs_instead_of_retraining_them():
    hashes = {name: {cfg.hash() for *_, cfg in Grid.load(name).expand("smoke", 3)} for name in ROSETTA}
    base = {make_config("smoke", seed=s, world_seed=s).hash() for s in range(3)}
    assert base <= hashes["information"] and base <= hashes["extractability"]
    # chapter 6 reuses chapter 3's attribute runs and chapter 5's cue and subword runs
    new_in_6 = hashes["interventions"] - hashes["information"] - hashes["extractability"]
    assert len(new_in_6) == 3 * 3  # separate subwords, code-switching, alignment loss


def test_every_intervention_has_its_control_in_the_grid():
    grid = Grid.load("interventions")
    arms = {arm for arm, *_ in grid.expand("smoke", 1)}
    assert grid.controls["alignment loss"] == "baseline"
    for arm, control in grid.controls.items():
        assert not control or control in arms, (arm, control)
