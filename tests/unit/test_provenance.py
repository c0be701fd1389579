"""A chapter page's provenance box, banner and hidden code, on a hand-made executed notebook."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from crosslingual.core.config import RunConfig, make_config
from crosslingual.errors import ConfigError
from crosslingual.render import provenance
from crosslingual.render.provenance import (
    PROVENANCE_TAG,
    annotate,
    check_chapter_parameters,
    commit,
    declared_parameters,
    differences,
)

ROOT = Path(__file__).resolve().parents[2]


def _cell(kind: str, source: str, tags: tuple[str, ...] = ()) -> dict:
    cell = {"cell_type": kind, "metadata": {"tags": list(tags)}, "source": source}
    return {**cell, "outputs": [], "execution_count": None} if kind == "code" else cell


@pytest.fixture
def notebook(tmp_path: Path) -> Path:
    path = tmp_path / "04_x.ipynb"
    cells = [_cell("markdown", "# A chapter\n\nIntro."),
             _cell("code", 'profile: str = "default"\nseeds: int = 5\nrate: float = 0.5\nflag: bool = False',
                   ("parameters",)),
             _cell("code", "import os\ncheck()"),
             _cell("code", "summary", ("nbval-check-output",)),
             _cell("markdown", "Prose.")]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


@dataclass
class FakeRun:
    path: Path
    config: RunConfig
    info: dict


def _executed(notebook: Path, tmp_path: Path, injected: str) -> Path:
    nb = json.loads(notebook.read_text())
    nb["cells"].insert(2, _cell("code", f"# Parameters\n{injected}", ("injected-parameters",)))
    out = tmp_path / "executed.ipynb"
    out.write_text(json.dumps(nb))
    return out


def test_declared_parameters_are_read_with_types_and_defaults(notebook):
    assert declared_parameters(notebook) == {"profile": (str, "default"), "seeds": (int, 5), "rate": (float, 0.5),
                                             "flag": (bool, False)}


def test_chapter_parameters_are_checked_by_name_and_type_before_any_work(notebook):
    assert check_chapter_parameters(notebook, {"rate": 1}) == {"rate": 1.0}  # an int for a float: made a float
    with pytest.raises(ConfigError, match="04_x has no parameter 'rte'; its parameters are: profile, seeds"):
        check_chapter_parameters(notebook, {"rte": 0.1})
    with pytest.raises(ConfigError, match="seeds='3' must be an integer"):
        check_chapter_parameters(notebook, {"seeds": "3"})
    with pytest.raises(ConfigError, match="flag=1 must be True or False"):
        check_chapter_parameters(notebook, {"flag": 1})


def test_differences_are_against_the_book_s_build_profile_included(notebook):
    assert differences(notebook, "default", {"seeds": 5}) == {}
    assert differences(notebook, "smoke", {"seeds": 3}) == {"seeds": (3, 5), "profile": ("smoke", "default")}
    assert differences(notebook, "smoke", {}, built_at="smoke") == {}  # a whole smoke build: no banner


def test_annotate_adds_the_box_hides_code_and_removes_the_parameter_cells(notebook, tmp_path):
    executed = _executed(notebook, tmp_path, "seeds = 3\n")
    runs = [FakeRun(Path(f"/store/{h}"), make_config("smoke", seed=s), {"wall_seconds_this_process": 6.0,
                                                                         "batched_with": 2, "device": "cpu",
                                                                         "cpu": "Test CPU"})
            for h, s in (("bbb", 1), ("aaa", 0))]
    for _ in range(2):  # annotating twice gives the same page (no second box)
        differs = annotate(executed, notebook, "default", {"seeds": 3}, runs, 12.3, ROOT)
    assert differs == {"seeds": 3}
    nb = json.loads(executed.read_text())
    kinds = [(c["cell_type"], c["metadata"]["tags"]) for c in nb["cells"]]
    assert kinds[0] == ("markdown", [])  # the title stays first
    assert kinds[1] == ("markdown", [PROVENANCE_TAG]) and kinds[2] == ("markdown", [PROVENANCE_TAG])
    banner, box = "".join(nb["cells"][1]["source"]), "".join(nb["cells"][2]["source"])
    assert banner.startswith("```{warning}") and "seeds = `3` (book: `5`)" in banner
    assert ":class: dropdown" in box and "**seeds = `3`** (book: `5`)" in box and "rate = `0.5`" in box
    assert "`aaa`, `bbb`" in box and "seeds 0..1 (2 distinct)" in box and "Test CPU" in box
    assert "this notebook 12 s" in box and "training 6 s" in box  # two runs, each half of a 6 s batch
    assert "commit " in box
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert [c["metadata"]["tags"] for c in code] == [["parameters", "remove-cell"],
                                                     ["injected-parameters", "remove-cell"], ["hide-input"],
                                                     ["nbval-check-output", "hide-input"]]
    assert nb["metadata"]["crosslingual"]["differs"] == {"seeds": 3}


def test_a_default_execution_has_no_banner(notebook, tmp_path):
    executed = _executed(notebook, tmp_path, 'profile = "default"\n')
    annotate(executed, notebook, "default", {}, [], 1.0, ROOT)
    nb = json.loads(executed.read_text())
    assert sum(PROVENANCE_TAG in c["metadata"]["tags"] for c in nb["cells"]) == 1
    assert "warning" not in "".join(nb["cells"][1]["source"]) and "Runs**: 0" in "".join(nb["cells"][1]["source"])


def _git(root: Path, *args: str) -> str:
    """Run git in a throw-away repository (its own identity: the machine may have none)."""
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=root,
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A checkout with one commit of one tracked file."""
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    (root / "code.py").write_text("x = 1\n")
    _git(root, "add", "code.py")
    _git(root, "commit", "-qm", "first")
    return root


def test_the_commit_tells_uncommitted_changes_apart(repo, tmp_path):
    head = _git(repo, "rev-parse", "--short", "HEAD")
    assert commit(repo) == head
    (repo / "notes.txt").write_text("untracked\n")  # not in the checkout's code
    assert commit(repo) == head
    (repo / "code.py").write_text("x = 2\n")
    first = commit(repo)
    (repo / "code.py").write_text("x = 3\n")
    second = commit(repo)
    assert first.startswith(f"{head} + uncommitted changes (diff ") and second.startswith(f"{head} + uncommitted")
    assert first != second  # another working tree: a page executed in one does not claim the other
    (repo / "code.py").write_text("x = 2\n")
    assert commit(repo) == first
    assert commit(tmp_path / "elsewhere") == "unknown (not a git checkout)"


def _code_line(executed: Path) -> str:
    box = next(c for c in json.loads(executed.read_text())["cells"] if c.get("id") == "crosslingual-provenance")
    return next(line for line in "".join(box["source"]).splitlines() if line.startswith("- **Code**"))


def test_a_reused_page_names_the_commit_it_was_executed_at_and_the_build_s(notebook, tmp_path, repo):
    executed = _executed(notebook, tmp_path, "seeds = 3\n")
    annotate(executed, notebook, "default", {"seeds": 3}, [], 1.0, repo)
    first = _git(repo, "rev-parse", "--short", "HEAD")
    page = executed.read_bytes()
    assert not provenance.mark_reused(executed, repo) and executed.read_bytes() == page  # the same commit
    assert _code_line(executed).startswith(f"- **Code**: commit `{first}`, torch ")
    (repo / "code.py").write_text("x = 2\n")
    _git(repo, "commit", "-qam", "second")
    second = _git(repo, "rev-parse", "--short", "HEAD")
    assert provenance.mark_reused(executed, repo)
    line = _code_line(executed)
    assert line.startswith(f"- **Code**: executed at commit `{first}`; reused unchanged by the build at commit "
                           f"`{second}` (same package code, packages, notebook, parameters and runs), torch ")
    page = executed.read_bytes()
    assert not provenance.mark_reused(executed, repo) and executed.read_bytes() == page  # not stamped twice
    (repo / "code.py").write_text("x = 3\n")
    _git(repo, "commit", "-qam", "third")
    assert provenance.mark_reused(executed, repo)
    third = _code_line(executed)
    assert third == line.replace(second, _git(repo, "rev-parse", "--short", "HEAD"))  # the newest build only
    (repo / "code.py").write_text("x = 4\n")  # a rebuild with uncommitted changes names them
    assert provenance.mark_reused(executed, repo) and "+ uncommitted changes (diff " in _code_line(executed)
    (repo / "code.py").write_text("x = 3\n")
    assert provenance.mark_reused(executed, repo) and _code_line(executed) == third
    nb = json.loads(executed.read_text())
    assert sum(PROVENANCE_TAG in c["metadata"]["tags"] for c in nb["cells"]) == 2  # banner and box, no more
    (repo / "_config.yml").write_text("repository:\n  url: https://example.org/crosslingual/\n")
    assert provenance.mark_reused(executed, repo)  # with repository.url set, each commit links to itself
    head = _git(repo, "rev-parse", "--short", "HEAD")
    assert f"[`{head}`](https://example.org/crosslingual/commit/{head})" in _code_line(executed)
