"""A section a build did not run is one admonition on its page (``crosslingual.render.absences``): which part of
a page is replaced, what stays (headings, opening prose, labels, glued values), and what the admonition says."""

from __future__ import annotations

import json

import pytest

from crosslingual.render import absences, sentences
from crosslingual.render.cost import first_design_seconds
from crosslingual.store.grids import Grid
from crosslingual.store.sweep import expected_cost

FIRST = {"claims": [["H1", "Scripts separate."], ["H2", "Neighbourhoods mix."]], "reason": "the first design is not "
         "judged in this build: it runs on request (-p first_design yes)", "parameter": "first_design=yes",
         "first_design": True}


def md(cell_id: str, text: str) -> dict:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": text.splitlines(keepends=True)}


def code(cell_id: str, *figures: str, payload: dict | None = None) -> dict:
    """A code cell whose outputs hold a shown table, a glued value and an absence marker per figure."""
    outputs = [{"output_type": "display_data", "data": {"text/html": "<table/>"}, "metadata": {}},
               {"output_type": "display_data", "metadata": {"scrapbook": {"name": f"{cell_id}_value",
                                                                            "mime_prefix": absences.PREFIX}},
                "data": {absences.PREFIX + "text/plain": "1"}}]
    outputs += [{"output_type": "display_data", "data": {absences.PREFIX + absences.MIME: json.dumps(payload or FIRST)},
                 "metadata": {"scrapbook": {"name": absences.marker_key(f), "mime_prefix": absences.PREFIX}}}
                for f in figures]
    return {"cell_type": "code", "id": cell_id, "metadata": {"tags": ["hide-input"]}, "outputs": outputs,
            "source": ["x = 1\n"]}


def figure(name: str, after: str = "The table above gives each level.") -> str:
    return f"```{{glue:figure}} {name}\n:name: {name}\n\nA caption.\n```\n\n{after}\n"


def text(cells: list[dict]) -> str:
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def removed(cells: list[dict]) -> list[str]:
    return [c["id"] for c in cells if "remove-cell" in c.get("metadata", {}).get("tags", [])]


def test_a_section_whose_figures_did_not_run_becomes_its_opening_and_one_admonition():
    cells = [md("title", "# Chapter\n\nIntro."),
             md("a", "(label-a)=\n## A first design\n\nWhat it tests."),
             code("c1", "fig_a1"),
             md("f1", "(label-inner)=\n" + figure("fig_a1") + "\n### A part\n\nMore prose."),
             code("c2", "fig_a2"),
             md("f2", figure("fig_a2")),
             md("b", "## B\n\nB's prose.\n\n" + figure("fig_b")),
             code("c3")]
    out = absences.collapse(cells, "09_embedding_geometry", cost="Estimated cost: 3 runs.")
    page = text(out)
    assert "(label-a)=\n## A first design\n\nWhat it tests." in page  # the heading and what the section tests
    assert "fig_a1" not in page and "fig_a2" not in page and "The table above" not in page.split("## B")[0]
    assert "### A part" not in page and "More prose." not in page
    assert page.count("```{admonition}") == 1 and "(label-inner)=" in page  # links into the section still land
    assert "## B\n\nB's prose." in page and "{glue:figure} fig_b" in page  # a section that ran is untouched
    assert removed(out) == ["c1", "c2"] and all(c in out for c in cells if c["cell_type"] == "code")
    assert len({c["id"] for c in out}) == len(out)
    assert out[0] == cells[0] and out[-1] == cells[-1] and out[-2] == cells[-2]


def test_only_the_innermost_section_goes_where_its_parent_drew_a_figure():
    cells = [md("a", "## A\n\nOpening.\n\n### Ran\n\nProse."), code("c1"), md("f1", figure("fig_ran")),
             md("s", "### Did not run\n\nWhat it tests."), code("c2", "fig_gone"), md("f2", figure("fig_gone")),
             md("n", "## Next\n\nNext prose.")]
    page = text(absences.collapse(cells, "08_real_strings"))
    assert "{glue:figure} fig_ran" in page and "### Did not run\n\nWhat it tests." in page
    assert "fig_gone" not in page and page.count("```{admonition}") == 1
    assert page.index("```{admonition}") > page.index("### Did not run") and "## Next\n\nNext prose." in page


def test_where_the_figures_section_also_drew_one_that_ran_only_the_figure_and_its_reading_go():
    cells = [md("a", "## A\n\nOpening."), code("c1", "fig_gone"),
             md("f", figure("fig_ran", "Reads fig_ran.") + "\n" + figure("fig_gone", "Reads the absent one.")),
             code("c2"), md("after", "Later prose.")]
    out = absences.collapse(cells, "10_linguistic_regions")
    page = text(out)
    assert "Reads fig_ran." in page and "Reads the absent one." not in page and "Later prose." in page
    assert page.count("```{admonition}") == 1 and removed(out) == []


def test_a_page_without_markers_is_returned_as_it_is():
    cells = [md("a", "## A\n\n" + figure("fig_a")), code("c1")]
    assert absences.collapse(cells, "03_information") is cells


def test_the_markers_are_read_from_the_outputs_and_the_glued_values_stay():
    cells = [md("a", "## A\n\nOpening."), code("c1", "fig_a"), md("f", figure("fig_a"))]
    assert absences.markers(cells) == {"fig_a": FIRST}
    kept = next(c for c in absences.collapse(cells, "05_extractability") if c["cell_type"] == "code")
    assert [o["metadata"].get("scrapbook", {}).get("name") for o in kept["outputs"]] == [
        None, "c1_value", "crosslingual-absent:fig_a"]  # myst-nb reads glue from a removed cell too


def test_headings_inside_a_directive_or_code_block_do_not_start_sections():
    cells = [md("a", "## A\n\nOpening.\n\n```python\n# not a heading\n```"), code("c1", "fig_a"),
             md("f", figure("fig_a")), md("b", "## B\n\nStays.")]
    page = text(absences.collapse(cells, "05_extractability"))
    assert "# not a heading" in page and "Stays." in page and "fig_a" not in page


def test_the_admonition_says_what_the_section_tests_why_it_did_not_run_how_to_run_it_and_its_cost():
    said = sentences.absent_section([FIRST, FIRST], "09_embedding_geometry", "Estimated cost: 3 runs.")
    assert said == (
        "```{admonition} Not run in this build: H1 and H2\n:class: crosslingual-absent\n\n"
        "This section judges **H1**: Scripts separate; **H2**: Neighbourhoods mix.\n"
        "It did not run: the first design is not judged in this build: it runs on request (`-p first_design yes`).\n"
        "To run it: `crosslingual book --chapter 09 -p first_design=yes` (`make book FIRST_DESIGNS=1` runs every "
        "chapter's first design).\nEstimated cost: 3 runs.\n```")
    model = {"claims": [["R8", "Real models unify."]], "reason": "R8 was not run in this build (no model).",
             "parameter": "hf_model=DIR", "first_design": False}
    said = sentences.absent_section([model], "08_real_strings", "Estimated cost: 3 runs.")
    assert "R8 was not run in this build (no model).\nTo run it: `crosslingual book --chapter 08 -p hf_model=DIR`." \
        in said and "cost" not in said  # only a first design trains what it estimates


def test_the_cost_of_a_first_design_left_out_counts_the_runs_the_store_lacks(store):
    class StandIn:
        def __init__(self, cfg, seconds):
            self.config, self.info, self.path = cfg, {"wall_seconds_this_process": seconds}, None

    configs = {cfg.hash(): cfg for *_, cfg in Grid.load("extractability").expand("smoke")}
    one = next(iter(configs.values()))
    runs = [StandIn(one, 2 * expected_cost(one))]  # a rate of 2 s per unit of expected cost
    n, seconds = first_design_seconds(("extractability",), "smoke", runs)
    assert n == len(configs) and seconds == pytest.approx(2 * sum(map(expected_cost, configs.values())))
    (store / one.hash()).mkdir(parents=True)
    (store / one.hash() / "DONE").write_text("{}")
    assert first_design_seconds(("extractability",), "smoke", runs)[0] == len(configs) - 1
    assert first_design_seconds((), "smoke", runs) is None and first_design_seconds(("extractability",), "smoke", []) \
        is None
    assert sentences.first_design_cost(0, 0.0) == "Its runs are in the store: running it costs only its analysis."
    assert sentences.first_design_cost(12, 1500.0).startswith("Estimated cost: 12 runs, about 25 min of training")


def test_a_first_design_without_grids_of_its_own_gives_its_chapter_s_measured_cost():
    """G4's first design continues G2's runs: nothing to estimate from missing runs, so its admonition gives the
    chapter's measured ``first_cost``; a chapter with neither gives no cost rather than a wrong one."""
    from crosslingual.render.chapters import G4_FIRST_COST
    from crosslingual.render.provenance import _first_design_cost

    cells = [code("c1", "fig_g4")]
    assert _first_design_cost(cells, "10_linguistic_regions", "default", []) == G4_FIRST_COST
    assert "15 continued trainings" in G4_FIRST_COST and " s on one core" in G4_FIRST_COST
    assert _first_design_cost(cells, "05_extractability", "default", []) == ""  # no runs to take a rate from
    assert _first_design_cost([code("c1")], "10_linguistic_regions", "default", []) == ""  # nothing left out
