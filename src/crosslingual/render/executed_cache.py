"""Reusing an executed chapter whose inputs are unchanged (what makes a rebuild cheap).

A chapter's executed page is a function of its notebook, its parameters and profile, the package's code, the
installed distributions (torch, the model wheels of ``make models``), the device kind, the run store it reads
and the runs in it. ``key`` hashes all but the runs; ``record`` writes that key beside the executed copy with
the runs the notebook used (each with a digest of its ``DONE`` record, which a retrained run changes), its time
and its verdicts. ``lookup`` gives that record back only if the key is the same, the executed copy is the one
recorded (same digest) and every run is still in the store, finished, unchanged and intact (its files those of
DONE's manifest, as ``crosslingual runs verify`` checks); anything else, including a missing or damaged record,
means the chapter is executed again (and its notebook has the store quarantine and retrain a damaged run). A
reused page is re-stamped with the build's commit (``provenance.mark_reused``) and ``repage`` records its new
digest. Like Jupyter Book's own execution cache, but keyed on the inputs that decide our pages rather than on the
notebook's cells alone.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from crosslingual.claims.verdicts import data_files
from crosslingual.files import write_atomic
from crosslingual.store.integrity import is_intact
from crosslingual.store.layout import DONE

RECORD_VERSION = 1


PACKAGE = Path(__file__).resolve().parents[1]  # the whole package, every tier: this module lives in render/


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def code_digest(package: Path | None = None) -> str:
    """Every file of the ``crosslingual`` package (its code, studies and data), by relative path and content."""
    package = package or PACKAGE
    h = hashlib.sha256()
    for path in sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


@cache
def environment() -> tuple[str, ...]:
    """The installed distributions as ``name==version``, sorted: installing a model wheel or another torch
    changes what a chapter computes. Read once per process (0.3-0.5 s each time, for every chapter's key, was a
    third of a second ``make book``): a build does not install packages while it runs."""
    return tuple(sorted({f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()
                         if d.metadata["Name"]}))


def key(notebook: Path, profile: str, parameters: dict[str, Any], built_at: str, runs_root: Path,
        device: str, first_designs: bool) -> str:
    """The hash of everything but the runs that decides a chapter's executed page (``first_designs``: whether the
    build judges the first designs, ``chapters.runs_first_designs``, which "auto" sections follow)."""
    payload = {"version": RECORD_VERSION, "notebook": _digest(notebook.read_bytes()), "profile": profile,
               "parameters": parameters, "built_at": built_at, "code": code_digest(), "environment": environment(),
               "runs_root": str(runs_root), "device": device, "first_designs": first_designs}
    return _digest(json.dumps(payload, sort_keys=True, default=str).encode())


def _record_path(executed: Path) -> Path:
    return executed.with_name(f".{executed.stem}.executed.json")


def _run_digest(run: Path) -> str | None:
    done = run / DONE
    return _digest(done.read_bytes()) if done.is_file() else None


def _intact(run: Path, digest: str | None) -> bool:
    """Whether ``run`` is the one recorded (same DONE) and its files still match DONE's manifest
    (``integrity.is_intact``: a run the build's sweep verified moments before is not hashed again, which saves some
    8 ms a default run, seconds a book; a file damaged since is missed, as one damaged a moment later would be)."""
    return digest is not None and _run_digest(run) == digest and is_intact(run)


def record(executed: Path, key_: str, runs: list[Path], seconds: float, claims: list[str]) -> None:
    """Write the record of a chapter just executed into ``executed`` (after its annotation: the digest is of the
    final page)."""
    body = {"key": key_, "page": _digest(executed.read_bytes()), "seconds": seconds, "claims": claims,
            "runs": {str(r): _run_digest(r) for r in runs}}
    write_atomic(_record_path(executed), json.dumps(body, indent=1).encode())


def lookup(executed: Path, key_: str) -> dict[str, Any] | None:
    """The record of ``executed`` if the chapter can be reused as it is (see the module docstring), else None."""
    try:
        body = json.loads(_record_path(executed).read_text())
        usable = (body["key"] == key_ and isinstance(body["seconds"], (int, float)) and isinstance(body["claims"], list)
                  and executed.is_file() and _digest(executed.read_bytes()) == body["page"]
                  and _data_intact(body["claims"], executed.parent)
                  and all(_intact(Path(run), digest) for run, digest in body["runs"].items()))  # the costly check last
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return body if usable else None


def _data_intact(claims: list[str], base: Path) -> bool:
    """Every data file the chapter's verdicts recorded (``claims.verdicts.record``) is still there, unchanged: a
    deleted or edited CSV makes the chapter execute again rather than leave its verdicts without their data."""
    rows = [json.loads(line) for line in claims]
    return all(len(data_files(row, base)) == len(row.get("data") or []) for row in rows)


def repage(executed: Path) -> None:
    """Record the new digest of a reused page that this build re-stamped, so that the next build reuses it too."""
    path = _record_path(executed)
    body = json.loads(path.read_text())
    write_atomic(path, json.dumps({**body, "page": _digest(executed.read_bytes())}, indent=1).encode())


def forget(executed: Path) -> None:
    """Drop the record of a chapter about to be executed again (a build killed mid-way leaves no stale one)."""
    _record_path(executed).unlink(missing_ok=True)
