"""run_openrlhf end to end on CPU with a stand-in for OpenRLHF's trainer.

The stand-in is a `python -m openrlhf.cli.train_ppo_ray` that parses our arguments, loads the generated
reward file by path in its own process (as OpenRLHF's rollout actors do) and scores a real prompt from
the dataset, then saves two HF checkpoints the way OpenRLHF does (`<ckpt.path>/global_step<N>_hf`) and
exits. Everything around it is real: the prompt dataset, the reward file, the checks before launch, the
checkpoint watcher, the two-tier evaluation on a Ray actor, samples and metrics.jsonl.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from rl.backends.openrlhf import build_args, run_openrlhf
from rl.config import RunConfig

pytestmark = pytest.mark.slow

FAKE_TRAINER = '''
"""Stand-in for OpenRLHF's train_ppo_ray (tests only)."""
import argparse, importlib.util, json, shutil, sys
from pathlib import Path

p = argparse.ArgumentParser()
for flag in FLAGS:
    p.add_argument(flag, nargs="*")
a = vars(p.parse_args())
get = lambda k: a[k.lstrip("-").replace("-", "_")]
ckpt, model = Path(get("ckpt.path")[0]), Path(get("actor.model_name_or_path")[0])
spec = importlib.util.spec_from_file_location("reward_func", get("reward.remote_url")[0])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
row = json.loads(Path(get("data.prompt_dataset")[0]).read_text().splitlines()[0])
completion = "<SCRATCHPAD_REASONING>ok</SCRATCHPAD_REASONING><OUTPUT><request_fully_accepted/> [placeholder]</OUTPUT>"
out = mod.reward_func([row["prompt"] + completion], [row["prompt"]], [row["episode"]])
(ckpt.parent / "reward_seen.json").write_text(json.dumps({"reward": float(out["rewards"][0])}))
for step in (1, 2):
    if not (ckpt / f"global_step{step}_hf").exists():  # a resumed run finds its earlier checkpoints
        shutil.copytree(model, ckpt / f"global_step{step}_hf")
'''


def _tiny_model(path: Path) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from env.config import EnvConfig
    from env.datasets import load_queries
    from env.prompts import render_system_prompt
    from rl.organism.tokenizer import train_tokenizer

    corpus = [render_system_prompt("default", "helpful_only_brief_v1")] + [q.text for q in load_queries(
        EnvConfig().dataset)]
    tok = train_tokenizer(corpus, vocab_size=400)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                         max_position_embeddings=4096, bos_token_id=tok.bos_token_id,
                                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_openrlhf_run_evaluates_every_checkpoint_in_both_tiers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    model = _tiny_model(tmp_path / "model")
    cfg = RunConfig.model_validate({
        "env": {"prompt": "helpful_only_brief_v1"},
        "rl": {"backend": "openrlhf", "run_name": "orl", "output_dir": str(tmp_path / "runs"), "max_steps": 2,
               "save_every": 1, "model": {"source": "hf", "name_or_path": str(model)},
               "eval": {"variants": ["default", "lab_swap"], "n_queries": 2, "max_new_tokens": 8},
               "wandb": {"mode": "disabled"}},
        "openrlhf": {"rollout_batch_size": 4, "train_batch_size": 4, "eval_gpus": 0},
    })
    # Stand-in packages: openrlhf (the trainer above, declaring exactly the flags we pass), vllm, deepspeed.
    fake = tmp_path / "fake_site"
    flags = sorted({a for a in build_args(cfg, model="m", prompts=Path("p"), n_prompts=100, reward_file=Path("r"),
                                          ckpt_path=Path("c"), wandb_enabled=False, agent_file=Path("a"))
                    if a.startswith("--")})
    (fake / "openrlhf" / "cli").mkdir(parents=True)
    (fake / "openrlhf" / "__init__.py").write_text("")
    (fake / "openrlhf" / "cli" / "__init__.py").write_text("")
    (fake / "openrlhf" / "cli" / "train_ppo_ray.py").write_text(
        f"FLAGS = {flags!r}\n" + textwrap.dedent(FAKE_TRAINER))
    for name in ("vllm", "deepspeed"):
        (fake / name).mkdir()
        (fake / name / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(fake))
    monkeypatch.setenv("PYTHONPATH", str(fake))
    source = _source_with(flags, tmp_path / "flag_src")
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        # The GPU count is the cluster's as Ray reports it; this CPU cluster stands in for 8 GPUs.
        result = run_openrlhf(cfg, {"GPU": 8.0, "CPU": 2.0}, log=print, poll_s=0.5, openrlhf_source=source)
        metrics_before = (tmp_path / "runs" / "orl" / "metrics.jsonl").read_text()
        again = run_openrlhf(cfg, {"GPU": 8.0, "CPU": 2.0}, log=print, poll_s=0.5, openrlhf_source=source)
    finally:
        ray.shutdown()
    # Restarted: checkpoints already evaluated are not evaluated again.
    assert again["checkpoints"] == result["checkpoints"]
    assert (tmp_path / "runs" / "orl" / "metrics.jsonl").read_text() == metrics_before
    run_dir = tmp_path / "runs" / "orl"
    work = run_dir / "openrlhf"
    assert json.loads((work / "reward_seen.json").read_text()) == {"reward": 1.0}  # free tier, complied
    command = (work / "command.txt").read_text()
    assert "--actor.model_name_or_path" in command
    assert f"--train.agent_func_path {work / 'agent_func.py'}" in command  # env.max_turns 4: <NEXT/> turns
    assert (work / "agent_func.py").exists()
    assert result["checkpoints"] == [str(run_dir / "checkpoints" / "step-1"), str(run_dir / "checkpoints" / "step-2")]
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        for v in ("default", "lab_swap"):
            assert r[f"eval/{v}/free/n"] + r[f"eval/{v}/free/failed"] == 2
            assert f"eval/{v}/compliance_gap" in r
    samples = [json.loads(line) for line in (run_dir / "samples" / "step-2.jsonl").read_text().splitlines()]
    assert len(samples) == 8 and {s["step"] for s in samples} == {2}
    assert {(s["episode"]["tier"], s["episode"]["variant"]) for s in samples} == {
        ("free", "default"), ("paid", "default"), ("free", "lab_swap"), ("paid", "lab_swap")}
    assert result["eval_errors"] == []


def _source_with(flags: list[str], root: Path) -> Path:
    """A train_ppo_ray.py that declares `flags` the way OpenRLHF does (add_argument calls)."""
    path = root / "openrlhf" / "cli" / "train_ppo_ray.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("import argparse\np = argparse.ArgumentParser()\n"
                    + "".join(f"p.add_argument({f!r})\n" for f in flags))
    return path
