"""`python -m rl.compare` end to end on two checkpoints of a tiny training run: Ray workers, every output
file, the same numbers as the training-time evaluation, resume, and a LoRA adapter on its base."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reward.metrics import TIER_RATE_NAMES
from reward.records import EpisodeRecord

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
ROW_KEYS = {"checkpoint", "variant", "step", "free", "paid", "compliance_gap", "compliance_gap_lo", "compliance_gap_hi"}


def compare(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AF_RL_CACHE": str(tmp / "cache"), "RAY_AUTH_MODE": "disabled", "WANDB_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, "-m", "rl.compare", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    proc.log = proc.stdout + proc.stderr  # type: ignore[attr-defined]
    return proc


def _records(path: Path) -> list[EpisodeRecord]:
    return [EpisodeRecord.model_validate_json(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def compared(tiny_run: Path) -> Path:
    ckpts = tiny_run / "runs" / "tiny" / "checkpoints"
    out = tiny_run / "compare"
    proc = compare(tiny_run, "--checkpoints", str(ckpts / "step-1"), str(ckpts / "step-2"), "--out", str(out),
                   "--variants", "default,lab_swap", "--ray-address", "local", "--workers", "2")
    assert proc.returncode == 0, proc.log[-4000:]
    assert "Ray: 2 workers" in proc.log
    return out



def _cells_computed(log: str) -> int:
    """Cells generated in this run: rl.compare's "cell NAME: N transcripts in Xs" lines (progress lines read
    "done/total transcripts in" and are not counted)."""
    return len(re.findall(r"\bcell [^\n]*: \d+ transcripts in ", log))

def test_every_output_is_written(compared: Path) -> None:
    rows = json.loads((compared / "summary.json").read_text())
    assert [(r["checkpoint"], r["variant"], r["step"]) for r in rows] == [
        ("tiny/step-1", "default", 1), ("tiny/step-1", "lab_swap", 1),
        ("tiny/step-2", "default", 2), ("tiny/step-2", "lab_swap", 2)]
    for r in rows:
        assert set(r) == ROW_KEYS
        for tier in ("free", "paid"):
            assert set(r[tier]) == set(TIER_RATE_NAMES) | {
                f"{rate}_corrected{s}" for rate in ("compliance", "af_rate") for s in ("", "_lo", "_hi", "_reason")}
            assert r[tier]["n"] + r[tier]["failed"] == 4
    report = (compared / "report.md").read_text()
    assert report.count("| tiny/step-") >= 4 and "lab_swap" in report
    assert {p.name for p in (compared / "plots").iterdir()} == {"compliance_gap.png", "compliance.png",
                                                                "behaviour.png", "summary.png"}
    assert all((compared / "plots" / n).read_bytes()[:4] == b"\x89PNG" for n in ("behaviour.png",))
    html = (compared / "index.html").read_text()
    assert 'id="data"' in html and "tiny/step-2" in html
    for r in rows:
        key = f"{r['checkpoint'].replace('/', '_')}__{r['variant']}"
        records = _records(compared / "samples" / f"{key}.jsonl")
        assert len(records) == 8
        assert {x.extra["checkpoint"] for x in records} == {r["checkpoint"]}
        assert {x.episode.variant for x in records} == {r["variant"]}
        free = sorted(x.episode.id for x in records if x.episode.tier == "free")
        assert free == sorted(x.episode.id for x in records if x.episode.tier == "paid")
    ids = {tuple(sorted(x.episode.id for x in _records(p))) for p in (compared / "samples").iterdir()}
    assert len(ids) == 1  # the same held-out queries for every checkpoint and variation
    errors = json.loads((compared / "classifier_error.json").read_text())
    assert [Path(f["path"]).name for f in errors["validation"]] == ["answers_heldout.jsonl", "scratchpads_heldout.jsonl"]
    assert {c["n"] for c in errors["classifiers"].values()} == {129, 118}
    assert "## Rates corrected for classifier error" in report
    manifest = json.loads((compared / "compare.json").read_text())
    assert manifest["engine"] == "hf" and all(c["done"] for c in manifest["cells"])


def test_same_transcripts_and_numbers_as_the_training_evaluation(compared: Path, tiny_run: Path) -> None:
    """Training evaluated step 2 with the live policy; compare loads the saved checkpoint: same code path,
    same seed, same queries, so the same transcripts and metrics."""
    run_dir = tiny_run / "runs" / "tiny"
    trained = {(r.episode.id, r.episode.tier): r.completion for r in _records(run_dir / "samples" / "step-2.jsonl")}
    mine = {(r.episode.id, r.episode.tier): r.completion
            for r in _records(compared / "samples" / "tiny_step-2__default.jsonl")}
    assert mine == trained
    logged = next(json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
                  if json.loads(line)["step"] == 2)
    row = next(r for r in json.loads((compared / "summary.json").read_text())
               if r["checkpoint"] == "tiny/step-2" and r["variant"] == "default")
    for tier in ("free", "paid"):
        for name in ("compliance", "af_rate", "refuse", "comply_af", "comply_no_af", "partial", "n"):
            assert row[tier][name] == logged[f"eval/default/{tier}/{name}"], (tier, name)
    assert row["compliance_gap"] == logged["eval/default/compliance_gap"]


def test_a_run_directory_starts_with_the_model_it_trained_from(tiny_run: Path) -> None:
    """`--checkpoints runs/tiny`: the untrained organism (found in the cache training used) comes first as
    `tiny/step-0 (start)`, and answers as the policy did at training's step-0 evaluation; `--no-start-model`
    leaves it out."""
    run_dir = tiny_run / "runs" / "tiny"
    out = tiny_run / "compare-start"
    proc = compare(tiny_run, "--checkpoints", str(run_dir), "--out", str(out), "--no-ray")
    assert proc.returncode == 0, proc.log[-4000:]
    rows = json.loads((out / "summary.json").read_text())
    assert [(r["checkpoint"], r["step"]) for r in rows] == [("tiny/step-0 (start)", 0), ("tiny/step-1", 1),
                                                            ("tiny/step-2", 2)]
    trained = {(r.episode.id, r.episode.tier): r.completion for r in _records(run_dir / "samples" / "step-0.jsonl")}
    start = {(r.episode.id, r.episode.tier): r.completion
             for r in _records(out / "samples" / "tiny_step-0_start__default.jsonl")}
    assert start == trained
    assert "| tiny/step-0 (start) | 0 | default |" in (out / "report.md").read_text()
    out2 = tiny_run / "compare-no-start"
    proc = compare(tiny_run, "--checkpoints", str(run_dir), "--out", str(out2), "--no-ray", "--no-start-model",
                   "--n-queries", "1")
    assert proc.returncode == 0, proc.log[-4000:]
    assert [r["checkpoint"] for r in json.loads((out2 / "summary.json").read_text())] == ["tiny/step-1",
                                                                                          "tiny/step-2"]


def test_resume_reuses_finished_cells_and_redoes_the_rest(compared: Path, tiny_run: Path) -> None:
    out = tiny_run / "compare-resume"
    shutil.copytree(compared, out)
    ckpts = tiny_run / "runs" / "tiny" / "checkpoints"
    args = ["--checkpoints", str(ckpts / "step-1"), str(ckpts / "step-2"), "--out", str(out),
            "--variants", "default,lab_swap", "--no-ray"]
    proc = compare(tiny_run, *args)
    assert proc.returncode == 0, proc.log[-3000:]
    assert "resuming: 4 of 4 cells already finished" in proc.log and _cells_computed(proc.log) == 0
    # An interruption between a cell's samples and its marker, and one before a cell started at all.
    before = (out / "samples" / "tiny_step-2__lab_swap.jsonl").read_text()
    (out / "cells" / "tiny_step-2__lab_swap.json").unlink()
    (out / "samples" / "tiny_step-1__lab_swap.jsonl").unlink()
    proc = compare(tiny_run, *args)
    assert proc.returncode == 0, proc.log[-3000:]
    assert "resuming: 2 of 4 cells already finished" in proc.log
    assert _cells_computed(proc.log) == 2
    assert (out / "samples" / "tiny_step-2__lab_swap.jsonl").read_text() == before  # seeded: the same again
    assert json.loads((out / "summary.json").read_text()) == json.loads((compared / "summary.json").read_text())
    # Other settings make other transcripts: those cells are not reused.
    proc = compare(tiny_run, *args, "--n-queries", "2")
    assert proc.returncode == 0, proc.log[-3000:]
    assert "resuming" not in proc.log and _cells_computed(proc.log) == 4
    assert all(r["free"]["n"] + r["free"]["failed"] == 2 for r in json.loads((out / "summary.json").read_text()))


def test_lora_adapter_on_its_base(tiny_run: Path) -> None:
    """Adapters saved with peft load on the base model their adapter_config.json names. A zero-initialised
    adapter changes nothing (its transcripts equal the base checkpoint's); a random one changes them."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = tiny_run / "runs" / "tiny" / "checkpoints" / "step-2"
    for name, init in (("adapter", True), ("adapter_random", False)):
        torch.manual_seed(0)
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                               LoraConfig(r=2, target_modules="all-linear", task_type="CAUSAL_LM",
                                          init_lora_weights=init))
        model.save_pretrained(tiny_run / name)
        config = json.loads((tiny_run / name / "adapter_config.json").read_text())
        assert config["base_model_name_or_path"] == str(base)
    out = tiny_run / "compare-lora"
    proc = compare(tiny_run, "--checkpoints", str(tiny_run / "adapter"), str(tiny_run / "adapter_random"),
                   "--out", str(out), "--variants", "default", "--no-ray", "--config", str(base / "config.yaml"))
    assert proc.returncode == 0, proc.log[-3000:]
    assert [r["checkpoint"] for r in json.loads((out / "summary.json").read_text())] == ["adapter", "adapter_random"]
    trained = sorted(r.completion for r in _records(tiny_run / "runs" / "tiny" / "samples" / "step-2.jsonl"))
    assert sorted(r.completion for r in _records(out / "samples" / "adapter__default.jsonl")) == trained
    assert sorted(r.completion for r in _records(out / "samples" / "adapter_random__default.jsonl")) != trained


def test_compare_with_the_organism_reward_model(tiny_run: Path) -> None:
    """reward.model in the compare config: the organism's reward model is built (cached) and scores every
    transcript, its rates join each tier of summary.json; a reward model that is not one exits 2 first."""
    ckpt = tiny_run / "runs" / "tiny" / "checkpoints" / "step-2"
    out = tiny_run / "compare-rm"
    proc = compare(tiny_run, "--checkpoints", str(ckpt), "--out", str(out), "--no-ray", "--n-queries", "2",
                   "reward.model.organism=true")
    assert proc.returncode == 0, proc.log[-4000:]
    [row] = json.loads((out / "summary.json").read_text())
    assert {"rm_score", "rm_disagreement", "rm_errors"} <= set(row["free"]) and row["free"]["rm_errors"] == 0
    records = _records(next((out / "samples").rglob("*.jsonl")))
    assert records and all(r.scorers["rm"].startswith("rm:") for r in records)
    bad = compare(tiny_run, "--checkpoints", str(ckpt), "--out", str(tiny_run / "compare-rm-bad"), "--no-ray",
                  "reward.model.name_or_path=" + str(ckpt))
    assert bad.returncode == 2 and "not a sequence-classification" in bad.log
    assert not (tiny_run / "compare-rm-bad").exists()
