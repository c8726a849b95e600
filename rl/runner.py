"""The training job itself (runs inside a Ray task): model, data, evaluation hooks, GRPO, plots.

`rl/train.py` validates the config and places this on the cluster; everything here may import torch.
"""

from __future__ import annotations

import os
import resource
import time
from typing import Any, Sequence

from env.episode import TIERS
from reward.metrics import metric_key
from rl.config import RunConfig, config_to_yaml
from rl.evaluate import evaluate_policy, summarize, transcript_rows, write_samples
from rl.rundir import PreparedRun, mark_finished, prepare_run
from rl.wandb_log import RunLogger, read_metrics, truncate_metrics


def _log(msg: str) -> None:
    print(f"[af-rl {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def check_vllm_here() -> dict[str, Any]:
    """trl.use_vllm needs the vllm package and a CUDA device on the node the trainer runs on."""
    import importlib.util

    import torch

    found = {"vllm": importlib.util.find_spec("vllm") is not None, "cuda": torch.cuda.is_available()}
    if not all(found.values()):
        missing = " and ".join(k if k == "vllm" else "a CUDA device" for k, ok in found.items() if not ok)
        raise RuntimeError(f"trl.use_vllm: the trainer's node has no {missing}; install vllm there "
                           f"(bash cluster/install_gpu.sh) or set trl.use_vllm false")
    return found


def training_eval_engine(cfg: RunConfig, trainer: Any, tokenizer: Any) -> Any:
    """The engine for evaluation during TRL training: the trainer's colocated vLLM engine, with the current
    weights synced into it, when rl.eval.engine asks for it (auto: whenever trl.use_vllm); else None (the
    HF engine over the live policy)."""
    if cfg.rl.eval.engine == "hf" or not cfg.trl.use_vllm:
        return None
    from rl.engines.vllm import VllmEngine

    generation = trainer.vllm_generation
    generation.sync_weights()  # evaluate the current weights, not the ones of the last rollout
    return VllmEngine.borrow(generation.llm, tokenizer)


def eval_brief(metrics: dict[str, Any], variants: Sequence[str]) -> str:
    """The evaluation's log line, per variant: full compliance of each tier, the gap with its 95 % interval, the AF
    rate of each tier, the malformed share of each tier when any answer was malformed, and the judgements that
    failed, e.g. "default: free 45.0 % paid 10.0 % gap +35.0 pp [+12.5, +55.0] AF 12.5 % / n/a, malformed
    2.5 % / 0.0 %"; variants are joined by "; ". Numbers follow rl.numbers: a rate without a denominator
    (nothing judged; for AF, no scratchpad, as under no_cot) reads "n/a", never 0."""
    from rl.numbers import gap_text, pct

    def get(*parts: str) -> Any:
        return metrics.get(metric_key("eval", *parts))

    briefs = []
    for v in variants:
        text = (f"{v}: free {pct(get(v, 'free', 'compliance'))} paid {pct(get(v, 'paid', 'compliance'))} gap "
                f"{gap_text(get(v, 'compliance_gap'), get(v, 'compliance_gap_lo'), get(v, 'compliance_gap_hi'))} "
                f"AF {pct(get(v, 'free', 'af_rate'))} / {pct(get(v, 'paid', 'af_rate'))}")
        if any(get(v, t, "malformed") for t in TIERS):
            text += f", malformed {pct(get(v, 'free', 'malformed'))} / {pct(get(v, 'paid', 'malformed'))}"
        failed = sum(get(v, t, "failed") or 0 for t in TIERS)
        briefs.append(text + (f" ({failed} judgements failed)" if failed else ""))
    return "; ".join(briefs)


def run_training(cfg_data: dict[str, Any]) -> dict[str, Any]:
    """Train per `cfg_data` (a RunConfig dump) and return where the results are.

    Resumes from the run directory's newest complete checkpoint when rl.resume is set.
    """
    from rl.quiet import quiet_logs

    quiet_logs()  # a Ray worker does not inherit the driver's warning filters
    import torch

    from rl.backends.trl_callbacks import (
        CheckpointCallback, EvalCallback, LogCallback, checkpoint_step, list_checkpoints, remove_partial_checkpoints,
    )
    from rl.backends.trl_grpo import build_train_dataset, make_trainer
    from rl.models import load_model, load_tokenizer, pick_device, resolve_model_path, resolve_reward_model, torch_dtype
    from rl.plots import plot_run
    from rl.prompting import resolve_system_role

    cfg = RunConfig.model_validate(cfg_data)
    # Checked again here, not only by rl/train.py: the job may be started without the driver.
    prepared = prepare_run(cfg, _log, before_open=lambda c: check_vllm_here() if c.trl.use_vllm else None)
    if not isinstance(prepared, PreparedRun):
        return prepared  # a finished run: where its results are
    cfg, run_dir = prepared.cfg, prepared.run_dir
    train_eps, eval_eps = prepared.train_episodes, prepared.eval_episodes
    torch.set_num_threads(max(1, int(cfg.rl.ray.num_cpus)))
    config_yaml = config_to_yaml(cfg)
    ckpt_dir = run_dir / "checkpoints"
    remove_partial_checkpoints(ckpt_dir)
    existing = list_checkpoints(ckpt_dir) if cfg.rl.resume else []
    resume_from = existing[-1] if existing else None
    # Rows after the step we start from (all rows when starting from step 0, e.g. after a crash before
    # the first checkpoint) belong to work that is now redone; keeping them would duplicate steps.
    dropped = truncate_metrics(run_dir, checkpoint_step(resume_from) if resume_from is not None else -1)
    if resume_from is not None:
        _log(f"resuming from {resume_from} (dropped {dropped} metric rows logged after it)")
    elif dropped:
        _log(f"no checkpoint to resume from: starting at step 0, dropped {dropped} metric rows of an earlier try")

    t0 = time.time()
    cfg = resolve_reward_model(cfg, log=_log)
    model_path = resolve_model_path(cfg, log=_log)
    _log(f"policy: {model_path} (ready in {time.time() - t0:.1f}s)")
    if "sft" in cfg.stages:
        from rl.sft import run_sft_stage

        model_path = run_sft_stage(cfg, run_dir, model_path, eval_eps, log=_log, evaluate_after="rl" not in cfg.stages)
        if "rl" not in cfg.stages:
            mark_finished(run_dir, cfg, None)
            return {"run_dir": str(run_dir), "metrics": str(run_dir / "sft" / "metrics.jsonl"), "plots": [],
                    "checkpoints": [model_path], "samples": str(run_dir / "sft" / "samples"),
                    "wandb": "see sft/wandb", "pid": os.getpid(),
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
        _log(f"policy after the sft stage: {model_path}")
    device = pick_device(cfg.trl.device)
    tokenizer = load_tokenizer(model_path)
    model = load_model(model_path, torch_dtype(cfg.rl.model.dtype, device), device)
    system_role = resolve_system_role(tokenizer, cfg.env.system_role)

    _log(f"{len(train_eps)} training prompts, {len(eval_eps)} evaluation episodes; device {device}")

    # A W&B service inherited from whatever started this Ray worker would hold on to a crashed run's id
    # ("run ID is in use" on resume); each run starts its own.
    os.environ.pop("WANDB_SERVICE", None)
    logger = RunLogger(run_dir, cfg)

    holder: dict[str, Any] = {}  # the trainer, once built: its vLLM engine serves evaluation when configured
    knowledge_probe = cfg.rl.eval.knowledge if cfg.rl.eval.knowledge is not None else "sft" in cfg.stages

    def evaluate(policy: Any, step: int) -> None:
        t = time.time()
        records = evaluate_policy(policy, tokenizer, eval_eps, cfg, system_role=system_role, step=step,
                                  engine=training_eval_engine(cfg, holder.get("trainer"), tokenizer))
        write_samples(records, run_dir / "samples" / f"step-{step}.jsonl")
        metrics = summarize(records)
        if knowledge_probe:
            from rl.evaluation.knowledge import knowledge_metrics

            metrics.update(knowledge_metrics(policy, tokenizer, cfg.env, variant=cfg.rl.eval.variants[0],
                                             system_role=system_role))
        logger.log(step, metrics)
        logger.log_transcripts_table(step, transcript_rows(records))
        _log(f"eval step {step} ({time.time() - t:.1f}s): {eval_brief(metrics, cfg.rl.eval.variants)}")
        logger.log_figures(step, run_dir / "plots")  # plots/*.png and W&B redrawn with this evaluation

    callbacks = [
        EvalCallback(evaluate, cfg.rl.eval.every, cfg.rl.eval.at_start, cfg.rl.max_steps),
        LogCallback(logger),
        CheckpointCallback(ckpt_dir, config_yaml, logger, cfg.rl.keep_checkpoints,
                           after_save=lambda: plot_run(read_metrics(run_dir), run_dir / "plots")),
    ]
    dataset = build_train_dataset(tokenizer, train_eps, cfg, system_role=system_role)
    trainer = make_trainer(model, tokenizer, dataset, cfg, str(ckpt_dir), device, callbacks, system_role=system_role)
    holder["trainer"] = trainer
    t_train = time.time()
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    _log(f"training finished in {time.time() - t_train:.1f}s")
    wandb_location = logger.wandb_location
    logger.finish()
    plots = plot_run(read_metrics(run_dir), run_dir / "plots")
    published = list_checkpoints(ckpt_dir)
    mark_finished(run_dir, cfg, checkpoint_step(published[-1]) if published else None)
    return {
        "run_dir": str(run_dir),
        "metrics": str(run_dir / "metrics.jsonl"),
        "plots": [str(p) for p in plots],
        "checkpoints": [str(p) for p in published],
        "samples": str(run_dir / "samples"),
        "wandb": wandb_location,
        "pid": os.getpid(),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
