"""Run many configs: the missing ones are trained by a pool of workers, on this machine or on a Dask cluster.

Backends (``sweep(..., backend=...)``):

- ``processes``: a local pool of single-threaded spawn processes. Tiny models are dominated by per-op overhead,
  so on a small CPU k single-threaded processes side by side beat one k-threaded process (science.md
  section 2). It starts in well under a second and is the local default.
- ``dask``: a Dask ``distributed`` cluster: a ``LocalCluster`` of single-threaded process workers, or the
  scheduler at ``scheduler`` (``tcp://host:port``), e.g. one started by dask-jobqueue on SLURM. Workers must be
  able to import crosslingual and reach the run store at the same path (a shared filesystem).

With ``$CROSSLINGUAL_SCHEDULER`` set, ``run_many`` (and so every notebook) sends its runs to that cluster.
Every worker trains through ``get_or_train``: the store's lock keeps concurrent requests for one config safe,
and a run whose worker died is resumed from its last checkpoint by the worker that takes the task over. A
failing run is reported with its config hash and error and never stops the others. Local workers end with the
process that started them however it ends (SIGKILL included), and an interrupt (Ctrl-C; SIGTERM through the CLI)
ends them at once (``worker_pool``); the next sweep resumes their runs.
"""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import functools
import math
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import as_completed as futures_completed
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context, parent_process
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import torch
from tqdm import tqdm

from crosslingual.core.checks import check_count
from crosslingual.core.config import RunConfig, context_length
from crosslingual.core.device import resolve_device
from crosslingual.errors import ConfigError
from crosslingual.store.fetch import get_or_train
from crosslingual.store.integrity import is_done
from crosslingual.store.layout import check_store, disk_bytes, run_dir, runs_root
from crosslingual.store.memory import (
    PROCESS_BYTES,
    GiB,
    available_bytes,
    check_run_fits,
    estimate_run_bytes,
    placed_bytes,
    sequence_length,
)
from crosslingual.store.runs import Run, record_use

SCHEDULER_ENV = "CROSSLINGUAL_SCHEDULER"
CONNECT_TIMEOUT_S = 5  # a scheduler that refuses, ignores or does not answer the connection fails the sweep this fast
SCHEDULER_SCHEMES = ("tcp", "tls")
# Two Dask defaults made a run train 2.7x slower in a local worker than in the process pool (35.6 s vs 13.0 s for a
# 600-step default run; 20.7 s with the profiler off): the statistical profiler samples every thread's stack every
# 10 ms, which costs a training loop dominated by Python dispatch, and the nanny's MALLOC_TRIM_THRESHOLD_=65536
# makes glibc return freed memory at once, so each step's tensors are mapped anew. A LocalCluster turns both off;
# a cluster's own workers need the same settings (README).
LOCAL_WORKER_CONFIG = {"distributed.worker.profile.enabled": False,
                       "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
BACKENDS = ("processes", "dask")
# Runs per batched computation when the caller does not choose (bench/README.md, bench/train_speed.py)
TOGETHER = {"cpu": 8, "cuda": 16}
# Worker processes sharing one GPU when the caller does not choose: a default-profile run is launch-bound there
# (one process leaves the GPU idle between its small kernels), so several processes, each launching from its own
# core, train side by side: on an H200 the book's 250 runs took 362 s in 8 processes against 683 s extrapolated for
# one (bench/README.md; 4 or 16 against 8 not yet measured, bench/gpu_processes.py).
GPU_WORKERS = 8
# What a worker process holds on the GPU besides its runs: the CUDA context and the caching allocator's slack
# (8 processes with their default runs held 8.6-10.4 GiB on the H200)
CUDA_PROCESS_BYTES = 1 * GiB


WORKERS_ENV = "CROSSLINGUAL_WORKERS"
MAX_WORKERS = 1024


def default_workers(device: str = "cpu") -> int:
    """One worker per core (on a GPU at most ``GPU_WORKERS`` processes sharing it), overridable with
    ``$CROSSLINGUAL_WORKERS`` (a whole number from 1 to ``MAX_WORKERS``; anything else is a ConfigError, not a
    silent default)."""
    raw = os.environ.get(WORKERS_ENV, "")
    if raw:
        # ASCII digits only: str.isdigit also takes "²" (which int() refuses) and "٣" (which it reads as 3)
        if not re.fullmatch(r"[0-9]+", raw.strip()) or not 1 <= int(raw) <= MAX_WORKERS:
            raise ConfigError(f"{WORKERS_ENV}={raw!r} is not allowed: a whole number from 1 to {MAX_WORKERS} "
                              "(training processes; unset: one per core)")
        return int(raw)
    cores = os.cpu_count() or 1
    return min(cores, GPU_WORKERS) if device == "cuda" else cores


def expected_cost(cfg: RunConfig) -> float:
    """Relative training cost: tokens x (the matrix products' width) per layer. Only the order matters, so the
    sequence length comes from the config (exact for word-level worlds, a bound for BPE) rather than from
    building every world of a large grid."""
    m, t = cfg.model, cfg.train
    tokens = t.steps * t.batch_size * context_length(cfg, sequence_length(cfg.world))
    return tokens * m.n_layers * m.d_model * (4 * m.d_model + 2 * m.d_mlp)


def shape_key(cfg: RunConfig) -> tuple:
    """What decides, from the config alone, whether runs can share one batched computation: everything but the
    seeds and the knobs that change only which sequences the corpus holds (not the vocabulary, the sequence
    length or the model). In BPE worlds and with partly shared names the vocabulary depends on the world's seed,
    so those runs share a key only with the same world seed (a chunk of unbatchable runs would otherwise train
    one after another in one worker); ``fetch.get_or_train_together`` checks the real shapes either way."""
    corpus_only = dict(parallel_fraction=0.5, parallel_mode="parallel", language_association=1.0,
                       attribute_association=0.0, code_switching=0.0)
    w = cfg.world
    seeded = w.tokenizer == "bpe" or 0 < w.entity_overlap < 1 or 0 < w.value_overlap < 1
    if not seeded:  # the vocabulary and the sequence length do not depend on the world's seed
        corpus_only["world_seed"] = 0
    world = dataclasses.replace(w, **corpus_only)
    return (cfg.model, cfg.train, world) if not cfg.train.aligned_pairs else (cfg.hash(),)


def batch_chunks(missing: list[RunConfig], together: int, workers: int) -> list[list[RunConfig]]:
    """The missing runs in chunks of at most ``together`` runs of one ``shape_key``, as even in size as the
    group allows and at least ``workers`` chunks where the runs allow (an idle core costs more than a smaller
    batch), the most expensive chunk first."""
    groups: dict[tuple, list[RunConfig]] = {}
    for cfg in missing:
        groups.setdefault(shape_key(cfg), []).append(cfg)
    n_chunks = {key: math.ceil(len(g) / together) for key, g in groups.items()}
    while sum(n_chunks.values()) < min(workers, len(missing)):
        key = max(groups, key=lambda k: len(groups[k]) / n_chunks[k])
        n_chunks[key] += 1
    chunks = []
    for key, group in groups.items():
        size = math.ceil(len(group) / n_chunks[key])
        chunks += [group[i:i + size] for i in range(0, len(group), size)]
    return sorted(chunks, key=lambda chunk: -sum(map(expected_cost, chunk)))


def memory_workers(chunks: list[list[RunConfig]], workers: int, device: str = "cpu") -> int:
    """The most local workers, at most ``workers``, such that the chunks with the ``workers`` largest memory
    estimates fit in the free memory side by side, each in its own process (at least one: each run alone was
    checked to fit). On a GPU both memories are checked: the GPU's (each process with its CUDA context) and the
    host's (worlds, saved states)."""
    if workers <= 1:
        return workers
    base = {"cpu": PROCESS_BYTES, "cuda": CUDA_PROCESS_BYTES}
    placed = [[placed_bytes(estimate_run_bytes(c), device) for c in chunk] for chunk in chunks]  # estimated once
    need = {where: sorted((base[where] + sum(p[where] for p in chunk) for chunk in placed), reverse=True)
            for where in placed[0][0]}
    free = {where: available_bytes(where) for where in need}
    fitting = next((k for k in range(workers, 1, -1) if all(sum(need[w][:k]) <= free[w] for w in need)), 1)
    if fitting < workers:
        short = next(w for w in need if sum(need[w][:workers]) > free[w])
        print(f"sweep: {fitting} worker(s) instead of {workers}: the {workers} largest runs need about "
              f"{sum(need[short][:workers]) / GiB:.1f} GiB together on {short}, {free[short] / GiB:.1f} GiB is free")
    return fitting


def one_torch_thread() -> None:
    """One torch thread, as every training and analysis worker runs."""
    torch.set_num_threads(1)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_POLL_S = 0.5  # how soon a worker without PR_SET_PDEATHSIG notices that its parent is gone


def _killed_with_parent() -> bool:
    """Ask Linux to SIGKILL this process when its parent ends (PR_SET_PDEATHSIG); whether that is in place.
    The signal comes at once, however the parent ended and whatever this process is doing. Linux sends it when the
    *thread* that started this process ends: a pool's workers are started by the thread that submits to it (its
    manager thread starts one only to replace a worker ended by ``max_tasks_per_child``, which no pool here sets),
    and that thread holds the pool until it is shut down."""
    if not sys.platform.startswith("linux"):
        return False
    return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0


def _exit_when_orphaned(parent: int) -> None:
    """Poll until this process's parent is no longer ``parent`` (an orphan is adopted by another), then end it:
    the portable way to die with the parent where PR_SET_PDEATHSIG is not available."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


@functools.cache  # once per process: a chapter's worker calls it for every notebook it executes
def die_with_parent() -> None:
    """End this multiprocessing child when the process that started it ends, whatever ends that, SIGKILL
    included (a no-op in any other process). Why: a worker holds hundreds of MB and trains on for minutes; one
    left behind by a killed sweep, notebook kernel or book competes with everything started after it until
    someone kills it by hand. The run store resumes a run from its last checkpoint, so ending it loses at most
    that."""
    parent = parent_process()
    if parent is None:
        return
    if not _killed_with_parent():
        threading.Thread(target=_exit_when_orphaned, args=(parent.pid,), daemon=True).start()
    if os.getppid() != parent.pid:  # the parent ended while this process was starting
        os._exit(1)


def pool_worker() -> None:
    """The initializer of every pool of training and analysis workers: one torch thread, dying with its parent.
    Its progress bars lock a thread lock instead of tqdm's default, a multiprocessing semaphore: a killed worker
    leaves its semaphore to the resource tracker, which warns about it on the user's terminal."""
    one_torch_thread()
    die_with_parent()
    tqdm.set_lock(threading.RLock())


@contextmanager
def stopping_workers(pool: ProcessPoolExecutor) -> Iterator[ProcessPoolExecutor]:
    """``pool``, shut down on exit; left by an exception (Ctrl-C, SIGTERM through the CLI, a failed call) it
    kills the workers at once instead of waiting for their running calls, which can take minutes: an interrupt
    means stop now, and the calls' results would be dropped anyway."""
    try:
        yield pool
    except BaseException:
        # the executor has no public way to end a running call; its workers are the values of its private
        # _processes (pid -> Process; None once shut down), kept by CPython since 3.2
        for process in list((pool._processes or {}).values()):
            process.kill()
        raise
    finally:
        pool.shutdown(cancel_futures=True)


def worker_pool(workers: int) -> AbstractContextManager[ProcessPoolExecutor]:
    """A pool of ``workers`` single-threaded spawn processes that die with this one (``pool_worker``) and are
    killed when the pool is left by an exception (``stopping_workers``)."""
    return stopping_workers(ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=pool_worker))


def _train_chunk(cfg_dicts: list[dict], device: str, root: str, single_thread: bool = False) -> dict[str, str | None]:
    """Train (or find) one chunk of runs in this process, batched when it holds several; returns each run's error
    (``None``: done). A batch that fails is retried run by run (each resumes from its last checkpoint), so that
    one failing run fails alone. ``single_thread``: on one torch thread (restored afterwards), as in the pool's
    workers, so that a run's last bits do not depend on whether it was trained in a worker or in the caller's
    process (they differ between 1 and 2 threads)."""
    threads = torch.get_num_threads()
    if single_thread:
        one_torch_thread()
    try:
        cfgs = [RunConfig.from_dict(d) for d in cfg_dicts]
        if len(cfgs) > 1:
            from crosslingual.store.fetch import get_or_train_together

            try:
                get_or_train_together(cfgs, device=device, progress=False, root=Path(root))
                return {c.hash(): None for c in cfgs}
            except Exception:  # noqa: BLE001 -- retried one by one below, which reports the failing run
                pass
        errors: dict[str, str | None] = {}
        for cfg in cfgs:
            try:
                get_or_train(cfg, device=device, progress=False, root=Path(root))
                errors[cfg.hash()] = None
            except Exception as err:  # noqa: BLE001 -- reported per run; the sweep goes on
                errors[cfg.hash()] = f"{type(err).__name__}: {err}"
        return errors
    finally:
        torch.set_num_threads(threads)


class SweepError(RuntimeError):
    """Some runs of a sweep failed; the message lists each with its config hash and error."""


@dataclass
class SweepReport:
    """What a sweep did: runs found in the store, trained, and failed (config hash -> error)."""

    requested: int
    found: int
    trained: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    backend: str = ""
    workers: int = 0

    def table(self) -> pd.DataFrame:
        """The end-of-sweep summary: one row per outcome."""
        return pd.DataFrame({"runs": [self.found, len(self.trained), len(self.failed)]},
                            index=pd.Index(["already in the store", "trained", "failed"], name="outcome"))

    def raise_for_failures(self) -> None:
        if self.failed:
            lines = "\n".join(f"  run {h}: {err}" for h, err in self.failed.items())
            raise SweepError(f"{len(self.failed)} of {self.requested} runs failed (the others finished):\n{lines}")


def check_scheduler(address: str) -> None:
    """A ConfigError unless ``address`` has the form of a Dask scheduler's address, ``tcp://HOST:PORT`` or
    ``tls://HOST:PORT``; checked before anything else, so that a typo fails in one line naming the form, not in
    Dask's traceback (a bare ``host:port``, which Dask reads as TCP, is refused too: the scheme says what is meant)."""
    try:
        parts = urlsplit(address)
        valid = (parts.scheme in SCHEDULER_SCHEMES and bool(parts.hostname) and bool(parts.port)
                 and "@" not in parts.netloc and not (parts.path or parts.query or parts.fragment))
    except ValueError:  # an unclosed [IPv6] bracket, a port that is not a number from 0 to 65535
        valid = False
    if not valid:
        raise ConfigError(f"scheduler={address!r} (--scheduler or ${SCHEDULER_ENV}) is not allowed: a Dask "
                          f"scheduler's address, {' or '.join(f'{s}://HOST:PORT' for s in SCHEDULER_SCHEMES)}")


def _handshake(address: str) -> None:
    """Connect to the scheduler and complete Dask's handshake within ``CONNECT_TIMEOUT_S``, or a ConfigError. Why:
    the Client bounds only the TCP connect, then waits for the handshake's answer as long as the server keeps the
    connection open (a web server, or one that never answers: minutes, silently). It runs in a thread of its own
    because a notebook's kernel already runs an event loop in this one."""
    from distributed.comm import connect

    async def probe() -> None:
        comm = await asyncio.wait_for(connect(address, timeout=CONNECT_TIMEOUT_S), CONNECT_TIMEOUT_S)
        await comm.close()

    try:
        with ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, probe()).result()
    except (OSError, TimeoutError) as err:
        raise _unreachable(address, err) from err
    except Exception as err:  # an answer that is not Dask's fails to decode (MemoryError: a frame "length" of EiB)
        raise ConfigError(f"scheduler={address!r}: the server there is not a Dask scheduler (its answer does not "
                          f"decode as Dask's: {type(err).__name__})") from err


def _unreachable(address: str | None, err: OSError) -> ConfigError:
    """The one-line error for a scheduler that refused, could not be resolved or stayed silent."""
    detail = " ".join(str(err).split())[:200]
    return ConfigError(f"scheduler={address!r}: no Dask scheduler answered within {CONNECT_TIMEOUT_S} s "
                       f"({type(err).__name__}{': ' if detail else ''}{detail})")


@contextmanager
def _pool(backend: str, workers: int, scheduler: str | None) -> Iterator[tuple[Callable, Callable, bool]]:
    """``(submit, as_completed, single_thread)`` for the backend; the pool is shut down on exit."""
    if backend == "processes":
        with worker_pool(workers) as pool:
            yield pool.submit, futures_completed, False
        return
    import logging

    import dask
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        _handshake(scheduler)
    else:
        with dask.config.set(LOCAL_WORKER_CONFIG):  # read by the workers as they start
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                                   silence_logs=logging.ERROR)
    try:
        client = Client(scheduler or cluster, timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError) as err:  # refused, unresolvable, or silent: the user's address, not a bug
        raise _unreachable(scheduler, err) from err
    try:
        yield (lambda fn, *args: client.submit(fn, *args, pure=False)), as_completed, True
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def sweep(configs: list[RunConfig], *, workers: int | None = None, device: str = "auto", progress: bool = True,
          root: Path | None = None, together: int | None = None, backend: str = "processes",
          scheduler: str | None = None) -> SweepReport:
    """Train every config missing from the store; a failure is recorded and the other runs go on.

    Locally (no ``scheduler``), every missing run is first checked to fit in the free memory (a ConfigError
    otherwise, before anything trains) and the worker count is lowered until the largest runs fit side by side.

    ``together > 1`` trains up to that many same-shaped runs in one process as one batched computation
    (``crosslingual.store.fetch``); a run's numbers are bit-identical either way. ``None`` takes ``TOGETHER`` for the
    device (measured in ``bench/README.md``).
    """
    if backend not in BACKENDS:
        raise ConfigError(f"backend={backend!r} is not allowed: choose one of {', '.join(map(repr, BACKENDS))}")
    if scheduler:
        check_scheduler(scheduler)
        backend = "dask"
    start = time.perf_counter()
    root = root or runs_root()
    for cfg in configs:
        cfg.validate()
    distinct = {cfg.hash(): cfg for cfg in configs}
    missing = sorted((c for c in distinct.values() if not is_done(c, root)), key=expected_cost,
                     reverse=True)  # longest first: the pool's last busy worker finishes soonest
    report = SweepReport(requested=len(distinct), found=len(distinct) - len(missing), backend=backend)
    # a remote cluster picks its own devices; locally the workers share the one GPU
    local_device = device if backend == "dask" and scheduler else resolve_device(device)
    if together is None:
        together = TOGETHER["cuda" if local_device == "cuda" else "cpu"]
    together = check_count("together", together, 1, 1024)
    workers = workers or default_workers(local_device)
    chunks = batch_chunks(missing, together, workers)
    workers = min(workers, max(1, len(chunks)))
    if not scheduler:  # a run that cannot fit fails the sweep here, before any training (not as a failed run)
        for cfg in missing:
            check_run_fits(cfg, local_device)
        workers = memory_workers(chunks, workers, local_device)
    report.workers = workers
    if missing:
        check_store(root, max(map(disk_bytes, missing)))
    in_process = workers == 1 and not scheduler
    with ExitStack() as stack:
        # the pool first: an unreachable scheduler fails before a progress bar is drawn
        pool = stack.enter_context(_pool(backend, workers, scheduler)) if chunks and not in_process else None
        bar = stack.enter_context(tqdm(total=len(missing), desc="runs", disable=not progress or not missing,
                                       unit="run"))

        def finished(chunk: list[RunConfig], errors: dict[str, str | None]) -> None:
            for cfg in chunk:
                error = errors.get(cfg.hash())
                if error is None:
                    report.trained.append(cfg.hash())
                else:
                    report.failed[cfg.hash()] = error
            bar.update(len(chunk))
            bar.set_postfix(failed=len(report.failed))

        def lost(chunk: list[RunConfig], err: BaseException) -> dict[str, str | None]:
            """Every run of a chunk whose worker died or could not run it at all."""
            return {cfg.hash(): f"{type(err).__name__}: {err}" for cfg in chunk}

        if pool is None:
            for chunk in chunks:
                try:
                    finished(chunk, _train_chunk([c.to_dict() for c in chunk], local_device, str(root),
                                                 single_thread=local_device == "cpu"))
                except Exception as err:  # noqa: BLE001 -- reported per run; the sweep goes on
                    finished(chunk, lost(chunk, err))
        else:
            submit, as_completed, single_thread = pool
            futures = {submit(_train_chunk, [c.to_dict() for c in chunk], local_device, str(root), single_thread): chunk
                       for chunk in chunks}
            for fut in as_completed(list(futures)):
                try:
                    finished(futures[fut], fut.result())
                except Exception as err:  # noqa: BLE001 -- reported per run; the sweep goes on
                    finished(futures[fut], lost(futures[fut], err))
    report.seconds = time.perf_counter() - start
    return report


def run_many(configs: list[RunConfig], *, workers: int | None = None, device: str = "auto",
             progress: bool = True, root: Path | None = None, together: int | None = None) -> list[Run]:
    """Finished runs for ``configs`` (in order), training the missing ones ``workers`` processes at a time
    (on the Dask cluster at ``$CROSSLINGUAL_SCHEDULER`` when it is set). Raises :class:`SweepError` naming every
    failed run once all the others have finished."""
    root = root or runs_root()
    sweep(configs, workers=workers, device=device, progress=progress, root=root, together=together,
          scheduler=os.environ.get(SCHEDULER_ENV) or None).raise_for_failures()
    runs = [Run(run_dir(cfg, root)) for cfg in configs]
    record_use(runs)
    return runs
