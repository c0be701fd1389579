"""What every experiment notebook calls, so that a chapter's cells hold its experiment and not its plumbing: the
set-up that checks its parameters before any work (:func:`set_up_chapter`, the first line of its validation cell),
the figure that is laid out, glued and closed in one ``with`` (:func:`figure`), the marker of a section a build
left out, which the page shows as one admonition (:func:`section_not_run`), and the helper that records, glues
and shows its verdicts (:func:`publish_verdicts`). What the page says in sentences is worded in
:mod:`crosslingual.render.sentences`.

Papermill only warns (on stderr) about a parameter the notebook does not declare, and the chapter then runs with
its default: a misspelled ``-p parallel_fracton 0.5`` leaves the user believing they changed something they did
not. Papermill's ``-p`` also guesses each value's type (``2.5`` becomes a float, ``1`` an int, ``nan`` a float), so
a wrong type or a non-finite number would otherwise be caught late, after minutes of training, or not at all.

A notebook declares its parameters as annotated assignments in its ``parameters`` cell (``seeds: int = 3``); at
module level these fill ``__annotations__`` in the kernel's namespace. Papermill injects its values in a cell
whose first line is ``# Parameters``; IPython keeps the source of every executed cell in the list ``In``.
"""

from __future__ import annotations

import ast
import difflib
import math
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from crosslingual.core.checks import check_choice, check_count
from crosslingual.core.config import PROFILES
from crosslingual.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from crosslingual.claims.verdicts import Verdict

INJECTED_HEADER = "# Parameters"  # the comment papermill writes as the first line of the cell it injects


def injected_names(cells: list[str]) -> list[str]:
    """The names papermill assigned, in order, from the executed cells that it injected."""
    names: dict[str, None] = {}
    for source in cells:
        if source.split("\n", 1)[0] == INJECTED_HEADER:
            names.update(dict.fromkeys(node.id for node in ast.walk(ast.parse(source))
                                       if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)))
    return list(names)


def _unknown_message(unknown: list[str], declared: list[str]) -> str:
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, declared, n=1)
        parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return (f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(parts)}; "
            f"this notebook's parameters are: {', '.join(declared) or 'none'}")


def check_value(name: str, value: Any, kind: Any) -> Any:
    """The value to keep for parameter ``name`` (a float for a float parameter given an int); raises if it is not
    of the declared ``kind``."""
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name}={value!r} must be True or False (with papermill: -p {name} True)")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name}={value!r} must be an integer, not {type(value).__name__}")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}={value!r} must be a number, not {type(value).__name__}")
        if not math.isfinite(value):
            raise ConfigError(f"{name}={value!r} must be a finite number")
        return float(value)
    elif kind is str:
        if not isinstance(value, str):
            hint = f"; papermill's -p read it as {type(value).__name__}: pass -r {name} {value} for the string"
            guessed = isinstance(value, (int, float)) or value is None  # what papermill's -p makes of a word
            raise ConfigError(f"{name}={value!r} must be a string" + (hint if guessed else ""))
    else:  # the notebook's author declared a type this check cannot enforce: fail rather than let it through
        raise TypeError(f"parameter {name} is annotated {kind!r}; check_parameters knows only int, float, bool and str")
    return value


def check_parameters(namespace: dict[str, Any]) -> None:
    """Fail at once on a parameter the notebook does not declare, or a value not of its declared type.

    ``namespace`` is the notebook's ``globals()``: its ``__annotations__`` are the declared parameters and its
    ``In`` (absent outside a kernel, where only the types are checked) the executed cells, papermill's among them.
    A float parameter given an int is stored back as a float, so that the chapter computes with what it declared.
    """
    declared: dict[str, Any] = namespace.get("__annotations__", {})
    unknown = [name for name in injected_names(namespace.get("In", [])) if name not in declared]
    if unknown:
        raise ConfigError(_unknown_message(unknown, list(declared)))
    for name, kind in declared.items():
        namespace[name] = check_value(name, namespace[name], kind)


# The ranges of the parameters every chapter shares (set_up_chapter): for seeds and workers the limits each chapter
# applied in its own validation cell before this call existed, for the first seed the range RunConfig.validate allows
MAX_SEEDS = 100
MAX_SEED = 2**31 - 1
MAX_WORKERS = 256  # a chapter's ``workers``; $CROSSLINGUAL_WORKERS has its own cap (store.sweep.MAX_WORKERS)


def set_up_chapter(namespace: dict[str, Any], min_seeds: int = 1) -> int | None:
    """Check a chapter's parameters before any work, in its validation cell's first line, and set the house plot
    style; return the worker count that ``run_many`` and ``map_runs`` take.

    ``namespace`` is the notebook's ``globals()``. :func:`check_parameters` refuses an unknown name or a wrong type;
    then the parameters the chapters share, where the notebook declares them, must lie in their ranges, each refused
    in one line that names it and what is allowed: ``profile`` one of ``crosslingual.core.config.PROFILES``,
    ``seeds`` from ``min_seeds`` (2 where a chapter's tests need two seeds to say anything) to :data:`MAX_SEEDS`, the
    first ``seed`` a run's seed, ``workers`` from 0 (one per core) to :data:`MAX_WORKERS`. The result is ``None``
    for 0 or an undeclared ``workers``, so that the pools pick their own default (one per core, fewer on a GPU).
    """
    from crosslingual.render import plots

    check_parameters(namespace)
    declared = namespace.get("__annotations__", {})
    if "profile" in declared:
        check_choice("profile", namespace["profile"], tuple(PROFILES))
    if "seeds" in declared:
        check_count("seeds", namespace["seeds"], min_seeds, MAX_SEEDS)
    if "seed" in declared:
        check_count("seed", namespace["seed"], 0, MAX_SEED)
    workers = check_count("workers", namespace["workers"], 0, MAX_WORKERS) if "workers" in declared else 0
    plots.set_theme()
    return workers or None


OVERLAP_WARNING = "texts overlap in figure"


@contextmanager
def figure(name: str, nrows: int = 1, ncols: int = 1, **subplots: Any) -> Iterator[tuple[Figure, Any]]:
    """A figure for the page, glued as ``name`` for the Markdown's ``{glue:figure}``: the body draws on the
    ``(fig, axes)`` of ``plt.subplots(nrows, ncols, **subplots)``; on leaving, its fonts are made legible at the
    page's size (:func:`crosslingual.render.plots.legible`), a warning names any two texts that then overlap
    (:func:`crosslingual.render.plots.overlapping_texts`), and the figure is laid out and glued
    without being displayed where it was drawn (the page shows it where the text refers to it), and closed, so that
    the inline backend does not show it a second time at the end of the cell. A body that raises leaves no open
    figure behind and glues nothing: a half-drawn figure must not reach the page."""
    import matplotlib.pyplot as plt
    from myst_nb import glue

    from crosslingual.render.plots import legible, overlapping_texts

    fig, axes = plt.subplots(nrows, ncols, **subplots)
    try:
        yield fig, axes
        legible(fig)
        fig.tight_layout()
        for a, b in overlapping_texts(fig):  # in the executed notebook, where the smoke book's test finds it
            warnings.warn(f"{OVERLAP_WARNING} {name}: {a!r} and {b!r}", stacklevel=3)
        glue(name, fig, display=False)
    finally:
        plt.close(fig)


def section_not_run(verdicts: list[Verdict], figure_name: str, reading_name: str, reading: str = "",
                    parameter: str = "") -> None:
    """What a section that this build left out does, in one call: it marks the figure its ``{glue:figure}``
    refers to (glued as ``figure_name``) as absent, so that the page shows one admonition in place of the section
    (``crosslingual.render.absences``), and glues its reading (``reading_name``): the claims' verdict and why
    (:func:`crosslingual.render.sentences.not_run`), or ``reading`` where the chapter words that itself (the
    admonition then gives that as the reason). ``verdicts`` are the section's untestable or superseded verdicts,
    which carry the reason; ``parameter`` (``name=value``) is the notebook parameter that runs the section, for
    the command the admonition gives. The caller records the verdicts as its other branch records those of a
    section that ran."""
    from IPython.display import Markdown
    from myst_nb import glue

    from crosslingual.render import sentences
    from crosslingual.render.absences import mark_absent

    mark_absent(verdicts, figure_name, reason=reading, parameter=parameter)
    glue(reading_name, Markdown(reading or sentences.not_run(verdicts)), display=False)


def verdict_glue_name(claim: str) -> str:
    """The glue key of a claim's verdict word: ``R4 (parallel_fraction)`` -> ``verdict_R4_parallel_fraction``."""
    return "verdict_" + re.sub(r"\W+", "_", claim).strip("_")


MISSING = "—"  # a table cell with no value: a dash, never "nan"
# The run metrics' names in words, for a table's header (any other name reads with its underscores as spaces)
WORDS = {"acc_in": "in-language accuracy", "acc_xling": "cross-lingual accuracy",
         "acc_xling_entity_seen": "cross-lingual accuracy (entity seen)", "unification": "unification score",
         "retrieval_at_1": "retrieval at 1", "language_probe": "language-probe accuracy",
         "loss_train": "final training loss", "acc_corrected": "chance-corrected cross-lingual accuracy"}


def tidy_table(table: pd.DataFrame | pd.Series, digits: int = 3) -> pd.DataFrame:
    """A data table as the book prints it: the row labels as ordinary columns (no row numbers), column names and
    text labels in words (``WORDS``, else underscores as spaces; the levels of a column MultiIndex joined), a
    column of whole numbers as integers (counts read "178", not "178.0"), other numbers rounded to ``digits``
    without a negative zero ("-0.000" is round-off of a value that is 0)."""
    import pandas as pd

    df = table.to_frame() if isinstance(table, pd.Series) else table.copy()
    if not isinstance(df.index, pd.RangeIndex) or df.index.name is not None:
        df = df.reset_index()
    df.columns = [" ".join(str(level) for level in name if str(level)) if isinstance(name, tuple) else str(name)
                  for name in df.columns]
    df = df.rename(columns=lambda name: "" if name == "index" else WORDS.get(name, name.replace("_", " ")))
    for name in df.columns:
        column = df[name]
        if not pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            # a label in words: "attribute association", not one unbreakable "attribute_association"
            df[name] = column.map(lambda v: v.replace("_", " ") if isinstance(v, str) else v)
        elif pd.api.types.is_float_dtype(column):
            values = column.dropna()
            # counts: whole numbers, some above 1 (a share or accuracy that happens to be 0 or 1 keeps its decimals)
            whole = len(values) and bool(((values == values.round()) & (values.abs() < 2**53)).all()) \
                and values.abs().max() > 1
            df[name] = column.round().astype("Int64") if whole else column.round(digits) + 0.0
    return df


def show_table(table: pd.DataFrame | pd.Series, digits: int = 3) -> None:
    """Display a data table (:func:`tidy_table`): numbers to ``digits`` decimals, a missing value as a dash."""
    import pandas as pd
    from IPython.display import HTML, display

    def cell(value: Any) -> str:
        if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)):
            return MISSING
        return f"{value:z.{digits}f}" if pd.api.types.is_float(value) else str(value)

    shown = tidy_table(table, digits).map(cell)
    classes = ["crosslingual-table", *(["crosslingual-wide"] if too_wide_for_words(shown) else [])]
    display(HTML(shown.to_html(index=False, border=0, justify="left", classes=classes)))


# a table whose words, each kept whole, may need more than the text column (686 px at a 1280 px window, 734 px at
# 800 px, measured in Chromium): about 7 px a character at the tables' 0.85em plus 18 px of padding a cell, which
# over-estimated the two smoke tables that ran past the column (911 px estimated 947, 688 px estimated 729); the
# margin below 686 px leaves room for the estimate's error in the other direction
CHAR_PX, CELL_PX, COLUMN_PX = 7.0, 18.0, 660.0


def too_wide_for_words(shown: pd.DataFrame) -> bool:
    """Whether a displayed table (strings) is too wide to keep every header and cell word whole: it is then laid
    out at the column's width, its headers breaking inside a word where they must (``crosslingual-wide`` in
    book/assets/crosslingual.css), rather than running past the column."""
    import re

    def longest(texts) -> int:
        return max((len(word) for text in texts for word in re.split(r"[\s-]+", str(text))), default=0)

    chars = sum(max(longest([name]), longest(shown[name])) for name in shown.columns)
    return CHAR_PX * chars + CELL_PX * len(shown.columns) > COLUMN_PX


FRAGILE_NOTE = ("one seed crossing its null would change the verdict; a tested verdict not so marked is robust to "
                "any one seed")


def verdicts_html(verdicts: list) -> str:
    """A chapter's verdicts as a page can hold them: a three-column table (claim; verdict, with its role when it
    is not evidence and "fragile" where one seed would change it, said once under the table; the numbers it rests
    on), then each claim's statement and rule folded under one toggle. The six-column table it replaces squeezed
    the rules' long sentences into a word per line and ran past the text column at 1280 px."""
    from html import escape

    import pandas as pd

    from crosslingual.claims import verdict_table
    from crosslingual.claims.verdicts import EVIDENCE
    from crosslingual.render.scoreboard import glossed

    table = verdict_table(verdicts)
    fragile = table.robustness.str.startswith("fragile")
    said = [verdict + (f" ({role})" if role != EVIDENCE else "") + (", fragile" if weak else "")
            for verdict, role, weak in zip(table.verdict, table.role, fragile)]
    compact = pd.DataFrame({"claim": table.index, "verdict": said, "evidence": table.evidence.map(glossed)})
    note = f"<p><em>Fragile</em>: {FRAGILE_NOTE}.</p>" if fragile.any() else ""
    rules = "".join(f"<dt>{escape(claim)}</dt><dd>{escape(glossed(row.statement).rstrip('.'))}. <em>Rule:</em> "
                    f"{escape(glossed(row.rule))}</dd>" for claim, row in table.iterrows())
    return (compact.to_html(index=False, classes="crosslingual-verdicts", border=0, justify="left") + note
            + f"<details><summary>The claims and their rules</summary><dl>{rules}</dl></details>")


def show_verdicts(verdicts: list) -> None:
    """Display a chapter's verdicts (:func:`verdicts_html`)."""
    from IPython.display import HTML, display

    display(HTML(verdicts_html(verdicts)))


def publish_verdicts(verdicts: list, chapter: str, anchor: str, show: bool = True,
                     data: dict[str, pd.DataFrame] | None = None) -> None:
    """What every chapter does with its verdicts, in one call: record them for the claims page
    (``crosslingual.claims.record``) with the ``data`` they were computed from (named tables, downloadable there
    as CSV), glue each verdict word in bold under :func:`verdict_glue_name` for the prose, and (``show``) display
    their table."""
    from IPython.display import Markdown
    from myst_nb import glue

    from crosslingual.claims import record

    record(verdicts, chapter, anchor, data)
    for v in verdicts:
        glue(verdict_glue_name(v.claim), Markdown(f"**{v.verdict}**"), display=False)
    if show:
        show_verdicts(verdicts)
