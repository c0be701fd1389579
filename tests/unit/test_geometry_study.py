"""Chapter 09's per-run tables: cached in the run store, equal to a direct computation, recomputed only when
their key (run, k, version) changes."""

import numpy as np
import pandas as pd
import pytest
import torch

import crosslingual.analysis.geometry_study as study
from crosslingual.analysis.geometry import embeddings_of_run, knn_overlap, token_category
from crosslingual.core.config import make_config
from crosslingual.store.fetch import get_or_train


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two short smoke runs sharing one word-level world (different initialisations), in their own store."""
    root = tmp_path_factory.mktemp("runs")
    return [get_or_train(make_config("smoke", steps=20, warmup_steps=5, n_checkpoints=3, keep_checkpoints=3,
                                     seed=s, world_seed=0), progress=False, root=root) for s in (0, 1)]


def counting(monkeypatch, name: str) -> list:
    """Count the calls of ``geometry_study.<name>`` (the work a cached table saves)."""
    calls, real = [], getattr(study, name)
    monkeypatch.setattr(study, name, lambda *a, **kw: calls.append(a) or real(*a, **kw))
    return calls


def derived(run, kind: str) -> list:
    return sorted((run.path.parent / ".derived").glob(f"{kind}-*.parquet"))


def test_run_geometry_is_cached_per_run_and_k(pair, monkeypatch):
    run = pair[0]
    direct = pd.DataFrame([{"step": s, **study.checkpoint_geometry(run, 3, s)} for s in run.steps])
    calls = counting(monkeypatch, "checkpoint_geometry")
    pd.testing.assert_frame_equal(study.run_geometry(run, 3), direct)
    assert len(calls) == len(run.steps) == 3
    pd.testing.assert_frame_equal(study.run_geometry(run, 3), direct)
    assert len(calls) == 3  # read back, not recomputed
    other = study.run_geometry(run, 4)
    assert len(calls) == 6 and len(derived(run, "geometry")) == 2
    assert not other.equals(direct)
    monkeypatch.setattr(study, "GEOMETRY_VERSION", 2)
    study.run_geometry(run, 3)
    assert len(calls) == 9  # a new code version recomputes


def test_final_and_training_tables_read_the_runs_geometry(pair):
    run = pair[0]
    final = study.final_table([run, run], [{"sweep": "a"}, {"sweep": "b"}], k=3)
    assert final.run.tolist() == [run.path.name] and final.sweep.tolist() == ["a"]  # a repeated run once
    assert final.categories.dtype == np.int64
    assert final.translation_precision.iloc[0] == study.checkpoint_geometry(run, 3)["translation_precision"]
    over = study.training_table([run], [{"parallel fraction": "0.5"}], k=3)
    assert list(over.columns[:3]) == ["run", "parallel fraction", "step"] and over.step.tolist() == run.steps


def test_seed_overlap_is_cached_and_equals_knn_overlap(pair, monkeypatch):
    a, b = pair
    ids = study.input_tokens(a.world)
    direct = [knn_overlap(embeddings_of_run(a, s)[0][ids], embeddings_of_run(b, s)[0][ids], 3) for s in a.steps]
    calls = counting(monkeypatch, "knn_overlap")
    pairs = study.world_pairs([pair], 3)
    assert pairs.pair.unique().tolist() == [a.config.world.world_seed] and pairs.step.tolist() == a.steps
    assert pairs.overlap.tolist() == direct and len(calls) == len(a.steps)
    study.world_pairs([pair], 3)
    assert len(calls) == len(a.steps)
    study.seed_overlap(a, b, 5)
    assert len(derived(a, "geometry-seed-overlap")) == 2
    assert study.chance_overlap(a.world, 3) == 3 / (len(ids) - 1)


def test_script_separability_is_cached_and_its_baseline_shuffles_the_labels(pair, monkeypatch):
    """H1-redesign's table: the probe on the true labels equals checkpoint_geometry's separability, the
    baseline is the same probe on one permutation of them (drawn with the run's seed), and a rebuild reads it
    back."""
    run = pair[0]
    calls = counting(monkeypatch, "separability")
    table = study.script_table([run])
    assert table.step.tolist() == run.steps and set(table.seed) == {run.config.seed}
    assert len(calls) == 2 * len(run.steps)
    assert table.separability.iloc[-1] == study.checkpoint_geometry(run, 3)["separability"]
    ids, labels = study.script_labels(run)
    shuffled = calls[1][1]  # per checkpoint: the true labels, then the shuffled ones
    assert sorted(shuffled.tolist()) == sorted(labels.tolist()) and shuffled.tolist() != labels.tolist()
    assert shuffled.tolist() == np.random.default_rng(run.config.seed).permutation(labels).tolist()
    study.script_table([run])
    assert len(calls) == 2 * len(run.steps) + 1  # read back (the one more is checkpoint_geometry's above)
    assert len(derived(run, "geometry-script")) == 1


def test_a_category_is_probed_from_50_tokens_or_a_quarter_of_a_small_vocabulary():
    assert study.category_min_count(1000) == 50 and study.category_min_count(120) == 30


def test_pair_configs_give_one_independent_pair_per_world():
    pairs = study.pair_configs("smoke", 3, 4)
    assert [(a.seed, a.world.world_seed, b.seed, b.world.world_seed) for a, b in pairs] == [
        (s, s, s + study.PAIR_SEED_OFFSET, s) for s in (4, 5, 6)]
    assert pairs[0][0].hash() == make_config("smoke", seed=4, world_seed=4).hash()  # the study's standard run


def test_token_kinds_name_entities_relations_and_the_rest(pair):
    world = pair[0].world
    ids = np.array([world.ent_ids.flat[0], world.rel_ids.flat[0], world.special_ids[0]])
    assert study.token_kinds(world, ids).tolist() == ["entity", "relation", "function word / marker"]


def test_model_geometry_on_two_separated_scripts_is_seeded():
    rng = np.random.default_rng(0)
    tokens = [f"lat{i}" for i in range(60)] + ["\u0436\u0444"[i % 2] * (1 + i % 5) for i in range(60)]
    emb = np.concatenate([rng.normal(size=(60, 8)) + 6, rng.normal(size=(60, 8)) - 6]).astype(np.float32)
    sep, summary = study.model_geometry(emb, tokens, seed=1, min_count=10, k=5, share=0.1)
    assert summary["tokens"] == 120 and summary["categories"] == 2 == len(sep)
    assert summary["separability"] == pytest.approx(1.0)
    assert summary["neighbor_categories"] == pytest.approx(1.0)  # every neighbour shares the query's script
    assert study.model_geometry(emb, tokens, seed=1, min_count=10, k=5, share=0.1)[1] == summary
    with pytest.raises(ValueError, match="share"):
        study.model_geometry(emb, tokens, seed=1, share=0.0)


def test_shared_pieces_are_matched_by_string_at_their_first_row():
    rows_a, rows_b, strings = study.shared_pieces(["▁a", "b", "c", "b", "▁d"], ["c", "x", "▁a", "c", "d"])
    assert strings == ["▁a", "c"]  # '▁d' and 'd' differ by the word mark
    assert rows_a.tolist() == [0, 2] and rows_b.tolist() == [2, 0]


def _two_script_vocabulary(n: int = 150) -> list[str]:
    """``n`` distinct three-letter pieces in each of two scripts."""
    def words(letters: str) -> list[str]:
        return ["▁" + letters[i % 10] + letters[i // 10 % 10] + letters[i // 100 % 10] for i in range(n)]

    return words("abcdefghij") + words("абвгдежзик")


def test_cross_model_overlap_is_one_for_a_rotated_copy_and_near_chance_for_unrelated_embeddings():
    g = torch.Generator().manual_seed(0)
    pieces = _two_script_vocabulary()
    a = torch.randn(len(pieces), 16, generator=g)
    rotation = torch.linalg.qr(torch.randn(16, 16, generator=g))[0]
    # the second model: another width (zero columns added), its rows in another order, and pieces of its own
    perm = torch.randperm(len(pieces), generator=g)
    b = torch.cat([a @ rotation, torch.zeros(len(pieces), 8)], 1)[perm]
    b_pieces = [pieces[i] for i in perm.tolist()]
    table, summary = study.cross_model_overlap(a, pieces, torch.cat([b, torch.randn(5, 24, generator=g)]),
                                               b_pieces + [f"own{i}" for i in range(5)], k=5, queries=40, seed=1,
                                               min_count=100)
    assert table.category.tolist() == ["CYRILLIC", "LATIN"] and table.queries.tolist() == [40, 40]
    assert table.overlap.tolist() == [1.0, 1.0]
    assert summary["shared"] == 300 and summary["chance"] == pytest.approx(5 / 299)
    assert summary["overlap_min"] == summary["overlap_max"] == 1.0
    assert summary["canonical"] == pytest.approx(1.0)  # the same column space
    unrelated, _ = study.cross_model_overlap(a, pieces, torch.randn(len(pieces), 16, generator=g), pieces, k=5,
                                             queries=150, seed=1, min_count=100)
    assert (unrelated.overlap < 0.1).all()  # chance is 5 / 299 = 0.017
    again, _ = study.cross_model_overlap(a, pieces, torch.cat([b, torch.randn(5, 24, generator=g)]),
                                         b_pieces + [f"own{i}" for i in range(5)], k=5, queries=40, seed=1,
                                         min_count=100)
    pd.testing.assert_frame_equal(again, table)


def test_cross_model_overlap_reports_canonical_angles_when_rows_dwarf_columns():
    g = torch.Generator().manual_seed(3)
    pieces = _two_script_vocabulary(60)
    a = torch.randn(len(pieces), 4, generator=g)
    table, summary = study.cross_model_overlap(a, pieces, a * 2.0, pieces, k=3, queries=10, seed=0, min_count=50)
    assert summary["canonical"] == pytest.approx(1.0)
    assert 0 < summary["canonical_random"] < 1
    wide = torch.randn(len(pieces), 40, generator=g)
    assert np.isnan(study.cross_model_overlap(wide, pieces, wide, pieces, k=3, queries=10, seed=0,
                                              min_count=50)[1]["canonical"])  # 120 rows for 40 columns: too few
    with pytest.raises(ValueError, match="share 2 pieces"):
        study.cross_model_overlap(a[:2], pieces[:2], a[:2], pieces[:2], k=3, queries=10, seed=0)


def test_translation_neighbourhoods_on_a_hand_made_vocabulary():
    """Model A puts each translation next to its English word (angles 0, 60, 120, 180 degrees, the pair 5 degrees
    apart); model B reverses every pair's partner. Only pairs that are single pieces in both models count."""
    pieces = ["▁January", "▁janvier", "▁Monday", "▁lundi", "▁Germany", "Германия", "▁Spain", "▁Espagne"]
    angles = np.radians([0, 5, 60, 65, 120, 125, 180, 185])
    a = torch.tensor(np.stack([np.cos(angles), np.sin(angles)], 1), dtype=torch.float32)
    b_angles = np.radians([0, 95, 60, 155, 120, 215, 180, 275])  # every partner 90+ degrees away
    b = torch.tensor(np.stack([np.cos(b_angles), np.sin(b_angles)], 1), dtype=torch.float32)
    pairs = pd.DataFrame({"language": ["fr", "fr", "ru", "fr", "fr"], "kind": ["month", "weekday", "territory",
                                                                               "territory", "month"],
                          "english": ["January", "Monday", "Germany", "Spain", "March"],
                          "word": ["janvier", "lundi", "Германия", "Espagne", "mars"]})
    table = study.translation_neighbourhoods({"A": (a, pieces), "B": (b, pieces[:6] + ["x", "y"])}, pairs, k=1)
    # Spain / Espagne are not pieces of B, March / mars of neither: fr keeps 2 pairs, ru 1 ('Германия' is a bare
    # piece: a word written without the word mark counts too)
    assert table.to_dict("records") == [
        {"model": "A", "language": "fr", "pairs": 2, "precision": 1.0, "cross_share": 0.0},
        {"model": "A", "language": "ru", "pairs": 1, "precision": 1.0, "cross_share": 1.0},
        {"model": "B", "language": "fr", "pairs": 2, "precision": 0.0, "cross_share": 0.0},
        {"model": "B", "language": "ru", "pairs": 1, "precision": 0.0, "cross_share": 1.0}]


@pytest.fixture(scope="module")
def four_scripts(tmp_path_factory):
    """H2-redesign's kind of run, tiny: four languages in four scripts, BPE, the full loss (smoke, 20 steps)."""
    return get_or_train(make_config("smoke", steps=20, warmup_steps=5, n_checkpoints=3, keep_checkpoints=3,
                                    n_languages=4, tokenizer="bpe", loss="full"), progress=False,
                        root=tmp_path_factory.mktemp("runs"))


def test_names_group_each_entity_and_relation_with_its_translations(four_scripts):
    world = four_scripts.world
    words, translations = study.names(world)
    K, E, R = world.cfg.n_languages, world.cfg.n_entities, world.cfg.n_relations
    assert len(words) == K * (E + R) and study.translation_k(world) == K - 1 == 3
    first = int(np.searchsorted(words, world.ent_ids[0, 5]))
    group = translations[first]
    assert {int(words[i]) for i in group} == set(world.ent_ids[:, 5].tolist())
    scripts = {token_category(world.words[int(words[i])]) for i in group}
    assert len(scripts) == K  # one name per script
    assert all(len(t) == K for t in translations.values())


def _geometry(world, unified: bool) -> torch.Tensor:
    """Name vectors (in ``names`` order) where translations coincide (``unified``) or where each script is one
    cluster."""
    rng = np.random.default_rng(0)
    words, translations = study.names(world)
    if unified:
        key = np.array([min(translations[i]) for i in range(len(words))])
    else:
        key = np.unique([token_category(world.words[w]) for w in words.tolist()], return_inverse=True)[1]
    centres = rng.normal(size=(key.max() + 1, 16))
    return torch.tensor(centres[key] + 1e-3 * rng.normal(size=(len(words), 16)), dtype=torch.float32)


@pytest.mark.parametrize("unified", [True, False])
def test_word_neighbourhoods_read_translation_rich_and_script_pure_geometries(four_scripts, monkeypatch, unified):
    """With k = 3, a name whose neighbours are its three translations shows 4 scripts and precision 1; names
    clustered by language show 1 script and precision 0; the shuffled labels read near chance in both."""
    words, _ = study.names(four_scripts.world)
    monkeypatch.setattr(study, "pool_words", lambda emb, tokens: _geometry(four_scripts.world, unified))
    monkeypatch.setattr(study, "GEOMETRY_VERSION", 100 + unified)  # not the cached table of another test
    table = study.word_neighbourhoods(four_scripts)
    assert table.step.tolist() == four_scripts.steps and set(table.k) == {3} and set(table.names) == {len(words)}
    last = table.iloc[-1]
    if unified:
        assert last.neighbor_categories == 4 and last.translation_precision == 1
    else:
        assert last.neighbor_categories == 1 and last.translation_precision == 0
    assert 2 < last.neighbor_categories_shuffled < 3.5 and last.translation_precision_shuffled < 0.2


def test_word_neighbourhoods_are_cached_and_pool_the_names_pieces(four_scripts, monkeypatch):
    calls, before = counting(monkeypatch, "pool_words"), len(derived(four_scripts, "geometry-words"))
    table = study.word_neighbourhoods(four_scripts)
    assert len(calls) == len(four_scripts.steps)
    words, _ = study.names(four_scripts.world)
    np.testing.assert_array_equal(calls[0][1], four_scripts.world.word_tokens(words))
    assert ((1 <= table.neighbor_categories) & (table.neighbor_categories <= 4)).all()
    assert table.translation_precision.between(0, 1).all()
    pd.testing.assert_frame_equal(study.word_neighbourhoods(four_scripts), table)
    assert len(calls) == len(four_scripts.steps) and len(derived(four_scripts, "geometry-words")) == before + 1


def test_names_table_reads_the_final_neighbourhoods_beside_unification(four_scripts):
    table = study.names_table([four_scripts, four_scripts], [{"setting": "a"}, {"setting": "b"}])
    assert table.setting.tolist() == ["a"] and table.k.tolist() == [3]  # a repeated run once
    last = study.word_neighbourhoods(four_scripts).iloc[-1]
    assert table.translation_precision.iloc[0] == last.translation_precision
    assert table.neighbor_categories_shuffled.iloc[0] == last.neighbor_categories_shuffled
