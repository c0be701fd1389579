"""A chapter page's provenance box, banner and hidden code, on a hand-made executed notebook."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from crosslingual.config import ConfigError, RunConfig, make_config
from crosslingual.provenance import (PROVENANCE_TAG, annotate, check_chapter_parameters, declared_parameters,
                                     differences)

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
