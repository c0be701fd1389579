import json

import pytest

from crosslingual.core.config import PROFILES, RunConfig, make_config
from crosslingual.core.device import resolve_device
from crosslingual.errors import ConfigError


@pytest.mark.parametrize("overrides, message", [
    (dict(parallel_fraction=1.5), r"parallel_fraction=1\.5 is out of range: allowed \[0\.0, 1\.0\)"),
    (dict(parallel_fraction=1.0), r"parallel_fraction=1\.0 is out of range: allowed \[0\.0, 1\.0\)"),
    (dict(parallel_fraction="a lot"), r"parallel_fraction='a lot' must be a number"),
    (dict(language_association=0.2), r"language_association=0\.2 is out of range: allowed \[0\.5, 1\.0\]"),
    (dict(attribute_association=-0.1), r"attribute_association=-0\.1 is out of range"),
    (dict(entity_overlap=2), r"entity_overlap=2(\.0)? is out of range"),
    (dict(value_overlap=-1), r"value_overlap=-1(\.0)? is out of range"),
    (dict(n_languages=1), r"n_languages=1 is out of range: allowed \[2, 10\]"),
    (dict(n_languages=11), r"n_languages=11 is out of range"),
    (dict(n_entities=2.5), r"n_entities=2\.5 must be an integer"),
    (dict(language_marker="yes"), r"language_marker='yes' must be a boolean"),
    (dict(scripts=("latin",)), r"scripts=\('latin',\) must list one script per language"),
    (dict(scripts=("latin", "klingon")), r"scripts='klingon' is not allowed"),
    (dict(d_model=30, n_heads=4), r"n_heads=4 must divide d_model=30"),
    (dict(arch="rnn"), r"arch='rnn' is not allowed: choose one of 'gpt', 'llama'"),
    (dict(loss="all"), r"loss='all' is not allowed"),
    (dict(lr=0.0), r"lr=0\.0 is out of range: allowed \(0\.0, 1\.0\]"),
    (dict(steps=100, warmup_steps=200), r"warmup_steps=200 is out of range: allowed \[0, 100\]"),
    (dict(seed=-1), r"seed=-1 is out of range"),
    (dict(paralel_fraction=0.5), r"unknown parameter 'paralel_fraction'"),
    (dict(parallel_fraction=0.99), r"parallel_fraction=0\.99 leaves about 1\.6 facts in one language only"),
    (dict(n_entities=2, n_languages=3), r"n_entities=2 must be at least n_languages=3"),
    (dict(n_languages=3, language_association=0.3), r"language_association=0\.3 is out of range: allowed "
                                                    r"\[0\.333"),
    (dict(attribute_association=0.5, n_values=2, n_languages=3), r"attribute_association=0\.5 needs n_values >= "
                                                                  r"n_languages"),
    (dict(code_switching=1.5), r"code_switching=1\.5 is out of range: allowed \[0\.0, 1\.0\]"),
    (dict(world_seed=0.5), r"world_seed=0\.5 must be an integer"),
    (dict(shared_function_words=1), r"shared_function_words=1 must be a boolean"),
    (dict(word_orders=(0,)), r"word_orders=\(0,\) must list one word order per language \(n_languages=2\)"),
    (dict(word_orders=(0, 6)), r"word_orders=6 is out of range: allowed \[0, 5\]"),
    (dict(word_orders=(0, 1.5)), r"word_orders=1\.5 must be an integer"),
    (dict(cognates=1.01), r"cognates=1\.01 is out of range: allowed \[0\.0, 1\.0\]"),
    (dict(cognates=-0.1), r"cognates=-0\.1 is out of range"),
    (dict(cognates=True), r"cognates=True must be a number"),
    (dict(names="cldr", n_relations=2, n_entities=20, cognates=0.5), r"cognates=0\.5 must be 0 with names='cldr'"),
    (dict(n_values=1), r"n_values=1 is out of range: allowed \[2, 10000\]"),
    (dict(n_relations=0), r"n_relations=0 is out of range"),
    (dict(n_heads=0), r"n_heads=0 is out of range"),
    (dict(n_layers=0), r"n_layers=0 is out of range: allowed \[1, 64\]"),
    (dict(d_mlp=4), r"d_mlp=4 is out of range"),
    (dict(tie_embeddings="no"), r"tie_embeddings='no' must be a boolean"),
    (dict(steps=0), r"steps=0 is out of range"),
    (dict(batch_size=0), r"batch_size=0 is out of range"),
    (dict(weight_decay=-1.0), r"weight_decay=-1\.0 is out of range: allowed \[0\.0, 100\.0\]"),
    (dict(n_checkpoints=1), r"n_checkpoints=1 is out of range: allowed \[2, 1000\]"),
    (dict(keep_checkpoints=7), r"keep_checkpoints=7 is out of range: allowed \[2, 6\]"),
    (dict(tokenizer="sentencepiece"), r"tokenizer='sentencepiece' is not allowed: choose one of 'word', 'bpe'"),
    (dict(bpe_vocab_size=4), r"bpe_vocab_size=4 is out of range: allowed \[8, 100000\]"),
    (dict(align_weight=-1.0), r"align_weight=-1\.0 is out of range: allowed \[0\.0, 100\.0\]"),
    (dict(align_share=1.0), r"align_share=1\.0 is out of range: allowed \(0\.0, 1\.0\)"),
    (dict(align_weight=1.0, align_share=0.05), r"align_share=0\.05 gives 1 aligned pairs in a batch of 32"),
    (dict(align_weight=1.0, parallel_mode="repeat"), r"align_weight=1\.0 needs parallel facts to align"),
    (dict(align_weight=1.0, parallel_fraction=0.0), r"align_weight=1\.0 needs parallel facts to align"),
    (dict(n_eval=0), r"n_eval=0 is out of range"),
    (dict(n_unification=4), r"n_unification=4 is out of range: allowed \[5, 100000\]"),
    (dict(precision="fp16"), r"precision='fp16' is not allowed: choose one of 'fp32', 'bf16'"),
    (dict(lr=2.0), r"lr=2\.0 is out of range: allowed \(0\.0, 1\.0\]"),
    (dict(seed=2**31), r"seed=2147483648 is out of range"),
    (dict(held_out_languages=1), r"held_out_languages=1 is out of range: allowed \[0, 0\]"),
    (dict(n_languages=3, held_out_languages=1, tokenizer="bpe"), r"held_out_languages=1 with tokenizer='bpe' needs "
                                                                  r"every held-out language in a script of a training "
                                                                  r"language.*greek is not"),
    # non-finite values fail every comparison and used to pass as "in range"
    *[(dict([(name, value)]), rf"{name}={value!r} must be a finite number")
      for name in ("parallel_fraction", "language_association", "attribute_association", "entity_overlap",
                   "value_overlap", "code_switching", "cognates", "lr", "weight_decay", "align_weight", "align_share")
      for value in (float("nan"), float("inf"), float("-inf"))],
    (dict(n_entities=100_000), r"need 200,075 distinct names by language 1 \(cyrillic\), but its syllables make at "
                               r"most 109,800"),
    (dict(n_languages=4, n_entities=30_000), r"by language 3 \(armenian\)"),
])
def test_bad_parameters_are_named_with_their_allowed_range(overrides, message):
    with pytest.raises(ConfigError, match=message):
        make_config("smoke", **overrides)


def test_unknown_profile_lists_the_allowed_ones():
    with pytest.raises(ConfigError, match=r"profile='huge' is not allowed: choose one of 'smoke', 'default', 'paper'"):
        make_config("huge")


def test_every_profile_is_valid():
    for name in PROFILES:
        make_config(name)


def test_hash_is_stable_and_sensitive():
    a, b = make_config("smoke"), make_config("smoke")
    assert a.hash() == b.hash() and len(a.hash()) == 12
    assert make_config("smoke", parallel_fraction=0.31).hash() != a.hash()
    assert make_config("smoke", seed=1).hash() != a.hash()


def test_fields_added_at_their_neutral_value_keep_the_hash_of_runs_stored_before_them():
    """A config stored before ``word_orders`` and ``cognates`` existed has no such keys; its directory name
    must stay the hash of today's config, or every stored run would be retrained. Set away from neutral, each
    field changes the hash."""
    from crosslingual.core.config import NEUTRAL_FIELDS, RESULT_FORMAT_VERSION, config_digest

    cfg = make_config("default", tokenizer="bpe")
    stored = cfg.to_dict()
    for section, neutral in NEUTRAL_FIELDS.items():
        for key in neutral:
            del stored[section][key]
    assert config_digest(stored, RESULT_FORMAT_VERSION) == cfg.hash()
    assert make_config("default").hash() == "9681c90097fa"  # pinned (format 7): the baseline world's stored runs
    hashes = {cfg.hash(), make_config("default", tokenizer="bpe", word_orders=[0, 0]).hash(),
              make_config("default", tokenizer="bpe", cognates=0.5).hash(),
              make_config("default", tokenizer="bpe", cognates=0.0, word_orders=[]).hash()}
    assert len(hashes) == 3
    assert make_config("default", word_orders=[0, 1]).hash() != make_config("default").hash()  # the same world,
    # but a config that names its orders is another config


def test_the_name_capacity_check_matches_the_generator_exactly(monkeypatch):
    """The largest world the check accepts is built; one entity more is refused by both the check and the
    generator, so the check is neither looser nor stricter than what it guards."""
    import dataclasses

    from crosslingual.core.config import WorldConfig
    from crosslingual.core.world import World

    World(make_config("smoke", n_entities=54_862).world)
    with pytest.raises(ConfigError, match="distinct names"):
        make_config("smoke", n_entities=54_863)
    monkeypatch.setattr(WorldConfig, "_validate_name_capacity", lambda self: None)
    with pytest.raises(ValueError, match="syllable inventory"):
        World(dataclasses.replace(make_config("smoke").world, n_entities=54_863))


def test_round_trip_through_dict():
    cfg = make_config("smoke", scripts="greek,hebrew", language_marker=True, word_orders=[3, 4], cognates=0.25)
    again = RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))  # as stored in config.json
    assert again == cfg and again.hash() == cfg.hash() and again.world.word_orders == (3, 4)


def test_the_table_covers_at_least_thirty_bad_inputs():
    n = len(test_bad_parameters_are_named_with_their_allowed_range.pytestmark[0].args[1])
    assert n >= 30


@pytest.mark.parametrize("device, message", [("tpu", r"device='tpu' is not allowed: choose one of 'auto', "
                                                      r"'cpu', 'cuda'"), ("CPU", r"device='CPU' is not allowed")])
def test_bad_devices(device, message):
    with pytest.raises(ConfigError, match=message):
        resolve_device(device)


@pytest.mark.parametrize("name, value, message", [
    ("seeds", 0, r"seeds=0 is out of range: allowed \[1, 100\]"),
    ("seeds", 2.5, r"seeds=2\.5 must be an integer"),
    ("workers", -1, r"workers=-1 is out of range"),
])
def test_notebook_level_counts(name, value, message):
    from crosslingual.core.checks import check_count

    with pytest.raises(ConfigError, match=message):
        check_count(name, value, 1 if name == "seeds" else 0, 100 if name == "seeds" else 256)


def test_cuda_without_gpu_is_an_error_not_a_fallback(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ConfigError, match="no CUDA GPU is available"):
        resolve_device("cuda")
