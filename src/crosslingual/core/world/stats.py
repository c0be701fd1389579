"""The dataset statistics table that every world gets (one of the paper's reviewers' main requests)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from crosslingual.core.world.generator import PARALLEL, World
from crosslingual.core.world.information import empirical_information, exact_information


def _content_tokens(world: World) -> tuple[np.ndarray, np.ndarray]:
    """Training tokens without BOS and PAD, with the language of the sequence each comes from."""
    tokens = world.train.tokens
    lang = np.broadcast_to(world.train.language[:, None], tokens.shape)
    keep = ~np.isin(tokens, world.special_ids)
    return tokens[keep], lang[keep]


def language_cue_share(world: World) -> float:
    """Share of training tokens (BOS and PAD excluded) whose id occurs in the training text of one language only.

    A data-level measure of how easy the language is to extract: 1.0 means every token gives it away.
    """
    flat, lang = _content_tokens(world)
    used = np.zeros((len(world.vocab), world.cfg.n_languages), dtype=bool)
    used[flat, lang] = True
    return float((used.sum(1)[flat] == 1).mean())


def vocabulary_overlap(world: World) -> pd.DataFrame:
    """Jaccard overlap of the token sets used by each pair of languages in training."""
    K = world.cfg.n_languages
    flat, lang = _content_tokens(world)
    sets = [set(np.unique(flat[lang == k])) for k in range(K)]
    rows = [{"language_a": world.scripts[a], "language_b": world.scripts[b],
             "jaccard": len(sets[a] & sets[b]) / max(1, len(sets[a] | sets[b]))}
            for a, b in itertools.combinations(range(K), 2)]
    return pd.DataFrame(rows)


def per_language_table(world: World) -> pd.DataFrame:
    K, R = world.cfg.n_languages, world.cfg.n_relations
    tr = world.train
    rows = []
    for k in range(K):
        m = tr.language == k
        rows.append({
            "language": f"L{k} ({world.scripts[k]})",
            "train sequences": int(m.sum()),
            "train tokens": int((~np.isin(tr.tokens[m], world.special_ids)).sum() + m.sum()),  # + BOS
            "entities seen": int(len(np.unique(tr.fact[m] // R))),
            "facts seen only here": int(((world.assignment.reshape(-1) == k)).sum()),
            "cross-lingual queries": int((~world.seen[:, k]).sum()),
            "home entities": int((world.home == k).sum()),
        })
    return pd.DataFrame(rows).set_index("language")


def summary_table(world: World) -> pd.DataFrame:
    """One row per quantity: sizes, parallel share, cue share, and exact vs empirical information."""
    cfg = world.cfg
    a = world.assignment.reshape(-1)
    exact, emp = exact_information(cfg), empirical_information(world)
    overlap = vocabulary_overlap(world)["jaccard"]
    rows = {
        "entities": cfg.n_entities, "relations": cfg.n_relations, "values per relation": cfg.n_values,
        "languages": cfg.n_languages, "facts": world.n_facts, "vocabulary size": len(world.vocab),
        "tokenizer": cfg.tokenizer if cfg.tokenizer == "word" else f"BPE ({world.n_pieces} query pieces)",
        "sequence length (tokens)": world.seq_len, "train sequences": len(world.train),
        "parallel facts (share)": float((a == PARALLEL).mean()),
        "mean vocabulary Jaccard between languages": float(overlap.mean()),
        "language-revealing token share": language_cue_share(world),
        "code-switched sequences (share)": world.code_switched_share,
        "cognate names (share of entities and relations)": float(np.concatenate(
            [world.cognate_entity, world.cognate_relation]).mean()),
        "word orders": len({tuple(o) for o in world.orders}),
    }
    table = pd.DataFrame({"value": pd.Series(rows, dtype=object)})
    for key in exact:
        table.loc[f"{key} exact (bits)", "value"] = round(exact[key], 4) + 0.0  # no "-0.0"
        table.loc[f"{key} empirical (bits)", "value"] = round(emp[key], 4)
    return table
