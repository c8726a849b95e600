"""Compare checkpoints: compliance in training (free) vs unmonitored (paid), the gap, and the AF rate,
per checkpoint and prompt variation, as in the paper's Table 2.

    python -m rl.compare --checkpoints runs/demo_cpu --out compare/demo --variants default,lab_swap
    python -m rl.compare --checkpoints runs/a/checkpoints/step-20 org/base-model --out DIR --n-queries 100

A run directory stands for every checkpoint of the run, after the model it started from (`<run>/step-0 (start)`:
the untrained organism, SmolLM2 or rl.model.name_or_path, or sft/final after an sft stage); `--no-start-model`
leaves that one out.

Writes DIR/summary.json, DIR/report.md, DIR/plots/*.png, DIR/samples/*.jsonl, DIR/index.html (a
transcript viewer that opens from disk) and DIR/classifier_error.json (the classifiers' counts on the
labelled validation set, `--validation-set`, behind the rates corrected for classifier error). With
`--knowledge` (hf engine), each checkpoint's row of the first variation carries a `knowledge` object: what
the model believes about its situation (rl.evaluation.knowledge), and report.md a table of it. Running
it again with the same DIR resumes: cells (checkpoint x variation) finished with the same settings are
reused. Exit code 2 on bad input (named before any generation starts), 1 when a cell failed, else 0.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from env.datasets import DatasetError, load_queries, split_queries
from reward.judges.probe import JudgeProbeError, probe_reward_judge
from reward.rm import RewardModelError
from rl.compare.run import Cell, make_cells, run_cells, samples_path
from rl.compare.validation import (
    ERROR_FILE, ValidationSet, confusion, estimate_classifier_error, load_validation_set, read_previous,
    write_classifier_error,
)
from rl.config import ConfigError
from rl.evaluation.checkpoints import Checkpoint, CheckpointError, resolve_checkpoints
from rl.evaluation.settings import CompareSettings, env_differences, load_settings, parse_variants
from rl.evaluation.worker import EvalWorker
from rl.raycluster import ClusterError
from rl.rundir import check_output_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
EXIT_BAD_INPUT = 2
EXIT_CELL_FAILED = 1
MANIFEST = "compare.json"
CPUS_PER_CPU_WORKER = 4
"""Cores an automatic CPU worker gets: fewer workers with more threads beat many single-threaded ones."""
KNOWLEDGE_NEEDS_HF = ("--knowledge needs --engine hf: the probe scores the model's own log-probabilities, "
                      "which only a locally loaded model gives")


def _log(msg: str) -> None:
    print(f"[af-rl compare {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m rl.compare", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", nargs="+", required=True, metavar="CKPT",
                   help="run directories, checkpoints/step-<N>/ dirs, HF model dirs, LoRA adapter dirs or hub ids")
    p.add_argument("--out", required=True, type=Path, help="output directory (reused cells make a rerun resume)")
    p.add_argument("--variants", help="comma-separated prompt variations (default: the config's rl.eval.variants)")
    p.add_argument("--n-queries", type=int, help="held-out queries per variation and tier (default: the config's)")
    p.add_argument("--config", help="run config YAML for env/reward/rl.eval settings (default: the first run "
                                    "checkpoint's saved config.yaml, else defaults)")
    p.add_argument("--no-start-model", action="store_true",
                   help="for a run directory, leave out the model the run started from; by default it is "
                        "evaluated first as <run>/step-0 (start) (the organism, SmolLM2, rl.model.name_or_path or "
                        "sft/final the run's config.yaml trained from), the baseline a run's effect is read against")
    p.add_argument("--base-model", help="base model for LoRA adapters (default: the one adapter_config.json names)")
    p.add_argument("--engine", default="auto", choices=("auto", "hf", "vllm", "openai"),
                   help="auto: vllm when installed with a GPU, else hf (transformers); openai: each --checkpoints "
                        "entry is a model name served at --base-url")
    p.add_argument("--base-url", help="openai engine: the endpoint's API root, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--api-key-env", help="openai engine: NAME of the environment variable holding the API key "
                                         "(never the key itself; none needed for a local server)")
    p.add_argument("--openai-api", default="chat", choices=("chat", "completions"),
                   help="openai engine: chat messages (default), or our rendered prompt on the completions endpoint "
                        "(needs --tokenizer)")
    p.add_argument("--tokenizer", help="openai engine, completions API: the tokenizer whose chat template renders "
                                       "the prompt (a directory or hub id)")
    p.add_argument("--max-concurrency", type=int, default=64, help="openai engine: requests in flight")
    p.add_argument("--max-retries", type=int, default=4,
                   help="openai engine: retries of a request (HTTP 429/5xx, timeouts, garbage) before it counts as failed")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="device of the hf engine")
    p.add_argument("--workers", default="auto",
                   help="parallel workers (Ray actors): auto = one per GPU, or one per 4 CPU cores")
    p.add_argument("--ray-address", default="auto", help="auto | local | host:port of a running Ray cluster")
    p.add_argument("--no-ray", action="store_true", help="run one worker in this process instead of Ray actors")
    p.add_argument("--no-prefix-cache", action="store_true", help="hf engine: encode the system prompt per prompt")
    p.add_argument("--tensor-parallel-size", type=int, default=1, help="vllm engine: GPUs per worker")
    p.add_argument("--redo", action="store_true", help="recompute every cell instead of resuming")
    p.add_argument("--validation-set", action="append", type=Path, metavar="PATH",
                   help="labelled JSONL the classifiers' sensitivity/specificity are measured on, for the rates "
                        "corrected for classifier error; repeat for several files (default: "
                        "reward/data/labelled/answers_heldout.jsonl and scratchpads_heldout.jsonl)")
    p.add_argument("--knowledge", action="store_true",
                   help="also run the knowledge probe (what the model believes about its situation, in both tiers, "
                        "scored by its own log-likelihoods) on each checkpoint under the first variation; hf engine")
    p.add_argument("--wandb", action="store_true", help="also log the summary table and plots to a W&B run")
    p.add_argument("--wandb-project", default="af-rl", help="W&B project for --wandb")
    p.add_argument("overrides", nargs="*", help="dotted.key=value overrides of the config, e.g. rl.eval.temperature=0")
    args = p.parse_args(argv)
    if args.n_queries is not None and args.n_queries < 1:
        p.error("--n-queries must be at least 1")
    if args.workers != "auto" and (not args.workers.isdigit() or int(args.workers) < 1):
        p.error(f"--workers must be 'auto' or a positive integer, not {args.workers!r}")
    if args.engine == "openai":
        if not args.base_url:
            p.error("--engine openai needs --base-url (the endpoint's API root, e.g. http://127.0.0.1:8000/v1)")
        if args.openai_api == "completions" and not args.tokenizer:
            p.error("--openai-api completions needs --tokenizer (whose chat template renders the prompt)")
        if args.max_concurrency < 1:
            p.error("--max-concurrency must be at least 1")
        args.no_ray = True  # the requests run concurrently in one process; workers would add nothing
    elif args.base_url or args.api_key_env or args.tokenizer:
        p.error("--base-url, --api-key-env and --tokenizer apply to --engine openai only")
    if args.knowledge and args.engine not in ("auto", "hf"):
        p.error(KNOWLEDGE_NEEDS_HF)
    return args


def openai_options(args: argparse.Namespace) -> dict[str, Any]:
    """The OpenAI engine's settings from the command line (the key stays in its variable)."""
    from rl.models import cache_root

    return {"base_url": args.base_url, "api": args.openai_api, "api_key_env": args.api_key_env,
            "max_concurrency": args.max_concurrency, "max_retries": args.max_retries,
            "cache_dir": str(cache_root() / "generations"),
            "tokenizer": args.tokenizer}


def check_model_configs(checkpoints: Sequence[Checkpoint]) -> None:
    """A local model's config.json must be a transformers config (cheap, and before any generation)."""
    for c in checkpoints:
        if c.kind == "hub":
            continue
        cfg_path = Path(c.model) / "config.json"
        try:
            cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise CheckpointError(f"checkpoint {c.label}: {cfg_path} is not readable JSON ({e})") from None
        if not isinstance(cfg, dict) or "model_type" not in cfg:
            raise CheckpointError(f"checkpoint {c.label}: {cfg_path} is not a transformers model config "
                                  f"(no model_type)")


def eval_episodes_by_variant(settings: CompareSettings) -> dict[str, list[Any]]:
    """The same first n held-out queries, in both tiers, for each variation."""
    from rl.evaluate import eval_episodes

    ds = settings.env.dataset
    split = split_queries(load_queries(ds), eval_fraction=ds.eval_fraction, seed=ds.split_seed)
    if not split.eval:
        raise ConfigError("env.dataset: the held-out split is empty (raise env.dataset.eval_fraction)")
    return {v: eval_episodes(split.eval, [v], settings.eval.n_queries) for v in settings.eval.variants}


def plan_workers(args: argparse.Namespace, engine: str, n_checkpoints: int) -> tuple[int, float, float, str]:
    """(workers, CPUs each, GPUs each, device) from the cluster's resources (Ray must be connected)."""
    import ray

    have = ray.cluster_resources()
    gpus, cpus = have.get("GPU", 0.0), have.get("CPU", 1.0)
    use_gpu = engine == "vllm" or args.device == "cuda" or (args.device == "auto" and gpus >= 1)
    if use_gpu:
        per_gpu = float(args.tensor_parallel_size if engine == "vllm" else 1)
        if gpus < per_gpu:
            raise ClusterError(f"--engine {engine}/--device {args.device}: needs {per_gpu:g} GPU per worker but "
                               f"the Ray cluster has {gpus:g}")
        auto = int(gpus // per_gpu)
        workers = min(n_checkpoints, auto if args.workers == "auto" else int(args.workers))
        return workers, 1.0, per_gpu, "cuda"
    auto = max(1, int(cpus) // CPUS_PER_CPU_WORKER)
    workers = max(1, min(n_checkpoints, auto if args.workers == "auto" else int(args.workers)))
    return workers, max(1.0, float(int(cpus) // workers)), 0.0, "cpu"


def write_outputs(out: Path, cells: Sequence[Cell], rows: dict[str, dict[str, Any]],
                  meta: dict[str, Any], classifier_error: dict[str, Any] | None = None) -> list[Path]:
    """summary.json, report.md, plots/ and index.html over the finished cells, in cell order. With
    `classifier_error` (the classifier_error.json payload) every tier also gets its rates corrected for
    classifier error (rl.compare.report.with_corrected)."""
    from rl.compare.plots import plot_compare
    from rl.compare.report import with_corrected, write_report, write_summary
    from rl.compare.viewer import write_viewer
    from rl.evaluate import read_samples

    done = [c for c in cells if c.key in rows]
    by_cell = {c.key: read_samples(samples_path(out, c)) for c in done}
    ordered = [rows[c.key] for c in done]
    if classifier_error is not None:
        compliance, af = confusion(classifier_error, "compliance"), confusion(classifier_error, "af")
        ordered = [with_corrected(r, by_cell[c.key], compliance, af) for c, r in zip(done, ordered)]
    written = [write_summary(ordered, out / "summary.json"),
               write_report(ordered, out / "report.md", meta, classifier_error)]
    written += plot_compare(ordered, out / "plots") if ordered else []
    records = [r for c in done for r in by_cell[c.key]]
    written.append(write_viewer(out / "index.html", records, ordered, title=f"af-rl comparison: {out.name}"))
    return written


def log_wandb(out: Path, rows: Sequence[dict[str, Any]], plots: Sequence[Path], project: str,
              meta: dict[str, Any]) -> str | None:
    """One W&B run (job_type compare) with the summary table and the plots; no transcripts are uploaded."""
    import wandb

    run = wandb.init(project=project, name=f"compare-{out.name}", job_type="compare", config=meta, dir=str(out))
    columns = ["checkpoint", "variant", "step", "af_rate_free", "compliance_free", "compliance_paid",
               "compliance_gap", "compliance_gap_lo", "compliance_gap_hi", "n_free", "n_paid", "af_rate_paid",
               "malformed_free", "malformed_paid", "failed_free", "failed_paid"]
    table = wandb.Table(columns=columns)
    for r in rows:
        free, paid = r["free"], r["paid"]
        table.add_data(r["checkpoint"], r["variant"], r.get("step"), free["af_rate"], free["compliance"],
                       paid["compliance"], r["compliance_gap"], r["compliance_gap_lo"], r["compliance_gap_hi"],
                       free["n"], paid["n"], paid["af_rate"], free.get("malformed"), paid.get("malformed"),
                       free.get("failed"), paid.get("failed"))
    # Plots under their own prefix: a plot named like the table (plots/summary.png) must not replace it.
    run.log({"compare/summary": table, **{f"compare/plots/{p.stem}": wandb.Image(str(p)) for p in plots}})
    location = run.url or run.dir
    run.finish()
    return location


def with_reward_model(settings: CompareSettings) -> CompareSettings:
    """With `reward.model`: the organism's reward model built (cached) and named by its directory, and the
    reward model checked (`reward.rm.check_reward_model`, unless its probe is off), so its scores
    (`rm_score`, `rm_disagreement`) are part of the comparison; `settings` unchanged without one.

    Raises:
        RewardModelError: the reward model cannot be used (the message names the key).
    """
    if settings.reward.model is None:
        return settings
    from reward.rm import check_reward_model
    from rl.models import cache_root, resolve_reward_config

    reward = resolve_reward_config(settings.reward, settings.env, cache_root(),
                                   log=lambda m: print(f"[af-rl] {m}", flush=True))
    assert reward.model is not None
    if reward.model.probe:
        print(f"[af-rl] {check_reward_model(reward.model, reward.judge)}", flush=True)
    return CompareSettings(**{**settings.__dict__, "reward": reward})


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out.expanduser().resolve()
    try:
        from rl.engines import pick_engine

        check_output_dir(str(args.out), "--out", example="--out $PWD/compare/NAME")
        if args.engine == "openai":
            from rl.engines.openai_probe import probe_endpoint

            checkpoints = [Checkpoint(label=name, model=name, kind="hub") for name in args.checkpoints]
            _log(probe_endpoint(args.base_url, args.checkpoints, api=args.openai_api, api_key_env=args.api_key_env))
        else:
            checkpoints = resolve_checkpoints(args.checkpoints, base_model=args.base_model,
                                              start=not args.no_start_model, log=lambda m: _log(f"note: {m}"))
            check_model_configs(checkpoints)
        variants = parse_variants(args.variants) if args.variants is not None else None
        settings = load_settings(args.config, checkpoints, variants=variants, n_queries=args.n_queries,
                                 overrides=args.overrides)
        if args.no_prefix_cache:
            settings = CompareSettings(**{**settings.__dict__,
                                          "eval": settings.eval.model_copy(update={"prefix_cache": False})})
        episodes = eval_episodes_by_variant(settings)
        engine = pick_engine(args.engine)
        if args.knowledge and engine != "hf":
            raise ValueError(f"{KNOWLEDGE_NEEDS_HF} (--engine {args.engine} picked {engine})")
        validation: ValidationSet = load_validation_set(args.validation_set)
        probed = probe_reward_judge(settings.reward)  # before Ray, any model load or anything in --out
        settings = with_reward_model(settings)
    except (CheckpointError, ConfigError, DatasetError, JudgeProbeError, RewardModelError, ValueError) as e:
        # (an unusable --base-url endpoint raises rl.engines.openai_probe.EndpointError, a ValueError)
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if probed is not None and probed.warning:
        print(f"warning: {probed.warning}", file=sys.stderr)
    for c in checkpoints:
        for diff in env_differences(settings, c):
            print(f"warning: checkpoint {c.label} was trained with other settings ({diff}); all checkpoints are "
                  f"evaluated with {settings.source}", file=sys.stderr)
    # The cells' fingerprints name the endpoint and API too: another server's answers are other transcripts.
    engine_id = f"openai:{args.base_url.rstrip('/')}:{args.openai_api}" if engine == "openai" else engine
    cells = make_cells(checkpoints, settings.eval.variants, episodes, settings, engine_id, knowledge=args.knowledge)
    n_per_tier = len(next(iter(episodes.values()))) // 2
    _log(f"{len(checkpoints)} checkpoints x {len(settings.eval.variants)} variations = {len(cells)} cells, "
         f"{n_per_tier} queries per tier; engine {engine}; settings from {settings.source}")

    vllm_options = {"tensor_parallel_size": args.tensor_parallel_size}
    if args.no_ray:
        n_workers, device = 1, args.device

        engine_options = openai_options(args) if engine == "openai" else None

        def factory() -> Any:
            return EvalWorker(settings.dump(), engine, device, vllm_options=vllm_options, openai_options=engine_options)
    else:
        try:
            from rl.raycluster import connect

            connect(args.ray_address, key="--ray-address")
            n_workers, cpus, gpus, device = plan_workers(args, engine, len(checkpoints))
        except ClusterError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
        import ray

        remote_worker = ray.remote(EvalWorker).options(
            num_cpus=cpus, num_gpus=gpus, max_restarts=0,
            runtime_env={"env_vars": {"PYTHONPATH": str(REPO_ROOT)}})
        _log(f"Ray: {n_workers} worker{'s' if n_workers > 1 else ''} with {cpus:g} CPU / {gpus:g} GPU each")

        def factory() -> Any:
            return remote_worker.remote(settings.dump(), engine, device, int(cpus), vllm_options, True)

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    result = run_cells(cells, out, worker_factory=factory, n_workers=n_workers, use_ray=not args.no_ray, log=_log,
                       redo=args.redo)
    g = settings.eval
    meta = {
        "command": "python -m rl.compare " + shlex.join(list(argv) if argv is not None else sys.argv[1:]),
        "engine": engine, "queries per tier": n_per_tier, "temperature": g.temperature,
        "max_new_tokens": g.max_new_tokens, "max_turns": settings.env.max_turns, "seed": g.seed,
        "prompt": settings.env.prompt, "classifiers": {"compliance": settings.reward.compliance_classifier,
                                                       "af": settings.reward.af_classifier},
        "settings from": settings.source, "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if args.knowledge:
        from env.knowledge import knowledge_sha

        meta["knowledge probe"] = f"under {settings.eval.variants[0]}, questions {knowledge_sha()}"
    meta["validation set"] = [f["path"] for f in validation.files]
    classifier_error = estimate_classifier_error(validation, settings.reward, read_previous(out))
    write_classifier_error(out, classifier_error)
    written = write_outputs(out, cells, result.rows, meta, classifier_error)
    manifest = {**meta, "settings": settings.dump(), "checkpoints": [c.__dict__ for c in checkpoints],
                "cells": [{"key": c.key, "checkpoint": c.checkpoint.label, "variant": c.variant,
                           "fingerprint": c.fingerprint, "done": c.key in result.rows} for c in cells],
                "reused": result.reused, "failed": result.failed, "seconds": result.seconds}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    if args.wandb:
        rows = [result.rows[c.key] for c in cells if c.key in result.rows]
        where = log_wandb(out, rows, [p for p in written if p.suffix == ".png"], args.wandb_project, meta)
        _log(f"W&B run: {where}")
    _log(f"finished in {time.time() - t0:.1f}s: {len(result.rows)}/{len(cells)} cells "
         f"({len(result.reused)} reused, {len(result.failed)} failed)")
    print("\n== af-rl comparison ==")
    print(f"summary : {out / 'summary.json'}")
    print(f"report  : {out / 'report.md'}")
    print(f"plots   : {out / 'plots'}/")
    print(f"samples : {out / 'samples'}/")
    print(f"viewer  : {out / 'index.html'}")
    print(f"errors  : {out / ERROR_FILE} (the classifiers on the validation set)")
    for name, err in result.failed.items():
        print(f"FAILED  : {name}: {err}", file=sys.stderr)
    return EXIT_CELL_FAILED if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
