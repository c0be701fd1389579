"""A SentencePiece-BPE tokenizer (Gemma's kind) rebuilt from the vocabulary stored in a GGUF file.

GGUF stores such a tokenizer as pieces, scores and piece types (``tokenizer.ggml.model = "llama"``), with no merge
list. SentencePiece's BPE repeatedly joins the adjacent pair of symbols whose joined piece is in the vocabulary
with the highest score; the same result comes from a ``tokenizers`` BPE whose merges are every split of every
normal piece into two normal pieces, ranked by the joined piece's score. Spaces become the word mark U+2581 and
are not split on (Gemma's pieces run across spaces), characters outside the vocabulary fall back to their UTF-8
bytes (``<0xNN>`` pieces), user-defined pieces (runs of newlines, ...) are matched before BPE, control pieces
(``<bos>``, ``<start_of_turn>``, ...) never come from text, and ``<bos>`` is prepended, as Gemma expects.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crosslingual.pretrained.gguf_metadata import read_metadata

WORD_MARK = "\u2581"
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6  # llama.cpp's piece types


def sentencepiece_bpe(pieces: list[str], scores: np.ndarray, types: np.ndarray, *, bos: str = "<bos>",
                      eos: str = "<eos>", unk: str = "<unk>", pad: str = "<pad>"):
    """The ``tokenizers.Tokenizer`` of a SentencePiece BPE vocabulary (see the module's docstring)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, processors

    if not len(pieces) == len(scores) == len(types):
        raise ValueError(f"{len(pieces)} pieces, {len(scores)} scores and {len(types)} types: they must agree")
    vocab = {p: i for i, p in enumerate(pieces)}
    for name, token in (("bos", bos), ("eos", eos), ("unk", unk), ("pad", pad)):
        if token not in vocab:
            raise ValueError(f"the vocabulary has no {name} piece {token!r}")
    normal = {p for p, t in zip(pieces, types) if t == NORMAL}
    merges = sorted((-float(scores[i]), i, p[:k], p[k:]) for i, p in enumerate(pieces)
                    if types[i] == NORMAL for k in range(1, len(p)) if p[:k] in normal and p[k:] in normal)
    tk = Tokenizer(models.BPE(vocab, [(a, b) for *_, a, b in merges], unk_token=unk, fuse_unk=True,
                              byte_fallback=True))
    tk.normalizer = normalizers.Replace(" ", WORD_MARK)
    tk.decoder = decoders.Sequence([decoders.Replace(WORD_MARK, " "), decoders.ByteFallback(), decoders.Fuse()])
    tk.add_tokens([AddedToken(p, normalized=False, special=False) for p, t in zip(pieces, types) if t == USER_DEFINED])
    tk.add_special_tokens([AddedToken(p, special=True) for p in (bos, eos, unk, pad)])
    tk.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A $B",
                                                      special_tokens=[(bos, vocab[bos])])
    return tk


def gguf_vocabulary(path: str | Path) -> tuple[list[str], np.ndarray, np.ndarray, dict[str, int]]:
    """Pieces, scores, types and the special ids (bos, eos, unk, pad) of a GGUF file's tokenizer."""
    meta = read_metadata(path)
    if meta.get("tokenizer.ggml.model") != "llama":
        raise ValueError(f"{path}: not a SentencePiece ('llama') tokenizer")
    pieces = list(meta["tokenizer.ggml.tokens"])
    scores = np.asarray(meta["tokenizer.ggml.scores"], dtype=np.float32)
    types = np.asarray(meta["tokenizer.ggml.token_type"], dtype=np.int32)
    special = {name: int(meta[f"tokenizer.ggml.{key}_token_id"])
               for name, key in (("bos", "bos"), ("eos", "eos"), ("unk", "unknown"), ("pad", "padding"))}
    return pieces, scores, types, special
