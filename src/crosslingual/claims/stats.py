"""Small-sample statistics for the verdicts: intervals and tests whose coverage holds at 5 independent units.

The unit is one independent seed (world and initialisation drawn together, ``../shared/spec/science.md`` 5).
Checkpoints, levels and language pairs of one seed are reduced to one number per seed *before* any interval or
test, so nothing here ever sees two values of the same seed as independent. Two tools do all the work:

- :func:`t_interval`, the Student-t interval over per-seed values (exact coverage for normal data, close to it
  for the bounded, mildly skewed values we have; tested by simulation at n = 5);
- :func:`sign_flip_p`, the exact sign-flip permutation test of a mean against a null value: every one of the
  2^n sign patterns is enumerated, so its false-positive rate is at most alpha for any distribution symmetric
  about the null, and its smallest one-sided p at 5 units is 1/32.

A percentile bootstrap over 3 or 5 units returns little more than [min, max] (coverage about 0.7 at n = 3) and
is not offered.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations
from math import factorial

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from scipy.stats import t as student_t

MIN_UNITS = 5  # fewer independent seeds: the verdict is "insufficient data"
ALPHA = 0.05  # one-sided level of every test, unless a rule says otherwise
LEVEL = 0.95  # two-sided level of every interval shown
EXACT_MAX_UNITS = 16  # up to 2^16 sign patterns are enumerated; beyond, a seeded Monte Carlo of as many
_MONTE_CARLO_SEED = 20240501


def _finite(values) -> np.ndarray:
    values = np.asarray(values, dtype=float).reshape(-1)
    return values[np.isfinite(values)]


def t_interval(values, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high): the two-sided Student-t interval of the mean of independent ``values`` (NaNs
    dropped). With fewer than two values the bounds are NaN; with no spread the interval is the mean itself."""
    if not 0 < level < 1:
        raise ValueError(f"level={level} must lie strictly between 0 and 1")
    x = _finite(values)
    if len(x) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(x.mean())
    if len(x) < 2:
        return mean, float("nan"), float("nan")
    half = float(student_t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return mean, mean - half, mean + half


def _sign_patterns(n: int) -> np.ndarray:
    """[2^n, n] matrix of +-1: every sign pattern (n <= EXACT_MAX_UNITS), or as many seeded random ones."""
    if n <= EXACT_MAX_UNITS:
        bits = (np.arange(2 ** n)[:, None] >> np.arange(n)[None, :]) & 1
    else:
        bits = np.random.default_rng(_MONTE_CARLO_SEED).integers(0, 2, (2 ** EXACT_MAX_UNITS, n))
    return 1.0 - 2.0 * bits


def sign_flip_p(values, null: float = 0.0, alternative: str = "greater") -> float:
    """One-sided p of the sign-flip test that the mean of ``values`` exceeds (``greater``) or falls below
    (``less``) ``null``: the share of sign patterns of ``values - null`` whose mean is at least as extreme as
    the observed one (the observed pattern included, ties counted as extreme: conservative). NaN without
    values. Valid for independent units whose distribution is symmetric about ``null`` under the null."""
    if alternative not in ("greater", "less"):
        raise ValueError(f"alternative={alternative!r} must be 'greater' or 'less'")
    d = _finite(values) - null
    if len(d) == 0:
        return float("nan")
    means = _sign_patterns(len(d)) @ np.abs(d) / len(d)
    observed, tol = d.mean(), 1e-12 * max(1.0, float(np.abs(d).max()))
    extreme = means >= observed - tol if alternative == "greater" else means <= observed + tol
    if len(d) <= EXACT_MAX_UNITS:
        return float(extreme.mean())
    return float((1 + extreme.sum()) / (1 + len(means)))


@dataclass(frozen=True)
class Effect:
    """A per-seed quantity summarised for a verdict: its mean and t-interval over ``n`` seeds, and the one-sided
    sign-flip p against ``null`` in the predicted direction (``sign`` +1: above, -1: below)."""

    mean: float
    low: float
    high: float
    p: float
    n: int
    null: float = 0.0
    sign: int = 1
    p_reverse: float = float("nan")  # the same test in the other direction

    @property
    def significant(self) -> bool:
        """The predicted direction holds at ALPHA (False with too few units or no data)."""
        return self.n >= MIN_UNITS and bool(self.p <= ALPHA)

    @property
    def direction(self) -> str:
        """"as predicted" (significant), "opposite" (the reverse test significant) or "flat"."""
        if self.significant:
            return "as predicted"
        return "opposite" if self.n >= MIN_UNITS and bool(self.p_reverse <= ALPHA) else "flat"

    @property
    def ci(self) -> tuple[float, float]:
        return self.low, self.high

    def text(self, digits: int = 2) -> str:
        """"0.42 [0.31, 0.53], p = 0.031 (n = 5)": what the scoreboard shows."""
        return (f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}], "
                f"p = {self.p:.3f} (n = {self.n})")

    def numbers(self) -> dict:
        return {"mean": self.mean, "ci": self.ci, "p": self.p, "n": self.n}


def effect(values, sign: int = 1, null: float = 0.0) -> Effect:
    """Summarise independent per-seed ``values``: is their mean above (``sign`` = +1) or below (-1) ``null``?"""
    if sign not in (1, -1):
        raise ValueError(f"sign={sign} must be +1 or -1")
    x = _finite(values)
    mean, low, high = t_interval(x)
    ahead, back = ("greater", "less") if sign > 0 else ("less", "greater")
    return Effect(mean, low, high, sign_flip_p(x, null, ahead), len(x), null, sign, sign_flip_p(x, null, back))


def per_seed(data: pd.DataFrame, value: str, unit: str = "seed") -> pd.Series:
    """The mean of ``value`` per ``unit`` (seed): the reduction to independent units that every test needs."""
    if unit not in data.columns:
        raise KeyError(f"the table has no {unit!r} column to group independent units by")
    return data.groupby(unit, sort=True)[value].mean()


def spearman(x, y) -> float:
    """Spearman's rho with average ranks for ties; NaN when either input is constant or has < 3 values."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])


def partial_spearman(x, y, z) -> float:
    """Spearman's rho of ``x`` and ``y`` with ``z`` partialled out: the Pearson correlation of the ranks of
    ``x`` and ``y`` after each is regressed linearly on the ranks of ``z``. What is left cannot come from both
    quantities growing with ``z`` (training time) alone. NaN with fewer than 4 values or a constant input."""
    x, y, z = (np.asarray(a, dtype=float) for a in (x, y, z))
    if len(x) < 4 or min(np.ptp(x), np.ptp(y)) == 0:
        return float("nan")
    rx, ry, rz = rankdata(x), rankdata(y), rankdata(z)
    design = np.column_stack([np.ones_like(rz), rz])
    ex = rx - design @ np.linalg.lstsq(design, rx, rcond=None)[0]
    ey = ry - design @ np.linalg.lstsq(design, ry, rcond=None)[0]
    if min(np.ptp(ex), np.ptp(ey)) < 1e-9:
        return float("nan")
    return float(np.corrcoef(ex, ey)[0, 1])


def trend_per_seed(data: pd.DataFrame, x: str, y: str, unit: str = "seed") -> pd.Series:
    """Spearman's rho of ``y`` over ``x`` within each seed block: a trend over levels is judged on one number
    per seed (a Page-style test), never on runs pooled across seeds."""
    return data.groupby(unit, sort=True).apply(lambda d: spearman(d[x], d[y]), include_groups=False)


def permutation_correlation_p(a: np.ndarray, b: np.ndarray, alternative: str = "greater",
                              max_permutations: int = 40_320) -> tuple[float, float]:
    """(rho, p) of a Mantel test between two symmetric [L, L] matrices of language pairs: Spearman's rho over the
    upper triangles, and the share of relabellings of the languages of ``b`` whose rho is at least as extreme.
    Pairs share languages, so they are not independent units; permuting whole languages keeps that dependence
    under the null. Both matrices must be finite off the diagonal. Every permutation up to ``max_permutations``
    (8 languages), else as many seeded ones."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"the matrices must be square and of one shape, got {a.shape} and {b.shape}")
    n = a.shape[0]
    iu = np.triu_indices(n, 1)
    if not (np.isfinite(a[iu]).all() and np.isfinite(b[iu]).all()):
        raise ValueError("every language pair needs a finite value in both matrices (drop languages first)")
    observed = spearman(a[iu], b[iu])
    if not np.isfinite(observed):
        return observed, float("nan")
    if factorial(n) <= max_permutations:
        perms = np.array(list(permutations(range(n))))
    else:
        rng = np.random.default_rng(_MONTE_CARLO_SEED)
        perms = np.array([np.arange(n)] + [rng.permutation(n) for _ in range(max_permutations - 1)])
    ranks_a = rankdata(a[iu])
    permuted = np.stack([b[np.ix_(p, p)][iu] for p in perms])  # [P, pairs]
    ranks_b = rankdata(permuted, axis=1)
    ca, cb = ranks_a - ranks_a.mean(), ranks_b - ranks_b.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rhos = (cb @ ca) / np.sqrt((cb ** 2).sum(1) * (ca ** 2).sum())
    tol = 1e-12
    extreme = rhos >= observed - tol if alternative == "greater" else rhos <= observed + tol
    return observed, float(np.nanmean(extreme))


def chance_corrected(accuracy, prior) -> np.ndarray:
    """(acc - prior) / (1 - prior): 0 at the prior's accuracy, 1 when perfect, so arms whose answer priors
    differ (balanced attributes double chance) are compared on one scale."""
    accuracy, prior = np.asarray(accuracy, dtype=float), np.asarray(prior, dtype=float)
    if np.any((prior < 0) | (prior >= 1)):
        raise ValueError("prior must lie in [0, 1)")
    return (accuracy - prior) / (1 - prior)
