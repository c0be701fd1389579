"""Evaluation at a checkpoint: every metric, for every layer and probe position, in one batched pass.

The result is a long table (one row per metric x layer x position) so that runs, checkpoints and settings can
be concatenated and plotted without reshaping. Layer 0 is ``blocks.0.hook_resid_pre`` (token +
position embedding), layer i is ``blocks.{i-1}.hook_resid_post``. Positions: ``last`` (the last query token, which predicts the value) and
``entity`` (the entity's last token, whose position depends on the language's word order and tokenizer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from crosslingual.config import TrainConfig
from crosslingual.metrics import (answer_accuracy, answer_loss, language_probe_accuracy, retrieval_at_1,
                                  unification_score)
from crosslingual.model import Transformer
from crosslingual.world import World

POSITIONS = ("last", "entity")


@dataclass
class EvalData:
    """Evaluation tensors, built once per run and kept on the training device."""

    in_tokens: torch.Tensor  # [N_in, T]
    xl_tokens: torch.Tensor  # [N_xl, T]
    xl_entity_seen: torch.Tensor  # [N_xl] bool: the entity occurs in training text of the query language
    unif_tokens: torch.Tensor  # [K * F, T], language-major
    unif_relation: torch.Tensor  # [F]
    unif_positions: dict[str, torch.Tensor]  # position name -> [K * F] token index
    n_languages: int

    @classmethod
    def build(cls, world: World, train: TrainConfig, device: str | torch.device) -> "EvalData":
        K = world.cfg.n_languages
        ins, xl = world.eval_in_language(train.n_eval), world.eval_cross_lingual(train.n_eval)
        facts = world.unification_facts(train.n_unification)
        unif_tokens, positions = parallel_queries(world, facts)

        def t(x: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(x, device=device)

        return cls(
            in_tokens=t(ins.tokens), xl_tokens=t(xl.tokens),
            xl_entity_seen=t(world.entity_seen_in(xl.fact, xl.language)),
            unif_tokens=t(unif_tokens), unif_relation=t(facts % world.cfg.n_relations),
            unif_positions={name: t(p) for name, p in positions.items()},
            n_languages=K,
        )


def parallel_queries(world: World, facts: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``facts`` rendered in every language (language-major ``[K * F, T]``) and the probed token positions."""
    K = world.cfg.n_languages
    lang = np.repeat(np.arange(K), len(facts))
    split = world.encode(np.tile(facts, K), lang)
    return split.tokens, {"last": np.full(len(lang), world.seq_len - 2), "entity": split.entity_pos}


def gather_positions(resid: torch.Tensor, index: torch.Tensor, n_languages: int) -> torch.Tensor:
    """``[L+1, K*F, T, d]`` residual streams -> ``[L+1, K, F, d]`` states at one position per sequence."""
    h = resid[:, torch.arange(len(index), device=index.device), index]
    return h.reshape(h.shape[0], n_languages, -1, h.shape[-1])


@torch.no_grad()
def hidden_states(model: Transformer, world: World, facts: np.ndarray, position: str = "last") -> torch.Tensor:
    """Residual-stream states ``[L+1, K, F, d]`` of ``facts`` in every language (for analyses of stored runs)."""
    tokens, positions = parallel_queries(world, facts)
    device = next(model.parameters()).device
    _, resid = model.residual_stream(torch.as_tensor(tokens, device=device))
    return gather_positions(resid, torch.as_tensor(positions[position], device=device), world.cfg.n_languages)


@torch.no_grad()
def evaluate(model: Transformer, data: EvalData, step: int) -> list[dict]:
    """All metrics of one checkpoint as long-format rows."""
    was_training = model.training
    model.eval()
    rows: list[dict] = []

    def add(metric: str, value: float, layer: int = -1, position: str = "") -> None:
        rows.append({"step": step, "metric": metric, "layer": layer, "position": position, "value": float(value)})

    for split, tokens in (("in", data.in_tokens), ("xling", data.xl_tokens)):
        logits = model(tokens)
        correct = answer_accuracy(logits, tokens)
        add(f"acc_{split}", correct.float().mean())
        add(f"loss_{split}", answer_loss(logits, tokens))
        if split == "xling":
            seen = data.xl_entity_seen
            add("acc_xling_entity_seen", correct[seen].float().mean() if seen.any() else float("nan"))

    _, resid = model.residual_stream(data.unif_tokens)  # [L+1, K*F, T, d]
    K = data.n_languages
    for pos, index in data.unif_positions.items():
        h = gather_positions(resid, index, K)
        scores = {
            "unification": unification_score(h, data.unif_relation),
            "unification_raw": unification_score(h, data.unif_relation, center=False),
            "unification_anyfact": unification_score(h, data.unif_relation, baseline="any"),
            "retrieval_at_1": retrieval_at_1(h),
            "language_probe": language_probe_accuracy(h),
        }
        for metric, per_layer in scores.items():
            for layer, value in enumerate(per_layer.tolist()):
                add(metric, value, layer, pos)
    model.train(was_training)
    return rows
