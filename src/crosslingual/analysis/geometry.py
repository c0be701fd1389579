"""Token-embedding geometry (Hyperpolyglot, Wen-Yi & Mimno 2023): script labels, separability, neighbours.

Every function takes a plain embedding matrix ``[n_tokens, d]`` (rows are L2-normalised where cosine is
meant) and, where needed, the token strings, so the same analysis runs on our checkpoints
(``embeddings_of_run``) and on a local Hugging Face model (``embeddings_of_hf_model``). The recipes follow the
paper's code (``../shared/papers/README.md`` section 2); translation precision@k is our addition, possible
because a synthetic world knows every translation.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import torch

# SentencePiece's word mark, and the space a decoded byte-level token starts with: the paper's code counts the
# mark as a symbol (S)
WORD_MARKS = "\u2581 "


def char_category(ch: str) -> str:
    """The paper's label of one character: the first word of its Unicode name for letters (LATIN, CYRILLIC,
    CJK, ...), else the first letter of its general category (P, N, S, M, C, Z)."""
    category = unicodedata.category(ch)
    if category.startswith("L"):
        return unicodedata.name(ch, "UNKNOWN").split()[0]
    return category[0]


def token_category(token: str, strip_word_marks: bool = True) -> str:
    """Majority label of a token's characters (ties: the label seen first). ``strip_word_marks`` drops
    U+2581 and surrounding spaces first (our default; the paper kept the mark, which inflates the S category);
    an empty token is "Z"."""
    if strip_word_marks:
        token = token.strip(WORD_MARKS) or token
    if not token:
        return "Z"
    counts = Counter(char_category(ch) for ch in token)
    best = max(counts.values())
    return next(label for label in (char_category(ch) for ch in token) if counts[label] == best)


def normalise(emb: torch.Tensor | np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(emb, dtype=torch.float32)
    return x / x.norm(dim=1, keepdim=True).clamp(min=1e-12)


def separability(emb: torch.Tensor | np.ndarray, labels: list[str] | np.ndarray, *, min_count: int = 500,
                 folds: int = 10, seed: int = 0, max_per_side: int | None = None) -> pd.DataFrame:
    """Per category with at least ``min_count`` tokens: 10-fold cross-validated accuracy of a one-vs-rest
    logistic regression (scikit-learn defaults) on L2-normalised rows, the larger side randomly undersampled
    to the smaller one (chance 0.5). The paper's headline is the mean over categories. ``max_per_side`` caps
    each side of the balanced set (our choice on whole pretrained vocabularies, where the paper's uncapped
    sets of 10^5 tokens per category cost minutes per category on a CPU)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    x, labels = normalise(emb).numpy(), np.asarray(labels)
    rng = np.random.default_rng(seed)
    rows = []
    for category, count in sorted(Counter(labels.tolist()).items()):
        pos, rest = np.nonzero(labels == category)[0], np.nonzero(labels != category)[0]
        n = min(count, len(rest), max_per_side or count)
        if count < min_count or n < folds:
            continue
        idx = np.concatenate([rng.choice(pos, size=n, replace=False), rng.choice(rest, size=n, replace=False)])
        y = np.r_[np.ones(n), np.zeros(n)]
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        acc = cross_val_score(LogisticRegression(), x[idx], y, cv=cv).mean()
        rows.append({"category": category, "tokens": count, "balanced set": 2 * n, "accuracy": float(acc)})
    return pd.DataFrame(rows, columns=["category", "tokens", "balanced set", "accuracy"])


def knn(emb: torch.Tensor | np.ndarray, k: int, queries: np.ndarray | None = None,
        memory_bytes: int = 512 * 2**20) -> np.ndarray:
    """Indices ``[n_queries, k + 1]`` of the cosine nearest neighbours of each query row (rank 0 is normally
    the token itself, as in the paper's code). Similarities are computed in blocks of query rows so that the
    extra memory stays near ``memory_bytes`` whatever the vocabulary size."""
    x = normalise(emb)
    q = np.arange(len(x)) if queries is None else np.asarray(queries)
    k1 = min(k + 1, len(x))
    block = max(1, memory_bytes // (4 * len(x) * 2))  # the similarity block and topk's workspace
    out = np.empty((len(q), k1), dtype=np.int64)
    with torch.no_grad():
        for start in range(0, len(q), block):
            rows = torch.as_tensor(q[start:start + block])
            sims = x[rows] @ x.T
            sims[torch.arange(len(rows)), rows] = float("inf")  # self first, whatever the ties
            out[start:start + len(rows)] = sims.topk(k1, dim=1).indices.numpy()
    return out


def num_neighbor_category(neighbours: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """numNeighborCategory@k per query: distinct categories among its k + 1 rows (itself included)."""
    lab = np.asarray(labels)[neighbours]
    return np.array([len(set(row)) for row in lab.tolist()])


def cross_script_share(neighbours: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per query: the share of its k neighbours (self excluded) whose category differs from its own. A
    continuous version of numNeighborCategory, which saturates when a world has only two scripts."""
    lab = np.asarray(labels)
    return (lab[neighbours[:, 1:]] != lab[neighbours[:, :1]]).mean(1)


def translation_precision(neighbours: np.ndarray, queries: np.ndarray, translations: dict[int, set[int]],
                          k: int) -> float:
    """Bilingual-lexicon-induction precision@k: the share of queries (that have a translation other than
    themselves) with a translation among their ``k`` nearest neighbours, self excluded."""
    hits = []
    for q, row in zip(np.asarray(queries).tolist(), neighbours.tolist()):
        targets = translations.get(q, set()) - {q}
        if targets:
            hits.append(bool(targets & set(row[1:k + 1])))
    return float(np.mean(hits)) if hits else float("nan")


def common_neighbours(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray, k: int,
                      queries: np.ndarray | None = None) -> np.ndarray:
    """Per query: the share of its ``k`` nearest neighbours (self excluded) that two embeddings of the same
    vocabulary (the same rows, any widths) have in common."""
    na, nb = knn(a, k, queries)[:, 1:], knn(b, k, queries)[:, 1:]
    return np.array([len(set(x) & set(y)) / k for x, y in zip(na.tolist(), nb.tolist())])


def knn_overlap(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray, k: int,
                queries: np.ndarray | None = None) -> float:
    """Mean share of common neighbours (self excluded) between two embeddings of the same vocabulary."""
    return float(common_neighbours(a, b, k, queries).mean())


def max_canonical_cosine(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray,
                         min_ratio: float = 4.0) -> float:
    """Cosine of the smallest canonical angle between the column spaces of two ``[n, d]`` matrices (QR of
    each, then the largest singular value of Q_a^T Q_b). Only meaningful when rows >> columns: with n close
    to d any two subspaces nearly coincide, so fewer than ``min_ratio`` rows per column is an error."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    n, d = a.shape
    if b.shape[0] != n:
        raise ValueError(f"canonical angles need the same rows (tokens): {n} vs {b.shape[0]}")
    if n < min_ratio * max(d, b.shape[1]):
        raise ValueError(f"canonical angles need rows >> columns: {n} rows for {max(d, b.shape[1])} columns "
                         f"(at least {min_ratio:g} rows per column)")
    qa, qb = torch.linalg.qr(a)[0], torch.linalg.qr(b)[0]
    return float(torch.linalg.svdvals(qa.T @ qb)[0])


def random_canonical_cosine(n: int, d_a: int, d_b: int, draws: int = 5, seed: int = 0) -> float:
    """The baseline for ``max_canonical_cosine``: its mean over Gaussian matrices of the same shapes."""
    g = torch.Generator().manual_seed(seed)
    return float(np.mean([max_canonical_cosine(torch.randn(n, d_a, generator=g), torch.randn(n, d_b, generator=g))
                          for _ in range(draws)]))


def umap_2d(emb: torch.Tensor | np.ndarray, seed: int = 0) -> np.ndarray:
    """The paper's 2-D map: UMAP with cosine metric, 15 neighbours, min_dist 0.2 (seeded, so single-threaded)."""
    import umap

    reducer = umap.UMAP(n_neighbors=15, min_dist=0.2, metric="cosine", random_state=seed)
    return reducer.fit_transform(normalise(emb).numpy())


# ------------------------------------------------------------------------------------------ sources
def embeddings_of_run(run, step: int | None = None) -> tuple[torch.Tensor, list[str]]:
    """Input embeddings of a stored run at ``step`` and its token strings."""
    return run.load_model(step).embed.weight.detach(), list(run.world.vocab)


def world_translations(world) -> dict[int, set[int]]:
    """Token id -> token ids of the same entity / relation / value / function word in the other languages
    (word-level worlds only: with subwords a name has no single token)."""
    if world.pad_id is not None:
        raise ValueError("translations are defined per token only for word-level worlds")
    return translation_sets([world.ent_ids.T, world.rel_ids.T, world.val_ids.reshape(world.cfg.n_languages, -1).T,
                             world.fw_ids[None, :]])


def translation_sets(groups: list[np.ndarray]) -> dict[int, set[int]]:
    """Id -> the ids that share a row with it in any of ``groups`` (each ``[n, languages]``: one row per
    translation group; an id in several rows gets their union, itself included)."""
    out: dict[int, set[int]] = {}
    for group in groups:
        for ids in np.asarray(group).tolist():
            for t in ids:
                out.setdefault(t, set()).update(ids)
    return out


def pool_words(emb: torch.Tensor | np.ndarray, tokens: np.ndarray) -> torch.Tensor:
    """One vector per word: the mean of the embedding rows of its tokens (``tokens``: ``[n, P]`` ids padded with
    -1, as ``World.word_tokens`` gives). With subwords a name has no single token, so a word-level measure reads
    the average of its pieces; at word level this is the word's own row."""
    emb, tokens = torch.as_tensor(emb), torch.as_tensor(np.asarray(tokens), dtype=torch.long)
    if tokens.ndim != 2 or (tokens[:, 0] < 0).any():
        raise ValueError("every word needs at least one token: tokens must be [n, P] with a real id first")
    mask = (tokens >= 0).to(emb.dtype)
    return (emb[tokens.clamp(min=0)] * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)


def embeddings_of_hf_model(path: str | Path) -> tuple[torch.Tensor, list[str]]:
    """Input embeddings and token strings of a local Hugging Face model directory (never downloads)."""
    from crosslingual.pretrained.hf import load

    model, tokenizer = load(path, kind="base", device="cpu")
    emb = model.get_input_embeddings().weight.detach().float()
    n = min(len(tokenizer), emb.shape[0])  # embedding matrices are often padded past the vocabulary
    return emb[:n], token_strings(tokenizer, n)


def is_byte_level(tokenizer) -> bool:
    """Whether a Hugging Face tokenizer's pieces are GPT-2-style byte strings (its decoder maps bytes back)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    return "ByteLevel" in json.dumps(json.loads(backend.to_str()).get("decoder") or {})


def token_strings(tokenizer, n: int) -> list[str]:
    """The text of tokens ``0..n-1`` to label. A byte-level vocabulary stores pieces as byte strings
    (``Ð¾`` for "о", ``Ġ`` for a space), which would read as Latin: its pieces are decoded first, as the paper's
    code does (a piece that is part of a character decodes to U+FFFD, a symbol). Other vocabularies keep their
    pieces (SentencePiece's word mark is stripped by ``token_category``)."""
    tokens = tokenizer.convert_ids_to_tokens(list(range(n)))
    if not is_byte_level(tokenizer):
        return [t if t is not None else "" for t in tokens]
    return [tokenizer.convert_tokens_to_string([t]) if t is not None else "" for t in tokens]
