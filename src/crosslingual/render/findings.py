"""What the book found, paper by paper: the table a reader meets first (on the introduction and at the top of the
Claims page), written by the build from the verdicts the chapters recorded.

One row per claim of a paper: the claim in words; the paper's own result; the verdict of the claim's *best test*
(its redesign where it has one, else its own design; a claim recorded by two chapters shows both), with the first
clause of its evidence and a link to the chapter; and the verdicts on real pretrained models, which the row says
plainly where they disagree with the small models. A positive control is badged as a control, never as
"reproduced"; a claim whose section this build did not run is badged "not run in this build", apart from
"untestable", which is kept for a precondition measured absent. Under each table: how many claims each verdict
got. The badges' colours (``book/assets/crosslingual.css``) are the Okabe-Ito palette, which readers with the
common colour-vision deficiencies tell apart, and every badge also says its verdict in words.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from crosslingual.claims import PAPER_FIGURES, PAPERS
from crosslingual.claims.verdicts import (
    CONTRADICTED,
    KINDS,
    NOT_REPRODUCED,
    PASSES,
    SUPERSEDED,
    base_claim,
)
from crosslingual.files import write_atomic
from crosslingual.pretrained.wheels import SOURCES
from crosslingual.render.scoreboard import (
    CONTROL,
    NOT_RECORDED,
    NOT_RUN,
    badge,
    best_tests,
    commands_as_code,
    glossed,
    read_claims,
    shown_verdict,
)

FAILS = (NOT_REPRODUCED, CONTRADICTED)
TABLE_CLASS = "crosslingual-findings"  # fixed column widths that wrap long names (book/assets/crosslingual.css)
SHORT = 150  # characters of a verdict's evidence in the table (the chapter and the Claims page give it whole)


def real_model(label: str) -> str:
    """The pretrained model(s) a verdict's label names (``"H1 (gemma-3-270m)"`` -> ``"gemma-3-270m"``), or ""."""
    suffix = label.partition(" (")[2].rstrip(")")
    return suffix if any(name in suffix for name in SOURCES) else ""


def _short(text: str) -> str:
    """The first clause of a verdict's evidence, cut at a word before ``SHORT`` characters, and before a
    parenthesis that the cut left open."""
    text = glossed(text).split("; ")[0]
    cut = len(text) > SHORT
    if cut:
        text = text[:SHORT].rsplit(" ", 1)[0]
    while text.count("(") > text.count(")"):
        text = text[:text.rindex("(")].rstrip()
    if cut:
        text = text.rstrip(",;:") + " …"
    return commands_as_code(text).replace("|", "\\|")


def _link(row: dict) -> str:
    number = f"chapter {int(row['chapter'][:2])}" if row["chapter"][:2].isdigit() else row["chapter"]
    # an absolute document name: the table is included from pages in other folders
    return (f"{{ref}}`{number} <{row['anchor']}>`" if row.get("anchor")
            else f"{{doc}}`{number} </book/experiments/{row['chapter']}>`")


def _disagreement(best: list[dict], real: list[dict]) -> str:
    ours = {shown_verdict(r) for r in best}
    theirs = {shown_verdict(r) for r in real}
    if ours <= set(FAILS) and theirs & set(PASSES):
        return " *The small models do not show it; a real model does.*"
    if ours <= set(PASSES) and ours and theirs & set(FAILS):
        return " *The small models show it; a real model does not.*"
    return ""


def paper_claims(module) -> list[str]:
    """A paper's claims (without redesigns and parts), in their numbered order."""
    claims = {base_claim(label) for label in module.RULES}
    return sorted(claims, key=lambda c: (c[0], int(c[1:])))


def findings_table(rows: list[dict], module) -> tuple[str, Counter]:
    """One paper's results table (Markdown) and the count of its claims by the verdict of their best test."""
    lines = ["```{table}", f":class: {TABLE_CLASS}", "",
             "| claim | the paper | this book's best test | real models |", "|---|---|---|---|"]
    counts: Counter = Counter()
    for claim in paper_claims(module):
        best = best_tests(rows, claim)
        mine = [r for r in rows if base_claim(r["claim"]) == claim]
        real = [r for r in mine if real_model(r["claim"])]
        statement = next((r["statement"] for r in mine if r["claim"] == claim and r["statement"]),
                         best[0]["statement"] if best else "")
        label = best[0]["claim"] if best else claim
        ours = "; ".join(f"{badge(r)} {_short(r['evidence'])} ({_link(r)})" for r in best) or NOT_RECORDED
        theirs = "; ".join(f"{real_model(r['claim'])}: {badge(r)}" for r in real) or "—"
        paper = PAPER_FIGURES.get(claim, "") or "—"
        lines.append(f"| **{claim}** {glossed(statement)}{'' if label == claim else f' (best test: {label})'} | "
                     f"{paper} | {ours}{_disagreement(best, real)} | {theirs} |")
        words = {shown_verdict(r) for r in best}
        counts[words.pop() if len(words) == 1 else "mixed" if words else NOT_RECORDED] += 1
    return "\n".join([*lines, "```"]), counts


def count_line(counts: Counter) -> str:
    """How many of a paper's claims got each verdict (``5 claims: 2 reproduced, 3 not reproduced.``)."""
    order = [*KINDS, NOT_RUN, CONTROL, "mixed", NOT_RECORDED]
    said = [f"{counts[word]} {word}" for word in sorted(counts, key=lambda w: order.index(w) if w in order else 99)]
    total = sum(counts.values())
    return f"{total} claim{'' if total == 1 else 's'}: " + ", ".join(said) + "."


def findings_markdown(rows: list[dict], heading: str = "###") -> str:
    """Every paper's results table, with its count of verdicts: what the build includes in the introduction and
    at the top of the Claims page (``heading``: the level of each paper's heading there)."""
    parts = []
    for paper, module in PAPERS.items():
        table, counts = findings_table(rows, module)
        parts.append(f"{heading} {paper}\n\n{table}\n\n{count_line(counts)}")
    return "\n\n".join(parts)


FINDINGS = "findings.md"  # written next to the Claims page; the introduction includes it
FIGURE = "findings.svg"  # the verdict map, written beside it
# the badges' colours (book/assets/crosslingual.css), for the verdict map: the same word, the same colour
COLOURS = {"reproduced": "#0072b2", "partial": "#e69f00", "not reproduced": "#d55e00", "contradicted": "#a04000",
           "untestable": "#cc79a7", "insufficient data": "#f0e442", NOT_RUN: "#6c757d", CONTROL: "#e9ecef",
           "mixed": "#e9ecef", NOT_RECORDED: "#ffffff"}
DARK = {"reproduced", "not reproduced", "contradicted", NOT_RUN}  # colours that need white text


def verdict_map(rows: list[dict]):
    """The book's findings in one figure: a row per claim of the three papers, a column for this book's small
    models (the claim's best test) and one per real model, each cell coloured and labelled with its verdict (no
    legend to look up; an empty cell: not tested on that model)."""
    import matplotlib.pyplot as plt

    from crosslingual.render.plots import legible

    models = [name for name in SOURCES if any(real_model(r["claim"]) == name for r in rows)]
    columns = ["small models\n(best test)", *(name[:name.rindex("-") + 1] + "\n" + name[name.rindex("-") + 1:]
                                               for name in models)]
    claims = [(paper, claim) for paper, module in PAPERS.items() for claim in paper_claims(module)]
    fig, ax = plt.subplots(figsize=(7.0, 0.36 * len(claims) + 1.2))
    for y, (_, claim) in enumerate(claims):
        best = {shown_verdict(r) for r in best_tests(rows, claim)}
        cells = [best.pop() if len(best) == 1 else "mixed" if best else NOT_RECORDED]
        for name in models:
            said = {shown_verdict(r) for r in rows
                    if base_claim(r["claim"]) == claim and real_model(r["claim"]) == name}
            cells.append(said.pop() if len(said) == 1 else "mixed" if said else "")
        for x, word in enumerate(cells):
            if not word:
                continue
            ax.add_patch(plt.Rectangle((x + 0.04, y + 0.08), 0.92, 0.84, color=COLOURS.get(word, "#ffffff"),
                                       ec="#6c757d", lw=0.5))
            ax.text(x + 0.5, y + 0.5, word, ha="center", va="center", fontsize=9,
                    color="white" if word in DARK else "black")
    ax.set_xlim(0, len(columns))
    ax.set_ylim(len(claims), 0)
    ax.set_xticks([x + 0.5 for x in range(len(columns))], columns)
    ax.xaxis.tick_top()
    ax.set_yticks([y + 0.5 for y in range(len(claims))], [claim for _, claim in claims])
    ax.tick_params(length=0)
    for edge in ax.spines.values():
        edge.set_visible(False)
    for y, ((paper, _), (before, _)) in enumerate(zip(claims[1:], claims), start=1):
        if paper != before:
            ax.axhline(y, color="black", lw=1)
    for paper in PAPERS:  # each paper's name beside its block of rows, wrapped to the block's height
        rows_of = [y for y, (name, _) in enumerate(claims) if name == paper]
        words = paper.split(" ")
        label = paper if len(rows_of) > 6 else " ".join(words[:1]) + "\n" + " ".join(words[1:])
        ax.annotate(label, xy=(-0.07, (rows_of[0] + rows_of[-1] + 1) / 2), xycoords=("axes fraction", "data"),
                    rotation=90, ha="center", va="center", fontsize=9)
    legible(fig)
    fig.tight_layout()
    return fig


def write_verdict_map(rows: list[dict], path: Path) -> None:
    """The verdict map as SVG at ``path``, written atomically (a killed build leaves the last whole figure) and
    without a date, so that the same verdicts give the same file."""
    import io

    import matplotlib.pyplot as plt

    fig = verdict_map(rows)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    write_atomic(path, buffer.getvalue())


def findings_page(claims_log: Path) -> str:
    """The introduction's results section (``FINDINGS``): the verdict map (written beside it as ``FIGURE``), then
    every paper's table, from this build's verdicts."""
    rows = read_claims(claims_log)
    write_verdict_map(rows, claims_log.parent / FIGURE)
    first = {paper: paper_claims(module)[0] for paper, module in PAPERS.items()}
    figure = (f"```{{figure}} /book/experiments/{FIGURE}\n:alt: The verdict of every claim of the three papers, on "
              f"this book's small models and on each real model\n:width: 100%\n\nEvery claim of the three papers "
              f"({', '.join(f'{paper} from {claim}' for paper, claim in first.items())}): the verdict of its best "
              "test on the small models this book trains, and on each real model where the book tests it there. "
              "An empty cell: the claim is not tested on that model.\n```\n\n")
    return figure + ("Each claim's best test is its redesign where it has one (built so that the effect could appear), "
            "else the paper's design as we reconstructed it; the numbers are the median seed with the "
            "order-statistic interval of the median over at least 5 seeds, as the chapters give them; a verdict "
            "on a pretrained model describes that one model. {doc}`/book/experiments/claims` has every part of "
            "every verdict and the rules that decided them.\n\n" + findings_markdown(rows) + "\n")


CHAPTER_BOX_ID = "crosslingual-chapter-findings"  # the box's cell id and class on a chapter's page


def _chapter_verdicts(rows: list[dict]) -> list[dict]:
    """The verdicts a chapter recorded on a whole claim or on a real model (a part's row is left to the chapter's
    tables), never a superseded one that this build did not judge."""
    return [r for r in rows if {"claim", "verdict", "statement", "evidence"} <= set(r)  # a verdict's row
            and r["verdict"] != SUPERSEDED and (" (" not in r["claim"] or real_model(r["claim"]))]


def _first(row: dict) -> str:
    return f" (the first design, superseded by {row['superseded_by']})" if row.get("superseded_by") else ""


def chapter_findings(rows: list[dict]) -> str:
    """The box that opens a chapter's page: each verdict the chapter recorded on a whole claim or on a real model
    (its parts are in the chapter's tables), with its badge, the claim in words, the first clause of its evidence
    and a link to where the chapter judges it; a first design judged beside its redesign says so. Empty where the
    chapter recorded none (the world chapter)."""
    shown = _chapter_verdicts(rows)
    if not shown:
        return ""
    lines = [":::{admonition} What this chapter found", f":class: {CHAPTER_BOX_ID}", ""]
    for r in shown:
        where = f" ({{ref}}`its test <{r['anchor']}>`)" if r.get("anchor") else ""
        lines.append(f"- {badge(r)} **{r['claim']}**{_first(r)}: {glossed(r['statement'])}. "
                     f"{_short(r['evidence'])}{where}")
    return "\n".join([*lines, ":::"])


CHAPTER_SUMMARY_ID = "crosslingual-chapter-summary"  # the closing section's cell id on a chapter's page


def chapter_summary(rows: list[dict]) -> str:
    """The section that closes a chapter's page: how many verdicts the chapter reached and which, each with its
    evidence in full (the box at the top gives only its first clause), whether the small models and a real model
    disagree, and where every part and rule is. Empty where the chapter recorded no verdict."""
    shown = _chapter_verdicts(rows)
    if not shown:
        return ""
    counts = Counter(shown_verdict(r) for r in shown)
    said = count_line(counts).replace(" claims: ", " verdicts: ").replace(" claim: ", " verdict: ")
    lines = ["## What this chapter showed", "", f"This chapter reached {said}", ""]
    for r in shown:
        evidence = commands_as_code(glossed(r["evidence"]))
        lines.append(f"- {badge(r)} **{r['claim']}**{_first(r)}: {glossed(r['statement'])}. {evidence}")
    ours = [r for r in shown if not real_model(r["claim"]) and not r.get("superseded_by")]
    real = [r for r in shown if real_model(r["claim"])]
    disagree = _disagreement(ours, real).strip(" *")
    lines += ["", *([f"{disagree}", ""] if disagree else []),
              "Every part of these verdicts, with the rule that decided it and when the rule was committed, is on "
              "{doc}`/book/experiments/claims`."]
    return "\n".join(lines)
