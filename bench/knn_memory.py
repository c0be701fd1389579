"""Cosine k-NN over a large-vocabulary embedding matrix: time and extra memory of ``geometry.knn``.

    .venv/bin/python bench/knn_memory.py --rows 250000 --dim 1024 --k 50              # every row a query
    .venv/bin/python bench/knn_memory.py --rows 250000 --dim 1024 --k 50 --queries 2500   # the paper's 1%

The matrix itself (rows x dim x 4 bytes, 1 GB at the default size) is not counted: "extra" is the peak resident
memory above what the process held once the matrix existed; it includes knn's own L2-normalised copy of the
matrix and its blocks of similarities (512 MiB by default). The target is under 4 GB extra.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from crosslingual.analysis.geometry import knn


def rss_peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=250_000)
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--queries", type=int, default=0, help="random query rows (0: every row)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    emb = torch.randn(args.rows, args.dim, generator=torch.Generator().manual_seed(0))
    base = rss_peak_bytes()
    queries = None if args.queries == 0 else np.random.default_rng(0).choice(args.rows, args.queries, replace=False)
    start = time.perf_counter()
    out = knn(emb, args.k, queries=queries)
    seconds = time.perf_counter() - start
    extra = rss_peak_bytes() - base
    n_q = len(out)
    print(f"k-NN of {n_q:,} queries over {args.rows:,} x {args.dim} float32 (k = {args.k}, {args.threads} threads): "
          f"{seconds:.1f} s ({seconds / n_q * 1e3:.2f} ms per query); extra peak memory {extra / 2**30:.2f} GiB "
          f"(matrix itself {emb.numel() * 4 / 2**30:.2f} GiB)")
    assert (out[:, 0] == (np.arange(args.rows) if queries is None else queries)).all(), "self must be rank 0"


if __name__ == "__main__":
    main()
