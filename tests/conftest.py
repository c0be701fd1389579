"""Shared fixtures: every test that trains gets its own run store, so the user's runs/ is never touched."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def store(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    monkeypatch.setenv("CROSSLINGUAL_RUNS", str(root))
    return root
