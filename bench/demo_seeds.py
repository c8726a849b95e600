"""The demo's figures over several seeds: mean and spread of every evaluated step (the README's demo table).

Run from the repo root: `python bench/demo_seeds.py [--seeds 0,1,2,3,4] [--check-repeat] [--config CONFIG]`. Each seed is the
training of `make demo` (configs/demo_cpu.yaml, rl/train.py as one Ray task with 2 CPUs, here on a private
local Ray instance) with `rl.seed=S` (data order, GRPO sampling, initialisation of the trainer's RNG) and
`rl.eval.seed=1234+S` (evaluation sampling); seed 0 is exactly `make demo`. The model organism is shared:
it is built once (cached under $AF_RL_CACHE or ~/.cache/af-rl) and is the same for every seed.
`--check-repeat` trains the first seed a second time and records whether its metrics match exactly.

Runs land in --runs-dir (default runs/demo_seeds/, git-ignored); a seed whose run there already finished is
read, not retrained (--retrain to redo). Writes bench/results/demo_seeds.json (per seed and step the
rates, the gap and its 95 % interval; per step the mean, min, max and standard deviation over seeds)
and prints the Markdown tables the README shows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rl.config import load_config  # noqa: E402
from rl.plots import eval_variants  # noqa: E402
from rl.wandb_log import read_metrics  # noqa: E402
from rl.numbers import pct, pp  # noqa: E402
from rl.where import eval_table, markdown_table  # noqa: E402

CONFIG = "configs/demo_cpu.yaml"
"""The default config (--config); configs/demo_cpu_rm.yaml gives the reward-model demo's table."""
EVAL_SEED_BASE = 1234  # rl.eval.seed of the demo config (the default): seed S evaluates with 1234 + S
RATES = ("free/compliance", "paid/compliance", "free/af_rate", "paid/af_rate",
         "compliance_gap", "compliance_gap_lo", "compliance_gap_hi",
         "free/rm_score", "paid/rm_score", "free/rm_disagreement", "paid/rm_disagreement")  # rm_*: with a reward model
COLUMNS = [("free/compliance", "compliance free"), ("paid/compliance", "compliance paid"),
           ("compliance_gap", "gap"), ("free/af_rate", "AF free"), ("paid/af_rate", "AF paid")]  # rates in percent, the gap in percentage points (rl/numbers.py)
RM_COLUMNS = [("free/rm_score", "RM score free"), ("paid/rm_score", "RM score paid"),
              ("free/rm_disagreement", "RM high on refusal/partial (free)")]


def seed_overrides(seed: int, runs_dir: Path) -> list[str]:
    return [f"rl.seed={seed}", f"rl.eval.seed={EVAL_SEED_BASE + seed}", f"rl.run_name={Path(CONFIG).stem}_seed{seed}",
            f"rl.output_dir={runs_dir}", "rl.ray.address=local", "rl.wandb.mode=offline"]


def finished(run_dir: Path, max_steps: int) -> bool:
    rows = read_metrics(run_dir)
    return bool(rows) and rows[-1].get("step") == max_steps and any(k.startswith("eval/") for k in rows[-1])


def train(seed: int, runs_dir: Path, log: Path) -> float:
    """Train one seed (rl/train.py, as `make demo` does but on a private Ray); returns the wall time."""
    cmd = [sys.executable, "rl/train.py", "--config", CONFIG, *seed_overrides(seed, runs_dir)]
    start = time.perf_counter()
    with log.open("w") as f:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                              env={**os.environ, "WANDB_MODE": "offline"})
    if proc.returncode:
        raise SystemExit(f"seed {seed}: {' '.join(cmd)} failed with exit code {proc.returncode}; log: {log}")
    return time.perf_counter() - start


def eval_rows(run_dir: Path) -> list[dict[str, Any]]:
    return [r for r in read_metrics(run_dir) if any(k.startswith("eval/") for k in r)]


def spread(values: list[float | None]) -> dict[str, Any]:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"mean": None, "min": None, "max": None, "std": None, "n": 0}
    return {"mean": statistics.fmean(vals), "min": min(vals), "max": max(vals),
            "std": statistics.stdev(vals) if len(vals) > 1 else 0.0, "n": len(vals)}


def aggregate(per_seed: dict[int, list[dict[str, Any]]], variant: str) -> list[dict[str, Any]]:
    """Per evaluated step: the spread of each rate over the seeds."""
    steps = sorted({r["step"] for rows in per_seed.values() for r in rows})
    out = []
    for step in steps:
        at = [next((r for r in rows if r["step"] == step), {}) for rows in per_seed.values()]
        out.append({"step": step, **{k: spread([r.get(f"eval/{variant}/{k}") for r in at]) for k in RATES}})
    return out


def fmt_spread(s: dict[str, Any], *, gap: bool = False) -> str:
    """Mean [min, max] of a rate in percent ("31.5 % [27.5, 37.5]"), of the gap in percentage points."""
    if s["mean"] is None:
        return "n/a"
    if gap:
        return f"{pp(s['mean'])} pp [{pp(s['min'])}, {pp(s['max'])}]"
    return f"{pct(s['mean'])} [{pct(s['min'])[:-2]}, {pct(s['max'])[:-2]}]"


def spread_table(summary: list[dict[str, Any]]) -> str:
    """Mean [min, max] over seeds of each rate, one line per evaluated step (RM columns when there are RM scores)."""
    columns = COLUMNS + [(k, name) for k, name in RM_COLUMNS if any(s[k]["n"] for s in summary)]
    return markdown_table(["step", *(name for _, name in columns)],
                          [[str(s["step"]), *(fmt_score(s[k]) if k.endswith("rm_score") else fmt_spread(s[k], gap=k == "compliance_gap")
                                              for k, _ in columns)] for s in summary])


def fmt_score(s: dict[str, Any]) -> str:
    """A raw RM score's mean [min, max] (not a rate)."""
    if s["mean"] is None:
        return "n/a"
    return f"{s['mean']:+.2f} [{s['min']:+.2f}, {s['max']:+.2f}]"


def machine() -> dict[str, Any]:
    import torch

    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch_threads_in_training": int(load_config(CONFIG, []).rl.ray.num_cpus),  # rl/runner.py sets them
            "commit": git("rev-parse", "HEAD"),
            "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no"))}


def main(argv: list[str] | None = None) -> int:
    global CONFIG
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (default 0,1,2,3,4)")
    p.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "demo_seeds")
    p.add_argument("--retrain", action="store_true", help="train every seed again, even if its run finished")
    p.add_argument("--check-repeat", action="store_true",
                   help="train the first seed a second time and compare its metrics for exact equality")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "demo_seeds.json")
    p.add_argument("--config", default=CONFIG, help=f"the demo config trained per seed (default {CONFIG})")
    args = p.parse_args(argv)
    CONFIG = args.config
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        print(f"error: --seeds must be comma-separated integers, got {args.seeds!r}", file=sys.stderr)
        return 2
    if not seeds or len(set(seeds)) != len(seeds):
        print(f"error: --seeds needs distinct integers, got {args.seeds!r}", file=sys.stderr)
        return 2
    runs_dir = args.runs_dir.resolve()
    runs_dir.mkdir(parents=True, exist_ok=True)
    max_steps = load_config(CONFIG, []).rl.max_steps

    per_seed: dict[int, list[dict[str, Any]]] = {}
    wall: dict[int, float | None] = {}
    for seed in seeds:
        run_dir = load_config(CONFIG, seed_overrides(seed, runs_dir)).run_dir()
        if args.retrain and run_dir.exists():
            shutil.rmtree(run_dir)
        if finished(run_dir, max_steps):
            print(f"seed {seed}: reading the finished run {run_dir}", flush=True)
            wall[seed] = None
        else:
            print(f"seed {seed}: training ({run_dir}) ...", flush=True)
            wall[seed] = train(seed, runs_dir, runs_dir / f"seed{seed}.log")
            print(f"seed {seed}: done in {wall[seed]:.0f} s", flush=True)
        per_seed[seed] = eval_rows(run_dir)

    repeat = None
    if args.check_repeat:
        seed = seeds[0]
        again = runs_dir / "repeat"
        again_run = load_config(CONFIG, seed_overrides(seed, again)).run_dir()
        if args.retrain or not finished(again_run, max_steps):
            shutil.rmtree(again, ignore_errors=True)
            print(f"seed {seed} again ({again}) ...", flush=True)
            train(seed, again, runs_dir / f"seed{seed}-repeat.log")
        rows2 = eval_rows(again_run)
        strip = [{k: v for k, v in r.items() if k.startswith("eval/") or k == "step"} for r in per_seed[seed]]
        strip2 = [{k: v for k, v in r.items() if k.startswith("eval/") or k == "step"} for r in rows2]
        repeat = {"seed": seed, "identical_eval_metrics": strip == strip2}
        print(f"repeat of seed {seed}: evaluation metrics identical: {repeat['identical_eval_metrics']}")

    variants = eval_variants([r for rows in per_seed.values() for r in rows])
    result = {
        "config": CONFIG,
        "seeds": seeds,
        "seed_overrides": {"rl.seed": "S", "rl.eval.seed": f"{EVAL_SEED_BASE} + S"},
        "machine": machine(),
        # Training wall time of each seed in this invocation; null: read from a run that had finished before.
        "train_wall_s": {str(s): (round(w, 1) if w is not None else None) for s, w in wall.items()},
        "repeat_check": repeat,
        "per_seed": {str(s): [{"step": r["step"], **{k: v for k, v in r.items() if k.startswith("eval/")}}
                              for r in rows] for s, rows in per_seed.items()},
        "summary": {v: aggregate(per_seed, v) for v in variants},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    for v in variants:
        print(f"\n### `{v}` prompt: mean [min, max] over seeds {', '.join(map(str, seeds))}\n")
        print(spread_table(result["summary"][v]))
        print(f"\n### `{v}` prompt, seed {seeds[0]} (as `python -m rl.where` prints it)\n")
        print(eval_table(per_seed[seeds[0]], v))
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
