"""What every check returns and how verdicts combine: the five kinds of verdict, the pre-registered rule a check
applies, and the log through which the chapters hand their verdicts to the scoreboard.

A check reduces its table to one number per independent seed, summarises it with
:func:`crosslingual.claims.stats.effect` and applies its :class:`Rule`. With fewer than
:data:`~crosslingual.claims.stats.MIN_UNITS` seeds it returns "insufficient data", never a pass or a fail; when the
claim's precondition is absent it returns "untestable" with the measured reason.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import pandas as pd

from crosslingual.claims.stats import MIN_UNITS

REPRODUCED, PARTIAL, NOT_REPRODUCED = "reproduced", "partial", "not reproduced"
UNTESTABLE, INSUFFICIENT = "untestable", "insufficient data"
KINDS = (REPRODUCED, PARTIAL, NOT_REPRODUCED, UNTESTABLE, INSUFFICIENT)
EVIDENCE, POSITIVE_CONTROL = "evidence", "positive control"
REDESIGN_SUFFIX = "-redesign"


def base_claim(claim: str) -> str:
    """The paper's claim a verdict label belongs to: ``"R2-redesign (timing)"`` -> ``"R2"``."""
    return claim.split(" ")[0].removesuffix(REDESIGN_SUFFIX)


@dataclass(frozen=True)
class Rule:
    """A claim's pre-registered rule: the text the scoreboard shows, why its thresholds are what they are, and,
    where it was changed after a first look at data, what changed (shown on the page).

    A *redesign* tests a claim again in an experiment built so that its effect could appear (issue #19). It is
    its own claim, ``"<claim>-redesign"``, with its own rule and commit, so that the scoreboard shows it beside
    the old design's verdict rather than replacing it; ``redesign`` says in one line what differs."""

    claim: str
    text: str
    rationale: str
    amended: str = ""
    redesign: str = ""

    def __post_init__(self):
        if (self.claim.endswith(REDESIGN_SUFFIX)) != bool(self.redesign):
            raise ValueError(f"rule {self.claim!r}: a claim named '<claim>{REDESIGN_SUFFIX}' and only such a claim "
                             "must say what its redesign changes")


@dataclass(frozen=True)
class Verdict:
    claim: str
    statement: str
    verdict: str
    rule: str
    evidence: str
    numbers: dict = field(default_factory=dict)
    role: str = EVIDENCE  # a positive control (true by construction) checks the pipeline and is never evidence

    def __post_init__(self):
        if self.verdict not in KINDS:
            raise ValueError(f"verdict={self.verdict!r} is not one of {KINDS}")
        if self.role not in (EVIDENCE, POSITIVE_CONTROL):
            raise ValueError(f"role={self.role!r} must be {EVIDENCE!r} or {POSITIVE_CONTROL!r}")

    def row(self) -> dict:
        return {"claim": self.claim, "statement": self.statement, "verdict": self.verdict,
                "evidence": self.evidence, "rule": self.rule, "role": self.role}

    def number(self, *path) -> float:
        """``numbers[path[0]][path[1]]...``, or NaN where the verdict has no such number (a verdict with too few
        seeds, or an untestable one, carries none), so that a chapter's prose can always glue it."""
        value = self.numbers
        for key in path:
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError):
                return float("nan")
        return float(value)

    def renamed(self, claim: str) -> "Verdict":
        """The same verdict under another claim label (chapter 08 reports R3 and R4 on real strings)."""
        return Verdict(claim, self.statement, self.verdict, self.rule, self.evidence, self.numbers, self.role)


def n_seeds(data: pd.DataFrame, unit: str = "seed") -> int:
    return int(data[unit].nunique()) if unit in data.columns and len(data) else 0


def insufficient(claim: str, statement: str, rule: Rule, n: int, role: str = EVIDENCE) -> Verdict:
    """The verdict for fewer than MIN_UNITS independent seeds."""
    return Verdict(claim, statement, INSUFFICIENT, rule.text,
                   f"{n} independent seed{'s' if n != 1 else ''}; a verdict needs at least {MIN_UNITS}",
                   {"n": n}, role)


def overall(claim: str, statement: str, parts: list[Verdict]) -> Verdict:
    """Combine a claim's parts. Positive controls are left out. Any part with too few seeds makes the claim
    "insufficient data"; parts that are untestable are left out of the rest (and named); of the testable parts,
    all reproduced -> reproduced, any reproduced or partial -> partial, else not reproduced."""
    evidence = [v for v in parts if v.role == EVIDENCE]
    kinds = [v.verdict for v in evidence]
    testable = [k for k in kinds if k not in (UNTESTABLE, INSUFFICIENT)]
    if not kinds or INSUFFICIENT in kinds:
        verdict = INSUFFICIENT
    elif not testable:
        verdict = UNTESTABLE
    elif all(k == REPRODUCED for k in testable):
        verdict = REPRODUCED
    elif any(k in (REPRODUCED, PARTIAL) for k in testable):
        verdict = PARTIAL
    else:
        verdict = NOT_REPRODUCED
    controls = [v for v in parts if v.role == POSITIVE_CONTROL]
    evidence_text = ", ".join(f"{v.claim}: {v.verdict}" for v in evidence)
    if controls:
        evidence_text += "; positive control" + ("s" if len(controls) > 1 else "") + " (not evidence): " + \
            ", ".join(f"{v.claim}: {v.verdict}" for v in controls)
    return Verdict(claim, statement, verdict, "insufficient data if any part has too few seeds; of the testable "
                   "parts (positive controls left out), reproduced if every part reproduces, partial if any part "
                   "reproduces or is partial", evidence_text)


def verdict_table(verdicts: list[Verdict]) -> pd.DataFrame:
    return pd.DataFrame([v.row() for v in verdicts]).set_index("claim")


CLAIMS_LOG = "CROSSLINGUAL_CLAIMS_LOG"  # set by ``make book``: each chapter appends its verdicts there


def record(verdicts: list[Verdict], chapter: str, anchor: str) -> None:
    """Append a chapter's verdicts to ``$CROSSLINGUAL_CLAIMS_LOG`` for the book's Claims page (no-op when a
    notebook is run by hand). ``anchor`` is the MyST label just above the chapter's verdict table."""
    path = os.environ.get(CLAIMS_LOG)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        for v in verdicts:
            f.write(json.dumps({**v.row(), "chapter": chapter, "anchor": anchor}) + "\n")
