"""Where things are in the run store, and the few helpers every part of it writes with.

    runs/<hash>/config.json          the resolved config, the hash it came from and the result format
    runs/<hash>/metrics.parquet      one row per checkpoint x metric x layer x position
    runs/<hash>/checkpoints/step_XXXXXXX.safetensors   model weights at ``keep_checkpoints`` evaluated steps
    runs/<hash>/state.safetensors    model + optimiser state of the last checkpoint (resume; removed when done)
    runs/<hash>/DONE                 written last: wall time, device, CPU and torch, and the checksum manifest
    runs/.derived/<kind>-<hash>.parquet (+ .json)   tables computed from finished runs (:mod:`.derived`)
    runs/.pretrained/                real models' verified conversions (:mod:`crosslingual.pretrained.wheels`)
    runs/.quarantine/                damaged runs and tables, moved aside (never deleted)

Every file is written to a temporary name and renamed, so a reader never sees a partial file and a failed write
leaves nothing behind. Nothing is ever unpickled: weights are safetensors, tables are parquet, the rest JSON.
File-system errors a user can fix (a full disk, a read-only store, a file in the way) become one
:class:`StoreError` naming the path.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from crosslingual.core.config import RunConfig
from crosslingual.errors import StoreError
from crosslingual.files import write_atomic, write_errors
from crosslingual.store.memory import run_parameters

DONE, STATE, METRICS, PARTIAL = "DONE", "state.safetensors", "metrics.parquet", "metrics.partial.parquet"
LOCK, TAKEOVER = "lock", "lock.takeover"
DERIVED, QUARANTINE = ".derived", ".quarantine"  # hidden: not run directories
PRETRAINED = ".pretrained"  # real models' verified conversions (crosslingual.pretrained.wheels)
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
    return (cfg.train.keep_checkpoints + 3 + 3) * run_parameters(cfg) * 4 + 2**20


def parquet_bytes(table: pd.DataFrame, index: bool = True) -> bytes:
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=index)
    return buffer.getvalue()


def write_json(path: Path, obj: dict) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True).encode())


def run_dir(cfg: RunConfig, root: Path | None = None) -> Path:
    return (root or runs_root()) / cfg.hash()
