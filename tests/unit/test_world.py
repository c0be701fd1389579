import itertools
import math
from collections import Counter

import numpy as np
import pytest

from crosslingual.core.config import make_config
from crosslingual.core.world import PARALLEL, World, empirical_information, exact_information, sizes, summary_table
from crosslingual.core.world.generator import BOS
from crosslingual.data.writing_systems import SCRIPTS


def world(**kw):
    return World(make_config("smoke", **kw).world)


LEAK_WORLDS = [dict(), dict(n_languages=3, code_switching=0.5, language_marker=True),
               dict(code_switching=1.0), dict(n_languages=3, code_switching=1.0, parallel_fraction=0.2),
               dict(parallel_fraction=0.0, language_association=1.0),
               dict(n_languages=4, held_out_languages=1, parallel_fraction=0.3, code_switching=0.5),
               dict(tokenizer="bpe", bpe_vocab_size=30, scripts=("latin", "latin"), code_switching=0.5),
               dict(tokenizer="bpe", bpe_vocab_size=30, scripts=("latin", "latin"), word_orders=(0, 0),
                    shared_function_words=True, cognates=1.0, code_switching=0.5)]


@pytest.mark.parametrize("kw", LEAK_WORLDS)
def test_no_cross_lingual_query_appears_in_training(kw):
    w = world(**kw)
    train_prefixes = {tuple(t[:-1]) for t in w.train.tokens}
    train_pairs = set(zip(*w.train_pairs))
    xl = w.eval_cross_lingual(10**9)
    assert len(xl) == int(w.tested.sum()) > 0
    for tokens, f, k in zip(xl.tokens, xl.fact, xl.language):
        assert tuple(tokens[:-1]) not in train_prefixes
        assert (f, k) not in train_pairs


@pytest.mark.parametrize("kw", LEAK_WORLDS)
def test_no_training_sequence_writes_a_test_querys_entity_next_to_its_answer(kw):
    """The near-seen association: a code-switched sequence of fact f whose entity is written in language l puts
    the cross-lingual query (f, l)'s entity name beside f's answer. No sequence may do that."""
    w = world(**kw)
    fact, _ = w.train_pairs
    entity_language = w._entity_languages
    associations = set(zip(fact.tolist(), entity_language.tolist()))
    tested = set(zip(*np.nonzero(w.tested)))
    assert not associations & {(int(f), int(k)) for f, k in tested}
    # and, read back from the tokens: the entity token in each sequence is the name in ``entity_language``
    if w.cfg.tokenizer == "word":
        R = w.cfg.n_relations
        names = [[w.vocab.index(n) for n in w.entity_names[k]] for k in range(w.cfg.n_languages)]
        ent_tok = w.train.tokens[np.arange(len(fact)), w.train.entity_pos]
        expected = np.array([names[k][f // R] for f, k in zip(fact, entity_language)])
        np.testing.assert_array_equal(ent_tok, expected)


def test_code_switching_still_switches_where_it_cannot_leak():
    w = world(code_switching=1.0, parallel_fraction=0.5)
    assert 0.3 < w.code_switched_share < 1.0  # parallel facts switch; two-language test facts cannot
    assert summary_table(w).loc["code-switched sequences (share)", "value"] == w.code_switched_share
    assert world(code_switching=0.0).code_switched_share == 0.0


def test_facts_never_trained_are_never_tested():
    """A non-parallel fact assigned to a held-out language is in no training sequence: no language could
    transfer it, so it is not a cross-lingual query."""
    w = world(n_languages=4, held_out_languages=1, parallel_fraction=0.3, language_association=0.5)
    untrained = ~w.seen.any(1)
    assert untrained.any()
    assert not w.tested[untrained].any()
    xl = w.eval_cross_lingual(10**9)
    assert w.seen[xl.fact].any(1).all()


def test_splits_follow_the_assignment():
    w = world(parallel_fraction=0.4, n_languages=3)
    a = w.assignment.reshape(-1)
    counts = Counter(w.train_pairs[0].tolist())
    for f in range(w.n_facts):
        assert counts[f] == (3 if a[f] == PARALLEL else 1)
    # every unification fact is non-parallel, so it is a cross-lingual test fact in K-1 languages
    assert (a[w.unification_facts(1000)] != PARALLEL).all()


def test_seeds_reproduce_the_corpus_exactly():
    a, b = world(world_seed=3), world(world_seed=3)
    assert a.vocab == b.vocab
    np.testing.assert_array_equal(a.train.tokens, b.train.tokens)
    np.testing.assert_array_equal(a.eval_cross_lingual(50).tokens, b.eval_cross_lingual(50).tokens)
    c = world(world_seed=4)
    assert c.vocab != a.vocab or not np.array_equal(c.train.tokens, a.train.tokens)


def test_each_language_writes_in_its_own_script():
    w = world(n_languages=4, entity_overlap=0.0, value_overlap=0.0)
    for k, script in enumerate(w.scripts):
        letters = set("".join(sum(SCRIPTS[script], [])))
        for name in w.entity_names[k] + w.relation_names[k] + w.value_names[k]:
            assert set(name) <= letters, (script, name)
    assert len(set(w.scripts)) == 4


def test_overlap_knobs():
    shared = world(entity_overlap=1.0, value_overlap=1.0)
    assert shared.entity_names[0] == shared.entity_names[1] and shared.value_names[0] == shared.value_names[1]
    apart = world(entity_overlap=0.0, value_overlap=0.0, shared_function_words=False)
    assert not set(apart.entity_names[0] + apart.value_names[0]) & set(apart.entity_names[1] + apart.value_names[1])
    assert apart.function_words[0] != apart.function_words[1]
    assert len(set(world(shared_function_words=True).function_words)) == 1


def test_sequence_layout_marker_entity_and_value():
    w = world(language_marker=True, n_languages=3)
    tr = w.train
    R = w.cfg.n_relations
    e, r = tr.fact // R, tr.fact % R
    np.testing.assert_array_equal(tr.tokens[:, 1], w.marker_ids[tr.language])
    np.testing.assert_array_equal(tr.tokens[np.arange(len(tr)), tr.entity_pos], w.ent_ids[tr.language, e])
    np.testing.assert_array_equal(tr.tokens[:, -1], w.val_ids[tr.language, r, w.values[e, r]])
    assert tr.tokens.shape[1] == w.seq_len == 6


def test_full_attribute_association_draws_values_from_the_home_subset():
    w = world(attribute_association=1.0, n_values=8)
    assert ((w.values % w.cfg.n_languages) == w.home[:, None]).all()


def test_parallel_fraction_and_association_shares():
    w = World(make_config("default", parallel_fraction=0.3, language_association=0.9, n_entities=2000).world)
    a = w.assignment.reshape(-1)
    assert abs((a == PARALLEL).mean() - 0.3) < 0.02
    home = np.repeat(w.home, w.cfg.n_relations)
    assert abs((a[a != PARALLEL] == home[a != PARALLEL]).mean() - 0.9) < 0.02


def _mi_by_definition(joint: dict) -> float:
    total = sum(joint.values())
    px, py = Counter(), Counter()
    for (x, y), v in joint.items():
        px[x] += v / total
        py[y] += v / total
    return sum(v / total * math.log2((v / total) / (px[x] * py[y])) for (x, y), v in joint.items() if v > 0)


def _brute_force_exact(cfg):
    """Enumerate the generating process: home h, fact type (parallel or written in l), value v."""
    K, p, b, lam, V = (cfg.n_languages, cfg.parallel_fraction, cfg.language_association,
                       cfg.attribute_association, cfg.n_values)
    q = lambda lang, h: b if lang == h else (1 - b) / (K - 1)  # noqa: E731
    fact, entity, value = Counter(), Counter(), Counter()
    for h in range(K):
        group = [v for v in range(V) if v % K == h]
        p_value = {v: lam * (v in group) / len(group) + (1 - lam) / V for v in range(V)}
        if cfg.parallel_mode == "parallel":
            types = [("parallel", p, list(range(K)))]
        else:  # the control: the chosen facts are written K times in one language
            types = [(f"rep{lang}", p * q(lang, h), [lang] * K) for lang in range(K)]
        types += [(f"in{lang}", (1 - p) * q(lang, h), [lang]) for lang in range(K)]
        for name, w, languages in types:
            for lang in languages:  # one sequence per language the fact is written in (or per repeat)
                if lang >= K - cfg.held_out_languages:
                    continue  # a held-out language has no training sequences
                fact[((h, name), lang)] += w / K
                entity[(h, lang)] += w / K
                for v in range(V):
                    value[(v, lang)] += w / K * p_value[v]
    return {"I(fact;L)": _mi_by_definition(fact), "I(entity;L)": _mi_by_definition(entity),
            "I(value;L)": _mi_by_definition(value)}


@pytest.mark.parametrize("kw", [dict(), dict(parallel_fraction=0.0, language_association=1.0),
                                dict(n_languages=3, parallel_fraction=0.5, language_association=0.8,
                                     attribute_association=0.7, n_values=7),
                                dict(parallel_fraction=0.9, attribute_association=1.0),
                                dict(parallel_fraction=0.5, parallel_mode="repeat", language_association=0.8,
                                     attribute_association=0.5),
                                dict(n_languages=4, held_out_languages=1, parallel_fraction=0.4,
                                     language_association=0.7, attribute_association=0.5),
                                dict(n_languages=3, held_out_languages=1, parallel_fraction=0.0)])
def test_exact_information_matches_brute_force_enumeration(kw):
    cfg = make_config("smoke", **kw).world
    exact, brute = exact_information(cfg), _brute_force_exact(cfg)
    for key in exact:
        assert exact[key] == pytest.approx(brute[key], abs=1e-12), key


def test_exact_information_closed_forms():
    cfg = make_config("smoke", parallel_fraction=0.0, language_association=1.0, attribute_association=1.0,
                      n_values=8).world
    ex = exact_information(cfg)
    assert ex["I(fact;L)"] == pytest.approx(1.0) and ex["I(entity;L)"] == pytest.approx(1.0)
    assert ex["I(value;L)"] == pytest.approx(1.0)  # the value's subset names the language
    p = 0.4
    ex = exact_information(make_config("smoke", parallel_fraction=p).world)
    assert ex["I(fact;L)"] == pytest.approx((1 - p) / (2 * p + 1 - p))


def test_empirical_information_is_the_plug_in_estimate_of_the_corpus():
    w = world(parallel_fraction=0.3, language_association=0.8, attribute_association=0.5)
    fact, lang = w.train_pairs
    R, V = w.cfg.n_relations, w.cfg.n_values
    val = w.values.reshape(-1)
    joints = {"I(fact;L)": Counter(zip(fact.tolist(), lang.tolist())),
              "I(entity;L)": Counter(zip((fact // R).tolist(), lang.tolist())),
              "I(value;L)": Counter(zip(((fact % R) * V + val[fact]).tolist(), lang.tolist()))}
    emp = empirical_information(w)
    for key, joint in joints.items():
        assert emp[key] == pytest.approx(_mi_by_definition(joint), abs=1e-9)


@pytest.mark.parametrize("kw", [dict(), dict(n_languages=3, held_out_languages=1)])
def test_empirical_information_converges_to_exact_in_a_large_world(kw):
    cfg = make_config("smoke", n_entities=400, n_relations=300, n_values=4, parallel_fraction=0.3,
                      language_association=0.8, attribute_association=0.6, **kw).world
    exact, emp = exact_information(cfg), empirical_information(World(cfg))
    for key in exact:
        assert emp[key] == pytest.approx(exact[key], abs=0.02), key


def test_statistics_table_has_the_promised_rows():
    table = summary_table(world())
    for row in ["facts", "train sequences", "parallel facts (share)", "language-revealing token share",
                "I(fact;L) exact (bits)", "I(value;L) empirical (bits)", "mean vocabulary Jaccard between languages"]:
        assert row in table.index
    cue = summary_table(world(**CUE_WORLD, cognates=1.0))["value"]
    assert cue["word orders"] == 1 and summary_table(world(n_languages=3))["value"]["word orders"] == 3
    assert cue["cognate names (share of entities and relations)"] == 1.0


def test_all_word_orders_are_distinct():
    from crosslingual.core.world.generator import ORDERS

    assert len(set(ORDERS)) == len(ORDERS) == len(list(itertools.permutations(range(3))))


def test_world_fingerprint_is_pinned_to_the_result_format_version():
    """Stored runs are reused by config hash, and analyses rebuild the world from the config. If this fails,
    the generator changed what a config produces: bump RESULT_FORMAT_VERSION (so old runs are not reused with
    a different world) and update the pinned fingerprint."""
    import hashlib

    from crosslingual.core.config import RESULT_FORMAT_VERSION

    w = World(make_config("default", language_marker=True, attribute_association=0.5, entity_overlap=0.3,
                          value_overlap=0.7, code_switching=0.2).world)
    digest = hashlib.sha256(w.train.tokens.tobytes() + "|".join(w.vocab).encode()).hexdigest()[:16]
    assert (RESULT_FORMAT_VERSION, digest) == (7, "33beca67c7040bb8")


def test_the_repeat_control_matches_exposure_but_keeps_each_fact_in_one_language():
    par, rep = world(parallel_fraction=0.5), world(parallel_fraction=0.5, parallel_mode="repeat")
    assert len(rep.train) == len(par.train)  # the same number of extra sequences
    assert (rep.seen.sum(1) == 1).all()  # ... but every fact in one language only
    np.testing.assert_array_equal(rep.flagged, par.flagged)
    np.testing.assert_array_equal(rep.eval_cross_lingual(10**9).tokens, par.eval_cross_lingual(10**9).tokens)
    np.testing.assert_array_equal(rep.unification_facts(100), par.unification_facts(100))
    counts = Counter(rep.train_pairs[0].tolist())
    flagged = rep.flagged.reshape(-1)
    assert all(counts[f] == (2 if flagged[f] else 1) for f in range(rep.n_facts))
    zero = exact_information(make_config("smoke", parallel_fraction=0.0).world)
    assert exact_information(rep.cfg) == pytest.approx(zero)


@pytest.mark.parametrize("kw", [dict(bpe_vocab_size=24), dict(bpe_vocab_size=60, scripts=("latin", "latin")),
                                dict(bpe_vocab_size=10**5, language_marker=True, code_switching=0.5)])
def test_subword_sequences_spell_the_same_words_left_padded(kw):
    w, words = world(tokenizer="bpe", **kw), world(**kw)
    tr, wtr = w.train, words.train
    assert tr.tokens.shape == (len(wtr), w.seq_len)
    np.testing.assert_array_equal(tr.fact, wtr.fact)
    for row, wrow, pos, wpos in zip(tr.tokens[:50], wtr.tokens[:50], tr.entity_pos[:50], wtr.entity_pos[:50]):
        real = row[row != w.pad_id]
        assert (row[: len(row) - len(real)] == w.pad_id).all() and real[0] == 0  # PADs, then BOS
        assert w.vocab[real[-1]] == words.vocab[wrow[-1]]  # the answer is the same whole word
        text = "".join(w.vocab[t] for t in real[w.prefix_len:-1])
        assert text == "".join(words.vocab[t] for t in wrow[words.prefix_len:-1])
        entity = words.vocab[wrow[wpos]]  # the entity's last piece ends the entity word
        pad = len(row) - len(real)
        assert text.index(entity) + len(entity) == len("".join(w.vocab[t] for t in real[w.prefix_len:pos - pad + 1]))


def test_bpe_never_drops_a_character_it_did_not_see_in_training():
    from crosslingual.core.world.subwords import split_words, train_bpe

    lines = ["quador cuador", "ador"] * 20  # no capital E in the training text
    with pytest.raises(ValueError, match="do not spell"):
        split_words(train_bpe(lines, 40), ["Ecuador"])
    pieces = split_words(train_bpe(lines, 40, alphabet="Ecuador"), ["Ecuador"])[0]
    assert "".join(pieces) == "Ecuador" and pieces[0].startswith("E")


def _shipped_subword_worlds():
    from crosslingual.store.grids import Grid, studies

    configs = {}
    for name in studies():
        for profile in ("smoke", "default"):
            for *_, cfg in Grid.load(name).expand(profile, 1, 0):
                if cfg.world.tokenizer == "bpe":
                    configs[repr(cfg.world)] = cfg.world
    return list(configs.values())


@pytest.mark.parametrize("cfg", _shipped_subword_worlds(), ids=lambda c: f"{c.names}-{c.scripts}-{c.bpe_vocab_size}")
def test_every_query_of_every_shipped_subword_world_spells_its_words(cfg):
    """Building the world checks that every query word's pieces spell it (``split_words``); here we also decode
    whole queries, in every language, train and test, against the words they encode."""
    if cfg.names == "cldr":
        pytest.importorskip("babel")
    w = World(cfg)
    for split in (w.eval_in_language(10**9), w.eval_cross_lingual(10**9)):
        words = w.encode_words(split.fact, split.language)
        for pieces, word_row in zip(split.tokens[:, :-1], words.tokens[:, :-1]):
            text = "".join(w.vocab[t] for t in pieces if t != w.pad_id)
            assert text == "".join("".join(w.words[i].split()) for i in word_row if w.words[i] != "<pad>")


def test_subword_vocabulary_size_and_sharing_follow_the_script():
    small, large = world(tokenizer="bpe", bpe_vocab_size=40), world(tokenizer="bpe", bpe_vocab_size=10**5)
    assert small.n_pieces < large.n_pieces and small.seq_len > large.seq_len == 5
    same = world(tokenizer="bpe", bpe_vocab_size=40, scripts=("latin", "latin"))
    def pieces(w, k):
        return set(np.unique(w.train.tokens[w.train.language == k, :-1])) - set(w.special_ids)
    assert not pieces(small, 0) & pieces(small, 1)  # different scripts share no piece
    assert len(pieces(same, 0) & pieces(same, 1)) > 5


def test_bpe_training_is_identical_across_processes():
    import subprocess
    import sys

    code = ("from crosslingual.core.config import make_config; from crosslingual.core.world import World; "
            "import hashlib;"
            "w = World(make_config('smoke', tokenizer='bpe', bpe_vocab_size=50, scripts=('latin','latin')).world);"
            "print(hashlib.sha256(w.train.tokens.tobytes() + '|'.join(w.vocab).encode()).hexdigest())")
    out = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
           for _ in range(2)}
    assert len(out) == 1


def test_held_out_languages_exist_in_the_design_but_never_in_training():
    full = world(n_languages=3)
    held = world(n_languages=3, held_out_languages=1, code_switching=0.5)
    assert held.vocab == full.vocab  # the new language's words are in the vocabulary from the start
    fact, lang = held.train_pairs
    assert lang.max() == 1 and not held.seen[:, 2].any()
    design_fact, design_lang = held.design_pairs
    assert (design_lang == 2).sum() > 0
    third = set(full.entity_names[2]) | set(full.relation_names[2]) | {full.function_words[2]}
    assert not third & {held.words[w] for w in np.unique(held._train_words.tokens)}  # no leak by code-switching
    np.testing.assert_array_equal(design_fact[design_lang < 2], fact)


def test_a_cldr_world_writes_real_facts_with_real_names():
    pytest.importorskip("babel")
    from crosslingual.data.cldr import facts

    w = world(names="cldr", n_relations=2, n_entities=30, n_languages=2, value_overlap=0.0)
    assert w.scripts == ("latin", "cyrillic") and len(w.territories) == 30
    real = facts().set_index(["territory", "relation", "language"])
    for e in (0, 7, 29):
        t = w.territories[e]
        assert w.entity_names[1][e] == real.loc[(t, "currency", "ru"), "entity_name"]
        v = w.values[e, 0]
        assert w.value_names[1][v] == real.loc[(t, "currency", "ru"), "value_name"]  # relation 0, value v
    assert w.relation_names[0] == ["Currency", "Official language"]
    again = world(names="cldr", n_relations=2, n_entities=30, n_languages=2, value_overlap=0.0)
    np.testing.assert_array_equal(again.train.tokens, w.train.tokens)  # deterministic
    assert world(names="cldr", n_relations=2, n_entities=30, n_languages=2, world_seed=1).territories != w.territories


@pytest.mark.parametrize("overrides, message", [
    (dict(n_relations=3), r"n_relations=3 is out of range: allowed \[1, 2\]"),
    (dict(n_relations=2, scripts=("latin", "greek")), r"scripts=\('latin', 'greek'\) must be empty with names='cldr'"),
    (dict(n_relations=2, attribute_association=0.5), r"attribute_association=0\.5 must be 0 with names='cldr'"),
    (dict(n_relations=2, n_entities=5000), r"n_entities=5000 is out of range: allowed \[2, 2"),
    (dict(names="wikidata"), r"names='wikidata' is not allowed: choose one of 'synthetic', 'cldr'"),
])
def test_cldr_world_parameters_are_validated(overrides, message):
    pytest.importorskip("babel")
    from crosslingual.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        make_config("smoke", **{"names": "cldr", **overrides})


CUE_WORLD = dict(scripts=("latin", "latin"), word_orders=(0, 0), shared_function_words=True)


def _differing_columns(w: World) -> set[int]:
    """Word columns in which some fact's rendering in language 0 differs from its rendering in language 1."""
    facts = np.arange(w.n_facts)
    a, b = w.encode_words(facts, np.zeros_like(facts)), w.encode_words(facts, np.ones_like(facts))
    return set(np.nonzero((a.tokens != b.tokens).any(0))[0].tolist())


@pytest.mark.parametrize("cue, extra", [({}, set()), (dict(language_marker=True), {"marker"}),
                                        (dict(shared_function_words=False), {"function word"})])
def test_in_the_cue_isolated_world_the_languages_differ_only_in_their_names_and_the_added_cue(cue, extra):
    w = world(**{**CUE_WORLD, **cue})
    slots = {"entity": w.prefix_len + list(w.orders[0]).index(0), "relation": w.prefix_len + list(w.orders[0]).index(1),
             "function word": w.prefix_len + list(w.orders[0]).index(2), "marker": 1}
    assert (w.orders[0] == w.orders[1]).all()
    assert _differing_columns(w) == {slots[s] for s in {"entity", "relation", *extra}}
    np.testing.assert_array_equal(w.encode(np.arange(9), np.zeros(9, int)).entity_pos,
                                  w.encode(np.arange(9), np.ones(9, int)).entity_pos)


def test_the_word_order_is_the_only_change_of_the_own_order_arm():
    shared, own = world(**CUE_WORLD), world(**{**CUE_WORLD, "word_orders": (0, 4)})
    assert [tuple(o) for o in own.orders] == [(0, 1, 2), (1, 0, 2)] and (shared.orders == shared.orders[0]).all()
    assert shared.words == own.words and (shared.values == own.values).all()
    facts = np.arange(shared.n_facts)
    for k in (0, 1):  # the same words, in another order
        a = shared.encode_words(facts, np.full_like(facts, k)).tokens
        b = own.encode_words(facts, np.full_like(facts, k)).tokens
        np.testing.assert_array_equal(np.sort(a, 1), np.sort(b, 1))
        assert (a == b).all() == (k == 0)
    # without the knob, worlds keep their own orders (the generator's word orders, by language)
    from crosslingual.core.config import N_WORD_ORDERS
    from crosslingual.core.world.generator import ORDERS

    assert [tuple(o) for o in world(n_languages=3).orders] == list(ORDERS[:3]) and len(ORDERS) == N_WORD_ORDERS


def test_transliteration_maps_letters_by_position_and_is_the_identity_within_a_script():
    from crosslingual.core.world.generator import transliterate

    assert transliterate("bako", "latin", "latin") == "bako"
    cons, vows = SCRIPTS["latin"]
    for target in SCRIPTS:
        c_t, v_t = SCRIPTS[target]
        out = transliterate("".join(c + v for c, v in zip(cons, vows * 4)), "latin", target)
        assert [ch in c_t for ch in out[::2]] == [True] * len(out[::2])
        assert all(ch in v_t for ch in out[1::2])
    assert transliterate(transliterate("nahigo", "latin", "cyrillic"), "cyrillic", "latin") == "nahigo"


@pytest.mark.parametrize("scripts", [("latin", "latin"), ("latin", "greek", "latin")])
def test_cognates_share_the_stem_of_language_0s_name_and_change_nothing_else(scripts):
    from crosslingual.core.world.generator import transliterate

    plain = world(scripts=scripts, n_languages=len(scripts))
    w = world(scripts=scripts, n_languages=len(scripts), cognates=0.5)
    assert 0.2 < w.cognate_entity.mean() < 0.8 and not plain.cognate_entity.any()
    for names, flags, before in ((w.entity_names, w.cognate_entity, plain.entity_names),
                                 (w.relation_names, w.cognate_relation, plain.relation_names)):
        assert names[0] == before[0]
        for k in range(1, len(scripts)):
            for i, name in enumerate(names[k]):
                if flags[i]:  # the stem, transliterated; a new last syllable; the language's script
                    assert name[:-2] == transliterate(names[0][i][:-2], scripts[0], scripts[k]) and name != names[0][i]
                else:
                    assert name == before[k][i]
    every = [n for k in range(len(scripts)) for n in w.entity_names[k] + w.relation_names[k]]
    assert len(set(every)) == len(every)  # still unique in the world
    np.testing.assert_array_equal(w.values, plain.values)
    np.testing.assert_array_equal(w.assignment, plain.assignment)


def test_cognate_translations_share_subword_pieces_where_independent_names_do_not():
    def piece_sharing(w: World) -> np.ndarray:
        pieces = [[set(row[row >= 0].tolist()) for row in w.word_tokens(w.ent_ids[k])] for k in (0, 1)]
        return np.array([bool(a & b) for a, b in zip(*pieces)])

    kw = dict(scripts=("latin", "latin"), tokenizer="bpe", n_entities=64)
    for vocabulary in (64, 96, 128):  # pieces shorter and longer than a syllable
        w, plain = world(**kw, bpe_vocab_size=vocabulary, cognates=0.5), world(**kw, bpe_vocab_size=vocabulary)
        shares = piece_sharing(w)
        assert shares[w.cognate_entity].mean() >= 0.9 > 0.4 > shares[~w.cognate_entity].mean()
        assert piece_sharing(plain).mean() < 0.4


def test_word_tokens_are_the_word_at_word_level_and_its_encoded_pieces_with_subwords():
    """H2-redesign reads a name through its tokens: they must be what ``encode`` writes for it."""
    plain = world()
    np.testing.assert_array_equal(plain.word_tokens(plain.ent_ids[1]), plain.ent_ids[1][:, None])
    w = world(tokenizer="bpe", bpe_vocab_size=40)
    fact = np.arange(w.cfg.n_entities) * w.cfg.n_relations  # each entity once, relation 0, in language 0
    encoded = w.encode(fact, np.zeros(len(fact), dtype=int))
    for row, end, pieces in zip(encoded.tokens, encoded.entity_pos, w.word_tokens(w.ent_ids[0])):
        pieces = pieces[pieces >= 0]
        np.testing.assert_array_equal(row[end + 1 - len(pieces):end + 1], pieces)  # the entity ends at entity_pos
    assert (w.word_tokens(w.ent_ids[0]) >= 0).sum(1).max() > 1  # some names are several pieces
    with pytest.raises(ValueError, match="word ids must be in"):
        w.word_tokens(np.array([len(w.words)]))


# Sizes the memory guard reads off the config: language counts and script mixes, the cue knobs, the held-out and
# repeat designs, real names (facts_per_sequence, a training knob, changes no world: tests/unit/test_memory.py)
SIZE_WORLDS = [dict(), dict(n_languages=4, language_marker=True), dict(shared_function_words=True, value_overlap=0.0),
               dict(entity_overlap=0.5, value_overlap=0.3), dict(entity_overlap=1.0, language_marker=True),
               dict(n_languages=3, scripts=("thai", "latin", "thai"), parallel_mode="repeat"),
               dict(n_languages=3, scripts=("latin", "greek", "latin"), held_out_languages=1),
               dict(scripts=("latin", "greek"), word_orders=(0, 0), cognates=1.0),
               dict(n_languages=3, word_orders=(2, 2, 5), cognates=0.5, facts_per_sequence=4, loss="full"),
               dict(names="cldr", n_entities=30, n_relations=2, n_languages=3, language_marker=True)]


def _chars(*groups: list[str]) -> tuple[int, ...]:
    return tuple(max(map(len, g)) for g in groups)


def _within(pairs: list[tuple[int, int]], exact: bool) -> bool:
    """Every (built, from the config) pair equal where the size is exact, else the built one within the bound."""
    return all(built == bound if exact else built <= bound for built, bound in pairs)


@pytest.mark.parametrize("tokenizer", ["word", "bpe"])
@pytest.mark.parametrize("kw", SIZE_WORLDS, ids=str)
@pytest.mark.parametrize("profile", ["smoke", "default"])
def test_the_config_only_sizes_are_the_built_worlds_or_bound_them(profile, kw, tokenizer):
    """``world.sizes`` answers from the config (the memory guard never builds a world): exact where the generator
    lays the size out, an upper bound where it depends on the draws (shared names, BPE pieces, parallel facts)."""
    if kw.get("names") == "cldr":
        pytest.importorskip("babel")
    cfg = make_config(profile, tokenizer=tokenizer, **kw).world
    w = World(cfg)
    fixed = (sizes.prefix_length, sizes.n_facts, sizes.n_train_languages, sizes.value_slots)
    assert [f(cfg) for f in fixed] == [w.prefix_len, w.n_facts, w.n_train_languages, w.val_ids.shape[-1]]
    assert w.vocab[:sizes.head_size(cfg)] == [BOS, *(w.markers if cfg.language_marker else [])]
    assert sizes.framed_length(cfg, sizes.QUERY_WORDS) == w.encode_words(*w.train_pairs).tokens.shape[1]
    assert {len(e) + len(r) + len(v) + 1 for e, r, v in zip(w.entity_names, w.relation_names, w.value_names)} \
        == {sizes.names_per_language(cfg)}
    query = [n for names in (*w.entity_names, *w.relation_names) for n in names] + w.function_words
    values = {n for names in w.value_names for n in names}
    exact = cfg.names == "synthetic" and cfg.entity_overlap in (0, 1) and cfg.value_overlap in (0, 1)
    assert _within([(len(set(query)), sizes.query_words(cfg)), (len(values), sizes.value_words(cfg))], exact)
    assert _within([(w.seq_len, sizes.sequence_length(cfg))], exact=tokenizer == "word")
    assert _within([(len(w.vocab), sizes.vocabulary_size(cfg))], exact=exact and tokenizer == "word")
    assert _within([(len(w.train), sizes.training_sequences(cfg))], exact=False)
    longest = _chars([n for names in w.entity_names for n in names], [n for names in w.relation_names for n in names],
                     w.function_words)
    assert _within(list(zip(longest, sizes.longest_words(cfg))), exact=False)
    assert _within([(len({ch for word in query for ch in word}), sizes.alphabet_size(cfg))], exact=False)
