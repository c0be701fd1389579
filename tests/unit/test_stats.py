"""The small-sample statistics behind every verdict: hand-computed cases, and simulations at n = 5 that show the
intervals cover and the tests keep their false-positive rate."""

import numpy as np
import pandas as pd
import pytest

from crosslingual.claims.stats import (
    ALPHA,
    MIN_UNITS,
    chance_corrected,
    effect,
    partial_spearman,
    per_seed,
    permutation_correlation_p,
    sign_flip_p,
    spearman,
    t_interval,
    trend_per_seed,
)


def test_t_interval_hand_computed():
    mean, lo, hi = t_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    # sd = sqrt(2.5), t(0.975, 4) = 2.776445
    half = 2.776445105 * np.sqrt(2.5) / np.sqrt(5)
    assert (mean, lo, hi) == pytest.approx((3.0, 3.0 - half, 3.0 + half))
    assert t_interval([0.3] * 5) == pytest.approx((0.3, 0.3, 0.3))
    m, lo, hi = t_interval([0.7])
    assert m == 0.7 and np.isnan(lo) and np.isnan(hi)
    assert all(np.isnan(t_interval([])))
    assert t_interval([1.0, np.nan, 3.0])[0] == 2.0  # NaNs dropped


def test_sign_flip_hand_computed():
    # all five positive: only the observed pattern is as extreme -> 1/32
    assert sign_flip_p([0.1, 0.2, 0.3, 0.4, 0.5]) == pytest.approx(1 / 32)
    assert sign_flip_p([0.1, 0.2, 0.3, 0.4, 0.5], alternative="less") == pytest.approx(1.0)
    # one of three negative, |-1| the smallest: patterns with mean >= 1/3 * (3 + 2 - 1) are
    # (+,+,+), (+,+,-): 2 of 8
    assert sign_flip_p([3.0, 2.0, -1.0]) == pytest.approx(2 / 8)
    # against a null value: values - 0.3
    assert sign_flip_p([0.4, 0.5, 0.6, 0.7, 0.8], null=0.3) == pytest.approx(1 / 32)
    assert sign_flip_p([0.4, 0.5, 0.6, 0.7, 0.8], null=0.5) > ALPHA
    assert np.isnan(sign_flip_p([]))
    with pytest.raises(ValueError, match="alternative"):
        sign_flip_p([1.0], alternative="two-sided")


def test_sign_flip_beyond_exact_enumeration_is_seeded_monte_carlo():
    x = np.linspace(-0.5, 1.0, 20)
    assert sign_flip_p(x) == sign_flip_p(x)
    assert 0 < sign_flip_p(x) < 0.05


def _simulate(draw, n: int = 5, trials: int = 4000, seed: int = 1):
    rng = np.random.default_rng(seed)
    return [draw(rng, n) for _ in range(trials)]


@pytest.mark.parametrize("name, draw, true_mean", [
    ("normal", lambda rng, n: rng.normal(0.3, 0.1, n), 0.3),
    ("uniform", lambda rng, n: rng.uniform(0.0, 1.0, n), 0.5),
    ("beta (bounded, skewed)", lambda rng, n: rng.beta(2, 5, n), 2 / 7),
    ("laplace (heavy tails)", lambda rng, n: rng.laplace(-0.2, 0.3, n), -0.2),
])
def test_t_interval_covers_at_n5(name, draw, true_mean):
    samples = _simulate(draw)
    covered = np.mean([lo <= true_mean <= hi for _, lo, hi in map(t_interval, samples)])
    assert covered >= 0.9, f"{name}: coverage {covered:.3f} of the nominal 95% interval"


def test_percentile_bootstrap_over_3_units_would_not_cover():
    """Why the percentile bootstrap is not offered: over 3 units it is about [min, max]."""
    rng = np.random.default_rng(0)
    covered = []
    for _ in range(2000):
        x = rng.normal(0, 1, 3)
        boot = x[rng.integers(0, 3, (2000, 3))].mean(1)
        lo, hi = np.quantile(boot, [0.025, 0.975])
        covered.append(lo <= 0 <= hi)
    assert np.mean(covered) < 0.85


@pytest.mark.parametrize("draw", [
    lambda rng, n: rng.normal(0.0, 1.0, n),
    lambda rng, n: rng.laplace(0.0, 1.0, n),
    lambda rng, n: rng.uniform(-1.0, 1.0, n),
])
def test_sign_flip_false_positive_rate_at_n5(draw):
    samples = _simulate(draw)
    rate = np.mean([effect(x).significant for x in samples])
    assert rate <= ALPHA


def test_sign_flip_has_power_on_a_clear_effect_at_n5():
    samples = _simulate(lambda rng, n: rng.normal(1.0, 0.3, n))
    assert np.mean([effect(x).significant for x in samples]) > 0.95


def test_effect_needs_min_units_to_be_significant():
    assert not effect([1.0, 1.1, 1.2, 1.3]).significant  # 4 < MIN_UNITS seeds: never significant
    assert effect([1.0, 1.1, 1.2, 1.3, 1.4]).significant and MIN_UNITS == 5
    below = effect([-1.0, -1.1, -1.2, -1.3, -1.4], sign=-1)
    assert below.significant and below.p == pytest.approx(1 / 32)
    assert "p = 0.031 (n = 5)" in below.text()
    with pytest.raises(ValueError, match="sign"):
        effect([1.0], sign=0)


def test_per_seed_reduces_blocks_to_one_value_per_seed():
    d = pd.DataFrame({"seed": [0, 0, 1, 1, 1], "x": [1.0, 3.0, 2.0, 2.0, 5.0]})
    assert per_seed(d, "x").to_dict() == {0: 2.0, 1: 3.0}
    with pytest.raises(KeyError, match="unit"):
        per_seed(d.rename(columns={"seed": "s"}), "x")


def test_spearman_and_trend_per_seed():
    assert np.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert np.isnan(spearman([1, 2], [1, 2]))  # two points say nothing about a rank correlation
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833)  # ties get average ranks
    d = pd.DataFrame({"seed": [0] * 4 + [1] * 4, "level": [1, 2, 3, 4] * 2,
                      "y": [4, 3, 2, 1, 1, 3, 2, 4]})
    trend = trend_per_seed(d, "level", "y")
    assert trend[0] == pytest.approx(-1.0) and trend[1] == pytest.approx(0.8)  # 1 - 6 * 2 / (4 * 15)


def test_partial_spearman_removes_a_common_driver():
    rng = np.random.default_rng(0)
    step = np.repeat(np.arange(20.0), 10)
    x = step + rng.normal(0, 1, step.size)
    y = step + rng.normal(0, 1, step.size)  # related only through step
    assert spearman(x, y) > 0.9
    assert abs(partial_spearman(x, y, step)) < 0.15
    z = rng.normal(0, 1, step.size)
    assert partial_spearman(step + z, step + z + 0.1 * rng.normal(0, 1, step.size), step) > 0.8
    assert np.isnan(partial_spearman([1, 2, 3], [1, 2, 3], [1, 2, 3]))


def _pair_matrix(values: np.ndarray) -> np.ndarray:
    m = np.add.outer(values, values)
    np.fill_diagonal(m, np.nan)
    return m


def test_mantel_permutes_languages_exactly():
    skill = np.array([0.1, 0.5, 0.9, 0.3, 0.7])
    a = _pair_matrix(skill)
    rho, p = permutation_correlation_p(a, a)
    assert rho == pytest.approx(1.0)
    # the identity and the permutations that leave the pair values' order unchanged: here only the identity
    assert p == pytest.approx(1 / 120)
    rng = np.random.default_rng(3)
    noise = _pair_matrix(rng.normal(size=5))
    assert permutation_correlation_p(a, noise)[1] > 0.05
    with pytest.raises(ValueError, match="finite"):
        bad = a.copy()
        bad[0, 1] = np.nan
        permutation_correlation_p(bad, a)
    with pytest.raises(ValueError, match="square"):
        permutation_correlation_p(a, a[:4, :4])


def test_mantel_false_positive_rate():
    rng = np.random.default_rng(7)
    hits = []
    for _ in range(300):
        a, b = _pair_matrix(rng.normal(size=6)), _pair_matrix(rng.normal(size=6))
        hits.append(permutation_correlation_p(a, b)[1] <= ALPHA)
    assert np.mean(hits) <= ALPHA + 0.02  # 300 trials: binomial SD 0.013


def test_chance_corrected():
    assert chance_corrected([0.05, 0.1, 1.0], [0.05, 0.1, 0.1]) == pytest.approx([0.0, 0.0, 1.0])
    assert chance_corrected(0.55, 0.1) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="prior"):
        chance_corrected(0.5, 1.0)
