"""Unification of a fact's representations across languages, retrieval@1 and the checkerboard matrix.

All functions take representations ``h`` of shape ``[..., K, F, d]``: K languages, F facts (the same facts in
the same order in every language), any leading batch dimensions (layers, checkpoints). Our definition
(the Method page of the book, "Metrics"; the paper left it under-specified):

    U = mean_f cos(h_a(f), h_b(f)) - mean_f mean_{f' != f, same relation} cos(h_a(f), h_a(f')),

averaged over ordered language pairs (a, b), after mean-centring all K*F rows (``center=True``). The
same-relation baseline matters: with any other fact as the baseline the score rises as soon as the
representation encodes the relation, long before it encodes the fact (``baseline="any"`` keeps that variant).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _prepare(h: torch.Tensor, center: bool) -> torch.Tensor:
    h = h.float()
    if center:
        h = h - h.mean(dim=(-3, -2), keepdim=True)
    return F.normalize(h, dim=-1)


def _cross_language_cosines(hn: torch.Tensor) -> torch.Tensor:
    """``[..., K, K, F]`` cosine of fact f between languages a and b."""
    return torch.einsum("...afd,...bfd->...abf", hn, hn)


def unification_score(h: torch.Tensor, relation: torch.Tensor, *, center: bool = True,
                      baseline: str = "same_relation") -> torch.Tensor:
    """Unification score per leading index (a scalar tensor for ``[K, F, d]`` input)."""
    if baseline not in ("same_relation", "any"):
        raise ValueError(f"baseline={baseline!r} must be 'same_relation' or 'any'")
    K, Fn = h.shape[-3], h.shape[-2]
    if K < 2:
        raise ValueError("unification needs at least two languages")
    hn = _prepare(h, center)
    off_diag = ~torch.eye(Fn, dtype=torch.bool, device=h.device)
    negatives = off_diag & (relation[:, None] == relation[None, :]) if baseline == "same_relation" else off_diag
    valid = negatives.any(-1)  # facts that have at least one negative
    if not valid.any():
        raise ValueError("no fact has a same-relation negative; use more facts per relation")
    weights = negatives.float() / negatives.sum(-1, keepdim=True).clamp(min=1)
    within = torch.einsum("...kfd,...kgd->...kfg", hn, hn)  # [..., K, F, F]
    base = (within * weights).sum(-1)[..., valid].mean(-1).mean(-1)  # mean over facts, then languages
    pair = ~torch.eye(K, dtype=torch.bool, device=h.device)
    same = _cross_language_cosines(hn)[..., pair, :][..., valid].mean(-1).mean(-1)
    return same - base


def retrieval_at_1(h: torch.Tensor, *, center: bool = True) -> torch.Tensor:
    """Share of (fact, ordered language pair) for which h_b(f) is the nearest of all h_b(.) to h_a(f)."""
    K = h.shape[-3]
    hn = _prepare(h, center)
    sims = torch.einsum("...afd,...bgd->...abfg", hn, hn)  # [..., K, K, F, F]
    hit = sims.argmax(-1) == torch.arange(h.shape[-2], device=h.device)
    pair = ~torch.eye(K, dtype=torch.bool, device=h.device)
    return hit[..., pair, :].float().mean(dim=(-2, -1))


def checkerboard(h: torch.Tensor, *, center: bool = True) -> torch.Tensor:
    """Cosine matrix of ``[F*K, F*K]`` rows ordered fact-major with languages interleaved.

    Unified representations give bright K x K blocks on the diagonal; separated ones give a checkerboard
    (each row most similar to other facts of its own language).
    """
    K, Fn, d = h.shape[-3:]
    hn = _prepare(h, center)
    rows = hn.transpose(-3, -2).reshape(*h.shape[:-3], Fn * K, d)
    return rows @ rows.transpose(-1, -2)
