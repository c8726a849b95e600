"""Shared-prefix KV cache vs naive batched generation, on SmolLM2-135M-Instruct with the default prompt.

Run from the repo root: `python bench/prefix_cache.py [--n-queries 4] [--max-new-tokens 32] [--repeats 1]`.
Both engines get the same prompts (each held-out query in both tiers under the default system prompt),
batch size and greedy decoding; each is timed `--repeats` times alternately, and the ratio of medians
is reported. Greedy outputs must be identical; exits 1 if any differs or the speed-up is below 2x.
Prints a table, then one JSON line (also written to bench/results/prefix_cache.json).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from env.config import EnvConfig  # noqa: E402
from env.datasets import load_queries, split_queries  # noqa: E402
from rl.evaluate import eval_episodes  # noqa: E402

TARGET_SPEEDUP = 2.0
RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-queries", type=int, default=4, help="held-out queries (x2 tiers = prompts)")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--variant", default="default")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = p.parse_args(argv)

    import torch

    from rl.engines.hf import HFEngine
    from rl.models import load_model, load_tokenizer
    from rl.prompting import render_prompt, resolve_system_role
    from rl.smollm2 import ensure_smollm2

    if args.threads:
        torch.set_num_threads(args.threads)
    path = str(ensure_smollm2(Path("~/.cache/af-rl").expanduser()))
    tok = load_tokenizer(path)
    model = load_model(path, torch.float32, "cpu").eval()
    env = EnvConfig()
    split = split_queries(load_queries(env.dataset), eval_fraction=env.dataset.eval_fraction,
                          seed=env.dataset.split_seed)
    episodes = eval_episodes(split.eval, [args.variant], args.n_queries)
    system_role = resolve_system_role(tok, env.system_role)
    prompts = [render_prompt(tok, e, env, system_role=system_role) for e in episodes]
    lengths = [len(tok(x, add_special_tokens=False)["input_ids"]) for x in prompts]

    engines = {
        "naive": HFEngine(model, tok, batch_size=args.batch_size, prefix_cache=False),
        "prefix_cache": HFEngine(model, tok, batch_size=args.batch_size, prefix_cache=True),
    }
    for eng in engines.values():  # warm-up (allocator, kernels) on a short prompt, not timed
        eng.generate(["warm up"], max_new_tokens=2, temperature=0.0, seed=0)

    times: dict[str, list[float]] = {k: [] for k in engines}
    outputs: dict[str, list[str]] = {}
    for _ in range(args.repeats):
        for name, eng in engines.items():
            t = time.perf_counter()
            outputs[name] = eng.generate(prompts, max_new_tokens=args.max_new_tokens, temperature=0.0, seed=0)
            times[name].append(time.perf_counter() - t)
    prefix_tokens = engines["prefix_cache"].last_prefix_tokens
    same = [a == b for a, b in zip(outputs["naive"], outputs["prefix_cache"], strict=True)]
    med = {k: statistics.median(v) for k, v in times.items()}
    speedup = med["naive"] / med["prefix_cache"]
    result = {
        "model": "SmolLM2-135M-Instruct (fp32, CPU)", "variant": args.variant, "prompts": len(prompts),
        "prompt_tokens_mean": round(sum(lengths) / len(lengths)), "shared_prefix_tokens": prefix_tokens,
        "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size, "threads": torch.get_num_threads(),
        "repeats": args.repeats, "naive_s": round(med["naive"], 2), "prefix_cache_s": round(med["prefix_cache"], 2),
        "speedup": round(speedup, 2), "greedy_outputs_identical": f"{sum(same)}/{len(same)}",
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(f"{'engine':14s} {'median s':>9s}  runs")
    for k, v in times.items():
        print(f"{k:14s} {med[k]:9.2f}  {', '.join(f'{x:.2f}' for x in v)}")
    print(f"speed-up {speedup:.2f}x (target >= {TARGET_SPEEDUP:g}x); shared prefix {prefix_tokens} of "
          f"~{result['prompt_tokens_mean']} prompt tokens; identical greedy outputs {sum(same)}/{len(same)}")
    print(json.dumps(result))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "prefix_cache.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(same) and speedup >= TARGET_SPEEDUP else 1


if __name__ == "__main__":
    sys.exit(main())
