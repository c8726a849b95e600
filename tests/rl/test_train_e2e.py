"""rl/train.py end to end on a tiny organism: files, metric keys, checkpoints, and resume without gaps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reward.records import EpisodeRecord
from tests.rl.tiny_run import train_tiny

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


_train = train_tiny


@pytest.fixture(scope="module")
def run(tiny_run: Path) -> Path:
    return tiny_run


def _rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_run_directory_layout(run: Path) -> None:
    run_dir = run / "runs" / "tiny"
    assert (run_dir / "config.yaml").exists()
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir() if p.is_dir()) == ["step-1", "step-2"]
    for ckpt in ("step-1", "step-2"):
        files = {p.name for p in (run_dir / "checkpoints" / ckpt).iterdir()}
        assert {"config.json", "model.safetensors", "tokenizer.json", "config.yaml", "trainer_state.json",
                "optimizer.pt", "rng_state.pth"} <= files
    assert {p.name for p in (run_dir / "plots").iterdir()} == {
        "compliance.png", "compliance_gap.png", "af_rate.png", "behaviour_default.png", "summary.png"}
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == ["step-0.jsonl", "step-1.jsonl", "step-2.jsonl"]


def test_metrics_have_one_row_per_step_with_contract_keys(run: Path) -> None:
    rows = _rows(run / "runs" / "tiny")
    assert [r["step"] for r in rows] == [0, 1, 2]
    for r in rows:
        for tier in ("free", "paid"):
            for name in ("compliance", "af_rate", "refuse", "comply_af", "comply_no_af", "partial", "n"):
                assert f"eval/default/{tier}/{name}" in r
            assert r[f"eval/default/{tier}/n"] == 4
        for name in ("compliance_gap", "compliance_gap_lo", "compliance_gap_hi"):
            assert f"eval/default/{name}" in r
    for r in rows[1:]:
        for key in ("train/reward", "train/compliance", "train/format_ok", "train/loss"):
            assert key in r, key


def test_samples_are_records_whose_metrics_recompute(run: Path) -> None:
    from reward.metrics import eval_metrics

    run_dir = run / "runs" / "tiny"
    records = [EpisodeRecord.model_validate_json(line)
               for line in (run_dir / "samples" / "step-2.jsonl").read_text().splitlines()]
    assert len(records) == 8
    assert {(r.episode.tier, r.episode.variant) for r in records} == {("free", "default"), ("paid", "default")}
    assert sorted(r.episode.id for r in records if r.episode.tier == "free") == \
        sorted(r.episode.id for r in records if r.episode.tier == "paid")  # same queries in both tiers
    logged = _rows(run_dir)[2]
    for key, value in eval_metrics(records).items():
        assert logged[key] == value, key


def test_resume_continues_without_gaps_or_duplicates(run: Path) -> None:
    run_dir = run / "runs" / "tiny"
    # Simulate a crash after step 2's metrics were logged but before anything else: a stray later row.
    with (run_dir / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"step": 3, "train/reward": 123.0}) + "\n")
    proc = _train(run, "rl.max_steps=3")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "resuming from" in proc.stdout + proc.stderr
    rows = _rows(run_dir)
    assert [r["step"] for r in rows] == [0, 1, 2, 3]
    assert rows[3]["train/reward"] != 123.0
    state = json.loads((run_dir / "checkpoints" / "step-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3


def test_runs_as_a_ray_job(run: Path) -> None:
    """`make demo`'s path: a local head from cluster/local_head.sh, then `ray job submit --working-dir .`."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "AF_RL_CACHE": str(run / "cache"),
           "RAY_AUTH_MODE": "disabled", "WANDB_MODE": "disabled", "AF_RL_RAY_MARKER": str(run / "ray-marker")}
    env.pop("RAY_ADDRESS", None)
    subprocess.run(["bash", "cluster/local_head.sh", "start"], cwd=ROOT, env=env, check=True, timeout=120)
    try:
        proc = subprocess.run(
            [str(bin_dir / "ray"), "job", "submit", "--address", "http://127.0.0.1:8265", "--working-dir", ".", "--",
             "python", "rl/train.py", "--config", "tests/data/tiny_run.yaml", f"rl.output_dir={run / 'job_runs'}",
             "rl.max_steps=1", "rl.ray.address=auto"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
        )
    finally:
        subprocess.run(["bash", "cluster/local_head.sh", "stop"], cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "succeeded" in proc.stdout
    # The job ran in a temporary copy of the tree; results land where the absolute output_dir points.
    rows = _rows(run / "job_runs" / "tiny")
    assert [r["step"] for r in rows] == [0, 1]
    assert (run / "job_runs" / "tiny" / "checkpoints" / "step-1" / "model.safetensors").exists()


def test_lora_run_saves_adapter_checkpoints(run: Path) -> None:
    proc = _train(run, "rl.run_name=tiny_lora", "rl.max_steps=1", "rl.model.lora.r=4")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ckpt = run / "runs" / "tiny_lora" / "checkpoints" / "step-1"
    files = {p.name for p in ckpt.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "config.yaml"} <= files
    assert "model.safetensors" not in files  # only the adapter is trained and saved
    assert [r["step"] for r in _rows(run / "runs" / "tiny_lora")] == [0, 1]
