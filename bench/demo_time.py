"""Wall time of `make demo`: cold (organism built from scratch) and with the organism cached.

Run from the repo root: `python bench/demo_time.py [--repeats 1]`. Uses a fresh cache directory
($AF_RL_CACHE) and runs directory, so the user's own cache and runs are left alone; the venv must exist
(`make setup`), as setup time is not part of the demo's target. Prints a table and one JSON line (also in
bench/results/demo_time.json). Targets: 10 min cold, 5 min cached, on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS_S = {"cold": 600, "cached": 300}


def timed_demo(cache: Path, runs: Path) -> tuple[float, float | None]:
    env = {**os.environ, "AF_RL_CACHE": str(cache)}
    start = time.perf_counter()
    proc = subprocess.run(["make", "demo", f"RUNS={runs}"], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"make demo failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    peak = re.search(r"peak memory\s*:\s*([\d.]+) MB", proc.stdout)
    return wall, float(peak.group(1)) if peak else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=1, help="cold+cached pairs")
    args = p.parse_args(argv)
    times: dict[str, list[float]] = {"cold": [], "cached": []}
    peaks: dict[str, list[float | None]] = {"cold": [], "cached": []}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            cache = Path(tmp) / "cache"
            for case, runs in (("cold", Path(tmp) / "runs"), ("cached", Path(tmp) / "runs2")):
                wall, peak = timed_demo(cache, runs)
                times[case].append(wall)
                peaks[case].append(peak)
    result = {case: {"median_s": round(statistics.median(v), 1), "runs_s": [round(x, 1) for x in v],
                     "target_s": TARGETS_S[case], "training_peak_rss_mb": peaks[case]}
              for case, v in times.items()}
    for case, r in result.items():
        print(f"{case:7s} median {r['median_s'] / 60:.1f} min (runs {r['runs_s']} s), "
              f"target {r['target_s'] / 60:.0f} min")
    print(json.dumps(result))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "demo_time.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(r["median_s"] <= r["target_s"] for r in result.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
