"""The render tier: execute every experiment notebook with papermill, then build the Jupyter Book.

Notebooks run one after another, each in its own kernel process (papermill is process-safe, not
thread-safe); the book is built with ``execute_notebooks: "off"`` from the executed copies, with warnings as
errors. ``out`` builds a copy (the test suite's smoke book) without touching the checkout's own book.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from crosslingual.config import PROFILES, ConfigError

BOOK_FILES = ("_config.yml", "_toc.yml", "book")


def notebooks(root: Path) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def execute_notebooks(root: Path, dest: Path, profile: str, parameters: dict | None = None) -> list[Path]:
    """Run each notebook at ``profile`` into ``dest``; returns the executed copies."""
    import papermill

    dest.mkdir(parents=True, exist_ok=True)
    done = []
    for nb in notebooks(root):
        out = dest / nb.name
        start = time.perf_counter()
        papermill.execute_notebook(str(nb), str(out), parameters={"profile": profile, **(parameters or {})},
                                   kernel_name="python3", progress_bar=False, cwd=str(root))
        print(f"executed {nb.name} at profile={profile} in {time.perf_counter() - start:.0f} s", flush=True)
        done.append(out)
    return done


def build_book(root: Path, profile: str = "default", out: Path | None = None) -> Path:
    """Execute the notebooks and build the HTML; returns the path of ``index.html``."""
    if profile not in PROFILES:
        raise ConfigError(f"profile={profile!r} is not allowed: choose one of {', '.join(map(repr, PROFILES))}")
    root = root.resolve()
    target = root if out is None else out.resolve()
    if out is not None:
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for name in BOOK_FILES:
            src = root / name
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, target / name)
        shutil.rmtree(target / "book" / "experiments", ignore_errors=True)
    execute_notebooks(root, target / "book" / "experiments", profile)
    jb = Path(sys.executable).with_name("jupyter-book")
    subprocess.run([str(jb), "build", "-W", "--builder", "html", str(target)], check=True)
    return target / "_build" / "html" / "index.html"
