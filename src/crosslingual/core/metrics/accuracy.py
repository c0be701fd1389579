"""Answer accuracy: argmax over the full vocabulary at the position that predicts the value token."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def answer_accuracy(answer_logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Per-query correctness ``[B]`` (bool): the argmax of the logits ``[B, vocab]`` that predict the value
    token of the full sequences ``tokens [B, T]`` (their last token) is that token."""
    return answer_logits.argmax(-1) == tokens[:, -1]


def answer_loss(answer_logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the value token under the logits ``[B, vocab]`` that predict it."""
    return F.cross_entropy(answer_logits.float(), tokens[:, -1])
