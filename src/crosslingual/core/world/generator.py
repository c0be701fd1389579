"""The synthetic multilingual world: a knowledge graph rendered in K languages, and its training/test splits.

A fact is ``(entity, relation) -> value``. Every language renders entities, relations, values and its function
word with its own strings in its own script, in its own word order (knobs can share the order, the function word
or the script, or make translations cognates); the value always comes last, so a query
is "prefix -> predict the value token". Sequences are fixed-length, so the whole corpus is one dense integer
array and a training batch is an index gather.

Splits (the Method page of the book, "The synthetic world"):
  * train: every parallel fact in every language + every non-parallel fact in the one language it was assigned;
  * in-language eval: trained (fact, language) pairs (the memorisation control);
  * cross-lingual eval: every non-parallel fact that is trained, in each language it was *never* seen in (the
    transfer test; a code-switched sequence never writes a test query's entity in its query language);
  * unification set: non-parallel facts rendered in all K languages (their hidden states are compared).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from crosslingual.core.config import NAME_SYLLABLES, SYLLABLE_SHARE, WorldConfig, name_capacity, syllable_inventory
from crosslingual.core.world.sizes import (
    SHARED_FUNCTION_WORD,
    framed_length,
    head_size,
    n_facts,
    n_train_languages,
    prefix_length,
    real_function_word,
    sequence_length,
    value_slots,
)
from crosslingual.core.world.subwords import split_words, train_bpe
from crosslingual.data.cldr import WORLD_ORDER, WorldData, world_data
from crosslingual.data.writing_systems import SCRIPTS

# Word orders of the three prefix slots (E = entity, R = relation, F = function word); language k uses
# ORDERS[k % 6], or ORDERS[word_orders[k]]. The value always follows the prefix.
ORDERS: tuple[tuple[int, int, int], ...] = ((0, 1, 2), (1, 2, 0), (2, 0, 1), (0, 2, 1), (1, 0, 2), (2, 1, 0))
SLOT_E, SLOT_R, SLOT_F = 0, 1, 2
PARALLEL = -1  # assignment code of a parallel fact
BOS = "<bos>"
PAD = "<pad>"


def _syllables(script: str, rng: np.random.Generator, keep: float = SYLLABLE_SHARE) -> list[str]:
    consonants, vowels = SCRIPTS[script]
    allsyl = [c + v for c in consonants for v in vowels]
    idx = rng.choice(len(allsyl), size=syllable_inventory(len(allsyl), keep), replace=False)
    return [allsyl[i] for i in sorted(idx)]


def transliterate(text: str, source: str, target: str) -> str:
    """``text`` in ``source``'s letters rewritten letter by letter in ``target``'s: a consonant (vowel) becomes the
    target's consonant (vowel) of the same index, modulo the target's inventory; within one script, the identity."""
    (c_src, v_src), (c_tgt, v_tgt) = SCRIPTS[source], SCRIPTS[target]
    return "".join(c_tgt[c_src.index(ch) % len(c_tgt)] if ch in c_src else v_tgt[v_src.index(ch) % len(v_tgt)]
                   for ch in text)


def _cognate(name: str, source: str, target: str, syllables: list[str], rng: np.random.Generator,
             used: set[str]) -> str:
    """A cognate of ``name`` in ``target``: its stem (every syllable but the last; a syllable is one consonant and
    one vowel letter) transliterated, then a last syllable of the target language's inventory, so that the
    result is new in the world (``used`` is updated)."""
    stem = transliterate(name[:-2], source, target)
    for i in rng.permutation(len(syllables)):
        if stem + syllables[i] not in used:
            used.add(stem + syllables[i])
            return stem + syllables[i]
    raise ValueError(f"no cognate of {name!r} is free in {target}: every ending of its stem is taken")


def _make_names(n: int, syllables: list[str], rng: np.random.Generator, used: set[str]) -> list[str]:
    """``n`` fresh names of ``NAME_SYLLABLES`` syllables, unique across the whole world (``used`` is updated)."""
    names: list[str] = []
    n_syl = len(syllables)
    capacity = name_capacity(n_syl)
    if n + len(used) > 0.5 * capacity:
        raise ValueError(f"syllable inventory of {n_syl} too small for {n} names")
    while len(names) < n:
        k = NAME_SYLLABLES[int(rng.random() < 0.5)]  # either length, with probability 1/2
        name = "".join(syllables[i] for i in rng.integers(0, n_syl, size=k))
        if name not in used:
            used.add(name)
            names.append(name)
    return names


@dataclass
class Split:
    """Encoded sequences with what they are about. ``tokens`` is ``[N, T]``; the answer is the last token."""

    tokens: np.ndarray
    fact: np.ndarray  # entity * R + relation
    language: np.ndarray  # language of the relation/function words (the sequence's language)
    entity_pos: np.ndarray  # index of the entity's (last) token

    def __len__(self) -> int:
        return len(self.tokens)


class World:
    """A seeded synthetic world. Everything is derived from ``cfg`` with one ``numpy.random.Generator``."""

    def __init__(self, cfg: WorldConfig):
        cfg.validate()
        self.cfg = cfg
        rng = np.random.default_rng(cfg.world_seed)
        E, R, V, K = cfg.n_entities, cfg.n_relations, value_slots(cfg), cfg.n_languages
        self.scripts = cfg.resolved_scripts
        real = world_data(K, R) if cfg.names == "cldr" else None

        # Knowledge graph: balanced home languages, values with optional language-specific preference.
        self.home = rng.permutation(np.arange(E) % K)
        if real is None:
            # The home-L subset of values is {v : v % K == L}; it has n_in_group[L] members.
            uniform = rng.integers(0, V, size=(E, R))
            n_in_group = (V - 1 - np.arange(K)) // K + 1
            pick = rng.integers(0, np.iinfo(np.int64).max, size=(E, R)) % n_in_group[self.home][:, None]
            preferred = pick * K + self.home[:, None]  # modulo bias < 1e-17: negligible
            use_pref = rng.random((E, R)) < cfg.attribute_association
            self.values = np.where(use_pref, preferred, uniform)
            self.territories: list[str] = []
        else:  # real facts of E territories drawn by the world seed
            drawn = np.sort(rng.choice(len(real.territories), E, replace=False))
            self.territories = [real.territories[i] for i in drawn]
            self.values = np.array([[real.value_index[(t, r)] for r in range(R)] for t in self.territories])

        # Which language(s) each fact is written in.
        parallel = rng.random((E, R)) < cfg.parallel_fraction
        b = cfg.language_association
        probs = np.full((K, K), (1 - b) / (K - 1))
        np.fill_diagonal(probs, b)
        cum = probs[self.home].cumsum(-1)  # [E, K]
        u = rng.random((E, R, 1))
        assigned = np.minimum((u > cum[:, None, :]).sum(-1), K - 1)
        self.flagged = parallel  # chosen by parallel_fraction: parallel, or repeated in the control
        self.repeats = cfg.n_languages if cfg.parallel_mode == "repeat" else 1
        self.assignment = np.where(parallel & (cfg.parallel_mode == "parallel"), PARALLEL, assigned)

        # Surface strings.
        self.entity_names, self.relation_names, self.value_names, self.function_words = [], [], [], []
        self.cognate_entity, self.cognate_relation = np.zeros(E, dtype=bool), np.zeros(R, dtype=bool)
        if real is None:
            used: set[str] = {SHARED_FUNCTION_WORD}
            inventories = []
            for k in range(K):
                inventories.append(syl := _syllables(self.scripts[k], rng))
                self.entity_names.append(_make_names(E, syl, rng, used))
                self.relation_names.append(_make_names(R, syl, rng, used))
                self.value_names.append(_make_names(R * V, syl, rng, used))
                self.function_words.append(SHARED_FUNCTION_WORD if cfg.shared_function_words
                                           else _make_names(1, syl, rng, used)[0])
            if cfg.cognates > 0:
                self._make_cognates(inventories, used)
        else:
            self._real_names(real, V)
        shared_e = rng.random(E) < cfg.entity_overlap
        shared_v = rng.random(R * V) < cfg.value_overlap
        for k in range(1, K):
            self.entity_names[k] = [self.entity_names[0][e] if shared_e[e] else n
                                    for e, n in enumerate(self.entity_names[k])]
            self.value_names[k] = [self.value_names[0][i] if shared_v[i] else n
                                   for i, n in enumerate(self.value_names[k])]
        self.shared_entity, self.shared_value = shared_e, shared_v
        self.markers = [f"<{s}{k}>" for k, s in enumerate(self.scripts)]
        self.orders = np.array([ORDERS[i] for i in (cfg.word_orders or np.arange(K) % len(ORDERS))])

        # Word-level vocabulary: every distinct string is one word (shared strings share an id). With the word
        # tokenizer it is the model's vocabulary; with BPE the query words are split into pieces below.
        words: list[str] = [BOS, *(self.markers if cfg.language_marker else [])]
        for k in range(K):
            words += [*self.entity_names[k], *self.relation_names[k], *self.value_names[k], self.function_words[k]]
        self.words = list(dict.fromkeys(words))
        wid = {w: i for i, w in enumerate(self.words)}
        self.ent_ids = np.array([[wid[w] for w in self.entity_names[k]] for k in range(K)])  # [K, E] word ids
        self.rel_ids = np.array([[wid[w] for w in self.relation_names[k]] for k in range(K)])  # [K, R] word ids
        self.fw_ids = np.array([wid[w] for w in self.function_words])  # word ids
        self.marker_ids = np.array([wid[m] for m in self.markers]) if cfg.language_marker else None
        self._value_words = np.array([[wid[w] for w in self.value_names[k]] for k in range(K)]).reshape(K, R, V)
        n_head = head_size(cfg)  # BOS and the markers lead the vocabulary
        if cfg.tokenizer == "word":
            self.vocab, self.pad_id, self._pieces = self.words, None, None
            self.val_ids = self._value_words  # [K, R, V] token ids of the answers
            self.n_pieces = len(self.words) - n_head - len(np.unique(self._value_words))  # query word types
        else:
            self._build_subword_vocabulary(self._value_words, n_head)
        self.special_ids = np.array([0] if self.pad_id is None else [0, self.pad_id])  # BOS (and PAD)

    def _make_cognates(self, inventories: list[list[str]], used: set[str]) -> None:
        """Replace a ``cognates`` share of the entity and relation names of languages 1.. by cognates of language
        0's. Drawn from a stream of their own, so that a world without cognates is the world it always was."""
        rng = np.random.default_rng([self.cfg.world_seed, 5])
        self.cognate_entity = rng.random(self.cfg.n_entities) < self.cfg.cognates
        self.cognate_relation = rng.random(self.cfg.n_relations) < self.cfg.cognates
        for k in range(1, self.cfg.n_languages):
            for names, flags in ((self.entity_names, self.cognate_entity),
                                 (self.relation_names, self.cognate_relation)):
                for i in np.nonzero(flags)[0]:
                    names[k][i] = _cognate(names[0][i], self.scripts[0], self.scripts[k], inventories[k], rng, used)

    def _real_names(self, real: WorldData, V: int) -> None:
        """CLDR's names in each language; the function word is the language's code ("ru:"). Value slots past a
        relation's real value set are placeholders that no fact uses."""
        R = self.cfg.n_relations
        for k, lang in enumerate(WORLD_ORDER[: self.cfg.n_languages]):
            self.entity_names.append([real.entity[(lang, t)] for t in self.territories])
            self.relation_names.append([real.relation[(lang, r)] for r in range(R)])
            self.value_names.append([real.value[(lang, r, real.values[r][v])] if v < len(real.values[r])
                                     else f"<unused {r}.{v}>" for r in range(R) for v in range(V)])
            self.function_words.append(real_function_word(self.cfg, lang))
            names = [*self.entity_names[k], *self.relation_names[k], *self.value_names[k], self.function_words[k]]
            if len(set(names)) != len(names):
                raise ValueError(f"CLDR names of language {lang!r} are not unique across entities, relations and "
                                 "values; the world cannot tell them apart")

    def _build_subword_vocabulary(self, value_words: np.ndarray, n_head: int) -> None:
        """Model vocabulary ``[BOS, markers, PAD, pieces, values]`` and the table ``_pieces[word id] -> token
        ids`` (-1 padded) that ``encode`` uses. BOS and the markers (the first ``n_head`` words) keep their ids."""
        is_value = np.zeros(len(self.words), dtype=bool)
        is_value[value_words.reshape(-1)] = True
        query = [i for i in range(n_head, len(self.words)) if not is_value[i]]
        train_words = self._train_words.tokens[:, self.prefix_len:-1]
        tok = train_bpe((" ".join(self.words[i] for i in row) for row in train_words), self.cfg.bpe_vocab_size,
                        alphabet={c for i in query for c in self.words[i]})
        pieces = split_words(tok, [self.words[i] for i in query])
        piece_names = list(dict.fromkeys(p for ps in pieces for p in ps))
        values = list(dict.fromkeys(value_words.reshape(-1).tolist()))
        self.pad_id = n_head
        self.vocab = [*self.words[:n_head], PAD, *piece_names, *(self.words[i] for i in values)]
        piece_id = {p: n_head + 1 + i for i, p in enumerate(piece_names)}
        value_id = {w: n_head + 1 + len(piece_names) + i for i, w in enumerate(values)}
        table = np.full((len(self.words), max(map(len, pieces))), -1)
        table[:n_head, 0] = np.arange(n_head)
        for i, ps in zip(query, pieces):
            table[i, :len(ps)] = [piece_id[p] for p in ps]
        for w, t in value_id.items():
            table[w, 0] = t
        self._pieces = table
        self.n_pieces = len(piece_names)  # query token types
        self.val_ids = np.vectorize(value_id.__getitem__)(value_words)
        n = (table >= 0).sum(1)
        self._max_pieces = [int(n[ids].max()) for ids in (self.ent_ids, self.rel_ids, self.fw_ids)]

    def word_tokens(self, word_ids: np.ndarray) -> np.ndarray:
        """The model tokens of each word, ``[n, P]`` padded with -1: the word itself at word level, its pieces
        with subwords. Word-level measures (H2-redesign's pooled word vectors) read a name through them."""
        word_ids = np.asarray(word_ids, dtype=np.int64).reshape(-1)
        if word_ids.size and not (0 <= word_ids.min() and word_ids.max() < len(self.words)):
            raise ValueError(f"word ids must be in [0, {len(self.words)}): got {word_ids.min()}..{word_ids.max()}")
        return word_ids[:, None] if self._pieces is None else self._pieces[word_ids]

    # ------------------------------------------------------------------ encoding
    @property
    def prefix_len(self) -> int:
        """Tokens before the slots: BOS and, if enabled, the language marker."""
        return prefix_length(self.cfg)

    @property
    def seq_len(self) -> int:
        """Fixed sequence length. Subword sequences are left-padded to the longest possible query, so the
        answer is always the last token and the last query token always the one before it. The word level's is
        the config's alone (``sizes.sequence_length``); the subword one's depends on the trained pieces."""
        return sequence_length(self.cfg) if self._pieces is None else framed_length(self.cfg, sum(self._max_pieces))

    def _word_slot(self, language: np.ndarray) -> np.ndarray:
        """Index of the entity *word* in a word-level sequence of the given language(s)."""
        return self.prefix_len + np.argmax(self.orders[np.asarray(language)] == SLOT_E, axis=-1)

    def encode_words(self, fact: np.ndarray, language: np.ndarray,
                     entity_language: np.ndarray | None = None) -> Split:
        """Render facts in languages as word ids ``[N, framed_length(cfg, QUERY_WORDS)]`` (vectorised; no
        per-example Python)."""
        fact, language = np.asarray(fact), np.asarray(language)
        ent_lang = language if entity_language is None else np.asarray(entity_language)
        R = self.cfg.n_relations
        e, r = fact // R, fact % R
        slots = np.stack([self.ent_ids[ent_lang, e], self.rel_ids[language, r], self.fw_ids[language]], axis=1)
        order = self.orders[language]
        cols = [np.zeros(len(fact), dtype=np.int64)]  # BOS is word 0
        if self.cfg.language_marker:
            cols.append(self.marker_ids[language])
        words = np.concatenate([np.stack(cols, 1), np.take_along_axis(slots, order, axis=1),
                                self._value_words[language, r, self.values[e, r]][:, None]], axis=1)
        return Split(tokens=words.astype(np.int64), fact=fact, language=language,
                     entity_pos=self._word_slot(language))

    def encode(self, fact: np.ndarray, language: np.ndarray, entity_language: np.ndarray | None = None) -> Split:
        """Render facts in languages as model tokens ``[N, seq_len]``; ``entity_pos`` is the entity's (last)
        token. Subword sequences are pieces left-justified behind PAD tokens (one gather and one stable sort)."""
        split = self.encode_words(fact, language, entity_language)
        if self._pieces is None:
            return split
        pieces = self._pieces[split.tokens]  # [N, W, P]
        n_pieces = (pieces >= 0).sum(-1)  # [N, W]
        flat = pieces.reshape(len(pieces), -1)
        order = np.argsort(flat >= 0, axis=1, kind="stable")  # absent pieces first, the rest in order
        tokens = np.take_along_axis(flat, order, axis=1)[:, -self.seq_len:]
        tokens = np.where(tokens < 0, self.pad_id, tokens)
        after_entity = np.where(np.arange(n_pieces.shape[1]) > split.entity_pos[:, None], n_pieces, 0).sum(1)
        return Split(tokens=tokens, fact=split.fact, language=split.language,
                     entity_pos=self.seq_len - 1 - after_entity)

    # ------------------------------------------------------------------ splits
    @property
    def n_train_languages(self) -> int:
        """Languages that occur in the training corpus: the first ``n_languages - held_out_languages``."""
        return n_train_languages(self.cfg)

    @cached_property
    def design_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(fact, language) of every sequence of the design, held-out languages included, in a fixed order."""
        K = self.cfg.n_languages
        a = self.assignment.reshape(-1)
        seen = (a[:, None] == PARALLEL) | (a[:, None] == np.arange(K)[None, :])  # [F, K]
        fact, lang = np.nonzero(seen)
        if self.repeats > 1:  # the control: flagged facts K times, in their own language
            copies = np.where(self.flagged.reshape(-1)[fact], self.repeats, 1)
            fact, lang = np.repeat(fact, copies), np.repeat(lang, copies)
        return fact, lang

    @cached_property
    def train_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(fact, language) of every training sequence: the design without its held-out languages."""
        fact, lang = self.design_pairs
        keep = lang < self.n_train_languages
        return fact[keep], lang[keep]

    @cached_property
    def seen(self) -> np.ndarray:
        """``[F, K]`` boolean: fact f is trained in language k."""
        fact, lang = self.train_pairs
        s = np.zeros((self.n_facts, self.cfg.n_languages), dtype=bool)
        s[fact, lang] = True
        return s

    @property
    def n_facts(self) -> int:
        return n_facts(self.cfg)

    @cached_property
    def _entity_languages(self) -> np.ndarray:
        """Language of each training sequence's entity name: its own, or another one when code-switched.

        A switch may only write the entity in a language in which the fact is *not* a cross-lingual test query
        (the fact is trained there too, or it is never tested): otherwise the sequence would put the test query's
        entity name next to its answer. With two languages only parallel facts can switch, so the realised share
        of switched sequences is below ``code_switching``; the dataset table reports it."""
        fact, lang = self.train_pairs
        K = self.n_train_languages  # a held-out language's names never leak into training by a switch
        rng = np.random.default_rng([self.cfg.world_seed, 1])
        switch = rng.random(len(fact)) < self.cfg.code_switching
        target = (lang + rng.integers(1, K, size=len(fact))) % K if K > 1 else lang
        return np.where(switch & ~self.tested[fact, target], target, lang)

    @property
    def code_switched_share(self) -> float:
        """The realised share of training sequences whose entity is written in another language."""
        fact, lang = self.train_pairs
        return float((self._entity_languages != lang).mean()) if len(lang) else 0.0

    @cached_property
    def _train_words(self) -> Split:
        return self.encode_words(*self.train_pairs, entity_language=self._entity_languages)

    @cached_property
    def train(self) -> Split:
        return self.encode(*self.train_pairs, entity_language=self._entity_languages)

    def _subsample(self, n_total: int, n: int, stream: int) -> np.ndarray:
        rng = np.random.default_rng([self.cfg.world_seed, stream])
        idx = np.arange(n_total) if n_total <= n else rng.choice(n_total, size=n, replace=False)
        return np.sort(idx)

    def eval_in_language(self, n: int) -> Split:
        fact, lang = self.train_pairs
        idx = self._subsample(len(fact), n, stream=2)
        return self.encode(fact[idx], lang[idx])

    @cached_property
    def tested(self) -> np.ndarray:
        """``[F, K]`` boolean: (fact, language) is a cross-lingual test query. The fact is trained in some
        language but not in this one, and was not chosen by ``parallel_fraction`` (so the parallel design and its
        repeat control test the same facts). A fact assigned only to a held-out language is never trained and so
        never tested: no language could transfer it."""
        trained = self.seen.any(1, keepdims=True)
        return ~self.seen & ~self.flagged.reshape(-1, 1) & trained

    def eval_cross_lingual(self, n: int) -> Split:
        """A subsample of the cross-lingual test queries (``tested``)."""
        fact, lang = np.nonzero(self.tested)
        idx = self._subsample(len(fact), n, stream=3)
        return self.encode(fact[idx], lang[idx])

    def unification_facts(self, n: int) -> np.ndarray:
        """Non-parallel facts (the ones whose transfer is tested), rendered later in every language."""
        nonpar = np.nonzero(~self.flagged.reshape(-1))[0]
        return nonpar[self._subsample(len(nonpar), n, stream=4)]

    def entity_seen_in(self, fact: np.ndarray, language: np.ndarray) -> np.ndarray:
        """Whether the fact's entity occurs in some training sequence of ``language`` (any relation)."""
        R = self.cfg.n_relations
        ent_seen = self.seen.reshape(self.cfg.n_entities, R, -1).any(axis=1)  # [E, K]
        return ent_seen[np.asarray(fact) // R, np.asarray(language)]

    def decode(self, tokens: np.ndarray) -> str:
        return " ".join(self.vocab[t] for t in np.asarray(tokens))
