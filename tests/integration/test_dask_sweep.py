"""A real Dask cluster on loopback: scheduler and two workers as separate processes, one worker killed (SIGKILL)
while it trains a run; the sweep must still end with every run done exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from crosslingual.store.admin import verify_store
from crosslingual.store.grids import Grid
from crosslingual.store.integrity import is_done
from crosslingual.store.layout import DONE

distributed = pytest.importorskip("distributed")

GRID = """
profile: smoke
seeds: 2
fixed: {steps: 600, n_checkpoints: 8, keep_checkpoints: 2}
sweeps:
  - name: parallel_fraction
    product: {parallel_fraction: [0.2, 0.4, 0.6]}
"""


def _wait(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def _training_past_step_0(store: Path) -> tuple[Path, int] | None:
    """A run being trained that has saved resumable state beyond step 0, and the pid of its trainer."""
    for lock in store.glob("*/lock"):
        try:
            _, pid, *_ = lock.read_text().split()  # host, pid and its start time
            # the metrics may run one checkpoint ahead of the saved state: two checkpoints past step 0 mean the
            # state is past it too
            resumable = (lock.parent / "state.safetensors").exists() and \
                (pd.read_parquet(lock.parent / "metrics.partial.parquet").step.unique() > 0).sum() >= 2
        except (OSError, ValueError):
            continue
        if resumable:
            return lock.parent, int(pid)
    return None


def test_two_worker_cluster_finishes_every_run_once_after_a_worker_is_killed(tmp_path):
    store, grid_file, scheduler_file = tmp_path / "runs", tmp_path / "grid.yaml", tmp_path / "scheduler.json"
    grid_file.write_text(GRID)
    env = {**os.environ, "CROSSLINGUAL_RUNS": str(store), "OMP_NUM_THREADS": "1"}
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)], **quiet)]
    try:
        _wait(lambda: scheduler_file.exists() and scheduler_file.stat().st_size, 60, "the scheduler")
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        workers = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                                     str(scheduler_file), "--nthreads", "1", "--no-nanny", "--no-dashboard",
                                     "--name", f"w{i}"], **quiet) for i in range(2)]
        procs += workers
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)

        sweep = subprocess.Popen([sys.executable, "-m", "crosslingual.cli", "sweep", str(grid_file), "--scheduler",
                                  address], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        procs.append(sweep)
        victim_run, victim_pid = _wait(lambda: _training_past_step_0(store), 120, "a run with resumable state")
        victim = {w.pid: w for w in workers}[victim_pid]  # the trainer is a worker process
        os.kill(victim_pid, signal.SIGKILL)
        victim.wait(timeout=30)
        out, _ = sweep.communicate(timeout=240)
        assert sweep.returncode == 0, out
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=30)

    configs = [cfg for *_, cfg in Grid.load(grid_file).expand()]
    assert "6 runs: 6 done, 0 failed" in out, out
    assert all(is_done(cfg, store) for cfg in configs)
    assert sorted(p.name for p in store.glob("[0-9a-f]*")) == sorted(cfg.hash() for cfg in configs)
    assert not verify_store(store) and not (store / ".quarantine").exists()
    info = json.loads((victim_run / DONE).read_text())
    assert info["pid"] != victim_pid and info["resumed_from_step"] > 0  # taken over, resumed, finished once
