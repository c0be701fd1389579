"""generate -> train -> store -> reload -> metrics, on the smoke profile."""

import json
import os
import re

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

import crosslingual.core.train as train_module
from crosslingual.core.config import make_config
from crosslingual.core.evaluate import EvalData, evaluate
from crosslingual.store.fetch import get_or_train
from crosslingual.store.layout import run_dir
from crosslingual.store.runs import Run
from crosslingual.store.sweep import run_many

CFG = make_config("smoke", steps=50)


def test_a_run_is_stored_completely_and_reloads(store):
    run = get_or_train(CFG, progress=False)
    assert run.path == store / CFG.hash()
    for name in ("config.json", "metrics.parquet", "DONE"):
        assert (run.path / name).is_file()
    assert not (run.path / "state.safetensors").exists() and not (run.path / "lock").exists()
    assert json.loads((run.path / "config.json").read_text())["hash"] == CFG.hash()
    assert run.config == CFG
    assert run.steps == sorted(run.metrics.step.unique().tolist())
    assert not list(run.path.rglob("*.tmp"))
    # the stored final weights reproduce the stored final metrics
    model = run.load_model()
    rows = evaluate(model, EvalData.build(run.world, CFG.train, "cpu"), run.steps[-1])
    again = pd.DataFrame(rows).set_index(["metric", "layer", "position"]).value
    stored = run.metrics[run.metrics.step == run.steps[-1]].set_index(["metric", "layer", "position"]).value
    pd.testing.assert_series_equal(again.sort_index(), stored.drop("loss_train", level=0).sort_index())


def test_a_finished_run_is_never_retrained(store, monkeypatch):
    first = get_or_train(CFG, progress=False)
    monkeypatch.setattr(train_module, "Trainer", lambda *a, **k: pytest.fail("retrained a finished run"))
    again = get_or_train(CFG, progress=False)
    assert again.path == first.path
    assert run_many([CFG, CFG], workers=2, progress=False)[1].path == first.path


def test_an_interrupted_run_resumes_to_the_same_result(store, tmp_path):
    reference = get_or_train(CFG, progress=False, root=tmp_path / "reference").metrics

    calls = {"n": 0}
    original_fit = train_module.Trainer.fit

    def crash_after_three(self, on_checkpoint, **kw):
        def wrapped(tr, rows):
            on_checkpoint(tr, rows)
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt("simulated kill")
        return original_fit(self, wrapped, **kw)

    train_module.Trainer.fit = crash_after_three
    try:
        with pytest.raises(KeyboardInterrupt):
            get_or_train(CFG, progress=False)
    finally:
        train_module.Trainer.fit = original_fit
    directory = run_dir(CFG)
    assert (directory / "state.safetensors").exists() and not (directory / "DONE").exists()
    assert int(load_file(directory / "state.safetensors")["trainer.step"]) > 0
    resumed = get_or_train(CFG, progress=False).metrics
    pd.testing.assert_frame_equal(resumed, reference)


def test_run_many_trains_in_worker_processes(store):
    cfgs = [make_config("smoke", steps=20, seed=s) for s in range(3)]
    runs = run_many(cfgs, workers=2, progress=False)
    assert [r.config.seed for r in runs] == [0, 1, 2]
    assert all((r.path / "DONE").exists() for r in runs)
    # single-process training of the same config gives the same numbers (CPU determinism across processes)
    alone = get_or_train(cfgs[1], progress=False, root=store.parent / "alone")
    pd.testing.assert_frame_equal(alone.metrics, runs[1].metrics)


def test_checkpoints_are_safetensors_loadable_without_pickle(store):
    run = get_or_train(CFG, progress=False)
    weights = load_file(run.path / "checkpoints" / f"step_{run.steps[-1]:07d}.safetensors")
    assert all(isinstance(v, torch.Tensor) for v in weights.values())
    assert Run(run.path).load_model(0).embed.weight.shape[0] == len(run.world.vocab)


@pytest.mark.parametrize("together", [1, 3])
def test_a_failing_run_is_reported_and_does_not_stop_the_others(store, monkeypatch, together):
    """Alone, or in a batch: a batch that fails is retried run by run, so only the failing run fails."""
    import crosslingual.store.fetch as fetch_module
    import crosslingual.store.sweep as sweep_module

    cfgs = [make_config("smoke", steps=20, seed=s) for s in range(3)]
    bad = cfgs[1].hash()
    real = sweep_module.get_or_train

    def flaky(cfg, **kw):
        if cfg.hash() == bad:
            raise RuntimeError("out of memory (simulated)")
        return real(cfg, **kw)

    def flaky_batch(batch, **kw):
        if bad in {c.hash() for c in batch}:
            raise RuntimeError("out of memory (simulated, in a batch)")
        raise AssertionError("only the batch with the bad run is trained together here")

    monkeypatch.setattr(sweep_module, "get_or_train", flaky)
    monkeypatch.setattr(fetch_module, "get_or_train_together", flaky_batch)
    report = sweep_module.sweep(cfgs, workers=1, progress=False, together=together)
    assert sorted(report.trained) == sorted([cfgs[0].hash(), cfgs[2].hash()])
    assert report.failed == {bad: "RuntimeError: out of memory (simulated)"}
    assert report.table().runs.tolist() == [0, 2, 1]
    with pytest.raises(sweep_module.SweepError, match=rf"1 of 3 runs failed .*\n  run {bad}: RuntimeError"):
        run_many(cfgs, workers=1, progress=False, together=together)
    assert sweep_module.sweep(cfgs[::2], workers=1, progress=False).found == 2  # nothing retrained


def test_sweep_cli_expands_a_grid_file_and_skips_finished_runs(store, tmp_path, capsys):
    from crosslingual.cli import main

    grid = tmp_path / "grid.yaml"
    grid.write_text("profile: smoke\nseeds: 2\nsweeps:\n  - {name: p, product: {parallel_fraction: [0.3, 0.5]}}\n")
    assert main(["sweep", str(grid), "steps=20", "--backend", "processes", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "grid " in out and "4 runs at profile smoke" in out and "4 runs: 4 done, 0 failed" in out
    assert main(["sweep", str(grid), "steps=20", "--backend", "processes"]) == 0
    assert re.search(r"already in the store\s+4", capsys.readouterr().out)
    with pytest.raises(SystemExit):  # argparse rejects it before any work
        main(["sweep", str(grid), "--backend", "threads"])


def test_run_many_goes_to_the_dask_cluster_named_in_the_environment(store, monkeypatch):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
        monkeypatch.setenv("CROSSLINGUAL_SCHEDULER", cluster.scheduler_address)
        runs = run_many([make_config("smoke", steps=20, seed=7)], progress=False)
    info = json.loads((runs[0].path / "DONE").read_text())
    assert info["pid"] != os.getpid() and info["threads"] == 1  # trained by the cluster's worker process


def test_a_cldr_world_with_bpe_trains_end_to_end(store):
    pytest.importorskip("babel")
    run = get_or_train(make_config("smoke", names="cldr", n_relations=2, tokenizer="bpe", bpe_vocab_size=128),
                       progress=False)
    assert run.world.pad_id is not None and run.world.territories
    assert {"acc_in", "acc_xling", "unification"} <= set(run.metrics.metric)
