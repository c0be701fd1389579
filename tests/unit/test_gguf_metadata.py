"""Our one-pass GGUF metadata reader against gguf-py's, on a file written by gguf-py's own writer."""

import gguf
import numpy as np
import pytest

from crosslingual.pretrained.gguf_metadata import one_reader, read_metadata
from crosslingual.pretrained.gguf_tokenizer import gguf_vocabulary

T = gguf.GGUFValueType
SCALARS = [("u8", 200, T.UINT8), ("i8", -5, T.INT8), ("u16", 60_000, T.UINT16), ("i16", -300, T.INT16),
           ("u32", 4_000_000_000, T.UINT32), ("i32", -70_000, T.INT32), ("f32", 0.25, T.FLOAT32),
           ("flag", True, T.BOOL), ("u64", 2**60, T.UINT64), ("i64", -(2**40), T.INT64), ("f64", 1e-300, T.FLOAT64)]
PIECES = ["<pad>", "<eos>", "<bos>", "<unk>", "\u2581der", "Жи", "漢字", "", "<0x0A>", "\u2581\u2581"]


def write(path, pieces=PIECES):
    w = gguf.GGUFWriter(str(path), "llama")
    for key, value, kind in SCALARS:
        w.add_key_value(f"test.{key}", value, kind)
    w.add_string("test.name", "ein Name – 名前")
    w.add_array("test.floats", [0.5, -1.5, 3.0])
    w.add_key_value("test.nested", [[1, 2], [3]], T.ARRAY, sub_type=T.ARRAY)
    w.add_string("tokenizer.ggml.model", "llama")
    w.add_array("tokenizer.ggml.tokens", pieces)
    w.add_array("tokenizer.ggml.scores", [-float(i) for i in range(len(pieces))])
    w.add_array("tokenizer.ggml.token_type", [3, 3, 3, 2, 1, 1, 1, 1, 6, 4][:len(pieces)])
    for i, key in enumerate(("padding", "eos", "bos", "unknown")):
        w.add_uint32(f"tokenizer.ggml.{key}_token_id", i)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_every_value_type_reads_as_gguf_py_reads_it(tmp_path):
    path = write(tmp_path / "m.gguf")
    meta = read_metadata(path)
    fields = gguf.GGUFReader(str(path)).fields
    assert set(meta) == {k for k in fields if not k.startswith("GGUF.")}  # gguf-py adds the header as keys
    for key, value, _ in SCALARS:
        assert meta[f"test.{key}"] == pytest.approx(value) and meta[f"test.{key}"] == fields[f"test.{key}"].contents()
    assert meta["test.name"] == "ein Name – 名前"
    assert meta["general.architecture"] == "llama"
    assert meta["test.floats"].dtype == np.float32 and meta["test.floats"].tolist() == [0.5, -1.5, 3.0]
    assert [list(x) for x in meta["test.nested"]] == [[1, 2], [3]]
    assert meta["tokenizer.ggml.tokens"] == PIECES == fields["tokenizer.ggml.tokens"].contents()


def test_vocabulary_of_a_sentencepiece_file(tmp_path):
    pieces, scores, types, special = gguf_vocabulary(write(tmp_path / "m.gguf"))
    assert pieces == PIECES
    assert scores.dtype == np.float32 and scores.tolist() == [-float(i) for i in range(len(PIECES))]
    assert types.dtype == np.int32 and types[-2:].tolist() == [6, 4]
    assert special == {"pad": 0, "eos": 1, "bos": 2, "unk": 3}


def test_bad_files_are_refused(tmp_path):
    (tmp_path / "x.gguf").write_bytes(b"GGML" + bytes(20))
    with pytest.raises(ValueError, match="not a GGUF file"):
        read_metadata(tmp_path / "x.gguf")
    (tmp_path / "v.gguf").write_bytes(b"GGUF" + (1).to_bytes(4, "little") + bytes(16))
    with pytest.raises(ValueError, match="version 1"):
        read_metadata(tmp_path / "v.gguf")
    w = gguf.GGUFWriter(str(tmp_path / "bpe.gguf"), "llama")
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(ValueError, match="not a SentencePiece"):
        gguf_vocabulary(tmp_path / "bpe.gguf")


def test_one_reader_parses_a_file_once_and_leaves_others_alone(tmp_path):
    a, b = write(tmp_path / "a.gguf"), write(tmp_path / "b.gguf", PIECES[:9])
    original = gguf.GGUFReader
    with one_reader(a):
        first, again, other = gguf.GGUFReader(str(a)), gguf.GGUFReader(a), gguf.GGUFReader(str(b))
        assert first is again and other is not first
        assert len(other.fields["tokenizer.ggml.tokens"].data) == 9
    assert gguf.GGUFReader is original
    with pytest.raises(RuntimeError), one_reader(a):
        raise RuntimeError("restored even after an error")
    assert gguf.GGUFReader is original
