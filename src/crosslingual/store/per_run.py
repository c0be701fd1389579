"""A chapter's per-run analyses side by side: the loop over its seeds' runs (regions, continued training) computed
in worker processes instead of one after another in the notebook's kernel.

Why: each seed's analysis is independent and single-threaded (the book's kernels run on one torch thread), so a
chapter whose analyses take minutes per seed (chapter 10's) took the sum of them on one core while the other
cores idled once the shorter chapters had finished; on a GPU machine, whose training is done in minutes, that sum
was the whole build's longest pole (bench/README.md). A worker runs on one torch thread too, so its numbers are
those the loop in the kernel would compute, and an analysis that caches its tables in the run store caches them
from the worker as it would from the kernel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import as_completed
from pathlib import Path
from typing import Any

from tqdm import tqdm

from crosslingual.store.runs import Run
from crosslingual.store.sweep import default_workers, worker_pool


def _call(fn: Callable[..., Any], path: str, kwargs: dict[str, Any]) -> Any:
    return fn(Run(Path(path)), **kwargs)


def map_runs(fn: Callable[..., Any], runs: Sequence[Run], *, workers: int | None = None, desc: str = "",
             progress: bool = True, **kwargs: Any) -> list[Any]:
    """``[fn(run, **kwargs) for run in runs]``, in up to ``workers`` single-threaded spawn processes (default:
    one per core, ``$CROSSLINGUAL_WORKERS``), the results in the order of ``runs``. ``fn`` must be importable
    (a module-level function) and its keyword arguments and result picklable; a run is sent by its path. With
    one worker or one run it is the plain loop in this process. The first failing call raises its error and stops
    the calls still running; the workers end with this process however it ends (``sweep.worker_pool``)."""
    workers = min(len(runs), workers or default_workers())
    bar = tqdm(total=len(runs), desc=desc, disable=not progress)
    try:
        if workers <= 1:
            results = []
            for run in runs:
                results.append(fn(run, **kwargs))
                bar.update()
            return results
        with worker_pool(workers) as pool:
            futures = {pool.submit(_call, fn, str(run.path), kwargs): i for i, run in enumerate(runs)}
            out: dict[int, Any] = {}
            for fut in as_completed(futures):
                out[futures[fut]] = fut.result()
                bar.update()
            return [out[i] for i in range(len(runs))]
    finally:
        bar.close()
