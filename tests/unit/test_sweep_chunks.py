"""How a sweep groups its missing runs into batched chunks (no training here)."""

import pytest

from crosslingual.core.config import make_config
from crosslingual.errors import ConfigError
from crosslingual.store.sweep import batch_chunks, expected_cost, shape_key, sweep


def _seeds(n, **knobs):
    return [make_config("smoke", seed=s, world_seed=s, **knobs) for s in range(n)]


def test_runs_that_differ_only_in_seeds_or_corpus_knobs_share_a_shape():
    a = make_config("smoke", seed=0, world_seed=0, parallel_fraction=0.2, language_association=0.5)
    b = make_config("smoke", seed=3, world_seed=3, parallel_fraction=0.8, language_association=1.0,
                    attribute_association=0.5, parallel_mode="repeat", code_switching=0.25)
    assert shape_key(a) == shape_key(b)
    for other in (dict(d_model=16), dict(steps=70), dict(language_marker=True), dict(tokenizer="bpe"),
                  dict(entity_overlap=0.5), dict(loss="full")):
        assert shape_key(make_config("smoke", **other)) != shape_key(a), other


@pytest.mark.parametrize("knobs", [dict(tokenizer="bpe"), dict(entity_overlap=0.5), dict(value_overlap=0.5)])
def test_worlds_whose_vocabulary_depends_on_the_seed_share_a_shape_only_with_their_world_seed(knobs):
    one, two = (make_config("smoke", seed=s, world_seed=s, **knobs) for s in (0, 1))
    assert shape_key(one) != shape_key(two)
    assert shape_key(one) == shape_key(make_config("smoke", seed=5, world_seed=0, parallel_fraction=0.2, **knobs))


def test_alignment_runs_are_never_batched():
    runs = _seeds(4, align_weight=1.0)
    assert len({shape_key(c) for c in runs}) == 4
    assert all(len(chunk) == 1 for chunk in batch_chunks(runs, 8, 2))


def test_chunks_hold_one_shape_are_even_and_cover_every_run_once():
    group_a, group_b = _seeds(12), _seeds(5, d_model=16)
    chunks = batch_chunks(group_a + group_b, 8, 2)
    assert sorted(c.hash() for chunk in chunks for c in chunk) == sorted(c.hash() for c in group_a + group_b)
    assert all(len({shape_key(c) for c in chunk}) == 1 for chunk in chunks)
    assert sorted(map(len, chunks)) == [5, 6, 6]  # 12 -> 2 x 6, not 8 + 4
    costs = [sum(map(expected_cost, chunk)) for chunk in chunks]
    assert costs == sorted(costs, reverse=True)


def test_there_are_at_least_as_many_chunks_as_workers_when_the_runs_allow():
    assert sorted(map(len, batch_chunks(_seeds(4), 8, 2))) == [2, 2]
    assert sorted(map(len, batch_chunks(_seeds(3), 8, 4))) == [1, 1, 1]
    assert [len(c) for c in batch_chunks(_seeds(16), 8, 1)] == [8, 8]


@pytest.mark.parametrize("together", [0, -1, 2.5, "8", True])
def test_together_is_validated(together, store):
    with pytest.raises(ConfigError, match="together"):
        sweep(_seeds(1), together=together, root=store, progress=False)
