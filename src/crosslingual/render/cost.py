"""What the book costs to compute, per chapter and at every profile: measured at the profile the book was built
at, estimated at the others, so that the cost of the next experiment can be read before it is added.

A run at another profile is its *counterpart*: for a run of the book's studies, the same point of the study
expanded at that profile (:func:`study_counterparts`), otherwise the same experiment with the other profile's
scale (:func:`counterpart`). Its training time is estimated from the measured one by the ratio of
:func:`crosslingual.store.sweep.expected_cost` (tokens x matrix width), and a chapter's notebook time (mostly
analysis, which grows with the world and the model) by the ratio of the summed ``n_entities x n_relations x
n_layers x d_model`` of its runs: both are rough, and the page says so. :func:`chapter_costs` builds the table
that ``build.cost_page`` renders.
"""

from __future__ import annotations

import dataclasses
import math
import os
import statistics
import time
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import pandas as pd
import torch

from crosslingual.core.config import PROFILES, RunConfig, make_config
from crosslingual.core.device import resolve_device
from crosslingual.errors import ConfigError
from crosslingual.render.chapters import CHAPTERS, runs_first_designs
from crosslingual.store.sweep import SweepReport, default_workers, expected_cost

# The fields a profile sets (the scale); every other field is a scientific knob that a counterpart keeps as is.
# ``default`` sets none of its own (its values are the dataclass defaults), so smoke's and paper's keys cover it.
PROFILE_FIELDS: tuple[str, ...] = tuple(dict.fromkeys([*PROFILES["smoke"], *PROFILES["paper"]]))

TOTAL = "total"  # the ``chapter`` of a profile's total row (a notebook stem always starts with two digits)

COLUMNS = ["profile", "chapter", "runs", "unavailable", "training_seconds", "median_seconds", "notebook_seconds",
           "measured", "total"]


class _RunLike(Protocol):
    """What the cost model reads of a run (``crosslingual.store.runs.Run``, or a stand-in in the tests)."""

    config: RunConfig
    info: dict
    path: Any


def _flat(cfg: RunConfig) -> dict[str, Any]:
    """The config as ``make_config``'s flat keyword arguments (field names are unique across sections)."""
    return {**{f.name: getattr(cfg.world, f.name) for f in dataclasses.fields(cfg.world)},
            **{f.name: getattr(cfg.model, f.name) for f in dataclasses.fields(cfg.model)},
            **{f.name: getattr(cfg.train, f.name) for f in dataclasses.fields(cfg.train)},
            "seed": cfg.seed}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def counterpart(cfg: RunConfig, from_profile: str, to_profile: str) -> RunConfig | None:
    """The same run at ``to_profile``, or ``None`` when it cannot exist there (its config fails validation).

    A profile field that the run left at ``from_profile``'s value takes ``to_profile``'s value. One it changed
    was overridden or scaled by the experiment (a grid's ``scale: {steps: 0.5}``, a sweep over ``d_model``), so
    the counterpart keeps the experiment's *relative* choice: a number is ``to_profile``'s value times the same
    ratio (an integer rounded and at least 1, as ``grids`` scales), anything else keeps the run's value. The
    scientific knobs (``parallel_fraction``, ...) are not the profile's and stay as they are.
    """
    if from_profile == to_profile:
        return cfg
    src, dst = _flat(make_config(from_profile)), _flat(make_config(to_profile))
    values = _flat(cfg)
    for name in PROFILE_FIELDS:
        run, was, now = values[name], src[name], dst[name]
        if run == was:
            values[name] = now
        elif _is_number(run) and _is_number(was) and _is_number(now) and was != 0:
            scaled = now * run / was
            values[name] = max(1, round(scaled)) if isinstance(now, int) else float(scaled)
    try:
        return make_config(to_profile, **values)
    except ConfigError:
        return None


def study_counterparts(from_profile: str, to_profile: str) -> dict[str, RunConfig | None]:
    """Runs of the book's studies (``crosslingual/store/studies``), by hash at ``from_profile``: the same point and seed
    of the same study expanded at ``to_profile`` (``None`` where the study cannot be built there). A study may fix a
    size outright (``real_strings``' 200 entities, ``regions``' 8 checkpoints), which :func:`counterpart`'s ratio rule
    would scale; the study's own expansion is what the book would train."""
    from crosslingual.store.grids import Grid, studies

    out: dict[str, RunConfig | None] = {}
    for name in studies():
        grid = Grid.load(name)
        here = [cfg for *_, cfg in grid.expand(from_profile)]
        try:
            there: list[RunConfig | None] = [cfg for *_, cfg in grid.expand(to_profile)]
        except ConfigError:
            there = [None] * len(here)
        out.update({a.hash(): b for a, b in zip(here, there)})
    return out


def run_seconds(run: _RunLike) -> float:
    """A run's own training time: the wall time in its ``DONE`` file, divided among the runs trained with it in
    one batched computation (each of the K runs of a batch records the whole batch's time)."""
    return float(run.info["wall_seconds_this_process"]) / max(1, int(run.info.get("batched_with", 1)))


def first_design_seconds(studies: Sequence[str], profile: str, runs: Sequence[_RunLike]) -> tuple[int, float] | None:
    """What the first design's grids ``studies`` would cost where a build left them out: the number of their runs
    (default seeds, at ``profile``) that the store lacks, and their estimated training time on one core, each run's
    ``expected_cost`` times the median seconds per unit of it over ``runs`` (the chapter's runs in this build,
    of the same profile and machine: a rate from runs of the same scale, where the fixed per-step overheads that
    make a cross-profile estimate an upper bound cancel). None where nothing is known to estimate from."""
    from crosslingual.store.grids import Grid
    from crosslingual.store.layout import DONE, run_dir

    rates = [run_seconds(r) / expected_cost(r.config) for r in runs if "wall_seconds_this_process" in r.info]
    if not studies or not rates:
        return None
    configs = {cfg.hash(): cfg for name in studies for *_, cfg in Grid.load(name).expand(profile)}
    missing = [cfg for cfg in configs.values() if not (run_dir(cfg) / DONE).is_file()]
    return len(missing), statistics.median(rates) * sum(expected_cost(cfg) for cfg in missing)


def _analysis_size(cfg: RunConfig) -> float:
    """What a chapter's analysis of a run roughly grows with: the facts it probes times the model's size."""
    return cfg.world.n_entities * cfg.world.n_relations * cfg.model.n_layers * cfg.model.d_model


def _row(profile: str, chapter: str, runs: int, unavailable: int, secs: Sequence[float], notebook: float,
         measured: bool, total: bool = False) -> dict[str, Any]:
    return {"profile": profile, "chapter": chapter, "runs": runs, "unavailable": unavailable,
            "training_seconds": float(sum(secs)), "median_seconds": statistics.median(secs) if secs else float("nan"),
            "notebook_seconds": float(notebook), "measured": measured, "total": total}


def chapter_costs(usage: Iterable[dict], profile: str, profiles: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per chapter and per profile, then each profile's total row (``chapter == TOTAL``), ``profile``
    first (measured), then the other profiles in ``PROFILES`` order (estimated).

    ``usage`` is ``build.execute_notebooks``'s list (``{"notebook": stem, "seconds": s, "runs": [Run]}``). Columns:
    ``runs`` (a chapter's runs; a counterpart is one per run, so the count is the same at every profile),
    ``unavailable`` (runs without a valid counterpart there, left out of the times), ``training_seconds`` (the
    sum of the runs' own shares, see :func:`run_seconds`; estimated by the ``expected_cost`` ratio),
    ``median_seconds`` (per run), ``notebook_seconds`` (estimated by the ``_analysis_size`` ratio, a rough guess;
    a chapter without runs keeps its measured time) and ``measured``. A total counts every distinct run once,
    because chapters share runs: by its store path at ``profile``, by its counterpart's hash elsewhere.
    """
    usage = list(usage)
    order = [profile, *(p for p in (PROFILES if profiles is None else profiles) if p != profile)]
    measured = {r.path: run_seconds(r) for u in usage for r in u["runs"]}
    cfgs = {r.path: r.config for u in usage for r in u["runs"]}
    rows = []
    for target in order:
        is_measured = target == profile
        studied = {} if is_measured else study_counterparts(profile, target)
        # per distinct run: its identity at ``target`` (None: no counterpart), its estimated time and analysis size
        ident: dict[Any, Any] = {}
        secs: dict[Any, float] = {}
        size: dict[Any, tuple[float, float]] = {}
        for path, cfg in cfgs.items():
            if is_measured:
                other = cfg
            else:
                other = studied[cfg.hash()] if cfg.hash() in studied else counterpart(cfg, profile, target)
            if other is None:
                ident[path] = None
                continue
            ident[path] = path if is_measured else other.hash()
            secs[path] = measured[path] * (1.0 if is_measured else expected_cost(other) / expected_cost(cfg))
            size[path] = (_analysis_size(cfg), _analysis_size(other))
        for u in usage:
            paths = [r.path for r in u["runs"]]
            ok = [p for p in paths if ident[p] is not None]
            notebook = u["seconds"]
            if not is_measured and ok:
                notebook *= sum(size[p][1] for p in ok) / sum(size[p][0] for p in ok)
            elif not is_measured and paths:  # no run of the chapter exists there: nothing to scale by
                notebook = math.nan
            rows.append(_row(target, u["notebook"], len(paths), len(paths) - len(ok), [secs[p] for p in ok], notebook,
                             is_measured))
        distinct: dict[Any, float] = {}
        missing = set()
        for path, key in ident.items():
            if key is None:
                missing.add(path)
            else:
                distinct.setdefault(key, secs[path])
        chapters = [r for r in rows if r["profile"] == target]
        rows.append(_row(target, TOTAL, len(distinct) + len(missing), len(missing), list(distinct.values()),
                         math.fsum(r["notebook_seconds"] for r in chapters if not math.isnan(r["notebook_seconds"])),
                         is_measured, total=True))
    return pd.DataFrame(rows, columns=COLUMNS)


def cost_page(usage: list[dict], profile: str, studies_report: SweepReport, derived_seconds: float = 0.0,
              beside: int = 0) -> str:
    """The book's cost model: per chapter, its runs, their training time and the notebook time, measured at the
    built profile and estimated at the others (``crosslingual.render.cost``), so that an experiment's cost can be read
    before it is added. ``beside``: the free cores on which the analyses of pretrained models ran during the
    training (``render.build.beside_training``; 0: they ran after it, with the continued trainings)."""
    costs = chapter_costs(usage, profile)
    tables = []
    for target, table in costs.groupby("profile", sort=False):
        measured = bool(table.measured.iloc[0])
        heading = "measured, this build" if measured else f"estimated from the `{profile}` build"
        tables.append(f"## Profile `{target}` ({heading})\n\n" + _cost_table(table, measured))
    footnote = any(costs.unavailable > 0)
    note = """
[^na]: These runs have no counterpart at that profile: the run's scale, carried over as above, makes a config
    that fails validation there (for example a fixed world size that, scaled by the profile's ratio, asks for more
    real CLDR territories than exist). A chapter's figures cover its other runs only, and the totals leave these
    chapters' unknown times out.
""" if footnote else ""
    device = resolve_device("auto")
    workers = default_workers(device)
    sharing = f" sharing its GPU ({torch.cuda.get_device_name()})" if device == "cuda" else ""
    studies = ("Every claim's best test (each redesign) is in this build; the first designs that the redesigns "
               "superseded are " + ("in it too." if runs_first_designs(profile) else
                                     "not (`make book FIRST_DESIGNS=1` adds them)."))
    derived = [c.name[:2] for c in CHAPTERS if c.derived]
    continuing = (f"chapter {derived[0]} makes" if len(derived) == 1 else f"chapters {', '.join(derived)} make")
    after_training = (f"the continued trainings from its runs that {continuing}, in one pool too, and the analyses of "
                      f"pretrained models, which it started with the training on the {counted(beside, 'core')} that "
                      f"the training workers left free, all done {derived_seconds:z.0f} s after the training" if beside
                      else f"the continued trainings from its runs and the analyses of pretrained models that "
                      f"{continuing}, in one pool too, in {derived_seconds:z.0f} s")
    return f"""# What the book costs to compute

This page is written by `make book` from the run store. The book was built at profile `{profile}` on a machine
with {os.cpu_count()} CPU cores, training up to {workers} runs at a time in single-threaded worker processes{sharing}
(torch {torch.__version__}), on {time.strftime("%Y-%m-%d")}. {studies} *Training time* is the wall time each run took
when it was trained (recorded in its `DONE` file): runs trained side by side in separate workers each count
their own time, and a run trained together with others in one batched computation counts its share of the
batch (the batch's wall time, which each of its runs records, divided by the number of runs in it), so the total
of the training column is the worker time of a build from an empty run store. Chapters share runs (a sweep's
base point is chapter 2's world), so a shared run counts in every chapter that uses it but once in the total.
A rebuild with the store in place trains nothing and costs only the notebooks, which run side by side, one
per core and one more (so the wall time is less than the notebook column's total); a chapter whose inputs
(notebook, parameters, code, packages, device kind, store and runs) are unchanged is not executed again
(`crosslingual.render.executed_cache`), and its notebook time here is that of its last execution.

This build first trained the studies' runs in one pool ({counted(studies_report.workers, "worker")},
{studies_report.backend}): {studies_report.requested} runs, {len(studies_report.trained)} trained and
{studies_report.found} found in the store, in {studies_report.seconds:z.0f} s of wall time, then
{after_training}; no notebook trains, so the notebook column is the rest of the analysis.

The tables of the other profiles are estimates from this build, so that the cost of an experiment can be read
before it is run (`crosslingual.render.cost`). Each run there is its *counterpart*: for a run of the book's studies,
the same point and seed of the study expanded at that profile; for any other run, a scale field (world size,
model size, steps, batch, evaluation sizes) that the run left at the `{profile}` value takes the other profile's
value; one that the experiment changed (a grid's `scale: {{steps: 0.5}}`, or an override) is set to the other
profile's value times the same ratio; the scientific knobs stay as they are. A counterpart's training time is
the run's measured share times the ratio of their `expected_cost` (tokens x matrix width): this assumes the same
machine, workers and batching, and scales fixed per-step overheads with the computation, so it overstates the
time of a larger profile estimated from a smaller one and understates the converse. Tiny models are dominated
by those overheads (a `smoke` run takes about two seconds and a `default` one about 10-15 s on one core, while their
computations differ some eight hundred times), so an estimate from `smoke` can be fifty times too high: read
it as an upper bound. A chapter's notebook time is
scaled by the ratio of its runs' summed `n_entities x n_relations x n_layers x d_model`, a rough estimate (not
all of the analysis grows with the world and the model); a chapter without runs keeps its measured time. The
totals count each distinct counterpart once.

{(chr(10) * 2).join(tables)}
{note}
At the `smoke` profile the same page is produced for the test suite's book (every run takes about two seconds).
The estimates are for this machine; the `paper` profile is meant for a GPU: one of its runs took 143 s on an
NVIDIA H200 (`bench/README.md`).
"""


def _cost_table(table: pd.DataFrame, measured: bool) -> str:
    """One profile's rows of ``chapter_costs`` as a Markdown table; the measured one keeps the format that the
    tests read (``| `01_world` | 0 | ...``)."""
    kind = "" if measured else ", estimated"
    lines = [f"| notebook | runs | training time of its runs (s{kind}) | median s / run | "
             f"notebook time{', this build' if measured else ', rough estimate'} (s) |", "|---|---|---|---|---|"]
    for row in table.itertuples():
        unknown = int(row.unavailable)
        spelled = row.total and not measured  # a profile's estimated total also reads in hours or days
        training = (f"{row.training_seconds:z.0f}{_duration(row.training_seconds) if spelled else ''}"
                    f"{f' + {unknown} n/a[^na]' if unknown else ''}" if not unknown or unknown < row.runs
                    else "n/a[^na]")
        notebook = ("n/a[^na]" if math.isnan(row.notebook_seconds) else
                    f"{row.notebook_seconds:z.0f}{_duration(row.notebook_seconds) if spelled else ''}")
        if row.total:
            lines.append(f"| **total** (distinct runs) | {row.runs} | {training} | | {notebook} |")
        else:
            median = "-" if math.isnan(row.median_seconds) else f"{row.median_seconds:z.1f}"
            lines.append(f"| `{row.chapter}` | {row.runs} | {training} | {median} | {notebook} |")
    return "\n".join(lines)


def counted(n: int, noun: str) -> str:
    """``1 worker``, ``2 workers``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _duration(seconds: float) -> str:
    """`` (~ 3.2 h)`` after a large estimate, so that a profile's total reads at a glance."""
    if math.isnan(seconds) or seconds < 3600:
        return ""
    return f" (~ {seconds / 86400:z.1f} days)" if seconds >= 2 * 86400 else f" (~ {seconds / 3600:z.1f} h)"
