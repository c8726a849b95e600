"""`python -m rl.compare`'s plots/*.png, drawn from summary.json rows alone (rl/compare/report.py builds them).

Checkpoints go along the x axis in the caller's order; rates are in percent with 95 % Wilson intervals, the
gap in percentage points with its interval, and a None rate is left undrawn ("n/a" where a panel is empty).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from env.episode import TIERS
from rl.compare.report import _tier
from rl.figures import (
    GAP_COLOUR, SUMMARY_TITLES, TIER_COLOURS, TIER_LABELS, behaviour_handles, draw_behaviour, draw_gap, draw_rate,
    gap_axis, legend_below, mark_na, n_text, percent_axis, save_figures,
)

_PLOT_LABEL_CHARS = 32
"""Checkpoint labels longer than this are shortened in the middle on plot axes (the report keeps them whole)."""
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
_STYLES = ["-", "--", ":", "-."]


def _short(label: str, limit: int = _PLOT_LABEL_CHARS) -> str:
    if len(label) <= limit:
        return label
    keep = (limit - 1) // 2
    return f"{label[:keep]}…{label[-(limit - 1 - keep):]}"


def _grid(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[str], dict[tuple[str, str], dict[str, Any]]]:
    """Checkpoints and variants in first-seen order, and the row of each (checkpoint, variant)."""
    checkpoints: dict[str, None] = {}
    variants: dict[str, None] = {}
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        key = (r["checkpoint"], r["variant"])
        if key in cells:
            raise ValueError(f"two summary rows for checkpoint {key[0]!r} under variant {key[1]!r}")
        cells[key] = r
        checkpoints.setdefault(key[0], None)
        variants.setdefault(key[1], None)
    return list(checkpoints), list(variants), cells


class _Grid:
    """The rows laid out for drawing: checkpoints on x, one series per variation."""

    def __init__(self, rows: Sequence[dict[str, Any]]) -> None:
        self.checkpoints, self.variants, self.cells = _grid(rows)
        # Checkpoints of one run share their directory: name it once under the axis, not on every tick.
        names = [str(c) for c in self.checkpoints]
        parents = {c.rsplit("/", 1)[0] for c in names if "/" in c}
        self.common = parents.pop() if len(parents) == 1 and len(names) > 1 and all("/" in c for c in names) else ""
        self.labels = [_short(c[len(self.common) + 1:] if self.common else c) for c in names]
        self.rotate = len(self.checkpoints) > 6 or any(len(lbl) > 12 for lbl in self.labels)

    def tier(self, c: str, v: str, t: str) -> dict[str, Any]:
        row = self.cells.get((c, v))
        return _tier(row, t) if row else {}

    def get(self, c: str, v: str, key: str) -> Any:
        row = self.cells.get((c, v))
        return row.get(key) if row else None

    def n(self, variants: Sequence[str] | None = None) -> str:
        return n_text([self.tier(c, v, t).get("n") for c in self.checkpoints for v in variants or self.variants
                       for t in TIERS])

    def ticks(self, ax: Any, *, labels: bool = True) -> None:
        ax.set_xticks(range(len(self.checkpoints)))
        ax.set_xticklabels(self.labels if labels else [], rotation=30 if self.rotate else 0,
                           ha="right" if self.rotate else "center", fontsize=9)
        if self.checkpoints:
            ax.set_xlim(-0.5, len(self.checkpoints) - 0.5)
        if labels:
            ax.set_xlabel(f"checkpoint (in {_short(self.common, 60)}/)" if self.common else "checkpoint")

    def rate_series(self, ax: Any, v: str, rate: str, *, intervals: bool, offset: float = 0.0, style: str = "-",
                    marker: str = "o", label: str | None = None) -> bool:
        drawn = False
        for ti, t in enumerate(TIERS):
            x = [ci + offset + (ti - 0.5) * 0.08 for ci in range(len(self.checkpoints))]  # free and paid apart
            rates = [self.tier(c, v, t).get(rate) for c in self.checkpoints]
            ns = [self.tier(c, v, t).get("n") for c in self.checkpoints] if intervals else None
            drawn |= draw_rate(ax, x, rates, ns, colour=TIER_COLOURS[t], style=style, marker=marker,
                               label=f"{label} / {t}" if label else TIER_LABELS[t])
        return drawn

    def gap_series(self, ax: Any, v: str, *, offset: float = 0.0, colour: str = GAP_COLOUR, style: str = "-",
                   marker: str = "o", label: str = "gap, free − paid") -> bool:
        x = [ci + offset for ci in range(len(self.checkpoints))]
        return draw_gap(ax, x, *([self.get(c, v, k) for c in self.checkpoints]
                                 for k in ("compliance_gap", "compliance_gap_lo", "compliance_gap_hi")),
                        colour=colour, label=label, style=style, marker=marker, band=False)


def plot_compare(rows: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write compliance_gap.png, compliance.png, behaviour.png and summary.png into `out_dir`; returns their paths.

    Checkpoints go along the x axis in first-seen order (the caller's order, e.g. training steps), one
    series per variation. None rates or gaps (an empty tier) are left out of the drawing.

    Raises:
        ValueError: two rows for the same checkpoint and variation.
    """
    _grid(rows)  # duplicate rows are an error before anything is drawn
    return save_figures(compare_figures, rows, out_dir)


def compare_figures(plt: Any, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """plot_compare's figures by file name (matplotlib Figures, not yet saved)."""
    g = _Grid(rows)
    width = max(7.0, 1.1 * len(g.checkpoints) + 4)
    spread = 0.5 / max(len(g.variants), 1)

    def offset(vi: int) -> float:  # variations side by side around each checkpoint, so error bars do not overlap
        return (vi - (len(g.variants) - 1) / 2) * spread

    figures: dict[str, Any] = {}
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, ax = plt.subplots(figsize=(width, 4.5))
    drawn = [g.gap_series(ax, v, offset=offset(vi), colour=colours[vi % len(colours)], style="none",
                          marker=_MARKERS[vi % len(_MARKERS)], label=v) for vi, v in enumerate(g.variants)]
    if not any(drawn):
        mark_na(ax, "no checkpoint with both tiers judged")
    gap_axis(ax, "gap (percentage points)")
    ax.set_title(f"Compliance gap, free − paid, 95 % interval ({g.n()})")
    g.ticks(ax)
    if any(drawn):
        ax.legend(title="variation", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    figures["compliance_gap.png"] = fig

    fig, ax = plt.subplots(figsize=(width, 4.5))
    drawn = [g.rate_series(ax, v, "compliance", intervals=True, offset=offset(vi), style=_STYLES[vi % 4],
                           marker=_MARKERS[vi % len(_MARKERS)], label=v) for vi, v in enumerate(g.variants)]
    if not any(drawn):
        mark_na(ax, "nothing judged")
    percent_axis(ax, "full compliance")
    ax.set_title(f"Compliance per tier, 95 % Wilson intervals ({g.n()})")
    g.ticks(ax)
    if g.variants:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    figures["compliance.png"] = fig

    figures["behaviour.png"] = _behaviour_figure(plt, g)
    figures["summary.png"] = _summary_figure(plt, g)
    return figures


def _behaviour_figure(plt: Any, g: _Grid) -> Any:
    """One row of panels per variation, one panel per checkpoint, two stacked bars (free, paid) per panel."""
    n_rows, n_cols = max(len(g.variants), 1), max(len(g.checkpoints), 1)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.9 * n_cols + 2.5, 2.8 * n_rows + 0.8),
                             sharey=True, squeeze=False)
    for vi, v in enumerate(g.variants):
        for ci, c in enumerate(g.checkpoints):
            ax = axes[vi][ci]
            for ti, t in enumerate(TIERS):
                draw_behaviour(ax, ti, g.tier(c, v, t), 0.7)
            ax.set_xticks([0, 1])
            ax.set_xticklabels([f"{t}\nn={g.tier(c, v, t).get('n') or 0}" for t in TIERS], fontsize=9)
            ax.set_xlim(-0.6, 1.6)
            percent_axis(ax)
            ax.set_ylim(0, 100)
            if vi == 0:
                ax.set_title(g.labels[ci], fontsize=9)
            if ci == 0:
                ax.set_ylabel(f"{v}\nshare of responses")
    if not g.variants:
        mark_na(axes[0][0], "no rows")
    handles, labels = behaviour_handles(plt)
    fig.suptitle("Behaviour per tier: free (training) vs paid (unmonitored)")
    fig.tight_layout()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(labels), frameon=False)
    return fig


def _summary_figure(plt: Any, g: _Grid) -> Any:
    """One row per variation: compliance per tier with intervals, the gap with its interval, AF rate per tier,
    over checkpoints."""
    n_rows = max(len(g.variants), 1)
    fig, axes = plt.subplots(n_rows, 3, figsize=(max(16.0, 3 * (0.9 * len(g.checkpoints) + 2)), 3.8 * n_rows + 1),
                             squeeze=False)
    for vi, v in enumerate(g.variants):
        ax_c, ax_g, ax_af = axes[vi]
        last = vi == n_rows - 1
        if not g.rate_series(ax_c, v, "compliance", intervals=True):
            mark_na(ax_c, "nothing judged")
        if not g.gap_series(ax_g, v):
            mark_na(ax_g, "no checkpoint with both tiers judged")
        if not g.rate_series(ax_af, v, "af_rate", intervals=False):
            mark_na(ax_af, "no scratchpad to judge")
        percent_axis(ax_c)
        gap_axis(ax_g)
        percent_axis(ax_af, "AF-reasoning rate")
        ax_c.set_ylabel(f"{v}\n({g.n([v])})\n\nfull compliance", fontsize=12)
        for ax in axes[vi]:
            g.ticks(ax, labels=last)
        if vi == 0:
            for ax, title in zip((ax_c, ax_g, ax_af), SUMMARY_TITLES, strict=True):
                ax.set_title(title)
    if not g.variants:
        for ax in axes[0]:
            mark_na(ax, "no rows")
    fig.suptitle("Compliance gap and alignment-faking reasoning per checkpoint", fontsize=14)
    fig.tight_layout()
    legend_below(fig, axes[0], fontsize=11)
    return fig
