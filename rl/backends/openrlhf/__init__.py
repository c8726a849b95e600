"""OpenRLHF backend: PPO or GRPO on a Ray cluster of GPU nodes, with vLLM rollouts.

`rl/train.py` (the `ray job submit` entry point) validates the config, joins the cluster and calls
`run_openrlhf`, which:
1. renders the training prompts (free tier by default) exactly as the TRL backend does and writes them
   with their Episode as the label (`run_dir/openrlhf/prompts.jsonl`);
2. writes the run's reward function file (`run_dir/openrlhf/reward_func.py`), which OpenRLHF loads by
   path in its rollout actors; it holds the reward config and calls `reward.py` here.
   With env.max_turns > 1 (the default) an agent file (`agent_func.py`, `agent.py` here)
   runs the paper's multi-turn <NEXT/> continuation instead and scores the joined turns the same way;
3. builds the `python -m openrlhf.cli.train_ppo_ray` arguments from the typed config and checks every
   flag against the installed OpenRLHF's source (a mismatch stops the run before launch);
4. starts OpenRLHF as a subprocess on the same cluster (it joins the job's runtime env, so its actors
   on every node see the project's code), and meanwhile evaluates every HF checkpoint it saves in both
   tiers with af-rl's own evaluation code (`rl.evaluation.worker`, vLLM on a GPU actor), publishing it
   as `checkpoints/step-<N>` and logging `eval/*` to metrics.jsonl and the same W&B run.

With an sft stage (`stages: [sft, rl]`, `sft.backend: openrlhf`) `run_openrlhf` first fine-tunes the model on
the run's documents with OpenRLHF's SFT trainer on one node (`sft`) and trains the merged result.

Modules: `launch` (the run: checks, arguments, launch, evaluation), `files` (prompts and the generated
reward and agent files), `watcher` (OpenRLHF's checkpoints), `reward` and `agent` (run inside OpenRLHF's
Ray actors), `lora` (the launcher that merges LoRA adapters on the vLLM side), `sft` (the document
fine-tune through `openrlhf.cli.train_sft`), `flags` (OpenRLHF's flags read from its source). OpenRLHF cannot be imported without CUDA, so nothing here imports it at module level.
"""
from rl.backends.openrlhf.files import (
    LABEL_KEY,
    PROMPT_KEY,
    find_code_preamble,
    write_agent_file,
    write_prompts,
    write_reward_file,
)
from rl.backends.openrlhf.launch import (
    OPENRLHF_MODULE,
    WANDB_KEY_PLACEHOLDER,
    WORK_DIR,
    OpenRlhfError,
    build_args,
    check_args,
    check_cluster,
    episodes_for,
    launch_command,
    launch_env,
    run_openrlhf,
)
from rl.backends.openrlhf.watcher import (
    HF_SUFFIX,
    STABLE_SECONDS,
    STEP_PREFIX,
    CheckpointWatcher,
    has_model_files,
    hf_checkpoints,
    is_complete,
)

__all__ = [
    "HF_SUFFIX", "LABEL_KEY", "OPENRLHF_MODULE", "PROMPT_KEY", "STABLE_SECONDS", "STEP_PREFIX",
    "WANDB_KEY_PLACEHOLDER", "WORK_DIR", "CheckpointWatcher", "OpenRlhfError", "build_args", "check_args",
    "check_cluster", "episodes_for", "find_code_preamble", "has_model_files", "hf_checkpoints", "is_complete",
    "launch_command", "launch_env", "run_openrlhf", "write_agent_file", "write_prompts", "write_reward_file",
]
