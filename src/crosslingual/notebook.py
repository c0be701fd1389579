"""What every experiment notebook calls: its parameter checks (run first, in its validation cell) and the
one helper that records, glues and shows its verdicts (:func:`publish_verdicts`).

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
from typing import Any

from crosslingual.config import ConfigError

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


def verdict_glue_name(claim: str) -> str:
    """The glue key of a claim's verdict word: ``R4 (parallel_fraction)`` -> ``verdict_R4_parallel_fraction``."""
    return "verdict_" + re.sub(r"\W+", "_", claim).strip("_")


def show_verdicts(verdicts: list) -> None:
    """Display verdicts as one table, every column in full (a verdict's rule and evidence are long sentences)."""
    import pandas as pd
    from IPython.display import display

    from crosslingual.claims import verdict_table

    with pd.option_context("display.max_colwidth", None):
        display(verdict_table(verdicts))


def publish_verdicts(verdicts: list, chapter: str, anchor: str, show: bool = True) -> None:
    """What every chapter does with its verdicts, in one call: record them for the claims page
    (``crosslingual.claims.record``), glue each verdict word in bold under :func:`verdict_glue_name` for the
    prose, and (``show``) display their table."""
    from IPython.display import Markdown
    from myst_nb import glue

    from crosslingual.claims import record

    record(verdicts, chapter, anchor)
    for v in verdicts:
        glue(verdict_glue_name(v.claim), Markdown(f"**{v.verdict}**"), display=False)
    if show:
        show_verdicts(verdicts)
