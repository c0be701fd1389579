"""The pretrained models' analyses of chapters 08-09 are cached in the run store: a second call reads the tables
back without reading any model, and another source file (digest) or parameter makes a new key."""

import pandas as pd
import pytest
import torch

from crosslingual.analysis import pretrained_study as study


@pytest.fixture
def fake_models(tmp_path, monkeypatch):
    """Two 'pretrained models' of 300 pieces in two scripts; counts how often a vocabulary or a model is read."""
    monkeypatch.setenv("CROSSLINGUAL_RUNS", str(tmp_path / "runs"))
    letters = {"a": "abcdefghij", "b": "абвгдежзик"}
    pieces = [f"▁{s[i % 10]}{s[i // 10 % 10]}{s[i // 100]}" for s in letters.values() for i in range(150)]
    g = torch.Generator().manual_seed(0)
    emb = {"m1": torch.randn(300, 8, generator=g), "m2": torch.randn(300, 12, generator=g)}
    reads = {"vocabulary": 0, "model": 0}
    digests = {"m1": "d1", "m2": "d2"}

    def text_vocabulary(name):
        reads["vocabulary"] += 1
        return emb[name], pieces, None

    def load_causal_lm(name):
        reads["model"] += 1
        return "model", "tokenizer", None

    monkeypatch.setattr(study.wheels, "text_vocabulary", text_vocabulary)
    monkeypatch.setattr(study.wheels, "source_digest", lambda name: digests[name])
    monkeypatch.setattr(study.wheels, "load_causal_lm", load_causal_lm)
    study._digest.cache_clear()
    yield reads, digests
    study._digest.cache_clear()


def test_h1_to_h3_tables_are_computed_once_and_read_back(fake_models):
    reads, _ = fake_models
    first = study.h1_geometry("m1", 0, 50, study.Vocabularies())
    overlap = study.h3_overlap(["m1", "m2"], 3, 20, 0, study.Vocabularies())
    assert reads["vocabulary"] == 3
    again = study.h1_geometry("m1", 0, 50, study.Vocabularies())
    overlap_again = study.h3_overlap(["m1", "m2"], 3, 20, 0, study.Vocabularies())
    assert reads["vocabulary"] == 3  # nothing read: the tables came from the store
    pd.testing.assert_frame_equal(first[0], again[0])
    pd.testing.assert_series_equal(pd.Series(first[1]), pd.Series(again[1]))  # NaN where no category has 500
    assert overlap[1]["shared"] == overlap_again[1]["shared"] == 300
    pd.testing.assert_frame_equal(overlap[0], overlap_again[0])
    study.h1_geometry("m1", 1, 50, study.Vocabularies())  # another seed: another key
    assert reads["vocabulary"] == 4


def test_a_new_source_file_makes_a_new_key(fake_models):
    reads, digests = fake_models
    dictionary = pd.DataFrame({"language": ["ru"], "kind": ["month"], "english": ["aaa"], "word": ["ааа"]})
    study.h2_translation(["m1", "m2"], dictionary, 3, study.Vocabularies())
    study.h2_translation(["m1", "m2"], dictionary, 3, study.Vocabularies())
    assert reads["vocabulary"] == 2
    digests["m2"] = "d2-new"
    study._digest.cache_clear()
    study.h2_translation(["m1", "m2"], dictionary, 3, study.Vocabularies())
    assert reads["vocabulary"] == 4
    study.h2_translation(["m1", "m2"], dictionary.assign(word=["абв"]), 3, study.Vocabularies())  # other words
    assert reads["vocabulary"] == 6


def test_r8_on_a_pretrained_model_loads_it_only_when_a_table_is_missing(fake_models, monkeypatch):
    reads, _ = fake_models
    tables = {"layers": pd.DataFrame({"layer": [0, 1], "unification": [0.1, 0.2]}),
              "scored": pd.DataFrame({"prompt": ["p"], "generated": ["g"], "exact": [True]}),
              "pairs": pd.DataFrame({"a": ["en"], "b": ["ru"], "unification": [0.3], "transfer": [0.5]})}
    monkeypatch.setattr(study, "r8_tables", lambda model, tokenizer, subset, languages: tables)
    subset = pd.DataFrame({"territory": ["DE"], "prompt": ["Germany"]})
    first = study.r8_pretrained("m1", subset, ["en", "ru"])
    again = study.r8_pretrained("m1", subset, ["en", "ru"])
    assert reads["model"] == 1
    for name in tables:
        pd.testing.assert_frame_equal(first[name], tables[name])
        pd.testing.assert_frame_equal(again[name], tables[name])
    study.r8_pretrained("m1", subset, ["ru", "en"])  # the languages' order is part of the key
    assert reads["model"] == 2
