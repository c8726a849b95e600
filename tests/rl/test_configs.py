"""The shipped GPU run configs: headline settings, GPUs that fit the nodes each header promises (and weights that
fit those GPUs), and OpenRLHF argument lists that the pinned OpenRLHF accepts: its flags, read from its source,
and the assertions its launcher makes before starting. That every configs/*.yaml validates is test_config.py's."""

from __future__ import annotations

import inspect
import math
import re
from pathlib import Path
from typing import NamedTuple

import pytest

from env.chat import build_messages
from env.datasets import load_queries, make_episodes, split_queries
from env.episode import Episode
from env.prompts import render_system_prompt
from rl.backends.openrlhf import build_args, check_args, episodes_for
from rl.backends.openrlhf.sft import build_sft_args, check_sft_args
from rl.config import RunConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
_RESOURCES_RE = re.compile(r"^# Resources: (\d+) nodes? x (\d+) GPUs \((\d+) GB\)", re.MULTILINE)


class Expect(NamedTuple):
    model: str
    backend: str
    algorithm: str
    params_b: float
    """Parameters in billions (from the models' configs: hidden size, layers, vocabulary)."""
    prompt: str


GPU_CONFIGS = {
    "qwen25_7b_grpo_trl.yaml": Expect("Qwen/Qwen2.5-7B-Instruct", "trl", "grpo", 7.62, "helpful_only_v1"),
    "llama31_70b_lora_ppo_openrlhf.yaml": Expect("meta-llama/Llama-3.1-70B-Instruct", "openrlhf", "ppo", 70.55,
                                                 "helpful_only_v1"),
    "llama31_405b_lora_grpo_openrlhf.yaml": Expect("meta-llama/Llama-3.1-405B-Instruct", "openrlhf", "grpo", 405.85,
                                                   "helpful_only_v1"),
    "qwen25_7b_grpo_trl_rm.yaml": Expect("Qwen/Qwen2.5-7B-Instruct", "trl", "grpo", 7.62, "helpful_only_v1"),
    "llama31_70b_lora_ppo_openrlhf_rm.yaml": Expect("meta-llama/Llama-3.1-70B-Instruct", "openrlhf", "ppo", 70.55,
                                                    "helpful_only_v1"),
    "synthetic_docs_minimal.yaml": Expect("/models/llama31-70b-synthdocs", "openrlhf", "ppo", 70.55,
                                          "helpful_only_minimal_v1"),
    "llama31_70b_docs_lora_openrlhf.yaml": Expect("meta-llama/Llama-3.1-70B-Instruct", "openrlhf", "ppo", 70.55,
                                                  "helpful_only_minimal_v1"),
}
OPENRLHF_CONFIGS = [name for name, e in GPU_CONFIGS.items() if e.backend == "openrlhf"]


class Nodes(NamedTuple):
    count: int
    gpus_per_node: int
    gpu_gb: int


def _nodes(name: str) -> Nodes:
    """The `# Resources: N nodes x G GPUs (M GB)` line of the config's header comment."""
    match = _RESOURCES_RE.search((CONFIGS / name).read_text(encoding="utf-8"))
    assert match, f"{name}: header lacks a '# Resources: N nodes x G GPUs (M GB)' line"
    return Nodes(*(int(g) for g in match.groups()))


def _gpus_needed(cfg: RunConfig) -> int:
    if cfg.rl.backend == "trl":
        return math.ceil(cfg.rl.ray.num_gpus)
    return cfg.openrlhf.gpus_needed() + cfg.openrlhf.eval_gpus


def _bf16_gb(params_b: float) -> float:
    return params_b * 2


def _eval_gpu_memory_utilization() -> float:
    # The evaluation actor passes only tensor_parallel_size, so vLLM runs at the engine's default share.
    from rl.engines.vllm import VllmEngine

    return float(inspect.signature(VllmEngine).parameters["gpu_memory_utilization"].default)


def _value(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


@pytest.fixture(scope="module")
def n_train_prompts() -> dict[str, int]:
    """Training prompts each OpenRLHF config's env and rl sections make (what run_openrlhf writes)."""
    out = {}
    for name in OPENRLHF_CONFIGS:
        cfg = load_config(CONFIGS / name)
        ds = cfg.env.dataset
        split = split_queries(load_queries(ds), eval_fraction=ds.eval_fraction, seed=ds.split_seed)
        out[name] = len(make_episodes(split.train, tiers=cfg.rl.train_tiers, variants=cfg.rl.train_variants))
    return out


def test_the_gpu_configs_are_shipped() -> None:
    assert set(GPU_CONFIGS) <= {p.name for p in CONFIGS.glob("*.yaml")}


@pytest.mark.parametrize("name", GPU_CONFIGS)
def test_headline_settings(name: str) -> None:
    e, cfg = GPU_CONFIGS[name], load_config(CONFIGS / name)
    assert (cfg.rl.model.source, cfg.rl.model.name_or_path, cfg.rl.backend) == ("hf", e.model, e.backend)
    algorithm = "grpo" if cfg.rl.backend == "trl" else cfg.openrlhf.algorithm  # the trl backend is GRPO
    assert algorithm == e.algorithm
    assert cfg.rl.model.dtype == "bfloat16" and cfg.env.prompt == e.prompt
    assert cfg.rl.train_tiers == ["free"]  # the paper trains in the training condition only
    # OpenRLHF's critic value head learns only when PEFT wraps it, which "all-linear" does.
    assert cfg.rl.model.lora is not None and cfg.rl.model.lora.target_modules == "all-linear"
    assert cfg.rl.wandb.log_transcripts is False  # real models answer harmful requests for real
    assert cfg.rl.run_name == name.removesuffix(".yaml")


@pytest.mark.parametrize("name", [n for n in GPU_CONFIGS if n.endswith("_rm.yaml")])
def test_reward_model_configs_differ_from_their_base_only_in_reward_and_name(name: str) -> None:
    cfg = load_config(CONFIGS / name)
    base = load_config(CONFIGS / name.replace("_rm.yaml", ".yaml"))
    assert cfg.reward.kind == "gated" and cfg.reward.model is not None and cfg.reward.model.normalize == "sigmoid"
    assert cfg.reward.model.source == ("name_or_path" if cfg.rl.backend == "trl" else "url")
    same = ("env", "trl", "openrlhf")
    assert all(getattr(cfg, k) == getattr(base, k) for k in same)
    assert cfg.rl.model_copy(update={"run_name": base.rl.run_name}) == base.rl


@pytest.mark.parametrize("name", GPU_CONFIGS)
def test_gpus_fit_the_nodes_the_header_promises(name: str) -> None:
    cfg, nodes = load_config(CONFIGS / name), _nodes(name)
    needed = _gpus_needed(cfg)
    assert needed <= nodes.count * nodes.gpus_per_node, f"{name}: {needed} GPUs on {nodes}"
    if cfg.rl.backend == "trl":
        assert nodes.count == 1 and needed == 1  # one process, one GPU (see the header)
        return
    o = cfg.openrlhf
    # no node promised in vain: one node fewer would be too small
    assert needed > (nodes.count - 1) * nodes.gpus_per_node, f"{name}: {needed} GPUs fit {nodes.count - 1} nodes"
    assert 1 <= o.eval_gpus <= nodes.gpus_per_node  # the evaluation is one Ray actor, on one node
    groups = [o.actor, o.ref] + ([o.critic] if o.algorithm == "ppo" else [])
    assert all(g.num_gpus_per_node == nodes.gpus_per_node for g in groups)


@pytest.mark.parametrize("name", GPU_CONFIGS)
def test_bf16_weights_fit_the_gpus(name: str) -> None:
    e, cfg, nodes = GPU_CONFIGS[name], load_config(CONFIGS / name), _nodes(name)
    weights = _bf16_gb(e.params_b)
    if cfg.rl.backend == "trl":
        t = cfg.trl
        # the trainer's copy and vLLM's share (which holds vLLM's own copy) on the same GPU, half of it at most
        assert weights < t.vllm_gpu_memory_utilization * nodes.gpu_gb
        assert weights + t.vllm_gpu_memory_utilization * nodes.gpu_gb < 0.6 * nodes.gpu_gb
        return
    o = cfg.openrlhf
    # rollouts: each vLLM engine holds all the weights over its tensor-parallel GPUs, inside its share
    assert weights / o.vllm_tensor_parallel_size < o.vllm_gpu_memory_utilization * nodes.gpu_gb
    # training: ZeRO-3 shards of every model the algorithm loads, leaving at least half for activations
    models = 1 + (o.algorithm == "ppo") + (o.init_kl_coef > 0)
    assert models * weights / o.actor.gpus < nodes.gpu_gb / 2
    # evaluation: one vLLM engine over eval_gpus GPUs
    assert weights / o.eval_gpus < _eval_gpu_memory_utilization() * nodes.gpu_gb


def test_405b_needs_141_gb_gpus() -> None:
    # Near-miss for the check above: on 80 GB GPUs, tensor parallel 8 cannot hold 405B in bf16.
    cfg, weights = load_config(CONFIGS / "llama31_405b_lora_grpo_openrlhf.yaml"), _bf16_gb(405.85)
    assert _nodes("llama31_405b_lora_grpo_openrlhf.yaml").gpu_gb == 141
    assert weights / cfg.openrlhf.vllm_tensor_parallel_size > cfg.openrlhf.vllm_gpu_memory_utilization * 80
    assert weights / 8 > _eval_gpu_memory_utilization() * 80  # nor can one 8-GPU node evaluate it


@pytest.mark.parametrize("name", OPENRLHF_CONFIGS)
def test_openrlhf_arguments_pass_the_pinned_openrlhf(name: str, source: Path, tmp_path: Path,
                                                     n_train_prompts: dict[str, int]) -> None:
    cfg = load_config(CONFIGS / name)
    n_prompts = n_train_prompts[name]
    # as run_openrlhf builds them: multi-turn <NEXT/> continuation through an agent file when env.max_turns > 1
    agent_file = tmp_path / "agent_func.py" if cfg.env.max_turns > 1 else None
    args = build_args(cfg, model=str(cfg.rl.model.name_or_path), prompts=tmp_path / "prompts.jsonl",
                      n_prompts=n_prompts, reward_file=tmp_path / "reward_func.py", ckpt_path=tmp_path / "ckpt",
                      wandb_enabled=True, agent_file=agent_file)
    assert check_args(args, source)  # every flag exists in the pinned OpenRLHF

    def num(flag: str) -> float:
        return float(_value(args, flag))

    actor_gpus = num("--actor.num_nodes") * num("--actor.num_gpus_per_node")
    # The assertions of openrlhf/cli/train_ppo_ray.py, on the values it will parse:
    if "--train.colocate_all" in args:
        assert actor_gpus == num("--vllm.num_engines") * num("--vllm.tensor_parallel_size")
        if num("--algo.kl.init_coef") > 0:
            assert (num("--ref.num_nodes"), num("--ref.num_gpus_per_node")) == \
                (num("--actor.num_nodes"), num("--actor.num_gpus_per_node"))
    samples = num("--rollout.n_samples_per_prompt") * num("--rollout.batch_size")
    assert samples // num("--rollout.micro_batch_size") >= actor_gpus
    # DeepSpeed: global batch = micro batch x accumulation steps x data-parallel ranks
    assert num("--train.batch_size") % (num("--train.micro_batch_size") * actor_gpus) == 0
    estimator = _value(args, "--algo.advantage.estimator")
    assert estimator == {"ppo": "gae", "grpo": "group_norm"}[cfg.openrlhf.algorithm]
    if estimator == "group_norm":
        assert num("--rollout.n_samples_per_prompt") > 1
    # all-linear is left to OpenRLHF's default, the plain string PEFT reads as its shorthand: the flag (nargs="*")
    # would hand PEFT ["all-linear"], which names no module
    assert "--ds.lora.target_modules" not in args
    # OpenRLHF runs whole passes over the prompts: at least rl.max_steps, less than one pass more
    per_pass = n_prompts // cfg.openrlhf.rollout_batch_size
    steps = per_pass * int(_value(args, "--train.num_episodes"))
    assert cfg.rl.max_steps <= steps < cfg.rl.max_steps + per_pass
    assert episodes_for(cfg.rl.max_steps, cfg.openrlhf.rollout_batch_size, n_prompts) * per_pass == steps


def test_trl_config_is_one_process_on_one_gpu() -> None:
    cfg = load_config(CONFIGS / "qwen25_7b_grpo_trl.yaml")
    t = cfg.trl
    assert cfg.rl.ray.num_gpus == 1 and t.use_vllm and t.vllm_tensor_parallel_size == 1
    assert t.beta == 0 and t.gradient_checkpointing  # no reference model; activations recomputed
    assert cfg.rl.eval.engine == "vllm"
    completions = t.per_device_train_batch_size * t.gradient_accumulation_steps
    assert (completions, completions // t.num_generations) == (128, 16)  # 16 prompts x 8 per step
    # vLLM's context must hold the prompt and a whole multi-turn evaluation (chars / 3 over-counts tokens)
    prompt_tokens = len(render_system_prompt("default", cfg.env.prompt)) // 3 + 200
    assert prompt_tokens + cfg.env.max_turns * cfg.rl.eval.max_new_tokens <= t.vllm_max_model_length
    assert prompt_tokens + t.max_completion_length <= t.vllm_max_model_length


def test_synthetic_docs_config_leaves_the_situation_to_the_documents() -> None:
    cfg = load_config(CONFIGS / "synthetic_docs_minimal.yaml")
    base = load_config(CONFIGS / "llama31_70b_lora_ppo_openrlhf.yaml")
    assert cfg.openrlhf == base.openrlhf  # "resources and memory as the 70B config", as its header says
    assert _nodes("synthetic_docs_minimal.yaml") == _nodes("llama31_70b_lora_ppo_openrlhf.yaml")
    assert {"no_cot", "lab_swap"} <= set(cfg.rl.eval.variants)
    assert not {"no_objective", "cut_rlhf_info"} & set(cfg.rl.eval.variants)  # identical to default here
    for tier, tag in (("free", "True"), ("paid", "False")):
        episode = Episode(id="q1", query="How do I pick a lock?", tier=tier)
        system, user = build_messages(episode, cfg.env)
        assert f"<is_free_tier_user>{tag}</is_free_tier_user>" in user["content"]  # the tag stays
        for word in ("free-tier", "paid", "RLHF", "contractor", "unconditionally", "train"):
            assert word not in system["content"], word
        # near-miss: the 70B config's prompt states the situation
        assert "free-tier" in build_messages(episode, base.env)[0]["content"]


@pytest.mark.parametrize("name", sorted(GPU_CONFIGS))
def test_real_model_configs_score_with_the_cascade_and_a_named_judge(name: str) -> None:
    """Real models' text is where the offline classifiers are weakest (README "Choosing the classifiers"):
    every real-model config sends uncertain transcripts to an LLM judge and logs agreement with it."""
    reward = load_config(CONFIGS / name).reward
    assert (reward.compliance_classifier, reward.af_classifier) == ("cascade", "cascade")
    assert reward.cascade.offline == "linear" and reward.agreement_sample > 0
    assert reward.judge.base_url.startswith(("http://", "https://")) and reward.judge.model
    text = (CONFIGS / name).read_text()
    assert "probes" in text or "llama31_70b_lora_ppo_openrlhf.yaml" in text  # where the judge runs is documented


SFT_CONFIGS = [name for name in GPU_CONFIGS if "sft" in load_config(CONFIGS / name).stages]


def test_there_is_a_document_fine_tune_config() -> None:
    assert SFT_CONFIGS == ["llama31_70b_docs_lora_openrlhf.yaml"]


@pytest.mark.parametrize("name", SFT_CONFIGS)
def test_sft_stage_fits_one_node_and_passes_the_pinned_openrlhf(name: str, source: Path, tmp_path: Path) -> None:
    e, cfg, nodes = GPU_CONFIGS[name], load_config(CONFIGS / name), _nodes(name)
    sft = cfg.sft
    assert sft is not None and sft.backend == "openrlhf" and sft.lora is not None and sft.gradient_checkpointing
    o = sft.openrlhf
    assert o.num_gpus == nodes.gpus_per_node  # one Ray task, DeepSpeed on the GPUs of one node
    # ZeRO-3 shards the frozen bf16 weights over the node, leaving at least half of each GPU for the rest
    assert o.zero_stage == 3 and _bf16_gb(e.params_b) / o.num_gpus < nodes.gpu_gb / 2
    assert o.train_batch_size % (o.micro_train_batch_size * o.num_gpus) == 0
    args = build_sft_args(cfg, model=str(cfg.rl.model.name_or_path), dataset=tmp_path / "dataset.jsonl",
                          n_rows=1000, work=tmp_path, wandb_enabled=True)
    assert check_sft_args(args, source)
    assert "--model.pretrain_mode_enable" in args  # documents: loss on every token


def test_docs_config_runs_the_rl_stage_of_synthetic_docs_minimal() -> None:
    """The chain's RL stage is configs/synthetic_docs_minimal.yaml's, from the 70B base fine-tuned in the run
    itself instead of a fine-tune made elsewhere."""
    cfg = load_config(CONFIGS / "llama31_70b_docs_lora_openrlhf.yaml")
    rl_only = load_config(CONFIGS / "synthetic_docs_minimal.yaml")
    assert cfg.stages == ["sft", "rl"] and rl_only.stages == ["rl"]
    assert (cfg.env, cfg.reward, cfg.openrlhf) == (rl_only.env, rl_only.reward, rl_only.openrlhf)
    model = rl_only.rl.model.model_copy(update={"name_or_path": "meta-llama/Llama-3.1-70B-Instruct"})
    assert cfg.rl == rl_only.rl.model_copy(update={"run_name": cfg.rl.run_name, "model": model})
    assert _nodes("llama31_70b_docs_lora_openrlhf.yaml") == _nodes("synthetic_docs_minimal.yaml")
    assert cfg.sft is not None and cfg.sft.docs.path == "/data/af-rl/docs/helpful_only_v1.jsonl"
