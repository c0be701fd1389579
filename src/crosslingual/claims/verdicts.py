"""What every check returns and how verdicts combine: the six kinds of verdict, the pre-registered rule a check
applies, the family-wise control of a claim's parts, and the log through which the chapters hand their verdicts to
the scoreboard.

A check reduces its table to one number per independent seed, summarises it with
:func:`crosslingual.claims.stats.effect` and applies its :class:`Rule` through :func:`grade`. With fewer than
:data:`~crosslingual.claims.stats.MIN_UNITS` seeds it returns "insufficient data", never a pass or a fail; when the
claim's precondition is absent it returns "untestable" with the measured reason. A claim whose stated measure is
significantly opposite to the prediction is "contradicted", never "partial". Every rule's rate of passing
(reproduced or partial) on data with no effect is measured in ``tests/unit/test_calibration.py`` with the null
tables of :mod:`crosslingual.claims.nulls`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from crosslingual.claims.stats import ALPHA, MIN_UNITS, Effect, holm
from crosslingual.files import sha256_file, write_atomic

REPRODUCED, PARTIAL, NOT_REPRODUCED = "reproduced", "partial", "not reproduced"
CONTRADICTED = "contradicted"  # the stated measure is significantly opposite to the claim
UNTESTABLE, INSUFFICIENT = "untestable", "insufficient data"
# a first design that a redesign superseded, not judged in this build (it runs on request: render.chapters)
SUPERSEDED = "superseded"
KINDS = (REPRODUCED, PARTIAL, NOT_REPRODUCED, CONTRADICTED, UNTESTABLE, INSUFFICIENT, SUPERSEDED)
PASSES = (REPRODUCED, PARTIAL)  # what a rule must not say on data with no effect (its calibration)
# a part's role: evidence counts towards its claim; a positive control (true by construction) checks the pipeline;
# a description is reported beside the claim and never judged with it (a confounded sweep, what the data show)
EVIDENCE, POSITIVE_CONTROL, DESCRIPTION = "evidence", "positive control", "description"
ROLES = (EVIDENCE, POSITIVE_CONTROL, DESCRIPTION)
REDESIGN_SUFFIX = "-redesign"


# Every rule's statistics since #36 (verdicts v3), quoted in each rule's text so that a change here changes the
# registered text (tests/unit/test_calibration.py pins every rule's text by its digest).
STATISTICS = ("tests are exact one-sided sign tests over seeds (alpha 0.05: at 5 seeds all five must agree) of the "
              "median seed, shown with the order-statistic interval of the median; a part whose measure is "
              "significantly opposite to the claim makes it contradicted; a claim's parts are judged under Holm's "
              "adjustment")
SINGLE_MODEL = ("a single-model measurement: the median over the model's items with its order-statistic interval "
                "over them (at least 95% where the items allow), describing that model; no p-value, and a "
                "threshold is met only if the whole interval lies beyond it")
REREGISTERED = ("re-registered in #36 before judging any run, after null tables showed that the old rules passed "
                "data with no effect: the sign-flip test of the mean (valid only for symmetric nulls) became the "
                "sign test of the median seed, the t-interval (0.81-0.88 coverage on skewed data at 5 seeds, "
                "leaving [0, 1] and [-1, 1]) the order-statistic interval, parts combine under Holm's adjustment, "
                "and a part significantly opposite makes the claim contradicted, never partial")


REGISTRY = Path(__file__).with_name("registered_rules.json")


@cache
def registry() -> dict:
    """Every rule's registration (``registered_rules.json``): its text's digest, and for a rule replaced after a
    look at data the old text, the commit it was judged under and the verdict it gave in that commit's default
    build. ``tests/unit/test_calibration.py`` keeps the digests equal to the rules' texts."""
    return json.loads(REGISTRY.read_text(encoding="utf-8"))


def base_claim(claim: str) -> str:
    """The paper's claim a verdict label belongs to: ``"R2-redesign (timing)"`` -> ``"R2"``."""
    return claim.split(" ")[0].removesuffix(REDESIGN_SUFFIX)


@dataclass(frozen=True)
class Rule:
    """A claim's pre-registered rule: the text the scoreboard shows, why its thresholds are what they are, and,
    where it was changed after a first look at data, what changed (shown on the page).

    A *redesign* tests a claim again in an experiment built so that its effect could appear. It is
    its own claim, ``"<claim>-redesign"``, with its own rule and commit, so that the scoreboard shows it beside
    the old design's verdict rather than replacing it; ``redesign`` says in one line what differs."""

    claim: str
    text: str
    rationale: str
    amended: str = ""
    redesign: str = ""
    previous: str = ""  # the text of the rule this one replaced after a look at data (shown beside it)

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
    p: float = float("nan")  # the part's one-sided p in the claimed direction (family-wise control of parts)
    p_opposite: float = float("nan")  # the same in the opposite direction
    fragile: bool = False  # one seed crossing its null would change the verdict
    # the redesign that superseded this verdict's design ("" for a claim's best test): shown, never its best test
    superseded_by: str = ""

    def __post_init__(self):
        if self.verdict not in KINDS:
            raise ValueError(f"verdict={self.verdict!r} is not one of {KINDS}")
        if self.role not in ROLES:
            raise ValueError(f"role={self.role!r} must be one of {ROLES}")

    def row(self) -> dict:
        return {"claim": self.claim, "statement": self.statement, "verdict": self.verdict,
                "evidence": self.evidence, "rule": self.rule, "role": self.role, "fragile": self.fragile,
                "superseded_by": self.superseded_by}

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
        return replace(self, claim=claim)


def n_seeds(data: pd.DataFrame, unit: str = "seed") -> int:
    return int(data[unit].nunique()) if unit in data.columns and len(data) else 0


def insufficient(claim: str, statement: str, rule: Rule, n: int, role: str = EVIDENCE) -> Verdict:
    """The verdict for fewer than MIN_UNITS independent seeds."""
    return Verdict(claim, statement, INSUFFICIENT, rule.text,
                   f"{n} independent seed{'s' if n != 1 else ''}; a verdict needs at least {MIN_UNITS}",
                   {"n": n}, role)


def grade(required: list[Effect], holds: list[Effect], against: list[Effect] | None = None
          ) -> tuple[str, float, float, bool]:
    """(verdict, p, p_opposite, fragile) of one part from its tests: contradicted if any test of ``against``
    (default ``holds``) is significantly opposite after Holm's adjustment over them; reproduced if every test of
    ``required`` is significant (each at ALPHA: all must hold, so no adjustment is owed); partial if any test of
    ``holds`` is significant after Holm's adjustment over them; else not reproduced. ``p`` is the smallest adjusted
    p of ``holds`` (the family's), ``p_opposite`` that of ``against``; ``fragile`` says that one seed crossing its
    null in a test the verdict reads would flip that test."""
    against = holds if against is None else against
    if holds:
        p = _smallest(holm([e.p for e in holds]))
    else:  # "every test of required holds" is an intersection-union test: its p is the largest
        p = max((e.p for e in required), default=float("nan"))
    p_opposite = _smallest(holm([e.p_reverse for e in against]))
    if p_opposite <= ALPHA:
        verdict = CONTRADICTED
    elif required and all(e.significant for e in required):
        verdict = REPRODUCED
    elif p <= ALPHA:
        verdict = PARTIAL
    else:
        verdict = NOT_REPRODUCED
    fragile = any(e.fragile for e in (*required, *holds, *against))
    return verdict, p, p_opposite, fragile


def judged(claim: str, statement: str, rule: Rule, evidence: str, numbers: dict, required: list[Effect],
           holds: list[Effect], against: list[Effect] | None = None, role: str = EVIDENCE) -> Verdict:
    """The verdict of one part by :func:`grade`, with the part's p-values and fragility kept for its claim."""
    verdict, p, p_opposite, fragile = grade(required, holds, against)
    return Verdict(claim, statement, verdict, rule.text, evidence, numbers, role, p, p_opposite, fragile)


def robustness(verdict: Verdict) -> str:
    """What the page says beside a verdict about how close it is to flipping over seeds (nothing for a verdict
    without a test, or for a single-model measurement, whose items are not seeds)."""
    if verdict.verdict in (UNTESTABLE, INSUFFICIENT, SUPERSEDED) or "single-model" in verdict.evidence:
        return ""
    return ("fragile: one seed crossing its null would change it" if verdict.fragile
            else "robust to any one seed")


def overall(claim: str, statement: str, parts: list[Verdict]) -> Verdict:
    """Combine a claim's parts. Positive controls and descriptions are left out. Any part with too few seeds makes
    the claim "insufficient data"; untestable parts are left out of the rest (and named). Of the testable parts,
    with Holm's adjustment over their p-values (the family-wise error of "any part holds" stays at ALPHA):
    contradicted if a part is significantly opposite after adjustment; reproduced if every part reproduces;
    not reproduced if some part is contradicted before adjustment (a claim with a part against it is never
    partial); partial if some part reproduces or is partial and holds after adjustment; else not reproduced."""
    evidence = [v for v in parts if v.role == EVIDENCE]
    kinds = [v.verdict for v in evidence]
    testable = [v for v in evidence if v.verdict not in (UNTESTABLE, INSUFFICIENT)]
    p = holm([v.p for v in testable])
    p_opposite = holm([v.p_opposite for v in testable])
    if not kinds or INSUFFICIENT in kinds:
        verdict = INSUFFICIENT
    elif not testable:
        verdict = UNTESTABLE
    elif np.any(p_opposite <= ALPHA):
        verdict = CONTRADICTED
    elif all(v.verdict == REPRODUCED for v in testable):
        verdict = REPRODUCED
    elif any(v.verdict == CONTRADICTED for v in testable):
        verdict = NOT_REPRODUCED
    elif any(v.verdict in PASSES and q <= ALPHA for v, q in zip(testable, p)):
        verdict = PARTIAL
    else:
        verdict = NOT_REPRODUCED
    others = [v for v in parts if v.role != EVIDENCE]
    evidence_text = ", ".join(f"{v.claim}: {v.verdict}" for v in evidence)
    for role in (POSITIVE_CONTROL, DESCRIPTION):
        named = [v for v in others if v.role == role]
        if named:
            evidence_text += f"; {role}{'s' if len(named) > 1 else ''} (not evidence): " + \
                ", ".join(f"{v.claim}: {v.verdict}" for v in named)
    return Verdict(claim, statement, verdict, "insufficient data if any part has too few seeds; of the testable "
                   "parts (positive controls and descriptions left out, Holm's adjustment over the parts): "
                   "contradicted if a part is significantly opposite, reproduced if every part reproduces, partial "
                   "if a part holds and none is against the claim", evidence_text,
                   p=_smallest(p), p_opposite=_smallest(p_opposite), fragile=any(v.fragile for v in testable))


def superseded(verdicts: list[Verdict], by: str) -> list[Verdict]:
    """A first design's verdicts, judged in this build (its runs were trained for another claim, or asked for),
    marked as superseded by the redesign ``by``: the page shows them beside the redesign, never as the claim's
    best test."""
    return [replace(v, superseded_by=by) for v in verdicts]


def first_design_not_run(rule: Rule, statement: str, reason: str) -> Verdict:
    """The verdict of a first design (``rule``) that this build did not judge
    (``render.chapters.runs_first_designs``): superseded by its redesign, with the reason and how to run it."""
    return Verdict(rule.claim, statement, SUPERSEDED, rule.text, reason, superseded_by=rule.claim + REDESIGN_SUFFIX)


def _smallest(p: np.ndarray) -> float:
    """The smallest finite p of a family, NaN where there is none."""
    finite = p[np.isfinite(p)]
    return float(finite.min()) if len(finite) else float("nan")


def verdict_table(verdicts: list[Verdict]) -> pd.DataFrame:
    """The chapters' table of verdicts: the logged row, its fragility said in words (:func:`robustness`)."""
    rows = [{**{k: x for k, x in v.row().items() if k not in ("fragile", "superseded_by")},
             "verdict": v.verdict + (f" (superseded by {v.superseded_by})"
                                     if v.superseded_by and v.verdict != SUPERSEDED else ""),
             "robustness": robustness(v)} for v in verdicts]
    return pd.DataFrame(rows).set_index("claim")


CLAIMS_LOG = "CROSSLINGUAL_CLAIMS_LOG"  # set by ``make book``: each chapter appends its verdicts there


DATA_DIR = "data"  # beside the claims log: each verdict table's per-seed (or per-item) tables as CSV


def record(verdicts: list[Verdict], chapter: str, anchor: str, data: dict[str, pd.DataFrame] | None = None
           ) -> None:
    """Append a chapter's verdicts to ``$CROSSLINGUAL_CLAIMS_LOG`` for the book's Claims page (no-op when a
    notebook is run by hand). ``anchor`` is the MyST label just above the chapter's verdict table.

    ``data`` names the tables the verdicts were computed from (one row per seed and checkpoint, or per item of a
    single model): each is written as ``data/<anchor>-<name>.csv`` beside the log, and every row records its
    files with their digests (:func:`data_files`), so that a reader can download what a verdict rests on and the
    page never links a file that another build has changed since."""
    path = os.environ.get(CLAIMS_LOG)
    if not path:
        return
    files = [_write_table(Path(path).parent, f"{anchor}-{name}", table) for name, table in (data or {}).items()]
    with open(path, "a", encoding="utf-8") as f:
        for v in verdicts:
            f.write(json.dumps({**v.row(), "chapter": chapter, "anchor": anchor, "data": files}) + "\n")


def _write_table(base: Path, stem: str, table: pd.DataFrame) -> dict:
    """One table as CSV under ``base/data/``, written atomically; its entry in a claims row. A named index (the
    grouping of a summary) becomes columns; a plain row number is left out."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"data[{stem!r}] is a {type(table).__name__}: each table must be a pandas DataFrame")
    named = any(name is not None for name in table.index.names)
    body = (table.reset_index() if named else table).to_csv(index=False).encode()
    relative = f"{DATA_DIR}/{stem}.csv"
    (base / DATA_DIR).mkdir(exist_ok=True)
    write_atomic(base / relative, body)
    return {"name": stem, "path": relative, "rows": len(table), "sha256": hashlib.sha256(body).hexdigest()}


def data_files(row: dict, base: Path) -> list[dict]:
    """The data files a claims row recorded that are still in ``base`` as they were written (same digest): what
    the Claims page may link. A missing or changed file is left out (and ``executed_cache`` re-executes its
    chapter)."""
    return [entry for entry in row.get("data") or [] if _unchanged(base / entry["path"], entry["sha256"])]


def _unchanged(path: Path, digest: str) -> bool:
    try:
        return sha256_file(path) == digest
    except OSError:  # missing, a folder, a FIFO (NotRegularFile) or unreadable
        return False
