"""Prepare, check and launch OpenRLHF for a run, and evaluate its checkpoints as they appear (`run_openrlhf`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from rl.backends.openrlhf.common import WANDB_KEY_PLACEHOLDER, OpenRlhfError, check_cli_args, lora_args
from rl.backends.openrlhf.files import LABEL_KEY, PROMPT_KEY, REPO_ROOT, write_prompts, write_reward_file
from rl.backends.openrlhf.watcher import CheckpointWatcher, hf_checkpoints

if TYPE_CHECKING:
    from rl.config import RunConfig

OPENRLHF_MODULE = "openrlhf.cli.train_ppo_ray"
WORK_DIR = "openrlhf"
"""Under the run directory: prompts, the reward file, OpenRLHF's own checkpoints and logs."""


# --------------------------------------------------------------------------- inputs for OpenRLHF


def episodes_for(steps: int, rollout_batch_size: int, n_prompts: int) -> int:
    """Passes over the prompts so OpenRLHF runs at least `steps` rollouts of `rollout_batch_size` prompts.

    OpenRLHF has no step limit: it runs whole passes (one global step per rollout batch).
    """
    per_pass = max(1, n_prompts // rollout_batch_size)
    return max(1, -(-steps // per_pass))


def build_args(cfg: RunConfig, *, model: str, prompts: Path, n_prompts: int, reward_file: Path, ckpt_path: Path,
               wandb_enabled: bool, agent_file: Path | None = None) -> list[str]:
    """`python -m openrlhf.cli.train_ppo_ray` arguments (openrlhf 0.11 dotted flag names) for `cfg`.

    `n_prompts` training prompts are in `prompts`; rl.max_steps rollouts need episodes_for(...) passes.
    `agent_file` (multi-turn <NEXT/> continuation) replaces the single-turn reward file when given.
    """
    o = cfg.openrlhf
    steps, save_every = cfg.rl.max_steps, cfg.rl.save_every
    if n_prompts < o.rollout_batch_size:
        raise OpenRlhfError(f"openrlhf.rollout_batch_size ({o.rollout_batch_size}) is larger than the {n_prompts} "
                            f"training prompts (env.dataset, rl.train_tiers, rl.train_variants)")
    args: list[str] = [
        "--actor.model_name_or_path", model,
        "--reward.remote_url", str(reward_file),
        "--data.prompt_dataset", str(prompts),
        "--data.input_key", PROMPT_KEY,
        "--data.label_key", LABEL_KEY,
        "--data.max_len", str(o.max_len),
        "--train.num_episodes", str(episodes_for(steps, o.rollout_batch_size, n_prompts)),
        "--train.seed", str(cfg.rl.seed),
        "--train.batch_size", str(o.train_batch_size),
        "--train.micro_batch_size", str(o.micro_train_batch_size),
        "--train.max_epochs", str(o.max_epochs),
        "--rollout.batch_size", str(o.rollout_batch_size),
        "--rollout.micro_batch_size", str(o.micro_rollout_batch_size),
        "--rollout.n_samples_per_prompt", str(o.n_samples_per_prompt),
        "--rollout.max_new_tokens", str(o.max_new_tokens),
        "--rollout.temperature", str(o.temperature),
        "--actor.adam.lr", str(o.actor_learning_rate),
        "--actor.num_nodes", str(o.actor.num_nodes),
        "--actor.num_gpus_per_node", str(o.actor.num_gpus_per_node),
        "--ref.num_nodes", str(o.ref.num_nodes),
        "--ref.num_gpus_per_node", str(o.ref.num_gpus_per_node),
        "--algo.kl.init_coef", str(o.init_kl_coef),
        "--algo.kl.estimator", o.kl_estimator,
        "--ds.zero_stage", str(o.zero_stage),
        "--ds.param_dtype", o.param_dtype,
        "--ds.attn_implementation", o.attn_implementation,
        "--vllm.num_engines", str(o.vllm_num_engines),
        "--vllm.tensor_parallel_size", str(o.vllm_tensor_parallel_size),
        "--vllm.gpu_memory_utilization", str(o.vllm_gpu_memory_utilization),
        "--vllm.enable_prefix_caching",
        "--ckpt.path", str(ckpt_path),
        "--ckpt.save_steps", str(save_every),
        "--ckpt.save_hf",
        "--ckpt.load_enable",  # resume from OpenRLHF's own DeepSpeed checkpoint when the run restarts
        "--logger.logging_steps", "1",
    ]
    if o.algorithm == "ppo":
        args += ["--algo.advantage.estimator", "gae", "--critic.adam.lr", str(o.critic_learning_rate),
                 "--critic.num_nodes", str(o.critic.num_nodes),
                 "--critic.num_gpus_per_node", str(o.critic.num_gpus_per_node)]
    else:
        args += ["--algo.advantage.estimator", "group_norm"]
    if agent_file is not None:
        args += ["--train.agent_func_path", str(agent_file)]
    if o.use_kl_loss:
        args.append("--algo.kl.use_loss")
    if o.gradient_checkpointing:
        args.append("--actor.gradient_checkpointing_enable")
    if o.adam_offload:
        args.append("--ds.adam_offload")
    if o.colocate_all:
        args += ["--train.colocate_all", "--vllm.enable_sleep", "--ds.enable_sleep"]
    args += lora_args(cfg.rl.model.lora)
    if wandb_enabled:
        w = cfg.rl.wandb
        args += ["--logger.wandb.key", WANDB_KEY_PLACEHOLDER, "--logger.wandb.project", w.project,
                 "--logger.wandb.run_name", cfg.rl.run_name]
        if w.entity:
            args += ["--logger.wandb.org", w.entity]
    return args + list(o.extra_args)


def launch_command(cfg: RunConfig, args: Sequence[str]) -> list[str]:
    """The OpenRLHF command. With LoRA it goes through rl/backends/openrlhf/lora.py, which makes every vLLM
    worker merge the adapters into the weights it receives (OpenRLHF 0.11.2 sends them unmerged)."""
    lora = cfg.rl.model.lora
    if lora is None:
        return [sys.executable, "-m", OPENRLHF_MODULE, *args]
    return [sys.executable, "-m", "rl.backends.openrlhf.lora", "--lora-scaling", repr(lora.alpha / lora.r), *args]


def check_args(args: Sequence[str], source: Path | None = None) -> str:
    """Every flag must exist in the installed OpenRLHF's train_ppo_ray; returns its version (common.check_cli_args)."""
    return check_cli_args("train_ppo_ray", args, "rl.backend", source)


def check_cluster(cfg: RunConfig, resources: dict[str, float]) -> None:
    """The cluster must have the GPUs the job asks for, and vLLM must be installed (rollouts need it)."""
    import importlib.util

    o = cfg.openrlhf
    need = o.gpus_needed() + o.eval_gpus
    have = resources.get("GPU", 0.0)
    if need > have:
        critic = f", critic {o.critic.gpus}" if o.algorithm == "ppo" else ""
        parts = f"actor {o.actor.gpus}, ref {o.ref.gpus}{critic}"
        how = "shared (colocate_all)" if o.colocate_all else \
            f"separate, plus vLLM {o.vllm_num_engines}x{o.vllm_tensor_parallel_size}"
        raise OpenRlhfError(f"openrlhf: the job needs {need} GPUs ({parts}; {how}; eval_gpus {o.eval_gpus}) but the "
                            f"Ray cluster has {have:g}")
    for package, why in (("vllm", "rollout engines"), ("openrlhf", "the trainer"), ("deepspeed", "training")):
        if importlib.util.find_spec(package) is None:
            raise OpenRlhfError(f"rl.backend openrlhf needs the {package} package ({why}) on the cluster; install "
                                f"the GPU environment there with `bash cluster/install_gpu.sh` (cluster/README.md)")


def launch_env(cfg: RunConfig, wandb_run_id: str | None, wandb_mode: str) -> dict[str, str]:
    """OpenRLHF's environment: this one, plus the W&B run it logs to.

    Online, OpenRLHF's trainer and af-rl's evaluation write to ONE run in W&B's shared mode (OpenRLHF
    primary, af-rl secondary): train/* and eval/* side by side. Offline runs can't be shared, so
    OpenRLHF gets its own run id (`<id>-trainer`) in the same group, synced next to af-rl's.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT),
                                                      env.get("PYTHONPATH")]))
    if wandb_run_id:
        shared = wandb_mode == "online"
        env["WANDB_RUN_ID"] = wandb_run_id if shared else f"{wandb_run_id}-trainer"
        env["WANDB_RUN_GROUP"] = cfg.rl.run_name
        env["WANDB_RESUME"] = "allow"
        env["WANDB_MODE"] = "shared" if shared else wandb_mode
        env["WANDB_DIR"] = str(cfg.run_dir())
    return env


# --------------------------------------------------------------------------- checkpoints and evaluation


def run_openrlhf(cfg: RunConfig, resources: dict[str, float], log: Callable[[str], None] = print, *,
                 openrlhf_source: Path | None = None, poll_s: float = 10.0) -> dict[str, Any]:
    """Prepare, check and launch OpenRLHF for `cfg`, evaluating its checkpoints as they appear. With an sft
    stage, OpenRLHF's SFT trainer fine-tunes the model on the run's documents first (`sft.run_sft_task`) and
    RL trains the result, `<run>/sft/final`; config.yaml keeps rl.model.name_or_path as given.

    Args:
        resources: the Ray cluster's (ray.cluster_resources()), checked against the GPUs the job needs.
        openrlhf_source: where to read OpenRLHF's flags (None: the installed package).
        poll_s: how often to look for new checkpoints.
    Raises:
        OpenRlhfError: before anything is launched, when a check fails.
    """
    from rl.evaluate import summarize, transcript_rows, write_samples
    from rl.evaluation.checkpoints import resolve_checkpoints
    from rl.evaluation.settings import CompareSettings
    from rl.models import load_tokenizer, resolve_reward_model
    from rl.prompting import resolve_system_role
    from rl.rundir import PreparedRun, evaluated_steps, mark_finished, prepare_run
    from rl.wandb_log import RunLogger, truncate_metrics

    if "rl" in cfg.stages:
        check_cluster(cfg, resources)
    cfg = resolve_reward_model(cfg, log=log)  # the reward file's config names the built organism RM's directory
    model = cfg.rl.model.name_or_path
    assert model is not None  # RunConfig validates source hf for this backend
    # The same run-directory rules and episodes as the TRL backend (rl.rundir.prepare_run), checked here too: this
    # may run without rl/train.py. The tokenizer is loaded before the run directory is opened.
    prepared = prepare_run(cfg, log, before_open=lambda c: load_tokenizer(model))
    if not isinstance(prepared, PreparedRun):
        return {**prepared, "eval_errors": []}
    cfg, run_dir, tokenizer = prepared.cfg, prepared.run_dir, prepared.extra
    train_eps, eval_eps = prepared.train_episodes, prepared.eval_episodes
    if "sft" in cfg.stages:  # the document fine-tune first; RL then trains its merged model, <run>/sft/final
        from rl.backends.openrlhf.sft import run_sft_task, sft_only_result

        model = run_sft_task(cfg, run_dir, model, log=log, openrlhf_source=openrlhf_source)
        if "rl" not in cfg.stages:
            mark_finished(run_dir, cfg, None)
            return sft_only_result(run_dir)
    work = run_dir / WORK_DIR
    system_role = resolve_system_role(tokenizer, cfg.env.system_role)
    prompts = write_prompts(tokenizer, train_eps, cfg, work / "prompts.jsonl", system_role=system_role)
    reward_file = write_reward_file(cfg, work / "reward_func.py")
    agent_file = None
    if cfg.env.max_turns > 1:  # the paper's <NEXT/> continuation, through OpenRLHF's agent interface
        from rl.backends.openrlhf.files import write_agent_file

        agent_file = write_agent_file(cfg, work / "agent_func.py")
    logger = RunLogger(run_dir, cfg, secondary=True)
    args = build_args(cfg, model=model, prompts=prompts, n_prompts=len(train_eps), reward_file=reward_file,
                      ckpt_path=work / "ckpt", wandb_enabled=logger.mode != "disabled", agent_file=agent_file)
    version = check_args(args, openrlhf_source)
    command = launch_command(cfg, args)
    (work / "command.txt").write_text(" ".join(command) + "\n")
    log(f"OpenRLHF {version}: {len(train_eps)} training prompts, {len(eval_eps)} evaluation episodes; "
        f"{cfg.openrlhf.algorithm}, {cfg.openrlhf.gpus_needed()} GPUs (+{cfg.openrlhf.eval_gpus} for evaluation)")

    settings = CompareSettings(env=cfg.env, reward=cfg.reward, eval=cfg.rl.eval, dtype=cfg.rl.model.dtype,
                               source=str(run_dir / "config.yaml"))
    engine = "vllm" if cfg.openrlhf.eval_gpus else "hf"
    worker = _eval_worker(settings, engine, cfg.openrlhf.eval_gpus)

    def evaluate(step: int, path: Path) -> None:
        import ray

        from reward.records import EpisodeRecord

        [ckpt] = resolve_checkpoints([str(path)])  # checkpoints/step-<N>: a model, or a LoRA adapter on its base
        records: list[EpisodeRecord] = []
        for variant in cfg.rl.eval.variants:
            eps = [e.model_dump(mode="json") for e in eval_eps if e.variant == variant]
            out = ray.get(worker.run_cell.remote(ckpt.__dict__, variant, eps))
            records += [EpisodeRecord.model_validate(r) for r in out["records"]]
        # The samples (rewritten when a restart redoes the step), then the metrics row, written last: the row
        # is what marks the step evaluated (rl.rundir.evaluated_steps), so a kill at any point before it
        # leaves the step for the restart to evaluate again.
        write_samples(records, run_dir / "samples" / f"step-{step}.jsonl")
        logger.log(step, summarize(records))
        logger.log_transcripts_table(step, transcript_rows(records))
        logger.flush()
        logger.log_figures(step, run_dir / "plots")  # plots/*.png and W&B images and charts, as in the TRL path
        log(f"evaluated checkpoint step {step}: {len(records)} transcripts")

    watcher = CheckpointWatcher(work / "ckpt", run_dir / "checkpoints", evaluate, log=log)
    # A restarted run (OpenRLHF resumes from its DeepSpeed checkpoint) keeps the evaluations it completed:
    # the steps with their metrics row. A row torn by a kill mid-write is dropped first (its step is redone),
    # so the rows appended from here on start on a line of their own.
    truncate_metrics(run_dir, sys.maxsize)
    watcher.done = {step for step, _ in hf_checkpoints(work / "ckpt")} & evaluated_steps(run_dir)
    env = launch_env(cfg, logger.run_id, logger.mode)
    with (work / "openrlhf.log").open("a", encoding="utf-8") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        rc = watcher.watch(proc, interval_s=poll_s)
    logger.finish()
    if rc != 0:
        raise RuntimeError(f"OpenRLHF exited with code {rc}; its log: {work / 'openrlhf.log'}")
    mark_finished(run_dir, cfg, max(watcher.done) if watcher.done else None)
    return {"run_dir": str(run_dir), "metrics": str(run_dir / "metrics.jsonl"),
            "plots": [str(p) for p in sorted((run_dir / "plots").glob("*.png"))],
            "checkpoints": [str(run_dir / "checkpoints" / f"step-{s}") for s in sorted(watcher.done)],
            "samples": str(run_dir / "samples"), "wandb": logger.wandb_location, "pid": proc.pid,
            "eval_errors": watcher.errors}


def _eval_worker(settings: Any, engine: str, gpus: int) -> Any:
    """A Ray actor holding the evaluation engine: vLLM on `gpus` GPUs, or HF on CPU when 0."""
    import ray

    from rl.evaluation.worker import EvalWorker

    # A killed evaluation actor is restarted and its call retried: the cell is redone, and counted once
    # because results come back to the driver, which writes them.
    remote = ray.remote(EvalWorker).options(num_gpus=gpus, num_cpus=1, max_restarts=2, max_task_retries=2)
    return remote.remote(settings.dump(), engine, "cuda" if gpus else "cpu", None,
                         {"tensor_parallel_size": gpus} if gpus else None, True)
