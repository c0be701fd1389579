"""Workers end with the process that started them, whatever ends it: a sweep killed by SIGKILL, a sweep stopped by
SIGTERM or Ctrl-C (at once, not after its running runs, exit status 130), ``map_runs`` in a killed process, and
the book's chapter workers with the kernels and workers under them. A stopped sweep leaves its runs resumable.

Each test starts its processes in a session of its own, on a run store of its own, and kills whatever it
started and finds still alive when it ends."""

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

psutil = pytest.importorskip("psutil")
pytestmark = pytest.mark.slow  # trains runs, starts kernels

# two runs that train for about 8 s each in a worker, checkpointed often (resumable beyond step 0 at once)
GRID = """
profile: smoke
seeds: 1
fixed: {steps: 3000, n_checkpoints: 20, keep_checkpoints: 2}
sweeps:
  - name: parallel_fraction
    product: {parallel_fraction: [0.2, 0.6]}
"""
GONE_WITHIN_S = 5  # ipykernel notices a dead parent within 1 s; PR_SET_PDEATHSIG at once

NAP = '''
import os
import time
from pathlib import Path


def nap(run, seconds):
    """A call that runs until it is ended, after saying (a file named by its pid) that it started."""
    Path(run.path, str(os.getpid())).touch()
    time.sleep(seconds)
'''


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def _alive(proc: psutil.Process) -> bool:
    """Running, not merely a zombie that nobody has reaped yet (an orphan's new parent may be slow to)."""
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _spawn_workers(pid: int) -> list[psutil.Process]:
    return [p for p in _descendants(pid) if "spawn_main" in " ".join(p.cmdline())]


def _assert_all_end(procs: list[psutil.Process]) -> None:
    try:
        _wait(lambda: not any(map(_alive, procs)), GONE_WITHIN_S, "the workers to end")
    except TimeoutError:
        left = [(p.pid, " ".join(p.cmdline())[:80]) for p in procs if _alive(p)]
        pytest.fail(f"{len(left)} process(es) outlived their parent by {GONE_WITHIN_S} s: {left}")


@pytest.fixture
def started():
    """The processes a test starts (and those it finds under them), killed at its end if still alive."""
    procs: list[psutil.Process] = []
    yield procs
    for p in procs:
        if _alive(p):
            p.kill()


def _past_step_0(run: Path) -> bool:
    """Resumable beyond step 0: the metrics may run one checkpoint ahead of the saved state, so two checkpoints
    past step 0 in the metrics mean the state is past it too."""
    try:
        return (run / "state.safetensors").exists() and \
            (pd.read_parquet(run / "metrics.partial.parquet").step.unique() > 0).sum() >= 2
    except (OSError, ValueError):  # not written yet
        return False


def _training(store: Path, n: int) -> bool:
    """``n`` runs being trained, each with resumable state beyond step 0."""
    return sum(_past_step_0(lock.parent) for lock in store.glob("*/lock")) >= n


def _default_sigint() -> None:
    """SIGINT as a terminal delivers it. A test suite started in the background (``make test &``, ``nohup``)
    inherits SIGINT ignored, and so would the process under test: Python then installs no KeyboardInterrupt
    handler, and a sweep sent SIGINT would train on as a background job should, instead of stopping."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(argv: list[str], env: dict, started: list, err: Path, **kwargs) -> subprocess.Popen:
    """A process in a session of its own, its stderr in ``err`` (a pipe would be held open by any worker that
    outlives it), with SIGINT's default disposition whatever the suite's."""
    with err.open("w") as stderr:
        proc = subprocess.Popen(argv, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=stderr,
                                preexec_fn=_default_sigint, **kwargs)
    started.append(psutil.Process(proc.pid))
    return proc


def _start_sweep(tmp_path: Path, started: list) -> tuple[subprocess.Popen, list[psutil.Process], dict]:
    """A ``crosslingual sweep`` of two runs on two workers, once both train."""
    (tmp_path / "grid.yaml").write_text(GRID)
    env = {**os.environ, "CROSSLINGUAL_RUNS": str(tmp_path / "runs"), "OMP_NUM_THREADS": "1"}
    sweep = _start([sys.executable, "-m", "crosslingual.cli", "sweep", str(tmp_path / "grid.yaml"), "--workers",
                    "2", "--together", "1"], env, started, tmp_path / "err.txt")
    _wait(lambda: _training(tmp_path / "runs", 2), 60, "both runs to train")
    workers = _spawn_workers(sweep.pid)
    started.extend(workers)
    assert len(workers) == 2, workers
    return sweep, workers, env


def test_a_sweep_s_workers_die_with_it_when_it_is_killed(tmp_path, started):
    sweep, workers, _ = _start_sweep(tmp_path, started)
    sweep.send_signal(signal.SIGKILL)
    sweep.wait(timeout=10)
    _assert_all_end(workers)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_sweep_ends_its_workers_at_once_and_resumes(tmp_path, started, signum):
    sweep, workers, env = _start_sweep(tmp_path, started)
    start = time.monotonic()
    sweep.send_signal(signum)
    sweep.wait(timeout=30)
    assert time.monotonic() - start < 3, "the sweep waited for its running runs"
    err = (tmp_path / "err.txt").read_text()
    assert sweep.returncode == 130 and err.endswith("crosslingual sweep: interrupted\n"), err
    assert "Traceback" not in err and "Warning" not in err, err
    _assert_all_end(workers)

    again = subprocess.run([sys.executable, "-m", "crosslingual.cli", "sweep", str(tmp_path / "grid.yaml"),
                            "--workers", "2", "--together", "1"], check=False, env=env, capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0 and "2 runs: 2 done, 0 failed" in again.stdout, again.stdout + again.stderr
    resumed = [json.loads(done.read_text())["resumed_from_step"] for done in (tmp_path / "runs").glob("*/DONE")]
    assert len(resumed) == 2 and all(step > 0 for step in resumed), resumed


def _run_until_killed(tmp_path: Path, started: list, script: str, n_calls: int) -> None:
    """Run ``script`` (beside ``nap``), wait until ``n_calls`` naps have started, SIGKILL it, and check that every
    process under it ends."""
    (tmp_path / "napping.py").write_text(NAP)
    (tmp_path / "script.py").write_text(script)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])),
           "CROSSLINGUAL_RUNS": str(tmp_path / "store")}
    top = _start([sys.executable, str(tmp_path / "script.py")], env, started, tmp_path / "err.txt", cwd=tmp_path)
    _wait(lambda: top.poll() is not None or len(list((tmp_path / "runs").glob("*/*"))) >= n_calls, 90,
          "the naps to start")
    assert top.poll() is None, (tmp_path / "err.txt").read_text()
    under = _descendants(top.pid)
    started.extend(under)
    top.kill()
    top.wait(timeout=10)
    _assert_all_end(under)


RUNS = "[Run(Path('runs', str(i))) for i in range(2)]"


def test_map_runs_workers_die_with_their_parent(tmp_path, started):
    for i in range(2):
        (tmp_path / "runs" / str(i)).mkdir(parents=True)
    _run_until_killed(tmp_path, started, f"""
from pathlib import Path

from crosslingual.store.per_run import map_runs
from crosslingual.store.runs import Run
from napping import nap

if __name__ == "__main__":
    map_runs(nap, {RUNS}, workers=2, progress=False, seconds=120)
""", n_calls=2)


def test_a_killed_book_takes_its_kernels_and_their_workers_with_it(tmp_path, started):
    """A chapter's notebook whose kernel runs ``map_runs``: book process -> chapter worker -> kernel (a session of
    its own, out of reach of a signal to the book's process group) -> two workers."""
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("papermill")
    for i in range(2):
        (tmp_path / "runs" / str(i)).mkdir(parents=True)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from pathlib import Path\nfrom crosslingual.store.per_run import map_runs\n"
        "from crosslingual.store.runs import Run\n"
        f"from napping import nap\nmap_runs(nap, {RUNS}, workers=2, progress=False, seconds=120)")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "chapter.ipynb")
    _run_until_killed(tmp_path, started, f"""
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from crosslingual.render import build

if __name__ == "__main__":
    tmp = {str(tmp_path)!r}
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        pool.submit(build._execute_one, tmp + "/chapter.ipynb", tmp + "/out.ipynb", tmp, {{}}, tmp + "/usage",
                    tmp + "/claims").result()
""", n_calls=2)
