"""Tables derived from finished runs by further computation (continued training, per-run analyses), cached under
``runs/.derived/`` by a hash of what they were computed from, and read back only while their checksum holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from crosslingual.core.config import RESULT_FORMAT_VERSION
from crosslingual.files import read_regular, sha256_file, write_atomic
from crosslingual.store.integrity import quarantine_target
from crosslingual.store.layout import DERIVED, parquet_bytes, runs_root, store_errors, write_json


def cached_table(kind: str, key: dict, compute: Callable[[], pd.DataFrame] | None, root: Path | None = None,
                 version: int = 1) -> pd.DataFrame | None:
    """A table derived from finished runs by further computation (e.g. continued training from a run's weights),
    cached under ``runs/.derived/`` by a hash of ``key``, the result-format version and ``version``, written
    atomically and read back only when its sidecar (key and checksum) matches: a killed computation leaves
    nothing behind and is redone on the next call, and a damaged or foreign table is quarantined and recomputed.
    ``version`` is the computing code's version: bumping it recomputes the table. Version 1 is left out of the
    hash, so tables cached before versions existed stay valid. The index is not stored. With ``compute=None`` a
    missing (or quarantined) table is ``None``: the caller reads what is cached and computes the rest elsewhere."""
    root = root or runs_root()
    versioned = {} if version == 1 else {"version": version}
    payload = json.dumps({"kind": kind, "key": key, "format": RESULT_FORMAT_VERSION, **versioned}, sort_keys=True)
    path = root / DERIVED / f"{kind}-{hashlib.sha256(payload.encode()).hexdigest()[:12]}.parquet"
    sidecar = path.with_suffix(".json")
    if path.exists() or sidecar.exists():
        try:
            info = json.loads(read_regular(sidecar))
            intact = info["payload"] == payload and info["sha256"] == sha256_file(path)
        except (OSError, ValueError, KeyError, TypeError):
            intact = False
        if intact:
            return pd.read_parquet(path)
        target = quarantine_target(root, path.stem)
        target.mkdir()
        for f in (path, sidecar):
            if f.exists():
                os.replace(f, target / f.name)
        warnings.warn(f"derived table {path.name} has no matching checksum (damaged, or written by an older "
                      f"version); moved to {target} and recomputing it", stacklevel=2)
    if compute is None:
        return None
    table = compute()
    with store_errors(root):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, parquet_bytes(table, index=False))
        write_json(sidecar, {"payload": payload, "sha256": sha256_file(path)})
    return table


def cached_tables(prefix: str, key: dict, compute: Callable[[], dict[str, pd.DataFrame]] | None, names: list[str],
                  root: Path | None = None, version: int = 1) -> dict[str, pd.DataFrame] | None:
    """Several tables of one computation, each a ``cached_table`` of kind ``<prefix>-<name>`` (underscores as
    dashes) under the same ``key``: ``compute()`` (all of them at once) runs at most once per call, and only if
    some table is missing (a build killed between two writes). With ``compute=None``: ``None`` unless every table
    is cached."""
    computed: dict[str, pd.DataFrame] = {}

    def one(name: str) -> pd.DataFrame | None:
        def compute_one() -> pd.DataFrame:
            if not computed:
                computed.update(compute())
            return computed[name]

        return cached_table(f"{prefix}-{name.replace('_', '-')}", key, compute_one if compute else None, root=root,
                            version=version)

    tables = {name: one(name) for name in names}
    return None if any(table is None for table in tables.values()) else tables
