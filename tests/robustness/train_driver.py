"""Runs `rl.train.main` on many argument lists in ONE fresh interpreter and reports what each did.

Validation is all that runs: `connect_ray` is replaced by a stub, so a config that wrongly passes
validation shows up as rc "validated" instead of starting Ray. The report also lists the heavy modules
the interpreter imported, which must stay empty (a bad config fails before torch is imported).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "ray", "transformers", "trl", "vllm", "openrlhf", "wandb", "datasets", "deepspeed", "peft")

_DRIVER = r"""
import contextlib, io, json, sys, time
sys.path.insert(0, sys.argv[1])
import rl.train as train

class Validated(Exception):
    pass

def stub(cfg):
    raise Validated

train.connect_ray = stub
results = []
for argv in json.load(sys.stdin):
    err = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = train.main(argv)
        except Validated:
            rc = "validated"
        except SystemExit as e:  # argparse usage errors
            rc = e.code
        except BaseException as e:  # reported, so one crash names its config instead of hiding the rest
            rc = f"{type(e).__name__}: {e}"
    results.append({"rc": rc, "stderr": err.getvalue(), "seconds": time.perf_counter() - t0})
heavy = sorted(set(json.loads(sys.argv[2])) & set(sys.modules))
print(json.dumps({"results": results, "heavy": heavy}))
"""


def run_train_in_process(argvs: list[list[str]], timeout: float = 120) -> dict[str, Any]:
    """{"results": [{"rc", "stderr", "seconds"} per argv], "heavy": heavy modules imported at the end}."""
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(ROOT), json.dumps(HEAVY)],
        input=json.dumps(argvs), capture_output=True, text=True, cwd=ROOT, timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])
