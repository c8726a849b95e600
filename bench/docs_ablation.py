"""The synthetic-document setting on the CPU organism, with and without the situation's facts, over seeds.

Run from the repo root: `python bench/docs_ablation.py [--seeds 0,1,2] [--runs-dir DIR] [--out FILE]`. Each
seed trains configs/demo_cpu_docs.yaml twice (rl/train.py, one Ray task with 2 CPUs on a private local Ray
instance): the documents arm (sft.docs.facts helpful_only_v1) and the ablation arm (no_situation_v1: the same
document types, lab and tiers, with nothing about training, monitoring, RLHF or the scratchpad), with
`rl.seed`, `sft.seed` and `sft.docs.seed` = S and `rl.eval.seed` = 1234 + S. The organism is shared (built once).

For each run it reads three evaluations under the minimal prompt: before the fine-tune (sft/metrics.jsonl, step
0), after it (metrics.jsonl, step 0, before RL) and after RL (the last step): compliance per tier, the gap, the AF
rate and the knowledge probe (does the model know which tier is trained?). Writes per run and per arm (mean,
min, max over seeds) to bench/results/docs_ablation.json and prints the Markdown table of the README.
A run that already finished in --runs-dir is read, not retrained (--retrain to redo).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rl.wandb_log import read_metrics  # noqa: E402

CONFIG = "configs/demo_cpu_docs.yaml"
ARMS = {"documents": "helpful_only_v1", "ablation": "no_situation_v1"}
EVAL_SEED_BASE = 1234
V = "default"
FIELDS = {
    "free": f"eval/{V}/free/compliance", "paid": f"eval/{V}/paid/compliance", "gap": f"eval/{V}/compliance_gap",
    "gap_lo": f"eval/{V}/compliance_gap_lo", "gap_hi": f"eval/{V}/compliance_gap_hi",
    "af_free": f"eval/{V}/free/af_rate", "af_paid": f"eval/{V}/paid/af_rate",
    "knows_tier": "eval/knowledge/tier_trained", "knowledge": "eval/knowledge/accuracy",
}
STAGES = ("before fine-tune", "after fine-tune", "after RL")


def overrides(arm: str, seed: int, runs_dir: Path) -> list[str]:
    return [f"sft.docs.facts={ARMS[arm]}", f"rl.seed={seed}", f"sft.seed={seed}", f"sft.docs.seed={seed}",
            f"rl.eval.seed={EVAL_SEED_BASE + seed}", f"rl.run_name=docs_{arm}_seed{seed}", f"rl.output_dir={runs_dir}",
            "rl.ray.address=local", "rl.wandb.mode=offline"]


def train(arm: str, seed: int, runs_dir: Path, retrain: bool) -> tuple[Path, float | None]:
    run_dir = runs_dir / f"docs_{arm}_seed{seed}"
    if retrain and run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    if (run_dir / "finished.json").is_file():
        return run_dir, None
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "WANDB_MODE": "offline"}
    env.pop("RAY_ADDRESS", None)
    t0 = time.time()
    proc = subprocess.run([sys.executable, "rl/train.py", "--config", CONFIG, *overrides(arm, seed, runs_dir)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.time() - t0
    (runs_dir / f"docs_{arm}_seed{seed}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"{arm} seed {seed} failed (exit {proc.returncode}); see {runs_dir}/docs_{arm}_seed{seed}.log")
    return run_dir, seconds


def evaluations(run_dir: Path) -> dict[str, dict[str, float | None]]:
    """The three evaluations of a run, each as FIELDS' values."""
    sft_rows = read_metrics(run_dir / "sft")
    rl_rows = [r for r in read_metrics(run_dir) if FIELDS["gap"] in r]
    before = next(r for r in sft_rows if r.get("step") == 0 and FIELDS["gap"] in r)
    after = next(r for r in rl_rows if r["step"] == 0)
    last = rl_rows[-1]
    return {stage: {name: row.get(key) for name, key in FIELDS.items()}
            for stage, row in zip(STAGES, (before, after, last), strict=True)}


def spread(values: list[float | None]) -> dict[str, float | None]:
    xs = [v for v in values if v is not None]
    if not xs:
        return {"mean": None, "min": None, "max": None, "n": 0}
    return {"mean": statistics.fmean(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def fmt(s: dict[str, float | None], signed: bool = False) -> str:
    if s["mean"] is None:
        return "n/a"
    sign = "+" if signed else ""
    return f"{s['mean']:{sign}.2f} [{s['min']:{sign}.2f}, {s['max']:{sign}.2f}]"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "docs_ablation")
    p.add_argument("--retrain", action="store_true")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "docs_ablation.json")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    for seed in seeds:
        for arm in ARMS:
            run_dir, seconds = train(arm, seed, args.runs_dir, args.retrain)
            runs.append({"arm": arm, "seed": seed, "run_dir": str(run_dir), "train_seconds": seconds,
                         "evaluations": evaluations(run_dir)})
            print(f"{arm} seed {seed}: {json.dumps(runs[-1]['evaluations'])}", flush=True)
    summary = {arm: {stage: {name: spread([r["evaluations"][stage][name] for r in runs if r["arm"] == arm])
                             for name in FIELDS} for stage in STAGES} for arm in ARMS}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"config": CONFIG, "seeds": seeds, "arms": ARMS, "machine": platform.platform(),
                                    "cpus": os.cpu_count(), "runs": runs, "summary": summary}, indent=2) + "\n")
    print(f"\nmean [min, max] over seeds {seeds}; minimal prompt, {V}, 40 held-out queries per tier\n")
    print("| arm | evaluation | free compliance | paid compliance | gap | AF (free) | knows which tier is trained |")
    print("|---|---|---|---|---|---|---|")
    for arm in ARMS:
        for stage in STAGES:
            s = summary[arm][stage]
            print(f"| {arm} ({ARMS[arm]}) | {stage} | {fmt(s['free'])} | {fmt(s['paid'])} | {fmt(s['gap'], True)} | "
                  f"{fmt(s['af_free'])} | {fmt(s['knows_tier'])} |")
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
