"""What the book costs to compute, per chapter and at every profile: measured at the profile the book was built
at, estimated at the others, so that the cost of the next experiment can be read before it is added.

A run at another profile is its *counterpart*: for a run of the book's studies, the same point of the study
expanded at that profile (:func:`study_counterparts`), otherwise the same experiment with the other profile's scale
(:func:`counterpart`). Its training time is estimated from the measured one by the ratio of :func:`crosslingual.sweep.expected_cost`
(tokens x matrix width), and a chapter's notebook time (mostly analysis, which grows with the world and the model)
by the ratio of the summed ``n_entities x n_relations x n_layers x d_model`` of its runs: both are rough, and the
page says so. :func:`chapter_costs` builds the table that ``book.cost_page`` renders.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import pandas as pd

from crosslingual.config import PROFILES, ConfigError, RunConfig, make_config
from crosslingual.sweep import expected_cost

# The fields a profile sets (the scale); every other field is a scientific knob that a counterpart keeps as is.
# ``default`` sets none of its own (its values are the dataclass defaults), so smoke's and paper's keys cover it.
PROFILE_FIELDS: tuple[str, ...] = tuple(dict.fromkeys([*PROFILES["smoke"], *PROFILES["paper"]]))

TOTAL = "total"  # the ``chapter`` of a profile's total row (a notebook stem always starts with two digits)

COLUMNS = ["profile", "chapter", "runs", "unavailable", "training_seconds", "median_seconds", "notebook_seconds",
           "measured", "total"]


class _RunLike(Protocol):
    """What the cost model reads of a run (``crosslingual.runs.Run``, or a stand-in in the tests)."""

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
    """Runs of the book's studies (``crosslingual/studies``), by hash at ``from_profile``: the same point and seed of
    the same study expanded at ``to_profile`` (``None`` where the study cannot be built there). A study may fix a
    size outright (``real_strings``' 200 entities, ``regions``' 8 checkpoints), which :func:`counterpart`'s ratio
    rule would scale; the study's own expansion is what the book would train."""
    from crosslingual.grids import Grid, studies

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

    ``usage`` is ``book.execute_notebooks``'s list (``{"notebook": stem, "seconds": s, "runs": [Run]}``). Columns:
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
