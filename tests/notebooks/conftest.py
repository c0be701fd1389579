"""The smoke book, built once per test session and shared by the render checks and the browser test."""

from __future__ import annotations

from pathlib import Path

import pytest
from smoke_paths import ROOT, SMOKE


@pytest.fixture(scope="session")
def smoke_book() -> Path:
    """Execute every notebook at profile=smoke and build the book strictly (-W); returns index.html."""
    from crosslingual.render.build import build_book

    return build_book(ROOT, profile="smoke", out=SMOKE / "book")
