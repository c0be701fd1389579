"""Chapter 08's real-model section, run end to end on a tiny random Llama saved to disk (nothing downloaded)."""

from __future__ import annotations

import nbformat
import pytest
from smoke_paths import ROOT

transformers = pytest.importorskip("transformers")
pytest.importorskip("babel")


def _tiny_model(path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    from crosslingual.data.cldr import facts

    table = facts()
    chars = sorted(set("".join(table.prompt) + "".join(table.value_name)))
    vocab = {"<unk>": 0, "<pad>": 1, "<eos>": 2, **{c: i + 3 for i, c in enumerate(chars)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>",
                                                     eos_token="<eos>")
    cfg = transformers.LlamaConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                   num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                                   bos_token_id=2, eos_token_id=2, pad_token_id=1)
    transformers.LlamaForCausalLM(cfg).save_pretrained(path)
    tokenizer.save_pretrained(path)


def test_the_real_model_section_runs_on_a_local_model(tmp_path):
    import papermill

    _tiny_model(tmp_path / "model")
    out = tmp_path / "10.ipynb"
    papermill.execute_notebook(str(ROOT / "notebooks" / "08_real_strings.ipynb"), str(out), kernel_name="python3",
                               parameters={"profile": "smoke", "hf_model": str(tmp_path / "model"), "hf_dtype": "fp32",
                                           "hf_languages": "en,ru,fr", "hf_facts": 8},
                               progress_bar=False, cwd=str(ROOT))
    executed = nbformat.read(out, as_version=4)
    text = "".join(str(o.get("data", {})) for c in executed.cells for o in c.get("outputs", []))
    assert "R8" in text and "language pairs" in text and "no local model given" not in text
