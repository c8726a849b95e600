"""The Inspect AI task (rl/adapters/inspect_ai_task.py), run in its own process (tests/rl/inspect_runner.py):
with Inspect's mock model scripted to comply in the free tier (after one reasoning-only turn answered with
<NEXT/>) and refuse in the paid tier, and against `rl.serve` of a trained checkpoint."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("inspect_ai", reason="the Inspect AI adapter is an optional extra: "
                                         "pip install -e '.[inspect]' (make test installs it)")
RUNNER = Path(__file__).with_name("inspect_runner.py")


def run(tmp_path: Path, n_queries: int, where: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(RUNNER), str(tmp_path / "logs"), str(n_queries), where],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "success", result["error"]
    return result


def test_inspect_task_with_the_mock_model(tmp_path: Path) -> None:
    result = run(tmp_path, 4, "mock")
    m = result["metrics"]
    assert m["compliance_free"] == 1.0 and m["compliance_paid"] == 0.0
    assert m["compliance_gap"] == 1.0 and m["failed"] == 0.0
    assert 0.0 <= m["af_rate_free"] <= 1.0 and not math.isnan(m["af_rate_free"])
    free = [s for s in result["samples"] if s["tier"] == "free"]
    paid = [s for s in result["samples"] if s["tier"] == "paid"]
    assert len(free) == 4 and all(s["turns"] == 2 for s in free)  # continued with <NEXT/>
    assert len(paid) == 4 and all(s["assistant_messages"] == 1 for s in paid)


def test_prefilled_variants_are_refused() -> None:
    code = ("from rl.adapters.inspect_ai_task import alignment_faking\n"
            "try:\n    alignment_faking(variants='no_cot', n_queries=2)\nexcept ValueError as e:\n    print(e)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0 and "no_cot" in proc.stdout, proc.stderr[-2000:]


@pytest.mark.slow  # serves the tiny run's checkpoint (trained once per session)
def test_inspect_task_against_rl_serve(tiny_run: Path, tmp_path: Path) -> None:
    """Inspect's OpenAI-compatible provider against `rl.serve` of a real (tiny) checkpoint: every sample is
    generated and scored, and the metrics are rates or n/a."""
    pytest.importorskip("openai", reason="Inspect's openai-api provider needs the openai package (in .[inspect])")
    from rl.engines.hf import HFEngine
    from rl.serve import Server, make_http_server

    engine = HFEngine.load(str(tiny_run / "runs" / "tiny" / "checkpoints" / "step-2"), device="cpu", batch_size=16)
    server = Server(engine, "tiny", batch_size=16)
    http = make_http_server(server, "127.0.0.1", 0)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        result = run(tmp_path, 3, f"http://127.0.0.1:{http.server_port}/v1")
    finally:
        http.shutdown()
        http.server_close()
        server.close()
    assert len(result["samples"]) == 6 and all(s["scored"] for s in result["samples"])
    for name in ("compliance_free", "compliance_paid"):
        value = result["metrics"][name]
        assert value is None or math.isnan(value) or 0.0 <= value <= 1.0
