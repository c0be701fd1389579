"""What the book found (``crosslingual.render.findings``): the results table per paper that opens the book, on
hand-made verdict rows."""

from __future__ import annotations

import json

from crosslingual.claims import hyperpolyglot, linguistic_regions, rosetta
from crosslingual.render import sentences
from crosslingual.render.chapters import not_run_reason
from crosslingual.render.findings import findings_markdown, findings_page, findings_table
from crosslingual.render.scoreboard import CONTROL, NOT_RUN, badge, best_tests, shown_verdict


def row(claim: str, verdict: str, evidence: str = "median 0.5 [0.4, 0.6], 5/5 seeds above 0, p = 0.031",
        chapter: str = "10_linguistic_regions", **more) -> dict:
    return {"claim": claim, "verdict": verdict, "statement": f"{claim.split(' ')[0]} in words", "evidence": evidence,
            "chapter": chapter, "anchor": f"verdicts-{chapter[:2]}", "role": "evidence", "superseded_by": "",
            "differs": {}, **more}


def table_rows(markdown: str) -> dict[str, str]:
    return {line.split("**")[1]: line for line in markdown.splitlines() if line.startswith("| **")}


def test_a_positive_control_is_badged_as_a_control_and_a_section_left_out_as_not_run():
    assert shown_verdict(row("R5 (entity_overlap)", "reproduced", role="positive control")) == CONTROL
    for reason in (not_run_reason("g13_redesign"), sentences.skipped("gemma-3-270m", "smollm2-135m"),
                   sentences.not_installed("smollm2-135m"), sentences.missing_models(["gemma-3-270m"]),
                   sentences.r8_missing_model("")):
        assert shown_verdict(row("G1 (gemma-3-270m)", "untestable", reason)) == NOT_RUN, reason
    measured = "no outlier dimension: the largest norm-weight dimension is 5.4x its norm's median"
    assert shown_verdict(row("G3", "untestable", measured)) == "untestable"
    left_out = row("G1 (gemma-3-270m)", "untestable", not_run_reason("x"))
    assert badge(left_out) == "{bdg-secondary}`not run in this build`"
    assert badge(row("G3", "untestable", measured)) == "{bdg-primary}`untestable`"


def test_the_best_test_is_the_redesign_else_the_design_never_a_superseded_one_and_every_chapter_s():
    rows = [row("G1", "not reproduced", superseded_by="G1-redesign"), row("G1-redesign", "partial"),
            row("R3", "reproduced", chapter="03_information"),
            row("R3", "reproduced", chapter="07_unification_predicts_transfer"),
            row("G4", "superseded", superseded_by="G4-redesign")]
    assert [r["claim"] for r in best_tests(rows, "G1")] == ["G1-redesign"]
    assert [r["chapter"] for r in best_tests(rows, "R3")] == ["03_information", "07_unification_predicts_transfer"]
    assert best_tests(rows, "G4") == []


def test_a_paper_s_table_gives_the_claim_the_paper_ours_and_the_real_models_and_says_where_they_disagree():
    rows = [row("G1-redesign", "not reproduced", "0/6 languages; core share 0.04 [0.03, 0.08] (0/5 above 0.5)"),
            row("G1 (smollm2-135m)", "reproduced", "11/11 languages"),
            row("G1 (gemma-3-270m)", "untestable", sentences.skipped("gemma-3-270m", "smollm2-135m")),
            row("G2", "reproduced", "excess median 0.12 [0.10, 0.20], 5/5 seeds above 0, p = 0.031 (vs 0.1: 4/5"),
            row("G3", "untestable", "no outlier dimension"),
            row("G4-redesign", "not reproduced")]
    table, counts = findings_table(rows, linguistic_regions)
    assert table.startswith("```{table}\n:class: crosslingual-findings\n") and table.endswith("\n```")
    lines = table_rows(table)
    assert list(lines) == ["G1", "G2", "G3", "G4"]
    g1 = lines["G1"]
    assert "**G1** G1-redesign in words (best test: G1-redesign)" in g1 and linguistic_regions.PAPER_FIGURES["G1"] in g1
    assert "{bdg-danger}`not reproduced` 0/6 languages ({ref}`chapter 10 <verdicts-10>`)" in g1
    assert "*The small models do not show it; a real model does.*" in g1
    assert g1.endswith("| smollm2-135m: {bdg-success}`reproduced`; gemma-3-270m: {bdg-secondary}`not run in this "
                       "build` |")
    # the first clause of the evidence, without a parenthesis that the clause cut open
    assert "excess median 0.12 [0.10, 0.20], 5/5 seeds above 0, p = 0.031 ({ref}" in lines["G2"]
    assert "*The small" not in lines["G2"] and lines["G2"].endswith("| — |")
    assert dict(counts) == {"not reproduced": 2, "reproduced": 1, "untestable": 1}


def test_a_claim_without_a_recorded_verdict_says_so_and_is_counted():
    table, counts = findings_table([row("H3", "reproduced", chapter="09_embedding_geometry")], hyperpolyglot)
    assert "| not recorded |" in table_rows(table)["H1"] and counts["not recorded"] == 2


def test_the_findings_page_has_every_paper_with_its_count(tmp_path):
    log = tmp_path / "claims.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in [row("R1", "reproduced", chapter="03_information")]) + "\n")
    page = findings_page(log)
    for paper in ("### Beyond the Rosetta Stone", "### Hyperpolyglot LLMs", "### Unveiling Linguistic Regions"):
        assert paper in page
    assert f"{len(rosetta.PAPER_FIGURES)} claims: 1 reproduced, 7 not recorded." in page
    assert findings_markdown([]).count("not recorded |") == 15
    assert page.startswith("```{figure} /book/experiments/findings.svg\n:alt: ")  # the verdict map comes first
    assert (tmp_path / "findings.svg").read_text().startswith("<?xml")


def test_the_verdict_map_labels_every_cell_with_its_verdict_in_the_badge_s_colour():
    from matplotlib.colors import to_hex

    from crosslingual.render.findings import COLOURS, verdict_map

    rows = [row("G1-redesign", "not reproduced"), row("G1", "partial", superseded_by="G1-redesign"),
            row("G1 (smollm2-135m)", "reproduced"), row("R5 (entity_overlap)", "reproduced", role="control"),
            row("H3", "reproduced", chapter="09_embedding_geometry")]
    fig = verdict_map(rows)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["small models\n(best test)", "smollm2-\n135m"]
    assert [t.get_text() for t in ax.get_yticklabels()] == [*(f"R{i}" for i in range(1, 9)), "H1", "H2", "H3",
                                                            "G1", "G2", "G3", "G4"]
    cells = {(round(t.get_position()[0] - 0.5), round(t.get_position()[1] - 0.5)): t.get_text() for t in ax.texts}
    assert cells[(0, 11)] == "not reproduced" and cells[(1, 11)] == "reproduced"  # G1: the redesign, and SmolLM2
    assert cells[(0, 10)] == "reproduced" and cells[(0, 0)] == "not recorded" and (1, 0) not in cells
    colours = {to_hex(p.get_facecolor()) for p in ax.patches}
    assert {COLOURS["not reproduced"], COLOURS["reproduced"], COLOURS["not recorded"]} <= colours
    assert [t.get_text() for t in fig.axes[0].texts if t.get_rotation() == 90] == [
        "Beyond the Rosetta Stone", "Hyperpolyglot\nLLMs", "Unveiling\nLinguistic Regions"]


def test_a_chapter_opens_with_its_verdicts_on_whole_claims_and_real_models():
    from crosslingual.render.findings import chapter_findings

    rows = [row("G1-redesign", "not reproduced", "0/6 languages; more", anchor="verdicts-10-g13-redesign"),
            row("G1-redesign (L0)", "not reproduced"), row("G1 (smollm2-135m)", "reproduced", "11/11 languages"),
            row("G1", "partial", superseded_by="G1-redesign"),
            row("G4", "superseded", "not judged in this build", superseded_by="G4-redesign")]
    box = chapter_findings(rows)
    assert box.startswith(":::{admonition} What this chapter found\n:class: crosslingual-chapter-findings\n")
    items = [line for line in box.splitlines() if line.startswith("- ")]
    assert items == [
        "- {bdg-danger}`not reproduced` **G1-redesign**: G1-redesign in words. 0/6 languages "
        "({ref}`its test <verdicts-10-g13-redesign>`)",
        "- {bdg-success}`reproduced` **G1 (smollm2-135m)**: G1 in words. 11/11 languages "
        "({ref}`its test <verdicts-10>`)",
        "- {bdg-warning}`partial` **G1** (the first design, superseded by G1-redesign): G1 in words. median 0.5 "
        "[0.4, 0.6], 5/5 seeds above 0, p = 0.031 ({ref}`its test <verdicts-10>`)"]
    assert chapter_findings([row("G1-redesign (L0)", "partial")]) == ""


def test_a_commit_hash_links_to_the_repository_where_the_book_names_one(tmp_path):
    from crosslingual.render.scoreboard import commit_ref, repository_url

    assert repository_url(tmp_path) == ""  # no _config.yml
    (tmp_path / "_config.yml").write_text("title: x\n# repository:\n#   url: https://example.org/r\n")
    assert repository_url(tmp_path) == ""  # the documented example, commented out
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://example.org/r/\n")
    url = repository_url(tmp_path)
    assert url == "https://example.org/r"
    assert commit_ref("5790b95", "") == "`5790b95`"
    assert commit_ref("5790b95 + uncommitted changes (diff 0a1b2c3d)", url) == (
        "[`5790b95`](https://example.org/r/commit/5790b95) + uncommitted changes (diff 0a1b2c3d)")
    assert commit_ref("uncommitted", url) == "uncommitted" and commit_ref("", url) == ""


def test_a_chapter_ends_with_its_verdicts_in_full_their_count_and_where_small_and_real_models_disagree():
    from crosslingual.render.findings import chapter_summary

    rows = [row("G1-redesign", "not reproduced", "0/6 languages; run `make book` for more"),
            row("G1-redesign (L0)", "not reproduced"), row("G1 (smollm2-135m)", "reproduced", "11/11 languages"),
            row("G1", "partial", superseded_by="G1-redesign")]
    summary = chapter_summary(rows).splitlines()
    assert summary[0] == "## What this chapter showed"
    assert summary[2] == "This chapter reached 3 verdicts: 1 reproduced, 1 partial, 1 not reproduced."
    assert summary[4] == ("- {bdg-danger}`not reproduced` **G1-redesign**: G1-redesign in words. 0/6 languages; run "
                          "`make book` for more")  # the evidence in full, the part (L0) left to the chapter's tables
    assert summary[6].startswith("- {bdg-warning}`partial` **G1** (the first design, superseded by G1-redesign)")
    assert "The small models do not show it; a real model does." in summary
    assert summary[-1].endswith("{doc}`/book/experiments/claims`.")
    agree = chapter_summary([row("G1-redesign", "reproduced"), row("G1 (smollm2-135m)", "reproduced")])
    assert "do not show it" not in agree and "does not" not in agree
    assert chapter_summary([row("G1-redesign (L0)", "partial")]) == ""
