"""The training forward pass of K runs at once, over parameters stacked along a leading run dimension.

A default model is so small that a CPU step spends most of its time dispatching operations, not multiplying:
with the K runs' parameters stacked into ``[K, ...]`` tensors, every operation does K runs' work for one
dispatch and every matrix product becomes one batched product. A single run is the case K = 1 of the same
code, so a run's numbers do not depend on whether it was trained alone or beside other runs (each run's slice is
computed by the same kernels in the same order; ``tests/unit/test_batched.py`` checks bit-identity).

This is ``model.Transformer.forward`` written over stacked tensors (the module stays the one definition used by
evaluation, hooks and every analysis; tests check that the two agree within fp32 round-off). For the answer-only
loss the last block computes keys and values at every position but the attention output and the MLP at the last
position only, since nothing else reaches the loss (the module's ``last_only`` skips only the unembedding).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from crosslingual.core.config import ModelConfig
from crosslingual.core.model import Transformer

Params = dict[str, torch.Tensor]


def stack_parameters(models: list[Transformer]) -> Params:
    """Leaf tensors ``[K, *shape]`` holding copies of the models' parameters, in ``named_parameters`` order."""
    named = [dict(m.named_parameters()) for m in models]
    return {name: torch.stack([n[name].detach() for n in named]).requires_grad_() for name in named[0]}


def bind(model: Transformer, params: Params, k: int) -> None:
    """Make the module's parameters views of run ``k``'s slice of ``params`` (shared memory, no copy), so that
    evaluation and checkpoints read the live weights that the stacked optimiser updates in place."""
    for name, p in params.items():
        owner, _, leaf = name.rpartition(".")
        setattr(model.get_submodule(owner), leaf, nn.Parameter(p.detach()[k]))
    if model.cfg.tie_embeddings:
        model.unembed.weight = model.embed.weight


def _linear(x: torch.Tensor, p: Params, name: str) -> torch.Tensor:
    """``x [K, N, in]`` times each run's own weight ``[K, out, in]`` (plus bias), one batched product."""
    w = p[f"{name}.weight"].transpose(1, 2)
    bias = p.get(f"{name}.bias")
    return torch.bmm(x, w) if bias is None else torch.baddbmm(bias.unsqueeze(1), x, w)


def _norm(x: torch.Tensor, p: Params, name: str, arch: str) -> torch.Tensor:
    """LayerNorm (``gpt``) or RMSNorm (``llama``) over the last dimension with each run's own gain (and bias)."""
    gain = p[f"{name}.weight"].unsqueeze(1)
    if arch == "gpt":
        return torch.addcmul(p[f"{name}.bias"].unsqueeze(1), F.layer_norm(x, x.shape[-1:]), gain)
    return F.rms_norm(x, x.shape[-1:], eps=1e-6) * gain


def _mlp(x: torch.Tensor, p: Params, name: str, arch: str) -> torch.Tensor:
    if arch == "llama":
        return _linear(F.silu(_linear(x, p, f"{name}.gate")) * _linear(x, p, f"{name}.up"), p, f"{name}.down")
    return _linear(F.gelu(_linear(x, p, f"{name}.up")), p, f"{name}.down")


def forward(p: Params, cfg: ModelConfig, tokens: torch.Tensor,
            last_only: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``[K, B, T, vocab]`` (``[K, B, vocab]`` with ``last_only``) for tokens ``[K, B, T]``, and the last
    block's output at the last position, ``[K, B, d]`` (the state the alignment loss reads)."""
    K, B, T = tokens.shape
    emb = p["embed.weight"]
    V, C = emb.shape[1:]
    H, hd = cfg.n_heads, cfg.d_model // cfg.n_heads
    offsets = (torch.arange(K, device=tokens.device) * V).view(K, 1, 1)  # run k's rows of the flat table
    x = F.embedding(tokens + offsets, emb.reshape(K * V, C)) + p["pos_embed.weight"][:, :T].unsqueeze(1)
    x = x.reshape(K, B * T, C)
    for i in range(cfg.n_layers):
        b = f"blocks.{i}"
        qkv = _linear(_norm(x, p, f"{b}.ln1", cfg.arch), p, f"{b}.attn.qkv").view(K * B, T, 3, H, hd)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each [K * B, H, T, hd]
        if last_only and i == cfg.n_layers - 1:  # only the last position reaches the answer's logits
            y = F.scaled_dot_product_attention(q[:, :, -1:], k, v)  # the last query sees every position
            x = x.view(K, B, T, C)[:, :, -1] + _linear(y.reshape(K, B, C), p, f"{b}.attn.out")
            T = 1
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(K, B * T, C)
            x = x + _linear(y, p, f"{b}.attn.out")
        x = x + _mlp(_norm(x, p, f"{b}.ln2", cfg.arch), p, f"{b}.mlp", cfg.arch)
    last = x.view(K, B, T, C)[:, :, -1]
    unembed = p["embed.weight"] if cfg.tie_embeddings else p["unembed.weight"]
    logits = torch.bmm(_norm(x, p, "ln_final", cfg.arch), unembed.transpose(1, 2))
    return (logits if last_only else logits.view(K, B, T, V)), last


def losses(p: Params, cfg: ModelConfig, tokens: torch.Tensor, kind: str,
           pad_id: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Each run's training loss ``[K]`` on its own sequences ``tokens [K, B, T]`` (as ``train.lm_loss``: the answer
    token only, or every next token except padding), and the last block's output at the last input position."""
    K = tokens.shape[0]
    if kind == "answer":
        logits, last = forward(p, cfg, tokens[..., :-1], last_only=True)
        per_token = F.cross_entropy(logits.flatten(0, 1), tokens[..., -1].flatten(), reduction="none")
        return per_token.view(K, -1).mean(1), last
    logits, last = forward(p, cfg, tokens[..., :-1])
    targets = tokens[..., 1:].reshape(K, -1)
    ignore = -100 if pad_id is None else pad_id
    per_token = F.cross_entropy(logits.flatten(0, 2), targets.flatten(), reduction="none", ignore_index=ignore)
    return per_token.view(K, -1).sum(1) / (targets != ignore).sum(1), last
