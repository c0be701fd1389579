"""The run store: one directory per run, named by the hash of its full config.

    runs/<hash>/config.json          the resolved config (and the hash it came from)
    runs/<hash>/metrics.parquet      one row per checkpoint x metric x layer x position
    runs/<hash>/checkpoints/step_XXXXXXX.safetensors   model weights at ``keep_checkpoints`` evaluated steps
    runs/<hash>/state.safetensors    model + optimiser state of the last checkpoint (resume; removed when done)
    runs/<hash>/DONE                 written last: wall time, device, versions, and the checksum manifest
    runs/.derived/<kind>-<hash>.parquet   tables computed from finished runs (``cached_table``)

Every file is written to a temporary name and renamed, so a reader never sees a partial file, and a killed
run resumes from its last checkpoint. A lock file (with stale-lock recovery by pid) keeps two processes from
training the same run. A finished run is verified against its manifest before first use in a process; a
damaged one is moved to ``.quarantine/`` and recomputed. Nothing is ever unpickled: weights are safetensors,
tables are parquet, the rest JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from crosslingual.config import RESULT_FORMAT_VERSION, RunConfig, resolve_device
from crosslingual.model import Transformer
from crosslingual.world import World

if TYPE_CHECKING:
    from crosslingual.train import Trainer

DONE, STATE, METRICS, PARTIAL = "DONE", "state.safetensors", "metrics.parquet", "metrics.partial.parquet"
DERIVED = ".derived"  # tables computed from finished runs (hidden: not a run directory)


def runs_root() -> Path:
    """``$CROSSLINGUAL_RUNS``, else ``runs/`` in the enclosing crosslingual checkout, else a user cache."""
    env = os.environ.get("CROSSLINGUAL_RUNS")
    if env:
        return Path(env).expanduser().resolve()
    for parent in [Path.cwd(), *Path.cwd().parents]:
        if (parent / "_toc.yml").exists() and (parent / "src" / "crosslingual").is_dir():
            return parent / "runs"
    return Path.home() / ".cache" / "crosslingual" / "runs"


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest(directory: Path) -> dict[str, dict]:
    """Checksum and size of every file a finished run consists of (DONE excluded: it holds the manifest)."""
    files = [directory / "config.json", directory / METRICS, *sorted((directory / "checkpoints").glob("*.safetensors"))]
    return {str(f.relative_to(directory)): {"sha256": _sha256(f), "bytes": f.stat().st_size} for f in files}


def verify_run(directory: Path) -> list[str]:
    """Problems that make a finished run unusable (empty when it is intact)."""
    try:
        recorded = json.loads((directory / DONE).read_text())["manifest"]
    except KeyError:
        return ["DONE has no manifest (made by an older version of crosslingual, or edited by hand)"]
    except (OSError, ValueError) as err:
        return [f"DONE is unreadable ({err.__class__.__name__})"]
    problems = []
    for name, want in recorded.items():
        f = directory / name
        if not f.is_file():
            problems.append(f"{name} is missing")
        elif f.stat().st_size != want["bytes"] or _sha256(f) != want["sha256"]:
            problems.append(f"{name} does not match its checksum")
    return problems


def quarantine(directory: Path, reason: str) -> Path:
    """Move a damaged run aside (never delete what a user ran) and warn; the caller may then recompute it."""
    target = directory.parent / ".quarantine" / f"{directory.name}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(directory, target)
    warnings.warn(f"run {directory.name} is damaged ({reason}); moved to {target} and recomputing it",
                  stacklevel=3)
    return target


_VERIFIED: dict[Path, int] = {}  # run directory -> DONE's mtime when it was last verified in this process


def write_json(path: Path, obj: dict) -> None:
    _atomic(path, lambda p: p.write_text(json.dumps(obj, indent=2, sort_keys=True)))


# A held lock's mtime is refreshed every LOCK_HEARTBEAT_S; a lock of another host (a cluster node) that has not
# been refreshed for LOCK_STALE_S belongs to a dead process, since its pid cannot be checked from here.
LOCK_HEARTBEAT_S, LOCK_STALE_S = 30.0, 300.0
_HEARTBEATS: dict[Path, threading.Event] = {}


def try_lock(directory: Path) -> bool:
    """Take the run's lock if it is free (or stale: left by a dead process on this host, or not refreshed for
    ``LOCK_STALE_S`` by another host). While held, a daemon thread keeps its mtime fresh."""
    lock = directory / "lock"
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            if (directory / DONE).exists() or _lock_is_stale(lock):
                lock.unlink(missing_ok=True)
                continue
            return False
        os.write(fd, f"{socket.gethostname()} {os.getpid()}".encode())
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
    (directory / "lock").unlink(missing_ok=True)


@contextmanager
def run_lock(directory: Path, poll_s: float = 0.5) -> Iterator[None]:
    """Exclusive lock on a run directory, waiting while another live process holds it."""
    while not try_lock(directory):
        time.sleep(poll_s)
    try:
        yield
    finally:
        release_lock(directory)


def _lock_is_stale(lock: Path) -> bool:
    try:
        host, pid = lock.read_text().split()
    except (OSError, ValueError):
        return False  # being written right now
    if host != socket.gethostname():
        try:
            return time.time() - lock.stat().st_mtime > LOCK_STALE_S
        except OSError:
            return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(int(pid))


def _is_zombie(pid: int) -> bool:
    """A killed process that its parent has not reaped yet still answers ``kill(pid, 0)`` (Linux only)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


@dataclass
class Run:
    """A finished run, read back from the store."""

    path: Path

    @cached_property
    def config(self) -> RunConfig:
        return RunConfig.from_dict(json.loads((self.path / "config.json").read_text())["config"])

    @cached_property
    def metrics(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / METRICS)

    @cached_property
    def info(self) -> dict:
        return json.loads((self.path / DONE).read_text())

    @cached_property
    def world(self) -> World:
        return World(self.config.world)

    @property
    def steps(self) -> list[int]:
        return sorted(int(p.stem.split("_")[1]) for p in (self.path / "checkpoints").glob("step_*.safetensors"))

    def load_model(self, step: int | None = None, device: str = "cpu") -> Transformer:
        """The model at ``step`` (default: the last), in eval mode."""
        step = self.steps[-1] if step is None else step
        weights = load_file(self.path / "checkpoints" / f"step_{step:07d}.safetensors", device=device)
        model = Transformer(self.config.model, len(self.world.vocab), self.world.seq_len)
        model.load_state_dict(weights)
        return model.to(device).eval()

    def scalar(self, metric: str, step: int | None = None) -> float:
        """A global (layer-free) metric at ``step`` (default: the last checkpoint)."""
        m = self.metrics
        m = m[(m.metric == metric) & (m.layer == -1)]
        return float(m[m.step == (m.step.max() if step is None else step)].value.iloc[0])


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
        write_json(directory / "config.json", {"hash": cfg.hash(), "config": cfg.to_dict()})
        (directory / "checkpoints").mkdir(exist_ok=True)

    def resume(self, trainer: "Trainer") -> None:
        """Continue from the last checkpoint of a killed run; unreadable state is set aside, not trusted."""
        state, partial = self.directory / STATE, self.directory / PARTIAL
        if not (state.exists() and partial.exists()):
            return
        try:
            trainer.load_state_tensors(load_file(state))
            done = pd.read_parquet(partial)
        except Exception as err:  # noqa: BLE001 - any unreadable file means: start again, keep the evidence
            aside = self.directory.parent / ".quarantine" / f"{self.directory.name}-state-{os.getpid()}"
            aside.mkdir(parents=True, exist_ok=True)
            for f in (state, partial):
                os.replace(f, aside / f.name)
            warnings.warn(f"could not resume run {self.directory.name} ({err}); files moved to {aside}, "
                          "training from the start", stacklevel=2)
            trainer.__init__(self.cfg, self.device)
            return
        self.rows = done[done.step <= trainer.step].to_dict("records")
        self.resumed_from = trainer.step

    def on_checkpoint(self, trainer: "Trainer", new_rows: list[dict]) -> None:
        self.rows.extend(new_rows)
        d = self.directory
        if trainer.step in trainer.kept:
            weights = {k: v.detach().cpu().contiguous() for k, v in trainer.model.state_dict().items()}
            _atomic(d / "checkpoints" / f"step_{trainer.step:07d}.safetensors", lambda p: save_file(weights, p))
        _atomic(d / PARTIAL, lambda p: pd.DataFrame(self.rows).to_parquet(p))
        if trainer.step < self.cfg.train.steps:
            _atomic(d / STATE, lambda p: save_file(trainer.state_tensors(), p))

    def finish(self, trainer: "Trainer", batched_with: int = 1) -> Run:
        d = self.directory
        _atomic(d / METRICS, lambda p: pd.DataFrame(self.rows).to_parquet(p))
        write_json(d / DONE, {
            "wall_seconds_this_process": round(time.perf_counter() - self.start, 2), "device": self.device,
            "torch": torch.__version__, "threads": torch.get_num_threads(), "n_params": trainer.model.n_params(),
            "batched_with": batched_with, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "pid": os.getpid(), "host": socket.gethostname(), "resumed_from_step": self.resumed_from,
            "manifest": manifest(d),
        })
        for leftover in (STATE, PARTIAL):
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
    directory = run_dir(cfg, root)
    if is_done(cfg, root):
        return Run(directory)
    device = resolve_device(device)
    directory.mkdir(parents=True, exist_ok=True)
    with run_lock(directory):
        if is_done(cfg, root):  # someone else finished it while we waited
            return Run(directory)
        writer = RunWriter(cfg, directory, device)
        trainer = Trainer(cfg, device)
        writer.resume(trainer)
        trainer.fit(writer.on_checkpoint, progress=progress, desc=f"run {cfg.hash()}")
        return writer.finish(trainer)


def cached_table(kind: str, key: dict, compute: Callable[[], pd.DataFrame], root: Path | None = None) -> pd.DataFrame:
    """A table derived from finished runs by further computation (e.g. continued training from a run's weights),
    cached under ``runs/.derived/`` by a hash of ``key`` and the result-format version, and written atomically:
    a killed computation leaves nothing behind and is redone on the next call."""
    payload = json.dumps({"kind": kind, "key": key, "format": RESULT_FORMAT_VERSION}, sort_keys=True)
    path = (root or runs_root()) / DERIVED / f"{kind}-{hashlib.sha256(payload.encode()).hexdigest()[:12]}.parquet"
    if path.exists():
        return pd.read_parquet(path)
    table = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic(path, lambda p: table.to_parquet(p, index=False))
    return table


# ---------------------------------------------------------------------------- store administration (CLI)
def _state(directory: Path) -> str:
    if (directory / DONE).exists():
        return "done"
    lock = directory / "lock"
    if lock.exists() and not _lock_is_stale(lock):
        return "training"
    return "unfinished"


def _size_mb(directory: Path) -> float:
    return sum(f.stat().st_size for f in directory.rglob("*") if f.is_file()) / 2**20


def list_runs(root: Path | None = None) -> pd.DataFrame:
    """One row per run directory: hash, state, saved checkpoints, disk use and the most telling knobs."""
    rows = []
    for d in sorted(p for p in (root or runs_root()).glob("[0-9a-f]*") if p.is_dir()):
        row = {"run": d.name, "state": _state(d), "checkpoints": len(list((d / "checkpoints").glob("*"))),
               "MB": round(_size_mb(d), 1)}
        try:
            cfg = json.loads((d / "config.json").read_text())["config"]
            row.update(seed=cfg["seed"], parallel_fraction=cfg["world"]["parallel_fraction"],
                       n_entities=cfg["world"]["n_entities"], d_model=cfg["model"]["d_model"],
                       steps=cfg["train"]["steps"])
        except (OSError, ValueError, KeyError):
            row["state"] += " (no config)"
        rows.append(row)
    return pd.DataFrame(rows)


def verify_store(root: Path | None = None) -> dict[str, list[str]]:
    """Problems per finished run (only damaged runs are listed); nothing is moved or changed."""
    out = {}
    for d in sorted((root or runs_root()).glob("[0-9a-f]*")):
        if (d / DONE).exists():
            problems = verify_run(d)
            if problems:
                out[d.name] = problems
    return out


def gc_store(root: Path | None = None, *, dry_run: bool = True, quarantined: bool = False) -> list[Path]:
    """What garbage collection removes: unfinished runs that no live process is training, stray temporary
    files, and (``quarantined=True``) the quarantine of damaged runs. Finished runs are never removed."""
    root = root or runs_root()
    doomed = [d for d in root.glob("[0-9a-f]*") if d.is_dir() and _state(d) == "unfinished"]
    doomed += [f for f in root.glob("*/.*.tmp")]
    if quarantined and (root / ".quarantine").exists():
        doomed.append(root / ".quarantine")
    if not dry_run:
        for p in doomed:
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    return sorted(doomed)
