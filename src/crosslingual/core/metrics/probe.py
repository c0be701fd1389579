"""Language extractability: a cross-validated linear probe that predicts the language from a representation.

We use a ridge-regularised least-squares classifier (one-vs-rest targets, closed form) rather than iterative
logistic regression: it is exact, deterministic, batched over layers in one solve, and a linear probe all
the same. Folds are grouped by fact, so the probe cannot succeed by recognising a fact it saw in training.
"""

from __future__ import annotations

import torch


def language_probe_accuracy(h: torch.Tensor, *, n_folds: int = 5, ridge: float = 1.0,
                            seed: int = 0) -> torch.Tensor:
    """Held-out accuracy of predicting the language; ``h`` is ``[..., K, F, d]``, result ``[...]``."""
    K, Fn, d = h.shape[-3:]
    if Fn < n_folds:
        raise ValueError(f"language probe needs at least n_folds={n_folds} facts, got {Fn}")
    lead = h.shape[:-3]
    X = h.float().reshape(-1, K * Fn, d)  # [B, N, d]
    y = torch.arange(K, device=h.device).repeat_interleave(Fn)
    fact = torch.arange(Fn, device=h.device).repeat(K)
    perm = torch.randperm(Fn, generator=torch.Generator().manual_seed(seed)).to(h.device)
    fold = perm[fact] % n_folds
    Y = torch.nn.functional.one_hot(y, K).float() * 2 - 1
    correct = torch.zeros(X.shape[0], device=h.device)
    for k in range(n_folds):
        tr, te = fold != k, fold == k
        mu, sd = X[:, tr].mean(1, keepdim=True), X[:, tr].std(1, keepdim=True).clamp(min=1e-6)
        Xtr = torch.cat([(X[:, tr] - mu) / sd, torch.ones_like(X[:, tr, :1])], -1)
        Xte = torch.cat([(X[:, te] - mu) / sd, torch.ones_like(X[:, te, :1])], -1)
        gram = Xtr.transpose(1, 2) @ Xtr + ridge * torch.eye(d + 1, device=h.device)
        # the ridge Gram matrix is symmetric positive definite: Cholesky is the right solver (and batched LU
        # solves hit a multi-threaded MKL bug on CPU, "Pivots given to lu_solve must all be >= 1")
        W = torch.cholesky_solve(Xtr.transpose(1, 2) @ Y[tr], torch.linalg.cholesky(gram))
        correct += ((Xte @ W).argmax(-1) == y[te]).float().sum(-1)
    return (correct / (K * Fn)).reshape(lead)
