"""The linguistic-regions study (chapter 10): its languages' roles and the per-run analyses behind G1-G4.

The runs are the grid ``studies/regions.yaml``: seven languages, the seventh never in training
(``held_out_languages=1``) and the new language of G4. Two pairs of languages share a script, and a new language
in a known script is what continued pre-training usually meets. Regions are selected on the first four
languages and evaluated on all six trained ones, as the paper selects on 6 and evaluates on 30. The model is
the LLaMA-like variant trained with the full next-token loss, so a language's loss is its perplexity objective,
as in the paper (our choice: the Rosetta chapters train on the answer only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
import torch

from crosslingual.analysis.regions import (
    Mask,
    ablation_rises,
    bottom_region,
    continue_training,
    dimension_magnitudes,
    full_loss,
    importance,
    jaccard,
    language_losses,
    language_tokens,
    massive_activations,
    monolingual_rises,
    outlier_and_typical,
    random_region,
    region_map,
    region_size,
    scaled,
    top_region,
    total_scores,
)
from crosslingual.claims.designs import G4_REDESIGN_FRACTIONS, G4_REDESIGN_LR
from crosslingual.core.config import RunConfig, context_length
from crosslingual.core.train import lm_loss
from crosslingual.store.derived import cached_table, cached_tables
from crosslingual.store.per_run import Call, map_runs, run_call
from crosslingual.store.runs import Run

SELECTED = (0, 1, 2, 3)  # regions are chosen on these languages' sequences
EVALUATED = (0, 1, 2, 3, 4, 5)  # every trained language; 4 and 5 never influence the choice
NEW_LANGUAGE = 6  # held out of training; G4 continues training on it
PAPER_FRACTION = 0.01  # the paper's region size
FRACTIONS = (0.005, 0.01, 0.02, 0.05)
SCALE_FACTORS = (0.0, 2.0, 4.0, 10.0)  # the paper's example multiplies by 4
# nats: arms whose new-language losses differ by less learnt it equally well (the chapter's wording follows it)
SAME_LOSS_SPREAD = 0.05
REGIONS_VERSION = 1  # of ``analyse``'s computation: bump it when that changes, and its cached tables are redone
MAPS = ("importance_map", "monolingual_map")  # layers x tensors tables: their index is data


@dataclass
class RegionAnalysis:
    """One run's G1-G3 tables (long format, one row per measurement) and the maps behind the heat-maps."""

    ablation: pd.DataFrame  # fraction x region x language: loss and its rise when the region is zeroed
    monolingual: pd.DataFrame  # owner x language: rise when the owner's monolingual region is zeroed
    overlap: pd.DataFrame  # Jaccard overlap of the selected languages' own top regions
    scaling: pd.DataFrame  # kind (outlier / typical) x dimension x factor: mean rise over languages
    importance_map: pd.DataFrame  # layers x tensors: share of the total importance
    monolingual_map: pd.DataFrame  # layers x tensors: entries in the union of the monolingual regions
    outlier: dict  # the norm weight and dimension scaled, and its magnitude over the median


def _data(run: Run, n_sequences: int) -> tuple[dict[int, torch.Tensor], dict[int, torch.Tensor]]:
    """Selection sequences of the selected languages and a disjoint sample per evaluated language."""
    world = run.world
    select = {k: language_tokens(world, k, n_sequences, stream=0) for k in SELECTED}
    held = {k: language_tokens(world, k, n_sequences, stream=1) for k in (*EVALUATED, NEW_LANGUAGE)}
    return select, held


ABS_BATCH = 16  # sequences per gradient in the per-batch |theta * grad| alternative (the signed sum ignores it)


def _scores(model: torch.nn.Module, select: dict[int, torch.Tensor], loss_fn, method: str = "signed",
            outer: bool = False) -> dict:
    batch = ABS_BATCH if method == "abs" else len(next(iter(select.values())))
    return {k: importance(model, tokens, loss_fn, method=method, batch_size=batch, outer=outer)
            for k, tokens in select.items()}


SCORES = ("full", "answer")  # what an analysis's rises are measured on (``analyse``'s ``score``)


def analyse(run: Run, n_sequences: int = 256, fractions: tuple[float, ...] = FRACTIONS,
            factors: tuple[float, ...] = SCALE_FACTORS, score: str = "full") -> RegionAnalysis:
    """``_analyse``, cached beside the run: one table per field under kind ``regions-<field>`` (the outlier
    as a one-row table), keyed by the run, every argument and ``REGIONS_VERSION``. A field missing from the
    store (a build killed between two writes) recomputes the analysis once for all missing fields."""
    if score not in SCORES:
        raise ValueError(f"score={score!r} is not allowed: choose one of {', '.join(map(repr, SCORES))}")
    key = dict(run=run.path.name, n_sequences=n_sequences, fractions=list(fractions), factors=list(factors))
    if score != "full":  # the full-loss analyses keep the keys they were stored under
        key["score"] = score
    tables = cached_tables("regions", key, lambda: to_tables(_analyse(run, n_sequences, fractions, factors, score)),
                           [f.name for f in fields(RegionAnalysis)], root=run.path.parent, version=REGIONS_VERSION)
    return from_tables(tables)


def massive(run: Run, n_sequences: int = 256) -> pd.DataFrame:
    """``regions.massive_activations`` of the run's final model on ``n_sequences`` training-shaped sequences:
    held-out sequences of the evaluated languages, shuffled and packed ``facts_per_sequence`` to a sequence as
    in training (where attention sinks and massive activations would sit at the packed facts' BOS tokens).
    Cached as kind ``regions-massive``."""
    def compute() -> pd.DataFrame:
        _, held = _data(run, n_sequences)
        tokens = torch.cat([held[k] for k in EVALUATED])
        m = run.config.train.facts_per_sequence
        pick = torch.randperm(len(tokens), generator=torch.Generator().manual_seed(run.config.seed))
        n = min(n_sequences, len(tokens) // m)
        packed = tokens[pick[:n * m]].reshape(n, context_length(run.config, tokens.shape[1]))
        return massive_activations(run.load_model(), packed).assign(slot=lambda d: d.position % tokens.shape[1])

    return cached_table("regions-massive", dict(run=run.path.name, n_sequences=n_sequences), compute,
                        root=run.path.parent)


def massive_summary(massive_rows: pd.DataFrame, outliers: pd.DataFrame) -> pd.DataFrame:
    """One row per seed from ``massive`` tables (with a ``seed`` column): the hook point whose largest entry is
    the most massive relative to its median (``layer``, ``top``, ``ratio``, ``dimension``, ``slot``: 0 is a
    fact's BOS), and whether that dimension is the seed's outlier dimension of G3 (``outliers``: seed,
    dimension), i.e. whether the mean-magnitude outlier and the massive activation are one phenomenon."""
    rows = massive_rows.reset_index(drop=True)
    top = rows.loc[rows.groupby("seed").ratio.idxmax(), ["seed", "layer", "top", "ratio", "dimension", "slot"]]
    out = top.merge(outliers[["seed", "dimension"]].rename(columns={"dimension": "outlier_dimension"}), on="seed")
    return out.assign(same_dimension=out.dimension == out.outlier_dimension).reset_index(drop=True)


def to_tables(analysis: RegionAnalysis) -> dict[str, pd.DataFrame]:
    """The analysis as tables the store holds (it drops the index): the maps' layers as a column, the outlier
    as one row."""
    tables = {f.name: getattr(analysis, f.name) for f in fields(RegionAnalysis)}
    return {**tables, "outlier": pd.DataFrame([analysis.outlier]), **{m: tables[m].reset_index() for m in MAPS}}


def from_tables(tables: dict[str, pd.DataFrame]) -> RegionAnalysis:
    """The inverse of ``to_tables``."""
    return RegionAnalysis(**{**tables, "outlier": tables["outlier"].to_dict("records")[0],
                             **{m: tables[m].set_index("layer").rename_axis(columns="tensor") for m in MAPS}})


def _analyse(run: Run, n_sequences: int, fractions: tuple[float, ...], factors: tuple[float, ...],
             score: str = "full") -> RegionAnalysis:
    """G1-G3 on a run's final weights: importance on ``n_sequences`` per selected language, every region
    zeroed in turn and every evaluated language's loss measured on sequences the selection did not use.

    The regions are always chosen by the full loss's importance (the paper's objective). ``score`` is the loss
    the rises are measured on: ``"full"``, or ``"answer"`` (G1/G3-redesign), where every row also has ``share``:
    the rise as a share of the language's gap between its unigram answer loss and the model's, so that 1 means
    the language lost everything it knew beyond the answers' frequencies (NaN where a language has no gap; a
    scaling row's share is the mean over languages)."""
    model, loss_fn = run.load_model(), full_loss(run.world.pad_id)
    measure = loss_fn if score == "full" else answer_loss
    select, held = _data(run, n_sequences)
    held = {k: held[k] for k in EVALUATED}
    before = language_losses(model, held, measure)
    unigram = unigram_answer_loss(run.world, held) if score == "answer" else {}
    gap = {k: unigram[k] - before[k] if unigram[k] > before[k] else float("nan") for k in unigram}

    def measured(after: dict[int, float], k: int) -> dict:
        rise = after[k] - before[k]
        return {"loss": after[k], "rise": rise, **({"share": rise / gap[k]} if score == "answer" else {})}

    def rises(**labels) -> list[dict]:
        after = language_losses(model, held, measure)
        return [{**labels, "language": k, "selected": k in SELECTED, **measured(after, k)} for k in EVALUATED]

    scores = _scores(model, select, loss_fn)
    total, total_abs = total_scores(scores), total_scores(_scores(model, select, loss_fn, method="abs"))
    ablation = []
    for f in fractions:
        regions = {"core": top_region(model, total, f), "core (abs)": top_region(model, total_abs, f),
                   "bottom": bottom_region(model, total, f), "random": random_region(model, f, seed=run.config.seed)}
        ablation += ablation_rises(model, regions, rises, fraction=f)

    own = {k: top_region(model, s, PAPER_FRACTION) for k, s in scores.items()}
    mono, monolingual = monolingual_rises(model, own, rises)
    overlap = pd.DataFrame([{"a": a, "b": b, "jaccard": jaccard(own[a], own[b])}
                            for a in SELECTED for b in SELECTED if a < b])
    union: Mask = {n: torch.stack([m[n] for m in mono.values()]).any(0) for n in own[SELECTED[0]]}
    importance_map = region_map(model, total)

    magnitudes = dimension_magnitudes(model, torch.cat(list(held.values())))
    param, dim, typical = outlier_and_typical(magnitudes)
    scaling = []
    for factor in factors:
        for kind, d in [("outlier", dim), *(("typical", t) for t in typical)]:
            with scaled(model, param, d, factor):
                after = language_losses(model, held, measure)
            per = pd.DataFrame([measured(after, k) for k in EVALUATED])
            scaling.append({"kind": kind, "dimension": d, "factor": factor,
                            **per.drop(columns="loss").mean(skipna=True).to_dict()})
    row = magnitudes.loc[param]
    return RegionAnalysis(
        ablation=pd.DataFrame(ablation), monolingual=pd.DataFrame(monolingual), overlap=overlap,
        scaling=pd.DataFrame(scaling), importance_map=importance_map / importance_map.to_numpy().sum(),
        monolingual_map=region_map(model, union),
        outlier={"param": param, "dimension": dim, "ratio": float(row[dim] / row.median())})


def forgetting(run: Run, *, fraction: float = PAPER_FRACTION, steps: int = 300, batch_size: int = 128,
               lr: float = 3e-4, weight_decay: float = 0.1, eval_every: int = 25, n_sequences: int = 256,
               progress: bool = False, cached_only: bool = False) -> pd.DataFrame | None:
    """G4: continue training the run's final model on the new language only, with nothing frozen, with the core
    region frozen, and with a random region of the same size frozen. Long table: arm x step x language loss,
    with the number of sequences seen. Cached in the run store (``cached_table``); ``cached_only``: ``None``
    instead of computing a table that is not cached."""
    key = dict(run=run.path.name, fraction=fraction, steps=steps, batch_size=batch_size, lr=lr,
               weight_decay=weight_decay, eval_every=eval_every, n_sequences=n_sequences)

    def arms(base: torch.nn.Module, core: dict) -> dict:
        return {"full": None, "core frozen": top_region(base, core, fraction),
                "random frozen": random_region(base, fraction, seed=run.config.seed)}

    settings = dict(steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay, eval_every=eval_every,
                    n_sequences=n_sequences, progress=progress)
    return cached_table("forgetting", key, None if cached_only else
                        lambda: _continued(run, arms, outer=False, **settings))


def forgetting_all_parameters(run: Run, *, fractions: tuple[float, ...] = G4_REDESIGN_FRACTIONS, steps: int = 300,
                              batch_size: int = 128, lr: float = G4_REDESIGN_LR, weight_decay: float = 0.1,
                              eval_every: int = 25, n_sequences: int = 256, progress: bool = False,
                              cached_only: bool = False) -> pd.DataFrame | None:
    """G4-redesign: ``forgetting`` with regions chosen among every parameter alike (blocks, embeddings, final norm
    and LM head: ``regions.units(outer=True)``), at each of ``fractions``: arms ``full`` and, per fraction,
    ``core frozen`` and ``random frozen`` (column ``fraction``; 0 for ``full``). The answer rows also carry each
    language's ``unigram`` answer loss (``unigram_answer_loss``), against which forgetting is scored. Cached as
    kind ``forgetting-all`` (``cached_only`` as in ``forgetting``)."""
    for f in fractions:
        region_size(1, f)  # a clear error for a share outside (0, 1]
    key = dict(run=run.path.name, fractions=list(fractions), steps=steps, batch_size=batch_size, lr=lr,
               weight_decay=weight_decay, eval_every=eval_every, n_sequences=n_sequences)

    def arms(base: torch.nn.Module, core: dict) -> dict:
        out = {("full", 0.0): None}
        for f in fractions:
            out[("core frozen", f)] = top_region(base, core, f, outer=True)
            out[("random frozen", f)] = random_region(base, f, seed=run.config.seed, outer=True)
        return out

    settings = dict(steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay, eval_every=eval_every,
                    n_sequences=n_sequences, progress=progress)
    return cached_table("forgetting-all", key, None if cached_only else
                        lambda: _continued(run, arms, outer=True, **settings))


def continued_steps(cfg: RunConfig, requested: int = 0) -> int:
    """The steps of G4's continued trainings: ``requested``, or (0) a fifth of the base runs' steps."""
    return requested or max(1, cfg.train.steps // 5)


def g4_redesign_curves(runs: list[Run], steps: int, n_sequences: int, workers: int | None = None) -> pd.DataFrame:
    """``forgetting_all_parameters`` of every run (7 arms of ``steps`` steps each, evaluated about 12 times), in
    one table with a ``seed`` column. The book computes it before its notebooks (``render.build.derive_chapters``),
    so that chapter 10 reads the cached tables and trains nothing."""
    return _continued_runs(forgetting_all_parameters, runs, workers, "continued training, 7 arms", steps=steps,
                           eval_every=max(1, steps // 12), n_sequences=n_sequences)


def g4_redesign_calls(runs: list[Run], steps: int, n_sequences: int) -> list[Call]:
    """The computations :func:`g4_redesign_curves` still has to make (a run whose table is cached has none), as
    calls for a worker pool (``render.build.derive_chapters`` runs them beside the other chapters' ones)."""
    return _continued_calls(forgetting_all_parameters, runs, steps=steps, eval_every=max(1, steps // 12),
                            n_sequences=n_sequences)


def g4_first_calls(runs: list[Run], steps: int, n_sequences: int, fraction: float, lr: float) -> list[Call]:
    """The computations :func:`g4_first_curves` still has to make, as :func:`g4_redesign_calls`."""
    return _continued_calls(forgetting, runs, fraction=fraction, steps=steps, lr=lr, eval_every=max(1, steps // 12),
                            n_sequences=n_sequences)


def _continued_calls(fn: Callable[..., pd.DataFrame | None], runs: list[Run], **kwargs) -> list[Call]:
    return [run_call(fn, run, **kwargs) for run in runs if fn(run, cached_only=True, **kwargs) is None]


def _continued_runs(fn: Callable[..., pd.DataFrame | None], runs: list[Run], workers: int | None, desc: str,
                    **kwargs) -> pd.DataFrame:
    """``fn(run, **kwargs)`` of every run in one table with a ``seed`` column: the cached tables read in this
    process, the others computed in worker processes (``map_runs``), so that a rebuild whose tables are all
    cached starts no process (about 5 s of a second ``make book``)."""
    tables = [fn(run, cached_only=True, **kwargs) for run in runs]
    todo = [run for run, table in zip(runs, tables) if table is None]
    computed = iter(map_runs(fn, todo, workers=workers, desc=desc, **kwargs) if todo else [])
    tables = [next(computed) if table is None else table for table in tables]
    return pd.concat([t.assign(seed=run.config.seed) for run, t in zip(runs, tables)], ignore_index=True)


def g4_first_curves(runs: list[Run], steps: int, n_sequences: int, fraction: float, lr: float,
                    workers: int | None = None) -> pd.DataFrame:
    """``forgetting`` of every run (G4's first design: 3 arms, ``fraction`` frozen, learning rate ``lr``), as
    :func:`g4_redesign_curves`."""
    return _continued_runs(forgetting, runs, workers, "continued training", fraction=fraction, steps=steps, lr=lr,
                           eval_every=max(1, steps // 12), n_sequences=n_sequences)


def _continued(run: Run, arms, *, outer: bool, steps: int, batch_size: int, lr: float, weight_decay: float,
               eval_every: int, n_sequences: int, progress: bool) -> pd.DataFrame:
    """Continued training on the new language from the run's final model, once per arm of ``arms(base, core)``
    (name, or (name, fraction), -> the region frozen, None for nothing), where ``core`` is the importance summed
    over the selection languages (over every parameter with ``outer``). Long table: arm (and fraction) x step x
    kind (answer / full loss) x language; with ``outer``, the answer rows carry the unigram answer loss."""
    world, loss_fn = run.world, full_loss(run.world.pad_id)
    select, held = _data(run, n_sequences)
    new = language_tokens(world, NEW_LANGUAGE, len(world.design_pairs[0]), stream=2)  # all of it
    base = run.load_model()
    kinds = {"full": loss_fn, "answer": answer_loss}

    def evaluate(model: torch.nn.Module) -> dict:
        return {f"{kind}/{k}": v for kind, fn in kinds.items() for k, v in language_losses(model, held, fn).items()}

    tables = []
    for arm, mask in arms(base, total_scores(_scores(base, select, loss_fn, outer=outer))).items():
        name, fraction = arm if isinstance(arm, tuple) else (arm, None)
        curve = continue_training(
            run.load_model(), new, loss_fn, steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
            seed=run.config.seed, frozen=mask, eval_every=eval_every, progress=progress, evaluate=evaluate)
        curve = curve.melt(id_vars=["step", "sequences"], value_name="loss").assign(arm=name)
        tables.append(curve if fraction is None else curve.assign(fraction=fraction))
    table = pd.concat(tables, ignore_index=True)
    parts = table.pop("variable").str.split("/", expand=True)
    table = table.assign(kind=parts[0], language=parts[1].astype(int))
    if outer:
        unigram = unigram_answer_loss(world, held)
        table["unigram"] = table.language.map(unigram).where(table.kind == "answer")
    return table


def unigram_answer_loss(world, data: dict[int, torch.Tensor]) -> dict[int, float]:
    """Per language, the answer loss of a model that knows only how often each answer occurs in training (the
    unigram: add-one counts over the value tokens of the world's training answers). G4-redesign scores
    forgetting as a share of the gap between it and the trained model: 1 means everything beyond the answer
    frequencies was lost, whatever a language's irreducible loss."""
    values = np.unique(world.val_ids)
    counts = 1 + (world.train.tokens[:, -1][:, None] == values[None]).sum(0)
    logp = dict(zip(values.tolist(), np.log(counts / counts.sum()).tolist()))
    out = {}
    for k, tokens in data.items():
        answers = tokens[:, -1].tolist()
        if not set(answers) <= logp.keys():
            raise ValueError(f"language {k}: an answer token is not a value of the world")
        out[k] = -float(np.mean([logp[a] for a in answers]))
    return out


def answer_loss(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """Loss of the answer token only. The answers (value names) are shared by all languages, so unlike the
    full loss it is not dominated by the output prior moving onto the new language's own word tokens."""
    return lm_loss(model, tokens, "answer")


def forgetting_summary(curves: pd.DataFrame, kind: str = "answer") -> pd.DataFrame:
    """One row per arm at the last step, for loss ``kind``: ``forgetting`` (mean loss rise over the old evaluated
    languages since step 0) and ``new_loss`` (the new language's loss)."""
    curves = curves[curves.kind == kind]
    first, last = curves[curves.step == 0], curves[curves.step == curves.step.max()]
    merged = last.merge(first[["arm", "language", "loss"]], on=["arm", "language"], suffixes=("", "_start"))
    old = merged[merged.language.isin(EVALUATED)]
    out = old.assign(rise=old.loss - old.loss_start).groupby("arm", as_index=False).rise.mean()
    new = merged[merged.language == NEW_LANGUAGE].set_index("arm").loss
    return out.rename(columns={"rise": "forgetting"}).assign(new_loss=lambda d: d.arm.map(new))


def forgetting_shares(curves: pd.DataFrame) -> pd.DataFrame:
    """G4-redesign's table from ``forgetting_all_parameters`` curves (with a ``seed`` column): one row per seed,
    arm and fraction at the last step, with ``forgetting`` (mean answer-loss rise over the old evaluated
    languages, nats), ``forgetting_share`` (the mean over those languages of the rise as a share of the gap
    between the unigram answer loss and the loss at step 0; a language whose trained loss is not below its
    unigram has no gap and is left out) and ``new_loss`` (the new language's answer loss)."""
    answer = curves[curves.kind == "answer"]
    keys = ["seed", "arm", "fraction", "language"]
    start = answer[answer.step == 0].set_index(keys).loss
    last = answer[answer.step == answer.groupby("seed").step.transform("max")].set_index(keys)
    rise = last.loss - start.reindex(last.index)
    gap = last.unigram - start.reindex(last.index)
    table = pd.DataFrame({"rise": rise, "share": (rise / gap).where(gap > 0), "loss": last.loss}).reset_index()
    old = table[table.language.isin(EVALUATED)].groupby(keys[:3], as_index=False).agg(
        forgetting=("rise", "mean"), forgetting_share=("share", "mean"))
    new = table[table.language == NEW_LANGUAGE].set_index(keys[:3]).loss.rename("new_loss")
    return old.merge(new.reset_index(), on=keys[:3])


def language_roles(world) -> pd.DataFrame:
    """The chapter's first table: each language's script, its role (selection, evaluation only, or the new
    language of G4) and how many training sequences it has (the new language has none)."""
    n = len(world.scripts)
    return pd.DataFrame({"language": range(n), "script": world.scripts,
                         "role": ["selection" if k in SELECTED else "evaluation only" if k in EVALUATED else "new (G4)"
                                  for k in range(n)],
                         "training sequences": np.bincount(world.train_pairs[1], minlength=n)})


def g1_summary(at: pd.DataFrame) -> dict[str, float]:
    """What chapter 10 quotes beside G1, from the ablation rows of one region size (``region`` among core,
    bottom and random; ``language``, ``rise``): each region's mean rise, the smallest per-language ratio of the
    core's rise to the larger control's (controls floored at 1e-9 nats), and the smallest per-language core rise."""
    missing = {"core", "bottom", "random"} - set(at.region)
    if missing:
        raise ValueError(f"g1_summary: no rows for region(s) {sorted(missing)}")
    per_region = at.groupby("region").rise.mean()
    per_language = at.groupby(["language", "region"]).rise.mean().unstack()
    ratio = per_language["core"] / per_language[["bottom", "random"]].max(axis=1).clip(lower=1e-9)
    return {"core": float(per_region["core"]), "bottom": float(per_region["bottom"]),
            "random": float(per_region["random"]), "min_ratio": float(ratio.min()),
            "min_rise": float(per_language["core"].min())}


def importance_methods(ablation: pd.DataFrame) -> pd.DataFrame:
    """The two importance recipes side by side per region size: the per-batch absolute core's Jaccard overlap
    with the signed core, and each core's mean loss rise."""
    absolute = ablation[ablation.region == "core (abs)"].groupby("fraction")
    out = absolute.agg(**{"Jaccard with the signed core": ("jaccard_with_core", "mean"),
                          "rise (abs)": ("rise", "mean")})
    out["rise (signed)"] = ablation[ablation.region == "core"].groupby("fraction").rise.mean()
    return out


def g2_summary(monolingual: pd.DataFrame, ablation: pd.DataFrame) -> dict[str, float]:
    """The mean size of a monolingual region in entries and as a share of the block parameters (the core at the
    paper's 1% holds ``PAPER_FRACTION`` of them)."""
    entries = float(monolingual.groupby("owner").entries.mean().mean())
    core = ablation[(ablation.region == "core") & (ablation.fraction == PAPER_FRACTION)].entries
    if core.empty:
        raise ValueError(f"g2_summary: no core region of the paper's size {PAPER_FRACTION} in the ablation table")
    return {"entries": entries, "share": entries / float(core.iloc[0]) * PAPER_FRACTION}


def mean_overlap(analyses: dict[int, RegionAnalysis]) -> pd.DataFrame:
    """The selection languages' own-region Jaccard overlaps, mean over seeds, as an a x b matrix."""
    return by_seed(analyses, "overlap").groupby(["a", "b"]).jaccard.mean().unstack()


def forgetting_by_seed(curves: pd.DataFrame) -> pd.DataFrame:
    """``forgetting_summary`` of every seed's curves (``seed`` column), one row per seed and arm."""
    return pd.concat([forgetting_summary(c).assign(seed=s) for s, c in curves.groupby("seed")], ignore_index=True)


def g4_summary(summary: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """Per arm, the mean over seeds of ``forgetting_by_seed``'s columns; and the spread (max - min) of the arms'
    mean new-language loss, which decides whether freezing changed how well the new language was learnt
    (``SAME_LOSS_SPREAD``)."""
    means = summary.groupby("arm", sort=False)[["forgetting", "new_loss"]].mean()
    return means, float(means.new_loss.max() - means.new_loss.min())


def by_seed(analyses: dict[int, RegionAnalysis], field: str) -> pd.DataFrame:
    """One field of every seed's analysis in one table, with a ``seed`` column (the chapter's unit of evidence)."""
    return pd.concat([getattr(a, field).assign(seed=s) for s, a in analyses.items()], ignore_index=True)


def mean_map(analyses: dict[int, RegionAnalysis], field: str) -> pd.DataFrame:
    """The mean over seeds of a layers x tensors map (``importance_map`` or ``monolingual_map``)."""
    if field not in MAPS:
        raise ValueError(f"field={field!r} must be one of {MAPS}")
    return sum(getattr(a, field) for a in analyses.values()) / len(analyses)
