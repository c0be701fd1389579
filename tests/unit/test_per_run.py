"""map_runs: a chapter's per-run analyses in worker processes give the kernel's loop's results, in its order."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from crosslingual.analysis import regions_study
from crosslingual.store.fetch import get_or_train
from crosslingual.store.grids import Grid
from crosslingual.store.layout import DERIVED
from crosslingual.store.per_run import map_runs


@pytest.fixture
def runs(store):
    """Three seeds of chapter 10's regions study at smoke."""
    return [get_or_train(cfg, progress=False) for *_, cfg in Grid.load("regions").expand("smoke", seeds=3, seed=0)]


def test_workers_compute_exactly_what_the_loop_computes_in_its_order(runs, store):
    """The analysis is computed afresh each time (its cache removed), alone in this process and then in two
    single-threaded workers: the tables are identical, run by run, and cached from the workers as from here."""
    alone = [regions_study.massive(run, 8) for run in runs]
    shutil.rmtree(store / DERIVED)
    side_by_side = map_runs(regions_study.massive, runs, workers=2, progress=False, n_sequences=8)
    assert len(side_by_side) == 3
    for a, b in zip(alone, side_by_side):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert len(list((store / DERIVED).glob("regions-massive-*.parquet"))) == 3
    assert not alone[0].equals(alone[1])  # the order is the runs' (their tables differ)


def test_one_worker_is_the_plain_loop_and_an_error_reaches_the_caller(runs, monkeypatch):
    calls, massive = [], regions_study.massive
    monkeypatch.setattr(regions_study, "massive", lambda run, n_sequences: calls.append(run) or run.path.name)
    assert map_runs(regions_study.massive, runs, workers=1, progress=False, n_sequences=4) == \
        [r.path.name for r in runs]
    assert calls == runs  # in this process: the patched function saw the Run objects themselves
    monkeypatch.setattr(regions_study, "massive", massive)
    with pytest.raises(TypeError, match="unexpected keyword argument 'sequences'"):
        map_runs(regions_study.massive, runs, workers=2, progress=False, sequences=8)
