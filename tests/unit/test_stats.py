"""The small-sample statistics behind every verdict: hand-computed cases, and simulations at n = 5 that show the
interval covers the median seed on skewed data and the tests keep their false-positive rate."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import lognorm

from crosslingual.claims.stats import (
    ALPHA,
    MIN_UNITS,
    chance_corrected,
    effect,
    fixed,
    holm,
    measurement,
    median_interval,
    needed,
    p_text,
    partial_spearman,
    per_seed,
    permutation_correlation_p,
    shuffled_pairing_p,
    sign_test_p,
    spearman,
    trend_per_seed,
)

ROOT = Path(__file__).resolve().parents[2]
# a fixed-point or percent format without the "z" option prints a tiny negative value as "-0.00"
UNSAFE_FORMAT = re.compile(r":[+ -]?,?\.(?:\d+|\{[a-z_]+\})[f%][}`]")


def test_a_number_rounding_to_zero_prints_without_its_sign():
    assert fixed(-0.001) == "0.00" and fixed(-0.004, 2) == "0.00" and fixed(-0.006) == "-0.01"
    assert fixed(0.125, 1) == "0.1" and fixed(2) == "2.00"
    assert p_text(0.0312) == "p = 0.031" and p_text(1e-9) == "p < 0.001"


def test_no_number_a_reader_sees_is_formatted_so_that_it_can_print_a_negative_zero():
    """Every text the book shows (verdicts, sentences, tables in the package; the chapters' pasted numbers) formats
    its fixed-point numbers with the "z" option: -0.001 prints "0.00" and "+0.000", never "-0.00"."""
    sources = [*(p for tier in ("analysis", "claims", "render")
                 for p in sorted((ROOT / "src" / "crosslingual" / tier).glob("*.py"))),
               *sorted(ROOT.glob("notebooks/*.ipynb"))]
    assert any(p.parent.name == "render" for p in sources) and any(p.suffix == ".ipynb" for p in sources)
    unsafe = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in sources for m in UNSAFE_FORMAT.finditer(p.read_text())]
    assert not unsafe, unsafe
    assert UNSAFE_FORMAT.search("{x:.2f}") and UNSAFE_FORMAT.search("{glue:text}`lo:.2f`")
    assert UNSAFE_FORMAT.search("{x:+.3f}") and UNSAFE_FORMAT.search("{x:.{digits}f}")
    assert not UNSAFE_FORMAT.search("{x:z.2f}") and not UNSAFE_FORMAT.search("{x:+z.3f}")


def test_sign_test_hand_computed():
    assert sign_test_p([0.1, 0.2, 0.3, 0.4, 0.5]) == pytest.approx(1 / 32)  # all five above: 1/32
    assert sign_test_p([0.1, 0.2, 0.3, 0.4, 0.5], alternative="less") == pytest.approx(1.0)
    assert sign_test_p([3.0, 2.0, -1.0]) == pytest.approx(4 / 8)  # P(Bin(3, 1/2) >= 2)
    assert sign_test_p([0.4, 0.5, 0.6, 0.7, 0.8], null=0.3) == pytest.approx(1 / 32)
    assert sign_test_p([0.4, 0.5, 0.6, 0.7, 0.8], null=0.5) == pytest.approx(16 / 32)  # 3 of 5 above 0.5
    assert sign_test_p([0.0, 1.0, 1.0, 1.0, 1.0]) == pytest.approx(6 / 32)  # a tie counts against
    assert np.isnan(sign_test_p([]))
    with pytest.raises(ValueError, match="alternative"):
        sign_test_p([1.0], alternative="two-sided")
    assert needed(5) == 5 and needed(8) == 7 and needed(4) == 5  # 4 units can never reach 0.05


def test_median_interval_hand_computed():
    assert median_interval([5.0, 1.0, 3.0, 2.0, 4.0]) == pytest.approx((3.0, 1.0, 5.0, 1 - 2 / 32))
    median, lo, hi, coverage = median_interval(np.arange(20.0))
    assert (median, lo, hi) == (9.5, 5.0, 14.0) and coverage >= 0.95  # [x_(6), x_(15)]: 0.9586
    assert median_interval([0.3] * 5)[1:3] == (0.3, 0.3)
    m, lo, hi, _ = median_interval([0.7])
    assert m == 0.7 and np.isnan(lo) and np.isnan(hi)
    assert median_interval([1.0, np.nan, 3.0, 2.0])[0] == 2.0  # NaNs dropped


SKEWED = {  # name -> (draw, true median): the shapes of accuracies near 0, losses, and all-or-nothing seeds
    "exponential": (lambda rng, n: rng.exponential(1.0, n), np.log(2.0)),
    "lognormal": (lambda rng, n: rng.lognormal(0.0, 1.0, n), float(lognorm(1.0).median())),
    "beta(0.5, 5)": (lambda rng, n: rng.beta(0.5, 5.0, n), None),
    "two-point": (lambda rng, n: (rng.random(n) < 0.2).astype(float), 0.0),
}


@pytest.mark.parametrize("name", sorted(SKEWED))
def test_interval_covers_the_median_on_skewed_data_at_n5(name):
    """>= 0.93 (0.9375 exactly for a continuous distribution) where the t-interval of the mean covers 0.81-0.88
    on the first three and 0.66 on the two-point one; 4,000 samples: binomial SD 0.004."""
    draw, truth = SKEWED[name]
    rng = np.random.default_rng(11)
    if truth is None:
        truth = float(np.median(draw(rng, 1_000_000)))
    intervals = [median_interval(draw(rng, 5)) for _ in range(4000)]
    assert np.mean([lo <= truth <= hi for _, lo, hi, _ in intervals]) >= 0.93


@pytest.mark.parametrize("name", sorted(SKEWED))
def test_interval_stays_in_range(name):
    rng = np.random.default_rng(5)
    draw, _ = SKEWED[name]
    for _ in range(200):
        x = draw(rng, 5)
        _, lo, hi, _ = median_interval(x)
        assert x.min() <= lo <= hi <= x.max()


def test_sign_test_false_positive_rate_on_skewed_nulls_at_n5():
    """The null is the median seed at 0; skewed noise with median 0 on either side keeps the size at most 1/32."""
    rng = np.random.default_rng(2)
    for flip in (1, -1):
        rate = np.mean([effect(flip * (rng.exponential(1.0, 5) - np.log(2.0))).significant for _ in range(4000)])
        assert rate <= ALPHA


def test_sign_test_has_power_on_a_clear_effect_at_n5():
    rng = np.random.default_rng(4)
    assert np.mean([effect(rng.normal(1.0, 0.3, 5)).significant for _ in range(2000)]) > 0.95


def test_effect_margin_fragility_and_text():
    assert not effect([1.0, 1.1, 1.2, 1.3]).significant  # 4 < MIN_UNITS seeds: never significant
    e = effect([1.0, 1.1, 1.2, 1.3, 1.4])
    assert e.significant and MIN_UNITS == 5 and e.margin == 1 and e.fragile  # one seed decides at n = 5
    assert effect([-1.0, 1.1, 1.2, 1.3, 1.4]).margin == 1  # one seed short of significance: fragile too
    assert effect([-1.0, -1.1, 1.2, 1.3, 1.4]).margin == 2 and not effect([-1.0, -1.1, 1.2, 1.3, 1.4]).fragile
    assert effect(np.arange(1.0, 9.0)).margin == 2  # 8 of 8 above, 7 needed: robust to one seed
    below = effect([-1.0, -1.1, -1.2, -1.3, -1.4], sign=-1)
    assert below.significant and below.p == pytest.approx(1 / 32) and below.median == -1.2
    assert below.text() == "median -1.20 [-1.40, -1.00], 5/5 seeds below 0, p = 0.031"
    assert effect([1.0] * 5).text() == "median 1.00 (all 5 seeds equal), 5/5 seeds above 0, p = 0.031"
    assert effect([0.2, 0.1, 0.3, 0.2, 0.4], sign=-1).opposite
    with pytest.raises(ValueError, match="sign"):
        effect([1.0], sign=0)


def test_holm_hand_computed():
    adjusted = holm([0.01, 0.04, 0.03, float("nan")])
    assert adjusted[:3] == pytest.approx([0.03, 0.06, 0.06]) and np.isnan(adjusted[3])
    assert holm([]).size == 0


def test_shuffled_pairing_breaks_only_the_pairing():
    rng = np.random.default_rng(0)
    related = [(np.arange(8.0), np.arange(8.0) + rng.normal(0, 0.5, 8)) for _ in range(5)]
    rho, p = shuffled_pairing_p(related)
    assert rho > 0.9 and p <= 0.001
    unrelated = [(rng.normal(size=8), rng.normal(size=8)) for _ in range(5)]
    assert shuffled_pairing_p(unrelated)[1] > 0.05
    assert np.isnan(shuffled_pairing_p([(np.ones(4), np.arange(4.0))])[0])  # a constant block is left out


def test_measurement_describes_one_model():
    m = measurement(np.linspace(0.9, 1.0, 30), "script categories", "e5")
    assert m.beyond(0.9 - 1e-9) and not m.beyond(0.95) and m.n == 30
    assert "single-model measurement" in m.text() and "p =" not in m.text()


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
