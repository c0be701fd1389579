"""One process trains a run: a lock file in its directory (host, pid and the process's start time, with a
heartbeat) keeps a second from training it too. A lock whose owner is gone (dead, its pid now another process's,
or a cluster node whose heartbeat stopped), or that cannot be read, is reported and taken over by exactly one
waiting process, and every wait says on stderr what it waits for.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from crosslingual.files import read_regular
from crosslingual.store.layout import DONE, LOCK, TAKEOVER

# A held lock's mtime is refreshed every LOCK_HEARTBEAT_S; a lock that has not been refreshed for LOCK_STALE_S
# belongs to a dead process when its owner cannot be identified otherwise: one of another host (a cluster node),
# whose pid cannot be checked from here, or one without the owner's start time (written by an older version, or on
# a system without /proc), whose pid may since have been given to another process. A lock is written in the
# microseconds after its creation, so one still unreadable after LOCK_GRACE_S is garbage.
LOCK_HEARTBEAT_S, LOCK_STALE_S, LOCK_GRACE_S = 30.0, 300.0, 10.0
LOCK_REPORT_S = 30.0  # how often a waiting process says again what it waits for
_HEARTBEATS: dict[Path, threading.Event] = {}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A killed process that its parent has not reaped yet still answers ``kill(pid, 0)`` (Linux only)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def process_start(pid: int) -> str | None:
    """What tells a process from a later one given the same pid: the boot's id and the process's start time in
    clock ticks since boot (``/proc``; None where it cannot be read). A pid alone is no proof of ownership: pids
    are recycled, so a lock naming a live pid may name a shell, or pid 1, hours after its owner died."""
    try:
        ticks = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except (OSError, IndexError):
        return None
    return f"{boot}/{ticks}"


def _lock_owner(lock: Path) -> tuple[str, int, str | None] | None:
    """``(host, pid, start)`` of a lock file, ``start`` None in a lock without it (an older version's, or written
    where ``/proc`` is absent); None when the file is unreadable or not a regular file."""
    try:
        host, pid, *start = read_regular(lock).decode().split()
        if len(start) > 1:
            return None
        return host, int(pid), start[0] if start else None
    except (OSError, ValueError):
        return None


def describe_lock(lock: Path) -> tuple[str, str | None, os.stat_result | None]:
    """``(who holds it, why its owner is gone or None while it may be alive, the stat the verdict is based on)``."""
    try:
        seen = lock.stat()
    except FileNotFoundError:
        return "nobody", "it was released", None
    age = time.time() - seen.st_mtime
    owner = _lock_owner(lock)
    if owner is None:
        who = f"an unreadable lock file written {age:.0f} s ago"
        return who, (f"{who}, taken over after {LOCK_GRACE_S:.0f} s" if age > LOCK_GRACE_S else None), seen
    host, pid, start = owner
    stale = age > LOCK_STALE_S
    if host != socket.gethostname():
        who = f"process {pid} on {host} (heartbeat {age:.0f} s ago)"
        return who, (f"{who}: no heartbeat for {LOCK_STALE_S:.0f} s" if stale else None), seen
    who = f"process {pid} on this host"
    if not pid_alive(pid):
        return who, f"{who} is gone", seen
    now = process_start(pid)
    if start is not None and now is not None:
        return who, (None if now == start else f"{who} is gone (pid {pid} now belongs to a later process)"), seen
    # the owner cannot be identified: only its heartbeat says that it is alive
    who = f"process {pid} on this host (heartbeat {age:.0f} s ago)"
    return who, (f"{who}: no heartbeat for {LOCK_STALE_S:.0f} s, and a pid alone does not prove its owner is alive"
                 if stale else None), seen


def _take_over(lock: Path, reason: str, seen: os.stat_result | None) -> bool:
    """Remove a lock whose owner is gone. Several waiting processes may judge it so at once: the removal happens
    under a second, short-lived exclusive file, and only if the lock is still the file that was judged (same
    inode and mtime), so no process ever removes a lock that another has just taken."""
    if seen is None:
        return True  # released meanwhile: try again
    guard = lock.with_name(TAKEOVER)
    try:
        os.close(os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        with suppress(FileNotFoundError):
            if time.time() - guard.stat().st_mtime > LOCK_GRACE_S:  # its process died while holding it
                guard.unlink()
        return False
    try:
        now = lock.stat()
        if (now.st_ino, now.st_mtime_ns) == (seen.st_ino, seen.st_mtime_ns):
            warnings.warn(f"run {lock.parent.name}: taking over its lock ({reason})", stacklevel=4)
            lock.unlink()
    except FileNotFoundError:
        pass
    finally:
        guard.unlink(missing_ok=True)
    return True


def try_lock(directory: Path) -> bool:
    """Take the run's lock if it is free, or if its owner is gone (a dead process on this host, a cluster node
    whose heartbeat stopped, an unreadable lock file); while held, a daemon thread keeps its mtime fresh."""
    lock = directory / LOCK
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            _, gone, seen = describe_lock(lock)
            if (directory / DONE).exists():
                gone = "the run is finished"
            if gone is None or not _take_over(lock, gone, seen):
                return False
            continue
        try:
            os.write(fd, " ".join([socket.gethostname(), str(os.getpid()), process_start(os.getpid()) or ""]
                                  ).strip().encode())
        except BaseException:
            os.close(fd)
            lock.unlink(missing_ok=True)
            raise
        os.close(fd)
        stop = _HEARTBEATS[directory] = threading.Event()
        threading.Thread(target=_heartbeat, args=(lock, stop), daemon=True).start()
        return True


def _heartbeat(lock: Path, stop: threading.Event) -> None:
    while not stop.wait(LOCK_HEARTBEAT_S):
        try:
            os.utime(lock)
        except OSError:
            return


def release_lock(directory: Path) -> None:
    stop = _HEARTBEATS.pop(directory, None)
    if stop is not None:
        stop.set()
    (directory / LOCK).unlink(missing_ok=True)


@contextmanager
def run_lock(directory: Path, poll_s: float = 0.5) -> Iterator[None]:
    """Exclusive lock on a run directory, waiting while another live process holds it, and saying on stderr
    what it waits for (at once, then every ``LOCK_REPORT_S``)."""
    start = time.monotonic()
    reported = None
    while not try_lock(directory):
        now = time.monotonic()
        if reported is None or now - reported >= LOCK_REPORT_S:
            who, _, _ = describe_lock(directory / LOCK)
            print(f"run {directory.name}: waiting for {who}, which is training it; waited {now - start:.0f} s",
                  file=sys.stderr, flush=True)
            reported = now
        time.sleep(poll_s)
    try:
        yield
    finally:
        release_lock(directory)
