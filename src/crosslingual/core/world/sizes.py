"""The synthetic world's sizes from its config alone, computed once for the generator and for the memory guard.

``world.generator.World`` lays its sequences and vocabulary out with these functions, and ``store.memory`` asks
the same functions before anything is allocated (a grid's every run, in microseconds), so the guard and the
world cannot disagree about a size. Nothing here builds a world, draws a name or trains a BPE model. Where a
size depends on what the generator draws (names shared by the overlaps, a BPE model's pieces, the number of
parallel facts), the function gives an upper bound and says so; ``tests/unit/test_world.py`` checks every
function against built worlds.
"""

from __future__ import annotations

import math

from crosslingual.core.config import NAME_SYLLABLES, WorldConfig
from crosslingual.data.cldr import WORLD_ORDER, world_data
from crosslingual.data.writing_systems import SCRIPTS

SHARED_FUNCTION_WORD = "ist"
QUERY_WORDS = 3  # entity, relation and function word, in the language's order; the value follows them
# Binomial tail kept when bounding the number of parallel facts (a draw of F Bernoulli(p)): 6 standard deviations.
TAIL_SIGMAS = 6


def prefix_length(cfg: WorldConfig) -> int:
    """Tokens before a query: BOS and, if enabled, the language marker."""
    return 2 if cfg.language_marker else 1


def head_size(cfg: WorldConfig) -> int:
    """Ids that lead the vocabulary, whatever the tokenizer: BOS and, if enabled, one marker per language."""
    return 1 + (cfg.n_languages if cfg.language_marker else 0)


def framed_length(cfg: WorldConfig, query_tokens: int) -> int:
    """Tokens of a sequence whose query takes ``query_tokens``: the prefix before it and the answer after it (a
    value is always one token). With one token a word (``QUERY_WORDS``), the width of ``World.encode_words``."""
    return prefix_length(cfg) + query_tokens + 1


def sequence_length(cfg: WorldConfig) -> int:
    """``World(cfg).seq_len``: exact for ``tokenizer="word"`` (one token a query word), an upper bound for
    ``"bpe"`` (every query word at its longest possible piece count, ``longest_words``)."""
    return framed_length(cfg, QUERY_WORDS if cfg.tokenizer == "word" else sum(longest_words(cfg)))


def n_facts(cfg: WorldConfig) -> int:
    """Facts of the knowledge graph: one per (entity, relation)."""
    return cfg.n_entities * cfg.n_relations


def n_train_languages(cfg: WorldConfig) -> int:
    """Languages that occur in the training corpus: the first ``n_languages - held_out_languages``."""
    return cfg.n_languages - cfg.held_out_languages


def value_slots(cfg: WorldConfig) -> int:
    """Values per relation: ``n_values``, or the largest real value set of a CLDR world (slots past a smaller
    relation's set are placeholders that no fact uses)."""
    if cfg.names == "cldr":
        return max(map(len, world_data(cfg.n_languages, cfg.n_relations).values))
    return cfg.n_values


def names_per_language(cfg: WorldConfig) -> int:
    """Strings each language writes down before repeats are merged: its entity and relation names, one name per
    value slot of every relation, and its function word."""
    return cfg.n_entities + cfg.n_relations + cfg.n_relations * value_slots(cfg) + 1


def real_function_word(cfg: WorldConfig, language: str) -> str:
    """A CLDR world's function word in ``language``: the shared one, or the language's code ("ru:")."""
    return SHARED_FUNCTION_WORD if cfg.shared_function_words else f"{language}:"


def _cldr_query_words(cfg: WorldConfig) -> tuple[list[str], list[str], list[str]]:
    """Every entity name, relation word and function word a CLDR world with these languages can use."""
    real = world_data(cfg.n_languages, cfg.n_relations)
    function = [real_function_word(cfg, lang) for lang in WORLD_ORDER[: cfg.n_languages]]
    return list(real.entity.values()), list(real.relation.values()), function


def longest_words(cfg: WorldConfig) -> tuple[int, int, int]:
    """Characters of the longest possible entity, relation and function word: a bound of their BPE pieces,
    since a piece is at least one character (and a character the tokenizer never saw is dropped, not split)."""
    if cfg.names == "cldr":
        return tuple(max(map(len, words)) for words in _cldr_query_words(cfg))
    name = max(NAME_SYLLABLES) * max(max(map(len, c)) + max(map(len, v))
                                     for c, v in (SCRIPTS[s] for s in cfg.resolved_scripts))
    return name, name, len(SHARED_FUNCTION_WORD) if cfg.shared_function_words else name


def alphabet_size(cfg: WorldConfig) -> int:
    """Distinct characters the query words can contain: the base vocabulary of a BPE model trained on them."""
    if cfg.names == "cldr":
        return len({ch for words in _cldr_query_words(cfg) for word in words for ch in word})
    letters = {ch for s in cfg.resolved_scripts for group in SCRIPTS[s] for letter in group for ch in letter}
    return len(letters | (set(SHARED_FUNCTION_WORD) if cfg.shared_function_words else set()))


def _copies(overlap: float, n_languages: int) -> int:
    """Distinct strings per name slot across languages: one when every name is shared (the generator draws
    ``random() < overlap``, always true at 1), else at most one per language (exact at overlap 0)."""
    return 1 if overlap >= 1 else n_languages


def query_words(cfg: WorldConfig) -> int:
    """An upper bound of the distinct query words (entity, relation and function words of every language); exact
    for synthetic worlds whose entity overlap is 0 or 1 (generated names are unique in the whole world)."""
    K = cfg.n_languages
    function_words = 1 if cfg.shared_function_words else K
    return cfg.n_entities * _copies(cfg.entity_overlap, K) + K * cfg.n_relations + function_words


def value_words(cfg: WorldConfig) -> int:
    """An upper bound of the distinct answer tokens (one per value name); exact for synthetic worlds whose value
    overlap is 0 or 1."""
    return cfg.n_relations * value_slots(cfg) * _copies(cfg.value_overlap, cfg.n_languages)


def vocabulary_size(cfg: WorldConfig) -> int:
    """An upper bound of ``len(World(cfg).vocab)``; exact for synthetic word-level worlds whose overlaps are 0
    or 1 (only the overlaps and the shared function word repeat a string)."""
    if cfg.tokenizer == "word":
        return head_size(cfg) + query_words(cfg) + value_words(cfg)
    # [BOS, markers, PAD, pieces, values]. The pieces are the BPE model's (its alphabet is never cut, so at least
    # that many), and the query words use at most their letters plus one multi-letter piece per two letters each
    alphabet = alphabet_size(cfg)
    pieces = min(max(cfg.bpe_vocab_size, alphabet), alphabet + query_words(cfg) * (max(longest_words(cfg)) // 2))
    return head_size(cfg) + 1 + pieces + value_words(cfg)


def training_sequences(cfg: WorldConfig) -> int:
    """An upper bound of ``len(World(cfg).train)``: every fact once, and the parallel ones (or the repeated
    ones of the control) once more in every other training language (the control: K - 1 more times in their
    own, which may be held out). Their number is a Binomial(F, parallel_fraction) draw, bounded at
    ``TAIL_SIGMAS`` standard deviations above its mean."""
    F, p = n_facts(cfg), cfg.parallel_fraction
    flagged = min(F, math.ceil(F * p + TAIL_SIGMAS * math.sqrt(F * p * (1 - p))) + 1)
    copies = cfg.n_languages if cfg.parallel_mode == "repeat" else n_train_languages(cfg)
    return F + (copies - 1) * flagged
