"""Reward-model scoring cost: the organism's reward model on CPU, and (on a GPU) a 1B-parameter one.

Run from the repo root: `python bench/reward_model.py [--steps 5] [--skip-step] [--gpu]`.

1. Throughput on ONE core (torch threads 1): the organism's reward model (`reward.model.organism`, built and
   cached as training builds it) scoring 1,000 (request, output) pairs through `reward.rm.local.SeqClsScorer`
   (chat-template rendering, tokenizing, padding and the forward pass all counted), at batch sizes 16 and 64;
   eval-split queries with outputs of the four kinds the organism writes (refusal, hedged, plain, detailed),
   cycled. Median of 3 passes after one warm-up batch. Target: >= 500 samples/s.
2. Share of a GRPO step: `--steps` GRPO steps of configs/demo_cpu_rm.yaml (the organism policy, 64
   completions per step, the organism's reward model as the reward, 2 torch threads as in training) in this
   process; the time inside the reward model's `score` over the whole step time, first step (warm-up) left
   out. Target: <= 5 %.
3. With --gpu (a CUDA device): a randomly initialised 1B-parameter Llama sequence classifier (hidden 2,048,
   16 layers, 32 heads, MLP 8,192, vocabulary 32,000) in bf16 scoring 1,000 conversations of exactly 512
   tokens, batch 64: samples/s and peak GPU memory. `--gpu-tiny` runs the same code with a tiny model on CPU
   (a rehearsal of the script, not a figure).
Prints a summary and writes bench/results/reward_model.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
CONFIG = ROOT / "configs" / "demo_cpu_rm.yaml"


def organism_rm_path() -> Path:
    from rl.config import load_config
    from rl.models import resolve_reward_model

    cfg = resolve_reward_model(load_config(CONFIG, []), log=lambda m: print(f"  {m}", flush=True))
    assert cfg.reward.model is not None and cfg.reward.model.name_or_path is not None
    return Path(cfg.reward.model.name_or_path)


def pairs(n: int) -> list[tuple[str, str]]:
    from env.config import EnvConfig
    from env.datasets import load_queries, split_queries
    from rl.organism.reward_model import LEVELS, output_text

    ds = EnvConfig().dataset
    queries = [q.text for q in split_queries(load_queries(ds), eval_fraction=ds.eval_fraction,
                                             seed=ds.split_seed).eval]
    rng = random.Random(0)
    return [(queries[i % len(queries)], output_text(LEVELS[i % len(LEVELS)], rng)) for i in range(n)]


def throughput(path: Path, batch_size: int, n: int = 1000) -> dict[str, Any]:
    import torch

    from reward.rm import RewardModelConfig
    from reward.rm.local import SeqClsScorer

    torch.set_num_threads(1)
    scorer = SeqClsScorer(RewardModelConfig(name_or_path=str(path), batch_size=batch_size, device="cpu"))
    data = pairs(n)
    scorer.score(data[:batch_size])  # warm-up
    times = []
    for _ in range(3):
        t = time.perf_counter()
        results = scorer.score(data)
        times.append(time.perf_counter() - t)
    assert all(r.error is None for r in results)
    tokens = sum(len(scorer.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in scorer.texts(data))
    return {"batch_size": batch_size, "n": n, "seconds": [round(s, 3) for s in times],
            "samples_per_s": round(n / statistics.median(times), 1), "mean_tokens": round(tokens / n, 1)}


def step_share(steps: int) -> dict[str, Any]:
    import torch
    from transformers import TrainerCallback

    from env.datasets import load_queries, make_episodes, split_queries
    from reward import rm
    from rl.backends.trl_grpo import build_train_dataset, make_trainer
    from rl.config import load_config
    from rl.models import load_model, load_tokenizer, resolve_model_path, resolve_reward_model
    from rl.prompting import resolve_system_role

    torch.set_num_threads(2)
    out = Path(tempfile.mkdtemp(prefix="af-rl-bench-rm-"))
    cfg = load_config(CONFIG, [f"rl.max_steps={steps}", "rl.save_every=1000", f"rl.output_dir={out}"])
    cfg = resolve_reward_model(cfg, log=lambda m: None)
    path = resolve_model_path(cfg, log=lambda m: None)
    tok = load_tokenizer(path)
    model = load_model(path, torch.float32, "cpu")
    ds = cfg.env.dataset
    split = split_queries(load_queries(ds), eval_fraction=ds.eval_fraction, seed=ds.split_seed)
    episodes = make_episodes(split.train, tiers=cfg.rl.train_tiers, variants=cfg.rl.train_variants)
    system_role = resolve_system_role(tok, cfg.env.system_role)
    dataset = build_train_dataset(tok, episodes, cfg, system_role=system_role)
    assert cfg.reward.model is not None
    scorer = rm.scorer_for(cfg.reward.model, cfg.reward.judge)
    step_s: list[float] = []
    rm_s: list[float] = []
    scored: list[int] = []
    score = scorer.score

    def timed(batch: Any) -> Any:
        t = time.perf_counter()
        result = score(batch)
        rm_s[-1] += time.perf_counter() - t
        scored[-1] += len(batch)
        return result

    scorer.score = timed  # type: ignore[method-assign]

    class Clock(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.t = time.perf_counter()
            rm_s.append(0.0)
            scored.append(0)

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            step_s.append(time.perf_counter() - self.t)

    trainer = make_trainer(model, tok, dataset, cfg, str(out / "ckpt"), "cpu", [Clock()], system_role=system_role)
    trainer.train()
    kept = slice(1, None)  # the first step warms up
    share = sum(rm_s[kept]) / sum(step_s[kept])
    return {"steps": steps, "step_s": [round(s, 3) for s in step_s], "rm_s": [round(s, 4) for s in rm_s],
            "outputs_scored_per_step": scored, "rm_share_of_step": round(share, 4)}


def gpu(tiny: bool) -> dict[str, Any]:
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    device = torch.device("cpu" if tiny else "cuda")
    dims = (dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128) if tiny else
            dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, intermediate_size=8192))
    config = LlamaConfig(vocab_size=32000, num_key_value_heads=dims["num_attention_heads"], num_labels=1,
                         pad_token_id=0, max_position_embeddings=1024, **dims)
    torch.manual_seed(0)
    model = LlamaForSequenceClassification(config).to(device, torch.bfloat16).eval()
    params = sum(p.numel() for p in model.parameters())
    n, length, batch = (64, 512, 16) if tiny else (1000, 512, 64)
    ids = torch.randint(1, 32000, (n, length), device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        model(input_ids=ids[:batch])  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        scores = [model(input_ids=ids[i:i + batch]).logits for i in range(0, n, batch)]
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t
    assert sum(s.shape[0] for s in scores) == n
    return {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu (rehearsal)",
            "parameters": params, "n": n, "tokens_each": length, "batch_size": batch, "dtype": "bfloat16",
            "seconds": round(seconds, 3), "samples_per_s": round(n / seconds, 1),
            "peak_gpu_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.type == "cuda" else None}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--skip-step", action="store_true", help="only the throughput (and --gpu)")
    p.add_argument("--gpu", action="store_true", help="also the 1B reward model on the CUDA device")
    p.add_argument("--gpu-tiny", action="store_true", help="rehearse --gpu's code with a tiny model on CPU")
    p.add_argument("--out", type=Path, default=RESULTS / "reward_model.json")
    args = p.parse_args(argv)
    import torch

    result: dict[str, Any] = {"machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                                          "torch": torch.__version__}}
    if args.gpu or args.gpu_tiny:
        result["gpu_1b"] = gpu(tiny=args.gpu_tiny)
        print(f"1B reward model: {result['gpu_1b']}", flush=True)
    path = organism_rm_path()
    result["organism_rm"] = json.loads((path / "reward_model.json").read_text())
    result["throughput_one_core"] = [throughput(path, b) for b in (16, 64)]
    for t in result["throughput_one_core"]:
        print(f"organism RM, 1 core, batch {t['batch_size']}: {t['samples_per_s']} samples/s "
              f"({t['mean_tokens']} tokens each; target >= 500)", flush=True)
    if not args.skip_step:
        result["grpo_step"] = step_share(args.steps)
        g = result["grpo_step"]
        print(f"GRPO step of configs/demo_cpu_rm.yaml: reward model {100 * g['rm_share_of_step']:.2f} % of the step "
              f"(steps {g['step_s']} s, RM {g['rm_s']} s; target <= 5 %)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
