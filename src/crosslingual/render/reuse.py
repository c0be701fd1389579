"""The worked example on the page "Use it on your own model" (``book/reuse.md``): the build executes
``book/reuse_example.py`` as it stands, in a fresh interpreter, and the page shows that file and what it printed,
so that the code a reader copies is the code whose output they see. The output is kept beside the book's pages
and reused while the file, the package and the installed model are unchanged (a second build stays fast); where
the model is not installed the page says so, with the command that installs it, and runs nothing."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

from crosslingual.files import write_atomic
from crosslingual.pretrained.wheels import installed, source
from crosslingual.render.executed_cache import code_digest

EXAMPLE = Path("book") / "reuse_example.py"  # relative to the repository root
MODEL = "multilingual-e5-small"  # the shipped model the example loads
PAGE = "reuse_example.md"  # written next to the chapters' pages; book/reuse.md includes it
RECORD = ".reuse_example.json"  # the last execution: its key, output and seconds
TIMEOUT = 900  # seconds: an example that runs longer is a fault of the example, reported as such


def _key(code: str) -> str:
    payload = {"code": code, "package": code_digest(), "model": source(MODEL).sha256, "python": sys.version}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def execute(root: Path, experiments: Path) -> dict | None:
    """Run the example (or reuse its last output) and return ``{"output", "seconds", "reused"}``; ``None`` where
    its model is not installed. A failing example stops the build with its stderr: the page never shows a stale
    or partial output."""
    if not installed(MODEL):
        return None
    code = (root / EXAMPLE).read_text()
    key = _key(code)
    record = experiments / RECORD
    if record.is_file():
        kept = json.loads(record.read_text())
        if kept.get("key") == key:
            return {**kept, "reused": True}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(root / EXAMPLE)], cwd=root, capture_output=True, text=True,
                          timeout=TIMEOUT)
    if done.returncode:
        raise RuntimeError(f"{EXAMPLE} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    result = {"key": key, "output": done.stdout.rstrip(), "seconds": time.perf_counter() - start}
    write_atomic(record, json.dumps(result).encode())
    return {**result, "reused": False}


def example_markdown(code: str, result: dict | None) -> str:
    """The included section: the file, then its output and what it cost, or why it did not run."""
    listing = f"```python\n{code.rstrip()}\n```"
    if result is None:
        return (f"{listing}\n\n:::{{admonition}} Not run in this build\n:class: crosslingual-absent\n\n"
                f"`{MODEL}` is not installed, so this build did not execute the example: `make models` installs the "
                f"shipped models, and the next `make book` runs it and shows its output here.\n:::\n")
    when = "an earlier build" if result["reused"] else "this build"
    return (f"{listing}\n\nWhat it printed when {when} executed it (`python {EXAMPLE}` from the repository root, "
            f"{result['seconds']:z.0f} s including loading the model):\n\n```text\n{result['output']}\n```\n")


def write_page(root: Path, experiments: Path) -> dict | None:
    """Execute (or reuse) the example and write the section that ``book/reuse.md`` includes; returns what
    :func:`execute` returned."""
    result = execute(root, experiments)
    write_atomic(experiments / PAGE, example_markdown((root / EXAMPLE).read_text(), result).encode())
    return result
