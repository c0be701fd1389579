"""crosslingual.pretrained.hf on tiny randomly initialised models saved to a temporary directory (nothing
downloaded)."""

import pandas as pd
import pytest
import torch

transformers = pytest.importorskip("transformers")

from crosslingual.errors import ConfigError  # noqa: E402
from crosslingual.pretrained.hf import (  # noqa: E402
    ask,
    greedy_answers,
    layer_metrics,
    load,
    match,
    normalise,
    pair_transfer,
    pair_unification,
    parallel_layout,
    required_bytes,
)


def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers

    chars = sorted(set("abcdefghijklmnopqrstuvwxyzäöüéèàçабвгдежзийклмнопрстуфхцчшщыэюя:.\n "))
    vocab = {"<unk>": 0, "<pad>": 1, "<eos>": 2, **{c: i + 3 for i, c in enumerate(chars)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>",
                                                eos_token="<eos>"), len(vocab)


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def tiny_model(request, tmp_path_factory):
    tokenizer, n = _tokenizer()
    torch.manual_seed(0)
    if request.param == "gpt2":
        model = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=n, n_embd=16, n_layer=2, n_head=2,
                                                                      n_positions=64, bos_token_id=2, eos_token_id=2,
                                                                      pad_token_id=1))
    else:
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(
            vocab_size=n, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=2, max_position_embeddings=64, eos_token_id=2, pad_token_id=1))
    path = tmp_path_factory.mktemp(request.param)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


FACTS = pd.DataFrame([
    {"territory": t, "relation": r, "language": lang, "prompt": f"{name}\n{word}:", "value_name": value}
    for t, names in {"de": ("germany", "германия"), "fr": ("france", "франция"), "it": ("italy", "италия"),
                     "es": ("spain", "испания"), "at": ("austria", "австрия"), "ch": ("swiss", "швейцария")}.items()
    for r, (words, value) in {"currency": (("currency", "валюта"), "euro"),
                              "language": (("language", "язык"), "german")}.items()
    for lang, name, word in zip(("en", "ru"), names, words)])


def test_load_is_offline_and_gives_left_padded_states_for_every_layer(tiny_model, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    model, tokenizer = load(tiny_model, device="cpu")
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1" and tokenizer.padding_side == "left"
    prompts = ["germany\ncurrency:", "a:", "спасибо\nязык:"]
    answers, states = greedy_answers(model, tokenizer, prompts, max_new_tokens=3, batch_size=2)
    assert states.shape == (3, 3, 16) and len(answers) == 3  # embeddings + 2 layers, 3 prompts, width 16
    alone_answers, alone = greedy_answers(model, tokenizer, prompts[1:2], max_new_tokens=3)
    torch.testing.assert_close(states[:, 1], alone[:, 0], atol=1e-5, rtol=1e-4)  # padding changes nothing
    assert answers[1] == alone_answers[0]
    # the generation's first pass gives the hidden states of a plain forward pass over the prompt
    enc = tokenizer(prompts[:1], return_tensors="pt")
    with torch.no_grad():
        full = model(**enc, output_hidden_states=True).hidden_states
    assert torch.equal(states[:, 0], torch.stack([h[0, -1] for h in full]))


def test_parallel_metrics_per_layer(tiny_model):
    model, tokenizer = load(tiny_model, device="cpu")
    shuffled = FACTS.sample(frac=1.0, random_state=0)  # any row order: the layout is by key, not by position
    _, rows = greedy_answers(model, tokenizer, shuffled.prompt.tolist(), max_new_tokens=1)
    states, keys = parallel_layout(rows, shuffled, ["en", "ru"])
    assert states.shape == (3, 2, 12, 16) and len(keys) == 12
    for k, lang in enumerate(["en", "ru"]):
        for f, (t, r) in enumerate(keys.itertuples(index=False)):
            i = shuffled.reset_index(drop=True).query("territory == @t and relation == @r and language == @lang").index
            assert torch.equal(states[:, k, f], rows[:, i[0]])
    with pytest.raises(ValueError, match="once"):
        parallel_layout(torch.cat([rows, rows], 1), pd.concat([shuffled, shuffled]), ["en", "ru"])
    table = layer_metrics(states, keys)
    pairs = pair_unification(states, keys, ["en", "ru"])
    assert list(pairs.columns) == ["a", "b", "unification"] and len(pairs) == 1
    assert list(table.layer) == [0, 1, 2]
    assert table[["unification", "retrieval_at_1", "language_probe"]].notna().all().all()
    assert table.retrieval_at_1.between(0, 1).all() and table.language_probe.between(0, 1).all()


def test_greedy_answers_are_scored_exactly_and_normalised(tiny_model):
    model, tokenizer = load(tiny_model, device="cpu")
    scored, states = ask(model, tokenizer, FACTS.head(4), max_new_tokens=4)
    assert len(scored) == 4 and states.shape[1] == 4 and scored.generated.map(type).eq(str).all()
    assert {"exact", "normalised"} <= set(scored.columns)
    assert (scored.normalised | ~scored.exact).all()  # an exact match is also a normalised one


def test_match_and_normalise_hand_computed():
    assert match(" Euro\nmore", "Euro") == (True, True)
    assert match(" the euro.", "Euro") == (False, True)
    assert match("Deutsche Mark", "Euro") == (False, False)
    assert normalise("Ｅｕｒｏ！") == "euro" and normalise("L’euro") == "leuro"


def test_models_that_do_not_fit_are_refused_before_loading(tiny_model, monkeypatch):
    import crosslingual.pretrained.hf as hf

    assert required_bytes(tiny_model, "bf16") < required_bytes(tiny_model, "fp32")
    monkeypatch.setattr(hf, "available_bytes", lambda device: 1000)
    with pytest.raises(ConfigError, match=r"needs about .* GiB at dtype='fp32' but only .* GiB is free on cpu"):
        load(tiny_model, device="cpu")
    with pytest.raises(ConfigError, match=r"is not a local directory"):
        load(tiny_model / "missing")
    with pytest.raises(ConfigError, match=r"dtype='int4' is not allowed"):
        load(tiny_model, dtype="int4")


def test_pair_transfer_hand_computed():
    scored = pd.DataFrame({"territory": [1, 1, 1, 2, 2, 2], "relation": ["c"] * 6,
                           "language": ["en", "ru", "fr"] * 2,
                           "normalised": [True, True, False, True, False, False]})
    table = pair_transfer(scored, ["en", "ru", "fr"]).set_index(["a", "b"]).transfer
    assert table[("en", "ru")] == pytest.approx((1 / 2 + 1 / 1) / 2)  # P(ru | en) = 1/2, P(en | ru) = 1
    assert table[("en", "fr")] == 0.0 and table[("ru", "fr")] == 0.0  # fr never answers: one direction only


def test_the_memory_needed_comes_from_the_config_not_the_weight_files(tmp_path):
    import re
    import time

    from safetensors.torch import save_file

    transformers.LlamaConfig(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80, num_attention_heads=64,
                             num_key_value_heads=8, vocab_size=128256).save_pretrained(tmp_path)
    save_file({"tiny": torch.zeros(4)}, tmp_path / "model.safetensors")  # 16 bytes of weights on disk
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"needs about .* GiB at dtype='fp32' but only .* GiB is free on cpu") as err:
        load(tmp_path, device="cpu")
    assert time.perf_counter() - start < 10  # the skeleton is built on the meta device; no weight is read
    assert float(re.search(r"needs about ([\d.]+) GiB", str(err.value)).group(1)) > 70e9 * 4 / 2**30  # 70B at fp32


def test_a_directory_without_config_is_refused(tmp_path, tiny_model):
    (tmp_path / "model.safetensors").write_bytes((tiny_model / "model.safetensors").read_bytes())
    with pytest.raises(ConfigError, match=r"has no config.json"):
        required_bytes(tmp_path, "fp32")
    with pytest.raises(ConfigError, match=r"has no config.json"):
        load(tmp_path, device="cpu")


def test_required_bytes_counts_every_parameter_at_the_dtype(tiny_model):
    model, _ = load(tiny_model, device="cpu")
    weights = sum(p.numel() for p in model.parameters())
    assert required_bytes(tiny_model, "fp32") >= 4 * weights and required_bytes(tiny_model, "bf16") >= 2 * weights
    assert required_bytes(tiny_model, "fp32") == pytest.approx(2 * required_bytes(tiny_model, "bf16"), abs=2)


def test_facts_per_language_takes_the_profiles_default_for_zero_and_refuses_one():
    from crosslingual.errors import ConfigError
    from crosslingual.pretrained.hf import FACTS, facts_per_language

    assert facts_per_language("smoke", 0) == FACTS["smoke"]
    assert facts_per_language("default", 0) == FACTS["default"] == 80
    assert facts_per_language("smoke", 30) == 30
    for bad in (1, -3):
        with pytest.raises(ConfigError, match="hf_facts"):
            facts_per_language("default", bad)
    with pytest.raises(ConfigError, match="profile"):
        facts_per_language("huge", 0)
