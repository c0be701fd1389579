"""The render tier: train the book's studies, execute every experiment notebook with papermill, then build the
Jupyter Book.

Every run of the studies (``crosslingual/store/studies/*.yaml``) is trained first, in one pool; then the notebooks
run side by side (one per core and one more), each in its own worker and kernel process (papermill is
process-safe, not thread-safe) on one torch thread, and find their runs (and their cached analyses) in the store;
a chapter whose inputs are those of its last execution is reused (``crosslingual.render.executed_cache``), its page
naming the commit it was executed at and this build's (``crosslingual.render.provenance.mark_reused``).
The book is built with ``execute_notebooks: "off"`` from the executed copies, with
warnings as errors. ``out`` builds a copy (the test suite's smoke book) without touching the checkout's own book.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING

from crosslingual.claims import CLAIMS_LOG
from crosslingual.core.config import PROFILES
from crosslingual.core.device import resolve_device
from crosslingual.errors import ConfigError
from crosslingual.files import write_atomic, write_errors
from crosslingual.render import executed_cache, reuse
from crosslingual.render.chapters import (
    CHAPTERS,
    Chapter,
    book_configs,
    chapter,
    first_designs_asked,
    runs_first_designs,
    toc_yaml,
)
from crosslingual.render.cost import cost_page, counted
from crosslingual.render.findings import FINDINGS, findings_markdown, findings_page
from crosslingual.render.provenance import (
    annotate,
    book_profile,
    check_chapter_parameters,
    declared_parameters,
    mark_reused,
)
from crosslingual.render.scoreboard import read_claims, repository_url, scoreboard_page
from crosslingual.store.layout import runs_root
from crosslingual.store.per_run import Call, map_calls
from crosslingual.store.runs import USAGE_LOG, Run
from crosslingual.store.sweep import (
    SCHEDULER_ENV,
    SweepReport,
    default_workers,
    die_with_parent,
    stopping_workers,
    sweep,
    worker_pool,
)

if TYPE_CHECKING:
    from traitlets.config import Config

BOOK_FILES = ("_config.yml", "_toc.yml", "book")


def notebooks(root: Path, chapters: tuple[Chapter, ...] = CHAPTERS) -> list[Path]:
    """The chapters' notebooks under ``root``, in reading order; a numbered notebook that the registry does not
    list, or a listed one that is missing, is an error (it would silently drop out of the book)."""
    stray = sorted(p.stem for p in (root / "notebooks").glob("[0-9][0-9]_*.ipynb")
                   if p.stem not in {c.name for c in CHAPTERS})
    if stray:
        raise ConfigError(f"notebooks {', '.join(stray)} are not in the chapter registry "
                          "(crosslingual.render.chapters)")
    paths = [root / "notebooks" / f"{c.name}.ipynb" for c in chapters]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise ConfigError(f"the chapter registry lists notebooks that {root / 'notebooks'} lacks: {', '.join(missing)}")
    return paths


# A Unix socket's path must fit in sun_path (108 bytes on Linux, 104 on macOS), counting its "-N" suffix.
_SOCKET_PATH_MAX = 100


def kernel_config(sockets: str) -> Config | None:
    """The kernel manager's configuration for a kernel started beside others: its channels are Unix sockets under
    ``sockets`` (a directory of its own) instead of TCP ports. Why: jupyter_client picks a TCP port by binding
    port 0 and releasing it for the kernel to bind, so kernels started at once in several processes (the book's
    notebooks) can be handed the same port, and one dies with "Address already in use" (seen in CI); and left to
    itself, ipc names its sockets ``kernel-ipc-N`` in the working directory, first free N, which races the same
    way. ``None`` (TCP) where Unix sockets are unavailable or the path would be too long for one."""
    from traitlets.config import Config  # with papermill, which the render tier needs and the core does not

    prefix = os.path.join(sockets, "kernel")
    if os.name != "posix" or len(prefix) + 3 > _SOCKET_PATH_MAX:
        return None
    return Config({"KernelManager": {"transport": "ipc", "ip": prefix}})


def _execute_one(notebook: str, out: str, root: str, parameters: dict, usage_log: str, claims_log: str) -> float:
    """Execute one notebook in this worker process (papermill is process-safe, not thread-safe); its kernel
    inherits the two logs and one torch thread, and talks to papermill over sockets no other kernel can be
    given (``kernel_config``). Returns its wall time. The worker dies with the book however the book ends
    (``die_with_parent``: set here, not by the pool's initializer, so that a test can run the pool in threads),
    and the kernel with the worker (ipykernel polls its parent, ``$JPY_PARENT_PID``, every second)."""
    import papermill

    die_with_parent()
    os.environ.update({USAGE_LOG: usage_log, CLAIMS_LOG: claims_log, **ONE_THREAD})
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="crosslingual-kernel-") as sockets:
        config = kernel_config(sockets)
        papermill.execute_notebook(notebook, out, progress_bar=False, cwd=root, parameters=parameters,
                                   kernel_name="python3", **({"config": config} if config else {}))
    return time.perf_counter() - start


# A kernel's analyses run on one thread, as training does in the workers: several notebooks then share the cores
# without oversubscribing them, and no number depends on how many ran at once.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# One kernel more than cores: three chapters of 200-600 s (08, 09, 10 with the pretrained models) on two cores
# leave one core idle for minutes while the last long one runs alone (a fresh default build on a 2-core AMD
# EPYC: 652 s for 1,289 s of notebook time); with a third kernel the cores share the long ones to the end.
NOTEBOOKS_BEYOND_CORES = 1


def expected_seconds(notebook: Path) -> float:
    """How long a notebook is expected to take at ``default`` on a fresh store (its metadata's
    ``crosslingual.default_seconds``, measured and written by hand; 0 when absent). Only the order of execution
    depends on it: the longest start first, so that the last to finish is not a long one started late."""
    meta = json.loads(notebook.read_text()).get("metadata", {})
    return float(meta.get("crosslingual", {}).get("default_seconds", 0))


def execute_notebooks(root: Path, dest: Path, profile: str, parameters: dict | None = None,
                      workers: int | None = None, chapters: tuple[Chapter, ...] = CHAPTERS,
                      built_at: str | None = None) -> list[dict]:
    """Run each chapter's notebook at ``profile`` into ``dest``, ``workers`` at a time (default: one per core and
    ``NOTEBOOKS_BEYOND_CORES`` more), the longest expected first, and annotate each executed copy for the book
    (``crosslingual.render.provenance``, against the book's build at ``built_at``, by default ``profile``); returns, in
    chapter order, each one's time and the runs it used, and merges their verdicts into ``dest/.claims.jsonl``
    (replacing those of the same chapters from an earlier build). The first failing notebook stops the build (the
    ones already running finish). Each chapter is annotated and recorded (``executed_cache``) as soon as it
    finishes, so a build stopped later (a failing chapter, a time limit, Ctrl-C) loses none that finished: the next
    build reuses them."""
    dest.mkdir(parents=True, exist_ok=True)
    books = notebooks(root, chapters)
    logs = {nb: (dest / f".{nb.stem}.runs", dest / f".{nb.stem}.claims.jsonl") for nb in books}
    for log in (f for pair in logs.values() for f in pair):
        log.unlink(missing_ok=True)
    args = {"profile": profile, **(parameters or {})}
    device = resolve_device("auto")
    first = runs_first_designs(profile)
    keys = {nb: executed_cache.key(nb, profile, args, built_at or profile, runs_root(), device, first)
            for nb in books}
    reused = {nb: hit for nb in books if (hit := executed_cache.lookup(dest / nb.name, keys[nb])) is not None}
    for nb in reused:
        if mark_reused(dest / nb.name, root):  # its page names this build's commit beside its own
            executed_cache.repage(dest / nb.name)
        print(f"reused {nb.name}: its notebook, parameters, code, packages and runs are those it was executed with",
              flush=True)
    todo = [nb for nb in books if nb not in reused]
    for nb in todo:
        executed_cache.forget(dest / nb.name)
    done: dict[Path, dict] = {}

    def finish(nb: Path, seconds: float) -> None:
        """Annotate a finished chapter's page and record it for reuse, with its runs and verdicts."""
        runs_log, claims_log = logs[nb]
        runs = [Run(Path(r)) for r in sorted(set(runs_log.read_text().split()))] if runs_log.exists() else []
        recorded = [json.loads(line) for line in _read_lines(claims_log)]
        differs = annotate(dest / nb.name, nb, profile, parameters or {}, runs, seconds, root, built_at or profile,
                           recorded)
        claims = [json.dumps({**row, "differs": differs}) for row in recorded]
        runs_log.unlink(missing_ok=True)
        claims_log.unlink(missing_ok=True)
        executed_cache.record(dest / nb.name, keys[nb], [r.path for r in runs], seconds, claims)
        done[nb] = {"notebook": nb.stem, "seconds": seconds, "runs": runs, "claims": claims}

    kernels = max(1, min(workers or default_workers() + NOTEBOOKS_BEYOND_CORES, len(todo) or 1))
    # left by an interrupt, the pool kills the chapters still running (stopping_workers); none that finished is lost
    with stopping_workers(ProcessPoolExecutor(kernels, mp_context=get_context("spawn"))) as pool:
        futures = {pool.submit(_execute_one, str(nb), str(dest / nb.name), str(root), args, str(logs[nb][0]),
                               str(logs[nb][1])): nb for nb in sorted(todo, key=expected_seconds, reverse=True)}
        failure: Exception | None = None
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                nb = futures[fut]
                try:
                    seconds = fut.result()
                except Exception as err:  # the chapters still running finish and are kept; none starts
                    failure = failure or err
                    # cancel() is False for a running one; a cancelled one is dropped here because
                    # waiting on it would never return (a pending future's cancel() wakes no waiter)
                    pending = {f for f in pending if not f.cancel()}
                    continue
                finish(nb, seconds)
                print(f"executed {nb.name} at profile={profile} in {seconds:z.0f} s", flush=True)
    if failure is not None:
        raise failure
    usage = []
    claims = [line for line in _read_lines(dest / ".claims.jsonl")
              if json.loads(line)["chapter"] not in {nb.stem for nb in books}]
    for nb in books:
        if nb in reused:
            hit = reused[nb]
            claims += hit["claims"]
            usage.append({"notebook": nb.stem, "seconds": hit["seconds"], "runs": [Run(Path(r)) for r in hit["runs"]],
                          "reused": True})
        else:
            claims += done[nb].pop("claims")
            usage.append(done[nb])
    write_atomic(dest / ".claims.jsonl", "".join(f"{line}\n" for line in claims).encode())
    return usage


def _read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def train_chapters(profile: str, chapters: tuple[Chapter, ...] = CHAPTERS) -> SweepReport:
    """Train every run the chapters use (``crosslingual.render.chapters.book_configs``) first, in one pool and longest
    first, so that no core idles while a chapter's last run or its analysis finishes; the notebooks then find
    their runs in the store. A failed run is reported here and retried (and shown failing) by its notebook."""
    report = sweep(book_configs(profile, chapters), scheduler=os.environ.get(SCHEDULER_ENV) or None)
    print(f"chapters' runs at profile={profile}: {report.requested} runs, {report.found} in the store, "
          f"{len(report.trained)} trained, {len(report.failed)} failed, in {report.seconds:z.0f} s", flush=True)
    for run_hash, error in report.failed.items():
        print(f"  failed: run {run_hash}: {error}", flush=True)
    return report


def _chapter_calls(root: Path, profile: str, chapters: tuple[Chapter, ...], kind: str) -> list[Call]:
    """The calls still to make of every chapter's ``derived`` or ``independent`` computations (``kind``), with
    the notebook's parameter defaults. A chapter whose calls cannot be listed is reported and skipped: its notebook
    meets the error again and fails with its own traceback."""
    calls: list[Call] = []
    for c in chapters:
        listed = getattr(c, kind)
        if listed is None:
            continue
        defaults = {name: default for name, (_, default) in
                    declared_parameters(root / "notebooks" / f"{c.name}.ipynb").items()}
        try:
            calls += listed(profile, defaults)
        except Exception as err:  # noqa: BLE001 - the notebook meets it again and fails with its own traceback
            print(f"  failed: chapter {c.name}'s {kind} computations: {type(err).__name__}: {err}", flush=True)
    return calls


def _map_reported(calls: list[Call], desc: str) -> None:
    """``map_calls``, a failure reported and not raised: it is met again (and shown) by its notebook, as a failed
    run is; the computations that finished before it are cached and kept."""
    if not calls:
        return
    try:
        map_calls(calls, desc=desc)
    except Exception as err:  # noqa: BLE001 - reported, not raised: the notebook meets it again
        print(f"  failed: a chapter's {desc}: {type(err).__name__}: {err}", flush=True)


def free_cores(device: str) -> int:
    """The cores that the studies' training workers leave free: none on a CPU (one worker per core), most of a GPU
    host's (its workers share the GPU, ``sweep.GPU_WORKERS`` at most), or what ``$CROSSLINGUAL_WORKERS`` leaves."""
    return max(0, (os.cpu_count() or 1) - default_workers(device))


class Beside:
    """The chapters' ``independent`` computations, submitted to a pool of single-threaded workers of their own
    while the studies train (``beside_training``). Why: on a GPU host training takes minutes and a few cores, and
    an analysis of a pretrained model made after it (Gemma 3 270M's: 481 s on one core) would be the build's
    longest pole, while it needs no run and the host's other cores idle."""

    def __init__(self, pool: ProcessPoolExecutor, calls: list[Call], workers: int):
        self.workers, self.start, self.last = workers, time.perf_counter(), time.perf_counter()
        self.futures = [pool.submit(fn, *args, **kwargs) for fn, args, kwargs in calls]
        for fut in self.futures:
            fut.add_done_callback(self._done)

    def _done(self, _: object) -> None:
        self.last = time.perf_counter()

    def wait(self) -> None:
        """Wait for every call; a failure is reported, not raised (its notebook meets it again and shows it)."""
        for fut in self.futures:
            try:
                fut.result()
            except Exception as err:  # noqa: BLE001 - as in derive_chapters
                print(f"  failed: a chapter's pretrained analysis: {type(err).__name__}: {err}", flush=True)
        print(f"chapters' pretrained analyses, beside the training on {counted(self.workers, 'free core')}: "
              f"{len(self.futures)} computed in {self.last - self.start:z.0f} s", flush=True)


@contextmanager
def beside_training(root: Path, groups: list[tuple[str, tuple[Chapter, ...]]]) -> Iterator[Beside | None]:
    """Every chapter's ``independent`` computations (for each ``(profile, chapters)`` of ``groups``) started on the
    cores that training leaves free (``free_cores``), for the block's duration: ``None`` where it leaves none or
    there is nothing to compute (``derive_chapters`` then makes them in its pool). The workers are started by
    this thread, so they die with the book however it ends, and the block left by an exception (Ctrl-C) kills
    them at once (``sweep.worker_pool``)."""
    free = free_cores(resolve_device("auto"))
    calls = [call for profile, chapters in groups
             for call in _chapter_calls(root, profile, chapters, "independent")] if free else []
    if not calls:
        yield None
        return
    workers = min(free, len(calls))
    with worker_pool(workers) as pool:
        yield Beside(pool, calls, workers)


def derive_chapters(root: Path, profile: str, chapters: tuple[Chapter, ...] = CHAPTERS,
                    independent: bool = True) -> float:
    """Make every chapter's ``derived`` computations (continued trainings from its runs), and its ``independent``
    ones (analyses of pretrained models) unless they were started beside the training (``independent=False``), with
    the notebook's parameter defaults, after the studies' pool and before the notebooks, in one pool of
    single-threaded workers (the longest first), so that a notebook reads their cached tables and trains nothing;
    returns the wall time. A failure is reported here and met again (and shown) by its notebook, as a failed run
    is; the computations that finished before it are cached and kept."""
    start = time.perf_counter()
    calls = _chapter_calls(root, profile, chapters, "independent") if independent else []
    calls += _chapter_calls(root, profile, chapters, "derived")
    _map_reported(calls, "continued trainings and pretrained analyses")
    seconds = time.perf_counter() - start
    if any(c.derived or (independent and c.independent) for c in chapters):
        print(f"chapters' continued trainings and pretrained analyses at profile={profile}: {len(calls)} computed "
              f"in {seconds:z.0f} s", flush=True)
    return seconds


OUT_MARKER = ".crosslingual-book"  # in every --out directory the book command made; nothing else is ever replaced
BOOK_SOURCES = ("_config.yml", "_toc.yml", "notebooks")


def _check_root(root: Path) -> Path:
    root = root.expanduser().resolve()
    missing = [name for name in BOOK_SOURCES if not (root / name).exists()]
    if missing:
        raise ConfigError(f"--root {root} is not a crosslingual book checkout (it has no {', '.join(missing)})")
    return root


def _prepare_out(root: Path, out: Path) -> Path:
    """A fresh directory for a copy of the book, owned by this command. It refuses, before touching anything, an
    ``out`` that is or contains ``root`` or lies inside the sources it copies, a file, and a non-empty directory
    that is not one of its own earlier outputs; an earlier output loses only what this command put there."""
    target = out.expanduser().resolve()
    if root == target or root.is_relative_to(target):
        raise ConfigError(f"--out {target} contains the book's sources (--root {root}); choose a directory outside it")
    inside = [name for name in BOOK_FILES if target.is_relative_to(root / name)]
    if inside:
        raise ConfigError(f"--out {target} lies inside {root / inside[0]}, which the book copies; choose another "
                          "directory")
    if target.exists() and not target.is_dir():
        raise ConfigError(f"--out {target} is a file; choose a new or empty directory")
    if target.is_dir() and any(target.iterdir()) and not (target / OUT_MARKER).is_file():
        raise ConfigError(f"--out {target} is not empty and is not a book built by crosslingual (no {OUT_MARKER}); "
                          "choose a new or empty directory")
    with write_errors(target, "--out", "choose a directory you can write", output=True):
        target.mkdir(parents=True, exist_ok=True)
        (target / OUT_MARKER).write_text(f"a copy of the book of {root}, built by `crosslingual book --out`; the "
                                         "command replaces only what it wrote here\n")
        for name in (*BOOK_FILES, "_build"):  # what an earlier build of ours wrote
            old = target / name
            if old.is_symlink() or old.is_file():
                old.unlink()
            elif old.is_dir():
                shutil.rmtree(old)
        for name in BOOK_FILES:
            src = root / name
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, target / name)
        shutil.rmtree(target / "book" / "experiments", ignore_errors=True)
    return target


def build_book(root: Path, profile: str = "default", out: Path | None = None, only: str | None = None,
               parameters: dict | None = None) -> Path:
    """Execute the notebooks and build the HTML; returns the path of ``index.html``. Every path and parameter is
    checked before any work (see ``_prepare_out``).
 ``only`` re-executes one chapter (``crosslingual.render.chapters.chapter``) with ``parameters`` into an existing book
and rebuilds the HTML: the other chapters keep their executed pages (any that are missing are executed first, at the
book's profile), the page of this one carries a banner if it differs from the rest of the book's build,
    and the claims page marks its verdicts. Parameters need ``only``: each chapter declares its own."""
    if profile not in PROFILES:
        raise ConfigError(f"profile={profile!r} is not allowed: choose one of {', '.join(map(repr, PROFILES))}")
    first_designs_asked()  # a bad CROSSLINGUAL_FIRST_DESIGNS or CROSSLINGUAL_WORKERS fails here, before any work
    default_workers()
    root = _check_root(root)
    notebooks(root)  # the registry and the notebooks agree
    selected = (chapter(only),) if only is not None else CHAPTERS
    if parameters and only is None:
        raise ConfigError("parameters (name=value) need --chapter NAME: each chapter declares its own")
    if parameters and "profile" in parameters:
        raise ConfigError("profile is not a name=value parameter here: use --profile")
    parameters = check_chapter_parameters(root / "notebooks" / f"{selected[0].name}.ipynb", parameters or {}) \
        if only is not None else {}
    target = root if out is None else (_prepare_out(root, out) if only is None else _reuse_out(root, out))
    experiments = target / "book" / "experiments"
    built_at = book_profile(experiments, profile) if only is not None else profile
    missing = tuple(c for c in CHAPTERS if c not in selected and not (experiments / f"{c.name}.ipynb").is_file())
    with write_errors(target, "the book's pages", "choose a directory you can write", output=True):
        write_atomic(target / "_toc.yml", toc_yaml().encode())
    # with parameters, the chapter's notebook trains its own runs (their configs depend on the parameters)
    groups = [(built_at, missing), (profile, () if parameters else selected)]
    with beside_training(root, groups) as beside:
        if missing:
            train_chapters(built_at, missing)
        report = train_chapters(profile, groups[1][1])
        derive_start = time.perf_counter()
        for group_profile, group in groups:
            derive_chapters(root, group_profile, group, independent=beside is None)
        if beside is not None:
            beside.wait()
        derived_seconds = time.perf_counter() - derive_start
    start = time.perf_counter()
    usage = execute_notebooks(root, experiments, built_at, chapters=missing) if missing else []
    usage += execute_notebooks(root, experiments, profile, parameters, chapters=selected, built_at=built_at)
    notebooks_seconds = time.perf_counter() - start
    with write_errors(experiments, "the book's pages", "choose a directory you can write", output=True):
        if only is None or not (experiments / "cost.md").exists():
            write_atomic(experiments / "cost.md", cost_page(usage, profile, report, derived_seconds,
                                                            beside.workers if beside else 0).encode())
        log = experiments / ".claims.jsonl"
        write_atomic(experiments / "claims.md",
                     scoreboard_page(log, repository_url(root), findings_markdown(read_claims(log))).encode())
        write_atomic(experiments / FINDINGS, findings_page(experiments / ".claims.jsonl").encode())
        example = reuse.write_page(root, experiments)
    if example is not None:
        done = "reused (executed by an earlier build in" if example["reused"] else "executed (in"
        print(f"the reuse page's worked example: {done} {example['seconds']:z.0f} s)", flush=True)
    jb = Path(sys.executable).with_name("jupyter-book")
    start = time.perf_counter()
    subprocess.run([str(jb), "build", "-W", "--builder", "html", str(target)], check=True)
    print(timing_summary(report, usage, derived_seconds, notebooks_seconds, time.perf_counter() - start), flush=True)
    return target / "_build" / "html" / "index.html"


def _reuse_out(root: Path, out: Path) -> Path:
    """An earlier ``--out`` book that one chapter is re-executed into (a new or empty directory is prepared as
    for a whole build)."""
    target = out.expanduser().resolve()
    if (target / OUT_MARKER).is_file() and (target / "book" / "experiments").is_dir():
        return target
    return _prepare_out(root, out)


SETUP_SECONDS_ENV = "CROSSLINGUAL_SETUP_SECONDS"  # set by `make book`: the set-up it timed before this command


def timing_summary(report: SweepReport, usage: list[dict], derived_seconds: float, notebooks_seconds: float,
                   html_seconds: float) -> str:
    """Where a build's time went, printed at its end: set-up (when ``make`` timed it), training, the continued
    trainings from the runs (``derive_chapters``), the notebooks
    (each chapter's own time; several run at once, so they add up to more than the phase; a reused chapter
    costs nothing here, and its line says what its execution took), the HTML."""
    setup = os.environ.get(SETUP_SECONDS_ENV)
    phases = [("set-up (make setup)", float(setup))] if setup else []
    phases.append((f"training the studies ({len(report.trained)} of {report.requested} runs trained, "
                   f"{counted(report.workers, 'worker')})", report.seconds))
    phases.append(("continued trainings and pretrained analyses", derived_seconds))
    phases.append(("executing the notebooks, side by side", notebooks_seconds))
    chapters = [(f"  chapter {u['notebook']} (reused; executed earlier in {u['seconds']:z.0f} s)", 0.0)
                if u.get("reused") else (f"  chapter {u['notebook']}", u["seconds"]) for u in usage]
    phases.append(("HTML (jupyter-book)", html_seconds))
    width = max(len(label) for label, _ in phases + chapters)
    lines = []
    for label, seconds in phases:
        lines.append(f"  {label:{width}s} {seconds:7.0f} s")
        if label.startswith("executing"):
            lines += [f"  {chapter:{width}s} {t:7.0f} s" for chapter, t in chapters]
    total = sum(seconds for _, seconds in phases)
    return "\n".join(["timing summary:", *lines, f"  {'total':{width}s} {total:7.0f} s"])
