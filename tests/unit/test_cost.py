"""The cost model of the book's cost page: a run's counterpart at another profile, and the per-chapter table
(measured at the built profile, estimated at the others), on stand-in runs that are never trained."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from crosslingual.core.config import RunConfig, make_config, profile_value
from crosslingual.render.cost import TOTAL, chapter_costs, counterpart, run_seconds
from crosslingual.store.grids import Grid
from crosslingual.store.sweep import SweepReport, expected_cost


@dataclass
class FakeRun:
    """What the cost model reads of a ``runs.Run``: its config, its DONE info and its store path."""

    config: RunConfig
    seconds: float
    batched_with: int | None = None
    path: Path = field(init=False)
    info: dict = field(init=False)

    def __post_init__(self) -> None:
        self.path = Path("/store") / self.config.hash()
        self.info = {"wall_seconds_this_process": self.seconds}
        if self.batched_with is not None:
            self.info["batched_with"] = self.batched_with


def _size(cfg: RunConfig) -> int:
    return cfg.world.n_entities * cfg.world.n_relations * cfg.model.n_layers * cfg.model.d_model


# ---- counterpart ---------------------------------------------------------------------------------------------

def test_a_profile_run_maps_to_the_other_profile_itself():
    assert counterpart(make_config("default"), "default", "smoke").train.steps == 60
    assert counterpart(make_config("default"), "default", "smoke").hash() == make_config("smoke").hash()
    assert counterpart(make_config("smoke"), "smoke", "paper").hash() == make_config("paper").hash()
    cfg = make_config("default", seed=3, world_seed=3)
    assert counterpart(cfg, "default", "default") is cfg


def test_a_scaled_field_keeps_its_ratio_and_the_others_take_the_profile_value():
    half = profile_value("default", "steps") // 2
    cp = counterpart(make_config("default", steps=half), "default", "smoke")
    assert cp.train.steps == 30  # half of default's steps -> half of smoke's 60
    assert cp.train.warmup_steps == 10 and cp.model.d_model == 32  # left at default's values: smoke's
    wide = counterpart(make_config("default", d_model=128), "default", "smoke")
    assert wide.model.d_model == 64 and wide.model.n_heads == 2
    # an integer stays a count, rounded and at least 1
    steps = profile_value("default", "steps")  # a few more steps than default's round to smoke's 60
    assert counterpart(make_config("default", steps=steps + steps // 200), "default", "smoke").train.steps == 60
    assert counterpart(make_config("default", steps=10, warmup_steps=1), "default", "smoke").train.steps == 1


def test_a_grid_scale_maps_to_the_same_grid_at_the_other_profile():
    grid = Grid.parse({"seeds": 2, "scale": {"steps": 0.5}, "fixed": {"language_marker": True},
                       "sweeps": [{"name": "p", "product": {"parallel_fraction": [0.3, 0.6]}}]})
    for src, dst in [("default", "smoke"), ("smoke", "default"), ("default", "paper")]:
        expected = [cfg.hash() for *_, cfg in grid.expand(dst)]
        assert [counterpart(cfg, src, dst).hash() for *_, cfg in grid.expand(src)] == expected


def test_an_overridden_scientific_knob_is_kept():
    cfg = make_config("default", parallel_fraction=0.3, arch="llama", language_marker=True, seed=2, world_seed=2)
    cp = counterpart(cfg, "default", "paper")
    assert (cp.world.parallel_fraction, cp.model.arch, cp.world.language_marker, cp.seed, cp.world.world_seed) == (
        0.3, "llama", True, 2, 2)
    assert cp.world.n_entities == 1000 and cp.train.steps == 20_000


def test_an_impossible_counterpart_is_none():
    # 5% of 40 x 4 smoke facts is 8 one-language facts, fewer than the 10 the metrics need
    cfg = make_config("default", parallel_fraction=0.95)
    assert counterpart(cfg, "default", "smoke") is None
    assert counterpart(cfg, "default", "paper") is not None


# ---- the chapter table -----------------------------------------------------------------------------------------

A = FakeRun(make_config("default"), 10.0)  # batched_with absent: trained alone
RATIO = expected_cost(make_config("default")) / expected_cost(make_config("smoke"))  # default vs smoke computation
# its share is 4 s
B = FakeRun(make_config("default", steps=profile_value("default", "steps") // 2), 12.0, batched_with=3)
C = FakeRun(make_config("default", parallel_fraction=0.95), 8.0, batched_with=1)  # no smoke counterpart
USAGE = [{"notebook": "01_world", "seconds": 5.0, "runs": []},
         {"notebook": "02_x", "seconds": 20.0, "runs": [A, B]},
         {"notebook": "03_y", "seconds": 30.0, "runs": [B, C]},
         {"notebook": "04_z", "seconds": 7.0, "runs": [C]}]


def _row(table, profile: str, chapter: str):
    rows = table[(table.profile == profile) & (table.chapter == chapter)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_a_batched_run_counts_its_share_of_the_batch():
    assert run_seconds(A) == 10.0 and run_seconds(B) == 4.0 and run_seconds(C) == 8.0


def test_the_built_profile_is_measured_and_comes_first():
    table = chapter_costs(USAGE, "default")
    assert list(dict.fromkeys(table.profile)) == ["default", "smoke", "paper"]
    assert list(table.chapter[:5]) == ["01_world", "02_x", "03_y", "04_z", TOTAL]
    assert table.measured.tolist() == [True] * 5 + [False] * 10
    world, x, y = (_row(table, "default", c) for c in ("01_world", "02_x", "03_y"))
    assert (world.runs, world.training_seconds, world.notebook_seconds) == (0, 0.0, 5.0)
    assert math.isnan(world.median_seconds)
    assert (x.runs, x.training_seconds, x.median_seconds, x.notebook_seconds) == (2, 14.0, 7.0, 20.0)
    assert (y.runs, y.training_seconds, y.median_seconds, y.notebook_seconds) == (2, 12.0, 6.0, 30.0)
    total = _row(table, "default", TOTAL)
    assert bool(total.total) and total.runs == 3  # B is in two chapters and counts once
    assert (total.training_seconds, total.notebook_seconds, total.unavailable) == (22.0, 62.0, 0)


def test_the_other_profiles_are_estimated_by_the_cost_ratio():
    table = chapter_costs(USAGE, "default")
    a_smoke = counterpart(A.config, "default", "smoke")
    b_smoke = counterpart(B.config, "default", "smoke")
    est_a = 10.0 * expected_cost(a_smoke) / expected_cost(A.config)
    est_b = 4.0 * expected_cost(b_smoke) / expected_cost(B.config)
    assert est_a == pytest.approx(10.0 / RATIO) and est_b == pytest.approx(4.0 / RATIO)
    x = _row(table, "smoke", "02_x")
    assert (x.runs, x.unavailable, x.measured) == (2, 0, False)
    assert x.training_seconds == pytest.approx(est_a + est_b)
    ratio = (_size(a_smoke) + _size(b_smoke)) / (_size(A.config) + _size(B.config))
    assert ratio == pytest.approx((40 * 4 * 1 * 32) / (64 * 24 * 2 * 64))
    assert x.notebook_seconds == pytest.approx(20.0 * ratio)
    assert _row(table, "smoke", "01_world").notebook_seconds == 5.0  # no runs: its measured time
    # C has no smoke counterpart: counted as a run, left out of the times
    y = _row(table, "smoke", "03_y")
    assert (y.runs, y.unavailable) == (2, 1)
    assert y.training_seconds == pytest.approx(est_b) and y.notebook_seconds == pytest.approx(30.0 * _size(b_smoke)
                                                                                             / _size(B.config))
    z = _row(table, "smoke", "04_z")
    assert (z.runs, z.unavailable, z.training_seconds) == (1, 1, 0.0) and math.isnan(z.notebook_seconds)
    total = _row(table, "smoke", TOTAL)
    assert (total.runs, total.unavailable) == (3, 1)
    assert total.training_seconds == pytest.approx(est_a + est_b)
    assert total.notebook_seconds == pytest.approx(5.0 + 20.0 * ratio + y.notebook_seconds)
    # at paper every run has a counterpart; C's cost ratio is the profile's, like A's
    paper = _row(table, "paper", TOTAL)
    ratio_paper = expected_cost(make_config("paper")) / expected_cost(make_config("default"))
    assert (paper.runs, paper.unavailable) == (3, 0)
    assert paper.training_seconds == pytest.approx(
        (10.0 + 8.0) * ratio_paper + 4.0 * expected_cost(counterpart(B.config, "default", "paper"))
        / expected_cost(B.config))


def test_the_estimated_total_counts_runs_that_share_a_counterpart_once():
    # default's steps and a few more are two runs at default but both 60 steps at smoke
    steps = profile_value("default", "steps")
    d = FakeRun(make_config("default", steps=steps + steps // 200), 6.0)
    table = chapter_costs([{"notebook": "02_x", "seconds": 1.0, "runs": [A]},
                           {"notebook": "03_y", "seconds": 1.0, "runs": [d]}], "default")
    assert _row(table, "default", TOTAL).runs == 2
    smoke = _row(table, "smoke", TOTAL)
    assert smoke.runs == 1
    assert smoke.training_seconds == pytest.approx(10.0 / RATIO)  # the first run's estimate, once


def test_the_cost_page_renders_one_table_per_profile():
    from crosslingual.render.cost import cost_page

    report = SweepReport(requested=3, found=0, trained=["a", "b", "c"], seconds=20.0, backend="processes", workers=2)
    page = cost_page(USAGE, "default", report)
    headings = re.findall(r"^## Profile `(\w+)` \((measured|estimated)", page, flags=re.M)
    assert headings == [("default", "measured"), ("smoke", "estimated"), ("paper", "estimated")]
    measured = page.split("## Profile")[1]
    assert "| `01_world` | 0 | 0 | - | 5 |" in measured
    assert "| `02_x` | 2 | 14 | 7.0 | 20 |" in measured
    assert "| **total** (distinct runs) | 3 | 22 | | 62 |" in measured
    smoke = page.split("## Profile")[2]
    assert "| `04_z` | 1 | n/a[^na] | - | n/a[^na] |" in smoke and "+ 1 n/a[^na]" in smoke
    assert page.count("\n[^na]: ") == 1  # the footnote is defined once, after the tables
    assert "share of the" in page  # a batched run's time is its share of the batch
    assert "pool (2 workers," in page
    one = SweepReport(requested=3, found=3, trained=[], seconds=1.0, backend="processes", workers=1)
    assert "pool (1 worker," in cost_page(USAGE, "default", one)


@pytest.mark.parametrize("gpu, asked, expected", [
    (False, "", "superseded are not (`make book FIRST_DESIGNS=1` adds them)."),
    (False, "1", "superseded are in it too."),
    (True, "", "superseded are not (`make book FIRST_DESIGNS=1` adds them)."),
])
def test_the_cost_page_says_whether_the_first_designs_are_in_the_build(gpu, asked, expected, monkeypatch):
    import torch

    from crosslingual.render.chapters import FIRST_DESIGNS_ENV
    from crosslingual.render.cost import cost_page

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *device: "NVIDIA H200")
    monkeypatch.setenv(FIRST_DESIGNS_ENV, asked)
    report = SweepReport(requested=3, found=0, trained=["a", "b", "c"], seconds=20.0, backend="processes", workers=2)
    page = " ".join(cost_page(USAGE, "default", report).split())
    assert expected in page and "Every claim's best test (each redesign) is in this build" in page
    assert ("worker processes sharing its GPU (NVIDIA H200)" in page) == gpu


def test_the_cost_page_names_the_continued_trainings_and_their_time():
    from crosslingual.render.cost import cost_page

    report = SweepReport(requested=3, found=0, trained=["a", "b", "c"], seconds=20.0, backend="processes", workers=2)
    page = " ".join(cost_page(USAGE, "default", report, derived_seconds=212.4).split())
    assert ("then the continued trainings from its runs and the analyses of pretrained models that chapter 10 "
            "makes, in one pool too, in 212 s; no notebook trains" in page)
    page = " ".join(cost_page(USAGE, "default", report, derived_seconds=212.4, beside=6).split())
    assert ("then the continued trainings from its runs that chapter 10 makes, in one pool too, and the analyses of "
            "pretrained models, which it started with the training on the 6 cores that the training workers left "
            "free, all done 212 s after the training; no notebook trains" in page)
