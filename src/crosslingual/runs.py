"""The run store: one directory per run, named by the hash of its full config.

    runs/<hash>/config.json          the resolved config, the hash it came from and the result format
    runs/<hash>/metrics.parquet      one row per checkpoint x metric x layer x position
    runs/<hash>/checkpoints/step_XXXXXXX.safetensors   model weights at ``keep_checkpoints`` evaluated steps
    runs/<hash>/state.safetensors    model + optimiser state of the last checkpoint (resume; removed when done)
    runs/<hash>/DONE                 written last: wall time, device, CPU and torch, and the checksum manifest
    runs/.derived/<kind>-<hash>.parquet (+ .json)   tables computed from finished runs (``cached_table``)

Every file is written to a temporary name and renamed, so a reader never sees a partial file, a failed write
leaves nothing behind, and a killed run resumes from its last checkpoint with exactly the metrics of an
uninterrupted one. A lock file (host, pid and the process's start time, with a heartbeat) keeps two processes
from training the same run; a lock whose owner is gone (dead, or its pid now another process's), or that cannot
be read, is reported and taken over, and every wait says what it waits for. A finished run is trusted only when its directory's name is the hash of its ``config.json`` and its
files are exactly those of its manifest, with their checksums; anything else is moved to ``.quarantine/`` and
recomputed (or reported by ``runs verify``), never loaded. Nothing is ever unpickled: weights are safetensors,
tables are parquet, the rest JSON. File-system errors a user can fix (a full disk, a read-only store, a file in
the way) become one :class:`StoreError` naming the path.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import re
import shutil
import socket
import stat
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import torch
from safetensors.torch import load_file, save

from crosslingual.config import RESULT_FORMAT_VERSION, RunConfig, config_digest, context_length, resolve_device
from crosslingual.files import StoreError, open_regular, read_regular, write_atomic, write_errors
from crosslingual.memory import check_run_fits, parameter_count, sequence_length, vocabulary_size
from crosslingual.model import Transformer
from crosslingual.world import World

if TYPE_CHECKING:
    from crosslingual.train import Trainer

DONE, STATE, METRICS, PARTIAL = "DONE", "state.safetensors", "metrics.parquet", "metrics.partial.parquet"
LOCK, TAKEOVER = "lock", "lock.takeover"
DERIVED, QUARANTINE = ".derived", ".quarantine"  # hidden: not run directories
PRETRAINED = ".pretrained"  # real models' verified conversions (crosslingual.pretrained)
RUN_NAME = re.compile(r"[0-9a-f]{12}")  # what RunConfig.hash() returns
TMP_NAME = re.compile(r"\..+\.(?P<pid>[0-9]+)\.tmp")  # crosslingual.files.temporary_name
# Resume files a finished run still holds when its process died between writing DONE and tidying up: not data
# (DONE's manifest says what is), removed by the next process that verifies the run.
LEFTOVERS = (STATE, PARTIAL)


@contextmanager
def store_errors(root: Path) -> Iterator[None]:
    """A full disk, a read-only store or a file in the way becomes one :class:`StoreError` naming the path."""
    with write_errors(root, "run store", "free space, fix the permissions, or point $CROSSLINGUAL_RUNS at another "
                                         "directory"):
        yield


def runs_root() -> Path:
    """``$CROSSLINGUAL_RUNS``, else ``runs/`` in the enclosing crosslingual checkout, else a user cache."""
    env = os.environ.get("CROSSLINGUAL_RUNS")
    if env:
        return Path(env).expanduser().resolve()
    for parent in [Path.cwd(), *Path.cwd().parents]:
        if (parent / "_toc.yml").exists() and (parent / "src" / "crosslingual").is_dir():
            return parent / "runs"
    return Path.home() / ".cache" / "crosslingual" / "runs"


def check_store(root: Path, need_bytes: int = 0) -> None:
    """Fail before any work, with one message, when the store cannot take a run: it is a file, cannot be created
    or written, or has less free space than ``need_bytes``."""
    existing = next(p for p in [root, *root.parents] if p.exists())
    if not existing.is_dir():
        where = "" if existing == root else f" (its parent {existing} is a file)"
        raise StoreError(f"run store {root} is a file, not a directory{where}; set $CROSSLINGUAL_RUNS to a directory")
    with store_errors(root):
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".probe.{os.getpid()}.tmp"
        probe.write_bytes(b"")
        probe.unlink()
        free = shutil.disk_usage(root).free
    if need_bytes > free:
        raise StoreError(f"run store {root} has {free / 2**20:.0f} MiB free but a run needs about "
                         f"{need_bytes / 2**20:.0f} MiB; free space or point $CROSSLINGUAL_RUNS at another disk")


def disk_bytes(cfg: RunConfig) -> int:
    """Disk a run needs at most while it trains: its kept weight files, the resume state (weights and AdamW's
    two moments) and, during a rename, a second copy of the largest of them, plus a megabyte for its tables."""
    n_params = parameter_count(cfg.model, vocabulary_size(cfg.world), context_length(cfg, sequence_length(cfg.world)))
    return (cfg.train.keep_checkpoints + 3 + 3) * n_params * 4 + 2**20


def _parquet(table: pd.DataFrame, index: bool = True) -> bytes:
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=index)
    return buffer.getvalue()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open_regular(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest(directory: Path) -> dict[str, dict]:
    """Checksum and size of every file a finished run consists of (DONE excluded: it holds the manifest)."""
    files = [directory / "config.json", directory / METRICS, *sorted((directory / "checkpoints").glob("*.safetensors"))]
    return {str(f.relative_to(directory)): {"sha256": _sha256(f), "bytes": f.stat().st_size} for f in files}


def _entry_kind(path: Path) -> str:
    """``file``, ``link``, ``directory`` or ``other`` (a FIFO, a socket, a device), without following links."""
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        return "link"
    return "file" if stat.S_ISREG(mode) else "directory" if stat.S_ISDIR(mode) else "other"


def _present_files(directory: Path) -> dict[str, str]:
    """Every entry of a run directory but its ``checkpoints`` folder, relative path -> :func:`_entry_kind`.
    Directories are listed too: an empty folder named like a checkpoint is no checkpoint, and must not pass for
    an intact run. DONE, the lock files, resume leftovers and temporary files are not data and are left out."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(directory):  # never follows symbolic links
        here = Path(dirpath)
        for name in [*filenames, *dirnames]:
            rel = str((here / name).relative_to(directory))
            if rel in (DONE, LOCK, TAKEOVER, *LEFTOVERS, "checkpoints") or TMP_NAME.fullmatch(name):
                continue
            with suppress(FileNotFoundError):  # removed while we looked: it is then simply not there
                out[rel] = _entry_kind(here / name)
    return out


def _name_problem(directory: Path) -> str | None:
    """Why the directory's name is not the hash of the config it holds (None when it is). ``config.json`` records
    its result format; one written before it did is checked against every format up to today's."""
    try:
        stored = json.loads(read_regular(directory / "config.json"))
        config = stored["config"]
        formats = [int(stored["format"])] if "format" in stored else range(RESULT_FORMAT_VERSION, 0, -1)
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"config.json is unreadable ({err.__class__.__name__})"
    if any(config_digest(config, f) == directory.name for f in formats):
        return None
    return "the directory's name is not the hash of its config.json"


def verify_run(directory: Path) -> list[str]:
    """Problems that make a finished run untrustworthy (empty when intact): its name must be the hash of its
    ``config.json``, and its files exactly those of DONE's manifest, with their recorded sizes and checksums."""
    try:
        recorded = json.loads(read_regular(directory / DONE))["manifest"]
        wanted = {str(name): (int(want["bytes"]), str(want["sha256"])) for name, want in recorded.items()}
    except (KeyError, TypeError, AttributeError):
        return ["DONE has no valid manifest (made by an older version of crosslingual, or edited by hand)"]
    except (OSError, ValueError) as err:
        return [f"DONE is unreadable ({err.__class__.__name__})"]
    problems = [p for p in [_name_problem(directory)] if p]
    present = _present_files(directory)
    problems += [f"{name} is not in the manifest ({_KIND_WORDS[present[name]]})"
                 for name in sorted(set(present) - set(wanted))]
    for name, (size, sha) in wanted.items():
        f = directory / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            problems.append(f"the manifest names {name}, outside the run")
        elif name not in present:
            problems.append(f"{name} is missing")
        elif present[name] != "file":
            problems.append(f"{name} is {_KIND_WORDS[present[name]]}, not a regular file")
        elif f.stat().st_size != size or _sha256(f) != sha:
            problems.append(f"{name} does not match its checksum")
    return problems


_KIND_WORDS = {"file": "a file", "link": "a symbolic link", "directory": "a directory",
               "other": "a FIFO, socket or device"}


def _quarantine_target(root: Path, name: str) -> Path:
    target = root / QUARANTINE / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def quarantine(directory: Path, reason: str) -> Path:
    """Move a damaged run aside (never delete what a user ran) and warn; the caller may then recompute it. A store
    that cannot take the move (read-only, say) is a :class:`StoreError` that names the damage: the run is then
    neither served nor moved."""
    with write_errors(directory.parent, "run store", f"run {directory.name} is damaged ({reason}) and cannot be "
                      "moved aside: make the store writable (it is then quarantined and recomputed), or point "
                      "$CROSSLINGUAL_RUNS at another directory"):
        target = _quarantine_target(directory.parent, directory.name)
        os.replace(directory, target)
    warnings.warn(f"run {directory.name} is damaged ({reason}); moved to {target} and recomputing it",
                  stacklevel=3)
    return target


_VERIFIED: dict[Path, int] = {}  # run directory -> DONE's mtime when it was last verified in this process


def write_json(path: Path, obj: dict) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True).encode())


# A held lock's mtime is refreshed every LOCK_HEARTBEAT_S; a lock that has not been refreshed for LOCK_STALE_S
# belongs to a dead process when its owner cannot be identified otherwise: one of another host (a cluster node),
# whose pid cannot be checked from here, or one without the owner's start time (written by an older version, or on
# a system without /proc), whose pid may since have been given to another process. A lock is written in the
# microseconds after its creation, so one still unreadable after LOCK_GRACE_S is garbage.
LOCK_HEARTBEAT_S, LOCK_STALE_S, LOCK_GRACE_S = 30.0, 300.0, 10.0
LOCK_REPORT_S = 30.0  # how often a waiting process says again what it waits for
_HEARTBEATS: dict[Path, threading.Event] = {}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A killed process that its parent has not reaped yet still answers ``kill(pid, 0)`` (Linux only)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def process_start(pid: int) -> str | None:
    """What tells a process from a later one given the same pid: the boot's id and the process's start time in
    clock ticks since boot (``/proc``; None where it cannot be read). A pid alone is no proof of ownership: pids
    are recycled, so a lock naming a live pid may name a shell, or pid 1, hours after its owner died."""
    try:
        ticks = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except (OSError, IndexError):
        return None
    return f"{boot}/{ticks}"


def _lock_owner(lock: Path) -> tuple[str, int, str | None] | None:
    """``(host, pid, start)`` of a lock file, ``start`` None in a lock without it (an older version's, or written
    where ``/proc`` is absent); None when the file is unreadable or not a regular file."""
    try:
        host, pid, *start = read_regular(lock).decode().split()
        if len(start) > 1:
            return None
        return host, int(pid), start[0] if start else None
    except (OSError, ValueError):
        return None


def _describe_lock(lock: Path) -> tuple[str, str | None, os.stat_result | None]:
    """``(who holds it, why its owner is gone or None while it may be alive, the stat the verdict is based on)``."""
    try:
        seen = lock.stat()
    except FileNotFoundError:
        return "nobody", "it was released", None
    age = time.time() - seen.st_mtime
    owner = _lock_owner(lock)
    if owner is None:
        who = f"an unreadable lock file written {age:.0f} s ago"
        return who, (f"{who}, taken over after {LOCK_GRACE_S:.0f} s" if age > LOCK_GRACE_S else None), seen
    host, pid, start = owner
    stale = age > LOCK_STALE_S
    if host != socket.gethostname():
        who = f"process {pid} on {host} (heartbeat {age:.0f} s ago)"
        return who, (f"{who}: no heartbeat for {LOCK_STALE_S:.0f} s" if stale else None), seen
    who = f"process {pid} on this host"
    if not _pid_alive(pid):
        return who, f"{who} is gone", seen
    now = process_start(pid)
    if start is not None and now is not None:
        return who, (None if now == start else f"{who} is gone (pid {pid} now belongs to a later process)"), seen
    # the owner cannot be identified: only its heartbeat says that it is alive
    who = f"process {pid} on this host (heartbeat {age:.0f} s ago)"
    return who, (f"{who}: no heartbeat for {LOCK_STALE_S:.0f} s, and a pid alone does not prove its owner is alive"
                 if stale else None), seen


def _take_over(lock: Path, reason: str, seen: os.stat_result | None) -> bool:
    """Remove a lock whose owner is gone. Several waiting processes may judge it so at once: the removal happens
    under a second, short-lived exclusive file, and only if the lock is still the file that was judged (same
    inode and mtime), so no process ever removes a lock that another has just taken."""
    if seen is None:
        return True  # released meanwhile: try again
    guard = lock.with_name(TAKEOVER)
    try:
        os.close(os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        with suppress(FileNotFoundError):
            if time.time() - guard.stat().st_mtime > LOCK_GRACE_S:  # its process died while holding it
                guard.unlink()
        return False
    try:
        now = lock.stat()
        if (now.st_ino, now.st_mtime_ns) == (seen.st_ino, seen.st_mtime_ns):
            warnings.warn(f"run {lock.parent.name}: taking over its lock ({reason})", stacklevel=4)
            lock.unlink()
    except FileNotFoundError:
        pass
    finally:
        guard.unlink(missing_ok=True)
    return True


def try_lock(directory: Path) -> bool:
    """Take the run's lock if it is free, or if its owner is gone (a dead process on this host, a cluster node
    whose heartbeat stopped, an unreadable lock file); while held, a daemon thread keeps its mtime fresh."""
    lock = directory / LOCK
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            _, gone, seen = _describe_lock(lock)
            if (directory / DONE).exists():
                gone = "the run is finished"
            if gone is None or not _take_over(lock, gone, seen):
                return False
            continue
        try:
            os.write(fd, " ".join([socket.gethostname(), str(os.getpid()), process_start(os.getpid()) or ""]
                                  ).strip().encode())
        except BaseException:
            os.close(fd)
            lock.unlink(missing_ok=True)
            raise
        os.close(fd)
        stop = _HEARTBEATS[directory] = threading.Event()
        threading.Thread(target=_heartbeat, args=(lock, stop), daemon=True).start()
        return True


def _heartbeat(lock: Path, stop: threading.Event) -> None:
    while not stop.wait(LOCK_HEARTBEAT_S):
        try:
            os.utime(lock)
        except OSError:
            return


def release_lock(directory: Path) -> None:
    stop = _HEARTBEATS.pop(directory, None)
    if stop is not None:
        stop.set()
    (directory / LOCK).unlink(missing_ok=True)


@contextmanager
def run_lock(directory: Path, poll_s: float = 0.5) -> Iterator[None]:
    """Exclusive lock on a run directory, waiting while another live process holds it, and saying on stderr
    what it waits for (at once, then every ``LOCK_REPORT_S``)."""
    start = time.monotonic()
    reported = None
    while not try_lock(directory):
        now = time.monotonic()
        if reported is None or now - reported >= LOCK_REPORT_S:
            who, _, _ = _describe_lock(directory / LOCK)
            print(f"run {directory.name}: waiting for {who}, which is training it; waited {now - start:.0f} s",
                  file=sys.stderr, flush=True)
            reported = now
        time.sleep(poll_s)
    try:
        yield
    finally:
        release_lock(directory)


# the CPU features that decide which kernels torch runs, and so the last bits of every result
_VECTOR_FLAGS = {"sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                 "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve", "sve2"}


@lru_cache(maxsize=1)
def machine_info() -> dict[str, object]:
    """What a run's last bits depend on, recorded with it: the CPU model, its vector extensions, the kernel
    family torch dispatches to on it (``torch.backends.cpu.get_cpu_capability()``), torch and Python."""
    model, flags = platform.processor(), set()
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                model = value.strip()
            elif key.strip() in ("flags", "Features"):
                flags |= set(value.split())
    return {"cpu": model or platform.machine(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cpu_flags": sorted(flags & _VECTOR_FLAGS), "torch": torch.__version__,
            "python": platform.python_version()}


@dataclass
class Run:
    """A finished run, read back from the store."""

    path: Path

    @cached_property
    def config(self) -> RunConfig:
        return RunConfig.from_dict(json.loads(read_regular(self.path / "config.json"))["config"])

    @cached_property
    def metrics(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / METRICS)

    @cached_property
    def info(self) -> dict:
        return json.loads(read_regular(self.path / DONE))

    @cached_property
    def world(self) -> World:
        return World(self.config.world)

    @property
    def steps(self) -> list[int]:
        return sorted(int(p.stem.split("_")[1]) for p in (self.path / "checkpoints").glob("step_*.safetensors")
                      if p.is_file())

    def load_model(self, step: int | None = None, device: str = "cpu") -> Transformer:
        """The model at ``step`` (default: the last), in eval mode."""
        step = self.steps[-1] if step is None else step
        weights = load_file(self.path / "checkpoints" / f"step_{step:07d}.safetensors", device=device)
        model = Transformer(self.config.model, len(self.world.vocab), context_length(self.config, self.world.seq_len))
        model.load_state_dict(weights)
        return model.to(device).eval()

    def scalar(self, metric: str, step: int | None = None) -> float:
        """A global (layer-free) metric at ``step`` (default: the last checkpoint)."""
        m = self.metrics
        m = m[(m.metric == metric) & (m.layer == -1)]
        return float(m[m.step == (m.step.max() if step is None else step)].value.iloc[0])


def is_intact(directory: Path) -> bool:
    """Whether a finished run's files still match its DONE manifest (:func:`verify_run`), without hashing them again
    when this process verified the run at this very DONE (``is_done`` did): the trust the store itself gives a run
    it loads. Nothing is moved or changed."""
    try:
        verified = _VERIFIED.get(directory) == (directory / DONE).stat().st_mtime_ns
    except OSError:
        return False
    return verified or not verify_run(directory)


def run_dir(cfg: RunConfig, root: Path | None = None) -> Path:
    return (root or runs_root()) / cfg.hash()


def is_done(cfg: RunConfig, root: Path | None = None) -> bool:
    """Whether the run is finished *and intact*; a damaged run is quarantined (with a warning) and reported
    as not done, so that it is recomputed rather than silently used."""
    directory = run_dir(cfg, root)
    done = directory / DONE
    if not done.exists():
        return False
    mtime = done.stat().st_mtime_ns
    if _VERIFIED.get(directory) == mtime:
        return True
    problems = verify_run(directory)
    if problems:
        quarantine(directory, "; ".join(problems))
        return False
    for leftover in LEFTOVERS:  # its process died after DONE, before tidying up
        with suppress(OSError):
            (directory / leftover).unlink(missing_ok=True)
    _VERIFIED[directory] = mtime
    return True


class RunWriter:
    """Writes one run's directory while it trains; shared by single and batched training.

    The caller holds the run's lock. ``resume`` restores a killed run from its last checkpoint.
    """

    def __init__(self, cfg: RunConfig, directory: Path, device: str):
        self.cfg, self.directory, self.device = cfg, directory, device
        self.rows: list[dict] = []
        self.resumed_from: int | None = None  # the step a killed run was resumed from (None: one go)
        self.start = time.perf_counter()
        write_json(directory / "config.json", {"hash": cfg.hash(), "format": RESULT_FORMAT_VERSION,
                                               "config": cfg.to_dict()})
        (directory / "checkpoints").mkdir(exist_ok=True)

    def restart_clock(self) -> None:
        """Count the run's wall time from now (its training starts later than its writer was made)."""
        self.start = time.perf_counter()

    def resume(self, trainer: "Trainer") -> None:
        """Continue from the last checkpoint of a killed run; unreadable state is set aside, not trusted."""
        state, partial = self.directory / STATE, self.directory / PARTIAL
        if not (state.exists() and partial.exists()):
            return
        try:
            trainer.load_state_tensors(load_file(state))
            done = pd.read_parquet(partial)
        except Exception as err:  # noqa: BLE001 - any unreadable file means: start again, keep the evidence
            aside = _quarantine_target(self.directory.parent, f"{self.directory.name}-state")
            aside.mkdir()
            for f in (state, partial):
                os.replace(f, aside / f.name)
            warnings.warn(f"could not resume run {self.directory.name} ({err}); files moved to {aside}, "
                          "training from the start", stacklevel=2)
            trainer.__init__(self.cfg, self.device)
            return
        # the metrics table is written before the state at every checkpoint, so it may run one checkpoint ahead
        self.rows = done[done.step <= trainer.step].to_dict("records")
        self.resumed_from = trainer.step

    def on_checkpoint(self, trainer: "Trainer", new_rows: list[dict]) -> None:
        if self.rows and trainer.step <= self.rows[-1]["step"]:
            return  # a run resumed at its first checkpoint evaluates that step again: it is recorded already
        self.rows.extend(new_rows)
        d = self.directory
        if trainer.step in trainer.kept:
            weights = {k: v.detach().cpu().contiguous() for k, v in trainer.model.state_dict().items()}
            write_atomic(d / "checkpoints" / f"step_{trainer.step:07d}.safetensors", save(weights))
        write_atomic(d / PARTIAL, _parquet(pd.DataFrame(self.rows)))
        if trainer.step < self.cfg.train.steps:
            write_atomic(d / STATE, save(trainer.state_tensors()))

    def finish(self, trainer: "Trainer", batched_with: int = 1) -> Run:
        d = self.directory
        write_atomic(d / METRICS, _parquet(pd.DataFrame(self.rows)))
        gpu = torch.cuda.get_device_name() if self.device == "cuda" else None
        write_json(d / DONE, {
            "wall_seconds_this_process": round(time.perf_counter() - self.start, 2), "device": self.device,
            **machine_info(), "gpu": gpu, "threads": torch.get_num_threads(), "n_params": trainer.model.n_params(),
            "batched_with": batched_with, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "pid": os.getpid(), "host": socket.gethostname(), "resumed_from_step": self.resumed_from,
            "manifest": manifest(d),
        })
        for leftover in LEFTOVERS:
            (d / leftover).unlink(missing_ok=True)
        return Run(d)


USAGE_LOG = "CROSSLINGUAL_USAGE_LOG"


def record_use(runs: list[Run]) -> None:
    """Append the runs' directories to ``$CROSSLINGUAL_USAGE_LOG`` when set: the book's cost page counts, per
    notebook, the runs it used and what they cost to train."""
    log = os.environ.get(USAGE_LOG)
    if log:
        with open(log, "a") as f:
            f.writelines(f"{r.path}\n" for r in runs)


def get_or_train(cfg: RunConfig, *, device: str = "auto", progress: bool = True, root: Path | None = None) -> Run:
    """Return the finished run for ``cfg``, training it (or resuming it) only if the store lacks it."""
    run = _get_or_train(cfg, device=device, progress=progress, root=root)
    record_use([run])
    return run


def _get_or_train(cfg: RunConfig, *, device: str, progress: bool, root: Path | None) -> Run:
    from crosslingual.train import Trainer  # the store is importable without the training stack

    cfg.validate()
    root = root or runs_root()
    directory = run_dir(cfg, root)
    if is_done(cfg, root):
        return Run(directory)
    device = resolve_device(device)
    check_run_fits(cfg, device)
    check_store(root, disk_bytes(cfg))
    with store_errors(root):
        directory.mkdir(parents=True, exist_ok=True)
        with run_lock(directory):
            if is_done(cfg, root):  # someone else finished it while we waited
                return Run(directory)
            writer = RunWriter(cfg, directory, device)
            trainer = Trainer(cfg, device)
            writer.resume(trainer)
            trainer.fit(writer.on_checkpoint, progress=progress, desc=f"run {cfg.hash()}")
            return writer.finish(trainer)


def cached_table(kind: str, key: dict, compute: Callable[[], pd.DataFrame], root: Path | None = None,
                 version: int = 1) -> pd.DataFrame:
    """A table derived from finished runs by further computation (e.g. continued training from a run's weights),
    cached under ``runs/.derived/`` by a hash of ``key``, the result-format version and ``version``, written
    atomically and read back only when its sidecar (key and checksum) matches: a killed computation leaves
    nothing behind and is redone on the next call, and a damaged or foreign table is quarantined and recomputed.
    ``version`` is the computing code's version: bumping it recomputes the table. Version 1 is left out of the
    hash, so tables cached before versions existed stay valid. The index is not stored."""
    root = root or runs_root()
    versioned = {} if version == 1 else {"version": version}
    payload = json.dumps({"kind": kind, "key": key, "format": RESULT_FORMAT_VERSION, **versioned}, sort_keys=True)
    path = root / DERIVED / f"{kind}-{hashlib.sha256(payload.encode()).hexdigest()[:12]}.parquet"
    sidecar = path.with_suffix(".json")
    if path.exists() or sidecar.exists():
        try:
            info = json.loads(read_regular(sidecar))
            intact = info["payload"] == payload and info["sha256"] == _sha256(path)
        except (OSError, ValueError, KeyError, TypeError):
            intact = False
        if intact:
            return pd.read_parquet(path)
        target = _quarantine_target(root, path.stem)
        target.mkdir()
        for f in (path, sidecar):
            if f.exists():
                os.replace(f, target / f.name)
        warnings.warn(f"derived table {path.name} has no matching checksum (damaged, or written by an older "
                      f"version); moved to {target} and recomputing it", stacklevel=2)
    table = compute()
    with store_errors(root):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, _parquet(table, index=False))
        write_json(sidecar, {"payload": payload, "sha256": _sha256(path)})
    return table


def cached_tables(prefix: str, key: dict, compute: Callable[[], dict[str, pd.DataFrame]], names: list[str],
                  root: Path | None = None, version: int = 1) -> dict[str, pd.DataFrame]:
    """Several tables of one computation, each a ``cached_table`` of kind ``<prefix>-<name>`` (underscores as
    dashes) under the same ``key``: ``compute()`` (all of them at once) runs at most once per call, and only if
    some table is missing (a build killed between two writes)."""
    computed: dict[str, pd.DataFrame] = {}

    def one(name: str) -> pd.DataFrame:
        def compute_one() -> pd.DataFrame:
            if not computed:
                computed.update(compute())
            return computed[name]

        return cached_table(f"{prefix}-{name.replace('_', '-')}", key, compute_one, root=root, version=version)

    return {name: one(name) for name in names}


# ---------------------------------------------------------------------------- store administration (CLI)
def _run_dirs(root: Path) -> list[Path]:
    """Entries of the store that are named like a run (a symbolic link is listed, never followed by ``gc``)."""
    if root.exists() and not root.is_dir():
        raise StoreError(f"run store {root} is a file, not a directory; set $CROSSLINGUAL_RUNS to a directory")
    return sorted(p for p in root.glob("*") if RUN_NAME.fullmatch(p.name) and p.is_dir()) if root.exists() else []


def _state(directory: Path) -> str:
    if (directory / DONE).exists():
        return "done"
    _, gone, _ = _describe_lock(directory / LOCK)
    return "unfinished" if gone else "training"


def _size_mb(directory: Path) -> float:
    total = 0
    for dirpath, _, filenames in os.walk(directory):
        total += sum(os.lstat(os.path.join(dirpath, f)).st_size for f in filenames)
    return total / 2**20


def list_runs(root: Path | None = None) -> pd.DataFrame:
    """One row per run directory: hash, state, saved checkpoints, disk use, the most telling knobs, and where a
    finished run was made (CPU kernel family and torch: bit-identity holds only between equal ones)."""
    rows = []
    for d in _run_dirs(root or runs_root()):
        row = {"run": d.name, "state": _state(d), "checkpoints": len(list((d / "checkpoints").glob("*"))),
               "MB": round(_size_mb(d), 1)}
        try:
            cfg = json.loads(read_regular(d / "config.json"))["config"]
            row.update(seed=cfg["seed"], parallel_fraction=cfg["world"]["parallel_fraction"],
                       n_entities=cfg["world"]["n_entities"], d_model=cfg["model"]["d_model"],
                       steps=cfg["train"]["steps"])
        except (OSError, ValueError, KeyError, TypeError):
            row["state"] += " (no config)"
        with suppress(OSError, ValueError, TypeError):
            info = json.loads(read_regular(d / DONE))
            row.update(device=info.get("device", ""), cpu=info.get("cpu_capability", "?"),
                       threads=info.get("threads", ""), torch=info.get("torch", ""))
        rows.append(row)
    return pd.DataFrame(rows)


def verify_store(root: Path | None = None) -> dict[str, list[str]]:
    """Problems per finished run (only damaged runs are listed); nothing is moved or changed."""
    return {d.name: problems for d in _run_dirs(root or runs_root())
            if (d / DONE).exists() and (problems := verify_run(d))}


def _stray_tmp(directory: Path) -> list[Path]:
    """Temporary files and folders under ``directory`` left by writers that died (a conversion of a real model
    killed while writing leaves a folder of up to 449 MB): their pid is gone from this host and they are older
    than ``LOCK_STALE_S`` (a live writer on another host renames its file within seconds)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in [*filenames, *dirnames]:
            m = TMP_NAME.fullmatch(name)
            f = Path(dirpath) / name
            if m and not f.is_symlink() and not _pid_alive(int(m["pid"])) \
                    and time.time() - f.lstat().st_mtime > LOCK_STALE_S:
                out.append(f)
        dirnames[:] = [d for d in dirnames if not TMP_NAME.fullmatch(d)]  # a stray folder goes whole
    return out


def _provably_unfinished(directory: Path, ours: bool = False) -> bool:
    """A real directory named like a run, holding a real ``config.json`` whose hash is its name, with no DONE and
    no lock of a live process (``ours``: the lock is this process's): only such a directory may ever be removed."""
    return (not directory.is_symlink() and RUN_NAME.fullmatch(directory.name) is not None
            and not (directory / "config.json").is_symlink() and (directory / "config.json").is_file()
            and _name_problem(directory) is None and not (directory / DONE).exists()
            and (ours or _state(directory) == "unfinished"))


def _remove(path: Path) -> None:
    """Remove one entry; a symbolic link is removed itself, never what it points to."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


def gc_store(root: Path | None = None, *, dry_run: bool = True, quarantined: bool = False) -> list[Path]:
    """What garbage collection removes, and nothing else: provably unfinished runs (see ``_provably_unfinished``),
    temporary files and folders of dead writers inside run directories, ``.derived`` and ``.pretrained``, and
    (``quarantined=True``) the entries of the quarantine. Finished runs, symbolic links' targets and anything
    that is not provably a run (``data/``, ``backup/``, ``2026-results/``) are never touched. A run is locked
    while it is removed, so a process that starts training it at that moment is never pulled from under."""
    root = root or runs_root()
    entries = _run_dirs(root)
    doomed = [d for d in entries if _provably_unfinished(d)]
    for d in [*(d for d in entries if d not in doomed and not d.is_symlink()), root / DERIVED, root / PRETRAINED]:
        if d.is_dir() and not d.is_symlink():
            doomed += _stray_tmp(d)
    q = root / QUARANTINE
    if quarantined and q.is_dir() and not q.is_symlink():
        doomed += sorted(q.iterdir())
    if not dry_run:
        with store_errors(root):
            for p in doomed:
                if p.parent == root and RUN_NAME.fullmatch(p.name):
                    if not try_lock(p):
                        continue  # someone started training it after all
                    try:
                        if _provably_unfinished(p, ours=True):
                            _remove(p)
                    finally:
                        release_lock(p)
                else:
                    _remove(p)
    return sorted(doomed)
