"""Training throughput of one run at a profile: tokens/s of the training step and the evaluation's share.

    .venv/bin/python bench/throughput.py --profile default --steps 300 --threads 1

Prints a small table; speed goals are tracked here, never as timed tests.
"""

from __future__ import annotations

import argparse
import time

import torch

from crosslingual.core.config import make_config
from crosslingual.core.evaluate import evaluate
from crosslingual.core.train import Trainer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="default")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = make_config(args.profile)
    tr = Trainer(cfg)
    for _ in range(10):  # warm-up
        tr.train_step()
    start = time.perf_counter()
    for _ in range(args.steps):
        tr.train_step()
    per_step = (time.perf_counter() - start) / args.steps
    start = time.perf_counter()
    for _ in range(5):
        evaluate(tr.model, tr.eval_data, tr.step)
    per_eval = (time.perf_counter() - start) / 5
    tokens = cfg.train.batch_size * (tr.world.seq_len - 1)
    n_evals = len(tr.schedule)
    run_s = per_step * cfg.train.steps + per_eval * n_evals
    print(f"profile={args.profile} threads={args.threads} params={tr.model.n_params():,}")
    print(f"train step      {per_step * 1e3:8.2f} ms   {tokens / per_step:10,.0f} tokens/s")
    print(f"evaluation      {per_eval * 1e3:8.2f} ms   x {n_evals} checkpoints")
    print(f"estimated run   {run_s:8.1f} s    evaluation share {per_eval * n_evals / run_s:.1%}")


if __name__ == "__main__":
    main()
