"""Where a run trains: ``auto`` picks CUDA when present, else the CPU; an explicit ``cuda`` without a GPU is an
error, never a silent fallback to a run ten times slower."""

from __future__ import annotations

from crosslingual.core.checks import check_choice
from crosslingual.errors import ConfigError


def resolve_device(device: str) -> str:
    """``auto`` picks CUDA when present; an explicit ``cuda`` without a GPU is an error, never a fallback."""
    import torch

    check_choice("device", device, ("auto", "cpu", "cuda"))
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' was requested but no CUDA GPU is available; use 'cpu' or 'auto'")
    return device
