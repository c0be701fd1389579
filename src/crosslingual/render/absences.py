"""A section that a build did not run, as the page shows it: one admonition, not the section's shell.

A chapter's section has a heading, prose that reads its results, numbered figures glued from its code and tables
above or below them. Where the build leaves it out (a first design not asked for, a model that is not installed,
no ``hf_model`` given), the figures have nothing to show and the prose speaks of tables that are not there; a
blank figure under a numbered caption reads as a broken page. So the kernel marks each figure that it does not
draw (:func:`mark_absent`, called by ``render.notebook.section_not_run``), and after execution the build rewrites
the executed copy (:func:`collapse`, from ``provenance.annotate``): the largest section around such a figure
whose figures are all absent keeps its heading and the prose that opens it (what the section tests), and the
rest of it becomes one admonition that says which claims it judges, why it did not run, the command that runs it
and, for a first design, an estimate of its training time. Its code cells stay in the notebook with
``remove-cell`` (the page keeps their glued values, which myst-nb reads from every cell), and its labels stay,
so that the links into the section still land.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crosslingual.claims.verdicts import Verdict

MARKER = "crosslingual-absent:"  # the glue key of a figure's absence marker is MARKER + the figure's name
# the marker's payload, as JSON text: a notebook's output data under any key but a plain JSON type must be a
# string (nbformat's schema), and glue's keys are "application/papermill.record/<mime type>"
MIME = "text/plain"
PREFIX = "application/papermill.record/"  # where myst-nb's glue keeps a value in the output's data
FIGURE = re.compile(r"^[`:]{3,}\{glue:figure\}\s+(\S+)")
HEADING = re.compile(r"^(#{1,6})\s")
LABEL = re.compile(r"^\([\w.-]+\)=\s*$")
FENCE = re.compile(r"^(`{3,}|:{3,})")
ADMONITION_CLASS = "crosslingual-absent"


def marker_key(figure_name: str) -> str:
    return MARKER + figure_name


def mark_absent(verdicts: Sequence[Verdict], figure_name: str, reason: str = "", parameter: str = "") -> None:
    """In a chapter's kernel: record that the figure glued as ``figure_name`` is not drawn in this build, because
    the section that draws it did not run. ``verdicts`` are the section's (untestable or superseded: their
    ``evidence`` says why, unless ``reason`` words it); ``parameter`` is the notebook parameter, as
    ``name=value``, that runs the section (``first_design=yes``), for the command the page gives. The marker is a
    glued value that the page never shows; :func:`collapse` reads it."""
    from IPython.display import display

    payload = {"claims": [[v.claim, v.statement] for v in verdicts], "reason": reason or verdicts[0].evidence,
               "parameter": parameter, "first_design": any(v.superseded_by for v in verdicts)}
    display({PREFIX + MIME: json.dumps(payload)}, raw=True,
            metadata={"scrapbook": {"name": marker_key(figure_name), "mime_prefix": PREFIX}})


def markers(cells: list[dict]) -> dict[str, dict]:
    """The absence markers in an executed notebook's outputs: figure name -> payload."""
    found = {}
    for cell in cells:
        for output in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            name = output.get("metadata", {}).get("scrapbook", {}).get("name", "")
            if name.startswith(MARKER) and PREFIX + MIME in output.get("data", {}):
                text = output["data"][PREFIX + MIME]  # nbformat may store a string as a list of lines
                found[name[len(MARKER):]] = json.loads("".join(text) if isinstance(text, list) else text)
    return found


@dataclass
class _Line:
    """One line of a markdown cell (``line`` is None for a code cell), with its heading level (0: none) and the
    figure it opens a ``{glue:figure}`` directive for."""

    cell: int
    line: int | None
    text: str = ""
    level: int = 0
    figure: str = ""


def _lines(cells: list[dict]) -> list[_Line]:
    out = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            out.append(_Line(i, None))
            continue
        fence = ""
        for j, text in enumerate("".join(cell["source"]).splitlines()):
            item = _Line(i, j, text)
            opening = FENCE.match(text)
            if fence:  # inside a directive or a code block: no headings there
                if opening and text.strip() == fence:
                    fence = ""
            else:
                if heading := HEADING.match(text):
                    item.level = len(heading.group(1))
                if figure := FIGURE.match(text):
                    item.figure = figure.group(1)
                if opening:
                    fence = opening.group(1)
            out.append(item)
    return out


def _section(lines: list[_Line], at: int, level_below: int) -> tuple[int, int] | None:
    """The section of the innermost heading above ``at`` whose level is less than ``level_below`` (and at least
    2: a page's title is never collapsed): the range from that heading to the next heading of its level or
    above."""
    start = next((k for k in range(at, -1, -1) if 2 <= lines[k].level < level_below), None)
    if start is None:
        return None
    level = lines[start].level
    end = next((k for k in range(start + 1, len(lines)) if 0 < lines[k].level <= level), len(lines))
    return start, end


def _collapsed_ranges(lines: list[_Line], absent: set[str]) -> list[tuple[int, int, list[str]]]:
    """For each absent figure, the largest section around it whose figures are all absent; where even the
    innermost one draws a figure that ran, the figure's own paragraph (from its directive to the next heading or
    code cell). Each range is (first line to replace, end, the absent figures in it); nested ranges merge."""
    ranges: list[tuple[int, int]] = []
    for at, item in enumerate(lines):
        if item.figure not in absent:
            continue
        best, below = None, 7
        while (section := _section(lines, at, below)) is not None:
            if any(x.figure and x.figure not in absent for x in lines[section[0]:section[1]]):
                break
            best, below = section, lines[section[0]].level
        if best is None:
            end = next((k for k in range(at + 1, len(lines)) if lines[k].level or lines[k].line is None),
                       len(lines))
            ranges.append((at, end))
        else:
            ranges.append((_intro_end(lines, *best), best[1]))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start < merged[-1][1]:
            merged[-1] = (min(merged[-1][0], start), max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return [(s, e, [x.figure for x in lines[s:e] if x.figure in absent]) for s, e in merged]


def _intro_end(lines: list[_Line], start: int, end: int) -> int:
    """Where a collapsed section's opening prose ends: the heading's own cell, up to its first figure or heading
    below it (it says what the section tests); the rest of the section is replaced."""
    k = start + 1
    while k < end and lines[k].cell == lines[start].cell and not lines[k].figure and not lines[k].level:
        k += 1
    return k


def collapse(cells: list[dict], chapter: str, cost: str = "") -> list[dict]:
    """The executed notebook's cells with every section that did not run in one admonition (see the module's
    docstring). ``chapter`` is the notebook's stem (for the command), ``cost`` the estimated training time of its
    first designs (said in the admonition of a first design's section). Cells without absent figures are
    returned unchanged; a marker whose figure is referenced nowhere is ignored."""
    from crosslingual.render import sentences

    absent = markers(cells)
    if not absent:
        return cells
    lines = _lines(cells)
    ranges = _collapsed_ranges(lines, set(absent))
    if not ranges:
        return cells
    drop: dict[int, tuple[int, int, list[str]]] = {}
    for r in ranges:
        drop.update((k, r) for k in range(r[0], r[1]))
    out: list[dict] = []
    buffer: list[str] = []
    parts = 0

    def flush(cell: dict) -> None:
        nonlocal buffer, parts
        if parts == 0 and buffer == "".join(cell["source"]).splitlines():  # a cell left whole stays as it was
            out.append(cell)
            parts = 1
        elif any(t.strip() for t in buffer):
            parts += 1
            out.append({**cell, "id": f"{cell.get('id', 'cell')}-{parts}" if parts > 1 else cell.get("id", "cell"),
                        "source": "\n".join(buffer).strip("\n").splitlines(keepends=True)})
        buffer = []

    for k, item in enumerate(lines):
        cell = cells[item.cell]
        if k == 0 or lines[k - 1].cell != item.cell:
            parts = 0
        r = drop.get(k)
        if r is not None and k == r[0]:  # the admonition goes where the collapsed range starts
            if item.line is not None:
                flush(cell)
            payloads = [absent[f] for f in r[2]]
            labels = [x.text.strip() for x in lines[r[0]:r[1]] if x.line is not None and LABEL.match(x.text)]
            text = "\n".join(labels + [sentences.absent_section(payloads, chapter, cost)])
            out.append({"cell_type": "markdown", "id": f"{ADMONITION_CLASS}-{k}", "metadata": {},
                        "source": text.splitlines(keepends=True)})
        if item.line is None:  # a code cell
            if r is not None:
                tags = cell.setdefault("metadata", {}).setdefault("tags", [])
                if "remove-cell" not in tags:
                    tags.append("remove-cell")
            out.append(cell)
            continue
        if r is None:
            buffer.append(item.text)
        if k == len(lines) - 1 or lines[k + 1].cell != item.cell:
            flush(cell)
    return out
