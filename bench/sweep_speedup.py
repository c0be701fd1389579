"""Speed-up of a local sweep with several workers over running the same runs one after another.

Each mode trains the same runs into its own empty temporary store, so nothing is reused between modes:

- sequential, 1 thread / all threads: one process, one run after the other (``get_or_train`` in a loop: a
  sweep trains in-process runs on one thread, so that their bits do not depend on the thread count);
- process pool: ``sweep(backend="processes")``, single-threaded spawn workers (what the notebooks use);
- Dask LocalCluster: ``sweep(backend="dask")``, single-threaded process workers, cluster start-up included.

Both pools batch runs of one shape as a sweep does by default (``sweep.TOGETHER``). Each pool's start-up and
shut-down alone (its workers started, one trivial task each, closed) is timed too, so that the table can say how
much of a difference between the pools is that fixed cost and how much the runs' own speed.

    .venv/bin/python bench/sweep_speedup.py --runs 8 --steps 1000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from crosslingual.core.config import make_config
from crosslingual.store.fetch import get_or_train
from crosslingual.store.sweep import _pool, sweep


def _ready() -> str:
    """A worker's first task: import what a run needs."""
    import crosslingual.store.fetch

    return crosslingual.store.fetch.__name__


def pool_overhead(backend: str, workers: int) -> float:
    """Seconds to start a pool, run one trivial task per worker and close it."""
    start = time.perf_counter()
    with _pool(backend, workers, None) as (submit, as_completed, _):
        for fut in as_completed([submit(_ready) for _ in range(workers)]):
            fut.result()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=1000, help="steps per run (the profile's batch and model)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    configs = [make_config(args.profile, seed=s, world_seed=s, steps=args.steps) for s in range(args.runs)]
    cores = os.cpu_count() or 1
    modes = [("sequential, 1 thread", None, 1), (f"sequential, {cores} threads", None, cores),
             (f"process pool, {args.workers} workers", dict(workers=args.workers, backend="processes"), cores),
             (f"Dask LocalCluster, {args.workers} workers", dict(workers=args.workers, backend="dask"), cores)]
    print(f"{args.runs} runs of profile {args.profile!r} at {args.steps} steps, {cores} cores, "
          f"torch {torch.__version__}")
    times: dict[str, float] = {}
    for name, kwargs, threads in modes:
        torch.set_num_threads(threads)
        with tempfile.TemporaryDirectory() as store:
            start = time.perf_counter()
            if kwargs is None:
                for cfg in configs:
                    get_or_train(cfg, root=Path(store), progress=False)
            else:
                report = sweep(configs, root=Path(store), progress=False, **kwargs)
                assert len(report.trained) == args.runs and not report.failed, report
            times[name] = time.perf_counter() - start
        print(f"  {name:<32} {times[name]:7.1f} s", flush=True)
    overhead = {name: pool_overhead(kwargs["backend"], args.workers) for name, kwargs, _ in modes if kwargs}
    base1, base_all = times[modes[0][0]], times[modes[1][0]]
    print(f"\n| mode | wall s | speed-up vs sequential 1 thread | vs sequential {cores} threads | pool start + stop s "
          f"| wall s without it |")
    print("|---|---|---|---|---|---|")
    for name, t in times.items():
        cost = overhead.get(name)
        print(f"| {name} | {t:.1f} | {base1 / t:.2f}x | {base_all / t:.2f}x | "
              f"{'' if cost is None else f'{cost:.1f}'} | {'' if cost is None else f'{t - cost:.1f}'} |")
    pool, dask = (name for name, kwargs, _ in modes if kwargs)
    print(f"\nDask / process pool: {times[dask] / times[pool]:.2f}x wall, "
          f"{(times[dask] - overhead[dask]) / (times[pool] - overhead[pool]):.2f}x without each pool's start and stop")


if __name__ == "__main__":
    main()
