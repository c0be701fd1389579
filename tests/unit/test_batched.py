"""Batched multi-run training gives each run exactly the result it would have had alone."""

import pandas as pd
import pytest
import torch

from crosslingual.core.config import make_config
from crosslingual.core.train import BatchedTrainer, Trainer

CFGS = [make_config("smoke", steps=40, seed=s, world_seed=s) for s in range(3)]


def _solo(cfg):
    rows = []
    t = Trainer(cfg)
    t.fit(lambda tr, r: rows.extend(r), progress=False)
    return pd.DataFrame(rows), t


def _batched(cfgs):
    out = [[] for _ in cfgs]
    trainers = [Trainer(c) for c in cfgs]
    BatchedTrainer(trainers).fit([lambda tr, r, k=k: out[k].extend(r) for k in range(len(cfgs))], progress=False)
    return [pd.DataFrame(o) for o in out], trainers


def _same_parameters(a, b):
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q), n


def test_batched_runs_are_bit_identical_to_single_runs():
    """A single run is the stack of one run, so training beside companions changes no bit of a run."""
    batched, trainers = _batched(CFGS)
    for cfg, b, bt in zip(CFGS, batched, trainers):
        solo, st = _solo(cfg)
        pd.testing.assert_frame_equal(b, solo)
        _same_parameters(bt.model, st.model)


def test_a_run_does_not_depend_on_its_batch_companions():
    alone, _ = _batched(CFGS[:1])
    together, _ = _batched(CFGS)
    pd.testing.assert_frame_equal(alone[0], together[0])  # bit-identical


def test_saved_state_of_a_batched_run_resumes_as_a_single_run():
    trainers = [Trainer(c) for c in CFGS[:2]]
    bt = BatchedTrainer(trainers)
    for _ in range(7):
        bt.train_step()
    resumed = Trainer(CFGS[1])
    resumed.load_state_tensors(trainers[1].state_tensors())
    assert resumed.step == 7
    # continuing alone and continuing batched agree bit for bit, moments included
    again = BatchedTrainer([Trainer(c) for c in CFGS[:2]])
    for _ in range(10):
        again.train_step()
    for _ in range(3):
        resumed.train_step()
    _same_parameters(resumed.model, again.trainers[1].model)
    state, want = resumed.state_tensors(), again.trainers[1].state_tensors()
    assert state.keys() == want.keys() and all(torch.equal(state[k], want[k]) for k in state)


def test_a_batched_stack_takes_over_each_runs_moments():
    """Runs trained alone for a while and then batched continue exactly as if they had stayed alone."""
    alone = [Trainer(c) for c in CFGS[:2]]
    later = [Trainer(c) for c in CFGS[:2]]
    for _ in range(5):
        for t in alone + later:
            t.train_step()
    stack = BatchedTrainer(later)
    for _ in range(4):
        stack.train_step()
        for t in alone:
            t.train_step()
    for a, b in zip(alone, later):
        _same_parameters(a.model, b.model)


def test_incompatible_runs_are_refused():
    with pytest.raises(ValueError, match="must share"):
        BatchedTrainer([Trainer(CFGS[0]), Trainer(make_config("smoke", steps=40, d_model=16))])


def test_run_many_stores_batched_runs_as_separate_runs(store):
    from crosslingual.store.fetch import get_or_train
    from crosslingual.store.sweep import run_many

    runs = run_many(CFGS, workers=1, together=3, progress=False)
    assert [r.info["batched_with"] for r in runs] == [3, 3, 3]
    assert [r.config for r in runs] == CFGS
    alone = get_or_train(CFGS[1], progress=False, root=store.parent / "alone")
    assert alone.info["batched_with"] == 1
    pd.testing.assert_frame_equal(alone.metrics, runs[1].metrics)
