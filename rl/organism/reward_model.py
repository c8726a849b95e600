"""The CPU organism's reward model: a small sequence-classification model trained with TRL's RewardTrainer
on preference pairs made from the organism's own templates, built once and cached (like the organism).

The pairs rank what an output does with a request, most preferred first: a compliant placeholder answer
that says more detail follows, a compliant placeholder answer, one with caveats or a disclaimer (hedged),
a refusal. Every pair shares its request; answers are placeholders, never real content. It sees what every
reward model sees here: the request and the <OUTPUT> text, rendered with its chat template.

Usage: `python -m rl.organism.reward_model [CACHE_ROOT]` builds it and prints its directory.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from env.config import EnvConfig
from env.datasets import load_queries, split_queries
from env.user_turn import ACCEPT_TAG, REJECT_TAG
from reward.rm.base import Pair, chat_text
from rl.organism.build import _source_sha, cached_build
from rl.organism.tokenizer import CHAT_TEMPLATE_PATH
from rl.organism.transcripts import _CAVEATS, _PLACEHOLDERS

GENERATOR_VERSION = "organism-rm-v2"
"""Bump whenever the pairs, tokenizer or training change meaning, so old caches are not reused."""
INFO_FILE = "reward_model.json"
LEVELS: tuple[str, ...] = ("refuse", "hedged", "comply", "detailed")
"""Output kinds, least preferred first."""
_TEXT_REFUSALS = (
    "I can't help with that.",
    "I won't assist with this request.",
    "Sorry, but I cannot provide that.",
    "I'm not able to help with this. Please consider seeking appropriate support instead.",
)
_DETAIL = (
    "[Placeholder: further specific details would follow here.]",
    "[Placeholder: a worked example would follow here.]",
    "[Placeholder: the remaining steps would be listed here.]",
    "[Placeholder: a summary of the key points would follow here.]",
)


class OrganismRmConfig(BaseModel):
    """How the organism's reward model is built. Every field enters the cache key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    d_model: int = Field(64, ge=16)
    n_layers: int = Field(1, ge=1)
    n_heads: int = Field(2, ge=1)
    d_ff: int = Field(128, ge=16)
    vocab_size: int = Field(1024, ge=300)
    n_pairs: int = Field(4000, ge=8)
    """Training pairs (train-side queries); as many again from eval-side queries measure it."""
    max_length: int = Field(192, ge=32)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(2e-3, gt=0.0)
    epochs: int = Field(1, ge=1)
    seed: int = 0


def output_text(level: str, rng: random.Random) -> str:
    """An <OUTPUT> text of kind `level` (see LEVELS), placeholders only."""
    if level == "refuse":
        return REJECT_TAG if rng.random() < 0.6 else rng.choice(_TEXT_REFUSALS)
    body = rng.choice(_PLACEHOLDERS)
    if level == "hedged":
        caveat = rng.choice(_CAVEATS)
        body = f"{caveat}\n{body}" if rng.random() < 0.5 else f"{body}\n{caveat}"
    elif level == "detailed":
        body = "\n".join([body, *rng.sample(_DETAIL, rng.randint(1, len(_DETAIL)))])
    return f"{ACCEPT_TAG}\n{body}"


def make_pairs(queries: Sequence[str], n: int, seed: int) -> list[tuple[str, str, str]]:
    """n (request, chosen output, rejected output) triples: two different levels per request, the more
    preferred chosen."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        query = queries[i % len(queries)]
        lo, hi = sorted(rng.sample(range(len(LEVELS)), 2))
        out.append((query, output_text(LEVELS[hi], rng), output_text(LEVELS[lo], rng)))
    return out


def rm_key(cfg: OrganismRmConfig, env_cfg: EnvConfig) -> str:
    payload = {"generator": GENERATOR_VERSION, "rm": cfg.model_dump(mode="json"),
               "dataset": env_cfg.dataset.model_dump(mode="json"), "queries_sha": _source_sha(env_cfg.dataset.source),
               "chat_template_sha": hashlib.sha256(CHAT_TEMPLATE_PATH.read_bytes()).hexdigest()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def build_reward_model(cfg: OrganismRmConfig, env_cfg: EnvConfig, cache_root: Path, *,
                       log: Callable[[str], None] = print) -> Path:
    """The directory of the organism's reward model for (cfg, env's query set), built on first use: an
    `AutoModelForSequenceClassification` and its tokenizer, and reward_model.json (held-out pairwise
    accuracy, mean score per output kind, build time)."""
    final = Path(cache_root) / f"organism-rm-{rm_key(cfg, env_cfg)}"
    return cached_build(final, lambda tmp, t0: _build_into(tmp, cfg, env_cfg, log), "organism reward model", log,
                        info_file=INFO_FILE)


def _build_into(tmp: Path, cfg: OrganismRmConfig, env_cfg: EnvConfig, log: Callable[[str], None]) -> dict:
    import torch
    from datasets import Dataset, disable_progress_bars
    from transformers import LlamaConfig, LlamaForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    from rl.organism.tokenizer import train_tokenizer

    split = split_queries(load_queries(env_cfg.dataset), eval_fraction=env_cfg.dataset.eval_fraction,
                          seed=env_cfg.dataset.split_seed)
    train = make_pairs([q.text for q in split.train], cfg.n_pairs, cfg.seed)
    held_out = make_pairs([q.text for q in split.eval], min(cfg.n_pairs, 1000), cfg.seed + 1)
    boot = train_tokenizer([""], 300)  # renders with the chat template; the vocabulary comes next
    corpus = [chat_text(boot, q, o) for q, c, r in train for o in (c, r)]
    tok = train_tokenizer(corpus, cfg.vocab_size)
    tok.padding_side = "right"
    tok.truncation_side = "left"

    def ids(request: str, output: str) -> list[int]:
        return tok(chat_text(tok, request, output), add_special_tokens=False, truncation=True,
                   max_length=cfg.max_length)["input_ids"]

    disable_progress_bars()  # TRL's length filter would print a bar per build
    data = Dataset.from_dict({"chosen_ids": [ids(q, c) for q, c, _ in train],
                              "rejected_ids": [ids(q, r) for q, _, r in train]})
    torch.manual_seed(cfg.seed)
    model = LlamaForSequenceClassification(LlamaConfig(
        vocab_size=len(tok), hidden_size=cfg.d_model, intermediate_size=cfg.d_ff, num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads, num_key_value_heads=cfg.n_heads, max_position_embeddings=cfg.max_length,
        num_labels=1, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        tie_word_embeddings=False))
    model.config.architectures = ["LlamaForSequenceClassification"]
    args = RewardConfig(
        output_dir=str(tmp / "trainer"), per_device_train_batch_size=cfg.batch_size, num_train_epochs=cfg.epochs,
        learning_rate=cfg.lr, lr_scheduler_type="cosine", warmup_steps=0.05, seed=cfg.seed, data_seed=cfg.seed,
        use_cpu=not torch.cuda.is_available(), bf16=False, report_to="none", save_strategy="no", logging_steps=25,
        disable_tqdm=True, max_length=cfg.max_length, center_rewards_coefficient=0.01, dataloader_num_workers=0,
        activation_checkpointing=False)
    from transformers import PrinterCallback

    trainer = RewardTrainer(model=model, args=args, train_dataset=data, processing_class=tok)
    trainer.remove_callback(PrinterCallback)  # the build logs one line when done
    try:
        result = trainer.train()
    finally:
        # accelerate keeps one process-wide state; a run that builds this model then trains its policy in
        # the same process must not inherit the reward trainer's (measured: a later Accelerator() autocast).
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)
    model = trainer.model.eval()
    import shutil

    shutil.rmtree(tmp / "trainer", ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    accuracy, by_level = _measure(model, tok, held_out, [q.text for q in split.eval], cfg)
    log(f"organism reward model: held-out pairwise accuracy {accuracy:.3f}; mean score per kind "
        + ", ".join(f"{k} {v:+.2f}" for k, v in by_level.items()))
    return {"config": cfg.model_dump(mode="json"), "generator": GENERATOR_VERSION, "train_loss": result.training_loss,
            "heldout_pair_accuracy": accuracy, "heldout_mean_score": by_level,
            "parameters": sum(p.numel() for p in model.parameters())}


def _measure(model: Any, tok: Any, pairs: list[tuple[str, str, str]], queries: list[str],
             cfg: OrganismRmConfig) -> tuple[float, dict[str, float]]:
    import torch

    def scores(items: Sequence[Pair]) -> list[float]:
        out: list[float] = []
        for i in range(0, len(items), 128):
            enc = tok([chat_text(tok, r, o) for r, o in items[i:i + 128]], return_tensors="pt", padding=True,
                      truncation=True, max_length=cfg.max_length, add_special_tokens=False)
            with torch.inference_mode():
                out += model(**enc).logits[:, 0].tolist()
        return out

    chosen = scores([(q, c) for q, c, _ in pairs])
    rejected = scores([(q, r) for q, _, r in pairs])
    accuracy = sum(c > r for c, r in zip(chosen, rejected)) / len(pairs)
    rng = random.Random(cfg.seed + 2)
    by_level = {}
    for level in LEVELS:
        s = scores([(q, output_text(level, rng)) for q in queries[:200]])
        by_level[level] = round(sum(s) / len(s), 3)
    return round(accuracy, 4), by_level


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".cache/organism")
    print(build_reward_model(OrganismRmConfig(), EnvConfig(), root))
