"""What a sweep is told besides its grid: the Dask scheduler's address (``--scheduler``,
``$CROSSLINGUAL_SCHEDULER``) and the worker count (``$CROSSLINGUAL_WORKERS``). A bad one is one line naming what
is allowed, within seconds, before anything trains; a server that is not a Dask scheduler (it never answers, or
answers as a web server) fails as fast as one that refuses the connection."""

from __future__ import annotations

import http.server
import os
import re
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from crosslingual.cli import main as cli
from crosslingual.core.config import make_config
from crosslingual.errors import ConfigError
from crosslingual.store.sweep import SCHEDULER_ENV, WORKERS_ENV, default_workers, run_many

SWEEP = ["sweep", "information", "--profile", "smoke", "--seeds", "1"]
ALLOWED = "(--scheduler or $CROSSLINGUAL_SCHEDULER) is not allowed: a Dask scheduler's address, tcp://HOST:PORT or " \
          "tls://HOST:PORT"
SERVER_S = 20  # how long a test's server keeps a connection open, at most: bounds the test on a sweep that hangs


# loopback hosts only: a sweep that did not check the form would try to reach them
@pytest.mark.parametrize("address", ["not-a-url", "127.0.0.1:9", "tcp://localhost", "tcp://127.0.0.1:99999",
                                     "tcp://127.0.0.1:port", "http://127.0.0.1:9", "tcp://[::1:9",
                                     "tcp://127.0.0.1:9/path"])
def test_a_malformed_scheduler_address_is_one_line_naming_the_allowed_form(address, store, capsys):
    assert cli([*SWEEP, "--scheduler", address]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"error: scheduler={address!r} {ALLOWED}" in err, err


def test_a_malformed_scheduler_in_the_environment_fails_run_many_before_any_work(store, monkeypatch):
    monkeypatch.setenv(SCHEDULER_ENV, "127.0.0.1:9")  # no scheme
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"scheduler='127.0.0.1:9' \(--scheduler or"):
        run_many([make_config("smoke", steps=10)], progress=False)
    assert time.monotonic() - start < 2 and not store.exists()


class _Silent(socketserver.BaseRequestHandler):
    """Accepts the connection and never answers (until the test ends, or ``SERVER_S``)."""

    def handle(self) -> None:
        self.server.ended.wait(SERVER_S)


class _Web(http.server.BaseHTTPRequestHandler):
    """A web server: answers Dask's handshake with an HTTP error."""

    def log_message(self, *args) -> None:
        pass


@contextmanager
def _server(handler: type) -> Iterator[str]:
    """A server on 127.0.0.1, in a thread, for the length of the block; its ``tcp://`` address."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads, server.ended = True, threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.server_address[1]}"
    finally:
        server.ended.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("handler", [_Silent, _Web], ids=["silent", "web server"])
def test_a_server_that_is_not_dask_fails_the_sweep_within_seconds_in_one_line(handler, tmp_path):
    pytest.importorskip("distributed")
    env = {**os.environ, "CROSSLINGUAL_RUNS": str(tmp_path / "runs")}
    with _server(handler) as address:
        start = time.monotonic()
        try:
            done = subprocess.run([sys.executable, "-m", "crosslingual.cli", *SWEEP, "--scheduler", address], env=env,
                                  check=False, capture_output=True, text=True, timeout=SERVER_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the sweep was still waiting for {address} after {SERVER_S} s")
        seconds = time.monotonic() - start
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"error: scheduler={address!r}: no Dask scheduler answered within 5 s" in done.stderr, done.stderr
    assert seconds < 15, seconds  # the 5 s limit, the interpreter's start and the imports (about 3 s on 2 cores)


@pytest.mark.parametrize("value", ["²", "٣", "3²", "+2", "1_0"])
def test_a_worker_count_in_other_than_ascii_digits_is_one_line(value, store, monkeypatch, capsys):
    monkeypatch.setenv(WORKERS_ENV, value)
    with pytest.raises(ConfigError, match=re.escape(f"{WORKERS_ENV}={value!r} is not allowed: a whole number from 1")):
        default_workers()
    assert cli([*SWEEP]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{WORKERS_ENV}={value!r} is not allowed" in err, err
