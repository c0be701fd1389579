"""The stacked training forward pass computes the module's function, for every architecture and loss."""

import pytest
import torch

from crosslingual.core import stacked
from crosslingual.core.config import make_config
from crosslingual.core.model import Transformer
from crosslingual.core.train import lm_loss

VOCAB, SEQ = 37, 7


def _models(k: int, **overrides) -> list[Transformer]:
    cfg = make_config("smoke", **overrides).model
    models = [Transformer(cfg, VOCAB, SEQ).init_weights(seed) for seed in range(k)]
    with torch.no_grad():  # non-trivial norms and biases, so that every parameter is exercised
        for m in models:
            for name, p in m.named_parameters():
                if p.dim() == 1:
                    p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(len(name))))
    return models


ARCHS = [dict(arch="gpt"), dict(arch="llama"), dict(arch="gpt", tie_embeddings=True), dict(arch="gpt", n_layers=3)]


@pytest.mark.parametrize("overrides", ARCHS, ids=lambda o: "-".join(map(str, o.values())))
@pytest.mark.parametrize("last_only", [False, True])
def test_stacked_logits_equal_the_modules_within_round_off(overrides, last_only):
    models = _models(3, **overrides)
    tokens = torch.randint(0, VOCAB, (3, 5, SEQ))
    logits, last = stacked.forward(stacked.stack_parameters(models), models[0].cfg, tokens, last_only=last_only)
    for k, m in enumerate(models):
        cache = {}
        want = m(tokens[k], cache=cache)
        torch.testing.assert_close(logits[k], want[:, -1] if last_only else want, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(last[k], cache[m.hook_names[-1]][:, -1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["answer", "full"])
def test_stacked_losses_equal_lm_loss_with_padding(kind):
    models = _models(2, arch="llama")
    tokens = torch.randint(1, VOCAB, (2, 6, SEQ))
    tokens[:, :2, :3] = 0  # left padding, ignored by the full loss
    got, _ = stacked.losses(stacked.stack_parameters(models), models[0].cfg, tokens, kind, pad_id=0)
    want = torch.stack([lm_loss(m, t, kind, pad_id=0) for m, t in zip(models, tokens)])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_bound_modules_share_the_stacked_memory():
    models = _models(2, tie_embeddings=True)
    params = stacked.stack_parameters(models)
    for k, m in enumerate(models):
        stacked.bind(m, params, k)
    with torch.no_grad():
        params["embed.weight"][1, 0, 0] = 42.0
    assert models[1].embed.weight[0, 0] == 42.0 and models[1].unembed.weight is models[1].embed.weight
    assert models[0].embed.weight[0, 0] != 42.0


def test_a_run_slice_does_not_depend_on_the_other_runs():
    """Each run's logits and gradients are bit-identical whatever runs it is stacked with."""
    models = _models(3)
    tokens = torch.randint(0, VOCAB, (3, 5, SEQ))

    def run(ms, toks):
        p = stacked.stack_parameters(ms)
        loss, _ = stacked.losses(p, ms[0].cfg, toks, "answer")
        loss.sum().backward()
        return loss.detach(), {n: t.grad for n, t in p.items()}

    alone, grads_alone = run(models[1:2], tokens[1:2])
    together, grads_together = run(models, tokens)
    assert torch.equal(alone[0], together[1])
    for name, g in grads_alone.items():
        assert torch.equal(g[0], grads_together[name][1]), name
