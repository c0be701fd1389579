import pytest

from crosslingual.config import PROFILES, ConfigError, RunConfig, make_config, resolve_device


@pytest.mark.parametrize("overrides, message", [
    (dict(parallel_fraction=1.5), r"parallel_fraction=1\.5 is out of range: allowed \[0\.0, 1\.0\)"),
    (dict(parallel_fraction=1.0), r"parallel_fraction=1\.0 is out of range: allowed \[0\.0, 1\.0\)"),
    (dict(parallel_fraction="a lot"), r"parallel_fraction='a lot' must be a number"),
    (dict(language_association=0.2), r"language_association=0\.2 is out of range: allowed \[0\.5, 1\.0\]"),
    (dict(attribute_association=-0.1), r"attribute_association=-0\.1 is out of range"),
    (dict(entity_overlap=2), r"entity_overlap=2 is out of range"),
    (dict(value_overlap=-1), r"value_overlap=-1 is out of range"),
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


def test_round_trip_through_dict():
    cfg = make_config("smoke", scripts="greek,hebrew", language_marker=True)
    again = RunConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.hash() == cfg.hash()


def test_cuda_without_gpu_is_an_error_not_a_fallback(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ConfigError, match="no CUDA GPU is available"):
        resolve_device("cuda")
