"""Linguistic regions (Zhang et al. 2024): per-language parameter importance, core / monolingual / control
regions, zero-ablation, single-parameter scaling on outlier dimensions, and region freezing.

A *region* (``Mask``) maps parameter names to boolean tensors of the parameter's shape. Regions are chosen per
*unit*: every transformer-block parameter (attention and MLP matrices, norm weights, biases where the
architecture has them), except that our fused attention projection is split into its q, k and v matrices, as
LLaMA stores them and as the paper selects them. Embeddings, the final norm and the LM head are never part of
a region, except where a caller asks for ``outer`` units (G4-redesign chooses its regions among every parameter
alike, since forgetting on our models sits in the head and embeddings). Block parameters are recognised by a
``blocks.N.`` / ``layers.N.`` / ``h.N.`` segment in their name, so the same code serves our models and Hugging
Face ones (freezing is tested on a tiny ``transformers`` model).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from crosslingual.core.train import lm_loss

Mask = dict[str, torch.Tensor]
LossFn = Callable[[nn.Module, torch.Tensor], torch.Tensor]
Rises = Callable[..., list[dict]]  # labels -> rows of the loss rises measured on the model as it is now
Language = int | str  # our worlds number their languages; pretrained models' text is named by its code
_BLOCK = re.compile(r"(?:^|\.)(?:blocks|layers|h)\.(\d+)\.(.+)$")


@dataclass(frozen=True)
class Unit:
    """One tensor a region is chosen in: ``rows`` of parameter ``param`` (all rows when ``None``)."""

    param: str
    layer: int
    tensor: str  # the name inside the block, e.g. "attn.q" or "mlp.down.weight"
    rows: slice | None = None


def units(model: nn.Module, outer: bool = False) -> list[Unit]:
    """The transformer-block tensors of ``model`` in parameter order (the fused ``qkv`` split in three); with
    ``outer``, every other parameter too (embeddings, final norm, LM head: layer -1, tensor = its name)."""
    out = []
    for name, p in model.named_parameters():
        m = _BLOCK.search(name)
        if not m:
            if outer:
                out.append(Unit(name, -1, name))
            continue
        layer, tensor = int(m.group(1)), m.group(2)
        if tensor == "attn.qkv.weight":
            d = p.shape[0] // 3
            out += [Unit(name, layer, f"attn.{part}", slice(j * d, (j + 1) * d)) for j, part in enumerate("qkv")]
        else:
            out.append(Unit(name, layer, tensor))
    if not any(u.layer >= 0 for u in out):
        raise ValueError("the model has no transformer-block parameters (names with blocks.N. / layers.N. / h.N.)")
    return out


def _region_params(model: nn.Module, outer: bool = False) -> dict[str, nn.Parameter]:
    names = {u.param for u in units(model, outer)}
    return {n: p for n, p in model.named_parameters() if n in names}


def _view(t: torch.Tensor, unit: Unit) -> torch.Tensor:
    return t if unit.rows is None else t[unit.rows]


def full_loss(pad_id: int | None = None) -> LossFn:
    """Our models' mean next-token loss over every non-padding target (the paper's perplexity objective)."""
    return lambda model, tokens: lm_loss(model, tokens, "full", pad_id=pad_id)


# ---------------------------------------------------------------------------------------------- importance
def importance(model: nn.Module, tokens: torch.Tensor, loss_fn: LossFn, *, method: str = "signed",
               batch_size: int = 256, outer: bool = False) -> dict[str, torch.Tensor]:
    """Per-parameter importance of the block parameters (all parameters with ``outer``) for the sequences
    ``tokens`` (no optimiser step).

    ``signed`` (the paper's recipe): ``|theta * g|`` with ``g`` the gradient of the mean loss over all
    sequences, accumulated with its sign over batches: the first-order estimate of the loss change when the
    parameter is set to zero. ``abs``: the sum over batches of ``|theta * g_batch|`` (weighted by batch size),
    which also counts parameters whose per-batch effects cancel; the chapter compares the two.
    """
    if method not in ("signed", "abs"):
        raise ValueError(f"method={method!r} is not allowed: choose 'signed' or 'abs'")
    if len(tokens) == 0:
        raise ValueError("importance needs at least one sequence")
    params = _region_params(model, outer)
    acc = {n: torch.zeros_like(p) for n, p in params.items()}
    was_training = model.training
    model.eval()
    for chunk in tokens.split(batch_size):
        model.zero_grad(set_to_none=True)
        (loss_fn(model, chunk) * (len(chunk) / len(tokens))).backward()
        for n, p in params.items():
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            acc[n] += g if method == "signed" else (p.detach() * g).abs()
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    if method == "signed":
        return {n: (params[n].detach() * g).abs() for n, g in acc.items()}
    return acc


# ---------------------------------------------------------------------------------------------- regions
def region_size(n: int, fraction: float) -> int:
    """Entries a region takes in a tensor of ``n``: ``round(fraction * n)``, at least one."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction={fraction!r} is out of range: allowed (0, 1]")
    return max(1, round(fraction * n))


def _empty(model: nn.Module, outer: bool = False) -> Mask:
    return {n: torch.zeros_like(p, dtype=torch.bool) for n, p in _region_params(model, outer).items()}


def _select(model: nn.Module, score: Callable[[Unit], torch.Tensor], fraction: float, outer: bool = False) -> Mask:
    mask = _empty(model, outer)
    for u in units(model, outer):
        s = score(u).reshape(-1)
        idx = torch.topk(s, region_size(s.numel(), fraction)).indices
        flat = torch.zeros(s.numel(), dtype=torch.bool, device=s.device)
        flat[idx] = True
        _view(mask[u.param], u).copy_(flat.view_as(_view(mask[u.param], u)))
    return mask


def top_region(model: nn.Module, scores: dict[str, torch.Tensor], fraction: float, outer: bool = False) -> Mask:
    """The top ``fraction`` of each unit's entries by score (the core region when ``scores`` is summed over
    languages, a language's own top region when it is that language's); ``outer`` units need ``outer`` scores."""
    return _select(model, lambda u: _view(scores[u.param], u), fraction, outer)


def bottom_region(model: nn.Module, scores: dict[str, torch.Tensor], fraction: float) -> Mask:
    """The bottom ``fraction`` of each unit's entries by score (the paper's least important control)."""
    return _select(model, lambda u: -_view(scores[u.param], u), fraction)


def random_region(model: nn.Module, fraction: float, seed: int, outer: bool = False) -> Mask:
    """A uniformly random ``fraction`` of each unit's entries, from a private generator seeded by ``seed``."""
    g = torch.Generator().manual_seed(seed)
    params = dict(model.named_parameters())
    return _select(model, lambda u: torch.rand(_view(params[u.param], u).shape, generator=g), fraction, outer)


def total_scores(per_language: dict[int, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Scores summed over languages (the core region's ranking)."""
    names = next(iter(per_language.values()))
    return {n: sum(s[n] for s in per_language.values()) for n in names}


def monolingual_regions(own_top: dict[int, Mask]) -> dict[int, Mask]:
    """Language L's region: its own top region minus the union of every other language's top region."""
    out = {}
    for lang, mask in own_top.items():
        others = [m for k, m in own_top.items() if k != lang]
        out[lang] = {n: t & ~torch.stack([o[n] for o in others]).any(0) if others else t.clone()
                     for n, t in mask.items()}
    return out


def size(mask: Mask) -> int:
    return int(sum(int(t.sum()) for t in mask.values()))


def jaccard(a: Mask, b: Mask) -> float:
    """``|a and b| / |a or b|`` over all entries (1.0 for two empty regions)."""
    inter = sum(int((a[n] & b[n]).sum()) for n in a)
    union = sum(int((a[n] | b[n]).sum()) for n in a)
    return inter / union if union else 1.0


def region_map(model: nn.Module, values: dict[str, torch.Tensor]) -> pd.DataFrame:
    """Sum of ``values`` (a mask or scores) per unit, as a layers x tensors table for heat-maps."""
    rows = [{"layer": u.layer, "tensor": u.tensor, "value": float(_view(values[u.param], u).float().sum())}
            for u in units(model)]
    return pd.DataFrame(rows).pivot(index="layer", columns="tensor", values="value")


# ---------------------------------------------------------------------------------------------- interventions
@contextmanager
def ablated(model: nn.Module, mask: Mask) -> Iterator[nn.Module]:
    """``model`` with the region's entries set to zero inside the block, restored exactly afterwards."""
    params = dict(model.named_parameters())
    saved = {n: params[n].detach()[m].clone() for n, m in mask.items()}
    with torch.no_grad():
        for n, m in mask.items():
            params[n][m] = 0.0
    try:
        yield model
    finally:
        with torch.no_grad():
            for n, m in mask.items():
                params[n][m] = saved[n]


def ablation_rises(model: nn.Module, regions: dict[str, Mask], rises: Rises, **labels) -> list[dict]:
    """G1's rows: each of ``regions`` zeroed in turn and ``rises(**labels, region=, entries=, jaccard_with_core=)``
    measured while it is (the overlap is with ``regions["core"]``). One loop for our runs and for pretrained models,
    which measure rises on different units (a language's mean loss, or each window's): ``rises`` is the caller's,
    and the tables keep the same columns in the same order."""
    rows = []
    for name, mask in regions.items():
        with ablated(model, mask):
            rows += rises(**labels, region=name, entries=size(mask), jaccard_with_core=jaccard(mask, regions["core"]))
    return rows


def monolingual_rises(model: nn.Module, own: dict[Language, Mask],
                      rises: Rises) -> tuple[dict[Language, Mask], list[dict]]:
    """G2: the monolingual regions of the languages' own top regions ``own`` (language -> mask), and the rows of
    each zeroed in turn, ``rises(owner=, entries=)``; shared by our runs and pretrained models as ``ablation_rises``."""
    mono = monolingual_regions(own)
    rows = []
    for owner, mask in mono.items():
        with ablated(model, mask):
            rows += rises(owner=owner, entries=size(mask))
    return mono, rows


@contextmanager
def scaled(model: nn.Module, param: str, index: int, factor: float) -> Iterator[nn.Module]:
    """``model`` with the gain of one hidden dimension multiplied by ``factor``: the entry ``index`` of a norm's
    1-d weight, restored exactly afterwards. A LLaMA-style norm multiplies by its weight, so the entry itself is
    scaled (the paper's recipe); Gemma's multiplies by ``1 + weight`` (:func:`gain_offset`), so the entry becomes
    ``factor * (1 + w) - 1``, the same change of gain. Another 1-d parameter is scaled as it is."""
    p = dict(model.named_parameters())[param]
    if p.dim() != 1 or not 0 <= index < p.numel():
        raise ValueError(f"scaled needs a 1-d parameter and 0 <= index < {p.numel()}; got {param} {tuple(p.shape)} "
                         f"index={index}")
    offset = _offset_of(model, param)
    old = p.detach()[index].clone()
    with torch.no_grad():
        p[index] = (old + offset) * factor - offset
    try:
        yield model
    finally:
        with torch.no_grad():
            p[index] = old


def _offset_of(model: nn.Module, param: str) -> float:
    """``gain_offset`` of the norm that owns ``param`` when it is a norm's weight; 0 for any other parameter."""
    owner = model.get_submodule(param.rpartition(".")[0]) if "." in param else model
    return gain_offset(owner) if param.endswith(".weight") and "Norm" in type(owner).__name__ else 0.0


def dimension_gain(model: nn.Module, param: str, index: int) -> float:
    """The gain a norm weight ``param`` applies to hidden dimension ``index``: its entry plus the norm's offset
    (0 shuts the dimension off, and no scaling of that gain can act on it)."""
    return float(model.get_parameter(param).detach()[index]) + _offset_of(model, param)


@torch.no_grad()
def gain_offset(norm: nn.Module) -> float:
    """What a norm adds to its weight before it multiplies the normalised input: 0 for LLaMA's RMSNorm and
    LayerNorm (``x_hat * w + b``), 1 for Gemma's RMSNorm (``x_hat * (1 + w)``). Found by running the norm on a
    probe vector with its weight set to 0 and to 1 (then restored), so no architecture is named here."""
    w = norm.weight
    saved = w.detach().clone()
    probe = torch.linspace(-1.0, 2.0, w.numel(), dtype=w.dtype)[None]
    try:
        w.zero_()
        at_zero = norm(probe)
        w.fill_(1.0)
        x_hat = norm(probe) - at_zero
    finally:
        w.copy_(saved)
    bias = getattr(norm, "bias", None)
    gain_at_zero = at_zero - (bias if bias is not None else 0.0)
    usable = x_hat.abs() > 1e-3
    return round(float((gain_at_zero[usable] / x_hat[usable]).median()), 6)


@torch.no_grad()
def language_losses(model: nn.Module, data: dict[int, torch.Tensor], loss_fn: LossFn,
                    batch_size: int = 1024) -> dict[int, float]:
    """Mean loss per language (``data``: language -> token sequences); batches are weighted by size."""
    was_training = model.training
    model.eval()
    out = {}
    for lang, tokens in data.items():
        total = sum(float(loss_fn(model, c)) * len(c) for c in tokens.split(batch_size))
        out[lang] = total / len(tokens)
    model.train(was_training)
    return out


@torch.no_grad()
def dimension_magnitudes(model: nn.Module, tokens: torch.Tensor, batch_size: int = 1024) -> pd.DataFrame:
    """Mean ``|activation|`` of every hidden dimension at the input of every norm inside the blocks (rows: the norm
    weight it feeds, e.g. ``blocks.{i}.ln1.weight`` of our models, ``model.layers.{i}.input_layernorm.weight``
    of a Hugging Face Llama; columns: dimensions), over ``tokens`` in batches of ``batch_size`` sequences (a
    large vocabulary's logits are big). Outlier dimensions, in the paper's sense, are the few whose magnitude
    dwarfs the others'."""
    with norm_input_magnitudes(model) as magnitudes:
        for chunk in tokens.split(batch_size):
            model(chunk)
    return magnitudes()


@torch.no_grad()
def massive_activations(model: nn.Module, tokens: torch.Tensor) -> pd.DataFrame:
    """Per residual-stream hook point of one of our models (``model.hook_names``): the largest ``|activation|``
    over every token and dimension of ``tokens`` (one pass: a few hundred sequences), where it sits
    (``dimension``, ``position``), the median ``|activation|`` and their ``ratio``. Massive activations (Sun et
    al. 2024) are single entries thousands of times the median, at a fixed dimension and at the first or
    delimiter tokens; a mean over tokens (as ``dimension_magnitudes`` takes) would dilute them."""
    was_training = model.training
    model.eval()
    h = model.residual_stream(tokens).abs()  # [L + 1, B, T, d]
    model.train(was_training)
    flat = h.flatten(1)
    top, index = flat.max(1)
    median = flat.median(1).values
    rows = []
    for layer, name in enumerate(model.hook_names):
        _, position, dim = np.unravel_index(int(index[layer]), h.shape[1:])
        rows.append({"layer": layer, "hook": name, "top": float(top[layer]), "dimension": int(dim),
                     "position": int(position), "median": float(median[layer]),
                     "ratio": float(top[layer] / median[layer])})
    return pd.DataFrame(rows)


@contextmanager
def norm_input_magnitudes(model: nn.Module) -> Iterator[Callable[[], pd.DataFrame]]:
    """Record ``dimension_magnitudes`` over every forward pass run inside the block (so that a pass the caller
    needs anyway, such as measuring losses, also gives the magnitudes); yields the function that returns them.
    Norms of another width than the most common one (Gemma's per-head query and key norms) are left out."""
    sums: dict[str, torch.Tensor] = {}
    tokens: dict[str, int] = {}
    handles = []
    for name, module in model.named_modules():
        weight = getattr(module, "weight", None)
        if "Norm" in type(module).__name__ and _BLOCK.search(f"{name}.weight") and weight is not None \
                and weight.dim() == 1:
            def record(_, inputs, key=f"{name}.weight"):
                x = inputs[0].detach()
                total = x.abs().sum((0, 1))
                sums[key] = sums[key] + total if key in sums else total
                tokens[key] = tokens.get(key, 0) + x.shape[0] * x.shape[1]
            handles.append(module.register_forward_pre_hook(record))
    if not handles:
        raise ValueError("the model has no norm inside its blocks (blocks.N. / layers.N. / h.N.) to measure")

    def magnitudes() -> pd.DataFrame:
        width = pd.Series([len(v) for v in sums.values()]).mode()[0]
        return pd.DataFrame({k: (v / tokens[k]).cpu().numpy() for k, v in sums.items() if len(v) == width}).T

    try:
        yield magnitudes
    finally:
        for h in handles:
            h.remove()


def outlier_and_typical(magnitudes: pd.DataFrame, n_typical: int = 8) -> tuple[str, int, list[int]]:
    """The norm weight and dimension with the largest magnitude relative to its row's median (the outlier),
    and the ``n_typical`` dimensions of that row closest to the median (the typical controls)."""
    ratio = magnitudes.div(magnitudes.median(axis=1), axis=0)
    param, dim = ratio.stack().idxmax()
    row = magnitudes.loc[param]
    typical = (row - row.median()).abs().drop(index=dim).sort_values(kind="stable").index[:n_typical]
    return str(param), int(dim), [int(d) for d in typical]


# ---------------------------------------------------------------------------------------------- freezing
class Freezer:
    """Keeps a region's entries at their current values: call ``restore()`` after every optimiser step (the
    paper's recipe; it also undoes weight decay and Adam's momentum on the frozen entries)."""

    def __init__(self, model: nn.Module, mask: Mask | None):
        params = dict(model.named_parameters())
        self.items = [(params[n], m, params[n].detach()[m].clone()) for n, m in (mask or {}).items()]

    @torch.no_grad()
    def restore(self) -> None:
        for p, m, saved in self.items:
            p[m] = saved


def continue_training(model: nn.Module, tokens: torch.Tensor, loss_fn: LossFn, *, steps: int, batch_size: int,
                      lr: float, weight_decay: float, seed: int, frozen: Mask | None,
                      evaluate: Callable[[nn.Module], dict], eval_every: int, progress: bool = False) -> pd.DataFrame:
    """Train ``model`` further on ``tokens`` (one new language) with AdamW at a constant learning rate,
    keeping ``frozen`` fixed; ``evaluate(model)`` (a dict of numbers) is recorded at step 0 and every
    ``eval_every`` steps, with the number of sequences seen so far, so arms are compared at equal exposure."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.98))
    freezer = Freezer(model, frozen)
    rows = [{"step": 0, "sequences": 0, **evaluate(model)}]
    model.train()
    for step in tqdm(range(1, steps + 1), desc="continue", disable=not progress, leave=False):
        idx = torch.randint(len(tokens), (batch_size,), generator=g).to(tokens.device)
        loss = loss_fn(model, tokens[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        freezer.restore()
        if step % eval_every == 0 or step == steps:
            rows.append({"step": step, "sequences": step * batch_size, **evaluate(model)})
    model.eval()
    return pd.DataFrame(rows)


def language_tokens(world, language: int, n: int, stream: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """Up to ``n`` sequences of ``language`` from the world's design (held-out languages included), a fixed
    sample per ``stream`` so that selection and evaluation can use different sequences."""
    fact, lang = world.design_pairs
    fact = fact[lang == language]
    rng = np.random.default_rng([world.cfg.world_seed, 100 + stream, language])
    pick = np.sort(rng.choice(len(fact), size=min(n, len(fact)), replace=False))
    return torch.as_tensor(world.encode(fact[pick], np.full(len(pick), language)).tokens, device=device)
