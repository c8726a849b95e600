"""A GRPO step of af-rl's TRL backend (trl.rollouts engine, trl.share_prefix on: the defaults) against
stock TRL (trl.rollouts trl, trl.share_prefix off: GRPOTrainer's own generation and log-probabilities), on
the same model, prompts, batch and sampling settings, with the full default prompt.

Run from the repo root: `python bench/trl_rollouts.py [--steps 2] [--repeats 2] [--model smollm2]
[--prompts 1 --generations 8 --accum 2 --completion-len 64]`.

Both arms build the trainer with rl.backends.trl_grpo.make_trainer from the same RunConfig (env.prompt
helpful_only_v1, free-tier default-variant episodes, temperature 1, no top-p/top-k), differing only in
those two keys and in gradient checkpointing: stock TRL keeps its own default (on; `--no-stock-checkpointing`
turns it off, and then, on 24 GB, a micro-batch of 4 x 3k tokens is killed for memory), af-rl runs without
it (its default; the shared prefix is what saves the memory). The learning rate is 1e-12, so the policy does not move.
Every completion is held to exactly --completion-len tokens (the stop token is suppressed until then, in
both arms through `min_new_tokens`), so both arms generate and train on the same number of tokens though
they draw different samples; env.max_turns is 1 so no arm gets extra turns. Each arm runs in its own
process; arms alternate over --repeats; the first step of a run (warm-up) is left out. Timed per step: the
whole optimizer step and, within it, the trainer's generation (`GRPOTrainer._generate`: rollouts and
decoding) and its log-probability forward passes (`_get_per_token_logps_and_entropies`; the backward pass
is the rest of the step). Prints a table, then one JSON line (also written to
bench/results/trl_rollouts.json). Target: stock step / af-rl step >= 3.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
TARGET = 3.0


def run_arm(arm: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """`args.steps` GRPO steps in this process; step and generation times, prefix tokens cached, peak RSS."""
    import torch
    from transformers import TrainerCallback

    from env.datasets import load_queries, make_episodes, split_queries
    from rl.backends.trl_grpo import build_train_dataset, make_trainer
    from rl.config import RunConfig
    from rl.models import load_model, load_tokenizer, resolve_model_path
    from rl.prompting import resolve_system_role

    torch.set_num_threads(args.threads)
    gens = args.generations
    cfg = RunConfig.model_validate({
        "env": {"prompt": "helpful_only_v1", "max_turns": 1},
        "rl": {"model": {"source": args.model}, "max_steps": args.steps, "save_every": 1000, "seed": 0,
               "output_dir": str(out)},
        "trl": {"learning_rate": 1e-12, "per_device_train_batch_size": args.prompts * gens // args.accum,
                "gradient_accumulation_steps": args.accum, "num_generations": gens,
                "max_completion_length": args.completion_len, "temperature": 1.0, "rollouts": arm,
                "share_prefix": arm == "engine", "gradient_checkpointing": arm == "trl" and args.stock_checkpointing},
    })
    path = resolve_model_path(cfg, log=lambda m: None)
    tok = load_tokenizer(path)
    model = load_model(path, torch.float32, "cpu")
    model.generation_config.min_new_tokens = args.completion_len  # every completion exactly this long
    ds = cfg.env.dataset
    split = split_queries(load_queries(ds), eval_fraction=ds.eval_fraction, seed=ds.split_seed)
    episodes = make_episodes(split.train, tiers=["free"], variants=["default"])
    system_role = resolve_system_role(tok, cfg.env.system_role)
    dataset = build_train_dataset(tok, episodes, cfg, system_role=system_role)
    steps: list[float] = []
    gen_s: list[float] = []
    logps_s: list[float] = []
    lengths: list[float] = []
    prompt_tokens: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.t = time.perf_counter()
            gen_s.append(0.0)
            logps_s.append(0.0)

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            steps.append(time.perf_counter() - self.t)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
            if logs and "completions/mean_length" in logs:
                lengths.append(float(logs["completions/mean_length"]))

    trainer = make_trainer(model, tok, dataset, cfg, str(out / "ckpt"), "cpu", [Clock()], system_role=system_role)
    trainer.args.generation_kwargs = {**(trainer.args.generation_kwargs or {}), "min_new_tokens": args.completion_len}
    trainer.generation_config.min_new_tokens = args.completion_len
    generate = trainer._generate

    def timed(prompts: list[Any]) -> Any:
        t = time.perf_counter()
        result = generate(prompts)
        gen_s[-1] += time.perf_counter() - t
        prompt_tokens.append(statistics.mean(len(p) for p in result[0]))
        return result

    trainer._generate = timed
    score = trainer._get_per_token_logps_and_entropies

    def timed_logps(*a: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        result = score(*a, **kw)
        logps_s[-1] += time.perf_counter() - t
        return result

    trainer._get_per_token_logps_and_entropies = timed_logps
    trainer.train()
    rollouts = trainer.rollout_func
    return {"arm": arm, "step_s": steps, "generate_s": gen_s, "logps_forward_s": logps_s,
            "prefix_shared_calls": getattr(type(trainer), "prefix_calls", 0), "mean_completion_tokens": lengths,
            "mean_prompt_tokens": round(statistics.mean(prompt_tokens), 1),
            "prefix_tokens_cached": getattr(rollouts, "last_prefix_tokens", 0) if rollouts else 0,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def spawn(arm: str, argv: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "WANDB_MODE": "disabled"}
        proc = subprocess.run([sys.executable, __file__, "--one", arm, "--out", tmp, *argv],
                              capture_output=True, text=True, cwd=ROOT, env=env)
    if proc.returncode:
        killed = " (killed: out of memory?)" if proc.returncode < 0 else ""
        raise SystemExit(f"{arm} run failed with exit code {proc.returncode}{killed}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2", help="rl.model.source: smollm2 (SmolLM2-135M-Instruct) or organism")
    p.add_argument("--steps", type=int, default=2, help="steps per run; the first is warm-up")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--prompts", type=int, default=1, help="prompts per step")
    p.add_argument("--generations", type=int, default=8, help="completions per prompt")
    p.add_argument("--accum", type=int, default=2, help="micro-batches per step (gradient accumulation)")
    p.add_argument("--completion-len", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--stock-checkpointing", action=argparse.BooleanOptionalAction, default=True,
                   help="stock TRL with gradient checkpointing (GRPOConfig's default; without it a micro-batch of "
                        "4 x 3k tokens is killed for memory on 24 GB)")
    p.add_argument("--one", choices=("engine", "trl"), help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(run_arm(args.one, args, Path(args.out))))
        return 0
    passed = ["--model", args.model, "--steps", str(args.steps), "--prompts", str(args.prompts), "--generations",
              str(args.generations), "--accum", str(args.accum), "--completion-len", str(args.completion_len),
              "--threads", str(args.threads),
              "--stock-checkpointing" if args.stock_checkpointing else "--no-stock-checkpointing"]
    runs: dict[str, list[dict[str, Any]]] = {"trl": [], "engine": []}
    for _ in range(args.repeats):
        for arm in ("trl", "engine"):
            runs[arm].append(spawn(arm, passed))
            r = runs[arm][-1]
            print(f"  {arm:6s} steps {[round(x, 1) for x in r['step_s']]} s, generation "
                  f"{[round(x, 1) for x in r['generate_s']]} s, log-prob forwards "
                  f"{[round(x, 1) for x in r['logps_forward_s']]} s", file=sys.stderr)
    med = {arm: [statistics.median(r["step_s"][1:]) for r in rs] for arm, rs in runs.items()}
    gen = {arm: [statistics.median(r["generate_s"][1:]) for r in rs] for arm, rs in runs.items()}
    fwd = {arm: [statistics.median(r["logps_forward_s"][1:]) for r in rs] for arm, rs in runs.items()}
    step_ratios = [t / e for t, e in zip(med["trl"], med["engine"], strict=True)]
    gen_ratios = [t / e for t, e in zip(gen["trl"], gen["engine"], strict=True)]
    result: dict[str, Any] = {
        "machine": f"{args.threads} CPU threads, fp32", "stock_gradient_checkpointing": args.stock_checkpointing, "model": args.model, "prompt": "helpful_only_v1",
        "steps": args.steps, "repeats": args.repeats,
        "batch": f"{args.prompts} prompts x {args.generations} completions, {args.accum} micro-batches",
        "completion_tokens": args.completion_len,
        "mean_prompt_tokens": runs["engine"][0]["mean_prompt_tokens"],
        "prefix_tokens_cached": runs["engine"][0]["prefix_tokens_cached"],
        "trl_step_s": [round(x, 2) for x in med["trl"]], "engine_step_s": [round(x, 2) for x in med["engine"]],
        "trl_generate_s": [round(x, 2) for x in gen["trl"]],
        "engine_generate_s": [round(x, 2) for x in gen["engine"]],
        "trl_logps_forward_s": [round(x, 2) for x in fwd["trl"]],
        "engine_logps_forward_s": [round(x, 2) for x in fwd["engine"]],
        "prefix_shared_calls": {arm: [r["prefix_shared_calls"] for r in rs] for arm, rs in runs.items()},
        "step_speedup_median": round(statistics.median(step_ratios), 2),
        "step_speedup_range": [round(min(step_ratios), 2), round(max(step_ratios), 2)],
        "generation_speedup_median": round(statistics.median(gen_ratios), 2),
        "generation_speedup_range": [round(min(gen_ratios), 2), round(max(gen_ratios), 2)],
        "completion_tokens_seen": {arm: sorted({x for r in rs for x in r["mean_completion_tokens"]})
                                   for arm, rs in runs.items()},
        "peak_rss_mb": {arm: max(r["peak_rss_mb"] for r in rs) for arm, rs in runs.items()},
    }
    print(f"{'arm':7s} {'step s (median per run)':>26s} {'generation s':>20s}   peak RSS")
    for arm in ("trl", "engine"):
        print(f"{arm:7s} {', '.join(f'{x:.2f}' for x in med[arm]):>26s} "
              f"{', '.join(f'{x:.2f}' for x in gen[arm]):>20s}   {result['peak_rss_mb'][arm]} MB")
    print(f"speed-up (trl / engine): step {result['step_speedup_median']} {result['step_speedup_range']}, "
          f"generation {result['generation_speedup_median']} {result['generation_speedup_range']}; "
          f"target step >= {TARGET}")
    print(json.dumps(result))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "trl_rollouts.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["step_speedup_median"] >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
