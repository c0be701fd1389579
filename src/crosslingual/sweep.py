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
from crosslingual.runs import Run, get_or_train, is_done, record_use, run_dir, runs_root
from crosslingual.world import World


def default_workers() -> int:
    """One worker per core, overridable with ``$CROSSLINGUAL_WORKERS``."""
    return max(1, int(os.environ.get("CROSSLINGUAL_WORKERS", os.cpu_count() or 1)))


def expected_cost(cfg: RunConfig) -> float:
    """Relative training cost: tokens x (the matrix products' width) per layer. Only the order matters."""
    m, t = cfg.model, cfg.train
    return t.steps * t.batch_size * World(cfg.world).seq_len * m.n_layers * m.d_model * (4 * m.d_model + 2 * m.d_mlp)


def _init_worker() -> None:
    torch.set_num_threads(1)


def _train_chunk(cfg_dicts: list[dict], device: str, root: str) -> None:
    cfgs = [RunConfig.from_dict(d) for d in cfg_dicts]
    if len(cfgs) == 1:
        get_or_train(cfgs[0], device=device, progress=False, root=Path(root))
    else:
        from crosslingual.batched import get_or_train_together

        get_or_train_together(cfgs, device=device, progress=False, root=Path(root))


def run_many(configs: list[RunConfig], *, workers: int | None = None, device: str = "auto",
             progress: bool = True, root: Path | None = None, together: int = 1) -> list[Run]:
    """Finished runs for ``configs`` (in order), training the missing ones ``workers`` processes at a time.

    ``together > 1`` trains up to that many same-shaped runs in one process as one batched computation
    (``crosslingual.batched``). On a 2-core CPU this gains nothing over single-threaded workers (see
    ``bench/README.md``), so it is off by default; it is meant for accelerators, where per-kernel overhead
    dominates small models.
    """
    root = root or runs_root()
    device = resolve_device(device)
    for cfg in configs:
        cfg.validate()
    missing = sorted({cfg.hash(): cfg for cfg in configs if not is_done(cfg, root)}.values(), key=expected_cost,
                     reverse=True)  # longest first: the pool's last busy worker finishes soonest
    chunks = [[c.to_dict() for c in missing[i:i + together]] for i in range(0, len(missing), max(1, together))]
    workers = min(workers or default_workers(), max(1, len(chunks)))
    if chunks and (workers == 1 or device == "cuda"):
        for chunk in tqdm(chunks, desc="runs", disable=not progress):
            _train_chunk(chunk, device, str(root))
    elif chunks:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker) as pool:
            futures = [pool.submit(_train_chunk, chunk, device, str(root)) for chunk in chunks]
            for fut in tqdm(as_completed(futures), total=len(futures), desc="runs", disable=not progress):
                fut.result()
    runs = [Run(run_dir(cfg, root)) for cfg in configs]
    record_use(runs)
    return runs
