"""Batched multi-run training gives each run the result it would have had alone."""

import pandas as pd
import pytest
import torch

from crosslingual.batched import BatchedTrainer
from crosslingual.config import make_config
from crosslingual.train import Trainer

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


def _comparable(model):
    """Parameters minus the attention key bias: it cannot change the model's output (softmax is invariant to
    a constant added to every score of a row), so its gradient is pure round-off, which Adam normalises into
    full-size steps. It drifts between any two numerically different but equivalent computations."""
    d = model.cfg.d_model
    for name, p in model.named_parameters():
        yield name, (torch.cat([p[:d], p[2 * d:]]) if name.endswith("attn.qkv.bias") else p)


def test_batched_runs_match_single_runs_within_round_off():
    batched, trainers = _batched(CFGS)
    for cfg, b, bt in zip(CFGS, batched, trainers):
        solo, st = _solo(cfg)
        pd.testing.assert_frame_equal(b.drop(columns="value"), solo.drop(columns="value"))
        assert (b.value - solo.value).abs().max() < 1e-4
        for (n, p), (_, q) in zip(_comparable(bt.model), _comparable(st.model)):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5, msg=n)


def test_a_run_does_not_depend_on_its_batch_companions():
    alone, _ = _batched(CFGS[:1])
    together, _ = _batched(CFGS)
    pd.testing.assert_frame_equal(alone[0], together[0])  # bit-identical


def test_synced_state_resumes_as_a_single_run():
    trainers = [Trainer(c) for c in CFGS[:2]]
    bt = BatchedTrainer(trainers)
    for _ in range(7):
        bt.train_step()
    bt.sync()
    resumed = Trainer(CFGS[1])
    resumed.load_state_tensors(trainers[1].state_tensors())
    assert resumed.step == 7
    # continuing alone and continuing batched agree
    again = BatchedTrainer([Trainer(c) for c in CFGS[:2]])
    for _ in range(10):
        again.train_step()
    for _ in range(3):
        resumed.train_step()
    again.sync()
    for (n, p), (_, q) in zip(_comparable(resumed.model), _comparable(again.trainers[1].model)):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5, msg=n)


def test_incompatible_runs_are_refused():
    with pytest.raises(ValueError, match="must share"):
        BatchedTrainer([Trainer(CFGS[0]), Trainer(make_config("smoke", steps=40, d_model=16))])


def test_run_many_stores_batched_runs_as_separate_runs(store):
    from crosslingual.runs import get_or_train
    from crosslingual.sweep import run_many

    runs = run_many(CFGS, workers=1, together=3, progress=False)
    assert [r.info["batched_with"] for r in runs] == [3, 3, 3]
    assert [r.config for r in runs] == CFGS
    alone = get_or_train(CFGS[1], progress=False, root=store.parent / "alone")
    assert alone.info["batched_with"] == 1
    assert (alone.metrics.value - runs[1].metrics.value).abs().max() < 1e-4
