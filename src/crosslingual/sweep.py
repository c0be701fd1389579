"""Run many configs: the missing ones are trained in a local pool of single-threaded worker processes.

Tiny models are dominated by per-op overhead, so on a small CPU k single-threaded processes side by side beat
one k-threaded process (science.md section 2). Workers go through ``get_or_train``, so the run store's lock
keeps concurrent requests for one config safe; finished runs are never retrained.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import torch
from tqdm import tqdm

from crosslingual.config import RunConfig, resolve_device
from crosslingual.runs import Run, get_or_train, is_done, run_dir, runs_root


def default_workers() -> int:
    """One worker per core, overridable with ``$CROSSLINGUAL_WORKERS``."""
    return max(1, int(os.environ.get("CROSSLINGUAL_WORKERS", os.cpu_count() or 1)))


def _init_worker() -> None:
    torch.set_num_threads(1)


def _train_one(cfg_dict: dict, device: str, root: str) -> str:
    run = get_or_train(RunConfig.from_dict(cfg_dict), device=device, progress=False, root=Path(root))
    return str(run.path)


def run_many(configs: list[RunConfig], *, workers: int | None = None, device: str = "auto",
             progress: bool = True, root: Path | None = None) -> list[Run]:
    """Finished runs for ``configs`` (in order), training the missing ones ``workers`` at a time."""
    root = root or runs_root()
    device = resolve_device(device)
    for cfg in configs:
        cfg.validate()
    missing = list({cfg.hash(): cfg for cfg in configs if not is_done(cfg, root)}.values())
    workers = min(workers or default_workers(), max(1, len(missing)))
    if missing and (workers == 1 or device == "cuda"):
        for cfg in tqdm(missing, desc="runs", disable=not progress):
            get_or_train(cfg, device=device, progress=False, root=root)
    elif missing:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker) as pool:
            futures = [pool.submit(_train_one, cfg.to_dict(), device, str(root)) for cfg in missing]
            for fut in tqdm(as_completed(futures), total=len(futures), desc="runs", disable=not progress):
                fut.result()
    return [Run(run_dir(cfg, root)) for cfg in configs]
