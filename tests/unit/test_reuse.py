"""The worked example of the reuse page (``crosslingual.render.reuse``): executed as it stands, its output shown
beside its code, reused while nothing it depends on changed, a failure never shown as output, and an honest
absence where its model is not installed. On a stand-in example (the real one loads a shipped model)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from crosslingual.render import reuse


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setattr(reuse, "installed", lambda name: True)
    monkeypatch.setattr(reuse, "source", lambda name: SimpleNamespace(sha256="pinned"))
    (tmp_path / "book" / "experiments").mkdir(parents=True)
    (tmp_path / reuse.EXAMPLE).write_text("import pathlib\nprint('separability', 0.9)\n"
                                          "pathlib.Path('ran').write_text('x')\n")
    return tmp_path


def test_the_page_shows_the_file_as_it_stands_and_what_it_printed(root):
    experiments = root / "book" / "experiments"
    result = reuse.write_page(root, experiments)
    assert (result["output"], result["reused"]) == ("separability 0.9", False) and (root / "ran").is_file()
    page = (experiments / reuse.PAGE).read_text()
    assert page.startswith("```python\nimport pathlib\nprint('separability', 0.9)\n")
    assert "What it printed when this build executed it" in page and "```text\nseparability 0.9\n```" in page


def test_a_second_build_reuses_the_output_until_the_example_changes(root):
    experiments = root / "book" / "experiments"
    reuse.write_page(root, experiments)
    (root / "ran").unlink()
    again = reuse.write_page(root, experiments)
    assert again["reused"] and not (root / "ran").exists()
    assert "when an earlier build executed it" in (experiments / reuse.PAGE).read_text()
    (root / reuse.EXAMPLE).write_text("print('changed')\n")
    assert reuse.write_page(root, experiments)["output"] == "changed"


def test_a_failing_example_stops_the_build_and_leaves_no_output_on_the_page(root):
    experiments = root / "book" / "experiments"
    (root / reuse.EXAMPLE).write_text("print('half'); raise SystemExit('the model is broken')\n")
    with pytest.raises(RuntimeError, match="failed \\(exit 1\\):\nthe model is broken"):
        reuse.write_page(root, experiments)
    assert not (experiments / reuse.PAGE).exists() and not (experiments / reuse.RECORD).exists()


def test_without_its_model_the_example_is_not_run_and_the_page_says_how_to_install_it(root, monkeypatch):
    monkeypatch.setattr(reuse, "installed", lambda name: False)
    experiments = root / "book" / "experiments"
    assert reuse.write_page(root, experiments) is None and not (root / "ran").exists()
    page = (experiments / reuse.PAGE).read_text()
    assert "```python\nimport pathlib" in page and ":::{admonition} Not run in this build" in page
    assert "`make models`" in page and "```text" not in page


def test_the_shipped_example_loads_a_shipped_model_and_names_the_call_for_the_reader_s_own():
    code = (Path(__file__).resolve().parents[2] / reuse.EXAMPLE).read_text()
    assert f'text_vocabulary("{reuse.MODEL}")' in code and 'embeddings_of_hf_model("/path/to/model")' in code
