"""Tables over many stored runs: metrics joined with the config fields that distinguish the runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import numpy as np
import pandas as pd

from crosslingual.core.config import RunConfig
from crosslingual.store.runs import Run


def flat_config(run: Run) -> dict:
    """The run's config as one flat dict (field names are unique across sections)."""
    cfg = run.config
    return {"seed": cfg.seed, **asdict(cfg.world), **asdict(cfg.model), **asdict(cfg.train)}


def metrics_table(runs: list[Run], labels: list[str] = ("seed",)) -> pd.DataFrame:
    """Concatenated long-format metrics of ``runs``, with the given config fields and the run hash as columns."""
    frames = []
    for run in runs:
        flat = flat_config(run)
        frames.append(run.metrics.assign(run=run.path.name, **{k: flat[k] for k in labels}))
    return pd.concat(frames, ignore_index=True)


def last_checkpoint(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a long metrics table at each run's own last checkpoint."""
    return table[table.step == table.groupby("run").step.transform("max")]


def final_scalars(table: pd.DataFrame, layer: int = -1, position: str | None = None) -> pd.DataFrame:
    """Metrics at each run's last checkpoint, one row per run and one column per metric: the global ones
    (``layer=-1``), or one layer's at one token ``position``."""
    last = last_checkpoint(table)
    last = last[last.layer == layer]
    if position is not None:
        last = last[last.position == position]
    index = [c for c in table.columns if c not in ("step", "metric", "layer", "position", "value")]
    wide = last.pivot_table(index=index, columns="metric", values="value").reset_index()
    return wide.sort_values([c for c in index if c != "run"] + ["run"], ignore_index=True)


def final_layer_metrics(run: Run, position: str = "last") -> pd.Series:
    """Per-layer metrics of the last layer at ``position`` and the run's last checkpoint, indexed by metric."""
    m, n_layers = run.metrics, run.config.model.n_layers
    last = m[(m.step == m.step.max()) & (m.layer == n_layers) & (m.position == position)]
    return last.set_index("metric").value


def unification_vs_transfer(table: pd.DataFrame) -> pd.DataFrame:
    """One row per run x checkpoint x layer x position: the unification score beside cross-lingual accuracy, with
    the table's label columns (``seed``: the independent unit of every check)."""
    labels = [c for c in table.columns if c not in ("run", "step", "metric", "layer", "position", "value")]
    xacc = table[table.metric == "acc_xling"][["run", "step", "value"]].rename(columns={"value": "acc_xling"})
    unif = table[table.metric == "unification"][["run", *labels, "step", "layer", "position", "value"]]
    return unif.rename(columns={"value": "unification"}).merge(xacc, on=["run", "step"])


def variant_correlations(table: pd.DataFrame, layer: int, variants: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How each unification variant at ``layer`` (last token) tracks cross-lingual accuracy over runs x
    checkpoints: the rows used (long) and, per variant, Spearman's and Pearson's correlation with accuracy."""
    sel = table[(table.layer == layer) & (table.position == "last") & table.metric.isin(variants)]
    wide = sel.pivot_table(index=["run", "step"], columns="metric", values="value")
    wide = wide.join(table[table.metric == "acc_xling"].set_index(["run", "step"]).value.rename("acc_xling"))
    corr = pd.DataFrame({v: {"Spearman with cross-lingual accuracy": wide[v].corr(wide.acc_xling, method="spearman"),
                             "Pearson with cross-lingual accuracy": wide[v].corr(wide.acc_xling)}
                         for v in variants}).T
    return sel, corr


def tracks_best(correlations: pd.DataFrame) -> str:
    """The variant of :func:`variant_correlations` whose Spearman correlation with cross-lingual accuracy is the
    highest (a description over pooled checkpoints, which training time inflates for every variant)."""
    return str(correlations["Spearman with cross-lingual accuracy"].idxmax())


def group_means(table: pd.DataFrame, by: str | list[str], columns: list[str] | None = None) -> pd.DataFrame:
    """Mean of ``columns`` (default: every numeric column but ``seed``) per group of ``by``, groups in the order
    they first appear: the summary a chapter shows and quotes. It describes; verdicts test over seeds in
    ``crosslingual.claims``."""
    keys = [by] if isinstance(by, str) else list(by)
    if columns is None:
        columns = [c for c in table.select_dtypes("number").columns if c not in {"seed", *keys}]
    missing = sorted(set(keys + list(columns)) - set(table.columns))
    if missing:
        raise KeyError(f"group_means: no column(s) {missing} in the table")
    return table.groupby(keys, sort=False)[list(columns)].mean()


def lowest_level(table: pd.DataFrame, sweep: str, label: str = "sweep") -> pd.DataFrame:
    """The rows of ``sweep`` (under ``label``) at its lowest level, e.g. R1's language-specific facts."""
    rows = table[table[label] == sweep]
    if rows.empty:
        raise ValueError(f"lowest_level: no rows with {label} == {sweep!r}")
    return rows[rows.level == rows.level.min()]


def runs_above(table: pd.DataFrame, column: str, baseline: str) -> int:
    """How many rows (runs) score strictly above their own ``baseline`` column in ``column``."""
    return int((table[column] > table[baseline]).sum())


def describe(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Mean, sample SD (0 for one row), min, max and count of each of ``columns``, one row per column: the
    across-run numbers a chapter's prose quotes."""
    missing = sorted(set(columns) - set(table.columns))
    if missing:
        raise KeyError(f"describe: no column(s) {missing} in the table")
    if table.empty:
        raise ValueError("describe: the table has no rows")
    values = table[list(columns)].astype(float)
    sd = values.std(ddof=1) if len(values) > 1 else values.mean() * 0.0
    return pd.DataFrame({"mean": values.mean(), "sd": sd, "min": values.min(), "max": values.max(),
                         "n": values.count()})


def majority_baseline(world, n: int) -> float:
    """Cross-lingual accuracy of always answering the relation's most frequent value among the training facts,
    on the world's ``n`` cross-lingual test queries: real answers are skewed (many territories use the euro or
    speak English), unlike the synthetic ones, so chance is not 1 / values there."""
    R, values = world.cfg.n_relations, world.values.reshape(-1)
    trained = np.unique(world.train_pairs[0])
    majority = {r: np.bincount(values[trained[trained % R == r]]).argmax() for r in range(R)}
    test = world.eval_cross_lingual(n).fact
    return float(np.mean([values[f] == majority[f % R] for f in test]))


def extractability_setting(sweep: str, level: float) -> str:
    """The name chapter 05 gives a point of its study (``studies/extractability.yaml``) in tables and figures."""
    if sweep == "vocabulary":
        return "word level" if level == 0 else f"BPE {level:.0f}, one script"
    return {"baseline": "baseline", "language_marker": "language marker",
            "shared_function_words": "shared function words"}.get(sweep, f"entity overlap {level:.2f}")


def cue_setting(sweep: str, level: float) -> str:
    """The name chapters 05 and 06 give a point of the cue-isolated study (``studies/cue_isolation.yaml``)."""
    if sweep == "vocabulary":
        return f"BPE {level:.0f}"
    return {"baseline": "names only", "language_marker": "+ marker", "own_function_words": "+ function words",
            "own_word_order": "+ word order", "own_script": "+ script", "cognates": "cognates"}[sweep]


FINAL_METRICS = ("acc_in", "acc_xling", "unification", "retrieval_at_1", "language_probe")


def run_table(points: list[tuple[str, float, RunConfig]], runs: list[Run], label: str = "sweep",
              extra: Callable[[str, float, RunConfig, Run], dict] | None = None) -> pd.DataFrame:
    """The per-run results table every chapter starts from: one row per run of a grid (``Grid.expand``'s
    ``(sweep, level, config)`` points, in order, with their runs) holding the run's hash, the point's name (under
    ``label``: "sweep", "arm", "mode"...), level (rounded to 3 decimals, so that 1/3 groups as one level) and
    seed, the run's final accuracies and its last-layer, last-token unification, retrieval and language-probe
    scores, then the chapter's own ``extra(name, level, cfg, run)`` columns. One builder keeps the columns and their
    names the same across chapters."""
    if len(points) != len(runs):
        raise ValueError(f"run_table: {len(points)} grid points but {len(runs)} runs")
    rows = []
    for (name, level, cfg), run in zip(points, runs):
        last = final_layer_metrics(run)
        rows.append({"run": run.path.name, label: name, "level": round(level, 3), "seed": cfg.seed,
                     "acc_in": run.scalar("acc_in"), "acc_xling": run.scalar("acc_xling"),
                     **{m: float(last[m]) for m in FINAL_METRICS[2:]},
                     **(extra(name, level, cfg, run) if extra else {})})
    return pd.DataFrame(rows)


def vocabulary_levels(table: pd.DataFrame) -> pd.DataFrame:
    """Chapter 05's table with the vocabulary sweep levelled by its measured size (R5 tests the trend over it):
    the query token types (BPE pieces, or word types) of each setting, averaged over the seeds' worlds so that a
    setting keeps one level. The other sweeps keep their levels; a copy is returned."""
    out = table.astype({"level": float})
    vocab = out.sweep == "vocabulary"
    out.loc[vocab, "level"] = out[vocab].groupby("setting")["query token types"].transform("mean").round(1)
    return out
