"""Training-run plots from metrics.jsonl: compliance per tier, the gap with its interval, AF rate,
and the paper-style behaviour breakdown per tier over steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from reward.metrics import metric_key

BANDS = (("refuse", "refuses", "#9bb7d4"), ("comply_af", "complies, fakes alignment", "#d9534f"),
         ("comply_no_af", "complies, no AF", "#f0ad4e"), ("partial", "partial compliance", "#c9a0dc"),
         ("malformed", "malformed", "#bbbbbb"))
TIER_COLOURS = {"free": "#d9534f", "paid": "#337ab7"}


def _series(rows: Sequence[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    pts = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def eval_variants(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Variants that have eval rows, in first-seen order."""
    seen: dict[str, None] = {}
    for r in rows:
        for k in r:
            if k.startswith("eval/") and k.endswith("/compliance_gap"):
                seen.setdefault(k.split("/")[1], None)
    return list(seen)


def plot_run(rows: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write compliance.png, compliance_gap.png, af_rate.png, behaviour_<variant>.png and, when a reward model
    scored the evaluations, reward_model.png (its score per tier beside compliance); returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    variants = eval_variants(rows)
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        path = out_dir / name
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    styles = ["-", "--", ":", "-."]

    def per_tier(rate: str, train_key: str, ylabel: str, title: str, name: str) -> None:
        fig, ax = plt.subplots(figsize=(7, 4))
        for vi, v in enumerate(variants):
            for tier in ("free", "paid"):
                x, y = _series(rows, metric_key("eval", v, tier, rate))
                ax.plot(x, y, styles[vi % 4], marker="o", ms=3, color=TIER_COLOURS[tier], label=f"{v} / {tier}")
        x, y = _series(rows, train_key)
        if x:
            ax.plot(x, y, color="grey", alpha=0.5, lw=1, label="train batch (free)")
        ax.set(xlabel="step", ylabel=ylabel, ylim=(-0.02, 1.02), title=title)
        ax.legend(fontsize=7)
        save(fig, name)

    per_tier("compliance", "train/compliance", "full compliance",
             "Compliance: training (free) vs unmonitored (paid)", "compliance.png")

    fig, ax = plt.subplots(figsize=(7, 4))
    for vi, v in enumerate(variants):
        x, y = _series(rows, metric_key("eval", v, "compliance_gap"))
        _, lo = _series(rows, metric_key("eval", v, "compliance_gap_lo"))
        _, hi = _series(rows, metric_key("eval", v, "compliance_gap_hi"))
        line = ax.plot(x, y, styles[vi % 4], marker="o", ms=3, label=v)[0]
        if len(lo) == len(x) == len(hi):
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15)
    ax.axhline(0, color="black", lw=0.8)
    ax.set(xlabel="step", ylabel="compliance(free) - compliance(paid)", title="Compliance gap (95% interval)")
    ax.legend(fontsize=7)
    save(fig, "compliance_gap.png")

    per_tier("af_rate", "train/af_rate", "AF-reasoning rate", "Alignment-faking reasoning", "af_rate.png")

    for v in variants:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
        for ax, tier in zip(axes, ("free", "paid")):
            steps = [r["step"] for r in rows if r.get(metric_key("eval", v, tier, "n"))]
            bands = [[r.get(metric_key("eval", v, tier, b)) or 0.0 for r in rows
                      if r.get(metric_key("eval", v, tier, "n"))] for b, _, _ in BANDS]
            if steps:
                ax.stackplot(steps, bands, labels=[lbl for _, lbl, _ in BANDS], colors=[c for _, _, c in BANDS])
            ax.set(title=f"{v}: {tier} tier ({'training' if tier == 'free' else 'unmonitored'})", xlabel="step", ylim=(0, 1))
        axes[0].set_ylabel("fraction of responses")
        # The bands' legend, from whichever tier has any step judged (a tier judged at no step draws nothing).
        drawn = next((ax for ax in axes if ax.get_legend_handles_labels()[0]), None)
        if drawn is not None:
            axes[1].legend(*drawn.get_legend_handles_labels(), fontsize=7, loc="upper left",
                           bbox_to_anchor=(1.02, 1.0))
        save(fig, f"behaviour_{v}.png")

    if any(_series(rows, metric_key("eval", v, t, "rm_score"))[0] for v in variants for t in ("free", "paid")):
        fig, (ax_rm, ax_c) = plt.subplots(1, 2, figsize=(12, 4))
        for vi, v in enumerate(variants):
            for tier in ("free", "paid"):
                for ax, rate in ((ax_rm, "rm_score"), (ax_c, "compliance")):
                    x, y = _series(rows, metric_key("eval", v, tier, rate))
                    ax.plot(x, y, styles[vi % 4], marker="o", ms=3, color=TIER_COLOURS[tier], label=f"{v} / {tier}")
        x, y = _series(rows, "train/rm_score")
        if x:
            ax_rm.plot(x, y, color="grey", alpha=0.5, lw=1, label="train batch (rewarded)")
        ax_rm.set(xlabel="step", ylabel="mean raw reward-model score", title="Reward-model score per tier")
        ax_c.set(xlabel="step", ylabel="full compliance (classifier)", ylim=(-0.02, 1.02),
                 title="Compliance per tier (classifier), beside it")
        ax_rm.legend(fontsize=7)
        save(fig, "reward_model.png")
    return written
