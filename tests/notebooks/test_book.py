"""The render tier: notebooks committed clean, parameters validated, the smoke book built strictly."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from smoke_paths import ROOT, SMOKE

from crosslingual.core.config import WorldConfig
from crosslingual.errors import ConfigError
from crosslingual.render.chapters import CHAPTERS

NOTEBOOKS = [ROOT / "notebooks" / f"{c.name}.ipynb" for c in CHAPTERS]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) == 10 and all(p.is_file() for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_committed_with_outputs_stripped(path):
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c.get("outputs") or c.get("execution_count")]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; strip them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_text_has_no_control_characters(path):
    """A LaTeX backslash lost when a notebook is edited turns \\text into a tab and \\nu into a newline."""
    nb = json.loads(path.read_text())
    bad = [i for i, c in enumerate(nb["cells"]) if re.search(r"[\x00-\x08\x0b-\x1f]", "".join(c["source"]))]
    assert not bad, f"{path.name}: cells {bad} hold control characters"


def _parameters(path: Path) -> dict:
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    namespace: dict = {}
    exec(cells[0].source, namespace)
    annotations = namespace.get("__annotations__", {})
    assert set(annotations) == {k for k in namespace if not k.startswith("__")}, "every parameter is typed"
    return {k: v for k, v in namespace.items() if not k.startswith("__")}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_are_typed_and_match_the_library_defaults(path):
    params = _parameters(path)
    assert params["profile"] == "default"
    defaults = WorldConfig()
    for name, value in params.items():
        if hasattr(defaults, name):
            assert value == getattr(defaults, name), f"{path.name}: {name} default differs from WorldConfig"


@pytest.mark.parametrize("notebook, bad, message", [
    ("02_unification_dynamics", {"parallel_fraction": 1.5},
     r"parallel_fraction=1\.5 is out of range: allowed \[0\.0, 1\.0\)"),
    ("02_unification_dynamics", {"profile": "huge"},
     r"profile='huge' is not allowed: choose one of 'smoke', 'default', 'paper'"),
    ("09_embedding_geometry", {"profile": "smoke", "h1_redesign": "maybe"},
     r"h1_redesign='maybe' is not allowed: choose one of 'auto', 'yes', 'no'"),
    ("09_embedding_geometry", {"profile": "smoke", "h2_redesign": "YES"},
     r"h2_redesign='YES' is not allowed: choose one of 'auto', 'yes', 'no'"),
    ("03_information", {"profile": "smoke", "r4_redesign": "sometimes"},
     r"r4_redesign='sometimes' is not allowed: choose one of 'auto', 'yes', 'no'"),
    ("05_extractability", {"profile": "smoke", "cue_isolation": "always"},
     r"cue_isolation='always' is not allowed: choose one of 'auto', 'yes', 'no'"),
    ("06_interventions", {"profile": "smoke", "cue_isolation": True},
     r"cue_isolation=True must be a str"),
    ("02_unification_dynamics", {"seeds": 0}, r"seeds=0 is out of range"),
    ("09_embedding_geometry", {"pretrained": "xlm-r"}, r"pretrained='xlm-r' is not allowed"),
    ("10_linguistic_regions", {"profile": "smoke", "g4_redesign": "maybe"},
     r"g4_redesign='maybe' is not allowed: choose one of 'auto', 'yes', 'no'"),
    ("10_linguistic_regions", {"profile": "smoke", "g13_redesign": "on"},
     r"g13_redesign='on' is not allowed: choose one of 'auto', 'yes', 'no'"),
    ("10_linguistic_regions", {"pretrained": "smollm2-135m llama-2-7b"},
     r"pretrained=.smollm2-135m llama-2-7b. is not allowed"),
])
def test_a_bad_parameter_fails_at_once_with_its_allowed_range(notebook, bad, message, tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError, match=message) as err:
        papermill.execute_notebook(str(ROOT / "notebooks" / f"{notebook}.ipynb"),
                                   str(tmp_path / "out.ipynb"), parameters={"profile": "smoke", **bad},
                                   kernel_name="python3", progress_bar=False, cwd=str(ROOT))
    assert err.value.exec_count <= 3  # failed in the validation cell, before any training


def test_smoke_book_builds(smoke_book):
    assert smoke_book.is_file()


def test_stray_markdown_in_hidden_folders_is_no_page(smoke_book, tmp_path):
    """A checkout holds hidden folders the book does not own (pytest's ``.pytest_cache/README.md`` after ``make
    test``, an editor's notes): they are not pages, so the strict build (-W) must not warn about them."""
    import shutil
    import subprocess
    import sys

    copy = tmp_path / "book"
    shutil.copytree(SMOKE / "book", copy, ignore=shutil.ignore_patterns("_build"))
    for stray in (".pytest_cache/README.md", "book/.notes/todo.md", ".hidden.md"):
        (copy / stray).parent.mkdir(parents=True, exist_ok=True)
        (copy / stray).write_text("# not a page\n")
    jb = Path(sys.executable).with_name("jupyter-book")
    done = subprocess.run([str(jb), "build", "-W", "--builder", "html", str(copy)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert not list((copy / "_build" / "html").rglob("todo.html"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_executed_notebooks_have_no_errors(smoke_book, path):
    executed = nbformat.read(SMOKE / "book" / "book" / "experiments" / path.name, as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_figure_draws_text_over_text(smoke_book, path):
    """``render.notebook.figure`` warns of every two texts of a figure that overlap once laid out (titles, axis and
    tick labels, legends, heat-map numbers); no chapter may carry such a warning."""
    from crosslingual.render.notebook import OVERLAP_WARNING

    executed = json.loads((SMOKE / "book" / "book" / "experiments" / path.name).read_text())
    warned = [line for c in executed["cells"] for o in c.get("outputs", []) if o.get("name") == "stderr"
              for line in "".join(o.get("text", "")).splitlines() if OVERLAP_WARNING in line]
    assert not warned, warned


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_section_that_did_not_run_is_one_admonition_with_no_figure_or_caption(smoke_book, path):
    """Every figure a chapter marks absent (``render.absences``) is gone from its page, caption and all, and an
    admonition stands for its section; chapter 08 without ``hf_model`` and without Gemma's wheels (CI's clone) has
    one such section in the smoke book."""
    from crosslingual.render.absences import ADMONITION_CLASS, markers

    executed = json.loads((SMOKE / "book" / "book" / "experiments" / path.name).read_text())
    absent = markers(executed["cells"])
    page = (smoke_book.parent / "book" / "experiments" / f"{path.stem}.html").read_text()
    markdown = "".join("".join(c["source"]) for c in executed["cells"] if c["cell_type"] == "markdown")
    for name in absent:
        assert f"{{glue:figure}} {name}" not in markdown and f'id="{name.replace("_", "-")}"' not in page
    assert (ADMONITION_CLASS in page) == bool(absent)
    if path.stem == "08_real_strings":  # R8 runs on Gemma 3 270M where its wheels are installed (`make models`)
        from crosslingual.pretrained import wheels

        if wheels.installed("gemma-3-270m"):
            assert not absent
        else:
            assert set(absent) == {"fig_hf"} and "To run it:" in page_text(page)


def test_index_leads_to_the_intro(smoke_book):
    assert "book/intro.html" in smoke_book.read_text()


@pytest.mark.parametrize("page", ["book/intro.html", "book/method.html", "book/experiments/cost.html",
                                  "book/references.html", "book/api.html", "book/reuse.html",
                                  *[f"book/experiments/{p.stem}.html" for p in NOTEBOOKS]])
def test_every_page_exists_and_shows_no_traceback(smoke_book, page):
    html = (smoke_book.parent / page).read_text()
    assert "Traceback (most recent call last)" not in html
    assert len(html) > 2000


def test_the_api_page_is_generated_from_the_docstrings(smoke_book):
    """Sphinx autodoc writes the public API (``book/api.md``) from the package's docstrings at every build."""
    page = (smoke_book.parent / "book" / "api.html").read_text()
    for name in ("crosslingual.make_config", "crosslingual.store.fetch.get_or_train", "crosslingual.store.runs.Run",
                 "crosslingual.core.metrics.unification.unification_score", "crosslingual.claims.stats.median_interval",
                 "crosslingual.pretrained.wheels.load_causal_lm"):
        assert f'id="{name}"' in page, name


# What no page of the book's text may show a reader, as patterns over its visible text: numbers that broke (a NaN,
# an infinity, a negative zero, a p-value printed as zero), a parameter count of a model that was not built, a
# command-line flag typeset with an en dash (it cannot be pasted), and references a reader cannot follow. The API
# page is left out: its signatures show defaults such as ``p=nan``, which are code, not results.
BANNED = {"nan": r"\bnan\b", "NaN": r"\bNaN\b", "inf": r"(?<![\w-])inf\b", "-0.000": r"(?<![\w.])-0\.0+(?![\d])",
          "p = 0.000": r"\bp = 0\.0+(?![\d])", "0 parameters": r"\b0 parameters\b", "en-dash flag": r"(?<![\w])–[a-z]",
          "issue #": r"issue #", "science.md": r"science\.md", "design notes": r"design notes",
          "an issue number": r"(?<![\w&;])#\d+\b"}


def page_text(html: str) -> str:
    """What a reader sees of a page: its text without scripts, styles and tags, whitespace collapsed."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S | re.I)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_page_text_drops_scripts_and_tags():
    assert page_text("<p>a <b>b</b></p><script>var x = NaN;</script>\n<style>p {}</style> c") == "a b c"


def test_the_banned_patterns_find_what_they_ban_and_spare_ordinary_text():
    said = "information infobox financial overlap = 0.0 and pages 3–5, G1–G3; a = 0.50 p = 0.031 -0.001 &#36;"
    assert not [name for name, pattern in BANNED.items() if re.search(pattern, said)]
    for name, bad in [("nan", "by nan nats"), ("NaN", "rho NaN"), ("inf", "ratio inf"), ("-0.000", "a -0.000 gap"),
                      ("p = 0.000", "(p = 0.000)"), ("0 parameters", "4 layers, 0 parameters"),
                      ("en-dash flag", "sweep –seeds 2"), ("issue #", "issue #19"), ("an issue number", "in #36")]:
        assert re.search(BANNED[name], bad), name


@pytest.mark.parametrize("page", ["book/intro.html", "book/method.html", "book/experiments/cost.html",
                                  "book/experiments/claims.html", "book/references.html", "book/reuse.html",
                                  *[f"book/experiments/{p.stem}.html" for p in NOTEBOOKS]])
def test_no_page_shows_a_broken_number_or_cites_what_a_reader_cannot_follow(smoke_book, page):
    text = page_text((smoke_book.parent / page).read_text())
    found = {name: text[max(0, m.start() - 60):m.end() + 40] for name, pattern in BANNED.items()
             if (m := re.search(pattern, text))}
    assert not found, (page, found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_figures_exist(smoke_book, path):
    html_dir = smoke_book.parent
    page = html_dir / "book" / "experiments" / f"{path.stem}.html"
    images = re.findall(r'<img[^>]+src="([^"]+)"', page.read_text())
    assert images, f"{page.name} has no figures"
    for src in images:
        if not src.startswith("data:"):
            assert (page.parent / src).resolve().is_file(), f"missing image {src} in {page.name}"


def test_claims_page_lists_every_claim_with_a_verdict_and_a_working_link(smoke_book):
    page = (smoke_book.parent / "book" / "experiments" / "claims.html").read_text()
    for claim in [*(f"R{i}" for i in range(1, 9)), "H1", "H2", "H3", "G1", "G2", "G3", "G4"]:
        assert re.search(rf"<strong>{claim}</strong>", page), f"{claim} missing from the claims page"
    assert ">not recorded</span>" not in page, "a chapter of the smoke build recorded no verdict for one of its claims"
    links = re.findall(r'href="([^"#]*)#(verdicts-[\w-]+)"', page)
    sections = {"verdicts-03-redesign", "verdicts-05-redesign", "verdicts-06-redesign", "verdicts-07-redesign",
                "verdicts-08-model", "verdicts-09-model", "verdicts-09-redesign", "verdicts-09-h2-redesign",
                "verdicts-10-model", "verdicts-10-redesign", "verdicts-10-g13-redesign",
                "verdicts-09-first-design", "verdicts-10-first-design"}
    assert {anchor for _, anchor in links} == {f"verdicts-{i:02d}" for i in range(3, 11)} | sections
    for target, anchor in links:
        assert f'id="{anchor}"' in (smoke_book.parent / "book" / "experiments" / target).read_text()


def test_the_claims_page_offers_each_chapters_tables_as_csv(smoke_book):
    """Each chapter's verdicts link the tables they were computed from (``publish_verdicts(..., data=...)``): the
    files are shipped with the book and hold the rows the page says."""
    page = smoke_book.parent / "book" / "experiments" / "claims.html"
    links = re.findall(r'href="([^"]*_downloads/[^"]+/(verdicts-[\w-]+)\.csv)"[^>]*>.*?</a>\s*\(([\d,]+) rows\)',
                       page.read_text(), flags=re.S)
    anchors = {stem.rsplit("-", 1)[0] for _, stem, _ in links}
    assert {f"verdicts-{i:02d}" for i in range(3, 11)} <= anchors, anchors
    for href, stem, rows in links:
        table = pd.read_csv(page.parent / href)
        assert len(table) == int(rows.replace(",", "")) > 0, stem
        assert "Unnamed: 0" not in table.columns, f"{stem} carries a row number"
    # a verdict recomputed from its downloaded table is the verdict the chapter recorded
    from crosslingual.claims import linguistic_regions
    from crosslingual.render.scoreboard import read_claims

    experiments = SMOKE / "book" / "book" / "experiments"
    recorded = next(row for row in read_claims(experiments / ".claims.jsonl")
                    if row["claim"] == "G1" and row["anchor"] == "verdicts-10")
    again = linguistic_regions.g1_core_region(pd.read_csv(experiments / "data" / "verdicts-10-ablation.csv"))
    assert (again.verdict, again.evidence) == (recorded["verdict"], recorded["evidence"])


def test_cost_page_counts_the_runs_each_notebook_used(smoke_book):
    cost = (SMOKE / "book" / "book" / "experiments" / "cost.md").read_text()
    assert "profile `smoke`" in cost
    # one table per profile, the built one first and measured, the others estimated from it
    sections = re.split(r"^## Profile `(\w+)` \((measured|estimated)\b.*$", cost, flags=re.M)
    tables = {name: (kind, text) for name, kind, text in zip(sections[1::3], sections[2::3], sections[3::3])}
    assert list(tables) == ["smoke", "default", "paper"]
    assert [kind for kind, _ in tables.values()] == ["measured", "estimated", "estimated"]
    counts = {}
    for name, (_, text) in tables.items():
        rows = re.findall(r"^\| `?\**([\w ()*]+?)\**`? \| (\d+) \|", text, flags=re.M)
        counts[name] = [(chapter, int(n)) for chapter, n in rows]
    measured = tables["smoke"][1]
    assert "| `01_world` | 0 |" in measured
    assert "| `02_unification_dynamics` | 5 |" in measured  # seeds=5 at every profile
    per_chapter = sum(n for name, n in counts["smoke"] if not name.startswith("total"))
    total = next(n for name, n in counts["smoke"] if name.startswith("total"))
    assert 0 < total < per_chapter  # chapters share runs; the total counts each once
    # a counterpart is one per run (n/a ones included), and going up from smoke no two runs share one
    assert counts["default"] == counts["paper"] == counts["smoke"]


def test_no_page_loads_anything_from_the_network(smoke_book):
    """Offline rendering: scripts, styles and images (MathJax included) come from the book itself."""
    html_dir = smoke_book.parent
    external = []
    for page in html_dir.rglob("*.html"):
        for tag in re.findall(r"<(?:script|link|img)\b[^>]*>", page.read_text()):
            if re.search(r'\b(?:src|href)="(?:https?:)?//', tag):
                external.append((page.relative_to(html_dir), tag[:120]))
    assert not external
    assert (html_dir / "_static" / "mathjax" / "es5" / "tex-mml-chtml.js").is_file()


def test_the_studies_trained_up_front_are_the_runs_the_notebooks_ask_for():
    """make book trains every study first; a notebook whose default seeds differed would retrain instead."""
    from crosslingual.store.grids import Grid, studies

    for name in studies():
        grid = Grid.load(name)
        assert (grid.profile, grid.seeds, grid.seed) == ("default", 5, 0), name
        users = [p for p in NOTEBOOKS
                 if any(f'Grid.load("{name}")' in c.source for c in nbformat.read(p, as_version=4).cells)]
        assert users, f"no notebook uses the study {name}"
        for path in users:
            params = _parameters(path)
            assert (params["seeds"], params["seed"]) == (grid.seeds, grid.seed), (name, path.name)


def test_the_notebooks_train_nothing_the_continued_trainings_are_computed_before_them(smoke_book, monkeypatch):
    """Chapter 10's continued trainings are computed by ``derive_chapters`` before the notebooks, under the keys
    the notebook asks for: computing them again finds every table (a computation would fail here), and the store
    holds no others (a notebook asking under other keys would have trained and added its own)."""
    from crosslingual.analysis import regions_study
    from crosslingual.render.build import derive_chapters
    from crosslingual.render.chapters import chapter, runs_first_design
    from crosslingual.store.layout import DERIVED, runs_root

    tables = sorted((runs_root() / DERIVED).glob("forgetting-*.parquet"))
    designs = 1 + runs_first_design("first_design", "auto", "smoke")  # G4-redesign, and G4's first design
    assert len(tables) == designs * _parameters(ROOT / "notebooks" / "10_linguistic_regions.ipynb")["seeds"]
    monkeypatch.setattr(regions_study, "_continued",
                        lambda *args, **kwargs: pytest.fail("a continued training was computed again"))
    derive_chapters(ROOT, "smoke", (chapter("10"),))
    assert sorted((runs_root() / DERIVED).glob("forgetting-*.parquet")) == tables


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_chapter_page_says_how_it_was_made_and_hides_its_code(smoke_book, path):
    executed = nbformat.read(SMOKE / "book" / "book" / "experiments" / path.name, as_version=4)
    box = [c for c in executed.cells if "crosslingual-provenance" in c.metadata.get("tags", [])]
    assert len(box) == 1 and executed.cells.index(box[0]) == 1, "one provenance box, under the title"
    assert "profile = `'smoke'`" in box[0].source and "commit" in box[0].source and "compute" in box[0].source
    for cell in executed.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code":
            hidden = {"remove-cell"} if {"parameters", "injected-parameters"} & set(tags) else {"hide-input"}
            assert hidden <= set(tags), f"{path.name}: a code cell is shown expanded: {cell.source[:60]!r}"
    html = (smoke_book.parent / "book" / "experiments" / f"{path.stem}.html").read_text()
    assert "How this page was made" in html and "# Parameters" not in html
    assert "differ from the rest of the book" not in html  # a whole build carries no banner


def test_one_chapter_re_executed_with_a_parameter_carries_a_banner_and_marks_its_verdicts(smoke_book, tmp_path):
    import shutil

    from crosslingual.render.build import build_book

    copy = tmp_path / "book"
    shutil.copytree(SMOKE / "book", copy, ignore=shutil.ignore_patterns("_build"))
    with pytest.raises(ConfigError, match="04_exposure_control has no parameter 'parallel_fracton'"):
        build_book(ROOT, profile="smoke", out=copy, only="04", parameters={"parallel_fracton": 0.5})
    with pytest.raises(ConfigError, match="need --chapter"):
        build_book(ROOT, profile="smoke", out=copy, parameters={"seed": 1})
    index = build_book(ROOT, profile="smoke", out=copy, only="04", parameters={"seed": 1})
    page = (index.parent / "book" / "experiments" / "04_exposure_control.html").read_text()
    assert "differ from the rest of the book" in page and "seed = " in page
    other = (index.parent / "book" / "experiments" / "03_information.html").read_text()
    assert "differ from the rest of the book" not in other  # the other chapters keep their pages
    claims = (index.parent / "book" / "experiments" / "claims.html").read_text()
    assert "re-executed: seed=1" in claims and claims.count("re-executed") >= 1
    assert ">not recorded</span>" not in claims


# Reductions a notebook may not call: a number the prose or a table quotes comes from a package function.
# Inside a plotting call (seaborn, matplotlib, crosslingual.render.plots, an Axes) they only shape what is drawn.
AGGREGATIONS = {"mean", "median", "std", "var", "sum", "min", "max", "agg", "aggregate", "quantile", "corr",
                "count", "idxmax", "idxmin", "prod", "cumsum", "nanmax", "nanmin", "nanmean", "transform"}
PLOTTING = {"sns", "plt", "plots", "ax", "axes", "fig"}


def _aggregations(tree) -> list[str]:
    """The aggregating calls of a cell's syntax tree outside plotting calls."""
    import ast

    def root(node):
        while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
            node = node.func if isinstance(node, ast.Call) else node.value
        return node.id if isinstance(node, ast.Name) else None

    found = []

    def visit(node, plotting: bool) -> None:
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and node.func.attr in AGGREGATIONS and not plotting:
                found.append(ast.unparse(node))
            plotting = plotting or root(node.func) in PLOTTING
        for child in ast.iter_child_nodes(node):
            visit(child, plotting)

    visit(tree, False)
    return found


def test_the_aggregation_check_finds_a_mean_outside_a_plot():
    import ast

    assert _aggregations(ast.parse("glue('x', float(final.acc.mean()))")) == ["final.acc.mean()"]
    assert _aggregations(ast.parse("x = table.groupby('a').b.agg('max')")) == ["table.groupby('a').b.agg('max')"]
    assert _aggregations(ast.parse("sns.lineplot(data=d.groupby('a', as_index=False).b.median(), ax=ax)")) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_notebook_defines_no_analysis(path):
    """Analysis lives in the package, where unit tests reach it: a chapter defines no function or class,
    imports no statistics library (it calls crosslingual's) and reduces no table itself (means, extremes,
    counts and correlations come from package functions)."""
    import ast

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse("\n".join("" if line.startswith("%") else line for line in cell.source.splitlines()))
        defined = [n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        assert not defined, f"{path.name} defines {defined}: move them into the package"
        modules = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        modules |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not modules & {"scipy", "sklearn", "statsmodels"}, f"{path.name} imports {modules}"
        reductions = _aggregations(tree)
        assert not reductions, f"{path.name} computes {reductions}: quote a package function's result instead"


_INTERVAL = re.compile(r"(?P<est>-?\d+\.\d+) \[(?P<lo>-?\d+\.\d+), (?P<hi>-?\d+\.\d+)\]")
_SIGNED = ("rho", "trend", "gain", "difference", "minus", "corrected")  # within [-1, 1]
_SHARES = ("accuracy", "share", "overlap", "precision")  # within [0, 1], unless a signed word comes with them


def intervals_out_of_range(text: str) -> list[str]:
    """Every "<estimate> [<low>, <high>]" quoted for an accuracy, share, overlap or precision (within [0, 1]) or a
    correlation, trend or difference of them (within [-1, 1]), as the 60 characters before it name it, whose
    interval leaves that range or does not hold its estimate."""
    bad = []
    for m in _INTERVAL.finditer(text):
        before = text[max(0, m.start() - 60):m.start()]
        if not any(word in before for word in (*_SIGNED, *_SHARES)) or "gap" in before:
            continue  # a share of a loss gap (G1/G3-redesign) has no fixed range: a removal can lower the loss
        floor = -1.0 if any(word in before for word in _SIGNED) else 0.0
        est, lo, hi = (float(m[k]) for k in ("est", "lo", "hi"))
        if not (floor <= lo <= est <= hi <= 1.0):
            bad.append(text[max(0, m.start() - 40):m.end()])
    return bad


def test_the_range_check_finds_an_interval_outside_its_parameter():
    assert intervals_out_of_range("final rho across runs median 0.91 [0.71, 1.11]") == [
        "final rho across runs median 0.91 [0.71, 1.11]"]
    assert intervals_out_of_range("share of runs 0.87 [0.73, 1.01]") == ["share of runs 0.87 [0.73, 1.01]"]
    assert len(intervals_out_of_range("per-seed trend 0.56 [-0.53, 1.65]")) == 1
    assert intervals_out_of_range("core share of the gap, per seed: L0 0.080 [-0.017, 0.130]") == []
    assert intervals_out_of_range("share median 0.87 [0.73, 1.00]; accuracy median 0.41 [0.36, 0.46]; gain in "
                                  "accuracy median -0.10 [-0.13, -0.09]; share: rho median -0.62 [-0.85, -0.45]") == []


def test_no_verdict_quotes_an_interval_outside_its_parameters_range(smoke_book):
    """science.md 5: intervals stay in their parameter's range; every verdict of the smoke build, as recorded and
    as the Claims page shows it."""
    log = SMOKE / "book" / "book" / "experiments" / ".claims.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert rows
    bad = [(row["claim"], i) for row in rows for i in intervals_out_of_range(row["evidence"])]
    page = re.sub(r"<[^>]+>", "", (smoke_book.parent / "book" / "experiments" / "claims.html").read_text())
    assert bad == [] and intervals_out_of_range(page) == []


def test_the_cite_block_names_the_package_s_version():
    from crosslingual import __version__

    intro = (ROOT / "book" / "intro.md").read_text()
    assert re.findall(r"version = \{([^}]*)\}", intro) == [__version__]
    assert f'version = "{__version__}"' in (ROOT / "pyproject.toml").read_text()
