"""Answer accuracy: argmax over the full vocabulary at the position that predicts the value token."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def answer_logits(logits: torch.Tensor) -> torch.Tensor:
    """Logits ``[B, vocab]`` at the last query position of ``[B, T, vocab]`` model outputs on full sequences."""
    return logits[:, -2, :]


def answer_accuracy(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Per-query correctness ``[B]`` (bool) of the model's answer on full sequences ``tokens``."""
    return answer_logits(logits).argmax(-1) == tokens[:, -1]


def answer_loss(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the value token."""
    return F.cross_entropy(answer_logits(logits).float(), tokens[:, -1])
