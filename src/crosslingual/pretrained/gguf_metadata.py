"""The key-value metadata of a GGUF file, read in one pass; and one parse of a file shared by every reader of it.

gguf-py's ``GGUFReader`` builds a numpy view for every element of every array, so a 262,144-piece vocabulary (Gemma
3's pieces, scores and types) takes it about 20 s on one core, and transformers' GGUF loader builds two readers of
the same file (one for the config, one for the weights). The metadata is a flat sequence of little-endian records
(GGUF versions 2 and 3): :func:`read_metadata` reads it in well under a second, numeric arrays as numpy arrays and
strings as UTF-8; :func:`one_reader` makes every ``GGUFReader`` of one file the same parsed object while a
conversion runs. Tensors are not read here (transformers and gguf-py dequantise them).
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"GGUF"
VERSIONS = (2, 3)
STRING, ARRAY = 8, 9
SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
ARRAYS = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "?", 10: "<u8", 11: "<i8",
          12: "<f8"}


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Every key of the file's metadata: scalars as Python numbers, strings as ``str``, numeric arrays as numpy
    arrays of the stored type, arrays of strings (or of arrays) as lists."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        if mm[:4] != MAGIC:
            raise ValueError(f"{path}: not a GGUF file (no GGUF magic)")
        version, _, n_kv = struct.unpack_from("<IQQ", mm, 4)
        if version not in VERSIONS:
            raise ValueError(f"{path}: GGUF version {version} is not read here (versions {VERSIONS}, "
                             "little-endian)")
        out, pos = {}, 24
        for _ in range(n_kv):
            key, pos = _string(mm, pos)
            (kind,) = struct.unpack_from("<I", mm, pos)
            out[key], pos = _value(mm, pos + 4, kind, path)
        return out


def _string(mm: mmap.mmap, pos: int) -> tuple[str, int]:
    (n,) = struct.unpack_from("<Q", mm, pos)
    return str(mm[pos + 8:pos + 8 + n], "utf-8"), pos + 8 + n


def _value(mm: mmap.mmap, pos: int, kind: int, path: str | Path) -> tuple[Any, int]:
    if kind == STRING:
        return _string(mm, pos)
    if kind in SCALARS:
        return struct.unpack_from(SCALARS[kind], mm, pos)[0], pos + struct.calcsize(SCALARS[kind])
    if kind != ARRAY:
        raise ValueError(f"{path}: unknown GGUF value type {kind} at byte {pos}")
    item, count = struct.unpack_from("<IQ", mm, pos)
    pos += 12
    if item in ARRAYS:
        values = np.frombuffer(mm, dtype=ARRAYS[item], count=count, offset=pos).copy()
        return values, pos + values.nbytes
    items = []
    for _ in range(count):
        value, pos = _string(mm, pos) if item == STRING else _value(mm, pos, item, path)
        items.append(value)
    return items, pos


@contextmanager
def one_reader(path: str | Path) -> Iterator[None]:
    """Within the block, ``gguf.GGUFReader(path)`` returns one reader of ``path``, parsed once (transformers imports
    the class from ``gguf`` at each call); readers of other files are built as usual."""
    import gguf

    original, target = gguf.GGUFReader, Path(path).resolve()
    reader = original(str(path))

    def shared(file: str | Path, *args, **kwargs):
        return reader if Path(file).resolve() == target and not args and not kwargs else original(file, *args, **kwargs)

    gguf.GGUFReader = shared
    try:
        yield
    finally:
        gguf.GGUFReader = original
