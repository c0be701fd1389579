"""What a hostile tester plants in the run store: a lock naming a live process that is not its owner (pid 1, a
recycled pid), a FIFO or a folder where a run's file belongs, a damaged run in a store that cannot be written, and
a dead conversion's temporary folder. None may hang a command, serve a wrong result or escape garbage collection."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from crosslingual.cli import main as cli
from crosslingual.core.config import make_config
from crosslingual.errors import StoreError
from crosslingual.files import NotRegularFile, read_regular
from crosslingual.store import integrity, locks
from crosslingual.store.admin import gc_store, list_runs, verify_store
from crosslingual.store.fetch import get_or_train
from crosslingual.store.integrity import verify_run
from crosslingual.store.layout import DONE, LOCK, METRICS, PRETRAINED, run_dir
from crosslingual.store.locks import process_start

CFG = make_config("smoke", steps=12, n_checkpoints=4, keep_checkpoints=3)
HOST = socket.gethostname()
T = TypeVar("T")


def within(seconds: float, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` , failing the test (rather than hanging the suite) when it blocks for ``seconds``: it runs in a
    daemon thread, since a signal cannot be relied on to interrupt a blocked open() (any thread may receive it)."""
    out: list = []
    worker = threading.Thread(target=lambda: out.append(_outcome(fn, *args)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert out, f"{fn.__name__} blocked for {seconds} s"
    value, error = out[0]
    if error is not None:
        raise error
    return value


def quietly(cfg):
    return get_or_train(cfg, progress=False)


def _outcome(fn: Callable[..., T], *args: Any) -> tuple[T | None, BaseException | None]:
    try:
        return fn(*args), None
    except BaseException as err:  # noqa: BLE001 -- re-raised in the test's thread
        return None, err


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen]:
    """A live process of this host that has nothing to do with crosslingual (a shell, say)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait()


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


# ------------------------------------------------------------------------------------------------ locks
def test_a_lock_records_its_owner_s_start_time(store):
    d = run_dir(CFG)
    d.mkdir(parents=True)
    assert locks.try_lock(d)
    try:
        host, pid, start = (d / LOCK).read_text().split()
        assert (host, int(pid), start) == (HOST, os.getpid(), process_start(os.getpid()))
    finally:
        locks.release_lock(d)


@pytest.mark.parametrize("case", ["pid 1, an old lock without start time", "a live shell, 2 h, no start time",
                                  "a live shell, fresh, another start time"])
def test_a_lock_naming_a_live_process_that_is_not_its_owner_is_taken_over(store, sleeper, case):
    d = run_dir(CFG)
    d.mkdir(parents=True)
    lock = d / LOCK
    if case.startswith("pid 1"):
        lock.write_text(f"{HOST} 1")
        _age(lock, 3600)
    elif "2 h" in case:
        lock.write_text(f"{HOST} {sleeper.pid}")
        _age(lock, 7200)
    else:  # the pid was recycled: it is alive, but it is not the process that wrote the lock
        lock.write_text(f"{HOST} {sleeper.pid} {process_start(sleeper.pid)}0")
    assert list_runs().state[0].startswith("unfinished")  # what runs ls says, and what lets gc collect it
    with pytest.warns(UserWarning, match="taking over its lock"):
        run = within(60, quietly, CFG)  # it waited for ever
    assert not verify_run(run.path) and not lock.exists()


def test_a_live_owner_identified_by_its_start_time_is_waited_for_however_old_its_heartbeat(store, sleeper):
    d = run_dir(CFG)
    d.mkdir(parents=True)
    (d / LOCK).write_text(f"{HOST} {sleeper.pid} {process_start(sleeper.pid)}")
    _age(d / LOCK, 7200)  # a suspended owner (Ctrl-Z) stops its heartbeat but still owns the run
    assert list_runs().state[0].startswith("training")
    assert not locks.try_lock(d)
    sleeper.kill()
    sleeper.wait()
    with pytest.warns(UserWarning, match=f"process {sleeper.pid} on this host is gone"):
        assert locks.try_lock(d)
    locks.release_lock(d)


def test_a_fresh_lock_without_start_time_of_a_live_pid_is_respected(store, sleeper):
    """An older version's lock: only its heartbeat tells that its owner lives, so a fresh one is waited for."""
    d = run_dir(CFG)
    d.mkdir(parents=True)
    (d / LOCK).write_text(f"{HOST} {sleeper.pid}")
    assert not locks.try_lock(d)
    _age(d / LOCK, locks.LOCK_STALE_S + 5)
    with pytest.warns(UserWarning, match="a pid alone does not prove its owner is alive"):
        assert locks.try_lock(d)
    locks.release_lock(d)


# -------------------------------------------------------------------------- what is not a regular file
def test_read_regular_refuses_a_fifo_without_blocking(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(NotRegularFile):
        within(20, read_regular, fifo)
    with pytest.raises(NotRegularFile):
        read_regular(tmp_path)
    (tmp_path / "f").write_bytes(b"ok")
    assert read_regular(tmp_path / "f") == b"ok"


@pytest.mark.parametrize("where", [DONE, "config.json", METRICS, LOCK, "checkpoints/step_0000012.safetensors",
                                   "notes"])
def test_a_fifo_in_a_run_is_flagged_and_hangs_no_command(store, where, capsys):
    run = get_or_train(CFG, progress=False)
    target = run.path / where
    target.unlink(missing_ok=True)
    os.mkfifo(target)
    assert within(20, cli, ["runs", "ls"]) == 0
    code = within(20, cli, ["runs", "verify"])
    out = capsys.readouterr().out
    if where == LOCK:  # not data: a finished run's lock is ignored (and taken over if anyone asks)
        assert code == 0 and "0 damaged" in out
        return
    assert code == 1 and f"{run.path.name}:" in out and "1 damaged" in out, out
    integrity._VERIFIED.clear()
    with pytest.warns(UserWarning, match="is damaged"):
        again = within(60, quietly, CFG)  # quarantined and recomputed, never read
    assert not verify_run(again.path)


def test_a_folder_named_like_a_checkpoint_is_damage(store, capsys):
    run = get_or_train(CFG, progress=False)
    (run.path / "checkpoints" / "step_9999999.safetensors").mkdir()
    assert any("step_9999999.safetensors is not in the manifest (a directory)" in p for p in verify_run(run.path))
    assert cli(["runs", "verify"]) == 1 and "1 damaged" in capsys.readouterr().out
    integrity._VERIFIED.clear()
    with pytest.warns(UserWarning, match="is damaged"):
        again = get_or_train(CFG, progress=False)
    assert again.steps == sorted(again.steps) and 9999999 not in again.steps
    again.load_model()


def test_a_damaged_run_in_a_store_that_cannot_be_written_is_one_error(store, monkeypatch, capsys):
    run = get_or_train(CFG, progress=False)
    (run.path / METRICS).write_bytes(b"damaged")
    integrity._VERIFIED.clear()

    def read_only(src, dst):
        raise OSError(errno.EROFS, "Read-only file system", str(src))

    monkeypatch.setattr(os, "replace", read_only)
    with pytest.raises(StoreError, match=f"run {run.path.name} is damaged .* and cannot be moved aside"):
        get_or_train(CFG, progress=False)
    code = cli(["run", "--profile", "smoke", "steps=12", "n_checkpoints=4", "keep_checkpoints=3"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Read-only file system" in err and "Traceback" not in err, err
    monkeypatch.undo()
    assert (run.path / METRICS).read_bytes() == b"damaged"  # neither served nor moved nor deleted


# ------------------------------------------------------------------------------------ garbage collection
def test_gc_lists_a_dead_conversion_s_temporary_folder(store):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    folder = store / PRETRAINED / f".gemma-3-270m-0123456789ab.{dead.stdout.strip()}.tmp"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"x" * 100)
    live = store / PRETRAINED / f".smollm2-135m-0123456789ab.{os.getpid()}.tmp"  # a conversion in progress
    live.mkdir()
    assert gc_store() == []  # too young: a writer on another host may still be at it
    for f in (folder, live):
        _age(f, locks.LOCK_STALE_S + 5)
    assert gc_store() == [folder]
    assert gc_store(dry_run=False) == [folder]
    assert not folder.exists() and live.exists()
    assert verify_store() == {}
