"""Writing files safely: atomic writes, and one clear error for a path that cannot take them.

The bytes are made in memory first and written to a temporary name in the target's directory, then renamed
over the target: a reader sees the old file or the new one, never a partial one, and a failed write (a full
disk, an interrupt) removes its temporary file. Serialising to bytes first also means every failure of the
disk is a plain ``OSError`` with its ``errno`` (libraries that write files themselves raise their own types),
which :func:`write_errors` turns into one :class:`StoreError` naming the path.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


class StoreError(RuntimeError):
    """The run store or an output path cannot be used as it is (a file where a directory should be, read-only,
    full); the message names the path and what is wrong."""


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
