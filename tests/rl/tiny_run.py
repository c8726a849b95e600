"""Training the tiny test run (tests/data/tiny_run.yaml) in a subprocess, as users run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def train_tiny(tmp: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    """`python rl/train.py --config tests/data/tiny_run.yaml` into tmp/runs (organism cached in tmp/cache)."""
    env = {**os.environ, "AF_RL_CACHE": str(tmp / "cache"), "RAY_AUTH_MODE": "disabled", "WANDB_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    return subprocess.run(
        [sys.executable, "rl/train.py", "--config", "tests/data/tiny_run.yaml", f"rl.output_dir={tmp / 'runs'}",
         *overrides],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
