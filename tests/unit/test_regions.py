import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from crosslingual.analysis.regions import (
    Freezer,
    ablated,
    ablation_rises,
    bottom_region,
    continue_training,
    dimension_gain,
    dimension_magnitudes,
    full_loss,
    gain_offset,
    importance,
    jaccard,
    language_losses,
    monolingual_regions,
    monolingual_rises,
    outlier_and_typical,
    random_region,
    region_map,
    region_size,
    scaled,
    size,
    top_region,
    total_scores,
    units,
)
from crosslingual.core.config import ModelConfig
from crosslingual.core.model import Transformer

EXCLUDED = ("embed.weight", "pos_embed.weight", "ln_final.weight", "unembed.weight")


def tiny(arch: str = "llama", dtype: torch.dtype = torch.float32, seed: int = 0) -> Transformer:
    model = Transformer(ModelConfig(arch=arch, n_layers=2, d_model=16, n_heads=2, d_mlp=32), 11, 6).init_weights(seed)
    return model.to(dtype)


def tokens(n: int = 24, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 11, (n, 6), generator=torch.Generator().manual_seed(seed))


def test_units_cover_the_blocks_only_and_split_the_fused_projection():
    model = tiny()
    us = units(model)
    assert {u.param for u in us}.isdisjoint(EXCLUDED)
    assert [u.tensor for u in us if u.layer == 0][:4] == ["ln1.weight", "attn.q", "attn.k", "attn.v"]
    covered = sum(model.get_parameter(u.param)[u.rows].numel() if u.rows else model.get_parameter(u.param).numel()
                  for u in us)
    block_params = sum(p.numel() for n, p in model.named_parameters() if n.startswith("blocks."))
    assert covered == block_params


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.5])
@pytest.mark.parametrize("arch", ["llama", "gpt"])
def test_regions_have_exactly_the_requested_size_in_every_unit(fraction, arch):
    model = tiny(arch)
    scores = importance(model, tokens(), full_loss())
    for mask in (top_region(model, scores, fraction), bottom_region(model, scores, fraction),
                 random_region(model, fraction, seed=3)):
        assert set(mask).isdisjoint(EXCLUDED)
        for u in units(model):
            m = mask[u.param][u.rows] if u.rows else mask[u.param]
            assert int(m.sum()) == region_size(m.numel(), fraction), (u, fraction)


def test_top_and_bottom_pick_the_extreme_scores_and_random_regions_are_seeded():
    model = tiny()
    scores = importance(model, tokens(), full_loss())
    top, bottom = top_region(model, scores, 0.1), bottom_region(model, scores, 0.1)
    for u in units(model):
        s = scores[u.param][u.rows] if u.rows else scores[u.param]
        t = top[u.param][u.rows] if u.rows else top[u.param]
        b = bottom[u.param][u.rows] if u.rows else bottom[u.param]
        assert s[t].min() >= s[~t].max() and s[b].max() <= s[~b].min()
    assert jaccard(random_region(model, 0.1, 1), random_region(model, 0.1, 1)) == 1.0
    assert jaccard(random_region(model, 0.1, 1), random_region(model, 0.1, 2)) < 0.5
    with pytest.raises(ValueError, match="fraction"):
        region_size(10, 0.0)


def test_importance_matches_a_finite_difference_of_the_loss():
    """|theta * g| is the first-order loss change when theta is zeroed; g must be the gradient of the mean loss
    over all sequences. Checked against central differences in float64 (step 1e-4, tolerance 1e-5 relative:
    the truncation error is about 1e-7 relative, the round-off of smaller steps much larger)."""
    model, x = tiny(dtype=torch.float64), tokens(20)
    loss_fn = full_loss()
    scores = importance(model, x, loss_fn, batch_size=7)  # batches of unequal size must be weighted correctly
    rng = np.random.default_rng(0)
    for name in ("blocks.0.attn.qkv.weight", "blocks.1.mlp.down.weight", "blocks.1.ln2.weight"):
        p = model.get_parameter(name)
        for flat in rng.choice(p.numel(), size=3, replace=False):
            idx = np.unravel_index(flat, p.shape)
            eps, theta = 1e-4, float(p.detach()[idx])
            with torch.no_grad():
                p[idx] = theta + eps
                up = float(loss_fn(model, x))
                p[idx] = theta - eps
                down = float(loss_fn(model, x))
                p[idx] = theta
            expected = abs(theta * (up - down) / (2 * eps))
            assert float(scores[name][idx]) == pytest.approx(expected, rel=1e-5)


def test_importance_methods_agree_on_one_batch_and_abs_bounds_signed():
    model, x = tiny(dtype=torch.float64), tokens(16)
    signed = importance(model, x, full_loss(), batch_size=16)
    one_batch = importance(model, x, full_loss(), method="abs", batch_size=16)
    many = importance(model, x, full_loss(), method="abs", batch_size=4)
    for n in signed:
        torch.testing.assert_close(signed[n], one_batch[n])
        assert bool((many[n] >= signed[n] - 1e-12).all())  # the triangle inequality
    with pytest.raises(ValueError, match="method"):
        importance(model, x, full_loss(), method="fisher")


def test_monolingual_regions_and_jaccard_hand_computed():
    a = {"w": torch.tensor([True, True, False, False])}
    b = {"w": torch.tensor([False, True, True, False])}
    c = {"w": torch.tensor([False, False, True, True])}
    mono = monolingual_regions({0: a, 1: b, 2: c})
    assert mono[0]["w"].tolist() == [True, False, False, False]
    assert mono[1]["w"].tolist() == [False, False, False, False]
    assert mono[2]["w"].tolist() == [False, False, False, True]
    assert jaccard(a, b) == pytest.approx(1 / 3) and jaccard(a, c) == 0.0 and size(a) == 2
    totals = total_scores({0: {"w": torch.ones(2)}, 1: {"w": torch.tensor([1.0, 3.0])}})
    assert totals["w"].tolist() == [2.0, 4.0]


class _Four(nn.Module):
    """One parameter ``w`` = [1, 2, 3, 4]: a region's effect is read off the sum of what is left."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([1.0, 2.0, 3.0, 4.0]))


def _mask(*bits: int) -> dict[str, torch.Tensor]:
    return {"w": torch.tensor([bool(b) for b in bits])}


def test_ablation_and_monolingual_rises_zero_each_region_in_turn_hand_computed():
    model = _Four()

    def rises(**labels) -> list[dict]:  # the caller's measurement: here the sum of the weights left
        return [{**labels, "left": float(model.w.detach().sum())}]

    regions = {"core": _mask(1, 1, 0, 0), "bottom": _mask(0, 0, 1, 1), "random": _mask(1, 0, 1, 0)}
    rows = ablation_rises(model, regions, rises, fraction=0.5)
    assert rows == [
        {"fraction": 0.5, "region": "core", "entries": 2, "jaccard_with_core": 1.0, "left": 7.0},
        {"fraction": 0.5, "region": "bottom", "entries": 2, "jaccard_with_core": 0.0, "left": 3.0},
        {"fraction": 0.5, "region": "random", "entries": 2, "jaccard_with_core": pytest.approx(1 / 3), "left": 6.0}]
    assert [list(r) for r in rows] == [["fraction", "region", "entries", "jaccard_with_core", "left"]] * 3
    mono, rows = monolingual_rises(model, {"en": _mask(1, 1, 0, 0), "ru": _mask(0, 1, 1, 0)}, rises)
    assert {k: m["w"].tolist() for k, m in mono.items()} == {"en": [True, False, False, False],
                                                            "ru": [False, False, True, False]}
    assert rows == [{"owner": "en", "entries": 1, "left": 9.0}, {"owner": "ru", "entries": 1, "left": 7.0}]
    assert model.w.tolist() == [1.0, 2.0, 3.0, 4.0]  # restored after every region


def test_ablation_and_scaling_change_only_their_entries_and_restore_them_exactly():
    model = tiny()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    mask = random_region(model, 0.2, seed=0)
    with ablated(model, mask):
        for n, p in model.named_parameters():
            if n in mask:
                assert bool((p[mask[n]] == 0).all())
                assert torch.equal(p[~mask[n]], before[n][~mask[n]])
            else:
                assert torch.equal(p, before[n])
    with scaled(model, "blocks.0.ln1.weight", 3, 4.0):
        w = model.get_parameter("blocks.0.ln1.weight").detach()
        assert float(w[3]) == pytest.approx(4 * float(before["blocks.0.ln1.weight"][3]))
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), n
    with pytest.raises(ValueError, match="1-d parameter"):
        with scaled(model, "blocks.0.mlp.up.weight", 0, 2.0):
            pass


def _gemma_norm(d: int = 6):
    pytest.importorskip("transformers")
    from transformers.models.gemma3.modeling_gemma3 import Gemma3RMSNorm

    norm = Gemma3RMSNorm(d)
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(-0.5, 0.7, d))
    return norm


def test_a_norms_gain_offset_is_found_by_probing_it():
    pytest.importorskip("transformers")
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    layer_norm = nn.LayerNorm(6)
    with torch.no_grad():
        layer_norm.bias.fill_(0.3)  # a bias must not read as an offset
        layer_norm.weight.fill_(2.0)
    gemma = _gemma_norm()
    saved = gemma.weight.detach().clone()
    assert gain_offset(layer_norm) == 0.0 and gain_offset(LlamaRMSNorm(6)) == 0.0 and gain_offset(gemma) == 1.0
    assert torch.equal(gemma.weight, saved) and torch.equal(layer_norm.weight, torch.full((6,), 2.0))


def test_scaling_a_gemma_norm_entry_multiplies_that_dimensions_gain():
    """Gemma's norm multiplies by 1 + w: scaling dimension 2 by 4 must make its output 4 times larger and leave
    the others unchanged, as scaling w does in a LLaMA norm."""
    norm = _gemma_norm()
    holder = nn.ModuleDict({"ln": norm})
    x = torch.randn(3, 6, generator=torch.Generator().manual_seed(0))
    before = norm(x).detach()
    assert dimension_gain(holder, "ln.weight", 2) == pytest.approx(1 + float(norm.weight.detach()[2]))
    with scaled(holder, "ln.weight", 2, 4.0):
        after = norm(x).detach()
    torch.testing.assert_close(after[:, 2], 4 * before[:, 2])
    torch.testing.assert_close(after[:, [0, 1, 3, 4, 5]], before[:, [0, 1, 3, 4, 5]])
    torch.testing.assert_close(norm(x), before)


def test_zeroing_the_core_hurts_more_than_the_bottom_on_a_trained_model():
    """A few steps on a fixed batch make the importance meaningful; then the core must matter more."""
    torch.manual_seed(0)
    model, x = tiny(), tokens(32)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(40):
        opt.zero_grad()
        full_loss()(model, x).backward()
        opt.step()
    scores = importance(model, x, full_loss())
    base = language_losses(model, {0: x}, full_loss())[0]
    with ablated(model, top_region(model, scores, 0.05)):
        core = language_losses(model, {0: x}, full_loss())[0]
    with ablated(model, bottom_region(model, scores, 0.05)):
        bottom = language_losses(model, {0: x}, full_loss())[0]
    assert core - base > 3 * max(bottom - base, 1e-4)


def test_freezing_keeps_masked_entries_bit_identical_during_training():
    model, x = tiny(), tokens(64)
    mask = random_region(model, 0.3, seed=1)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    curve = continue_training(model, x, full_loss(), steps=5, batch_size=8, lr=1e-2, weight_decay=0.5, seed=0,
                              frozen=mask, evaluate=lambda m: {"loss": language_losses(m, {0: x}, full_loss())[0]},
                              eval_every=2)
    assert curve.step.tolist() == [0, 2, 4, 5] and curve.sequences.tolist() == [0, 16, 32, 40]
    for n, m in mask.items():
        p = model.get_parameter(n)
        assert torch.equal(p[m], before[n][m])
        assert not torch.equal(p[~m], before[n][~m])  # the rest did train


def test_freezing_a_hugging_face_model():
    model = tiny_llama().train()
    names = {u.param for u in units(model)}
    assert names and all(".layers." in n for n in names) and "lm_head.weight" not in names
    mask = random_region(model, 0.1, seed=0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    freezer = Freezer(model, mask)
    x = torch.randint(0, 32, (4, 8), generator=torch.Generator().manual_seed(0))
    for _ in range(3):
        opt.zero_grad()
        model(input_ids=x, labels=x).loss.backward()
        opt.step()
        freezer.restore()
    for n, m in mask.items():
        assert torch.equal(model.get_parameter(n)[m], before[n][m])
    assert not torch.equal(model.get_parameter("lm_head.weight"), before["lm_head.weight"])


def tiny_llama(seed: int = 0):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                   num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=16)
    torch.manual_seed(seed)
    return transformers.LlamaForCausalLM(cfg).eval()


def test_dimension_magnitudes_are_the_mean_absolute_norm_inputs_of_our_models():
    model = tiny().eval()
    x = tokens(8)
    cache: dict = {}
    with torch.no_grad():
        model(x, cache=cache)
    mags = dimension_magnitudes(model, x)
    assert list(mags.index) == ["blocks.0.ln1.weight", "blocks.0.ln2.weight", "blocks.1.ln1.weight",
                                "blocks.1.ln2.weight"]
    for i in range(2):
        for norm, hook in (("ln1", "hook_resid_pre"), ("ln2", "hook_resid_mid")):
            expected = cache[f"blocks.{i}.{hook}"].abs().mean((0, 1)).numpy()
            np.testing.assert_allclose(mags.loc[f"blocks.{i}.{norm}.weight"].to_numpy(), expected, rtol=1e-6)
    pd.testing.assert_frame_equal(dimension_magnitudes(model, x, batch_size=3), mags, rtol=1e-5)


def test_dimension_magnitudes_of_a_hugging_face_llama_name_its_norm_weights():
    model = tiny_llama()
    x = torch.randint(0, 32, (3, 8), generator=torch.Generator().manual_seed(1))
    seen = {}
    hook = model.model.layers[1].post_attention_layernorm.register_forward_pre_hook(
        lambda _, inputs: seen.update(x=inputs[0].abs().mean((0, 1))))
    mags = dimension_magnitudes(model, x)
    hook.remove()
    assert list(mags.index) == [f"model.layers.{i}.{n}.weight" for i in range(2)
                                for n in ("input_layernorm", "post_attention_layernorm")]
    assert mags.shape == (4, 16) and set(mags.index) <= {n for n, _ in model.named_parameters()}
    np.testing.assert_allclose(mags.loc["model.layers.1.post_attention_layernorm.weight"].to_numpy(),
                               seen["x"].detach().numpy(), rtol=1e-6)
    assert not model.model.layers[0].input_layernorm._forward_pre_hooks  # no hook left behind


def test_dimension_magnitudes_refuse_a_model_without_block_norms():
    with pytest.raises(ValueError, match="no norm inside its blocks"):
        dimension_magnitudes(torch.nn.Sequential(torch.nn.Linear(4, 4)), torch.zeros(2, 4))


def test_outlier_and_typical_dimensions_hand_computed():
    mags = pd.DataFrame([[1.0, 1.1, 0.9, 1.0, 9.0], [1.0, 1.0, 1.0, 1.2, 1.0]],
                        index=["blocks.0.ln1.weight", "blocks.0.ln2.weight"])
    param, dim, typical = outlier_and_typical(mags, n_typical=2)
    assert (param, dim) == ("blocks.0.ln1.weight", 4)
    assert typical == [0, 3]  # magnitude 1.0 = the row's median; stable order


def test_region_map_sums_per_unit():
    model = tiny()
    ones = {n: torch.ones_like(p) for n, p in model.named_parameters()}
    table = region_map(model, ones)
    assert table.shape == (2, 9)
    assert table.loc[0, "attn.q"] == 16 * 16 and table.loc[1, "mlp.down.weight"] == 32 * 16


def test_study_grid_holds_out_the_new_language_and_selects_on_four():
    from crosslingual.analysis.regions_study import EVALUATED, NEW_LANGUAGE, SELECTED
    from crosslingual.store.grids import Grid

    cfgs = [cfg for *_, cfg in Grid.load("regions").expand("smoke", seeds=2, seed=5)]
    assert [c.seed for c in cfgs] == [5, 6] and len({c.hash() for c in cfgs}) == 2
    w = cfgs[0].world
    assert w.n_languages - w.held_out_languages == len(EVALUATED) and NEW_LANGUAGE == w.n_languages - 1
    assert len(SELECTED) == 4 and set(SELECTED) < set(EVALUATED)
    assert len(set(w.scripts)) < w.n_languages  # some languages share a script
    assert cfgs[0].model.arch == "llama" and cfgs[0].train.loss == "full"


def test_the_large_study_differs_from_regions_only_in_model_training_and_packing():
    from crosslingual.store.grids import Grid

    (*_, small), = Grid.load("regions").expand("default", seeds=1)
    (*_, large), = Grid.load("regions_large").expand("default", seeds=1)
    assert large.world == small.world and large.seed == small.seed
    assert (large.model.d_model, large.model.n_layers, large.model.d_mlp) == (128, 4, 512)
    assert (large.train.steps, large.train.batch_size, large.train.facts_per_sequence) == (4500, 32, 4)
    assert large.train.weight_decay == 0.1 and small.train.weight_decay == 1.0
    # the same facts per step as the study regions, in packed sequences
    assert large.train.batch_size * large.train.facts_per_sequence == small.train.batch_size


def test_forgetting_summary_hand_computed():
    from crosslingual.analysis.regions_study import NEW_LANGUAGE, forgetting_summary

    rows = []
    for arm, rise in (("full", 0.4), ("core frozen", 0.1)):
        for step in (0, 10):
            rows += [{"arm": arm, "step": step, "kind": "answer", "language": k, "loss": 1.0 + rise * k * step / 10}
                     for k in (0, 1)]
            rows.append({"arm": arm, "step": step, "kind": "answer", "language": NEW_LANGUAGE, "loss": 5.0 - step / 10})
            rows.append({"arm": arm, "step": step, "kind": "full", "language": 0, "loss": 9.0})
    out = forgetting_summary(pd.DataFrame(rows)).set_index("arm")
    assert out.loc["full", "forgetting"] == pytest.approx(0.2)
    assert out.loc["core frozen", "forgetting"] == pytest.approx(0.05)
    assert out.loc["full", "new_loss"] == pytest.approx(4.0)


def test_cached_table_computes_once_per_key(tmp_path):
    from crosslingual.store.derived import cached_table

    calls = []

    def compute():
        calls.append(1)
        return pd.DataFrame({"x": [1.0, 2.0]})

    first = cached_table("t", {"a": 1}, compute, root=tmp_path)
    again = cached_table("t", {"a": 1}, compute, root=tmp_path)
    cached_table("t", {"a": 2}, compute, root=tmp_path)
    pd.testing.assert_frame_equal(first, again)
    assert len(calls) == 2 and not list(tmp_path.rglob("*.tmp"))


def test_cached_table_recomputes_for_a_new_code_version_only(tmp_path):
    from crosslingual.store.derived import cached_table

    calls = []

    def compute():
        calls.append(1)
        return pd.DataFrame({"x": [1.0]})

    for version, expected in ((1, 1), (1, 1), (2, 2), (2, 2), (3, 3)):
        cached_table("t", {"a": 1}, compute, root=tmp_path, version=version)
        assert len(calls) == expected
    cached_table("t", {"a": 1}, compute, root=tmp_path)  # the default is version 1: tables cached before versions
    assert len(calls) == 3


def test_cached_table_without_a_computation_reads_what_is_cached_and_none_otherwise(tmp_path):
    from crosslingual.store.derived import cached_table

    assert cached_table("t", {"a": 1}, None, root=tmp_path) is None
    cached_table("t", {"a": 1}, lambda: pd.DataFrame({"x": [1.0]}), root=tmp_path)
    assert cached_table("t", {"a": 1}, None, root=tmp_path).x.tolist() == [1.0]
    (table,) = (tmp_path / ".derived").glob("t-*.parquet")
    table.write_bytes(b"damaged")
    with pytest.warns(UserWarning, match="no matching checksum"):
        assert cached_table("t", {"a": 1}, None, root=tmp_path) is None
    assert not table.exists()  # quarantined: the caller computes it elsewhere


def test_g4_curves_read_cached_tables_here_and_send_only_the_rest_to_workers(monkeypatch):
    """A rebuild whose continued trainings are all cached starts no worker process."""
    from types import SimpleNamespace

    import crosslingual.analysis.regions_study as study

    runs = [SimpleNamespace(config=SimpleNamespace(seed=s)) for s in range(3)]
    cached = {0: pd.DataFrame({"x": [0.0]}), 2: pd.DataFrame({"x": [2.0]})}
    sent = []

    def read(run, cached_only=False, **kwargs):
        assert cached_only and kwargs == {"steps": 24, "eval_every": 2, "n_sequences": 8}
        return cached.get(run.config.seed)

    def workers(fn, todo, workers, desc, **kwargs):
        sent.append([r.config.seed for r in todo])
        return [pd.DataFrame({"x": [10.0 + r.config.seed]}) for r in todo]

    monkeypatch.setattr(study, "forgetting_all_parameters", read)
    monkeypatch.setattr(study, "map_runs", workers)
    out = study.g4_redesign_curves(runs, 24, 8)
    assert sent == [[1]] and out.x.tolist() == [0.0, 11.0, 2.0] and out.seed.tolist() == [0, 1, 2]
    cached[1] = pd.DataFrame({"x": [1.0]})
    assert study.g4_redesign_curves(runs, 24, 8).x.tolist() == [0.0, 1.0, 2.0] and sent == [[1]]


def test_analyse_is_cached_and_reads_back_equal_tables(tmp_path, monkeypatch):
    import dataclasses

    import crosslingual.analysis.regions_study as study
    from crosslingual.store.fetch import get_or_train
    from crosslingual.store.grids import Grid

    cfg = next(c for *_, c in Grid.load("regions").expand("smoke", seeds=2, seed=0))
    run = get_or_train(cfg, progress=False, root=tmp_path)
    calls, real = [], study._analyse
    monkeypatch.setattr(study, "_analyse", lambda *a: calls.append(a) or real(*a))
    first = study.analyse(run, 8, fractions=(0.01,), factors=(2.0,))
    again = study.analyse(run, 8, fractions=(0.01,), factors=(2.0,))
    assert len(calls) == 1
    direct = real(run, 8, (0.01,), (2.0,))
    for got in (first, again):
        for field in dataclasses.fields(study.RegionAnalysis):
            if field.name == "outlier":
                assert got.outlier == direct.outlier
            else:
                pd.testing.assert_frame_equal(getattr(got, field.name), getattr(direct, field.name))
    assert again.importance_map.index.name == "layer" and again.importance_map.columns.name == "tensor"
    study.analyse(run, 8, fractions=(0.02,), factors=(2.0,))
    assert len(calls) == 2  # another argument, another entry


def test_mean_map_averages_seeds_and_checks_the_field():
    from types import SimpleNamespace

    import pandas as pd

    from crosslingual.analysis.regions_study import mean_map

    maps = {s: SimpleNamespace(importance_map=pd.DataFrame({"q": [float(s), 2.0 * s]})) for s in (1, 3)}
    assert mean_map(maps, "importance_map").q.tolist() == [2.0, 4.0]
    with pytest.raises(ValueError, match="field"):
        mean_map(maps, "ablation")


def test_mean_overlap_averages_seeds_into_a_matrix():
    from types import SimpleNamespace

    from crosslingual.analysis.regions_study import mean_overlap

    analyses = {s: SimpleNamespace(overlap=pd.DataFrame({"a": [0, 0, 1], "b": [1, 2, 2], "jaccard": [j, 0.2, 0.4]}))
                for s, j in ((0, 0.1), (1, 0.3))}
    out = mean_overlap(analyses)
    assert out.loc[0, 1] == pytest.approx(0.2) and out.loc[1, 2] == pytest.approx(0.4)
    assert np.isnan(out.loc[1, 1])


def _ablation_rows():
    """Two languages, three regions at 1% and the core at 2%: rises chosen so every summary is hand-computed."""
    rise = {("core", 0): 1.0, ("core", 1): 0.6, ("bottom", 0): 0.01, ("bottom", 1): 0.02,
            ("random", 0): 0.05, ("random", 1): 0.0, ("core (abs)", 0): 0.9, ("core (abs)", 1): 0.5}
    rows = [{"fraction": 0.01, "region": r, "language": k, "rise": v, "entries": 100,
             "jaccard_with_core": 0.4 if r == "core (abs)" else 1.0} for (r, k), v in rise.items()]
    rows += [{"fraction": 0.02, "region": "core", "language": k, "rise": 2.0, "entries": 200, "jaccard_with_core": 1.0}
             for k in (0, 1)]
    rows += [{"fraction": 0.02, "region": "core (abs)", "language": k, "rise": 1.0, "entries": 200,
              "jaccard_with_core": 0.6} for k in (0, 1)]
    return pd.DataFrame(rows)


def test_g1_summary_hand_computed():
    from crosslingual.analysis.regions_study import g1_summary

    ablation = _ablation_rows()
    out = g1_summary(ablation[(ablation.fraction == 0.01) & ablation.region.isin(["core", "bottom", "random"])])
    assert out["core"] == pytest.approx(0.8) and out["bottom"] == pytest.approx(0.015)
    assert out["random"] == pytest.approx(0.025)
    assert out["min_ratio"] == pytest.approx(min(1.0 / 0.05, 0.6 / 0.02)) and out["min_rise"] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="random"):
        g1_summary(ablation[ablation.region == "core"])


def test_importance_methods_and_g2_summary_hand_computed():
    from crosslingual.analysis.regions_study import g2_summary, importance_methods

    methods = importance_methods(_ablation_rows())
    assert methods.loc[0.01].tolist() == pytest.approx([0.4, 0.7, 0.8])
    assert methods.loc[0.02].tolist() == pytest.approx([0.6, 1.0, 2.0])
    mono = pd.DataFrame({"owner": [0, 0, 1, 1], "language": [0, 1, 0, 1], "entries": [10, 10, 30, 30]})
    out = g2_summary(mono, _ablation_rows())
    assert out["entries"] == pytest.approx(20.0) and out["share"] == pytest.approx(20 / 100 * 0.01)
    with pytest.raises(ValueError, match="paper's size"):
        g2_summary(mono, _ablation_rows().query("fraction == 0.02"))


def test_forgetting_by_seed_and_g4_summary():
    from crosslingual.analysis.regions_study import NEW_LANGUAGE, forgetting_by_seed, g4_summary

    rows = []
    for seed, rise, new in ((0, 0.2, 3.0), (1, 0.4, 3.2)):
        for arm, scale in (("full", 1.0), ("core frozen", 0.5)):
            for step in (0, 10):
                rows.append({"seed": seed, "arm": arm, "step": step, "kind": "answer", "language": 0,
                             "loss": 1.0 + rise * scale * step / 10})
                rows.append({"seed": seed, "arm": arm, "step": step, "kind": "answer", "language": NEW_LANGUAGE,
                             "loss": new + (0.5 if arm == "full" else 0.0)})
    summary = forgetting_by_seed(pd.DataFrame(rows))
    assert len(summary) == 4 and set(summary.seed) == {0, 1}
    means, spread = g4_summary(summary)
    assert set(means.index) == {"full", "core frozen"}
    assert means.loc["full", "forgetting"] == pytest.approx(0.3)
    assert means.loc["core frozen", "forgetting"] == pytest.approx(0.15)
    assert spread == pytest.approx(0.5)


def test_language_roles_of_the_study_world():
    from crosslingual.analysis.regions_study import EVALUATED, NEW_LANGUAGE, SELECTED, language_roles
    from crosslingual.core.world import World
    from crosslingual.store.grids import Grid

    cfg = [c for _, _, c in Grid.load("regions").expand("smoke", 1, 0)][0]
    world = World(cfg.world)
    roles = language_roles(world)
    evaluation_only = len(EVALUATED) - len(SELECTED)
    assert roles.role.tolist() == ["selection"] * len(SELECTED) + ["evaluation only"] * evaluation_only + ["new (G4)"]
    assert roles.loc[NEW_LANGUAGE, "training sequences"] == 0
    assert (roles.loc[list(EVALUATED), "training sequences"] > 0).all()
    assert roles["training sequences"].sum() == len(world.train)


def test_outer_units_add_every_other_parameter_and_regions_reach_them_alike():
    """G4-redesign chooses regions among all parameters: the blocks' units are unchanged, the embeddings, final
    norm and LM head join as whole tensors (layer -1), and top, random and frozen regions take the same share of
    each."""
    model = tiny()
    inner, every = units(model), units(model, outer=True)
    assert [u for u in every if u.layer >= 0] == inner
    assert {u.param for u in every if u.layer < 0} == set(EXCLUDED)
    assert sum(model.get_parameter(u.param)[u.rows].numel() if u.rows else model.get_parameter(u.param).numel()
               for u in every) == sum(p.numel() for p in model.parameters())
    scores = importance(model, tokens(), full_loss(), outer=True)
    block_scores = importance(model, tokens(), full_loss())
    assert set(scores) == {u.param for u in every}
    for name, s in block_scores.items():
        torch.testing.assert_close(scores[name], s)
    for mask in (top_region(model, scores, 0.2, outer=True), random_region(model, 0.2, seed=1, outer=True)):
        for u in every:
            m = mask[u.param][u.rows] if u.rows else mask[u.param]
            assert int(m.sum()) == region_size(m.numel(), 0.2), u
    top = top_region(model, scores, 0.2, outer=True)
    head, in_top = scores["unembed.weight"], top["unembed.weight"]
    assert head[in_top].min() >= head[~in_top].max()
    with pytest.raises(KeyError):
        top_region(model, block_scores, 0.2, outer=True)  # outer regions need outer scores


def test_forgetting_shares_score_the_rise_against_the_unigram_gap_hand_computed():
    """Old language 0: trained 1.0, unigram 3.0, after 1.5 -> share 0.25; old language 1 has no gap (its loss is
    not below the unigram's) and is left out of the share, not of the rise."""
    from crosslingual.analysis.regions_study import NEW_LANGUAGE, forgetting_shares

    rows = []
    for arm, fraction, after in (("full", 0.0, 1.5), ("core frozen", 0.05, 1.2)):
        for step, loss0, loss1, new in ((0, 1.0, 4.0, 6.0), (10, after, 4.5, 0.5)):
            rows += [{"seed": 3, "arm": arm, "fraction": fraction, "step": step, "kind": "answer", "language": 0,
                      "loss": loss0, "unigram": 3.0},
                     {"seed": 3, "arm": arm, "fraction": fraction, "step": step, "kind": "answer", "language": 1,
                      "loss": loss1, "unigram": 3.0},
                     {"seed": 3, "arm": arm, "fraction": fraction, "step": step, "kind": "answer",
                      "language": NEW_LANGUAGE, "loss": new, "unigram": 3.0},
                     {"seed": 3, "arm": arm, "fraction": fraction, "step": step, "kind": "full", "language": 0,
                      "loss": 9.0, "unigram": np.nan}]
    out = forgetting_shares(pd.DataFrame(rows)).set_index("arm")
    assert out.loc["full", "forgetting_share"] == pytest.approx(0.25)
    assert out.loc["core frozen", "forgetting_share"] == pytest.approx(0.1)
    assert out.loc["full", "forgetting"] == pytest.approx((0.5 + 0.5) / 2) and out.loc["full", "new_loss"] == 0.5


def test_unigram_answer_loss_is_the_cross_entropy_of_the_answer_frequencies():
    from crosslingual.analysis.regions_study import unigram_answer_loss
    from crosslingual.core.config import make_config
    from crosslingual.core.world import World

    world = World(make_config("smoke").world)
    answers = world.train.tokens[:, -1]
    values = np.unique(world.val_ids)
    p = (1 + (answers[:, None] == values).sum(0)) / (len(answers) + len(values))
    data = {0: torch.as_tensor(world.train.tokens[:5])}
    expected = -np.mean([np.log(p[values.tolist().index(a)]) for a in answers[:5].tolist()])
    assert unigram_answer_loss(world, data)[0] == pytest.approx(expected)
    bad = data[0].clone()
    bad[0, -1] = 0  # BOS is no answer
    with pytest.raises(ValueError, match="not a value"):
        unigram_answer_loss(world, {0: bad})


def test_massive_activations_find_a_planted_entry_and_divide_by_the_median():
    from crosslingual.analysis.regions import massive_activations

    model, seqs = tiny(), tokens()
    with torch.no_grad():
        model.embed.weight[3, 5] = 1000.0
    table = massive_activations(model, seqs)
    assert list(table.hook) == model.hook_names and list(table.layer) == list(range(3))
    first = table.iloc[0]
    assert first.dimension == 5 and (seqs[:, int(first.position)] == 3).any() and first.top > 999
    h = model.residual_stream(seqs).abs().detach()
    for layer, row in table.iterrows():
        assert row.top == pytest.approx(float(h[layer].max()))
        assert row["median"] == pytest.approx(float(h[layer].flatten().median()))
        assert row.ratio == pytest.approx(row.top / row["median"])
    assert model.training  # restored


def test_answer_scored_analysis_gives_shares_of_the_unigram_gap(tmp_path):
    import crosslingual.analysis.regions_study as study
    from crosslingual.store.fetch import get_or_train
    from crosslingual.store.grids import Grid

    cfg = next(c for *_, c in Grid.load("regions_large").expand("smoke", seeds=1, seed=0))
    assert (cfg.train.facts_per_sequence, cfg.train.weight_decay, cfg.model.arch) == (4, 0.1, "llama")
    run = get_or_train(cfg, progress=False, root=tmp_path)
    assert run.load_model().pos_embed.num_embeddings == 4 * run.world.seq_len
    answer = study.analyse(run, 8, fractions=(0.01,), factors=(4.0,), score="answer")
    full = study.analyse(run, 8, fractions=(0.01,), factors=(4.0,))
    assert "share" in answer.ablation and "share" not in full.ablation and "share" in answer.scaling
    assert not np.allclose(answer.ablation.rise, full.ablation.rise)  # another loss, not a relabelled one
    _, held = study._data(run, 8)
    unigram = study.unigram_answer_loss(run.world, {k: held[k] for k in study.EVALUATED})
    rows = answer.ablation
    gap = rows.language.map(unigram) - (rows.loss - rows.rise)
    pd.testing.assert_series_equal(rows.share, (rows.rise / gap).where(gap > 0), check_names=False)
    with pytest.raises(ValueError, match="score='perplexity'"):
        study.analyse(run, 8, score="perplexity")
    massive = study.massive(run, 16)
    assert list(massive.layer) == list(range(cfg.model.n_layers + 1)) and (massive.ratio >= 1).all()
    assert massive.position.max() < 4 * run.world.seq_len
    assert (massive.slot == massive.position % run.world.seq_len).all()


def test_massive_summary_picks_each_seeds_most_massive_layer_and_compares_dimensions():
    from crosslingual.analysis.regions_study import massive_summary

    rows = pd.DataFrame({"seed": [0, 0, 1, 1], "layer": [0, 1, 0, 1], "top": [5.0, 900.0, 300.0, 4.0],
                         "ratio": [2.0, 300.0, 90.0, 1.5], "dimension": [3, 7, 2, 9], "slot": [1, 0, 0, 2]})
    table = massive_summary(rows, pd.DataFrame({"seed": [0, 1], "dimension": [7, 5], "ratio": [40.0, 12.0]}))
    assert table.to_dict("list") == {"seed": [0, 1], "layer": [1, 0], "top": [900.0, 300.0], "ratio": [300.0, 90.0],
                                     "dimension": [7, 2], "slot": [0, 0], "outlier_dimension": [7, 5],
                                     "same_dimension": [True, False]}


def test_map_calls_keeps_the_order_of_its_calls_in_workers_and_in_the_plain_loop():
    from crosslingual.store.per_run import map_calls

    calls = [(pow, (2, k), {}) for k in range(5)] + [(int, ("ff",), {"base": 16})]
    expected = [1, 2, 4, 8, 16, 255]
    assert map_calls(calls, workers=1, progress=False) == expected
    assert map_calls(calls, workers=2, progress=False) == expected
    assert map_calls([], progress=False) == []
