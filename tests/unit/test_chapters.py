"""The chapter registry is the one list of chapters: the notebooks, the toc, the studies, the claims and the
notebooks' own defaults all agree with it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from crosslingual.analysis.geometry_study import PAIR_SEED_OFFSET
from crosslingual.claims import PAPERS, RULES
from crosslingual.errors import ConfigError
from crosslingual.render import chapters as registry
from crosslingual.render.build import notebooks
from crosslingual.render.chapters import CHAPTERS, book_configs, chapter, toc_yaml
from crosslingual.render.provenance import declared_parameters
from crosslingual.store.grids import studies

ROOT = Path(__file__).resolve().parents[2]


def test_every_numbered_notebook_is_a_registered_chapter_and_back():
    assert [p.stem for p in notebooks(ROOT)] == [c.name for c in CHAPTERS]
    assert sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb")) == [c.name for c in CHAPTERS]


def test_file_numbers_are_the_reading_order():
    assert [c.order for c in CHAPTERS] == list(range(1, len(CHAPTERS) + 1))
    toc_files = re.findall(r"file: book/experiments/(\d\d_\w+)", toc_yaml())
    assert toc_files == [c.name for c in CHAPTERS]


def test_the_committed_toc_is_the_registry_s():
    assert (ROOT / "_toc.yml").read_text() == toc_yaml(), "regenerate it: crosslingual toc > _toc.yml"
    assert toc_yaml().count("numbered: true") == len(PAPERS)


def test_the_toc_command_prints_the_registry_s_toc(capsys):
    from crosslingual.cli import main

    assert main(["toc"]) == 0
    assert capsys.readouterr().out == toc_yaml()


def test_parts_are_the_papers_and_the_claims_are_the_rules():
    assert registry.PAPERS == tuple(PAPERS)
    assert {c.paper for c in CHAPTERS} == set(PAPERS)
    judged = {claim for c in CHAPTERS for claim in c.claims}
    assert judged == set(RULES), "every rule is judged by a chapter, and a chapter judges only ruled claims"


def test_every_study_is_used_by_a_chapter():
    assert {s for c in CHAPTERS for s in c.studies + c.gpu_studies} == set(studies())


def test_a_gpu_study_is_left_out_of_the_cpu_book_at_default_only(monkeypatch):
    """script_geometry (H1-redesign) does not fit the CPU book's budget at default: trained up front at smoke,
    and at default where a GPU is present."""
    import torch

    from crosslingual.store.grids import Grid

    geometry = {cfg.hash() for *_, cfg in Grid.load("script_geometry").expand("default")}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not geometry & {cfg.hash() for cfg in book_configs("default")}
    smoke = {cfg.hash() for *_, cfg in Grid.load("script_geometry").expand("smoke")}
    assert smoke <= {cfg.hash() for cfg in book_configs("smoke")}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert geometry <= {cfg.hash() for cfg in book_configs("default")}


@pytest.mark.parametrize("gpu", [False, True])
def test_a_notebook_runs_its_gpu_section_where_the_budget_allows_or_when_told(monkeypatch, gpu):
    import torch

    from crosslingual.render.chapters import not_run_reason, runs_gpu_section
    from crosslingual.store.grids import Grid

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    assert runs_gpu_section("cue_isolation", "auto", "default") == gpu
    assert runs_gpu_section("cue_isolation", "auto", "smoke") and runs_gpu_section("cue_isolation", "auto", "paper")
    assert runs_gpu_section("cue_isolation", "yes", "default") and not runs_gpu_section("x", "no", "smoke")
    with pytest.raises(ConfigError, match=r"cue_isolation='Yes' is not allowed: choose one of 'auto', 'yes', 'no'"):
        runs_gpu_section("cue_isolation", "Yes", "smoke")
    configs = [cfg for *_, cfg in Grid.load("cue_isolation").expand("default")]
    assert len(configs) == 45 and "its 40 runs do not fit" in not_run_reason("cue_isolation", "auto", configs)
    assert not_run_reason("cue_isolation", "no", configs) == "not run in this build: -p cue_isolation no"
    assert "its 35 continued trainings do not fit" in not_run_reason("g4_redesign", "auto", configs,
                                                                     work="35 continued trainings")


def test_a_build_asked_for_every_study_runs_the_gpu_studies_on_a_cpu(monkeypatch):
    import torch

    from crosslingual.render.chapters import EVERY_STUDY_ENV, cpu_budget_skips, runs_gpu_section
    from crosslingual.store.grids import Grid

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    large = {cfg.hash() for *_, cfg in Grid.load("regions_large").expand("default")}
    for value, skips in (("", True), ("0", True), ("1", False)):
        monkeypatch.setenv(EVERY_STUDY_ENV, value)
        assert cpu_budget_skips("default") == skips and runs_gpu_section("g13_redesign", "auto", "default") != skips
        assert (large <= {cfg.hash() for cfg in book_configs("default")}) != skips
        assert not runs_gpu_section("g13_redesign", "no", "default")  # an explicit "no" still wins
    for bad in ("yes", "true", " 1", "2"):
        monkeypatch.setenv(EVERY_STUDY_ENV, bad)
        with pytest.raises(ConfigError, match=f"{EVERY_STUDY_ENV}={bad!r} is not allowed: choose '1'"):
            cpu_budget_skips("default")


@pytest.mark.parametrize("c", CHAPTERS, ids=lambda c: c.name)
def test_a_chapter_s_notebook_agrees_with_its_entry(c):
    path = ROOT / "notebooks" / f"{c.name}.ipynb"
    declared = declared_parameters(path)
    if "seeds" in declared:
        assert declared["seeds"][1] == c.seeds, f"{c.name}: the notebook's default seeds and the registry's differ"
    source = "\n".join("".join(cell["source"]) for cell in json.loads(path.read_text())["cells"])
    named = set(re.findall(r'publish_verdicts\([^\n]*?, "(\w+)", "[\w-]+"', source))
    assert named <= {c.name}, f"{c.name} records verdicts under another chapter's name: {named}"
    assert bool(named) == bool(c.claims), f"{c.name}: publishes verdicts iff the registry lists claims"
    assert "claims.record(" not in source, "chapters record through notebook.publish_verdicts"


def test_a_chapter_is_found_by_name_or_number_and_a_wrong_one_is_refused():
    assert chapter("08_real_strings") is chapter("08") is chapter("8")
    with pytest.raises(ConfigError, match="chapter '99' does not exist: choose one of 01_world"):
        chapter("99")
    with pytest.raises(ConfigError, match="does not exist"):
        chapter("world")


def test_the_book_trains_every_chapter_s_runs_once():
    configs = book_configs("smoke")
    hashes = [cfg.hash() for cfg in configs]
    assert len(hashes) == len(set(hashes))
    geometry = chapter("09")
    assert {cfg.seed for cfg in configs} >= {s + PAIR_SEED_OFFSET for s in range(geometry.seeds)}
    assert {cfg.seed for cfg in configs if cfg.seed < PAIR_SEED_OFFSET} == set(range(5))
