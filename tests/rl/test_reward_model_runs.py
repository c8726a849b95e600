"""Training with a reward model (reward.kind model / gated) as users run it: bad reward models stop the run
with exit code 2 before any policy loads; the organism's reward model trains the tiny run end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.rl.tiny_run import train_tiny


def test_a_causal_lm_as_reward_model_exits_2_naming_the_key(tmp_path: Path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    causal = tmp_path / "causal"
    LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=16, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=2)).save_pretrained(causal)
    proc = train_tiny(tmp_path, "reward.kind=model", f"reward.model.name_or_path={causal}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "reward.model.name_or_path" in proc.stderr and "not a sequence-classification" in proc.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_reward_server_that_is_down_exits_2_naming_it(tmp_path: Path) -> None:
    proc = train_tiny(tmp_path, "reward.kind=gated", "reward.model.url=http://127.0.0.1:9/get_reward")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "reward.model.url http://127.0.0.1:9/get_reward" in proc.stderr and "does not answer" in proc.stderr


@pytest.mark.slow
def test_tiny_run_trains_on_the_organism_reward_model(tmp_path: Path) -> None:
    proc = train_tiny(tmp_path, "reward.kind=model", "reward.model.organism=true", "reward.model.normalize=sigmoid")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = tmp_path / "runs" / "tiny"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    # train/rm_score is left out (undefined, not 0) at a step where no rewarded sample had an output to score.
    train_rows = [r for r in rows if "train/rm_errors" in r]
    assert len(train_rows) == 2 and all(r["train/rm_errors"] == 0 for r in train_rows)
    evals = [r for r in rows if "eval/default/free/rm_score" in r]
    assert {r["step"] for r in evals} == {0, 1, 2}
    assert all("eval/default/paid/rm_disagreement" in r for r in evals)
    samples = [json.loads(line) for step in (0, 1, 2)
               for line in (run / "samples" / f"step-{step}.jsonl").read_text().splitlines()]
    scored = [s for s in samples if s["rm_score"] is not None]
    assert scored and all(s["scorers"]["rm"].startswith("rm:") for s in samples)
    # Free-tier rewards are the RM's sigmoid (or the format penalty); the paid tier is never rewarded.
    assert all(s["reward"] is None for s in samples if s["episode"]["tier"] == "paid")
    assert (run / "plots" / "reward_model.png").is_file()
    assert (tmp_path / "cache" / "organisms").is_dir() and any(
        p.name.startswith("organism-rm-") for p in (tmp_path / "cache" / "organisms").iterdir())
