"""generate -> train -> store -> reload -> metrics, on the smoke profile."""

import json

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

import crosslingual.train as train_module
from crosslingual.config import make_config
from crosslingual.evaluate import EvalData, evaluate
from crosslingual.runs import Run, get_or_train, run_dir
from crosslingual.sweep import run_many

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
