"""The house style: one seaborn theme, colour-blind-safe palettes, and the few plot types the book reuses."""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from crosslingual.claims.stats import median_interval

if TYPE_CHECKING:
    from crosslingual.analysis.regions_study import RegionAnalysis

PALETTE = "colorblind"
SEQUENTIAL = "viridis"


def set_theme() -> None:
    """Call once per notebook: sizes are chosen to stay readable at the book's column width."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font_scale=0.9,
                  rc={"figure.dpi": 110, "savefig.dpi": 110, "figure.figsize": (7.0, 3.6),
                      "axes.titlesize": "medium", "legend.frameon": False})


BASE_WIDTH = 7.0  # inches: a figure this wide is shown at about the text column's width, so its fonts read as set
MIN_POINTS = 9.0  # the smallest font at BASE_WIDTH: about 13 px in the column at 1280 px, 80% of the body text


def legible(fig: plt.Figure) -> None:
    """Make every text of ``fig`` readable at the size the page shows it. The page scales an image to the text
    column, so a figure wider than ``BASE_WIDTH`` inches is shrunk by that ratio, fonts and all: a 12-inch figure's
    tick labels came out at about 7 px. Each text is raised to at least ``MIN_POINTS`` (``fontsize="x-small"``
    legends included), then scaled by the figure's width over ``BASE_WIDTH``, so that what reads at 7 inches reads
    the same in a wider figure. Called by ``render.notebook.figure`` before the layout."""
    from matplotlib.text import Text

    factor = max(1.0, fig.get_figwidth() / BASE_WIDTH)
    ticks = set()
    for ax in fig.axes:  # through tick_params: ticks made at drawing time take the size too
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            labels = [t for tick in axis.get_major_ticks() + axis.get_minor_ticks() for t in (tick.label1, tick.label2)]
            size = labels[0].get_fontsize() if labels else MIN_POINTS
            ax.tick_params(axis=name, which="both", labelsize=max(size, MIN_POINTS) * factor)
            ticks.update(map(id, labels))
    for text in fig.findobj(Text):
        if text.get_text() and id(text) not in ticks:
            text.set_fontsize(max(text.get_fontsize(), MIN_POINTS) * factor)


def overlapping_texts(fig: plt.Figure, tolerance: float = 1.0) -> list[tuple[str, str]]:
    """The pairs of texts of ``fig`` (titles, axis and tick labels, legends, annotations) that overlap once laid
    out, by more than ``tolerance`` pixels each way: text drawn over text cannot be read, and :func:`legible`'s
    larger fonts make a figure drawn for a small size run its labels into each other (a title over its neighbour's,
    a legend over an axis label, heat-map numbers over one another). ``render.notebook.figure`` warns of each."""
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    undrawn = set()  # the labels of ticks kept beyond the view limits, which are not drawn
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            undrawn.update(id(label) for tick in axis.get_major_ticks() + axis.get_minor_ticks()
                           if not low <= tick.get_loc() <= high for label in (tick.label1, tick.label2))
    shapes = [(t.get_text(), _corners(t, renderer)) for t in fig.findobj(Text)
              if t.get_visible() and t.get_text().strip() and t.get_figure() is fig and id(t) not in undrawn]
    return [(a, b) for i, (a, corners_a) in enumerate(shapes) for b, corners_b in shapes[i + 1:]
            if _intersect(corners_a, corners_b, tolerance)]


def _corners(text, renderer) -> np.ndarray:
    """The four corners (pixels) of the rectangle a text is drawn in, rotated with it: a rotated tick label's
    upright bounding box covers its neighbours' although the labels themselves do not touch."""
    box = text.get_window_extent(renderer)
    angle = np.deg2rad(text.get_rotation())
    if angle % (np.pi / 2) == 0:
        return np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1]])
    rotation = text.get_rotation()
    text.set_rotation(0)  # the text's own width and height, measured upright
    upright = text.get_window_extent(renderer)
    text.set_rotation(rotation)
    width, height = upright.width, upright.height
    half = np.array([[-width, -height], [width, -height], [width, height], [-width, height]]) / 2
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return half @ turn.T + [(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2]


def _intersect(a: np.ndarray, b: np.ndarray, tolerance: float) -> bool:
    """Whether two convex quadrilaterals overlap by more than ``tolerance`` pixels along every separating axis
    (their edges' normals)."""
    for quad in (a, b):
        for edge in np.diff(np.vstack([quad, quad[:1]]), axis=0):
            normal = np.array([-edge[1], edge[0]]) / np.hypot(*edge)
            pa, pb = a @ normal, b @ normal
            if min(pa.max(), pb.max()) - max(pa.min(), pb.min()) <= tolerance:
                return False
    return True


def seed_band(values) -> tuple[float, float]:
    """seaborn ``errorbar=``: the order-statistic interval of the median over the values at one point (one per
    seed), the interval the verdicts use (:func:`crosslingual.claims.stats.median_interval`). The estimate is the
    median seed, the value half of the models trained this way exceed, which a single seed far off cannot drag along
    as it drags a mean. At 5 seeds the interval is the range of the five values, which covers the median with
    probability 1 - 2/32 = 0.9375 whatever the shape of the seeds' distribution (with fewer seeds still the range,
    which covers less: 0.75 at 3); with more seeds, the narrowest symmetric pair of order statistics that covers it
    with probability at least 0.95. Made of observed values, it never leaves the parameter's range (an accuracy
    stays in [0, 1], a correlation in [-1, 1]), as Student's interval of the mean can; a bootstrap over 5 seeds
    returns about the range with no statement of coverage. Pair it with ``estimator="median"`` (:data:`BAND`): the
    interval belongs to the median, not to the mean."""
    _, low, high, _ = median_interval(values)
    return low, high


BAND = {"estimator": "median", "errorbar": seed_band}
"""What every figure over seeds draws, as seaborn keywords (``sns.lineplot(..., **plots.BAND)``): the median seed
with :func:`seed_band`, the estimate and interval the verdicts judge."""


def share_axis(ax: plt.Axes, values, margin: float = 0.03, chance: float | None = None, axis: str = "y") -> None:
    """An axis (``axis``: "y", or "x" for horizontal bars) for shares in [0, 1] that shows where they lie: from just
    below the lowest value (a multiple of 0.05) to 1, instead of from 0, which squeezed bars between 0.85 and 1 into
    a sliver; ``chance`` is drawn (:func:`chance_line`) where the axis reaches it."""
    low = max(0.0, int((float(np.min(values)) - margin) * 20) / 20)
    (ax.set_xlim if axis == "x" else ax.set_ylim)(low, 1.0)
    if chance is not None and chance >= low:
        chance_line(ax, chance, axis=axis)


def slanted_labels(ax: plt.Axes, angle: float = 40) -> None:
    """The x tick labels turned by ``angle`` and anchored at their ends under their ticks: long category names
    under narrow bars then run side by side instead of into each other (as they did turned by 15-20 degrees and
    centred)."""
    ax.figure.canvas.draw()  # the labels exist only once drawn
    plt.setp(ax.get_xticklabels(), rotation=angle, ha="right", rotation_mode="anchor")


def chance_line(ax: plt.Axes, level: float, label: str = "chance", axis: str = "y") -> None:
    """A dotted line at ``level`` on the ``axis`` ("y": across the plot; "x": up it), labelled at its end."""
    if axis == "x":
        ax.axvline(level, color="0.4", linestyle=":", linewidth=1.2, zorder=0)
        ax.annotate(label, xy=(level, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -4),
                    textcoords="offset points", ha="left", va="top", fontsize="small", color="0.3")
        return
    ax.axhline(level, color="0.4", linestyle=":", linewidth=1.2, zorder=0)
    ax.annotate(label, xy=(1.0, level), xycoords=("axes fraction", "data"), xytext=(-4, 3),
                textcoords="offset points", ha="right", va="bottom", fontsize="small", color="0.3")


def equality_line(ax: plt.Axes) -> None:
    """The line y = x across the axes' current limits (drawn after the data, which set them)."""
    lo, hi = min(ax.get_xlim()[0], ax.get_ylim()[0]), max(ax.get_xlim()[1], ax.get_ylim()[1])
    ax.plot([lo, hi], [lo, hi], color="0.5", linewidth=0.8, zorder=0)
    ax.set(xlim=(lo, hi), ylim=(lo, hi))


def training_axis(ax: plt.Axes) -> None:
    """Checkpoints are log-spaced, so steps go on a symlog axis (step 0 stays visible)."""
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(left=0)
    ax.set_xlabel("training step")


def ordered(n: int) -> list:
    """``n`` colours for ordered levels (layers, steps): spread over :data:`SEQUENTIAL` from its dark end to near
    its light end, so that neighbouring levels differ in lightness (seaborn's own sampling of a colormap leaves
    out both ends, and few levels then come out as near-identical greens)."""
    cmap = plt.get_cmap(SEQUENTIAL)
    return [cmap(x) for x in np.linspace(0.0, 0.9, n)] if n > 1 else [cmap(0.0)]


def direct_label(ax: plt.Axes, data: pd.DataFrame, x: str, y: str, text: str) -> None:
    """Mark the points of ``data`` (one setting: a single ``x``) apart from the line they sit on, with ``text``
    beside them instead of a legend entry: the median over seeds as an open square, labelled."""
    at, value = float(data[x].iloc[0]), float(data[y].median())
    ax.plot([at], [value], marker="s", markersize=8, markerfacecolor="none", markeredgecolor="black", zorder=5)
    ax.annotate(text, (at, value), xytext=(6, 6), textcoords="offset points", fontsize=9)


def curves(data: pd.DataFrame, ax: plt.Axes, *, hue: str, y: str = "value", title: str = "",
           ylabel: str = "", chance: float | None = None, palette: str | list | None = PALETTE) -> plt.Axes:
    """The median over seeds with the order-statistic interval of the median as its band (:data:`BAND`: at 5
    seeds, the range of the five; ``data`` has one row per seed x step x hue level). With ``palette``
    :data:`SEQUENTIAL`, the levels take :func:`ordered` colours."""
    if isinstance(palette, str) and palette == SEQUENTIAL:
        palette = ordered(data[hue].nunique())
    sns.lineplot(data=data, x="step", y=y, hue=hue, **BAND, ax=ax,
                 palette=palette, marker="o", markersize=3, linewidth=1.4)
    training_axis(ax)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if chance is not None:
        chance_line(ax, chance)
    return ax


def gain_forest(gains: pd.DataFrame, axes: tuple[plt.Axes, plt.Axes], claimed: tuple[str, ...],
                labels: tuple[str, str] = ("the paper's interventions", "standard alignment methods")) -> None:
    """Chapter 06's figure: each intervention's paired gain over its control, the median seed's, with the
    order-statistic interval of the median (at 5 seeds the range of the five paired gains: coverage 0.9375 for any
    distribution of gains), in chance-corrected cross-lingual accuracy (upper panel) and unification (lower), one
    row per intervention in the table's order (``claims.r7_interventions``); the ``claimed`` ones in the first
    colour, named in a legend above the panels, off the data."""
    colours = sns.color_palette(PALETTE)
    for ax, metric, xlabel in ((axes[0], "acc_corrected", "gain in chance-corrected cross-lingual accuracy"),
                               (axes[1], "unification", "gain in unification score")):
        for i, row in gains.iterrows():
            gain = row[f"{metric} gain"]
            ax.errorbar(gain, i, xerr=[[gain - row[f"{metric} CI low"]], [row[f"{metric} CI high"] - gain]],
                        fmt="o", color=colours[0 if row.intervention in claimed else 1], capsize=3)
        ax.axvline(0, color="0.4", linestyle=":", linewidth=1.2)
        ax.set(xlabel=xlabel, yticks=range(len(gains)),
               yticklabels=[f"{r.intervention} (vs {r.control})" for r in gains.itertuples()])
    axes[0].invert_yaxis()
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=colours[i]) for i in (0, 1)]
    axes[0].legend(handles, list(labels), fontsize="small", loc="lower left", bbox_to_anchor=(0, 1.0), ncols=2)


def checkerboard_heatmap(matrix: np.ndarray, n_languages: int, ax: plt.Axes, title: str = "",
                         colour_bar: bool = False) -> plt.Axes:
    """Cosine matrix with fact-major rows; thin lines separate facts so K x K blocks stand out. ``colour_bar``
    draws the scale beside this panel (one per figure: every panel shares it, -1 to 1)."""
    sns.heatmap(matrix, ax=ax, cmap="RdBu_r", vmin=-1, vmax=1, square=True, cbar=colour_bar,
                cbar_kws={"label": "cosine similarity", "shrink": 0.8} if colour_bar else None,
                xticklabels=False, yticklabels=False)
    n = matrix.shape[0]
    for i in range(0, n + 1, n_languages):
        ax.axhline(i, color="white", linewidth=0.3)
        ax.axvline(i, color="white", linewidth=0.3)
    ax.set_title(title)
    return ax


def real_model_regions(fig: plt.Figure, rows: np.ndarray, real: RegionAnalysis, name: str, languages: list[str],
                       fraction: float) -> None:
    """Chapter 10's three panels of one pretrained model on two rows of ``rows`` (each ``[wide, narrow]`` of a
    grid with width ratios about 3:1): the loss rise per evaluated language when each 1% region is zeroed (symlog:
    the core's rise is two orders above the controls'), and beside it the rise when one norm gain on the outlier
    or a typical dimension is scaled; below, across the row, the rise per language when each selected language's
    own region is zeroed (the numbers in the cells, so no colour bar is needed to read it)."""
    ablation, scaling = rows[0]
    sns.barplot(data=real.ablation, x="language", y="rise", hue="region", **BAND, ax=ablation, palette=PALETTE)
    ablation.set_yscale("symlog", linthresh=0.1)
    ablation.set(xlabel="evaluated language (en, ru, zh_CN and hi select the regions)",
                 ylabel="loss rise (nats per token)")
    ablation.set_title(f"{name}: regions of {fraction:z.0%} zeroed", loc="left")
    sns.move_legend(ablation, "lower left", bbox_to_anchor=(0.0, 1.1), ncol=3, title=None, frameon=False)
    gains = real.scaling.assign(dimension=real.scaling.kind + " " + real.scaling.dimension.astype(str))
    sns.barplot(data=gains, y="dimension", x="rise", **BAND, ax=scaling, color=sns.color_palette(PALETTE)[0],
                orient="h")
    scaling.set(ylabel="", xlabel="loss rise (nats)")
    scaling.xaxis.set_major_locator(plt.MaxNLocator(3))  # a narrow panel: more ticks would run into each other
    scaling.set_title(f"one norm gain x{real.scaling.factor.iloc[0]:g}", loc="left")
    spec = rows[1][0].get_subplotspec()  # the heat-map spans the second row
    for ax in rows[1]:
        ax.remove()
    heat = fig.add_subplot(spec.get_gridspec()[spec.rowspan.start, :])
    matrix = real.monolingual.pivot_table(index="owner", columns="language", values="rise")
    sns.heatmap(matrix.reindex(index=list(real.monolingual.owner.unique()), columns=languages), annot=True,
                fmt=".2f", cmap=SEQUENTIAL, ax=heat, cbar=False)
    heat.set(xlabel="evaluated language", ylabel="own region of")
    heat.set_title(f"{name}: loss rise (nats per token), one language's own region zeroed", loc="left")
    heat.tick_params(axis="y", rotation=0)
