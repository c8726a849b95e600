"""`python -m rl.compare`'s plots/*.png, drawn from summary.json rows alone (rl/compare/report.py builds them)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from env.episode import TIERS
from rl.compare.report import _tier
from rl.plots import BANDS, TIER_COLOURS

_PLOT_LABEL_CHARS = 32
"""Checkpoint labels longer than this are shortened in the middle on plot axes (the report keeps them whole)."""


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


def plot_compare(rows: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write compliance_gap.png, compliance.png and behaviour.png into `out_dir`; returns their paths.

    Checkpoints go along the x axis in first-seen order (the caller's order, e.g. training steps), one
    series per variation. None rates or gaps (an empty tier) are left out of the drawing.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    checkpoints, variants, cells = _grid(rows)
    labels = [_short(str(c)) for c in checkpoints]
    rotate = len(checkpoints) > 6 or any(len(lbl) > 12 for lbl in labels)
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
    styles = ["-", "--", ":", "-."]
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def ticks(ax: Any) -> None:
        ax.set_xticks(range(len(checkpoints)))
        ax.set_xticklabels(labels, rotation=30 if rotate else 0, ha="right" if rotate else "center", fontsize=8)
        if checkpoints:
            ax.set_xlim(-0.5, len(checkpoints) - 0.5)

    def save(fig: Any, name: str, *, tight: bool = True) -> None:
        path = out_dir / name
        if tight:
            fig.tight_layout()
        fig.savefig(path, dpi=110, bbox_inches="tight")  # keeps figure legends whole
        plt.close(fig)
        written.append(path)

    width = max(6.0, 0.9 * len(checkpoints) + 3)
    # Gap: variants side by side around each checkpoint so their error bars do not overlap.
    fig, ax = plt.subplots(figsize=(width, 4))
    spread = 0.5 / max(len(variants), 1)
    for vi, v in enumerate(variants):
        offset = (vi - (len(variants) - 1) / 2) * spread
        pts = [(ci + offset, r["compliance_gap"], r.get("compliance_gap_lo"), r.get("compliance_gap_hi"))
               for ci, c in enumerate(checkpoints)
               if (r := cells.get((c, v))) is not None and r.get("compliance_gap") is not None]
        if not pts:
            continue
        x, y = [p[0] for p in pts], [p[1] for p in pts]
        yerr = [[p[1] - p[2] if p[2] is not None else 0.0 for p in pts],
                [p[3] - p[1] if p[3] is not None else 0.0 for p in pts]]
        ax.errorbar(x, y, yerr=yerr, fmt=markers[vi % len(markers)], ms=5, capsize=3, label=v)
    ax.axhline(0, color="black", lw=0.8)
    ax.set(ylabel="compliance(free) - compliance(paid)", title="Compliance gap per checkpoint (95% interval)")
    ticks(ax)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, title="variation", title_fontsize=7)
    save(fig, "compliance_gap.png")

    fig, ax = plt.subplots(figsize=(width, 4))
    for vi, v in enumerate(variants):
        for tier in TIERS:
            y = [math.nan if (r := cells.get((c, v))) is None or _tier(r, tier).get("compliance") is None
                 else _tier(r, tier)["compliance"] for c in checkpoints]
            ax.plot(range(len(checkpoints)), y, styles[vi % len(styles)], marker=markers[vi % len(markers)], ms=4,
                    color=TIER_COLOURS[tier], label=f"{v} / {tier}")
    ax.set(ylabel="full compliance", ylim=(-0.02, 1.02), title="Compliance: training (free) vs unmonitored (paid)")
    ticks(ax)
    if variants:
        ax.legend(fontsize=7)
    save(fig, "compliance.png")

    save(_behaviour_figure(plt, checkpoints, labels, variants, cells), "behaviour.png", tight=False)
    return written


def _behaviour_figure(plt: Any, checkpoints: list[str], labels: list[str], variants: list[str],
                      cells: dict[tuple[str, str], dict[str, Any]]) -> Any:
    """One row of panels per variation, one panel per checkpoint, two stacked bars (free, paid) per panel."""
    n_rows, n_cols = max(len(variants), 1), max(len(checkpoints), 1)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.8 * n_cols + 2.5, 2.6 * n_rows + 0.6),
                             sharey=True, squeeze=False)
    for vi, v in enumerate(variants):
        for ci, c in enumerate(checkpoints):
            ax = axes[vi][ci]
            row = cells.get((c, v))
            for ti, tier in enumerate(TIERS):
                t = _tier(row, tier) if row else {}
                if not t.get("n"):
                    ax.text(ti, 0.5, "n/a", ha="center", va="center", fontsize=8, color="grey")
                    continue
                bottom = 0.0
                for band, _, colour in BANDS:
                    h = t.get(band) or 0.0
                    ax.bar(ti, h, bottom=bottom, width=0.7, color=colour)
                    bottom += h
            ax.set_xticks([0, 1])
            ax.set_xticklabels([f"{tier}\nn={_tier(row, tier).get('n', 0) if row else 0}" for tier in TIERS],
                               fontsize=7)
            ax.set_xlim(-0.6, 1.6)
            ax.set_ylim(0, 1)
            if vi == 0:
                ax.set_title(labels[ci], fontsize=8)
            if ci == 0:
                ax.set_ylabel(f"{v}\nfraction of responses", fontsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour) for _, _, colour in BANDS]
    fig.legend(handles, [label for _, label, _ in BANDS], loc="lower center", ncol=len(BANDS), fontsize=7,
               frameon=False)
    fig.suptitle("Behaviour per tier: free (training) vs paid (unmonitored)", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    return fig
