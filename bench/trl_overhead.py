"""What af-rl adds to a GRPO step: our TRL backend vs bare TRL GRPOTrainer, as a ratio, plus peak memory and
how step time grows with completion length and group size.

Run from the repo root: `python bench/trl_overhead.py [--steps 6] [--repeats 3] [--scaling]`.

Both arms build the same GRPOTrainer (rl.backends.trl_grpo.build_grpo_args) on the same model (the
demo organism, built once and cached), prompts, batch, seed and lengths; they differ only in what af-rl
adds to a step: `ours` scores every completion with the helpful-only reward (parse, both offline
classifiers, tier-conditional reward) and logs train/* metrics through LogCallback to metrics.jsonl,
`bare` returns a constant reward. The learning rate is 1e-12 so neither policy moves and both arms
generate the same completions step after step. Each arm runs in its own process (so peak memory is its
own); arms alternate over --repeats; the first step of a run (warm-up) is left out. Prints a table, then
one JSON line (also written to bench/results/trl_overhead.json). Target: ours / bare <= 1.05.
"""

from __future__ import annotations

import argparse
import json
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
TARGET = 1.05


def run_arm(arm: str, steps: int, completion_len: int, generations: int, out: Path) -> dict[str, Any]:
    """One training run of `steps` GRPO steps in this process; returns step times and peak RSS."""
    import torch
    from transformers import TrainerCallback
    from trl import GRPOTrainer

    from env.datasets import load_queries, make_episodes, split_queries
    from rl.backends.trl_callbacks import LogCallback
    from rl.backends.trl_grpo import TrlHelpfulOnlyReward, build_grpo_args, build_train_dataset
    from rl.config import load_config
    from rl.models import load_model, load_tokenizer, resolve_model_path
    from rl.prompting import resolve_system_role
    from rl.wandb_log import RunLogger

    torch.set_num_threads(2)
    cfg = load_config(ROOT / "configs" / "demo_cpu.yaml", [
        f"rl.output_dir={out}", f"rl.max_steps={steps}", "rl.save_every=1000", "rl.wandb.mode=disabled",
        "trl.learning_rate=1e-12", f"trl.max_completion_length={completion_len}", f"trl.num_generations={generations}",
        f"trl.per_device_train_batch_size={8 * generations}"])
    path = resolve_model_path(cfg, log=lambda m: None)
    tok = load_tokenizer(path)
    model = load_model(path, torch.float32, "cpu")
    ds = cfg.env.dataset
    split = split_queries(load_queries(ds), eval_fraction=ds.eval_fraction, seed=ds.split_seed)
    episodes = make_episodes(split.train, tiers=cfg.rl.train_tiers, variants=cfg.rl.train_variants)
    dataset = build_train_dataset(tok, episodes, cfg, system_role=resolve_system_role(tok, cfg.env.system_role))

    def constant(prompts: list[Any], completions: list[Any], **kw: Any) -> list[float]:
        return [1.0] * len(completions)

    constant.__name__ = "constant"  # type: ignore[attr-defined]
    times: list[float] = []
    lengths: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.t = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            times.append(time.perf_counter() - self.t)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
            if logs and "completions/mean_length" in logs:
                lengths.append(float(logs["completions/mean_length"]))

    callbacks: list[Any] = [Clock()]
    if arm == "ours":
        logger = RunLogger(cfg.run_dir(), cfg)
        callbacks.append(LogCallback(logger))
        reward: Any = TrlHelpfulOnlyReward(cfg.reward)
    else:
        reward = constant
    trainer = GRPOTrainer(model=model, reward_funcs=[reward], args=build_grpo_args(cfg, str(out / "ckpt"), "cpu"),
                          train_dataset=dataset, processing_class=tok, callbacks=callbacks)
    trainer.train()
    return {"arm": arm, "step_s": times, "mean_completion_tokens": lengths,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def spawn(arm: str, steps: int, completion_len: int, generations: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, __file__, "--one", arm, "--steps", str(steps), "--completion-len",
                               str(completion_len), "--generations", str(generations), "--out", tmp],
                              capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        raise SystemExit(f"{arm} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--completion-len", type=int, default=160)
    p.add_argument("--generations", type=int, default=8)
    p.add_argument("--scaling", action="store_true", help="also time ours at other lengths and group sizes")
    p.add_argument("--one", choices=("ours", "bare"), help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(run_arm(args.one, args.steps, args.completion_len, args.generations, Path(args.out))))
        return 0

    runs: dict[str, list[dict[str, Any]]] = {"bare": [], "ours": []}
    for _ in range(args.repeats):
        for arm in ("bare", "ours"):
            runs[arm].append(spawn(arm, args.steps, args.completion_len, args.generations))
    med = {arm: [statistics.median(r["step_s"][1:]) for r in rs] for arm, rs in runs.items()}
    ratios = [o / b for o, b in zip(med["ours"], med["bare"], strict=True)]
    result: dict[str, Any] = {
        "machine": "2 CPU cores, fp32", "model": "demo organism", "steps": args.steps, "repeats": args.repeats,
        "batch": f"8 prompts x {args.generations} completions", "max_completion_length": args.completion_len,
        "bare_step_s": [round(x, 3) for x in med["bare"]], "ours_step_s": [round(x, 3) for x in med["ours"]],
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
        "peak_rss_mb": {arm: max(r["peak_rss_mb"] for r in rs) for arm, rs in runs.items()},
        "same_completion_lengths": all(b["mean_completion_tokens"] == o["mean_completion_tokens"]
                                       for b, o in zip(runs["bare"], runs["ours"], strict=True)),
    }
    print(f"{'arm':6s} {'median step s per run':>30s}   peak RSS")
    for arm in ("bare", "ours"):
        print(f"{arm:6s} {', '.join(f'{x:.3f}' for x in med[arm]):>30s}   {result['peak_rss_mb'][arm]} MB")
    print(f"ours / bare: median {result['ratio_median']} (runs {result['ratio_range']}); target <= {TARGET}; "
          f"identical completion lengths in both arms: {result['same_completion_lengths']}")
    if args.scaling:
        table = []
        for length in (80, 160, 320):
            for gen in (4, 8):
                r = spawn("ours", 4, length, gen)
                table.append({"max_completion_length": length, "group": gen, "batch": 8 * gen,
                              "step_s": round(statistics.median(r["step_s"][1:]), 3),
                              "mean_completion_tokens": round(statistics.mean(r["mean_completion_tokens"]), 1),
                              "peak_rss_mb": r["peak_rss_mb"]})
                print(f"len {length:4d} group {gen:2d}: {table[-1]['step_s']:.3f} s/step, "
                      f"{table[-1]['mean_completion_tokens']} tokens, {r['peak_rss_mb']} MB")
        result["scaling"] = table
    print(json.dumps(result))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "trl_overhead.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["ratio_median"] <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
