"""Training speed in one process: our trainer vs Hugging Face GPT-2 of the same size and batch, single runs vs K
runs batched, with counted FLOPs and the utilisation of the machine's large-matmul rate, on 1 and on 2 threads.

    .venv/bin/python bench/train_speed.py --profile default            # the ratios of bench/README.md
    .venv/bin/python bench/train_speed.py --profile default --breakdown  # plus where one step's time goes

FLOPs are counted, not estimated: ``torch.utils.flop_counter.FlopCounterMode`` over one forward and backward pass
of a training batch counts the matrix products and the attention kernels (elementwise operations, norms, the
loss and the optimiser are not counted: they are a few percent of the FLOPs and are memory-bound). Utilisation
is counted FLOP/s over the rate of a 2048 x 2048 fp32 matrix product on the same threads, measured in the same
run. Each time is the median of ``--repeats`` timings of ``--steps`` optimiser steps after warm-up. Numbers on a
shared cloud machine vary by about +-15% between invocations: compare rows of one invocation.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections import defaultdict
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from crosslingual.core.config import make_config
from crosslingual.core.train import BatchedTrainer, Trainer
from crosslingual.store.runs import machine_info

TARGETS = {"same work": 1.5, "defaults": 1.6, "utilisation": 0.40, "batched": 1.5}


def timed(step: Callable[[], object], n: int, repeats: int, warmup: int = 5) -> float:
    """Median seconds per call over ``repeats`` timings of ``n`` calls."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            step()
        times.append((time.perf_counter() - start) / n)
    return statistics.median(times)


def matmul_rate(size: int = 2048) -> float:
    """FLOP/s of a large fp32 matrix product on the current threads (the practical peak of dense maths)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / timed(lambda: a @ b, 5, 3, warmup=2)


def counted(forward_backward: Callable[[], None]) -> int:
    with FlopCounterMode(display=False) as counter:
        forward_backward()
    return counter.get_total_flops()


def hf_gpt2(cfg, vocab: int, seq_len: int, keep_last: bool) -> tuple[Callable[[], None], Callable[[], None]]:
    """(one optimiser step, one forward + backward) of GPT2LMHeadModel with our model's shapes, no dropout, the
    loss at the answer position; ``keep_last``: logits of the last position only (the same work as ours)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    m = cfg.model
    model = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=seq_len, n_embd=m.d_model, n_layer=m.n_layers,
                                       n_head=m.n_heads, n_inner=m.d_mlp, resid_pdrop=0.0, embd_pdrop=0.0,
                                       attn_pdrop=0.0, tie_word_embeddings=False))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, fused=True)
    tokens = torch.randint(0, vocab, (cfg.train.batch_size, seq_len))
    kw = {"logits_to_keep": 1} if keep_last else {}

    def forward_backward() -> None:
        logits = model(tokens[:, :-1], **kw).logits
        F.cross_entropy(logits[:, -1], tokens[:, -1]).backward()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        forward_backward()
        opt.step()

    return step, forward_backward


def ours(profile: str, k: int) -> tuple[BatchedTrainer, Callable[[], None]]:
    """K runs of the profile (seeds 0..K-1) in one stack, and one forward + backward of a batch of it."""
    stack = BatchedTrainer([Trainer(make_config(profile, seed=s, world_seed=s)) for s in range(k)])
    tokens = torch.stack([t.batch(0) for t in stack.trainers])
    return stack, lambda: stack.losses(tokens).sum().backward()


LAYOUT = {"copy_", "clone", "contiguous", "_to_copy", "to", "cat", "stack", "fill_", "zero_", "zeros", "zeros_like",
          "empty", "empty_like", "empty_strided", "view", "reshape", "_reshape_alias", "transpose", "permute", "expand",
          "select", "slice", "as_strided", "unsqueeze", "squeeze", "t", "detach", "unbind", "split", "alias",
          "_unsafe_view", "flatten", "new_empty_strided", "result_type", "lift_fresh", "resolve_conj", "resolve_neg"}
ELEMENTWISE = {"add", "add_", "mul", "mul_", "gelu", "gelu_backward", "silu", "silu_backward", "sub", "div", "sum",
               "mean", "addcmul", "addcmul_", "pow", "sqrt", "rsqrt", "ones_like", "neg", "lerp_", "where", "ne"}


def category(op: str) -> str:
    """The kind of work of a profiler event, for the breakdown of a step."""
    name = op.removeprefix("aten::")
    if name in {"mm", "bmm", "addmm", "baddbmm", "matmul", "linear"}:
        return "matrix products"
    if "attention" in name:
        return "attention (SDPA kernels)"
    if "adam" in name.lower() or op.startswith("Optimizer."):
        return "optimiser (kernel and Python)"
    if "norm" in name:
        return "norms"
    if "softmax" in name or "nll" in name or "cross_entropy" in name:
        return "loss (log-softmax, NLL)"
    if "embedding" in name or name in {"index", "randint", "gather", "index_select", "arange"}:
        return "embedding and batch gather"
    if name in LAYOUT:
        return "copies, layout and allocation"
    if name in ELEMENTWISE:
        return "elementwise and reductions"
    if op.startswith("autograd::") or "Backward" in op or op == "torch::autograd::AccumulateGrad":
        return "autograd bookkeeping"
    return "other"


def profiled(profile: str, k: int, steps: int) -> tuple[float, dict[str, float], dict[str, int]]:
    """Wall ms per step under the profiler, and self ms and calls per step by kind of work, of K runs batched."""
    stack, _ = ours(profile, k)
    timed(stack.train_step, 3, 1)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            stack.train_step()
        wall = (time.perf_counter() - start) / steps * 1e3
    ms: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    for event in prof.key_averages():
        ms[category(event.key)] += event.self_cpu_time_total / 1e3 / steps
        calls[category(event.key)] += event.count // steps
    ms["Python and dispatch outside events"] = wall - sum(ms.values())
    return wall, ms, calls


def breakdown(profile: str, k: int, steps: int = 30) -> None:
    """Where a step's time goes, for one run and for K runs batched (per run), on one thread: the self time of
    every profiler event by kind of work; the rest of the wall time is Python and dispatch outside any event.
    The profiler's own cost inflates every step, so read shares and ratios, and the unprofiled ms/step above."""
    wall1, ms1, calls1 = profiled(profile, 1, steps)
    wallk, msk, _ = profiled(profile, k, max(3, steps // k))
    print(f"\nbreakdown of a step, 1 thread, under the profiler: one run {wall1:.2f} ms, K = {k} batched "
          f"{wallk:.2f} ms ({wallk / k:.2f} ms per run)")
    print(f"{'kind of work':38s} {'1 run ms':>9s} {'share':>6s} {'calls':>6s} {f'K={k} ms/run':>11s} "
          f"{f'K={k} / 1 run':>12s}")
    for label, t in sorted(ms1.items(), key=lambda kv: -kv[1]):
        per_run = msk.get(label, 0.0) / k
        print(f"{label:38s} {t:9.2f} {t / wall1:6.1%} {calls1.get(label, 0):6d} {per_run:11.2f} "
              f"{per_run / t if t > 0 else float('nan'):11.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts, each measured in turn")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--k", type=int, default=8, help="runs batched together")
    ap.add_argument("--breakdown", action="store_true", help="also profile where a step's time goes")
    args = ap.parse_args()
    info = machine_info()
    cfg = make_config(args.profile)
    single, single_fb = ours(args.profile, 1)
    batched, batched_fb = ours(args.profile, args.k)
    world = single.trainers[0].world
    vocab, seq_len = len(world.vocab), world.seq_len
    tokens_per_step = cfg.train.batch_size * (seq_len - 1)
    try:
        hf = {label: hf_gpt2(cfg, vocab, seq_len, keep) for label, keep in (("same work", True), ("defaults", False))}
    except ImportError:
        hf = {}
        print("(transformers is not installed: the GPT-2 rows are skipped)")
    flops = {"ours": counted(single_fb), f"ours, K = {args.k}": counted(batched_fb) / args.k,
             **{f"HF GPT-2, {label}": counted(fb) for label, (_, fb) in hf.items()}}
    print(f"CPU: {info['cpu']} ({platform.machine()}, torch CPU capability {info['cpu_capability']}), "
          f"torch {info['torch']}")
    print(f"profile={args.profile}: {single.trainers[0].model.n_params():,} parameters, vocabulary {vocab}, batch "
          f"{cfg.train.batch_size} x {seq_len - 1} input tokens, answer-only loss")
    print("counted FLOPs per run and step (FlopCounterMode: matrix products and attention, forward + backward):")
    for label, f in flops.items():
        print(f"  {label:28s} {f / 1e6:8.1f} MFLOP")
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        peak = matmul_rate()
        sec = {"ours": timed(single.train_step, args.steps, args.repeats)}
        for label, (step, _) in hf.items():
            sec[f"HF GPT-2, {label}"] = timed(step, args.steps, args.repeats)
        k_sec = timed(batched.train_step, max(5, args.steps // 4), args.repeats)
        print(f"\n{threads} thread(s): 2048 x 2048 fp32 matrix product {peak / 1e9:.1f} GFLOP/s")
        print(f"{'':28s} {'ms/step':>8s} {'tokens/s':>10s} {'GFLOP/s':>8s} {'util.':>6s} {'ours is':>8s}")
        for label, s in sec.items():
            rate = flops[label] / s
            print(f"{label:28s} {s * 1e3:8.2f} {tokens_per_step / s:10,.0f} {rate / 1e9:8.1f} {rate / peak:6.1%} "
                  f"{s / sec['ours']:7.2f}x")
        k_rate = flops[f"ours, K = {args.k}"] * args.k / k_sec
        print(f"{f'ours, K = {args.k} batched':28s} {k_sec * 1e3:8.2f} {args.k * tokens_per_step / k_sec:10,.0f} "
              f"{k_rate / 1e9:8.1f} {k_rate / peak:6.1%}   aggregate {args.k * sec['ours'] / k_sec:.2f}x "
              f"{args.k} sequential runs")
        checks = [("ours vs HF same work", sec.get("HF GPT-2, same work", float("nan")) / sec["ours"], "same work"),
                  ("ours vs HF defaults", sec.get("HF GPT-2, defaults", float("nan")) / sec["ours"], "defaults"),
                  (f"K = {args.k} batched vs sequential", args.k * sec["ours"] / k_sec, "batched")]
        if threads == 1:
            checks.append(("utilisation, one run", flops["ours"] / sec["ours"] / peak, "utilisation"))
        for label, value, key in checks:
            fmt = f"{value:.1%}" if key == "utilisation" else f"{value:.2f}x"
            goal = f"{TARGETS[key]:.0%}" if key == "utilisation" else f"{TARGETS[key]}x"
            print(f"  target {label}: {fmt} (>= {goal}: {'met' if value >= TARGETS[key] else 'NOT met'})")
    if args.breakdown:
        torch.set_num_threads(1)
        breakdown(args.profile, args.k)


if __name__ == "__main__":
    main()
