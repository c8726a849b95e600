"""Print where a run's results are and its headline numbers (first vs last evaluation).

    python -m rl.where --config configs/demo_cpu.yaml [dotted.key=value ...]
"""

from __future__ import annotations

import argparse
import sys

from rl.config import ConfigError, load_config
from rl.plots import eval_variants
from rl.wandb_log import WANDB_ID_FILE, read_metrics


def _fmt(v: object) -> str:
    return f"{v:.3f}" if isinstance(v, float) else "n/a" if v is None else str(v)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rl.where", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True)
    p.add_argument("overrides", nargs="*")
    args = p.parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    run_dir = cfg.run_dir()
    rows = read_metrics(run_dir)
    evals = [r for r in rows if any(k.startswith("eval/") for k in r)]
    print(f"\nResults of {cfg.rl.run_name}: {run_dir}")
    print(f"  metrics     {run_dir / 'metrics.jsonl'} ({len(rows)} steps logged)")
    print(f"  plots       {run_dir / 'plots'}/")
    print(f"  samples     {run_dir / 'samples'}/")
    print(f"  checkpoints {run_dir / 'checkpoints'}/")
    wid = run_dir / WANDB_ID_FILE
    if wid.exists():
        print(f"  W&B run     id {wid.read_text().strip()}, files under {run_dir / 'wandb'}/ "
              f"(offline runs upload with `wandb sync {run_dir / 'wandb'}/offline-run-*`)")
    if len(evals) >= 1:
        first, last = evals[0], evals[-1]
        for v in eval_variants(rows):
            print(f"  [{v}] step {first['step']} -> {last['step']}:")
            for key in ("free/compliance", "paid/compliance", "free/af_rate", "paid/af_rate", "compliance_gap"):
                k = f"eval/{v}/{key}"
                print(f"      {key:16s} {_fmt(first.get(k))} -> {_fmt(last.get(k))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
