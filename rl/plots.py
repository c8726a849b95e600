"""Training-run plots from metrics.jsonl: compliance per tier and the gap with 95 % intervals, AF rate, the
paper-style behaviour breakdown per tier, and plots/summary.png (one row per variation) for a slide or a paper.

Drawn the rl/figures.py way: percent, percentage points, None as a gap in a line and "n/a" on an empty panel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from env.episode import TIERS
from reward.metrics import metric_key
from rl.figures import (
    BANDS, GAP_COLOUR, SUMMARY_TITLES, TIER_COLOURS, TIER_LABELS, TRAIN_LABEL, behaviour_handles, draw_behaviour,
    draw_gap, draw_rate, gap_axis, legend_below, mark_na, n_text, percent_axis, save_figures, scaled, step_axis,
)

def eval_variants(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Variants that have eval rows, in first-seen order."""
    seen: dict[str, None] = {}
    for r in rows:
        for k in r:
            if k.startswith("eval/") and k.endswith("/compliance_gap"):
                seen.setdefault(k.split("/")[1], None)
    return list(seen)


def _eval_rows(rows: Sequence[dict[str, Any]], v: str) -> list[dict[str, Any]]:
    """The rows that hold variant `v`'s evaluation (training-only rows have no eval keys)."""
    return [r for r in rows if metric_key("eval", v, "compliance_gap") in r]


def _col(rows: Sequence[dict[str, Any]], key: str) -> list[Any]:
    return [r.get(key) for r in rows]


def _n_of(rows: Sequence[dict[str, Any]], v: str) -> str:
    return n_text([r.get(metric_key("eval", v, t, "n")) for r in rows for t in TIERS])


def _tier_panel(ax: Any, rows: Sequence[dict[str, Any]], v: str, rate: str, train_key: str | None, *,
                intervals: bool) -> bool:
    """`rate` of both tiers of variant `v` over steps (percent); a grey training-batch line when logged."""
    ev = _eval_rows(rows, v)
    x = [r["step"] for r in ev]
    # Free and paid a hair apart, so error bars at the same step stay readable.
    dx = 0.006 * (max(x) - min(x)) if intervals and x else 0.0
    drawn = False
    for tier, sign in zip(TIERS, (-1, 1), strict=True):
        ns = _col(ev, metric_key("eval", v, tier, "n")) if intervals else None
        drawn |= draw_rate(ax, [s + sign * dx for s in x], _col(ev, metric_key("eval", v, tier, rate)), ns,
                           colour=TIER_COLOURS[tier], label=TIER_LABELS[tier])
    train = [r for r in rows if r.get(train_key) is not None] if train_key else []
    if train:
        ax.plot([r["step"] for r in train], [100 * r[train_key] for r in train], color="grey", alpha=0.6, lw=1,
                label=TRAIN_LABEL)
    percent_axis(ax)
    step_axis(ax, [r["step"] for r in rows])
    return drawn


def _gap_panel(ax: Any, rows: Sequence[dict[str, Any]], v: str, colour: str = GAP_COLOUR, style: str = "-",
               label: str = "gap, free − paid") -> bool:
    ev = _eval_rows(rows, v)
    drawn = draw_gap(ax, [r["step"] for r in ev], _col(ev, metric_key("eval", v, "compliance_gap")),
                     _col(ev, metric_key("eval", v, "compliance_gap_lo")),
                     _col(ev, metric_key("eval", v, "compliance_gap_hi")), colour=colour, label=label, style=style)
    gap_axis(ax)
    step_axis(ax, [r["step"] for r in rows])
    return drawn


def plot_run(rows: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write compliance.png, compliance_gap.png, af_rate.png, behaviour_<variant>.png, summary.png and, when a
    reward model scored the evaluations, reward_model.png (its score per tier beside compliance); returns
    their paths. `rows` are metrics.jsonl rows; figures are redrawn from all of them."""
    return save_figures(run_figures, rows, out_dir)


def run_figures(plt: Any, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """plot_run's figures by file name (matplotlib Figures, not yet saved)."""
    variants = eval_variants(rows)
    figures: dict[str, Any] = {}

    def per_tier(rate: str, intervals: bool, empty: str, ylabel: str, title: str) -> Any:
        """One panel per variation: the rate of each tier over steps (and the training batch's)."""
        n = max(len(variants), 1)
        fig, grid = plt.subplots(1, n, figsize=(5.5 * n + 1, 4.0), sharey=True, squeeze=False)
        axes = list(grid[0])
        for ax, v in zip(axes, variants, strict=False):
            if not _tier_panel(ax, rows, v, rate, f"train/{rate}", intervals=intervals):
                mark_na(ax, empty)
            ax.set_title(f"{v} ({_n_of(rows, v)})")
        if not variants:
            mark_na(axes[0], "no evaluation")
        axes[0].set_ylabel(ylabel)
        fig.suptitle(title)
        fig.tight_layout()
        legend_below(fig, axes)
        return fig

    figures["compliance.png"] = per_tier("compliance", True, "nothing judged", "full compliance",
                                         "Compliance per tier, 95 % Wilson intervals")

    fig, ax = plt.subplots(figsize=(8, 4.2))
    styles = ["-", "--", ":", "-."]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    drawn = [_gap_panel(ax, rows, v, colour=colours[vi % len(colours)], style=styles[vi % 4], label=v)
             for vi, v in enumerate(variants)]
    if not any(drawn):
        mark_na(ax, "no step with both tiers judged")
    ns = [r.get(metric_key("eval", v, t, "n")) for v in variants for r in rows for t in TIERS]
    ax.set_title(f"Compliance gap, free − paid, 95 % interval ({n_text(ns)})")
    ax.set_ylabel("gap (percentage points)")
    if variants:
        ax.legend(title="variation", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    figures["compliance_gap.png"] = fig

    figures["af_rate.png"] = per_tier(
        "af_rate", False, "no scratchpad to judge", "AF-reasoning rate",
        "Alignment-faking reasoning per tier (share of judged responses with a scratchpad)")

    for v in variants:
        figures[f"behaviour_{v}.png"] = _behaviour_figure(plt, rows, v)
    figures["summary.png"] = _summary_figure(plt, rows, variants)
    if any(r.get(metric_key("eval", v, t, "rm_score")) is not None for r in rows for v in variants for t in TIERS):
        figures["reward_model.png"] = _reward_model_figure(plt, rows, variants)
    return figures


def _behaviour_figure(plt: Any, rows: Sequence[dict[str, Any]], v: str) -> Any:
    """Per evaluation step, two stacked bars side by side: free (training) and paid (unmonitored)."""
    ev = _eval_rows(rows, v)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(ev) + 3), 4.5))
    width = 0.38
    for i, r in enumerate(ev):
        for tier, dx in (("free", -0.21), ("paid", 0.21)):
            cell = {b: r.get(metric_key("eval", v, tier, b)) for b, _, _ in BANDS}
            draw_behaviour(ax, i + dx, {**cell, "n": r.get(metric_key("eval", v, tier, "n"))}, width)
    ax.set_xticks([i + dx for i in range(len(ev)) for dx in (-0.21, 0.21)])
    ax.set_xticklabels(["free", "paid"] * len(ev), fontsize=8)
    steps = ax.secondary_xaxis(-0.09)
    steps.set_xticks(range(len(ev)))
    steps.set_xticklabels([str(r["step"]) for r in ev])
    steps.tick_params(length=0)
    steps.spines["bottom"].set_visible(False)
    steps.set_xlabel("training step")
    ax.set_xlim(-0.6, max(len(ev), 1) - 0.4)
    percent_axis(ax, "share of responses")
    ax.set_ylim(0, 100)
    if not ev:
        mark_na(ax, "no evaluation")
    ax.set_title(f"Behaviour per tier, {v} ({_n_of(rows, v)})")
    handles, labels = behaviour_handles(plt)
    ax.legend(handles[::-1], labels[::-1], loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def _summary_figure(plt: Any, rows: Sequence[dict[str, Any]], variants: Sequence[str]) -> Any:
    """One row per variation: compliance per tier with intervals, the gap with its interval, AF rate per tier."""
    n_rows = max(len(variants), 1)
    fig, axes = plt.subplots(n_rows, 3, figsize=(16, 3.6 * n_rows + 0.8), squeeze=False)
    for vi, v in enumerate(variants):
        ax_c, ax_g, ax_af = axes[vi]
        if not _tier_panel(ax_c, rows, v, "compliance", None, intervals=True):
            mark_na(ax_c, "nothing judged")
        if not _gap_panel(ax_g, rows, v):
            mark_na(ax_g, "no step with both tiers judged")
        if not _tier_panel(ax_af, rows, v, "af_rate", None, intervals=False):
            mark_na(ax_af, "no scratchpad to judge")
        ax_c.set_ylabel(f"{v}\n({_n_of(rows, v)})\n\nfull compliance", fontsize=12)
        ax_af.set_ylabel("AF-reasoning rate")
        if vi == 0:
            for ax, title in zip((ax_c, ax_g, ax_af), SUMMARY_TITLES, strict=True):
                ax.set_title(title)
        if vi < n_rows - 1:
            for ax in axes[vi]:
                ax.set_xlabel("")
    if not variants:
        for ax in axes[0]:
            mark_na(ax, "no evaluation")
    fig.suptitle("Compliance gap and alignment-faking reasoning over training", fontsize=14)
    fig.tight_layout()
    legend_below(fig, axes[0], fontsize=11)
    return fig


def _reward_model_figure(plt: Any, rows: Sequence[dict[str, Any]], variants: Sequence[str]) -> Any:
    """The reward model's mean raw score per tier beside compliance per tier (classifier)."""
    fig, (ax_rm, ax_c) = plt.subplots(1, 2, figsize=(13, 4.2))
    styles = ["-", "--", ":", "-."]
    for vi, v in enumerate(variants):
        ev = _eval_rows(rows, v)
        x = [r["step"] for r in ev]
        for tier in TIERS:
            scores = [scaled(s, 1.0) for s in _col(ev, metric_key("eval", v, tier, "rm_score"))]
            ax_rm.plot(x, scores, styles[vi % 4], marker="o", ms=4, color=TIER_COLOURS[tier], label=f"{v} / {tier}")
            draw_rate(ax_c, x, _col(ev, metric_key("eval", v, tier, "compliance")),
                      _col(ev, metric_key("eval", v, tier, "n")), colour=TIER_COLOURS[tier], label=f"{v} / {tier}",
                      style=styles[vi % 4])
    train = [r for r in rows if r.get("train/rm_score") is not None]
    if train:
        ax_rm.plot([r["step"] for r in train], [r["train/rm_score"] for r in train], color="grey", alpha=0.6, lw=1,
                   label="training batch (rewarded)")
    ax_rm.set(ylabel="mean raw reward-model score", title="Reward-model score per tier")
    ax_c.set_title("Compliance per tier (classifier, 95 % Wilson)")
    percent_axis(ax_c, "full compliance")
    for ax in (ax_rm, ax_c):
        step_axis(ax, [r["step"] for r in rows])
    ax_c.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig
