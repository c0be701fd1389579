"""The run store never serves a wrong result and never loses one: a kill at any moment of a run's writes resumes
to exactly the uninterrupted metrics, unreadable locks are reported and taken over, a directory whose contents
are not what its name and manifest say is quarantined, and a full, read-only or misplaced store fails with one
message and leaves nothing half-written."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from crosslingual.core.config import make_config
from crosslingual.errors import StoreError
from crosslingual.files import temporary_name, write_atomic
from crosslingual.store import fetch, integrity, layout, locks, runs
from crosslingual.store.derived import cached_table
from crosslingual.store.fetch import get_or_train
from crosslingual.store.integrity import is_done, manifest, verify_run
from crosslingual.store.layout import DONE, LOCK, PARTIAL, STATE, run_dir, write_json

CFG = make_config("smoke", steps=12, n_checkpoints=4, keep_checkpoints=3)


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs in the killed process (it is not an Exception)."""


# the modules through which a training run writes: the run's files (runs) and its JSON files (layout.write_json)
WRITERS = (runs, layout)


def _count_writes(monkeypatch, root: Path) -> tuple[pd.DataFrame, int]:
    calls = []
    real = runs.write_atomic
    for writer in WRITERS:
        monkeypatch.setattr(writer, "write_atomic", lambda path, data: (calls.append(path), real(path, data)))
    reference = get_or_train(CFG, progress=False, root=root).metrics
    for writer in WRITERS:
        monkeypatch.setattr(writer, "write_atomic", real)
    return reference, len(calls)


def _kill_at(monkeypatch, n: int, mid_write: bool) -> None:
    """The n-th write of the run is killed: before it starts, or half-way through writing its temporary file
    (which a real kill leaves behind, never renamed)."""
    real = runs.write_atomic
    count = [0]

    def atomic(path: Path, data: bytes) -> None:
        count[0] += 1
        if count[0] == n:
            if mid_write:
                temporary_name(path).write_bytes(data[: len(data) // 2])
            raise Killed
        real(path, data)

    for writer in WRITERS:
        monkeypatch.setattr(writer, "write_atomic", atomic)


@pytest.mark.slow
def test_a_kill_at_any_write_resumes_to_exactly_the_uninterrupted_metrics(tmp_path, monkeypatch):
    reference, n_writes = _count_writes(monkeypatch, tmp_path / "reference")
    assert n_writes >= 10  # config, weights, metrics table and resume state at 4 checkpoints, metrics, DONE
    for n in range(1, n_writes + 1):
        for mid_write in (False, True):
            root = tmp_path / f"kill-{n}-{mid_write}"
            _kill_at(monkeypatch, n, mid_write)
            with pytest.raises(Killed):
                get_or_train(CFG, progress=False, root=root)
            monkeypatch.undo()
            integrity._VERIFIED.clear()
            resumed = get_or_train(CFG, progress=False, root=root)
            pd.testing.assert_frame_equal(resumed.metrics, reference, obj=f"killed at write {n} (mid={mid_write})")
            assert not verify_run(resumed.path)
            assert resumed.metrics.groupby(["step", "metric", "layer", "position"]).size().max() == 1


def test_a_second_kill_after_resuming_still_ends_exactly(tmp_path, monkeypatch):
    reference, n_writes = _count_writes(monkeypatch, tmp_path / "reference")
    root = tmp_path / "twice"
    for n in (4, 3):  # killed in the first run, then again in the resumed one
        _kill_at(monkeypatch, n, mid_write=True)
        with pytest.raises(Killed):
            get_or_train(CFG, progress=False, root=root)
        monkeypatch.undo()
    pd.testing.assert_frame_equal(get_or_train(CFG, progress=False, root=root).metrics, reference)


def test_resume_files_left_after_done_are_tidied_and_the_run_is_trusted(store):
    run = get_or_train(CFG, progress=False)
    (run.path / STATE).write_bytes(b"left by a process killed after writing DONE")
    (run.path / PARTIAL).write_bytes(b"likewise")
    (run.path / ".metrics.parquet.4242.tmp").write_bytes(b"a temporary file of a killed writer")
    integrity._VERIFIED.clear()
    assert is_done(CFG) and not (run.path / STATE).exists() and not (run.path / PARTIAL).exists()


# ------------------------------------------------------------------------------------------------ locks
@pytest.mark.parametrize("content", [b"", b"garbage", b"host-without-pid", "\u00e9".encode("latin-1")])
def test_an_unreadable_lock_is_reported_and_taken_over(store, content):
    d = run_dir(CFG)
    d.mkdir(parents=True)
    (d / LOCK).write_bytes(content)
    old = time.time() - locks.LOCK_GRACE_S - 1
    os.utime(d / LOCK, (old, old))
    with pytest.warns(UserWarning, match=r"taking over its lock \(an unreadable lock file written \d+ s ago"):
        run = get_or_train(CFG, progress=False)
    assert not verify_run(run.path) and not (d / LOCK).exists()


def test_a_fresh_unreadable_lock_is_waited_for_with_a_report(store, capfd, monkeypatch):
    monkeypatch.setattr(locks, "LOCK_GRACE_S", 1.0)
    d = run_dir(CFG)
    d.mkdir(parents=True)
    (d / LOCK).write_bytes(b"")  # being written right now, as far as anyone can tell
    start = time.monotonic()
    with pytest.warns(UserWarning, match="taking over its lock"):
        get_or_train(CFG, progress=False)
    assert time.monotonic() - start >= 0.9
    assert f"run {d.name}: waiting for an unreadable lock file written 0 s ago" in capfd.readouterr().err


def test_a_wait_for_a_live_owner_says_who_and_how_long(store, capfd, monkeypatch):
    monkeypatch.setattr(locks, "LOCK_REPORT_S", 0.2)
    d = run_dir(CFG)
    d.mkdir(parents=True)
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    (d / LOCK).write_text(f"{socket.gethostname()} {owner.pid} {locks.process_start(owner.pid)}")
    try:
        with pytest.warns(UserWarning, match=f"process {owner.pid} on this host is gone"):
            get_or_train(CFG, progress=False)
    finally:
        owner.wait()
    err = capfd.readouterr().err
    assert f"waiting for process {owner.pid} on this host, which is training it; waited 0 s" in err
    assert "waited 1 s" in err  # it says again while it waits


def test_only_one_of_two_processes_takes_over_a_dead_lock(store):
    """Both see the same dead owner; the takeover guard lets exactly one replace the lock."""
    d = run_dir(CFG)
    d.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (d / LOCK).write_text(f"{socket.gethostname()} {dead.stdout.strip()}")
    _, reason, seen = locks.describe_lock(d / LOCK)
    assert reason and "is gone" in reason
    with pytest.warns(UserWarning):
        assert locks.try_lock(d)  # the first one takes it over
    assert not locks._take_over(d / LOCK, reason, seen) or (d / LOCK).exists()
    assert not locks.try_lock(d)  # the live lock of the first is respected
    locks.release_lock(d)


# --------------------------------------------------------------------------- what a run directory must be
def _forge(path: Path, **changes) -> None:
    """Change the stored config and re-sign the manifest, as a hand edit that 'fixes' the checksums would."""
    stored = json.loads((path / "config.json").read_text())
    stored["config"]["train"].update(changes)
    (path / "config.json").write_text(json.dumps(stored))
    info = json.loads((path / DONE).read_text())
    info["manifest"] = manifest(path)
    (path / DONE).write_text(json.dumps(info))


@pytest.mark.parametrize("damage, problem", [
    ("forged config", "the directory's name is not the hash of its config.json"),
    ("extra checkpoint", r"checkpoints/step_0000099\.safetensors is not in the manifest"),
    ("extra file", r"notes\.txt is not in the manifest"),
    ("symlinked checkpoint", r"is a symbolic link"),
    ("manifest escapes", r"the manifest names \.\./outside, outside the run"),
    ("manifest garbage", r"DONE has no valid manifest"),
    ("old config without format", None),
])
def test_a_run_is_trusted_only_when_name_files_and_manifest_agree(store, damage, problem):
    run = get_or_train(CFG, progress=False)
    d = run.path
    if damage == "forged config":
        _forge(d, lr=0.5)
    elif damage == "extra checkpoint":
        shutil.copy(sorted((d / "checkpoints").glob("*"))[0], d / "checkpoints" / "step_0000099.safetensors")
    elif damage == "extra file":
        (d / "notes.txt").write_text("a user's note")
    elif damage == "symlinked checkpoint":
        ckpt = sorted((d / "checkpoints").glob("*"))[0]
        shutil.copy(ckpt, store.parent / "elsewhere.safetensors")
        ckpt.unlink()
        ckpt.symlink_to(store.parent / "elsewhere.safetensors")
    elif damage in ("manifest escapes", "manifest garbage"):
        info = json.loads((d / DONE).read_text())
        info["manifest"] = {"../outside": {"sha256": "0", "bytes": 1}} if damage == "manifest escapes" else [1, 2]
        (d / DONE).write_text(json.dumps(info))
    else:  # a run of an earlier version: config.json without its format is checked against every format
        stored = json.loads((d / "config.json").read_text())
        del stored["format"]
        (d / "config.json").write_text(json.dumps(stored))
        info = json.loads((d / DONE).read_text())
        info["manifest"] = manifest(d)
        (d / DONE).write_text(json.dumps(info))
    problems = verify_run(d)
    integrity._VERIFIED.clear()
    if problem is None:
        assert not problems and is_done(CFG)
        return
    assert any(re.search(problem, p) for p in problems), problems
    with pytest.warns(UserWarning, match="is damaged"):
        again = get_or_train(CFG, progress=False)  # quarantined and recomputed, never loaded
    pd.testing.assert_frame_equal(again.metrics, run.metrics)
    assert len(list((store / ".quarantine").iterdir())) == 1


def test_a_derived_table_is_read_back_only_when_its_checksum_matches(store):
    table = pd.DataFrame({"x": [1.0, 2.0]})
    calls = []

    def compute() -> pd.DataFrame:
        calls.append(1)
        return table

    pd.testing.assert_frame_equal(cached_table("demo", {"k": 1}, compute), table)
    pd.testing.assert_frame_equal(cached_table("demo", {"k": 1}, compute), table)
    assert len(calls) == 1
    (path,) = (store / ".derived").glob("demo-*.parquet")
    pd.DataFrame({"x": [9.0, 9.0]}).to_parquet(path)  # a wrong table under the right name
    with pytest.warns(UserWarning, match=r"has no matching checksum \(damaged, or written by an older version\)"):
        pd.testing.assert_frame_equal(cached_table("demo", {"k": 1}, compute), table)
    assert len(calls) == 2 and len(list((store / ".quarantine").iterdir())) == 1


# ------------------------------------------------------------------------------- full, read-only, misplaced
def test_a_store_path_that_is_a_file_fails_with_one_message_naming_it(tmp_path):
    bad = tmp_path / "runs"
    bad.write_text("not a directory")
    with pytest.raises(StoreError, match=f"run store {bad} is a file, not a directory"):
        get_or_train(CFG, progress=False, root=bad)
    with pytest.raises(StoreError, match=f"run store {bad}/sub is a file, not a directory \\(its parent {bad} is a"):
        get_or_train(CFG, progress=False, root=bad / "sub")


def _mount_tmpfs(path: Path, size: str, readonly: bool = False) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root (the full-disk and read-only cases run in CI as root)")
    path.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}" + (",ro" if readonly else ""), "tmpfs",
                             str(path)], capture_output=True, text=True)
    if result.returncode:
        pytest.skip(f"tmpfs could not be mounted here: {result.stderr.strip()}")


@pytest.fixture
def tmpfs(tmp_path):
    mounts = []

    def mount(size: str, readonly: bool = False) -> Path:
        path = tmp_path / f"tmpfs{len(mounts)}"
        _mount_tmpfs(path, size, readonly)
        mounts.append(path)
        return path

    yield mount
    for path in mounts:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _tmp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def test_a_full_disk_fails_with_one_message_leaves_nothing_half_written_and_the_next_store_works(tmpfs, tmp_path,
                                                                                              monkeypatch):
    small = tmpfs("160k")
    monkeypatch.setattr(fetch, "check_store", lambda root, need_bytes=0: None)  # let it run into the wall
    with pytest.raises(StoreError, match=rf"run store {small}: No space left on device"):
        get_or_train(CFG, progress=False, root=small)
    assert not _tmp_files(small)
    leftover = run_dir(CFG, small)
    assert not (leftover / DONE).exists() and not (leftover / LOCK).exists()
    monkeypatch.undo()
    good = get_or_train(CFG, progress=False, root=tmp_path / "good")
    assert not verify_run(good.path)


def test_a_store_without_room_for_the_run_is_refused_before_training(tmpfs):
    small = tmpfs("64k")
    with pytest.raises(StoreError, match=rf"run store {small} has 0 MiB free but a run needs about"):
        get_or_train(CFG, progress=False, root=small)
    assert not any(small.iterdir())


def test_a_read_only_store_fails_with_one_message(tmpfs):
    ro = tmpfs("1m", readonly=True)
    with pytest.raises(StoreError, match=rf"run store {ro}: Read-only file system"):
        get_or_train(CFG, progress=False, root=ro)


def test_a_failed_write_removes_its_temporary_file(tmp_path, monkeypatch):
    def no_rename(src, dst) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(OSError):
        write_atomic(tmp_path / "x.json", b"{}")
    assert not list(tmp_path.iterdir())
    monkeypatch.undo()
    write_json(tmp_path / "y.json", {"ok": 1})
    assert [p.name for p in tmp_path.iterdir()] == ["y.json"]
