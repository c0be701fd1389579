"""The embedding-geometry study (chapter 09): the per-run tables behind H1-H3, cached in the run store.

``crosslingual.analysis.geometry`` holds the paper's measures on a plain embedding matrix; this module applies them to
our runs. Only tokens that occur as *inputs* are analysed: under the answer-only loss the value tokens are
never inputs, so their input embeddings never train. Every table is cached beside the runs it comes from
(``cached_table``), keyed by the run names, ``k`` and ``GEOMETRY_VERSION``, so that a book build whose runs are
all stored only reads them back; bump the version when a computation here or in ``geometry`` changes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from crosslingual.analysis.geometry import (
    common_neighbours,
    cross_script_share,
    embeddings_of_run,
    knn,
    knn_overlap,
    max_canonical_cosine,
    num_neighbor_category,
    pool_words,
    random_canonical_cosine,
    separability,
    token_category,
    translation_precision,
    translation_sets,
    umap_2d,
    world_translations,
)
from crosslingual.core.config import RunConfig, make_config
from crosslingual.core.world import World
from crosslingual.data.dictionary import piece_rows
from crosslingual.store.derived import cached_table
from crosslingual.store.results import final_layer_metrics
from crosslingual.store.runs import Run

GEOMETRY_VERSION = 1


def input_tokens(world: World) -> np.ndarray:
    """Token ids that occur as inputs in training (BOS and PAD excluded)."""
    ids = np.unique(world.train.tokens[:, :-1])
    return ids[~np.isin(ids, world.special_ids)]


def token_kinds(world: World, ids: np.ndarray) -> np.ndarray:
    """What each token id is in the world's grammar, for the chapter's maps: entity, relation, or function
    word / marker."""
    return np.where(np.isin(ids, world.ent_ids), "entity",
                    np.where(np.isin(ids, world.rel_ids), "relation", "function word / marker"))


# The paper's H1/H2 design on a whole vocabulary: script categories of at least MIN_CATEGORY tokens,
# numNeighborCategory@NEIGHBOURS over a random NEIGHBOUR_SHARE of the tokens (the paper's 1%)
MIN_CATEGORY, NEIGHBOURS, NEIGHBOUR_SHARE = 500, 50, 0.01


def model_geometry(emb: np.ndarray, tokens: list[str], seed: int, *, min_count: int = MIN_CATEGORY,
                   k: int = NEIGHBOURS, share: float = NEIGHBOUR_SHARE,
                   max_per_side: int | None = None) -> tuple[pd.DataFrame, dict[str, float]]:
    """The paper's H1 and H2 measures on a whole vocabulary (a pretrained model's input embeddings):
    one-vs-rest separability per script category with at least ``min_count`` tokens, and numNeighborCategory@k
    over a random ``share`` of the tokens drawn with ``seed`` (the paper's 1%); ``max_per_side`` caps the
    separability's balanced sets (``separability``). Returns the separability table
    and a summary: tokens, categories, mean separability, numNeighborCategory mean and SD."""
    if not 0 < share <= 1:
        raise ValueError(f"model_geometry: share={share} must be in (0, 1]")
    labels = np.array([token_category(t) for t in tokens])
    sample = np.random.default_rng(seed).choice(len(tokens), size=max(1, int(len(tokens) * share)), replace=False)
    sep = separability(emb, labels, min_count=min_count, seed=seed, max_per_side=max_per_side)
    ncat = num_neighbor_category(knn(emb, k, queries=sample), labels)
    return sep, {"tokens": len(tokens), "categories": len(sep), "separability": float(sep.accuracy.mean()),
                 "neighbor_categories": float(ncat.mean()), "neighbor_categories_sd": float(ncat.std())}


def script_labels(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """The run's input token ids and the script category of each (``geometry.token_category``)."""
    ids = input_tokens(run.world)
    return ids, np.array([token_category(run.world.vocab[i]) for i in ids])


def category_min_count(tokens: int) -> int:
    """The fewest tokens a script category needs to be probed: the paper's 500 scaled down to our vocabularies
    (50, or a quarter of the input tokens where there are fewer than 200)."""
    return min(50, tokens // 4)


def script_separability(run: Run) -> pd.DataFrame:
    """H1-redesign's table: at every saved checkpoint (``step``), the mean script separability of the input
    tokens' embeddings (``separability``), the same probe with the labels shuffled (``shuffled``: one permutation
    drawn with the run's seed, used at every checkpoint; chance 0.5, above it only by overfitting) and the
    number of categories probed. Cached as kind ``geometry-script``."""
    def compute() -> pd.DataFrame:
        ids, labels = script_labels(run)
        shuffled = np.random.default_rng(run.config.seed).permutation(labels)
        rows = []
        for step in run.steps:
            x = embeddings_of_run(run, step)[0][ids]
            real, null = (separability(x, y, min_count=category_min_count(len(ids))) for y in (labels, shuffled))
            rows.append({"step": step, "separability": real.accuracy.mean(), "shuffled": null.accuracy.mean(),
                         "categories": len(real)})
        return pd.DataFrame(rows)

    return cached_table("geometry-script", {"run": run.path.name}, compute, root=run.path.parent,
                        version=GEOMETRY_VERSION)


def script_table(runs: list[Run]) -> pd.DataFrame:
    """``script_separability`` of each run with its ``seed`` and ``run`` name: the table of H1-redesign."""
    return pd.concat([script_separability(run).assign(seed=run.config.seed, run=run.path.name) for run in runs],
                     ignore_index=True)


def names(world: World) -> tuple[np.ndarray, dict[int, set[int]]]:
    """H2-redesign's words: the entity and relation names of every language (word ids, each once) and, per row
    of that array, the rows of the same entity or relation in the languages (itself included). Value names are
    left out (never inputs) and so are function words (one per language, not content)."""
    groups = np.concatenate([world.ent_ids, world.rel_ids], axis=1).T  # [E + R, K]: one translation group a row
    words = np.unique(groups)
    groups = np.searchsorted(words, groups)
    return words, translation_sets([groups])


def translation_k(world: World) -> int:
    """H2-redesign's k: the number of a name's translations (languages - 1). A perfectly translation-rich
    neighbourhood then fills all k places with translations, one per other script, so numNeighborCategory@k
    reaches its maximum (every language's script) only there; with two scripts and k = 10 it saturates at 2."""
    return world.cfg.n_languages - 1


def word_neighbourhoods(run: Run) -> pd.DataFrame:
    """H2-redesign's table: at every saved checkpoint (``step``), over the world's names (``names``) pooled from
    their input pieces (``geometry.pool_words``), with k = ``translation_k``: numNeighborCategory@k (the mean
    number of scripts among a name's k + 1 nearest rows), translation precision@k (the share of names with a
    translation among their k neighbours), and each again with shuffled labels (``*_shuffled``: the script
    labels permuted over the names, and the translation groups carried to a permutation of the rows; drawn
    once with the run's seed), the chance level the measure is read against. Cached as kind
    ``geometry-words``."""
    def compute() -> pd.DataFrame:
        world, k = run.world, translation_k(run.world)
        words, translations = names(world)
        tokens = world.word_tokens(words)
        labels = np.array([token_category(world.words[w]) for w in words.tolist()])
        rng = np.random.default_rng(run.config.seed)
        perm = rng.permutation(len(words))
        shuffled = {int(perm[i]): {int(perm[j]) for j in js} for i, js in translations.items()}
        labels_shuffled = rng.permutation(labels)
        rows, queries = [], np.arange(len(words))
        for step in run.steps:
            neighbours = knn(pool_words(embeddings_of_run(run, step)[0], tokens), k)
            rows.append({"step": step, "neighbor_categories": num_neighbor_category(neighbours, labels).mean(),
                         "neighbor_categories_shuffled": num_neighbor_category(neighbours, labels_shuffled).mean(),
                         "translation_precision": translation_precision(neighbours, queries, translations, k),
                         "translation_precision_shuffled": translation_precision(neighbours, queries, shuffled, k),
                         "k": k, "names": len(words)})
        return pd.DataFrame(rows)

    return cached_table("geometry-words", {"run": run.path.name}, compute, root=run.path.parent,
                        version=GEOMETRY_VERSION)


def checkpoint_geometry(run: Run, k: int, step: int | None = None) -> dict[str, float]:
    """H1 and H2 measures of the input embeddings at ``step`` (default: the last checkpoint): separability
    (over the script categories with at least ``min(50, tokens // 4)`` tokens, scaled down from the paper's
    500 to our vocabularies), their number, numNeighborCategory@k, the cross-script share of the k neighbours
    and translation precision@k (NaN for subword worlds, where a token has no single translation)."""
    emb = embeddings_of_run(run, step)[0]
    ids, labels = script_labels(run)
    x = emb[ids]
    neighbours = knn(x, k)
    sep = separability(x, labels, min_count=category_min_count(len(ids)))
    out = {"separability": sep.accuracy.mean(), "categories": len(sep),
           "neighbor_categories": num_neighbor_category(neighbours, labels).mean(),
           "cross_script_share": cross_script_share(neighbours, labels).mean(), "translation_precision": np.nan}
    if run.world.pad_id is None:  # translations are per token only at word level
        local = {t: i for i, t in enumerate(ids.tolist())}
        translations = {local[t]: {local[u] for u in us if u in local}
                        for t, us in world_translations(run.world).items() if t in local}
        out["translation_precision"] = translation_precision(neighbours, np.arange(len(ids)), translations, k)
    return out


def run_geometry(run: Run, k: int, final_only: bool = False) -> pd.DataFrame:
    """One row per saved checkpoint of the run (only the last with ``final_only``, what the final-state tables
    need): ``step`` and the measures of ``checkpoint_geometry``. Cached as kind ``geometry``."""
    steps = run.steps[-1:] if final_only else run.steps

    def compute() -> pd.DataFrame:
        return pd.DataFrame([{"step": step, **checkpoint_geometry(run, k, step)} for step in steps])

    return cached_table("geometry", {"run": run.path.name, "k": k, "steps": "final" if final_only else "all"},
                        compute, root=run.path.parent, version=GEOMETRY_VERSION)


def final_table(runs: list[Run], labels: list[dict], k: int) -> pd.DataFrame:
    """One row per run: its ``labels`` (sweep, level, ...), final unification score (last layer, last token),
    cross-lingual accuracy and geometry at the last checkpoint. A run listed twice (two sweeps share a
    setting) is kept once, under its first labels."""
    return _final_rows(runs, labels, lambda run: run_geometry(run, k, final_only=True))


def names_table(runs: list[Run], labels: list[dict]) -> pd.DataFrame:
    """H2-redesign's table: ``final_table`` with the names' neighbourhoods (``word_neighbourhoods``) at the last
    checkpoint in place of the tokens' geometry."""
    return _final_rows(runs, labels, word_neighbourhoods)


def _final_rows(runs: list[Run], labels: list[dict], measures) -> pd.DataFrame:
    """One row per run (the first of repeats): labels, unification, cross-lingual accuracy and the last row of
    ``measures(run)`` (a per-checkpoint table)."""
    rows = [{"run": run.path.name, **label, "unification": final_layer_metrics(run)["unification"],
             "acc_xling": run.scalar("acc_xling"), **measures(run).drop(columns="step").to_dict("records")[-1]}
            for run, label in zip(runs, labels, strict=True)]
    return pd.DataFrame(rows).drop_duplicates("run")


def umap_layout(run: Run) -> pd.DataFrame:
    """The chapter's picture of a run's final input embeddings: ``token`` (id) and 2-D UMAP coordinates ``x``,
    ``y`` (seed 0), cached as kind ``geometry-umap`` (UMAP is the slowest step of a rebuild otherwise)."""
    def compute() -> pd.DataFrame:
        ids = input_tokens(run.world)
        xy = umap_2d(embeddings_of_run(run)[0][ids], seed=0)
        return pd.DataFrame({"token": ids, "x": xy[:, 0], "y": xy[:, 1]})

    return cached_table("geometry-umap", {"run": run.path.name}, compute, root=run.path.parent,
                        version=GEOMETRY_VERSION)


def training_table(runs: list[Run], labels: list[dict], k: int) -> pd.DataFrame:
    """One row per run and saved checkpoint: the run, its ``labels``, the step and its geometry."""
    return pd.DataFrame([{"run": run.path.name, **label, **row}
                         for run, label in zip(runs, labels, strict=True)
                         for row in run_geometry(run, k).to_dict("records")])


def seed_overlap(a: Run, b: Run, k: int) -> pd.DataFrame:
    """k-NN overlap of two runs' input embeddings (the same world, so the same input tokens) at every
    checkpoint both saved: ``step``, ``overlap``. Cached as kind ``geometry-seed-overlap``."""
    def compute() -> pd.DataFrame:
        ids = input_tokens(a.world)
        return pd.DataFrame([{"step": step, "overlap": knn_overlap(embeddings_of_run(a, step)[0][ids],
                                                                   embeddings_of_run(b, step)[0][ids], k)}
                             for step in sorted(set(a.steps) & set(b.steps))])

    return cached_table("geometry-seed-overlap", {"runs": [a.path.name, b.path.name], "k": k}, compute,
                        root=a.path.parent, version=GEOMETRY_VERSION)


PAIR_SEED_OFFSET = 1000  # the second initialisation of world s is seed s + 1000: no study uses those seeds


def pair_configs(profile: str, seeds: int, seed: int) -> list[tuple[RunConfig, RunConfig]]:
    """H3's design: one pair of initialisations per world, so that pairs are independent units (pairs of seeds
    of one world share runs). The first of each pair is the study's standard run of that seed."""
    return [(make_config(profile, seed=s, world_seed=s), make_config(profile, seed=s + PAIR_SEED_OFFSET, world_seed=s))
            for s in range(seed, seed + seeds)]


def world_pairs(pairs: list[tuple[Run, Run]], k: int) -> pd.DataFrame:
    """``seed_overlap`` of each pair of runs, labelled ``pair`` by the world seed: the table of H3."""
    tables = [seed_overlap(a, b, k).assign(pair=a.config.world.world_seed) for a, b in pairs]
    return pd.concat(tables, ignore_index=True)[["pair", "step", "overlap"]]


def chance_overlap(world: World, k: int) -> float:
    """The k-NN overlap of unrelated embeddings of the world's input tokens: k / (n - 1)."""
    return k / (len(input_tokens(world)) - 1)


CANONICAL_MIN_RATIO = 4.0  # rows per column below which canonical angles are not computed (max_canonical_cosine)


def shared_pieces(a: list[str], b: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The strings both vocabularies hold: their rows in ``a`` and in ``b`` (a string repeated in one vocabulary
    counts at its first row) and the strings, in ``a``'s order."""
    in_b: dict[str, int] = {}
    for i, piece in enumerate(b):
        in_b.setdefault(piece, i)
    rows_a, rows_b, strings, seen = [], [], [], set()
    for i, piece in enumerate(a):
        if piece in in_b and piece not in seen:
            seen.add(piece)
            rows_a.append(i)
            rows_b.append(in_b[piece])
            strings.append(piece)
    return np.array(rows_a, dtype=np.int64), np.array(rows_b, dtype=np.int64), strings


def cross_model_overlap(a_emb, a_pieces: list[str], b_emb, b_pieces: list[str], *, k: int, queries: int,
                        seed: int, min_count: int = 500, canonical_rows: int = 20_000
                        ) -> tuple[pd.DataFrame, dict[str, float]]:
    """H3 between two pretrained models: over the pieces both hold, per script category with at least
    ``min_count`` of them, the mean share of common ``k`` nearest neighbours of up to ``queries`` query pieces
    (drawn with ``seed``; neighbours searched among all shared pieces). Returns that table (``category``,
    ``pieces``, ``queries``, ``overlap``) and a summary: shared pieces, chance k / (n - 1), the categories'
    smallest and largest overlap, and the largest canonical cosine between the two embeddings with its random
    baseline, both on ``canonical_rows`` shared pieces (QR of every row would cost minutes and says no more)."""
    rows_a, rows_b, strings = shared_pieces(a_pieces, b_pieces)
    if len(strings) <= k:
        raise ValueError(f"cross_model_overlap: the vocabularies share {len(strings)} pieces, fewer than "
                         f"k + 1 = {k + 1}")
    a, b = torch.as_tensor(a_emb)[rows_a], torch.as_tensor(b_emb)[rows_b]
    labels = np.array([token_category(t) for t in strings])
    counts = pd.Series(labels).value_counts()
    rng = np.random.default_rng(seed)
    chosen = {c: rng.choice(np.flatnonzero(labels == c), size=min(queries, int(n)), replace=False)
              for c, n in sorted(counts.items()) if n >= min_count}
    order = np.concatenate(list(chosen.values())) if chosen else np.array([], dtype=np.int64)
    shares = common_neighbours(a, b, k, order) if len(order) else np.array([])
    bounds = np.cumsum([0, *(len(q) for q in chosen.values())])
    table = pd.DataFrame([{"category": c, "pieces": int(counts[c]), "queries": len(q),
                           "overlap": float(shares[lo:hi].mean())}
                          for (c, q), lo, hi in zip(chosen.items(), bounds[:-1], bounds[1:])],
                         columns=["category", "pieces", "queries", "overlap"])
    summary = {"shared": len(strings), "chance": k / (len(strings) - 1), "categories": len(table),
               "overlap_min": float(table.overlap.min()), "overlap_max": float(table.overlap.max()),
               "canonical": float("nan"), "canonical_random": float("nan")}
    sample = rng.choice(len(strings), size=min(canonical_rows, len(strings)), replace=False)
    if len(sample) >= CANONICAL_MIN_RATIO * max(a.shape[1], b.shape[1]):  # else any two subspaces nearly coincide
        summary["canonical"] = max_canonical_cosine(a[sample], b[sample], CANONICAL_MIN_RATIO)
        summary["canonical_random"] = random_canonical_cosine(len(sample), a.shape[1], b.shape[1], draws=3, seed=seed)
    return table, summary


def translation_neighbourhoods(vocabularies: dict[str, tuple], pairs: pd.DataFrame, *, k: int) -> pd.DataFrame:
    """H2 on pretrained models, on a bilingual dictionary (``crosslingual.data.dictionary.pairs``) restricted to the
    pairs whose English and target names are single pieces in *every* model (so the models are compared on the
    same words). Per model x target language: ``pairs``, ``precision`` (the target among the English piece's
    ``k`` nearest neighbours in the model's whole vocabulary, self excluded) and ``cross_share`` (the share of
    the target piece's ``k`` neighbours whose script differs from the target's). ``vocabularies``: model name ->
    (input embeddings, pieces)."""
    rows = {name: (piece_rows(pieces, pairs.english), piece_rows(pieces, pairs.word))
            for name, (_, pieces) in vocabularies.items()}
    keep = np.logical_and.reduce([(q.notna() & t.notna()).to_numpy() for q, t in rows.values()])
    languages = pairs.language.to_numpy()[keep]
    out = []
    for name, (emb, pieces) in vocabularies.items():
        queries, targets = (s.to_numpy()[keep].astype(np.int64) for s in rows[name])
        hits = _is_neighbour(emb, queries, targets, k)
        around = _rows_of(knn(emb, k, np.unique(targets)), np.unique(targets), targets)[:, 1:]
        labels = {i: token_category(pieces[i]) for i in {*targets.tolist(), *around.ravel().tolist()}}
        cross = np.array([[labels[j] != labels[t] for j in row] for t, row in zip(targets.tolist(), around.tolist())])
        table = pd.DataFrame({"language": languages, "hit": hits, "cross": cross.mean(1) if len(cross) else []})
        for lang, group in table.groupby("language", sort=True):
            out.append({"model": name, "language": lang, "pairs": len(group), "precision": float(group.hit.mean()),
                        "cross_share": float(group.cross.mean())})
    return pd.DataFrame(out, columns=["model", "language", "pairs", "precision", "cross_share"])


def _rows_of(neighbours: np.ndarray, unique: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The rows of ``neighbours`` (computed once per ``unique`` query) for each query of ``wanted``, in order."""
    return neighbours[np.searchsorted(unique, wanted)]


def _is_neighbour(emb, queries: np.ndarray, targets: np.ndarray, k: int) -> np.ndarray:
    """Per pair: is the target among the query's ``k`` nearest neighbours (self excluded)?"""
    unique = np.unique(queries)
    near = _rows_of(knn(emb, k, unique), unique, queries)[:, 1:]
    return (near == targets[:, None]).any(1)
