"""Print where a run's results are and its evaluation table (every evaluated step, per variation).

    python -m rl.where --config configs/demo_cpu.yaml [dotted.key=value ...]

Exit code 2 on a bad config, or when the run directory holds no run (no metrics.jsonl).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from env.episode import TIERS
from reward.metrics import TIER_RATE_NAMES
from rl.config import ConfigError, load_config
from rl.plots import eval_variants
from rl.wandb_log import METRICS_FILE, WANDB_ID_FILE, read_metrics

EXIT_BAD_INPUT = 2


def markdown_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """A Markdown table (the layout the README's tables use)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def eval_table(rows: Sequence[dict[str, Any]], variant: str) -> str:
    """The evaluation table of one variation: one line per evaluated step, in the order logged, with
    rl.compare's columns (rl.compare.report.SUMMARY_COLUMNS) and numbers (rl.numbers: percent, gap in pp, n/a)."""
    from rl.compare.report import SUMMARY_COLUMNS, summary_cells

    p = f"eval/{variant}/"
    body = []
    for r in rows:
        if p + "compliance_gap" not in r:
            continue
        cell = {tier: {k: r.get(f"{p}{tier}/{k}") for k in TIER_RATE_NAMES if f"{p}{tier}/{k}" in r} for tier in TIERS}
        cell.update({k: r.get(p + k) for k in ("compliance_gap", "compliance_gap_lo", "compliance_gap_hi")})
        body.append([str(r["step"]), *summary_cells(cell)])
    return markdown_table(["step", *SUMMARY_COLUMNS], body)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rl.where", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True)
    p.add_argument("overrides", nargs="*")
    args = p.parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    run_dir = cfg.run_dir()
    if not (run_dir / METRICS_FILE).is_file():
        what = "does not exist" if not run_dir.exists() else f"has no {METRICS_FILE}"
        print(f"error: no run of {cfg.rl.run_name} at {run_dir}: the directory {what} (check rl.output_dir "
              f"and rl.run_name, or start the run with rl/train.py)", file=sys.stderr)
        return EXIT_BAD_INPUT
    rows = read_metrics(run_dir)
    evals = [r for r in rows if any(k.startswith("eval/") for k in r)]
    print(f"\nResults of {cfg.rl.run_name}: {run_dir}")
    print(f"  metrics     {run_dir / METRICS_FILE} ({len(rows)} steps logged, {len(evals)} evaluated)")
    print(f"  plots       {run_dir / 'plots'}/")
    print(f"  samples     {run_dir / 'samples'}/")
    print(f"  checkpoints {run_dir / 'checkpoints'}/")
    wid = run_dir / WANDB_ID_FILE
    if wid.exists():
        print(f"  W&B run     id {wid.read_text().strip()}, files under {run_dir / 'wandb'}/ "
              f"(offline runs upload with `wandb sync {run_dir / 'wandb'}/offline-run-*`)")
    for v in eval_variants(rows):
        print(f"\n[{v}] (gap in percentage points with its 95 % interval, Newcombe's hybrid score; "
              "n/a: no denominator, e.g. nothing judged or, for AF, no scratchpad)")
        print(eval_table(rows, v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
