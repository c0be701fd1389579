import pytest
import torch

from crosslingual.core.config import make_config
from crosslingual.core.model import Transformer


@pytest.mark.parametrize("arch", ["gpt", "llama"])
def test_shapes_hooks_and_causality(arch):
    cfg = make_config("smoke", arch=arch, n_layers=2).model
    model = Transformer(cfg, vocab_size=50, seq_len=6).init_weights(0)
    tokens = torch.randint(0, 50, (3, 6), generator=torch.Generator().manual_seed(0))
    cache = {}
    logits = model(tokens, cache)
    assert logits.shape == (3, 6, 50)
    # TransformerLens's names and meanings
    assert set(cache) == {"hook_embed", "hook_pos_embed",
                          *(f"blocks.{i}.hook_resid_{p}" for i in range(2) for p in ("pre", "mid", "post"))}
    torch.testing.assert_close(cache["hook_embed"], model.embed(tokens))  # the token embedding only
    torch.testing.assert_close(cache["hook_pos_embed"][1], model.pos_embed.weight)  # the position embedding only
    torch.testing.assert_close(cache["blocks.0.hook_resid_pre"], cache["hook_embed"] + cache["hook_pos_embed"])
    torch.testing.assert_close(cache["blocks.1.hook_resid_pre"], cache["blocks.0.hook_resid_post"])
    resid = model.residual_stream(tokens)
    assert resid.shape == (3, 3, 6, cfg.d_model)
    torch.testing.assert_close(resid[0], cache["blocks.0.hook_resid_pre"])
    torch.testing.assert_close(resid[-1], cache["blocks.1.hook_resid_post"])
    changed = tokens.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 50
    torch.testing.assert_close(model(changed)[:, :-1], logits[:, :-1])  # the future never leaks back


def test_llama_variant_has_no_biases_and_gpt_has():
    llama = Transformer(make_config("smoke", arch="llama").model, 20, 6)
    gpt = Transformer(make_config("smoke", arch="gpt").model, 20, 6)
    assert not any(n.endswith("bias") for n, _ in llama.named_parameters())
    assert any(n.endswith("bias") for n, _ in gpt.named_parameters())
    assert any("gate" in n for n, _ in llama.named_parameters())


def test_initialisation_is_seeded_and_private():
    cfg = make_config("smoke").model
    torch.manual_seed(123)
    before = torch.rand(1)
    a = Transformer(cfg, 30, 6).init_weights(7)
    torch.manual_seed(123)
    b = Transformer(cfg, 30, 6).init_weights(7)
    assert torch.rand(1) == before  # init did not consume the global generator
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q), n
    c = Transformer(cfg, 30, 6).init_weights(8)
    assert not torch.equal(a.embed.weight, c.embed.weight)


def test_tied_embeddings_share_one_tensor():
    m = Transformer(make_config("smoke", tie_embeddings=True).model, 30, 6)
    assert m.unembed.weight is m.embed.weight
