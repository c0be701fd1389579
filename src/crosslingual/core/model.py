"""A small decoder-only Transformer with named hook points (one file, nanoGPT-style).

Two variants share the code: ``gpt`` (LayerNorm, GELU MLP, biases) and ``llama`` (RMSNorm, SwiGLU, no biases),
the latter for the linguistic-regions chapter. Activations are exposed under TransformerLens's names:
``hook_embed`` (the token embedding alone), ``hook_pos_embed`` (the position embedding alone), and per block
``blocks.{i}.hook_resid_pre`` (its input: for block 0, their sum), ``blocks.{i}.hook_resid_mid`` (after
attention) and ``blocks.{i}.hook_resid_post``. Pass a dict as ``cache`` to ``forward`` to collect them; nothing
is stored otherwise.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from crosslingual.core.config import ModelConfig


def _norm(cfg: ModelConfig) -> nn.Module:
    return nn.LayerNorm(cfg.d_model) if cfg.arch == "gpt" else nn.RMSNorm(cfg.d_model, eps=1e-6)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        bias = cfg.arch == "gpt"
        self.n_heads = cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=bias)
        self.out = nn.Linear(cfg.d_model, cfg.d_model, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, C // self.n_heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gated = cfg.arch == "llama"
        bias = not self.gated
        self.up = nn.Linear(cfg.d_model, cfg.d_mlp, bias=bias)
        if self.gated:
            self.gate = nn.Linear(cfg.d_model, cfg.d_mlp, bias=False)
        self.down = nn.Linear(cfg.d_mlp, cfg.d_model, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.gate(x)) * self.up(x) if self.gated else F.gelu(self.up(x))
        return self.down(h)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, index: int):
        super().__init__()
        self.index = index
        self.ln1, self.attn, self.ln2, self.mlp = _norm(cfg), Attention(cfg), _norm(cfg), MLP(cfg)

    def forward(self, x: torch.Tensor, cache: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        if cache is not None:
            cache[f"blocks.{self.index}.hook_resid_pre"] = x
        x = x + self.attn(self.ln1(x))
        if cache is not None:
            cache[f"blocks.{self.index}.hook_resid_mid"] = x
        x = x + self.mlp(self.ln2(x))
        if cache is not None:
            cache[f"blocks.{self.index}.hook_resid_post"] = x
        return x


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig, vocab_size: int, seq_len: int):
        super().__init__()
        self.cfg = cfg
        with torch.random.fork_rng(devices=[]):  # PyTorch's default init must not disturb the caller's RNG
            self.embed = nn.Embedding(vocab_size, cfg.d_model)
            self.pos_embed = nn.Embedding(seq_len, cfg.d_model)
            self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layers))
            self.ln_final = _norm(cfg)
            self.unembed = nn.Linear(cfg.d_model, vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.unembed.weight = self.embed.weight

    @property
    def hook_names(self) -> list[str]:
        """Residual-stream hook points in depth order; index i is "layer i" in metrics tables: layer 0 is the
        embeddings' sum (``blocks.0.hook_resid_pre``), layer i the output of block i - 1."""
        return ["blocks.0.hook_resid_pre", *(f"blocks.{i}.hook_resid_post" for i in range(self.cfg.n_layers))]

    def init_weights(self, seed: int) -> "Transformer":
        """GPT-2 initialisation from a private generator (no global RNG state is touched)."""
        g = torch.Generator().manual_seed(seed)
        out_std = 0.02 / math.sqrt(2 * self.cfg.n_layers)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if p.dim() < 2:
                    p.copy_(torch.ones_like(p) if name.endswith(("ln1.weight", "ln2.weight", "ln_final.weight"))
                            else torch.zeros_like(p))
                else:
                    std = out_std if name.endswith(("out.weight", "down.weight")) else 0.02
                    p.copy_(torch.randn(p.shape, generator=g) * std)
        return self

    def forward(self, tokens: torch.Tensor, cache: dict[str, torch.Tensor] | None = None,
                last_only: bool = False) -> torch.Tensor:
        """Logits ``[B, T, vocab]``, or ``[B, 1, vocab]`` for the last position only (the answer-only loss
        needs no other, and the unembedding is the model's largest matrix product)."""
        x = self._blocks(tokens, cache)
        return self.unembed(self.ln_final(x[:, -1:] if last_only else x))

    def _blocks(self, tokens: torch.Tensor, cache: dict[str, torch.Tensor] | None) -> torch.Tensor:
        """The last block's output ``[B, T, d]`` (every hook point written to ``cache``)."""
        T = tokens.shape[1]
        tok, pos = self.embed(tokens), self.pos_embed(torch.arange(T, device=tokens.device))
        if cache is not None:
            cache["hook_embed"], cache["hook_pos_embed"] = tok, pos.expand_as(tok)
        x = tok + pos
        for block in self.blocks:
            x = block(x, cache)
        return x

    def residual_stream(self, tokens: torch.Tensor) -> torch.Tensor:
        """The stacked residual stream ``[n_layers + 1, B, T, d]`` at ``hook_names`` (no logits: the
        unembedding would cost a third of the pass and nothing here reads it)."""
        cache: dict[str, torch.Tensor] = {}
        self._blocks(tokens, cache)
        return torch.stack([cache[n] for n in self.hook_names])

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
