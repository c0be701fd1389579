"""Evaluation reads the query alone: the same numbers as a pass over the full sequences (which it replaced, for a
fifth to a half less work per checkpoint), on every kind of world and model the book trains."""

import pytest
import torch

from crosslingual.core.config import make_config
from crosslingual.core.evaluate import answer_logits, evaluate, hidden_states, query_states
from crosslingual.core.metrics import (
    answer_accuracy,
    answer_loss,
    language_probe_accuracy,
    retrieval_at_1,
    unification_score,
)
from crosslingual.core.train import Trainer

WORLDS = {  # word ids (5 tokens), BPE pieces over two Latin scripts, the LLaMA variant with the full loss
    "word": {},
    "bpe": {"tokenizer": "bpe", "scripts": ["latin", "latin"], "bpe_vocab_size": 96},
    "llama": {"arch": "llama", "loss": "full", "n_languages": 3},
}


@pytest.fixture(scope="module", params=list(WORLDS))
def trained(request):
    trainer = Trainer(make_config("smoke", seed=3, **WORLDS[request.param]))
    for _ in range(40):  # away from the initialisation, where every logit is nearly equal
        trainer.train_step()
    return trainer.model.eval(), trainer.eval_data, trainer.world


def full_stream(model, tokens: torch.Tensor) -> torch.Tensor:
    """The residual stream ``[L+1, B, T, d]`` of a pass over the full sequences."""
    cache = {}
    model(tokens, cache)
    return torch.stack([cache[n] for n in model.hook_names])


def reference(model, data) -> dict[tuple[str, int, str], float]:
    """The metrics as evaluation computed them before: logits and residual streams of the full sequences."""
    out = {}
    with torch.no_grad():
        for split, tokens in (("in", data.in_tokens), ("xling", data.xl_tokens)):
            logits = model(tokens)[:, -2]
            out[(f"acc_{split}", -1, "")] = answer_accuracy(logits, tokens).float().mean().item()
            out[(f"loss_{split}", -1, "")] = answer_loss(logits, tokens).item()
        resid = full_stream(model, data.unif_tokens)
        rows = torch.arange(len(data.unif_tokens))
        for pos, index in data.unif_positions.items():
            h = resid[:, rows, index].reshape(resid.shape[0], data.n_languages, -1, resid.shape[-1])
            for metric, values in (("unification", unification_score(h, data.unif_relation)),
                                   ("retrieval_at_1", retrieval_at_1(h)),
                                   ("language_probe", language_probe_accuracy(h))):
                out.update({(metric, layer, pos): v for layer, v in enumerate(values.tolist())})
    return out


def test_evaluation_equals_the_full_sequence_pass(trained):
    model, data, _ = trained
    rows = {(r["metric"], r["layer"], r["position"]): r["value"] for r in evaluate(model, data, step=0)}
    expected = reference(model, data)
    assert set(expected) <= set(rows)
    for key, value in expected.items():
        assert rows[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


def test_answer_logits_are_the_full_pass_at_the_last_query_position(trained):
    model, data, _ = trained
    with torch.no_grad():
        torch.testing.assert_close(answer_logits(model, data.in_tokens), model(data.in_tokens)[:, -2])


def test_query_states_are_the_full_pass_at_every_probed_position(trained):
    model, data, world = trained
    with torch.no_grad():
        states = query_states(model, data.unif_tokens, data.unif_positions, data.n_languages)
        resid = full_stream(model, data.unif_tokens)
    for pos, index in data.unif_positions.items():
        assert (index < data.unif_tokens.shape[1] - 1).all()  # every probe precedes the value token
        expected = resid[:, torch.arange(len(index)), index]
        torch.testing.assert_close(states[pos], expected.reshape(states[pos].shape))
    facts = world.unification_facts(16)
    assert hidden_states(model, world, facts).shape == (model.cfg.n_layers + 1, data.n_languages, 16,
                                                        model.cfg.d_model)
