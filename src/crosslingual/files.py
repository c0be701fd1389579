"""Writing files safely: atomic writes, and one clear error for a path that cannot take them.

The bytes are made in memory first and written to a temporary name in the target's directory, then renamed
over the target: a reader sees the old file or the new one, never a partial one, and a failed write (a full
disk, an interrupt) removes its temporary file. Serialising to bytes first also means every failure of the
disk is a plain ``OSError`` with its ``errno`` (libraries that write files themselves raise their own types),
which :func:`write_errors` turns into one :class:`StoreError` naming the path.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from crosslingual.errors import StoreError

# errors of the file system that the user can fix, as opposed to bugs, which keep their traceback
_USER_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST,
                errno.EISDIR}


@contextmanager
def write_errors(path: Path, what: str, remedy: str, *, output: bool = False) -> Iterator[None]:
    """Turn a full disk, a read-only directory or a file in the way into one :class:`StoreError`:
    ``"{what} {path}: {reason} ({file}); {remedy}"``. For an ``output`` path a file that cannot be created (a
    pseudo file system such as /proc) is the user's error too; inside the run store it would be a bug."""
    try:
        yield
    except OSError as err:
        if err.errno not in _USER_ERRNOS and not (output and err.errno == errno.ENOENT):
            raise
        raise StoreError(f"{what} {path}: {err.strerror} ({err.filename or path}); {remedy}") from err


class NotRegularFile(OSError):
    """A path that should hold a file's bytes is a FIFO, a socket, a device or a directory."""


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading, only if it is a regular file (symbolic links followed). Opening a FIFO to read
    blocks until a writer appears, so a FIFO planted where a run's file belongs hung ``runs verify`` and ``runs ls``
    for ever: the file is opened without blocking and refused with :class:`NotRegularFile` unless it is a regular
    file, so nothing that reads the store can hang on what it finds there."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path) -> bytes:
    """The bytes of a regular file (:func:`open_regular`)."""
    with open_regular(path) as f:
        return f.read()


def temporary_name(path: Path) -> Path:
    """Where ``write_atomic`` puts the bytes before the rename (hidden, with the writer's pid)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_atomic(path: Path, data: bytes) -> None:
    tmp = temporary_name(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def sha256_file(path: Path) -> str:
    """The SHA-256 of a regular file, read in blocks (a FIFO or a folder in its place is :class:`NotRegularFile`)."""
    h = hashlib.sha256()
    with open_regular(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def remove_entry(path: Path) -> None:
    """Remove one entry; a symbolic link is removed itself, never what it points to."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)

