"""Whether a finished run can be trusted: its directory's name is the hash of its ``config.json``, and its files
are exactly those of DONE's manifest, with their sizes and checksums. Anything else is moved to ``.quarantine/``
and recomputed (or reported by ``runs verify``), never loaded; a run verified once in a process is not hashed
again while its DONE is unchanged.
"""

from __future__ import annotations

import json
import os
import stat
import time
import warnings
from contextlib import suppress
from pathlib import Path

from crosslingual.core.config import RESULT_FORMAT_VERSION, RunConfig, config_digest
from crosslingual.files import read_regular, sha256_file, write_errors
from crosslingual.store.layout import DONE, LEFTOVERS, LOCK, METRICS, QUARANTINE, TAKEOVER, TMP_NAME, run_dir


def manifest(directory: Path) -> dict[str, dict]:
    """Checksum and size of every file a finished run consists of (DONE excluded: it holds the manifest)."""
    files = [directory / "config.json", directory / METRICS, *sorted((directory / "checkpoints").glob("*.safetensors"))]
    return {str(f.relative_to(directory)): {"sha256": sha256_file(f), "bytes": f.stat().st_size} for f in files}


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


def name_problem(directory: Path) -> str | None:
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
    problems = [p for p in [name_problem(directory)] if p]
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
        elif f.stat().st_size != size or sha256_file(f) != sha:
            problems.append(f"{name} does not match its checksum")
    return problems


_KIND_WORDS = {"file": "a file", "link": "a symbolic link", "directory": "a directory",
               "other": "a FIFO, socket or device"}


def quarantine_target(root: Path, name: str) -> Path:
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
        target = quarantine_target(directory.parent, directory.name)
        os.replace(directory, target)
    warnings.warn(f"run {directory.name} is damaged ({reason}); moved to {target} and recomputing it",
                  stacklevel=3)
    return target


_VERIFIED: dict[Path, int] = {}  # run directory -> DONE's mtime when it was last verified in this process


def is_intact(directory: Path) -> bool:
    """Whether a finished run's files still match its DONE manifest (:func:`verify_run`), without hashing them again
    when this process verified the run at this very DONE (``is_done`` did): the trust the store itself gives a run
    it loads. Nothing is moved or changed."""
    try:
        verified = _VERIFIED.get(directory) == (directory / DONE).stat().st_mtime_ns
    except OSError:
        return False
    return verified or not verify_run(directory)


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
