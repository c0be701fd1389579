"""What a new user, or a hostile tester, types: every user error is one line naming what is wrong, exit status 2,
and never a traceback; destructive commands never remove what they did not provably create."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crosslingual.cli import main as cli
from crosslingual.core.config import RESULT_FORMAT_VERSION, make_config

ROOT = Path(__file__).resolve().parents[2]


def _grid(tmp_path: Path, text: str) -> str:
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    return str(path)


# Each case: argv (with {tmp} for a scratch directory) -> a regex the one-line message must match. None of them
# trains anything: every one fails during validation, before any work.
CASES = [
    (["run", "--profile", "huge"], r"profile='huge' is not allowed"),
    (["run", "--profile", "smoke", "parallel_fraction=NaN"], r"parallel_fraction=nan must be a finite number"),
    (["run", "--profile", "smoke", "parallel_fraction=Infinity"], r"parallel_fraction=inf must be a finite"),
    (["run", "--profile", "smoke", "align_weight=NaN"], r"align_weight=nan must be a finite number"),
    (["run", "--profile", "smoke", "lr=-Infinity"], r"lr=-inf must be a finite number"),
    (["run", "--profile", "smoke", "weight_decay=NaN"], r"weight_decay=nan must be a finite"),
    (["run", "--profile", "smoke", "steps=x"], r"steps='x' must be an integer"),
    (["run", "--profile", "smoke", "steps=2.5"], r"steps=2\.5 must be an integer"),
    (["run", "--profile", "smoke", "paralel_fraction=0.5"], r"unknown parameter 'paralel_fraction'"),
    (["run", "--profile", "smoke", "=3"], r"override '=3' must look like name=value"),
    (["run", "--profile", "smoke", "steps"], r"override 'steps' must look like name=value"),
    (["run", "--profile", "smoke", "steps=1", "steps=2"], r"override 'steps' is given twice"),
    (["run", "--profile", "smoke", "language_marker=yes"], r"language_marker='yes' must be a boolean"),
    (["run", "--profile", "smoke", "scripts=latin,klingon"], r"scripts='klingon' is not allowed"),
    (["run", "--profile", "smoke", "n_entities=100000"], r"need [\d,]+ distinct names by language 1"),
    (["run", "--profile", "smoke", "n_relations=1000", "n_values=300"], r"distinct names by language 0"),
    (["run", "--profile", "smoke", "--device", "tpu"], r"device='tpu' is not allowed"),
    (["run", "--profile", "smoke", "steps=None"], r"steps=None must be an integer"),
    (["run", "--profile", "smoke", "seed=-1"], r"seed=-1 is out of range"),
    (["run", "--frobnicate"], r"unrecognized arguments: --frobnicate"),
    (["frobnicate"], r"invalid choice: 'frobnicate'"),
    ([], r"the following arguments are required: COMMAND"),
    (["sweep"], r"the following arguments are required: grid \(see"),  # not "grid, overrides"
    (["sweep", "informaton"], r"neither a file nor a study; studies: cue_isolation, exposure"),
    (["sweep", "{tmp}/missing.yaml"], r"missing\.yaml: cannot read the grid file"),
    (["sweep", "{tmp}"], r"cannot read the grid file"),
    (["sweep", "information", "--workers", "x"], r"argument --workers: invalid int value: 'x'"),
    (["sweep", "information", "--workers", "0", "--profile", "smoke"], r"--workers=0 is out of range"),
    (["sweep", "information", "--workers", "-3", "--profile", "smoke"], r"--workers=-3 is out of range"),
    (["sweep", "information", "--together", "0", "--profile", "smoke"], r"--together=0 is out of range"),
    (["sweep", "information", "--together", "2.5", "--profile", "smoke"], r"argument --together: invalid int"),
    (["sweep", "information", "--seeds", "0", "--profile", "smoke"], r"seeds=0 is out of range"),
    (["sweep", "information", "--profile", "huge"], r"profile='huge'"),
    (["sweep", "information", "--backend", "ray"], r"argument --backend: invalid choice: 'ray'"),
    (["sweep", "information", "--profile", "smoke", "steps=0"], r"information: sweeps\[0\] \(parallel_fraction\): "
                                                                 r"steps=0 is out of range"),
    (["sweep", "information", "steps=0", "--workers", "1", "--profile", "smoke"], r"steps=0 is out of range"),
    (["sweep", "information", "--profile", "smoke", "parallel_fraction=NaN"], r"parallel_fraction=nan must be"),
    (["sweep", "information", "--profile", "smoke", "seed=3"], r"override 'seed' is not a knob of a sweep: use --seed"),
    (["sweep", "information", "profile=smoke"], r"override 'profile' is not a knob of a sweep: use --profile"),
    (["cldr", "--out", "{tmp}/facts.csv"], r"--out .*facts\.csv: the extension decides the format; use \.parquet"),
    (["cldr", "--out", "{tmp}/facts"], r"the extension decides the format"),
    (["cldr", "--out", "{tmp}/dir.json"], r"dir\.json is a directory"),
    (["calibrate", "--out", "{tmp}/table.txt"], r"--out .*table\.txt: the extension decides the format; use \.md"),
    (["calibrate", "--out", "{tmp}/t.md", "--workers", "0"], r"--workers=0 is out of range"),
    (["runs", "frob"], r"argument action: invalid choice: 'frob'"),
    (["runs", "gc", "--force"], r"unrecognized arguments: --force"),
    (["book", "--profile", "huge", "--root", "{tmp}"], r"profile='huge' is not allowed"),
    (["book", "--root", "{tmp}", "--out", "{tmp}/out"], r"--root .* is not a crosslingual book checkout"),
    (["book", "--root", str(ROOT), "--out", str(ROOT)], r"--out .* contains the book's sources"),
    (["book", "--root", str(ROOT), "--out", str(ROOT.parent)], r"contains the book's sources"),
    (["book", "--root", str(ROOT), "--out", str(ROOT / "book" / "copy")], r"lies inside .*book, which the book"),
    (["book", "--root", str(ROOT), "--out", "{tmp}/nonempty"], r"is not empty and is not a book built by"),
    (["book", "--root", str(ROOT), "--out", "{tmp}/afile"], r"--out .*afile is a file"),
    (["book", "--root", str(ROOT), "--out", "{tmp}/ch", "--chapter", "99"], r"chapter '99' does not exist: choose one"),
    (["book", "--root", str(ROOT), "--out", "{tmp}/ch", "seeds=3"], r"parameters \(name=value\) need --chapter"),
    (["book", "--root", str(ROOT), "--out", "{tmp}/ch", "--chapter", "4", "sedes=3"],
     r"04_exposure_control has no parameter 'sedes'"),
    (["book", "--root", str(ROOT), "--out", "{tmp}/ch", "--chapter", "4", "seeds=x"], r"seeds='x' must be an integer"),
    (["book", "--root", str(ROOT), "--out", "{tmp}/ch", "--chapter", "4", "profile=smoke"], r"use --profile"),
    (["book", "--root", str(ROOT), "--out", "{tmp}/ch", "--chapter", "4", "-p", "seeds=3", "seeds=4"],
     r"override 'seeds' is given twice"),
    (["book", "--root", str(ROOT), "--out", "{tmp}/ch", "--chapter", "4", "-p", "sedes=3"], r"no parameter 'sedes'"),
    # the hostile tester's second round: each was a traceback, a misleading message or a wait
    (["run", "--profile", "smoke", "scripts=5"], r"scripts=5 must be a list with one entry per language"),
    (["run", "--profile", "smoke", "word_orders=3"], r"word_orders=3 must be a list with one entry per language"),
    (["cldr", "--out", "{tmp}/afile/facts.parquet"], r"--out .*afile/facts\.parquet: .*afile is a file, not a direc"),
    (["calibrate", "--out", "{tmp}/afile/table.md"], r"afile is a file, not a directory"),
    (["sweep", "{tmp}/twice.yaml", "--profile", "smoke"], r"twice\.yaml: sweeps\[1\] \(a\): level 1 is also the level "
                                                          r"of sweeps\[0\], of the same name"),
    (["sweep", "{tmp}/huge.yaml", "--profile", "smoke"], r"huge\.yaml: sweeps\[0\] \(x\): steps=\d+ is out of range"),
    (["sweep", "mygrid"], r"'mygrid' is neither a file nor a study; .*for the file mygrid here, write \./mygrid"),
    (["sweep", "information", "--profile", "smoke", "--scheduler", "not-a-url"],
     r"scheduler='not-a-url' .*is not allowed: a Dask scheduler's address"),
    (["sweep", "information", "--profile", "smoke", "--scheduler", "127.0.0.1:8786"], r"tcp://HOST:PORT"),
    (["book", "--root", str(ROOT), "--out", "{tmp}/ch", "--chapter", "8", "hf_model={tmp}/nonexistent"],
     r"hf_model='.*nonexistent' is not a local directory"),
    (["book", "--root", str(ROOT), "--out", "{tmp}/ch", "--chapter", "9", "-p", "hf_model={tmp}/dir.json"],
     r"hf_model='.*dir\.json' has no config\.json"),
]


def _prepare(tmp_path: Path) -> None:
    (tmp_path / "dir.json").mkdir()
    (tmp_path / "twice.yaml").write_text("sweeps:\n  - {name: a, level: 1}\n"
                                         "  - {name: a, level: 1, fixed: {lr: 1.0e-3}}\n")
    (tmp_path / "huge.yaml").write_text("scale: {steps: 1.0e12}\nsweeps: [{name: x}]\n")
    (tmp_path / "nonempty").mkdir()
    (tmp_path / "nonempty" / "thesis.tex").write_text("a user's work")
    (tmp_path / "afile").write_text("x")


@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(a) or "(nothing)" for a, _ in CASES])
def test_a_user_error_is_one_line_exit_2_and_no_traceback(argv, message, tmp_path, capsys, store, monkeypatch):
    _prepare(tmp_path)
    monkeypatch.chdir(tmp_path)  # where a file may shadow a study's name
    (tmp_path / "information").mkdir()
    (tmp_path / "mygrid").write_text("sweeps: [{name: x}]\n")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    try:
        code = cli(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert re.search(message, err), err
    assert (tmp_path / "nonempty" / "thesis.tex").exists()  # nothing of the user's is touched


@pytest.mark.parametrize("value", ["yes", "true", "2"])
def test_a_bad_first_designs_setting_stops_the_book_before_any_work(value, tmp_path, capsys, store, monkeypatch):
    from crosslingual.render.chapters import FIRST_DESIGNS_ENV

    monkeypatch.setenv(FIRST_DESIGNS_ENV, value)
    assert cli(["book", "--root", str(ROOT), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{FIRST_DESIGNS_ENV}={value!r} is not allowed: choose '1'" in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5", "100000", "\u00b2", "\u0663"])
def test_a_bad_worker_count_stops_the_book_before_any_work(value, tmp_path, capsys, store, monkeypatch):
    from crosslingual.store.sweep import WORKERS_ENV

    monkeypatch.setenv(WORKERS_ENV, value)
    assert cli(["book", "--root", str(ROOT), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{WORKERS_ENV}={value!r} is not allowed: a whole number from 1 to 1024" in err, err
    assert "Traceback" not in err and not (tmp_path / "out").exists(), err


def test_the_table_grew_by_forty_cases_and_then_by_the_second_round():
    assert len(CASES) >= 71


def test_options_and_overrides_come_in_any_order(store, capsys):
    assert cli(["run", "steps=3", "n_checkpoints=2", "keep_checkpoints=2", "--profile", "smoke", "warmup_steps=0"]) == 0
    assert "run " in capsys.readouterr().out
    # True/False as Python writes them are accepted as well as JSON's true/false
    assert cli(["run", "--profile", "smoke", "steps=3", "n_checkpoints=2", "keep_checkpoints=2", "warmup_steps=0",
                "language_marker=True"]) == 0


def test_version():
    out = subprocess.run([sys.executable, "-m", "crosslingual.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("crosslingual ")


def test_an_unreadable_store_is_one_line(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "runs"
    bad.write_text("a file")
    monkeypatch.setenv("CROSSLINGUAL_RUNS", str(bad))
    for argv in (["runs", "ls"], ["runs", "gc"], ["runs", "verify"],
                 ["run", "--profile", "smoke", "steps=3", "n_checkpoints=2", "keep_checkpoints=2", "warmup_steps=0"]):
        assert cli(argv) == 2
        err = capsys.readouterr().err
        assert f"run store {bad} is a file" in err and err.count("\n") == 1, err


def test_equal_configurations_hash_equally():
    import numpy as np

    assert make_config("smoke", weight_decay=1).hash() == make_config("smoke", weight_decay=1.0).hash()
    assert make_config("smoke", lr=np.float64(0.003)).hash() == make_config("smoke", lr=0.003).hash()
    assert make_config("smoke", n_entities=np.int64(40)).hash() == make_config("smoke").hash()
    listed, joined = make_config("smoke", scripts=["greek", "hebrew"]), make_config("smoke", scripts="greek,hebrew")
    assert listed.hash() == joined.hash()
    assert make_config("smoke", attribute_association=-0.0).hash() == make_config("smoke").hash()
    assert make_config("smoke", language_marker=np.bool_(False)).hash() == make_config("smoke").hash()
    assert type(make_config("smoke", weight_decay=1).train.weight_decay) is float


# --------------------------------------------------------------------------------------- runs gc
def _unfinished(root: Path, **overrides) -> Path:
    cfg = make_config("smoke", **overrides)
    d = root / cfg.hash()
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"hash": cfg.hash(), "format": RESULT_FORMAT_VERSION,
                                               "config": cfg.to_dict()}))
    return d


def test_gc_removes_only_provably_unfinished_runs(store, tmp_path, capsys):
    from crosslingual.store.fetch import get_or_train

    done = get_or_train(make_config("smoke", steps=3, n_checkpoints=2, keep_checkpoints=2, warmup_steps=0),
                        progress=False).path
    doomed = _unfinished(store, steps=17)
    kept = {
        "data": None, "backup": None, "2026-results": None, "abc": None, "0123456789ab": "{}",  # not a run's config
        "fedcba987654": json.dumps({"config": make_config("smoke", steps=18).to_dict()}),  # not its hash
        "deadbeef0000": "not json",
    }
    for name, config in kept.items():
        (store / name).mkdir()
        (store / name / "results.csv").write_text("a user's data")
        if config is not None:
            (store / name / "config.json").write_text(config)
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("x")
    linked = _unfinished(tmp_path / "elsewhere", steps=19)  # a real unfinished run, reached through a link
    (store / linked.name).symlink_to(linked)
    live = _unfinished(store, steps=20)
    (live / "lock").write_text(f"{os.uname().nodename} {os.getpid()}")  # this process is alive
    (store / ".quarantine").symlink_to(outside)
    assert cli(["runs", "gc"]) == 0 and doomed.exists()  # a dry run by default
    assert cli(["runs", "gc", "--yes", "--quarantine"]) == 0
    out = capsys.readouterr().out
    assert not doomed.exists() and f"removed {doomed}" in out
    assert done.exists() and live.exists() and linked.exists() and (store / linked.name).is_symlink()
    assert all((store / name / "results.csv").exists() for name in kept)
    assert (outside / "keep.txt").exists()


def test_gc_removes_stray_temporary_files_of_dead_writers_only(store):
    d = _unfinished(store, steps=17)
    (d / "lock").write_text(f"{os.uname().nodename} {os.getpid()}")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stray = d / f".metrics.partial.parquet.{dead.stdout.strip()}.tmp"
    fresh = d / f".state.safetensors.{dead.stdout.strip()}0.tmp"
    mine = d / f".state.safetensors.{os.getpid()}.tmp"
    for f in (stray, fresh, mine):
        f.write_bytes(b"x")
    old = time.time() - 600
    for f in (stray, mine):
        os.utime(f, (old, old))
    assert cli(["runs", "gc", "--yes"]) == 0
    assert not stray.exists() and fresh.exists() and mine.exists() and d.exists()


# ------------------------------------------------------------------------------------ book --out
def test_book_out_refuses_before_touching_anything(tmp_path):
    from crosslingual.errors import ConfigError
    from crosslingual.render.build import OUT_MARKER, _prepare_out

    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.md").write_text("my notes")
    with pytest.raises(ConfigError, match="is not empty and is not a book built by crosslingual"):
        _prepare_out(ROOT, out)
    assert sorted(p.name for p in out.iterdir()) == ["notes.md"]
    fresh = _prepare_out(ROOT, tmp_path / "fresh")
    assert (fresh / OUT_MARKER).is_file() and (fresh / "_toc.yml").is_file()
    (fresh / "extra.txt").write_text("added by the user after the build")
    again = _prepare_out(ROOT, fresh)  # an earlier output of ours: only what we wrote is replaced
    assert (again / "extra.txt").exists() and (again / "_config.yml").exists()
    shutil.rmtree(fresh)


def test_an_unreachable_scheduler_fails_within_seconds_in_one_line(store, capsys):
    start = time.monotonic()
    assert cli(["sweep", "information", "--profile", "smoke", "--seeds", "1", "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert time.monotonic() - start < 15
    assert "scheduler='tcp://127.0.0.1:9': no Dask scheduler answered within 5 s" in err
    assert "Traceback" not in err and err.count("error:") == 1


def test_a_large_grid_expands_and_is_ordered_without_building_a_world(monkeypatch):
    from crosslingual.core.world import World
    from crosslingual.store.grids import Grid
    from crosslingual.store.memory import estimate_run_bytes
    from crosslingual.store.sweep import expected_cost

    grid = Grid.parse({"sweeps": [{"name": "big", "product": {
        "parallel_fraction": [round(0.01 * i, 2) for i in range(50)], "n_entities": list(range(40, 140))}}]})
    monkeypatch.setattr(World, "__init__", lambda *a: pytest.fail("a World was built"))
    start = time.monotonic()
    configs = [cfg for *_, cfg in grid.expand("smoke")]
    ordered = sorted(configs, key=expected_cost, reverse=True)
    assert len(ordered) == 5000 and all(estimate_run_bytes(c)["total"] > 0 for c in ordered)
    assert time.monotonic() - start < 30


def test_every_run_records_where_it_was_made_and_runs_ls_shows_it(store, capsys):
    import torch

    from crosslingual.store.fetch import get_or_train

    run = get_or_train(make_config("smoke", steps=3, n_checkpoints=2, keep_checkpoints=2, warmup_steps=0),
                       progress=False)
    info = run.info
    assert info["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and info["torch"] == torch.__version__
    assert info["cpu"] and isinstance(info["cpu_flags"], list) and info["threads"] >= 1
    assert cli(["runs", "ls"]) == 0
    out = capsys.readouterr().out
    assert "cpu" in out.splitlines()[0] and info["cpu_capability"] in out and torch.__version__ in out


def test_a_reader_that_stops_early_gets_no_traceback_and_the_run_is_stored(store):
    """``crosslingual run ... | head -1``: a BrokenPipeError traceback before (the run was stored all the same).
    The reader here exits at once, so the pipe is closed before anything is written, whatever the timing."""
    cli_path = Path(sys.executable).with_name("crosslingual")
    out = subprocess.run(["bash", "-c", f"'{cli_path}' run --profile smoke steps=3 n_checkpoints=2 keep_checkpoints=2 "
                                        "warmup_steps=0 | head -c 0; echo \"${PIPESTATUS[0]}\""],
                         capture_output=True, text=True, timeout=120)
    assert out.stdout == "141\n" and "Traceback" not in out.stderr and "Error" not in out.stderr, out
    from crosslingual.store.admin import verify_store

    assert len(list(store.iterdir())) == 1 and verify_store() == {}
