"""The book's training time at a profile on this device, extrapolated from measured steps: for the `paper`
profile, whose 250 runs of 20,000+ steps cannot be trained inside a lease, and at `default` to check the
extrapolation against a measured build.

The chunks are those a sweep trains (``chapters.book_configs`` with every study, ``sweep.batch_chunks`` with
``TOGETHER`` for the device). For a chunk: its trainers are built (world, tokenizer, evaluation data, models:
timed), ``--steps`` batched optimiser steps are timed after two warm-up steps, and one evaluation of one run after a
warm-up one. Its time is then build + steps x step time + checkpoints x runs x evaluation time (a run with the
alignment loss trains alone, so its chunk's runs count one after another; writing checkpoints is left out). The
sum is one process training the chunks one after another; ``bench/gpu_processes.py`` measures what several
processes sharing the device take off it. Chunks are timed one of each (model, training, size) first; when
``--budget`` seconds are spent the others are extrapolated from their group's measured time per unit of
``sweep.expected_cost`` (and from all measured chunks where their group has none).

    PYTHONPATH=src python3 bench/book_extrapolation.py --profile paper --steps 10 --budget 90
"""

from __future__ import annotations

import argparse
import os
import time

import pandas as pd
import torch

from crosslingual.core.config import RunConfig
from crosslingual.core.device import resolve_device
from crosslingual.core.train import BatchedTrainer, Trainer, batch_key, checkpoint_steps
from crosslingual.render.chapters import FIRST_DESIGNS_ENV, book_configs
from crosslingual.store.sweep import TOGETHER, batch_chunks, expected_cost


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def group(chunk: list[RunConfig]) -> str:
    m, t = chunk[0].model, chunk[0].train
    return f"d {m.d_model}, {m.n_layers} layers, batch {t.batch_size}, {t.steps} steps, K {len(chunk)}"


def _step_seconds(trainers: list[Trainer], device: str, steps: int) -> float:
    """Seconds per optimiser step of ``trainers`` trained as one batch, after two warm-up steps."""
    stack = trainers[0].stack if len(trainers) == 1 else BatchedTrainer(trainers)
    for _ in range(2):
        stack.train_step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        stack.train_step()
    _sync(device)
    return (time.perf_counter() - start) / steps


def chunk_seconds(chunk: list[RunConfig], device: str, steps: int) -> dict:
    """The measured parts of one chunk's training and its extrapolated time (seconds). As in
    ``fetch.get_or_train_together``, the runs train in batches of equal ``batch_key`` (a config's shape key
    does not know a BPE world's real sequence length) and a run with the alignment loss trains alone."""
    start = time.perf_counter()
    trainers = [Trainer(cfg, device) for cfg in chunk]
    build = time.perf_counter() - start
    batches: dict[tuple, list[Trainer]] = {}
    for i, t in enumerate(trainers):
        batches.setdefault((i,) if t.cfg.train.aligned_pairs else batch_key(t), []).append(t)
    cfg = chunk[0]
    step_times = [_step_seconds(b, device, steps) for b in batches.values()]
    trainers[0].checkpoint_rows(0.0)
    start = time.perf_counter()
    trainers[0].checkpoint_rows(0.0)
    evaluation = time.perf_counter() - start
    checkpoints = len(checkpoint_steps(cfg.train.steps, cfg.train.n_checkpoints))
    train = cfg.train.steps * sum(step_times)
    return {"group": group(chunk), "runs": len(chunk), "batches": len(batches), "build_s": build,
            "step_ms": 1e3 * sum(step_times) / len(step_times), "eval_s": evaluation,
            "seconds": build + train + checkpoints * len(chunk) * evaluation, "measured": True,
            "cost": sum(map(expected_cost, chunk))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="paper")
    parser.add_argument("--steps", type=int, default=10, help="timed optimiser steps per chunk")
    parser.add_argument("--budget", type=float, default=120, help="seconds of timing; the rest is extrapolated")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    args = parser.parse_args()
    device = resolve_device(args.device)
    os.environ[FIRST_DESIGNS_ENV] = "1"  # every study, the first designs too
    configs = list({c.hash(): c for c in book_configs(args.profile)}.values())
    chunks = batch_chunks(configs, TOGETHER[device], 1)
    firsts = {group(c): i for i, c in reversed(list(enumerate(chunks)))}
    order = sorted(range(len(chunks)), key=lambda i: (i not in firsts.values(), i))
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    print(f"{len(configs)} runs of the book at profile {args.profile!r} in {len(chunks)} chunks, on {name}, "
          f"torch {torch.__version__}", flush=True)
    deadline, rows = time.perf_counter() + args.budget, {}
    for i in order:
        if time.perf_counter() > deadline:
            break
        rows[i] = chunk_seconds(chunks[i], device, args.steps)
        row = rows[i]
        print(f"  chunk {i:3d}: {row['group']}: {row['step_ms']:.1f} ms/step in {row['batches']} batch(es), "
              f"evaluation {rows[i]['eval_s']:.2f} s, {rows[i]['seconds']:.0f} s", flush=True)
    measured = pd.DataFrame(rows.values())
    rate = measured.groupby("group").apply(lambda g: g.seconds.sum() / g.cost.sum(), include_groups=False)
    overall = measured.seconds.sum() / measured.cost.sum()
    for i, chunk in enumerate(chunks):
        if i not in rows:
            cost = sum(map(expected_cost, chunk))
            rows[i] = {"group": group(chunk), "runs": len(chunk), "seconds": cost * rate.get(group(chunk), overall),
                       "measured": False, "cost": cost}
    table = pd.DataFrame([rows[i] for i in range(len(chunks))])
    summary = table.groupby("group", sort=False).agg(chunks=("runs", "size"), runs=("runs", "sum"),
                                                     measured=("measured", "sum"), seconds=("seconds", "sum"))
    print("\n| chunks of | chunks | runs | timed | one-process seconds |\n|---|---|---|---|---|")
    for row in summary.itertuples():
        print(f"| {row.Index} | {row.chunks} | {row.runs} | {row.measured} | {row.seconds:,.0f} |")
    total = table.seconds.sum()
    print(f"\none process, chunks one after another: {total:,.0f} s ({total / 3600:.2f} h) for {len(configs)} runs, "
          f"{total / len(configs):.1f} s per run; {int(table.measured.sum())} of {len(chunks)} chunks timed")


if __name__ == "__main__":
    main()
