"""Faults of loading local Hugging Face models: weight files that do not fill the model their config describes are
refused in one line (not initialised at random), and a model path is checked before a chapter does any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")

from safetensors.torch import load_file, save_file  # noqa: E402

from crosslingual.errors import ConfigError  # noqa: E402
from crosslingual.pretrained.hf import load  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HF_CHAPTERS = [ROOT / "notebooks" / "08_real_strings.ipynb", ROOT / "notebooks" / "09_embedding_geometry.ipynb"]


def _save_tokenizer(path: Path) -> None:
    """A word-level tokenizer of 29 pieces (three special, the Latin letters) beside a model."""
    from tokenizers import Tokenizer, models

    vocab = {"<unk>": 0, "<pad>": 1, "<eos>": 2, **{chr(97 + i): i + 3 for i in range(26)}}
    transformers.PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<unk>")),
                                         unk_token="<unk>", pad_token="<pad>", eos_token="<eos>").save_pretrained(path)


def _llama(path: Path, tie: bool = True) -> Path:
    """A tiny LLaMA (d 64, 2 layers; rotary ``inv_freq`` is a buffer that is never saved) with a tokenizer."""
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=32, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                                      tie_word_embeddings=tie, eos_token_id=2, pad_token_id=1)
    transformers.LlamaForCausalLM(config).save_pretrained(path)
    _save_tokenizer(path)
    return path


def _edit_weights(path: Path, edit) -> Path:
    weights = load_file(path / "model.safetensors")
    save_file(edit(weights), path / "model.safetensors")
    return path


def _one_line_refusal(path: Path, kind: str, pattern: str) -> str:
    with pytest.raises(ConfigError, match=pattern) as err:
        load(path, kind=kind, device="cpu")
    message = str(err.value)
    assert "\n" not in message and repr(str(path)) in message, message
    return message


@pytest.mark.parametrize("kind", ["causal", "base"])
def test_a_config_beside_unrelated_weights_is_refused_not_initialised_at_random(tmp_path, kind):
    path = _llama(tmp_path)
    save_file({"x": torch.zeros(2, 2)}, path / "model.safetensors")  # every weight of the config is missing
    # three of the 20 missing weights (21 with the causal head) named, then how many more
    _one_line_refusal(path, kind, r"weight files do not match its config.json \(missing [\w.]+, [\w.]+, [\w.]+ and "
                                  r"1[78] more")


@pytest.mark.parametrize("kind", ["causal", "base"])
def test_an_extra_tensor_inside_the_model_is_refused(tmp_path, kind):
    path = _edit_weights(_llama(tmp_path), lambda w: {**w, "model.layers.0.mlp.extra.weight": torch.ones(3)})
    _one_line_refusal(path, kind, r"unexpected .*layers\.0\.mlp\.extra\.weight")


@pytest.mark.parametrize("kind", ["causal", "base"])
def test_a_wrong_shaped_tensor_is_refused_in_one_line(tmp_path, kind):
    path = _edit_weights(_llama(tmp_path), lambda w: {**w, "model.norm.weight": torch.ones(65)})
    _one_line_refusal(path, kind, r"mis-shaped .*norm\.weight \(\[65\] in the file, \[64\] in the model\)")


@pytest.mark.parametrize("tie", [True, False])
def test_a_matching_model_loads_as_both_kinds_with_its_tied_embeddings(tmp_path, tie):
    path = _llama(tmp_path, tie)
    saved = load_file(path / "model.safetensors")
    assert ("lm_head.weight" in saved) != tie  # a tied head is not in the file: it is not "missing"
    model, _ = load(path, device="cpu")
    assert torch.equal(model.get_input_embeddings().weight, saved["model.embed_tokens.weight"])
    assert torch.equal(model.lm_head.weight, saved["model.embed_tokens.weight" if tie else "lm_head.weight"])
    # a bare stack ignores the untied head of a causal checkpoint: it is not one of its own weights
    base, _ = load(path, kind="base", device="cpu")
    assert torch.equal(base.norm.weight, saved["model.norm.weight"])


def test_a_bare_stack_from_a_masked_lm_checkpoint_loads_without_its_pooler(tmp_path):
    """XLM-R's checkpoint is a masked LM: a head the bare stack does not use, and no pooler."""
    config = transformers.XLMRobertaConfig(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                           intermediate_size=32, max_position_embeddings=40)
    transformers.XLMRobertaForMaskedLM(config).save_pretrained(tmp_path)
    _save_tokenizer(tmp_path)
    model, _ = load(tmp_path, kind="base", device="cpu")
    assert torch.equal(model.get_input_embeddings().weight,
                       load_file(tmp_path / "model.safetensors")["roberta.embeddings.word_embeddings.weight"])


def test_check_model_dir_gives_the_messages_load_gives(tmp_path):
    from crosslingual.pretrained.hf import check_model_dir

    path = _llama(tmp_path / "m")
    assert check_model_dir(path) == path
    cases = [(tmp_path / "nonexistent", "is not a local directory"), (tmp_path, "has no config.json"),
             (tmp_path / "no_weights", "has no weight files")]
    (tmp_path / "no_weights").mkdir()
    (tmp_path / "no_weights" / "config.json").write_bytes((path / "config.json").read_bytes())
    for bad, message in cases:
        with pytest.raises(ConfigError, match=message) as checked:
            check_model_dir(bad)
        with pytest.raises(ConfigError) as loaded:
            load(bad, device="cpu")
        assert str(checked.value) == str(loaded.value) and repr(str(bad)) in str(checked.value)


def _validation_cell(path: Path) -> str:
    """The source of the first code cell after the ``parameters`` cell, where a chapter checks its parameters."""
    cells = json.loads(path.read_text())["cells"]
    index = next(i for i, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", []))
    return "".join(next(c for c in cells[index + 1:] if c["cell_type"] == "code")["source"])


@pytest.mark.parametrize("path", HF_CHAPTERS, ids=lambda p: p.name)
def test_the_chapters_check_hf_model_in_their_validation_cell(path):
    assert "if hf_model:\n    check_model_dir(hf_model)\n" in _validation_cell(path)


@pytest.mark.slow
@pytest.mark.parametrize("path", HF_CHAPTERS, ids=lambda p: p.name)
def test_papermill_fails_on_a_missing_hf_model_in_the_validation_cell(path, tmp_path, store):
    import papermill

    missing = str(tmp_path / "nonexistent")
    with pytest.raises(papermill.PapermillExecutionError, match="is not a local directory") as err:
        papermill.execute_notebook(str(path), str(tmp_path / "out.ipynb"), kernel_name="python3",
                                   parameters={"profile": "smoke", "hf_model": missing}, progress_bar=False,
                                   cwd=str(ROOT))
    assert err.value.ename == "ConfigError" and missing in err.value.evalue
    assert err.value.exec_count <= 3  # the parameters cell, papermill's, then the validation cell
