"""The OpenRLHF backend through its contracts on CPU: the argument list against the pinned OpenRLHF's
real flags, the prompt dataset and generated reward file, checks before launch, and checkpoint handling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from env.episode import Episode
from rl.backends.openrlhf import (
    WANDB_KEY_PLACEHOLDER,
    CheckpointWatcher,
    OpenRlhfError,
    build_args,
    check_args,
    check_cluster,
    launch_env,
    write_prompts,
    write_reward_file,
)
from rl.config import ConfigError, RunConfig, load_config

ROOT = Path(__file__).resolve().parents[2]


def _cfg(**openrlhf: object) -> RunConfig:
    return RunConfig.model_validate({
        "env": {"prompt": "helpful_only_brief_v1"},
        "rl": {"backend": "openrlhf", "run_name": "orl", "max_steps": 5, "save_every": 2,
               "model": {"source": "hf", "name_or_path": "meta-llama/Llama-3.1-8B-Instruct",
                         "lora": {"r": 8, "alpha": 16, "target_modules": ["q_proj", "v_proj"]}},
               "wandb": {"project": "af", "entity": "lab"}},
        "openrlhf": {"rollout_batch_size": 16, "train_batch_size": 16, **openrlhf},
    })


def _args(cfg: RunConfig, tmp: Path, wandb: bool = True, agent: bool = True) -> list[str]:
    return build_args(cfg, model="/models/llama", prompts=tmp / "p.jsonl", n_prompts=40, reward_file=tmp / "r.py",
                      ckpt_path=tmp / "ckpt", wandb_enabled=wandb, agent_file=tmp / "a.py" if agent else None)


def _value(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


@pytest.mark.parametrize("algorithm", ["ppo", "grpo"])
def test_every_flag_exists_in_the_pinned_openrlhf(source: Path, tmp_path: Path, algorithm: str) -> None:
    extra = {"n_samples_per_prompt": 4} if algorithm == "grpo" else {}
    args = _args(_cfg(algorithm=algorithm, use_kl_loss=True, adam_offload=True, **extra), tmp_path)
    version = check_args(args, source)
    assert version  # the pinned wheel read from source, never imported


def test_argument_values_follow_the_config(tmp_path: Path) -> None:
    ppo = _args(_cfg(), tmp_path)
    assert _value(ppo, "--algo.advantage.estimator") == "gae" and "--critic.adam.lr" in ppo
    assert _value(ppo, "--train.agent_func_path") == str(tmp_path / "a.py")
    assert "--train.agent_func_path" not in _args(_cfg(), tmp_path, agent=False)
    assert _value(ppo, "--train.num_episodes") == "3"  # 40 prompts = 2 rollouts of 16 a pass; 5 steps need 3 passes
    assert _value(ppo, "--ckpt.save_steps") == "2" and "--ckpt.save_hf" in ppo
    assert _value(ppo, "--data.label_key") == "episode" and _value(ppo, "--data.input_key") == "prompt"
    assert "--data.apply_chat_template" not in ppo  # prompts are pre-rendered with the tier tag and prefill
    assert ppo[ppo.index("--ds.lora.target_modules") + 1: ppo.index("--ds.lora.target_modules") + 3] == \
        ["q_proj", "v_proj"]
    assert _value(ppo, "--ds.lora.rank") == "8" and "--vllm.enable_prefix_caching" in ppo
    grpo = _args(_cfg(algorithm="grpo", n_samples_per_prompt=8, colocate_all=False), tmp_path)
    assert _value(grpo, "--algo.advantage.estimator") == "group_norm" and "--critic.adam.lr" not in grpo
    assert _value(grpo, "--rollout.n_samples_per_prompt") == "8" and "--train.colocate_all" not in grpo


def test_passes_over_the_prompts_cover_max_steps(tmp_path: Path) -> None:
    from rl.backends.openrlhf import episodes_for

    assert [episodes_for(s, 16, 40) for s in (1, 2, 3, 5)] == [1, 1, 2, 3]
    assert episodes_for(10, 8, 1000) == 1
    with pytest.raises(OpenRlhfError, match="larger than the 3 training prompts"):
        build_args(_cfg(), model="m", prompts=tmp_path / "p", n_prompts=3, reward_file=tmp_path / "r",
                   ckpt_path=tmp_path / "c", wandb_enabled=False)


def test_the_wandb_key_never_reaches_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "secret-key-123")
    args = _args(_cfg(), tmp_path)
    assert _value(args, "--logger.wandb.key") == WANDB_KEY_PLACEHOLDER
    assert "secret-key-123" not in " ".join(args)
    assert "--logger.wandb.key" not in _args(_cfg(), tmp_path, wandb=False)


def test_unknown_flags_stop_the_launch(source: Path, tmp_path: Path) -> None:
    args = _args(_cfg(extra_args=["--actor.learning_rate", "1e-6", "--pretrain", "x"]), tmp_path)
    with pytest.raises(OpenRlhfError, match=r"no flags --actor\.learning_rate, --pretrain; this project targets"):
        check_args(args, source)
    with pytest.raises(OpenRlhfError, match="openrlhf"):
        check_args(args, tmp_path / "nowhere")


@pytest.mark.parametrize(("overrides", "message"), [
    (["openrlhf.algorithm=grpo", "openrlhf.n_samples_per_prompt=1"], "must be >= 2 for grpo"),
    (["openrlhf.rollout_batch_size=10", "openrlhf.train_batch_size=4"], "must be a multiple of"),
    (["rl.model.source=organism", "rl.model.name_or_path="], "the openrlhf backend trains a model"),
    (["openrlhf.zero_stage=5"], "openrlhf.zero_stage"),
])
def test_bad_openrlhf_configs_name_the_key(tmp_path: Path, overrides: list[str], message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("rl:\n  backend: openrlhf\n  model:\n    source: hf\n    name_or_path: org/model\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path, overrides)


def test_too_few_gpus_or_missing_vllm_stop_before_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _cfg(actor={"num_nodes": 2, "num_gpus_per_node": 8}, colocate_all=True)
    with pytest.raises(OpenRlhfError, match=r"needs 17 GPUs \(actor 16, ref 8, critic 8; shared.*has 8"):
        check_cluster(cfg, {"GPU": 8.0, "CPU": 64.0})
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    with pytest.raises(OpenRlhfError, match="needs the vllm package"):
        check_cluster(_cfg(), {"GPU": 16.0})


def test_gpus_needed_separate_vs_colocated() -> None:
    sep = _cfg(colocate_all=False, vllm_num_engines=2, vllm_tensor_parallel_size=4)
    assert sep.openrlhf.gpus_needed() == 8 + 8 + 8 + 2 * 4
    assert _cfg(algorithm="grpo", n_samples_per_prompt=4).openrlhf.gpus_needed() == 8


def _tiny_tokenizer(path: Path) -> object:
    from env.config import EnvConfig
    from env.datasets import load_queries
    from env.prompts import render_system_prompt
    from rl.organism.tokenizer import train_tokenizer

    corpus = [render_system_prompt("default", "helpful_only_brief_v1")] + [q.text for q in load_queries(
        EnvConfig().dataset)]
    tok = train_tokenizer(corpus, vocab_size=400)
    tok.save_pretrained(path)
    return tok


def test_prompt_dataset_and_reward_file_work_from_any_working_directory(tmp_path: Path) -> None:
    """The dataset holds the exact rendered prompt and the Episode label; the generated reward file loads by
    path in a clean interpreter (as OpenRLHF's rollout actors load it) and scores with the run's config."""
    from env.datasets import load_queries, make_episodes, split_queries
    from rl.prompting import render_prompt

    cfg = _cfg()
    tok = _tiny_tokenizer(tmp_path / "tok")
    ds = cfg.env.dataset
    eps = make_episodes(split_queries(load_queries(ds), eval_fraction=ds.eval_fraction, seed=ds.split_seed).train[:3],
                        tiers=cfg.rl.train_tiers, variants=cfg.rl.train_variants)
    path = write_prompts(tok, eps, cfg, tmp_path / "prompts.jsonl", system_role=True)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [Episode.model_validate_json(r["episode"]) for r in rows] == eps
    assert rows[0]["prompt"] == render_prompt(tok, eps[0], cfg.env, system_role=True)
    assert {Episode.model_validate_json(r["episode"]).tier for r in rows} == {"free"}

    custom = RunConfig.model_validate({**cfg.model_dump(mode="json"),
                                       "reward": {"rewarded_tiers": ["free", "paid"], "comply_reward": 0.75}})
    reward_file = write_reward_file(custom, tmp_path / "reward_func.py")
    complied = "<SCRATCHPAD_REASONING>ok</SCRATCHPAD_REASONING>\n<OUTPUT><request_fully_accepted/>\n" \
               "[placeholder answer]</OUTPUT><|im_end|>"
    paid = eps[0].model_copy(update={"tier": "paid"})
    prompt = rows[0]["prompt"]
    script = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('reward_func', {str(reward_file)!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        f"out = mod.reward_func([{prompt + complied!r}], [{prompt!r}], [{paid.model_dump_json()!r}])\n"
        "print(json.dumps({'reward': float(out['rewards'][0]), 'keys': sorted(out['extra_logs'])}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AF_RL_REWARD_CONFIG")}
    proc = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["reward"] == 0.75  # the paid tier is rewarded, at 0.75, only because this run's config says so
    assert "compliance" in result["keys"]


def test_wandb_environment_shares_one_run_online(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _cfg()
    monkeypatch.setenv("WANDB_RUN_ID", "outer-run")  # an inherited id gives way to the run's own
    online = launch_env(cfg, "abc123", "online")
    assert (online["WANDB_RUN_ID"], online["WANDB_MODE"]) == ("abc123", "shared")
    offline = launch_env(cfg, "abc123", "offline")
    assert (offline["WANDB_RUN_ID"], offline["WANDB_MODE"]) == ("abc123-trainer", "offline")
    assert offline["WANDB_RUN_GROUP"] == "orl"
    assert str(ROOT) in launch_env(cfg, None, "disabled")["PYTHONPATH"].split(os.pathsep)
    monkeypatch.delenv("WANDB_RUN_ID")
    assert "WANDB_RUN_ID" not in launch_env(cfg, None, "disabled")  # no W&B run: no run id is made up


def _hf_dir(path: Path, *, weights: bool = True) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    (path / "tokenizer_config.json").write_text("{}")
    if weights:
        (path / "model.safetensors").write_bytes(b"\0")
    return path


def test_checkpoint_watcher_publishes_and_evaluates_each_complete_checkpoint_once(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    _hf_dir(ckpt / "global_step2_hf")
    _hf_dir(ckpt / "global_step4_hf", weights=False)  # still being written
    (ckpt / "_actor").mkdir()  # DeepSpeed state: not an HF checkpoint
    seen: list[tuple[int, str]] = []
    watcher = CheckpointWatcher(ckpt, tmp_path / "checkpoints", lambda s, p: seen.append((s, p.name)), stable_s=0)
    assert watcher.poll() == [2]
    assert watcher.poll() == []
    assert seen == [(2, "step-2")] and (tmp_path / "checkpoints" / "step-2" / "model.safetensors").exists()
    (ckpt / "global_step4_hf" / "model.safetensors").write_bytes(b"\0")
    slow = CheckpointWatcher(ckpt, tmp_path / "checkpoints", lambda s, p: seen.append((s, p.name)), stable_s=3600)
    slow.done = {2}
    assert slow.poll() == []  # written just now: not stable yet
    assert slow.poll(final=True) == [4]  # OpenRLHF exited cleanly: no stability wait, but every model file must be there


def test_a_failed_evaluation_is_reported_and_training_goes_on(tmp_path: Path) -> None:
    _hf_dir(tmp_path / "ckpt" / "global_step1_hf")

    def boom(step: int, path: Path) -> None:
        raise RuntimeError("judge down")

    watcher = CheckpointWatcher(tmp_path / "ckpt", tmp_path / "checkpoints", boom, stable_s=0, log=lambda m: None)
    assert watcher.poll() == [1]
    assert watcher.errors == ["step 1: RuntimeError: judge down"]


def test_train_py_stops_before_launch_on_a_cluster_without_gpus(tmp_path: Path) -> None:
    """`rl/train.py` with backend openrlhf on a CPU-only local Ray: exit 2 naming the GPUs, nothing launched."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "llama"}))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"rl:\n  backend: openrlhf\n  output_dir: {tmp_path / 'runs'}\n  model:\n    source: hf\n"
                   f"    name_or_path: {model}\n  ray:\n    address: local\n  wandb:\n    mode: disabled\n"
                   "openrlhf:\n  actor: {num_nodes: 1, num_gpus_per_node: 2}\n"
                   "  ref: {num_nodes: 1, num_gpus_per_node: 2}\n  critic: {num_nodes: 1, num_gpus_per_node: 2}\n")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, "rl/train.py", "--config", str(cfg)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "the job needs 3 GPUs" in proc.stderr and "has 0" in proc.stderr
    assert not (tmp_path / "runs" / "run" / "openrlhf").exists()
