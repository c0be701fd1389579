"""Calibration of the ``default`` profile: the evidence behind the book's default scale.

The goal (issue 2): on one CPU core a run takes <= 40 s, and cross-lingual accuracy is far above chance in the
settings that favour transfer and near chance in those that do not. ``crosslingual calibrate`` trains every
candidate below with two seeds (cached in the run store like any other run) and writes the table that
``book/method.md`` includes. The candidates are overrides of the ``default`` profile, so the table stays
true when the profile changes: re-run the command and commit the new table.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from crosslingual.core.config import make_config
from crosslingual.files import write_atomic, write_errors
from crosslingual.render.cost import run_seconds
from crosslingual.store.results import final_layer_metrics
from crosslingual.store.sweep import TOGETHER, run_many

# (label, overrides of the default profile). The prototype scale of science.md is 200 entities x 8 relations.
PROTOTYPE = dict(n_entities=200, n_relations=8)
CANDIDATES: list[tuple[str, dict]] = [
    ("prototype scale, p = 0.3", dict(PROTOTYPE, parallel_fraction=0.3)),
    ("prototype scale, p = 0.6", dict(PROTOTYPE, parallel_fraction=0.6)),
    ("prototype scale, p = 0.9", dict(PROTOTYPE, parallel_fraction=0.9)),
    ("prototype scale, p = 0.6, weight decay 0.1", dict(PROTOTYPE, parallel_fraction=0.6, weight_decay=0.1)),
    ("prototype scale, p = 0.6, 6000 steps", dict(PROTOTYPE, parallel_fraction=0.6, steps=6000)),
    ("prototype scale, p = 0.6, full-sequence loss", dict(PROTOTYPE, parallel_fraction=0.6, loss="full")),
    ("prototype scale, p = 0.6, d_model 128", dict(PROTOTYPE, parallel_fraction=0.6, d_model=128, d_mlp=512)),
    ("prototype scale, p = 0.6, 4 layers", dict(PROTOTYPE, parallel_fraction=0.6, n_layers=4)),
    ("100 x 16, p = 0.3", dict(n_entities=100, n_relations=16, parallel_fraction=0.3)),
    ("100 x 16, p = 0.6", dict(n_entities=100, n_relations=16, parallel_fraction=0.6)),
    ("100 x 16, p = 0.9", dict(n_entities=100, n_relations=16, parallel_fraction=0.9)),
    ("100 x 16, p = 0.6, 2000 steps", dict(n_entities=100, n_relations=16, parallel_fraction=0.6, steps=2000)),
    ("64 x 24, p = 0.3", dict(n_entities=64, n_relations=24, parallel_fraction=0.3)),
    ("64 x 24, p = 0.6 (the default)", dict(n_entities=64, n_relations=24, parallel_fraction=0.6)),
    ("64 x 24, p = 0.6, 1500 steps", dict(n_entities=64, n_relations=24, parallel_fraction=0.6, steps=1500)),
    ("64 x 24, p = 0.6, 3000 steps (the default before 5 seeds)", dict(n_entities=64, n_relations=24,
                                                                       parallel_fraction=0.6, steps=3000)),
    ("64 x 24, p = 0.9", dict(n_entities=64, n_relations=24, parallel_fraction=0.9)),
    ("50 x 32, p = 0.3", dict(n_entities=50, n_relations=32, parallel_fraction=0.3)),
    ("50 x 32, p = 0.6", dict(n_entities=50, n_relations=32, parallel_fraction=0.6)),
    ("100 x 16, p = 0.6, no shared value names", dict(n_entities=100, n_relations=16, parallel_fraction=0.6,
                                                        value_overlap=0.0)),
    ("prototype scale, p = 0.6, no shared value names", dict(PROTOTYPE, parallel_fraction=0.6, value_overlap=0.0)),
    ("64 x 24, p = 0.6, no shared value names", dict(n_entities=64, n_relations=24, parallel_fraction=0.6,
                                                       value_overlap=0.0)),
]
SEEDS = (0, 1)


def calibration_table(workers: int | None = None) -> pd.DataFrame:
    """Final metrics of every candidate (mean and SD over seeds) and seconds per run."""
    labelled = [(label, make_config("default", seed=s, world_seed=s, **o)) for label, o in CANDIDATES for s in SEEDS]
    runs = run_many([cfg for _, cfg in labelled], workers=workers)
    rows = []
    for (label, cfg), run in zip(labelled, runs):
        rows.append({"configuration": label, "acc_in": run.scalar("acc_in"), "acc_xling": run.scalar("acc_xling"),
                     "unification": float(final_layer_metrics(run)["unification"]),
                     "seconds": run_seconds(run), "chance": 1 / cfg.world.n_values})
    df = pd.DataFrame(rows)
    agg = df.groupby("configuration", sort=False).agg(["mean", "std"])
    return agg


def to_markdown(agg: pd.DataFrame) -> str:
    lines = ["| configuration | in-language acc. | cross-lingual acc. | chance | unification (last layer) | s / run |",
             "|---|---|---|---|---|---|"]
    for label, r in agg.iterrows():
        lines.append(f"| {label} | {r[('acc_in', 'mean')]:z.2f} | {r[('acc_xling', 'mean')]:z.2f} "
                     f"± {r[('acc_xling', 'std')]:z.2f} | {r[('chance', 'mean')]:z.2f} | "
                     f"{r[('unification', 'mean')]:z.2f} | {r[('seconds', 'mean')]:z.0f} |")
    return "\n".join(lines)


def write_calibration(path: Path, workers: int | None = None) -> Path:
    agg = calibration_table(workers)
    base = make_config("default")
    header = (f"Each row: mean over seeds {', '.join(map(str, SEEDS))} (± SD over seeds) at the end of training; "
              f"other settings as in the `default` profile ({base.model.n_layers} layers, d_model "
              f"{base.model.d_model}, {base.train.steps} steps, batch {base.train.batch_size}, lr {base.train.lr}, "
              f"weight decay {base.train.weight_decay}, {base.world.n_values} values per relation, shared value "
              f"names). Seconds are a run's share of the wall time of its single-threaded process (runs of one shape "
              f"train up to {TOGETHER['cpu']} at a time as one batched computation), two processes side by side "
              f"on a 2-core machine. Generated by `crosslingual calibrate`.\n\n")
    with write_errors(path, "--out", "choose a directory you can write", output=True):
        write_atomic(path, (header + to_markdown(agg) + "\n").encode())
    return path
