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

# One computation to run in a worker: an importable function, its positional and its keyword arguments (all
# picklable).
Call = tuple[Callable[..., Any], tuple, dict[str, Any]]


def _call(fn: Callable[..., Any], path: str, kwargs: dict[str, Any]) -> Any:
    return fn(Run(Path(path)), **kwargs)


def run_call(fn: Callable[..., Any], run: Run, **kwargs: Any) -> Call:
    """The call ``fn(run, **kwargs)`` with the run sent by its path (a worker opens it again)."""
    return (_call, (fn, str(run.path), kwargs), {})


def map_calls(calls: Sequence[Call], *, workers: int | None = None, desc: str = "", progress: bool = True
              ) -> list[Any]:
    """``[fn(*args, **kwargs) for fn, args, kwargs in calls]``, in up to ``workers`` single-threaded spawn
    processes (default: one per core, ``$CROSSLINGUAL_WORKERS``), started in the order given (put the longest
    first), the results in that order. Each ``fn`` must be importable (a module-level function), its arguments and
    result picklable. With one worker or one call it is the plain loop in this process. The first failing call
    raises its error and stops the calls still running; the workers end with this process however it ends
    (``sweep.worker_pool``)."""
    workers = min(len(calls), workers or default_workers())
    bar = tqdm(total=len(calls), desc=desc, disable=not progress)
    try:
        if workers <= 1:
            results = []
            for fn, args, kwargs in calls:
                results.append(fn(*args, **kwargs))
                bar.update()
            return results
        with worker_pool(workers) as pool:
            futures = {pool.submit(fn, *args, **kwargs): i for i, (fn, args, kwargs) in enumerate(calls)}
            out: dict[int, Any] = {}
            for fut in as_completed(futures):
                out[futures[fut]] = fut.result()
                bar.update()
            return [out[i] for i in range(len(calls))]
    finally:
        bar.close()


def map_runs(fn: Callable[..., Any], runs: Sequence[Run], *, workers: int | None = None, desc: str = "",
             progress: bool = True, **kwargs: Any) -> list[Any]:
    """``[fn(run, **kwargs) for run in runs]`` by :func:`map_calls`, each run sent by its path; ``fn`` must be
    importable and its keyword arguments and result picklable."""
    if (workers or default_workers()) <= 1 or len(runs) <= 1:  # the plain loop: no path round trip
        return map_calls([(fn, (run,), kwargs) for run in runs], workers=1, desc=desc, progress=progress)
    return map_calls([run_call(fn, run, **kwargs) for run in runs], workers=workers, desc=desc, progress=progress)
