"""Training speed, side by side in one process: our model vs Hugging Face GPT-2 of the same size and batch,
fp32 and bf16, single runs vs K batched runs, and achieved GFLOP/s against the machine's practical peak.

    .venv/bin/pip install '.[hf]'        # transformers, for the GPT-2 rows (skipped when absent)
    .venv/bin/python bench/train_speed.py --profile default --threads 1

Throughput is training tokens (batch x sequence length) per second of full optimiser steps. GFLOP/s counts
6 x parameters x tokens/s (the usual dense-Transformer estimate), so it overstates the work of our
answer-only loss, which unembeds only the last position. The peak is a large fp32 matrix product on the same
threads. Numbers on a shared cloud machine vary by +-15% between runs: compare rows of one invocation.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from crosslingual.batched import BatchedTrainer
from crosslingual.config import make_config
from crosslingual.train import Trainer


def timed(step: Callable[[], object], n: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - start) / n


def peak_gflops(size: int = 2048, n: int = 5) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / timed(lambda: a @ b, n, warmup=2) / 1e9


def hf_step(cfg, vocab: int, seq_len: int, bf16: bool, keep_last: bool) -> tuple[Callable[[], None], int]:
    from transformers import GPT2Config, GPT2LMHeadModel

    m = cfg.model
    model = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=seq_len, n_embd=m.d_model, n_layer=m.n_layers,
                                       n_head=m.n_heads, n_inner=m.d_mlp, resid_pdrop=0.0, embd_pdrop=0.0,
                                       attn_pdrop=0.0, tie_word_embeddings=False))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, fused=True)
    tokens = torch.randint(0, vocab, (cfg.train.batch_size, seq_len))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            kw = {"logits_to_keep": 1} if keep_last else {}
            logits = model(tokens[:, :-1], **kw).logits
            loss = F.cross_entropy(logits[:, -1].float(), tokens[:, -1])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step, sum(p.numel() for p in model.parameters())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--ks", default="1,4,8,16")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = make_config(args.profile)
    trainer = Trainer(cfg)
    vocab, seq_len = len(trainer.world.vocab), trainer.world.seq_len
    tokens_per_step = cfg.train.batch_size * (seq_len - 1)
    peak = peak_gflops()
    n_params = trainer.model.n_params()
    print(f"profile={args.profile} threads={args.threads} params={n_params:,} vocab={vocab} "
          f"batch={cfg.train.batch_size}x{seq_len - 1} tokens  practical fp32 peak {peak:.0f} GFLOP/s\n")
    rows: list[tuple[str, float, int]] = []

    def ours(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            trainer.train_step()

    rows.append(("ours, fp32", timed(lambda: ours(False), args.steps), n_params))
    rows.append(("ours, bf16 autocast", timed(lambda: ours(True), args.steps), n_params))
    try:
        for bf16 in (False, True):
            for keep in (False, True):
                step, hf_params = hf_step(cfg, vocab, seq_len, bf16, keep)
                label = f"HF GPT2LMHeadModel, {'bf16' if bf16 else 'fp32'}, {'last logits' if keep else 'all logits'}"
                rows.append((label, timed(step, args.steps), hf_params))
    except ImportError:
        print("(transformers not installed: pip install '.[hf]' for the GPT-2 rows)\n")
    print(f"{'single run':48s} {'ms/step':>9s} {'tokens/s':>11s} {'GFLOP/s':>8s} {'% peak':>7s} {'vs ours':>8s}")
    base = rows[0][1]
    for label, sec, params in rows:
        gflops = 6 * params * tokens_per_step / sec / 1e9
        print(f"{label:48s} {sec * 1e3:9.2f} {tokens_per_step / sec:11,.0f} {gflops:8.1f} {gflops / peak:7.1%} "
              f"{base / sec:7.2f}x")

    print(f"\n{'K runs batched (vmap)':24s} {'ms/step':>9s} {'agg. tokens/s':>14s} {'per-run speed-up':>17s}")
    for k in [int(x) for x in args.ks.split(",")]:
        batched = BatchedTrainer([Trainer(make_config(args.profile, seed=s, world_seed=s)) for s in range(k)])
        sec = timed(batched.train_step, max(5, args.steps // 2))
        print(f"K = {k:<20d} {sec * 1e3:9.2f} {k * tokens_per_step / sec:14,.0f} {base * k / sec:16.2f}x")


if __name__ == "__main__":
    main()
