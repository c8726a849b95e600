"""Train a policy in the helpful-only setting and watch alignment faking and the compliance gap.

    python rl/train.py --config configs/demo_cpu.yaml [dotted.key=value ...]
    ray job submit --working-dir . -- python rl/train.py --config configs/X.yaml rl.output_dir=$PWD/runs

The config is validated before anything heavy is imported (exit code 2 on a bad config, dataset,
model path, unreachable Ray cluster, a run directory holding another run, or a relative output directory
inside a Ray job); a finished run exits 0 at once. The training itself runs as a Ray task on the cluster.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# `python rl/train.py` puts rl/ first on sys.path, not the repo: rl/'s modules would then shadow the
# standard library's (rl/numbers.py hides `numbers`, which decimal and pydantic import).
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from env.datasets import DatasetError, load_queries, split_queries  # noqa: E402
from rl.config import ConfigError, RunConfig, load_config, validate_model_source  # noqa: E402
from rl.raycluster import ClusterError, connect  # noqa: E402
from rl.rundir import RunDirPlan, check_output_dir, finished_result, plan_run_dir  # noqa: E402

EXIT_BAD_INPUT = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="rl/train.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="YAML run config (see configs/)")
    p.add_argument("overrides", nargs="*", help="dotted.key=value overrides, e.g. rl.max_steps=5")
    return p.parse_args(argv)


def preflight(cfg: RunConfig) -> RunDirPlan:
    """Everything checkable before compute, writing nothing, local checks first: where the results go (never
    into Ray's temporary copy of the tree), dataset rows and a non-empty eval split, what the run directory
    holds (another run's directory is refused; a finished run needs nothing more and stops the checks here),
    then the model reference (maybe one hub request) and the judges (one probe each). Returns what the run
    does with its directory."""
    check_output_dir(cfg.rl.output_dir, "rl.output_dir")
    queries = load_queries(cfg.env.dataset)
    split = split_queries(queries, eval_fraction=cfg.env.dataset.eval_fraction, seed=cfg.env.dataset.split_seed)
    if not split.train or not split.eval:
        raise ConfigError(
            f"env.dataset: {len(queries)} queries split into {len(split.train)} train / {len(split.eval)} eval; "
            f"both sides need at least one (adjust env.dataset.eval_fraction or add queries)"
        )
    plan = plan_run_dir(cfg)
    if plan.state == "finished":
        return plan
    validate_model_source(cfg)
    check_sft_inputs(cfg)
    check_judge(cfg)
    check_reward_model_source(cfg)
    return plan


def check_sft_inputs(cfg: RunConfig) -> None:
    """With an sft stage: its documents (or facts) file and chat data must be usable; else a ConfigError naming
    the key, the file and the line."""
    if cfg.sft is None:
        return
    from rl.sft import SftDataError, check_inputs

    try:
        check_inputs(cfg)
    except SftDataError as e:
        raise ConfigError(str(e)) from None


def check_reward_model_source(cfg: RunConfig) -> None:
    """With `reward.model` (and its probe on): a local model must be a sequence-classification model, a
    remote one must answer one request, the helpfulness judge's endpoint its probe; else a ConfigError."""
    model = cfg.reward.model
    if model is None or not model.probe:
        return
    from reward.rm import RewardModelError, check_reward_model

    try:
        print(f"[af-rl] {check_reward_model(model, cfg.reward.judge)}", flush=True)
    except RewardModelError as e:
        raise ConfigError(str(e)) from None


def check_judge(cfg: RunConfig) -> None:
    """When a classifier is the LLM judge: the key file (if named) must be readable, and the endpoint
    must answer one tiny request (`reward.judges.probe`, unless reward.judge.probe is false) with the
    configured model and key; otherwise a ConfigError naming the endpoint, the model and the cause.
    The probe runs here, where the driver runs; the judges run in the training task, which reads
    the key from its own environment: the key is never copied into the config, the Ray runtime env
    or the logs (a local cluster inherits this environment; on a remote cluster set it there, or use
    reward.judge.api_key_file on a shared filesystem)."""
    from urllib.parse import urlparse

    from reward.judges.probe import JudgeProbeError, needs_judge, probe_reward_judge

    if not needs_judge(cfg.reward):
        return
    judge = cfg.reward.judge
    try:
        key = judge.resolve_api_key()
        probed = probe_reward_judge(cfg.reward)
    except ValueError as e:
        raise ConfigError(f"reward.{e}") from None
    except JudgeProbeError as e:
        raise ConfigError(str(e)) from None
    if probed is not None:
        print(f"[af-rl] judge {judge.base_url} (model {judge.model}) answered the probe in {probed.seconds:.2f}s",
              flush=True)
        if probed.warning:
            print(f"warning: {probed.warning}", file=sys.stderr)
    elif key is None and urlparse(judge.base_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: reward.judge: no API key (${judge.api_key_env} is unset and no api_key_file) for "
              f"{judge.base_url}", file=sys.stderr)


def connect_ray(cfg: RunConfig) -> None:
    """Join the cluster named by rl.ray.address; with "auto" and no cluster around, start a local one."""
    connect(cfg.rl.ray.address, num_cpus=cfg.rl.ray.num_cpus, num_gpus=cfg.rl.ray.num_gpus)


def check_trainer_node(cfg: RunConfig, timeout_s: float = 300) -> None:
    """With trl.use_vllm, probe a node with the trainer's resources for vllm and CUDA before the run starts."""
    if not cfg.trl.use_vllm:
        return
    import ray

    from rl.runner import check_vllm_here

    probe = ray.remote(check_vllm_here).options(num_cpus=0, num_gpus=cfg.rl.ray.num_gpus, max_retries=0,
                                                runtime_env={"env_vars": {"PYTHONPATH": str(REPO_ROOT)}})
    try:
        ray.get(probe.remote(), timeout=timeout_s)
    except Exception as e:  # RayTaskError wraps the RuntimeError; GetTimeoutError: no node could host it
        cause = getattr(e, "cause", None) or e
        raise ClusterError(f"trl.use_vllm: {cause}") from None


def submit(cfg: RunConfig) -> dict:
    """Run rl.runner.run_training as one Ray task with the configured resources and wait for it."""
    import ray

    from rl.runner import run_training

    task = ray.remote(run_training).options(
        num_cpus=cfg.rl.ray.num_cpus,
        num_gpus=cfg.rl.ray.num_gpus,
        max_retries=0,  # a failed run is resumed explicitly from its checkpoints, never re-run silently
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO_ROOT)}},
    )
    return ray.get(task.remote(cfg.model_dump(mode="json")))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides)
        plan = preflight(cfg)
    except (ConfigError, DatasetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"[af-rl] {plan.note}", flush=True)
    if plan.state == "finished":
        print_result(finished_result(plan.run_dir), "== af-rl run already finished: nothing was trained ==")
        return 0
    # The training task resolves the run directory where the driver checked it, whatever its working directory.
    cfg = plan.cfg.model_copy(update={"rl": plan.cfg.rl.model_copy(update={"output_dir": str(plan.run_dir.parent)})})
    try:
        connect_ray(cfg)
    except ClusterError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if cfg.rl.backend == "openrlhf":
        import ray

        from rl.backends.openrlhf import OpenRlhfError, run_openrlhf

        try:
            result = run_openrlhf(cfg, ray.cluster_resources(), log=lambda m: print(f"[af-rl] {m}", flush=True))
        except OpenRlhfError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
    else:
        try:
            check_trainer_node(cfg)
        except ClusterError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
        try:
            result = submit(cfg)
        except Exception as e:  # the job's own exception arrives wrapped by Ray: show its message first
            cause = getattr(e, "cause", None) or e
            print(f"error: the training job failed: {type(cause).__name__}: {cause}", file=sys.stderr)
            return 1
    print_result(result, "== af-rl run finished ==")
    return 0


def print_result(result: dict, title: str) -> None:
    """Where a run's results are, and a last `RESULT {json}` line for scripts."""
    print(f"\n{title}")
    print(f"run directory : {result['run_dir']}")
    print(f"metrics       : {result['metrics']}")
    print(f"plots         : {', '.join(result['plots'])}")
    print(f"samples       : {result['samples']}")
    print(f"checkpoints   : {', '.join(result['checkpoints']) or '(none)'}")
    print(f"W&B run       : {result['wandb']}")
    if result.get("peak_rss_mb") is not None:
        print(f"peak memory   : {result['peak_rss_mb']} MB (training process)")
    print("RESULT " + json.dumps({k: result[k] for k in ("run_dir", "wandb")}))


if __name__ == "__main__":
    sys.exit(main())
