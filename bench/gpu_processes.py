"""How many worker processes should share one GPU (``sweep.GPU_WORKERS``): the same runs trained by ``sweep`` with
1, 2, 4, ... processes, each mode into its own empty store, runs not batched (``--together 1``: the book's runs of
a unique shape train alone) unless asked.

A default-profile run is launch-bound on a GPU: one process leaves it idle between small kernels, so processes
launching from their own cores side by side can keep it busy, until the GPU's time-slicing between their
contexts or the host's cores stop the gain. One process trains in the caller (the sweep's in-process path, CUDA
already initialised); a pool pays its workers' start-up (spawn, import, CUDA context), as the book does.

    PYTHONPATH=src python3 bench/gpu_processes.py --runs 8 --steps 200 --workers 1,4,8,16
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from crosslingual.core.config import make_config
from crosslingual.core.device import resolve_device
from crosslingual.store.sweep import sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=200, help="steps per run (the profile's batch and model)")
    parser.add_argument("--workers", default="1,4,8,16", help="comma-separated process counts")
    parser.add_argument("--together", type=int, default=1, help="runs per batched computation (sweep's together)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (cpu: a dry run of the script)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    counts = [int(w) for w in args.workers.split(",")]
    configs = [make_config(args.profile, seed=s, world_seed=s, steps=args.steps) for s in range(args.runs)]
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    print(f"{args.runs} runs of profile {args.profile!r} at {args.steps} steps, together={args.together}, on {name}, "
          f"{os.cpu_count()} cores, torch {torch.__version__}", flush=True)
    times: dict[int, float] = {}
    for workers in counts:
        with tempfile.TemporaryDirectory() as store:
            start = time.perf_counter()
            report = sweep(configs, workers=workers, device=device, together=args.together, progress=False,
                           root=Path(store))
            times[workers] = time.perf_counter() - start
            assert len(report.trained) == args.runs and not report.failed, report.failed
        print(f"  {workers:3d} process(es) ({report.workers} used): {times[workers]:7.1f} s", flush=True)
    base = times[counts[0]]
    print(f"\n| processes | wall s | runs per minute | speed-up vs {counts[0]} |\n|---|---|---|---|")
    for workers, t in times.items():
        print(f"| {workers} | {t:.1f} | {60 * args.runs / t:.1f} | {base / t:.2f}x |")


if __name__ == "__main__":
    main()
