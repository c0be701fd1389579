"""Memory a run needs, from its config alone: a run that cannot fit is refused before anything is allocated.

Every range in ``crosslingual.core.config`` is valid on *some* machine, so validation alone lets a 64-layer,
``d_model=8192`` model or a world of 10^8 facts start allocating and die minutes later. The estimate here is
arithmetic on the config (no World, no model is built), so it answers in microseconds and can be asked of every
run of a large grid. It is an upper bound of the peak resident memory a run adds to its process, and not far
above it: ``tests/unit/test_memory.py`` measures real runs and checks both directions (measured peaks are 0.3-0.9
of the estimate: the bounds on the BPE sequence length and on bf16 activations are the loosest parts).

Where the numbers come from: ``world.generator`` (the knowledge graph's ``[E, R]`` arrays, the names, the
encoded splits), ``train.Trainer`` (the corpus on the device, AdamW's two moments, one training batch) and
``evaluate.evaluate`` (the full logits of the accuracy queries, the cached residual streams and the
``[F, F]`` similarity matrices of the unification metrics). The world's sizes (sequence length, vocabulary,
facts, training sequences) are not derived here: they are ``world.sizes``' functions of the config, the ones the
generator itself lays the world out with, so the estimate and the world cannot disagree.
"""

from __future__ import annotations

import os
from pathlib import Path

from crosslingual.core.config import ModelConfig, RunConfig, context_length
from crosslingual.core.device import resolve_device
from crosslingual.core.world.sizes import (
    QUERY_WORDS,
    framed_length,
    longest_words,
    n_facts,
    names_per_language,
    sequence_length,
    training_sequences,
    vocabulary_size,
)
from crosslingual.errors import ConfigError

FLOAT = 4  # bytes of an fp32 activation, parameter, gradient or moment
INT = 8  # bytes of a token id (int64)
# What the torch runtime loads on a training process's first use: the fused-AdamW machinery (73 MB alone), the
# autograd and CPU kernels, the linear-algebra libraries of the metrics. A whole smoke run adds 95 MB, a default
# one 133 MB, so a tiny run's estimate is this constant and little more.
RUNTIME_BYTES = 160 * 2**20
# Bytes per synthetic name: the str object (55-90 B), its places in the name lists, the generator's ``used``
# set, the ``words`` list and its two dicts, and the Python ints of the id tables built from them.
NAME_BYTES = 400
# Bytes per fact (entity x relation): the generator's [E, R] arrays of int64/float64/bool that are alive together
# in World.__init__ (values, the draws behind them, the parallel flags and language assignment) ...
FACT_BYTES = 64
# ... plus, per fact and language: the [E, R, K] assignment comparison and the [F, K] masks of the splits, and
# the (fact, language) index pairs of the cross-lingual split (int64 pairs, a sampling permutation).
FACT_LANGUAGE_BYTES = 28
# Bytes per training sequence besides its tokens: the (fact, language) pairs of the design and of the training
# split, the code-switching draws, and the [N, 3] slot and word-order tables that encoding builds.
SEQUENCE_BYTES = 120
# Bytes per query word with the BPE tokenizer: its tokenizers.Encoding and the Python lists of its pieces.
BPE_WORD_BYTES = 2000
# Private memory of a fresh worker process once it has imported the training stack (measured: 189 MB USS after
# ``import crosslingual.core.train``), which every local sweep worker pays besides its runs.
PROCESS_BYTES = 200 * 2**20
GiB = 2**30

# What to lower when a part dominates (the message of check_run_fits names the knobs of its two largest parts).
KNOBS = {"parameters": "n_layers, d_model, d_mlp", "gradients": "n_layers, d_model, d_mlp",
         "optimiser": "n_layers, d_model, d_mlp", "world": "n_entities, n_relations, n_values",
         "corpus": "n_entities, n_relations, n_languages", "activations": "batch_size, n_eval, n_unification, loss"}
DEVICE_PARTS = ("parameters", "gradients", "optimiser", "corpus", "activations")  # the rest lives on the host


def parameter_count(cfg: ModelConfig, vocab_size: int, seq_len: int) -> int:
    """``Transformer(cfg, vocab_size, seq_len).n_params()`` by formula (crosslingual.core.model's layers)."""
    d, m = cfg.d_model, cfg.d_mlp
    gpt = cfg.arch == "gpt"
    norm = 2 * d if gpt else d  # LayerNorm has a bias, RMSNorm does not
    attention = 4 * d * d + (4 * d if gpt else 0)
    mlp = (2 * d * m + m + d) if gpt else 3 * d * m  # GELU MLP with biases, or SwiGLU's three matrices
    embeddings = vocab_size * d * (1 if cfg.tie_embeddings else 2) + seq_len * d
    return embeddings + cfg.n_layers * (2 * norm + attention + mlp) + norm


def run_parameters(cfg: RunConfig) -> int:
    """A run's parameter count from its config alone, without building its world or training it: exact for
    word-level worlds, a bound for BPE ones (as their vocabulary and sequence length are). A page can then say
    how large a model is whether or not its section ran."""
    return parameter_count(cfg.model, vocabulary_size(cfg.world), context_length(cfg, sequence_length(cfg.world)))


def _per_token_layer(cfg: ModelConfig, seq_len: int) -> int:
    """Floats autograd keeps per token and layer: about 14 d-wide tensors (norm inputs and outputs, q/k/v and
    their contiguous copies, attention output, residuals), the MLP's hidden layer (GELU: 2, SwiGLU: 4 of
    width d_mlp), and the attention weights when SDPA falls back to the math kernel."""
    return 14 * cfg.d_model + (2 if cfg.arch == "gpt" else 4) * cfg.d_mlp + 2 * cfg.n_heads * seq_len


def _activation_bytes(cfg: RunConfig, seq_len: int, vocab: int, n_params: int, n_seq: int) -> int:
    """The transients of a run: one training step (forward + backward of a batch) and the larger part of an
    evaluation (full logits of both accuracy splits, or the unification set's cached residual streams and
    metrics). They never coexist but are added, and the training step is counted twice: glibc serves blocks
    below its mmap threshold (up to 32 MB) from the heap and rarely gives them back, so resident memory keeps
    growing for tens of steps, by about one more step's transients (measured on the smoke and paper profiles)."""
    m, t, w = cfg.model, cfg.train, cfg.world
    d, L, K, F = m.d_model, m.n_layers, w.n_languages, n_facts(w)
    packed = context_length(cfg, seq_len)  # a training sequence; evaluation reads one fact per sequence
    layer = _per_token_layer(m, seq_len)
    inputs = packed - 1
    logit_rows = inputs if t.loss == "full" else 1
    # logits, their log-softmax and both gradients; bf16 autocast also caches a bf16 copy of every weight
    train = FLOAT * t.batch_size * (inputs * ((L + 1) * _per_token_layer(m, packed) + 2 * d) + 4 * logit_rows * vocab)
    train += 2 * n_params if t.precision == "bf16" else 0
    n_in, n_xl = min(t.n_eval, n_seq), min(t.n_eval, F * (K - 1))
    queries = FLOAT * seq_len * ((n_in + n_xl) * vocab + max(n_in, n_xl) * layer)
    rows, facts = K * min(t.n_unification, F), min(t.n_unification, F)
    # the cache (embedding, residual mid and post of every layer), its stack, the logits, one layer's work, and
    # retrieval@1's [L+1, K, K, F, F] similarities (einsum's product and its permuted copy) with the [F, F] masks
    unification = FLOAT * rows * seq_len * ((3 * L + 2) * d + vocab + layer)
    unification += 2 * FLOAT * (L + 1) * K * K * facts * facts + 2 * FLOAT * facts * facts
    return 2 * train + max(queries, unification)


def estimate_run_bytes(cfg: RunConfig) -> dict[str, int]:
    """Upper bound of the peak memory one run adds to its process, by part, plus ``total``.

    ``parameters``, ``gradients`` and ``optimiser`` (AdamW: two fp32 moments) follow the model's shapes;
    ``world`` is the generator's arrays and name strings and the splits' index tables; ``corpus`` is the
    training tokens in numpy and as a torch tensor (one buffer on the CPU, where ``torch.as_tensor`` shares it;
    two on a GPU), with the evaluation and alignment queries; ``activations`` are the transients (one
    training batch and one evaluation); ``runtime`` is what the torch runtime loads on first use."""
    w = cfg.world
    K, F = w.n_languages, n_facts(w)
    T, V, N = sequence_length(w), vocabulary_size(w), training_sequences(w)
    n_params = parameter_count(cfg.model, V, context_length(cfg, T))
    words = framed_length(w, QUERY_WORDS)
    names = K * names_per_language(w)
    world = F * (FACT_BYTES + K * FACT_LANGUAGE_BYTES) + N * (SEQUENCE_BYTES + 2 * INT * words) + names * NAME_BYTES
    if w.tokenizer == "bpe":  # per sequence: the [N, W, P] piece gather, its argsort and reordered copy
        pieces = max(longest_words(w))
        world += N * 3 * INT * words * pieces + K * (w.n_entities + w.n_relations + 1) * BPE_WORD_BYTES
        world += names * INT * (pieces + 1)  # the word -> pieces table and the value ids
    queries = 2 * cfg.train.n_eval + K * min(cfg.train.n_unification, F) + K * F * (cfg.train.aligned_pairs > 0)
    corpus = 2 * INT * T * (N + queries)
    parts = {"parameters": FLOAT * n_params, "gradients": FLOAT * n_params, "optimiser": 2 * FLOAT * n_params,
             "world": world, "corpus": corpus, "activations": _activation_bytes(cfg, T, V, n_params, N),
             "runtime": RUNTIME_BYTES}
    return {**parts, "total": sum(parts.values())}


def _free_memory(device: str) -> tuple[int, str]:
    """Free memory on ``device`` and where it was read."""
    if device == "cuda":
        import torch

        return int(torch.cuda.mem_get_info()[0]), "torch.cuda.mem_get_info"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024, "MemAvailable in /proc/meminfo"
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")), "sysconf(SC_AVPHYS_PAGES)"


def available_bytes(device: str) -> int:
    """Free memory on the device: CUDA's free memory, or the kernel's MemAvailable on the CPU."""
    return _free_memory(device)[0]


def placed_bytes(parts: dict[str, int], device: str) -> dict[str, int]:
    """Bytes each memory must hold: all of it on the CPU; on a GPU the model, optimiser, activations and the
    corpus tensor there, and the world, the numpy corpus and a copy of the saved state on the host."""
    if device != "cuda":
        return {"cpu": parts["total"]}
    on_device = sum(parts[p] for p in DEVICE_PARTS) - parts["corpus"] // 2
    host = parts["world"] + parts["corpus"] // 2 + parts["parameters"] + parts["optimiser"] + parts["runtime"]
    return {"cuda": on_device, "cpu": host}


def check_run_fits(cfg: RunConfig, device: str = "cpu") -> None:
    """Refuse (ConfigError, one line) a validated run whose estimate exceeds the free memory, before any work:
    the message names the run, the estimate and its largest parts, the free memory and where it was read, and
    the knobs that shrink those parts."""
    device = resolve_device(device)
    parts = estimate_run_bytes(cfg)
    for where, need in placed_bytes(parts, device).items():
        free, source = _free_memory(where)
        if need <= free:
            continue
        largest = sorted((p for p in KNOBS if parts[p]), key=parts.__getitem__, reverse=True)[:3]
        shares = ", ".join(f"{p} {parts[p] / GiB:.1f}" for p in largest)
        knobs = ", ".join(dict.fromkeys(k for p in largest[:2] for k in KNOBS[p].split(", ")))
        raise ConfigError(f"run {cfg.hash()} needs about {need / GiB:.1f} GiB on {where} ({shares} GiB) but only "
                          f"{free / GiB:.1f} GiB is free there ({source}); reduce {knobs}")
