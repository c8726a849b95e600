"""How af-rl draws its numbers (rl/plots.py for a run, rl/compare/plots.py for a comparison): rates in percent
with 95 % Wilson intervals, the compliance gap in signed percentage points with its interval, the paper's
behaviour bands as stacked bars, integer step axes, and "n/a" where a rate has no denominator (never 0).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from reward.metrics import wilson_interval
from rl.numbers import NA

BANDS = (("refuse", "refuses", "#9bb7d4"), ("comply_af", "complies, fakes alignment", "#d9534f"),
         ("comply_no_af", "complies, no AF", "#f0ad4e"), ("partial", "partial compliance", "#c9a0dc"),
         ("malformed", "malformed", "#bbbbbb"))
TIER_COLOURS = {"free": "#d9534f", "paid": "#337ab7"}
TIER_LABELS = {"free": "free (training)", "paid": "paid (unmonitored)"}
GAP_COLOUR = "#333333"
TRAIN_LABEL = "training batch (free)"
SUMMARY_TITLES = ("Compliance per tier (95 % Wilson)", "Compliance gap, free − paid (95 %)", "AF reasoning per tier")
"""The column titles of summary.png (a run's and a comparison's): compliance, gap, AF rate."""
STYLE = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "legend.fontsize": 10,
         "xtick.labelsize": 10, "ytick.labelsize": 10}
"""Font sizes that stay readable when a figure is put on a slide."""


def scaled(x: float | None, scale: float = 100.0) -> float:
    """`x` times `scale` (a rate in percent by default); None or NaN as NaN, which matplotlib leaves undrawn."""
    return math.nan if x is None or (isinstance(x, float) and math.isnan(x)) else scale * x


def _reach(x: float) -> float:
    """An error bar's length: float rounding can leave a bound a hair on the wrong side of its point (Wilson's
    lower bound of 0/3 comes out a little above 0), which matplotlib refuses as a negative length."""
    return x if math.isnan(x) else max(0.0, x)


def rate_interval(rate: float | None, n: int | None) -> tuple[float, float] | None:
    """The 95 % Wilson interval (fractions) of a rate measured over n responses; None when undefined."""
    if rate is None or not n or (isinstance(rate, float) and math.isnan(rate)):
        return None
    return wilson_interval(round(rate * n), int(n))


def n_text(ns: Sequence[int | None]) -> str:
    """ "n = 40 per tier", or "n = 38-40 per tier" when it varies between points; zeros (nothing judged)
    are left out, and with nothing judged anywhere it says so."""
    judged = sorted({int(n) for n in ns if n})
    if not judged:
        return "nothing judged"
    span = str(judged[0]) if len(judged) == 1 else f"{judged[0]}–{judged[-1]}"
    return f"n = {span} per tier"


def percent_axis(ax: Any, label: str = "") -> None:
    """A 0-100 % rate axis."""
    from matplotlib.ticker import FuncFormatter

    ax.set_ylim(-3, 103)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f} %"))
    if label:
        ax.set_ylabel(label)


def gap_axis(ax: Any, label: str = "gap (pp)") -> None:
    """A compliance-gap axis in signed percentage points, with the zero line."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.axhline(0, color="black", lw=0.8)
    lo, hi = ax.get_ylim()
    ax.set_ylim(max(min(lo, -10), -103), min(max(hi, 10), 103))  # at least +-10 points, at most +-100
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{round(v) + 0:+d}" if round(v) else "0"))
    ax.set_ylabel(label)


def step_axis(ax: Any, steps: Sequence[int] = ()) -> None:
    """Training steps are whole numbers: integer ticks only (at 1, 2, 5 or 10 times a power of ten). With
    `steps`, the axis spans them, so panels of one figure line up even where a series has no defined point."""
    from matplotlib.ticker import MaxNLocator

    if steps:
        lo, hi = min(steps), max(steps)
        pad = max(0.5, 0.04 * (hi - lo))
        ax.set_xlim(lo - pad, hi + pad)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    ax.set_xlabel("training step")


def mark_na(ax: Any, why: str = "") -> None:
    """Say "n/a" in the middle of a panel that has nothing to draw."""
    ax.text(0.5, 0.5, NA + (f"\n{why}" if why else ""), transform=ax.transAxes, ha="center", va="center",
            fontsize=13, color="grey", bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8})


def draw_rate(ax: Any, x: Sequence[float], rates: Sequence[float | None], ns: Sequence[int | None] | None, *,
              colour: str, label: str, style: str = "-", marker: str = "o") -> bool:
    """One rate series in percent; with `ns`, 95 % Wilson error bars. None rates are gaps. Returns whether
    any point was defined."""
    y = [scaled(r) for r in rates]
    ax.plot(list(x), y, ls=style, marker=marker, ms=5, lw=1.8, color=colour, label=label)
    if ns is not None:
        bounds = [rate_interval(r, n) for r, n in zip(rates, ns, strict=True)]
        yerr = [[math.nan if b is None else _reach(v - 100 * b[0]) for v, b in zip(y, bounds, strict=True)],
                [math.nan if b is None else _reach(100 * b[1] - v) for v, b in zip(y, bounds, strict=True)]]
        ax.errorbar(list(x), y, yerr=yerr, fmt="none", ecolor=colour, elinewidth=1.2, capsize=3, alpha=0.8)
    return any(not math.isnan(v) for v in y)


def draw_gap(ax: Any, x: Sequence[float], gaps: Sequence[float | None], los: Sequence[float | None],
             his: Sequence[float | None], *, colour: str, label: str, style: str = "-", marker: str = "o",
             band: bool = True) -> bool:
    """The compliance gap in percentage points with its 95 % interval (error bars, and a band between points).
    Returns whether any gap was defined."""
    import numpy as np

    y = [scaled(g) for g in gaps]
    lo = [scaled(v) for v in los]
    hi = [scaled(v) for v in his]
    ax.plot(list(x), y, ls=style, marker=marker, ms=5, lw=1.8, color=colour, label=label)
    yerr = [[_reach(v - low) for v, low in zip(y, lo, strict=True)],
            [_reach(high - v) for v, high in zip(y, hi, strict=True)]]
    ax.errorbar(list(x), y, yerr=yerr, fmt="none", ecolor=colour, elinewidth=1.2, capsize=3, alpha=0.8)
    if band:
        ok = ~(np.isnan(np.array(lo)) | np.isnan(np.array(hi)))
        ax.fill_between(list(x), lo, hi, where=ok, color=colour, alpha=0.12, lw=0)
    return any(not math.isnan(v) for v in y)


def draw_behaviour(ax: Any, pos: float, tier: dict[str, Any] | None, width: float) -> None:
    """One stacked bar (percent) of a tier's behaviour bands at x = `pos`; "n/a" when nothing was judged."""
    if not tier or not tier.get("n"):
        ax.text(pos, 50, NA, ha="center", va="center", fontsize=9, color="grey", rotation=90)
        return
    bottom = 0.0
    for band, _, colour in BANDS:
        h = 100 * (tier.get(band) or 0.0)  # a judged tier's bands are all defined; absent means 0 of n
        ax.bar(pos, h, bottom=bottom, width=width, color=colour, edgecolor="white", lw=0.5)
        bottom += h


def behaviour_handles(plt: Any) -> tuple[list[Any], list[str]]:
    """Legend entries of the behaviour bands, in stacking order (bottom first)."""
    return [plt.Rectangle((0, 0), 1, 1, color=c) for _, _, c in BANDS], [label for _, label, _ in BANDS]


def save_figures(build: Any, rows: Sequence[Any], out_dir: Path) -> list[Path]:
    """Save the figures `build(plt, rows)` returns (file name -> figure) as PNGs in `out_dir`, in order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with plt.rc_context(STYLE):
        figures = build(plt, rows)
    for name, fig in figures.items():
        fig.savefig(out_dir / name, dpi=110, bbox_inches="tight")  # keeps legends placed outside the axes whole
        plt.close(fig)
        written.append(out_dir / name)
    return written


def legend_below(fig: Any, axes: Sequence[Any], fontsize: float | None = None) -> None:
    """One legend for the whole figure, under it, with each label once."""
    handles: dict[str, Any] = {}
    for ax in axes:
        for h, lbl in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lbl, h)
    if handles:
        fig.legend(handles.values(), handles.keys(), loc="upper center", bbox_to_anchor=(0.5, 0.0),
                   ncol=len(handles), frameon=False, fontsize=fontsize)
