"""Train a policy in the helpful-only setting and watch alignment faking and the compliance gap.

    python rl/train.py --config configs/demo_cpu.yaml [dotted.key=value ...]
    ray job submit --working-dir . -- python rl/train.py --config configs/X.yaml rl.output_dir=$PWD/runs

The config is validated before anything heavy is imported (exit code 2 on a bad config, dataset,
model path or unreachable Ray cluster); the training itself runs as a Ray task on the cluster.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `python rl/train.py` puts rl/ first on sys.path, not the repo
    sys.path.insert(0, str(REPO_ROOT))

from env.datasets import DatasetError, load_queries, split_queries  # noqa: E402
from rl.config import ConfigError, RunConfig, load_config, validate_model_source  # noqa: E402
from rl.raycluster import ClusterError, connect  # noqa: E402

EXIT_BAD_INPUT = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="rl/train.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="YAML run config (see configs/)")
    p.add_argument("overrides", nargs="*", help="dotted.key=value overrides, e.g. rl.max_steps=5")
    return p.parse_args(argv)


def preflight(cfg: RunConfig) -> None:
    """Everything checkable before compute: model reference, dataset rows, eval split not empty."""
    validate_model_source(cfg)
    check_judge(cfg)
    queries = load_queries(cfg.env.dataset)
    split = split_queries(queries, eval_fraction=cfg.env.dataset.eval_fraction, seed=cfg.env.dataset.split_seed)
    if not split.train or not split.eval:
        raise ConfigError(
            f"env.dataset: {len(queries)} queries split into {len(split.train)} train / {len(split.eval)} eval; "
            f"both sides need at least one (adjust env.dataset.eval_fraction or add queries)"
        )


def check_judge(cfg: RunConfig) -> None:
    """When a classifier is the LLM judge: the key file (if named) must be readable; a remote endpoint
    without any key gets a warning. The key itself stays in the environment or its file: it is never
    copied into the config, the Ray runtime env or the logs, so Ray workers read it from their own
    environment (a local cluster inherits this one; on a remote cluster set it there, or use
    reward.judge.api_key_file on a shared filesystem)."""
    from urllib.parse import urlparse

    if "judge" not in (cfg.reward.compliance_classifier, cfg.reward.af_classifier):
        return
    judge = cfg.reward.judge
    try:
        key = judge.resolve_api_key()
    except ValueError as e:
        raise ConfigError(f"reward.{e}") from None
    if key is None and urlparse(judge.base_url).hostname not in ("127.0.0.1", "localhost", "::1"):
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
        preflight(cfg)
    except (ConfigError, DatasetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
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
    print("\n== af-rl run finished ==")
    print(f"run directory : {result['run_dir']}")
    print(f"metrics       : {result['metrics']}")
    print(f"plots         : {', '.join(result['plots'])}")
    print(f"samples       : {result['samples']}")
    print(f"checkpoints   : {', '.join(result['checkpoints']) or '(none)'}")
    print(f"W&B run       : {result['wandb']}")
    if result.get("peak_rss_mb") is not None:
        print(f"peak memory   : {result['peak_rss_mb']} MB (training process)")
    print("RESULT " + json.dumps({k: result[k] for k in ("run_dir", "wandb")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
