"""Learning phases: does a quantity change in one concentrated step of training, and when?

A *learning phase* is a sigmoid in log-step that the checkpoints resolve. We fit
``y = a + b * sigmoid((log10(step + 1) - m) / s)`` by least squares (a grid over the midpoint ``m`` and the width
``s``, the linear ``a, b`` solved exactly for each), and call it a phase only if

- the fit explains the curve (R^2 >= ``MIN_R2``): white noise and a constant are rejected;
- both plateaus are observed: the 10-90% transition window ``m +- 2.197 s`` lies inside the checkpoints with at
  least ``MIN_PLATEAU`` checkpoints before it and after it. A trend that is linear in steps looks, on a log-spaced
  schedule, like a rise at the very end whose upper plateau is never reached, and is rejected;
- the window holds at least ``MIN_INSIDE`` checkpoints (the schedule resolves it) and spans at most
  ``MAX_WIDTH`` of the observed log-step range: a straight line in log-step is not a phase;
- the sigmoid beats a *smooth saturation*: its residual is at most ``MAX_RESIDUAL_RATIO`` of the best
  exponential saturation in linear steps, ``y = a + b * (1 - exp(-step / tau))``. Every curve that learning
  simply slows down produces has that shape; on a log-spaced schedule it looks like a sigmoid in log-step whose
  10-90% window spans log10(ln 10 / ln(10/9)) = 1.34 decades, so the first four criteria alone passed 74-100% of
  plain saturations (#36). A phase is a change concentrated in a window that a saturation cannot fit.

The midpoint ``m`` (in decades of steps) times the phase; unification leads transfer when its midpoint is
earlier. These thresholds are ours; the paper defines no phase criterion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_R2 = 0.9
MIN_PLATEAU = 2
MIN_INSIDE = 3
MAX_WIDTH = 0.5
MAX_RESIDUAL_RATIO = 0.5  # the sigmoid leaves at most half the residual of the best exponential saturation
_LOGIT_90 = float(np.log(9.0))  # sigmoid(z) = 0.9 at z = ln 9 = 2.197


@dataclass(frozen=True)
class Phase:
    """The best sigmoid fit of one curve and whether it counts as a learning phase."""

    found: bool
    midpoint: float  # log10(step + 1) at half the change
    start: float  # 10% of the change
    end: float  # 90% of the change
    amplitude: float  # b: the change (signed)
    r2: float
    reason: str  # why it is not a phase ("" when it is)
    residual_ratio: float = float("nan")  # the sigmoid's residual over the best exponential saturation's

    @property
    def midpoint_step(self) -> float:
        return float(10 ** self.midpoint - 1)


def _grid(x: np.ndarray, n_mid: int = 121, n_width: int = 40) -> tuple[np.ndarray, np.ndarray]:
    span = x.max() - x.min()
    mids = np.linspace(x.min() - 0.25 * span, x.max() + 0.25 * span, n_mid)
    widths = np.geomspace(span / 200, 2 * span, n_width)
    m, s = np.meshgrid(mids, widths, indexing="ij")
    return m.ravel(), s.ravel()


def _least_squares(basis: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The residual sum of squares of ``y ~ a + b * basis[k]`` for every row ``k`` of ``basis`` [K, n]."""
    centred, yc = basis - basis.mean(1, keepdims=True), y - y.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        b = (centred @ yc) / (centred ** 2).sum(1)
    b = np.where(np.isfinite(b), b, 0.0)
    return ((yc[None, :] - b[:, None] * centred) ** 2).sum(1)


def saturation_residual(steps, values) -> float:
    """The smallest residual sum of squares of an exponential saturation ``a + b * (1 - exp(-step / tau))`` (any
    sign of ``b``: a saturating fall too), over a log-spaced grid of ``tau`` from a tenth of the first step to ten
    times the last, with ``a`` and ``b`` solved exactly."""
    t, y = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    positive = t[t > 0]
    low, high = (positive.min() if len(positive) else 1.0) / 10, max(t.max(), 1.0) * 10
    taus = np.geomspace(low, high, 400)
    return float(_least_squares(1 - np.exp(-t[None, :] / taus[:, None]), y).min())


def fit_phase(steps, values) -> Phase:
    """Fit the sigmoid to ``values`` at checkpoint ``steps`` and judge it by the criteria above."""
    steps, y = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    if steps.shape != y.shape or steps.ndim != 1:
        raise ValueError(f"steps and values must be 1-D of one length, got {steps.shape} and {y.shape}")
    keep = np.isfinite(y)
    steps, y = steps[keep], y[keep]
    nan = float("nan")
    if len(y) < 2 * MIN_PLATEAU + MIN_INSIDE:
        return Phase(False, nan, nan, nan, nan, nan, f"{len(y)} checkpoints; a phase needs at least "
                     f"{2 * MIN_PLATEAU + MIN_INSIDE}")
    order = np.argsort(steps)
    x, y = np.log10(steps[order] + 1), y[order]
    sst = float(((y - y.mean()) ** 2).sum())
    if sst <= 1e-12 * max(1.0, float(np.abs(y).max())) ** 2:
        return Phase(False, nan, nan, nan, 0.0, nan, "the curve is constant")
    m, s = _grid(x)
    g = 1 / (1 + np.exp(-(x[None, :] - m[:, None]) / s[:, None]))  # [grid, checkpoints]
    sse = _least_squares(g, y)
    best = int(np.argmin(sse))
    gc = g[best] - g[best].mean()
    b = np.array([float(gc @ (y - y.mean()) / (gc @ gc)) if gc @ gc > 0 else 0.0])
    r2 = 1 - float(sse[best]) / sst
    mid, width = float(m[best]), float(s[best])
    start, end = mid - _LOGIT_90 * width, mid + _LOGIT_90 * width
    before, after = int((x < start).sum()), int((x > end).sum())
    inside = len(x) - before - after
    span = float(x.max() - x.min())
    saturation = saturation_residual(steps[order], y)
    ratio = float(sse[best]) / saturation if saturation > 0 else float("inf")
    if r2 < MIN_R2:
        reason = f"a sigmoid explains R^2 = {r2:z.2f} < {MIN_R2}"
    elif before < MIN_PLATEAU or after < MIN_PLATEAU:
        reason = (f"a plateau is not observed ({before} checkpoints before the transition, {after} after; "
                  f"{MIN_PLATEAU} needed on each side)")
    elif inside < MIN_INSIDE:
        reason = f"the transition holds {inside} checkpoints; {MIN_INSIDE} needed to resolve it"
    elif end - start > MAX_WIDTH * span:
        reason = f"the transition spans {(end - start) / span:z.0%} of the log-step range (at most {MAX_WIDTH:z.0%})"
    elif ratio > MAX_RESIDUAL_RATIO:
        reason = (f"a smooth saturation fits as well (the sigmoid's residual is {ratio:z.2f} of an exponential "
                  f"saturation's; a phase needs at most {MAX_RESIDUAL_RATIO})")
    else:
        reason = ""
    return Phase(not reason, mid, start, end, float(b[0]), r2, reason, ratio)
