"""The store's administration (``crosslingual runs ls | verify | gc``): list what is there, report damage, and
remove only what is provably garbage.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import suppress
from pathlib import Path

import pandas as pd

from crosslingual.errors import StoreError
from crosslingual.files import read_regular, remove_entry
from crosslingual.store import locks
from crosslingual.store.integrity import name_problem, verify_run
from crosslingual.store.layout import (
    DERIVED,
    DONE,
    LOCK,
    PRETRAINED,
    QUARANTINE,
    RUN_NAME,
    TMP_NAME,
    runs_root,
    store_errors,
)
from crosslingual.store.locks import describe_lock, pid_alive, release_lock, try_lock


def _run_dirs(root: Path) -> list[Path]:
    """Entries of the store that are named like a run (a symbolic link is listed, never followed by ``gc``)."""
    if root.exists() and not root.is_dir():
        raise StoreError(f"run store {root} is a file, not a directory; set $CROSSLINGUAL_RUNS to a directory")
    return sorted(p for p in root.glob("*") if RUN_NAME.fullmatch(p.name) and p.is_dir()) if root.exists() else []


def _state(directory: Path) -> str:
    if (directory / DONE).exists():
        return "done"
    _, gone, _ = describe_lock(directory / LOCK)
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
    than ``locks.LOCK_STALE_S`` (a live writer on another host renames its file within seconds)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in [*filenames, *dirnames]:
            m = TMP_NAME.fullmatch(name)
            f = Path(dirpath) / name
            if m and not f.is_symlink() and not pid_alive(int(m["pid"])) \
                    and time.time() - f.lstat().st_mtime > locks.LOCK_STALE_S:
                out.append(f)
        dirnames[:] = [d for d in dirnames if not TMP_NAME.fullmatch(d)]  # a stray folder goes whole
    return out


def _provably_unfinished(directory: Path, ours: bool = False) -> bool:
    """A real directory named like a run, holding a real ``config.json`` whose hash is its name, with no DONE and
    no lock of a live process (``ours``: the lock is this process's): only such a directory may ever be removed."""
    return (not directory.is_symlink() and RUN_NAME.fullmatch(directory.name) is not None
            and not (directory / "config.json").is_symlink() and (directory / "config.json").is_file()
            and name_problem(directory) is None and not (directory / DONE).exists()
            and (ours or _state(directory) == "unfinished"))


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
                            remove_entry(p)
                    finally:
                        release_lock(p)
                else:
                    remove_entry(p)
    return sorted(doomed)
