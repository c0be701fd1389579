from dataclasses import asdict

import pytest

from crosslingual.config import make_config
from crosslingual.rosetta import (INTERVENTIONS, exposure_grid, extractability_grid, information_grid,
                                  intervention_grid)

GRIDS = [information_grid, exposure_grid, extractability_grid, intervention_grid]


def _flat(cfg) -> dict:
    return {**asdict(cfg.world), **asdict(cfg.model), **asdict(cfg.train)}


@pytest.mark.parametrize("grid", GRIDS, ids=lambda g: g.__name__)
def test_every_point_is_a_few_knobs_away_from_the_baseline_and_seeds_move_world_and_init(grid):
    points = grid("smoke", 2, seed=5)
    assert {cfg.seed for *_, cfg in points} == {5, 6}
    for _, _, cfg in points:
        assert cfg.world.world_seed == cfg.seed
        base = _flat(make_config("smoke", seed=cfg.seed, world_seed=cfg.seed))
        changed = {k for k, v in _flat(cfg).items() if base[k] != v}
        assert len(changed) <= 4, changed  # e.g. scripts + tokenizer + bpe_vocab_size


def test_chapters_share_runs_instead_of_retraining_them():
    hashes = {g.__name__: {cfg.hash() for *_, cfg in g("smoke", 3)} for g in GRIDS}
    base = {make_config("smoke", seed=s, world_seed=s).hash() for s in range(3)}
    assert base <= hashes["information_grid"] and base <= hashes["extractability_grid"]
    # chapter 6 reuses chapter 3's attribute runs and chapter 5's cue and subword runs
    new_in_6 = hashes["intervention_grid"] - hashes["information_grid"] - hashes["extractability_grid"]
    assert len(new_in_6) == 3 * 3  # separate subwords, code-switching, alignment loss


def test_every_intervention_has_its_control_in_the_grid():
    arms = {arm for arm, *_ in intervention_grid("smoke", 1)}
    for arm, (control, _) in INTERVENTIONS.items():
        assert not control or control in arms, (arm, control)
