"""The chapter registry is the one list of chapters: the notebooks, the toc, the studies, the claims and the
notebooks' own defaults all agree with it."""

from __future__ import annotations

import json
import os
import re
import time
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
    assert {s for c in CHAPTERS for s in c.studies + c.first_studies} == set(studies())


def _hashes(study: str, profile: str) -> set[str]:
    from crosslingual.store.grids import Grid

    return {cfg.hash() for *_, cfg in Grid.load(study).expand(profile)}


@pytest.mark.parametrize("gpu", [False, True])
def test_the_default_book_trains_every_redesign_and_no_superseded_design(monkeypatch, gpu):
    """The book a reader gets holds each claim's best test on a CPU as on a GPU; the runs only a superseded first
    design uses (chapters 5 and 6's first sweeps) are trained at default only on request, at smoke always."""
    import torch

    from crosslingual.render.chapters import FIRST_DESIGNS_ENV

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    monkeypatch.delenv(FIRST_DESIGNS_ENV, raising=False)
    default = {cfg.hash() for cfg in book_configs("default")}
    for redesign in ("information_low_parallel", "cue_isolation", "script_geometry", "neighbourhoods",
                     "regions_large", "learning_phase"):
        assert _hashes(redesign, "default") <= default, redesign
    kept = set().union(*(_hashes(s, "default") for c in CHAPTERS for s in c.studies))
    only_first = (_hashes("extractability", "default") | _hashes("interventions", "default")) - kept
    assert len(only_first) == 50 and not only_first & default
    smoke = {cfg.hash() for cfg in book_configs("smoke")}
    assert _hashes("extractability", "smoke") | _hashes("interventions", "smoke") <= smoke
    monkeypatch.setenv(FIRST_DESIGNS_ENV, "1")
    assert only_first <= {cfg.hash() for cfg in book_configs("default")}


def test_sections_follow_their_parameter_and_the_first_designs_setting(monkeypatch):
    from crosslingual.render.chapters import (
        FIRST_DESIGNS_ENV,
        first_design_reason,
        first_designs_asked,
        not_run_reason,
        runs_first_design,
        runs_first_designs,
        runs_section,
    )

    assert runs_section("cue_isolation", "auto") and runs_section("cue_isolation", "yes")
    assert not runs_section("cue_isolation", "no")
    with pytest.raises(ConfigError, match=r"cue_isolation='Yes' is not allowed: choose one of 'auto', 'yes', 'no'"):
        runs_section("cue_isolation", "Yes")
    assert not_run_reason("cue_isolation") == "not run in this build: -p cue_isolation no"
    for value, asked in (("", False), ("0", False), ("1", True)):
        monkeypatch.setenv(FIRST_DESIGNS_ENV, value)
        assert first_designs_asked() == asked and runs_first_designs("default") == asked
        assert runs_first_design("first_design", "auto", "default") == asked
        assert runs_first_designs("smoke") and runs_first_design("first_design", "auto", "paper")
        assert runs_first_design("first_design", "yes", "default")
        assert not runs_first_design("first_design", "no", "smoke")  # an explicit "no" still wins
    with pytest.raises(ConfigError, match=r"first_design='on' is not allowed"):
        runs_first_design("first_design", "on", "default")
    assert "superseded by R5-redesign" in first_design_reason("first_design", "R5-redesign")
    assert "make book FIRST_DESIGNS=1" in first_design_reason("first_design", "R5-redesign")
    for bad in ("yes", "true", " 1", "2"):
        monkeypatch.setenv(FIRST_DESIGNS_ENV, bad)
        with pytest.raises(ConfigError, match=f"{FIRST_DESIGNS_ENV}={bad!r} is not allowed: choose '1'"):
            runs_first_designs("default")


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


def test_the_book_makes_every_chapter_s_derived_computations_in_one_pool_with_its_notebook_s_defaults(
        capsys, monkeypatch):
    """``derive_chapters`` asks each chapter's ``independent`` and ``derived`` for their calls with the profile and
    its notebook's parameter defaults (the keys its notebook will ask for) and makes all of them in one pool, the
    independent ones (the longest: pretrained models) first; a failure is reported, not raised: the notebook meets
    it again and shows it. With ``independent=False`` (they were started beside the training) it leaves them out."""
    from dataclasses import replace

    from crosslingual.render import build

    seen, pooled = [], []
    recording = replace(chapter("10"), derived=lambda profile, p: seen.append((profile, p)) or [(max, (1, 2), {})],
                        independent=lambda profile, p: [(abs, (-3,), {})])
    failing = replace(chapter("10"), derived=lambda profile, p: 1 / 0, independent=None)
    second = replace(chapter("10"), derived=lambda profile, p: [(min, (1, 2), {})], independent=None)
    monkeypatch.setattr(build, "map_calls",
                        lambda calls, **kw: pooled.append(calls) or [f(*a, **k) for f, a, k in calls])
    build.derive_chapters(ROOT, "smoke", (recording, failing, second, chapter("01")))
    defaults = {name: default for name, (_, default) in
                declared_parameters(ROOT / "notebooks" / "10_linguistic_regions.ipynb").items()}
    assert seen == [("smoke", defaults)] and defaults["continue_steps"] == 0
    assert pooled == [[(abs, (-3,), {}), (max, (1, 2), {}), (min, (1, 2), {})]]
    out = capsys.readouterr().out
    assert "failed: chapter 10_linguistic_regions's derived computations: ZeroDivisionError" in out
    assert "3 computed in" in out
    build.derive_chapters(ROOT, "smoke", (recording, second), independent=False)
    assert pooled[-1] == [(max, (1, 2), {}), (min, (1, 2), {})]
    monkeypatch.setattr(build, "map_calls", lambda calls, **kw: 1 / 0)  # a failing computation: reported
    build.derive_chapters(ROOT, "smoke", (second,))
    assert ("failed: a chapter's continued trainings and pretrained analyses: ZeroDivisionError"
            in capsys.readouterr().out)
    assert [c.name for c in CHAPTERS if c.derived] == ["10_linguistic_regions"]
    assert [c.name for c in CHAPTERS if c.independent] == ["10_linguistic_regions"]


def test_pretrained_analyses_start_beside_the_training_only_on_cores_it_leaves_free(tmp_path, capsys, monkeypatch):
    """One training worker on a 2-core machine leaves a core free: the chapters' ``independent`` calls run there,
    in a worker process of their own (never in the book's process), while the training goes on; one worker per
    core leaves none, and the calls wait for ``derive_chapters``' pool. A failing call is reported, not raised."""
    from dataclasses import replace

    from crosslingual.render import build

    out = tmp_path / "written"
    beside = replace(chapter("10"), independent=lambda profile, p: [(Path.write_text, (out, "yes"), {}),
                                                                     (os.getpid, (), {}), (divmod, (1, 0), {})])
    monkeypatch.setattr(build.os, "cpu_count", lambda: 2)
    monkeypatch.setenv("CROSSLINGUAL_WORKERS", "2")
    assert build.free_cores("cpu") == 0
    with build.beside_training(ROOT, [("smoke", (beside,))]) as started:
        assert started is None
    monkeypatch.setenv("CROSSLINGUAL_WORKERS", "1")
    assert build.free_cores("cpu") == 1
    with build.beside_training(ROOT, [("smoke", (chapter("01"),))]) as started:
        assert started is None  # nothing to compute
    with build.beside_training(ROOT, [("smoke", ()), ("smoke", (beside,))]) as started:
        started.wait()
    assert out.read_text() == "yes"
    assert started.futures[1].result() != os.getpid()
    printed = capsys.readouterr().out
    assert "failed: a chapter's pretrained analysis: ZeroDivisionError" in printed
    assert "pretrained analyses, beside the training on 1 free core: 3 computed in" in printed
    # an interrupted build (Ctrl-C while training) ends at once: the block kills the analysis still running
    sleeping = replace(chapter("10"), independent=lambda profile, p: [(time.sleep, (120,), {})])
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt), build.beside_training(ROOT, [("smoke", (sleeping,))]) as started:
        time.sleep(1)
        raise KeyboardInterrupt
    assert time.perf_counter() - start < 30 and started.futures[0].done()


def test_chapter_10_asks_for_each_pretrained_model_s_regions_longest_first_and_only_when_not_cached(monkeypatch):
    """Gemma 3 270M's G1-G3 (2.4 times SmolLM2-135M's) start first; a model not installed, or whose tables
    are cached, adds no call."""
    from crosslingual.analysis import regions_pretrained
    from crosslingual.pretrained import wheels
    from crosslingual.render.chapters import _chapter10_pretrained_calls

    cached, installed = set(), {"smollm2-135m", "gemma-3-270m"}
    monkeypatch.setattr(wheels, "installed", lambda name: name in installed)
    monkeypatch.setattr(regions_pretrained, "analyse_pretrained",
                        lambda name, cached_only=False, **design: object() if name in cached else None)
    p = {"pretrained": "smollm2-135m gemma-3-270m"}
    calls = _chapter10_pretrained_calls("default", p)
    assert [args for _, args, _ in calls] == [("gemma-3-270m",), ("smollm2-135m",)]
    assert calls[0][2] == regions_pretrained.design("default")
    cached.add("gemma-3-270m")
    installed.discard("smollm2-135m")
    assert _chapter10_pretrained_calls("default", p) == []
