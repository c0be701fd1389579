"""Nothing lost, nothing ambiguous: killed runs resume exactly, concurrent requests train once, damaged runs
are detected and recomputed (never silently used), and nothing is unpickled."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from crosslingual.cli import main as cli
from crosslingual.core.config import make_config
from crosslingual.core.train import checkpoint_steps
from crosslingual.store import integrity, locks
from crosslingual.store.admin import list_runs
from crosslingual.store.fetch import get_or_train
from crosslingual.store.integrity import verify_run
from crosslingual.store.layout import DONE, STATE, run_dir
from crosslingual.store.locks import release_lock, try_lock

SRC = Path(__file__).resolve().parents[2] / "src"
LONG = make_config("smoke", steps=1500, n_checkpoints=12, keep_checkpoints=6)
SHORT = make_config("smoke", steps=50)


def _spawn(cfg, root: Path) -> subprocess.Popen:
    """A real training process: what a user's notebook or sweep worker does."""
    code = ("import json, os, sys, torch; torch.set_num_threads(1)\n"
            "from crosslingual.core.config import RunConfig\nfrom crosslingual.store.fetch import get_or_train\n"
            "run = get_or_train(RunConfig.from_dict(json.loads(sys.argv[1])), progress=False)\n"
            "print('trained' if run.info['pid'] == os.getpid() else 'reused', flush=True)\n")
    env = {**os.environ, "CROSSLINGUAL_RUNS": str(root)}
    return subprocess.Popen([sys.executable, "-c", code, json.dumps(cfg.to_dict())], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_mid_run_then_restart_gives_the_uninterrupted_result(tmp_path):
    reference = get_or_train(LONG, progress=False, root=tmp_path / "reference").metrics
    root = tmp_path / "killed"
    proc = _spawn(LONG, root)
    state = run_dir(LONG, root) / STATE
    deadline = time.time() + 120
    while not state.exists():  # wait for the first resumable checkpoint, then kill without warning
        assert proc.poll() is None and time.time() < deadline, proc.stderr.read() if proc.poll() else "timeout"
        time.sleep(0.02)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run_dir(LONG, root) / DONE).exists(), "the run finished before it could be killed"
    assert (run_dir(LONG, root) / "lock").exists()  # left behind by the dead process
    restarted = _spawn(LONG, root)
    out, err = restarted.communicate(timeout=300)
    assert restarted.returncode == 0, err
    resumed = get_or_train(LONG, progress=False, root=root).metrics
    pd.testing.assert_frame_equal(resumed, reference)  # bit-identical on CPU


def test_two_processes_asking_for_one_run_train_it_once(tmp_path):
    cfg = make_config("smoke", steps=400)
    procs = [_spawn(cfg, tmp_path) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    assert sorted(o.strip() for o, _ in outs) == ["reused", "trained"]
    assert not verify_run(run_dir(cfg, tmp_path))


@pytest.mark.parametrize("damage", ["truncate checkpoint", "corrupt metrics", "delete checkpoint", "garble DONE"])
def test_a_damaged_run_is_quarantined_and_recomputed_with_a_warning(store, damage):
    original = get_or_train(SHORT, progress=False)
    reference = original.metrics
    d = original.path
    ckpt = sorted((d / "checkpoints").glob("*.safetensors"))[-1]
    if damage == "truncate checkpoint":
        ckpt.write_bytes(ckpt.read_bytes()[:100])
    elif damage == "corrupt metrics":
        data = bytearray((d / "metrics.parquet").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (d / "metrics.parquet").write_bytes(bytes(data))
    elif damage == "delete checkpoint":
        ckpt.unlink()
    else:
        (d / DONE).write_text("{not json")
    integrity._VERIFIED.clear()  # a new process would verify afresh
    with pytest.warns(UserWarning, match=f"run {SHORT.hash()} is damaged .*moved to .*quarantine"):
        again = get_or_train(SHORT, progress=False)
    pd.testing.assert_frame_equal(again.metrics, reference)
    assert not verify_run(again.path)
    assert len(list((store / ".quarantine").iterdir())) == 1  # the damaged copy is kept, not deleted


def test_unreadable_resume_state_restarts_the_run_with_a_warning(store):
    d = run_dir(SHORT)
    d.mkdir(parents=True)
    (d / STATE).write_bytes(b"garbage")
    (d / "metrics.partial.parquet").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="could not resume"):
        run = get_or_train(SHORT, progress=False)
    pd.testing.assert_frame_equal(run.metrics, get_or_train(SHORT, progress=False, root=store.parent / "b").metrics)


def test_a_stale_lock_is_taken_over_and_a_live_one_is_respected(store):
    d = run_dir(SHORT)
    d.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (d / "lock").write_text(f"{os.uname().nodename} {dead.stdout.strip()}")
    assert try_lock(d)  # the owner is dead
    assert not try_lock(d)  # now we (alive) hold it
    release_lock(d)


def test_a_lock_of_another_host_is_stale_only_when_its_heartbeat_stopped(store, monkeypatch):
    d = run_dir(SHORT)
    d.mkdir(parents=True)
    lock = d / "lock"
    lock.write_text("some-cluster-node 4242")
    assert not try_lock(d)  # fresh: its owner may be training on that node
    os.utime(lock, (time.time() - locks.LOCK_STALE_S - 5,) * 2)
    assert try_lock(d)  # not refreshed for LOCK_STALE_S: the node died
    release_lock(d)
    monkeypatch.setattr(locks, "LOCK_HEARTBEAT_S", 0.05)
    assert try_lock(d)
    os.utime(lock, (time.time() - 1000,) * 2)
    time.sleep(0.3)
    assert time.time() - lock.stat().st_mtime < 1  # our own heartbeat keeps it fresh
    release_lock(d)
    assert not lock.exists()


def test_partial_writes_are_never_visible(store):
    run = get_or_train(SHORT, progress=False)
    assert not list(run.path.rglob("*.tmp"))
    assert json.loads((run.path / DONE).read_text())["manifest"]


def test_disk_use_is_bounded_by_keep_checkpoints(store):
    run = get_or_train(LONG, progress=False)
    assert len(run.steps) == LONG.train.keep_checkpoints < LONG.train.n_checkpoints
    assert run.steps[0] == 0 and run.steps[-1] == LONG.train.steps
    assert sorted(run.metrics.step.unique()) == checkpoint_steps(LONG.train.steps, LONG.train.n_checkpoints)


def test_runs_cli_lists_verifies_and_collects(store, capsys):
    good = get_or_train(SHORT, progress=False)
    unfinished = run_dir(make_config("smoke", steps=51))
    unfinished.mkdir(parents=True)
    (unfinished / "config.json").write_text(json.dumps({"config": make_config("smoke", steps=51).to_dict()}))
    assert cli(["runs", "ls"]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"{good.path.name}\s+done", out) and re.search(rf"{unfinished.name}\s+unfinished", out)
    assert set(list_runs().state) == {"done", "unfinished"}
    assert cli(["runs", "verify"]) == 0
    assert cli(["runs", "gc"]) == 0 and unfinished.exists()  # a dry run by default
    assert cli(["runs", "gc", "--yes"]) == 0 and not unfinished.exists() and good.path.exists()
    ckpt = sorted((good.path / "checkpoints").glob("*"))[0]
    ckpt.write_bytes(b"x")
    assert cli(["runs", "verify"]) == 1
    assert "does not match its checksum" in capsys.readouterr().out


def test_nothing_is_unpickled():
    """Weights are safetensors, tables parquet, the rest JSON: no pickle, and any torch.load is weights_only."""
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        assert "import pickle" not in text and "pickle.load" not in text, path
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, (path, call)
