"""The chapter registry: each experiment chapter declared once, in reading order.

Everything that lists chapters derives from :data:`CHAPTERS`: the book's table of contents (``_toc.yml``, written
by :func:`toc_yaml`), the runs the book trains before it executes the notebooks (:func:`book_configs`), the
claims page (which claims a chapter judges, and which were not recorded), the CLI's ``book --chapter`` and the
tests. Adding a chapter means a notebook ``notebooks/NN_name.ipynb`` (``NN`` its place in the reading order), its
study (a grid in ``crosslingual/store/studies``, or ``extra_runs`` for runs that no grid describes), its analysis and
claim checks in the package, and one :class:`Chapter` entry here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crosslingual.errors import ConfigError

if TYPE_CHECKING:
    from crosslingual.core.config import RunConfig
    from crosslingual.store.per_run import Call

# The toc's parts, one per paper, in the papers' order: the keys of crosslingual.claims.PAPERS (a test checks;
# not imported here, so that the command line's help does not load the analysis code)
PAPERS = ROSETTA, HYPERPOLYGLOT, REGIONS = ("Beyond the Rosetta Stone", "Hyperpolyglot LLMs",
                                            "Unveiling Linguistic Regions")
PARTS_BEFORE = (("Method", ("book/method", "book/experiments/claims")),)
PARTS_AFTER = (("Reproducibility", ("book/experiments/cost", "book/reuse", "book/api", "book/references")),)


@dataclass(frozen=True)
class Chapter:
    """One experiment notebook and what it needs and judges."""

    name: str  # the notebook's file stem; its two-digit prefix is its place in the reading order
    title: str  # a short title, for the CLI and the claims page
    paper: str  # a key of crosslingual.claims.PAPERS: the toc part the chapter belongs to
    claims: tuple[str, ...] = ()  # the claims whose verdicts the chapter records
    studies: tuple[str, ...] = ()  # the grids whose runs it uses (trained before the notebooks run)
    # the grids of first designs that a redesign superseded (the paper's design as first reconstructed): trained
    # and judged only where ``runs_first_designs`` says (on request at the default profile), so that the default
    # book spends its time on each claim's best test
    first_studies: tuple[str, ...] = ()
    # what a first design without grids of its own costs (its runs are another claim's), measured, for the
    # admonition that stands for it where the book leaves it out
    first_cost: str = ""
    # runs outside any grid, as a function of (profile, seeds, first seed) at the notebook's default seeds
    extra_runs: Callable[[str, int, int], list["RunConfig"]] | None = None
    seeds: int = 5  # the notebook's default `seeds` (a test checks the two agree)
    # the long computations the notebook makes beyond its runs' own analyses (continued trainings, analyses of a
    # pretrained model), as a function of the profile and the notebook's parameters at their defaults returning the
    # calls still to make: the book runs every chapter's in one worker pool after training the studies and before
    # the notebooks (``render.build.derive_chapters``), so that no notebook trains and no core idles; the notebook
    # calls the same functions and reads their cached tables
    derived: Callable[[str, dict[str, Any]], list["Call"]] | None = None
    # the same for the computations that need no runs (analyses of pretrained models): the book starts them with
    # the training, on the cores its workers leave free (a GPU host's: training there takes a few of its cores),
    # and where none is free, in the pool of ``derived``, longest first
    independent: Callable[[str, dict[str, Any]], list["Call"]] | None = None

    @property
    def order(self) -> int:
        return int(self.name[:2])

    @property
    def page(self) -> str:
        return f"book/experiments/{self.name}"


def _geometry_pairs(profile: str, seeds: int, seed: int) -> list["RunConfig"]:
    from crosslingual.analysis.geometry_study import pair_configs

    return [cfg for pair in pair_configs(profile, seeds, seed) for cfg in pair]


def _chapter10_pretrained_calls(profile: str, p: dict[str, Any]) -> list["Call"]:
    """Chapter 10's analyses of the pretrained models named in ``p`` (G1-G3 on each; 481 s for Gemma 3 270M and
    201 s for SmolLM2-135M at ``default`` on one core of a 2-core AMD EPYC), longest first: those not cached yet."""
    from crosslingual.analysis.regions_pretrained import analyse_pretrained, design
    from crosslingual.pretrained import wheels

    real = design(profile)
    return [(analyse_pretrained, (name,), real)
            for name in sorted(p["pretrained"].split(), key=lambda model: REAL_MODEL_COST.get(model, 1.0), reverse=True)
            if wheels.installed(name) and analyse_pretrained(name, **real, cached_only=True) is None]


def _chapter10_calls(profile: str, p: dict[str, Any]) -> list["Call"]:
    """Chapter 10's continued trainings from its runs, with the notebook's parameters ``p``: G4-redesign's (every
    build) and G4's first design's (where ``runs_first_design`` says). Only those not cached yet."""
    from crosslingual.analysis.regions_study import continued_steps, g4_first_calls, g4_redesign_calls
    from crosslingual.store.grids import Grid
    from crosslingual.store.sweep import run_many

    calls: list[Call] = []
    redesign = runs_section("g4_redesign", p["g4_redesign"])
    first = runs_first_design("first_design", p["first_design"], profile)
    if redesign or first:
        grid = [cfg for *_, cfg in Grid.load("regions").expand(profile, p["seeds"], p["seed"])]
        runs = run_many(grid, progress=False)
        steps = continued_steps(grid[0], p["continue_steps"])
        if redesign:
            calls += g4_redesign_calls(runs, steps, p["n_sequences"])
        if first:
            calls += g4_first_calls(runs, steps, p["n_sequences"], fraction=p["freeze_fraction"], lr=p["continue_lr"])
    return calls


# G4's first design trains no runs of its own: it continues G2's, 3 arms on each
G4_FIRST_COST = ("Its runs are G2's, in the store: running it costs its 15 continued trainings (3 arms from each "
                 "of 5 runs), 140 s on one core of a 2-core AMD EPYC at the default profile (measured on "
                 "2026-12-07).")
# the cost of chapter 10's G1-G3 on each pretrained model, relative to SmolLM2-135M's: the longest start first
REAL_MODEL_COST = {"gemma-3-270m": 2.4, "smollm2-135m": 1.0}


CHAPTERS: tuple[Chapter, ...] = (
    Chapter("01_world", "The synthetic world", ROSETTA),
    # chapter 2's baseline world is one level of the information study (parallel fraction 0.6)
    Chapter("02_unification_dynamics", "Unification dynamics", ROSETTA, studies=("information",)),
    Chapter("03_information", "Information in the language", ROSETTA, ("R1", "R3", "R4", "R4-redesign"),
            ("information", "information_low_parallel")),
    Chapter("04_exposure_control", "An exposure-matched control", ROSETTA, ("R6",), ("exposure",)),
    Chapter("05_extractability", "How easy the language is to extract", ROSETTA, ("R5", "R5-redesign"),
            ("cue_isolation",), first_studies=("extractability",)),
    Chapter("06_interventions", "Steering unification", ROSETTA, ("R7", "R7-redesign"), ("cue_isolation",),
            first_studies=("interventions",)),
    Chapter("07_unification_predicts_transfer", "Does unification predict transfer?", ROSETTA,
            ("R2", "R2-redesign", "R3"), ("information", "exposure", "learning_phase")),
    Chapter("08_real_strings", "Real strings and real models", ROSETTA, ("R3", "R4", "R8"), ("real_strings",)),
    Chapter("09_embedding_geometry", "Token-embedding geometry", HYPERPOLYGLOT,
            ("H1", "H1-redesign", "H2", "H2-redesign", "H3", "H1 (multilingual-e5-small)", "H1 (gemma-3-270m)",
             "H2 (multilingual-e5-small vs gemma-3-270m)", "H3 (multilingual-e5-small vs gemma-3-270m)"),
            ("script_geometry", "neighbourhoods"), extra_runs=_geometry_pairs,
            first_studies=("information", "extractability", "interventions")),
    Chapter("10_linguistic_regions", "Linguistic regions", REGIONS,
            ("G1", "G1-redesign", "G2", "G3", "G3-redesign", "G4", "G4-redesign", "G1 (smollm2-135m)",
             "G2 (smollm2-135m)", "G3 (smollm2-135m)", "G1 (gemma-3-270m)", "G2 (gemma-3-270m)",
             "G3 (gemma-3-270m)"), ("regions", "regions_large"), derived=_chapter10_calls,
            independent=_chapter10_pretrained_calls, first_cost=G4_FIRST_COST),
)


def chapter(name: str) -> Chapter:
    """The chapter called ``name`` (its full stem, or its number: ``"08"`` or ``"8"``), or a clear error."""
    for c in CHAPTERS:
        if name in (c.name, c.name[:2]) or (name.isdigit() and int(name) == c.order):
            return c
    raise ConfigError(f"chapter {name!r} does not exist: choose one of {', '.join(c.name for c in CHAPTERS)}")


# "1": the book trains and judges the first designs too (`make book FIRST_DESIGNS=1`, or `crosslingual book
# --first-designs`): the paper's designs as first reconstructed, which their redesigns superseded
FIRST_DESIGNS_ENV = "CROSSLINGUAL_FIRST_DESIGNS"
SECTION = ("auto", "yes", "no")  # the values of a notebook parameter that runs an optional section


def first_designs_asked() -> bool:
    """Whether this build was asked for the first designs (``FIRST_DESIGNS_ENV``); a value other than "1", "0" or
    unset is an error, not a silent default."""
    value = os.environ.get(FIRST_DESIGNS_ENV, "")
    if value not in ("", "0", "1"):
        raise ConfigError(f"{FIRST_DESIGNS_ENV}={value!r} is not allowed: choose '1' (the first designs, superseded "
                          f"by their redesigns, trained and judged too) or '0' (the default: each claim's best test)")
    return value == "1"


def runs_first_designs(profile: str) -> bool:
    """Whether the book trains and judges the chapters' first designs (``first_studies``): on request at the
    default profile (the book a reader gets spends its time on each claim's best test), at every other profile
    (the test suite's smoke book keeps their code executed)."""
    return profile != "default" or first_designs_asked()


def _section_value(parameter: str, value: str) -> str:
    if value not in SECTION:
        raise ConfigError(f"{parameter}={value!r} is not allowed: choose one of {', '.join(map(repr, SECTION))}")
    return value


def runs_section(parameter: str, value: str) -> bool:
    """Whether a notebook runs a redesign's section: "auto" and "yes" run it (every build does: it is the claim's
    best test), "no" leaves it out (the verdict then says so)."""
    return _section_value(parameter, value) != "no"


def runs_first_design(parameter: str, value: str, profile: str) -> bool:
    """Whether a notebook runs a first design's section (the notebook parameter ``parameter``): "yes", "no", or
    "auto": where ``runs_first_designs``."""
    return value == "yes" or (_section_value(parameter, value) == "auto" and runs_first_designs(profile))


def not_run_reason(parameter: str) -> str:
    """Why a build left a redesign's section out, for the verdict it then records (untestable)."""
    return f"not run in this build: -p {parameter} no"


def first_design_reason(parameter: str, redesign: str) -> str:
    """Why a build did not judge a first design: the evidence of its ``superseded`` verdict."""
    return (f"the first design, superseded by {redesign}, is not judged in this build: it runs on request "
            f"(make book FIRST_DESIGNS=1 for every chapter, -p {parameter} yes for this one)")


def book_configs(profile: str, chapters: tuple[Chapter, ...] = CHAPTERS) -> list["RunConfig"]:
    """Every run the chapters use at ``profile`` and their default seeds, each once, in chapter order: the book
    trains them in one pool before executing the notebooks (``first_studies`` only where
    ``runs_first_designs``)."""
    from crosslingual.store.grids import Grid

    configs: dict[str, RunConfig] = {}
    for c in chapters:
        for name in c.studies + (c.first_studies if runs_first_designs(profile) else ()):
            configs.update((cfg.hash(), cfg) for *_, cfg in Grid.load(name).expand(profile))
        if c.extra_runs is not None:
            configs.update((cfg.hash(), cfg) for cfg in c.extra_runs(profile, c.seeds, 0))
    return list(configs.values())


def toc_yaml() -> str:
    """The book's ``_toc.yml``: the method pages, one numbered part per paper with its chapters in reading
    order, then the reproducibility pages."""
    lines = ["# Written by crosslingual.render.chapters.toc_yaml from the chapter registry: edit the registry, "
             "not this file.",
             "format: jb-book", "root: book/intro", "parts:"]

    def part(caption: str, files: list[str], numbered: bool) -> None:
        lines.extend([f"  - caption: {caption}", *(["    numbered: true"] if numbered else []), "    chapters:"])
        lines.extend(f"      - file: {f}" for f in files)

    for caption, files in PARTS_BEFORE:
        part(caption, list(files), False)
    for paper in PAPERS:
        part(paper, [c.page for c in sorted(CHAPTERS, key=lambda c: c.order) if c.paper == paper], True)
    for caption, files in PARTS_AFTER:
        part(caption, list(files), False)
    return "\n".join(lines) + "\n"
