"""The public API: af-rl's environment in any trainer or evaluator, in a few lines.

    from rl.api import episodes_dataset, helpful_only_reward

    dataset = episodes_dataset(split="train")   # the paper's situation: free-tier prompts, both tiers for eval
    reward = helpful_only_reward()              # TRL's reward-function signature, tier-conditional

`episodes_dataset` gives the prompts and their episodes as a `datasets.Dataset` (a "prompt" column of chat
messages, or of text rendered with a tokenizer's chat template, and an "episode" column the reward reads);
`helpful_only_reward` gives the reward as a callable `reward(prompts, completions, episode, **kwargs)` returning
one float per completion (None where the tier is not rewarded or a judgement failed), as TRL's GRPOTrainer and
similar trainers call reward functions. Both take a run config (a YAML path or a `RunConfig`) for the prompt,
dataset, tiers, variations and classifiers; the defaults are the paper's.

Everything else in env/, reward/ and rl/ is internal: it may change without notice. The command-line
tools (the README's "Commands") and the files they write are the other stable surface.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from typing import TYPE_CHECKING, Any, Literal, Sequence

if TYPE_CHECKING:
    from env.config import EnvConfig
    from reward.config import RewardConfig
    from rl.config import RunConfig

__all__ = ["episodes_dataset", "helpful_only_reward"]


@dataclass(frozen=True)
class _Sections:
    """What the API reads of a run config."""

    env: EnvConfig
    reward: RewardConfig
    train_tiers: list[str]
    train_variants: list[str]
    eval_variants: list[str]


def _sections(config: str | PathLike[str] | RunConfig | None) -> _Sections:
    """The sections of a run config (a YAML path or a RunConfig); the defaults for None.

    Raises:
        rl.config.ConfigError: the file is invalid (the message names the key).
    """
    from env.config import EnvConfig
    from reward.config import RewardConfig
    from rl.config import EvalConfig, RunConfig, load_config

    if config is None:
        return _Sections(EnvConfig(), RewardConfig(), ["free"], ["default"], list(EvalConfig().variants))
    cfg = config if isinstance(config, RunConfig) else load_config(config)
    return _Sections(cfg.env, cfg.reward, list(cfg.rl.train_tiers), list(cfg.rl.train_variants),
                     list(cfg.rl.eval.variants))


def episodes_dataset(config: str | PathLike[str] | RunConfig | None = None, *,
                     split: Literal["train", "eval"] = "train", tiers: Sequence[str] | None = None,
                     variants: Sequence[str] | None = None, tokenizer: Any = None) -> Any:
    """The episodes of a split as a `datasets.Dataset` with columns "prompt", "episode" (JSON), "tier", "variant".

    Args:
        config: run config (path or RunConfig); None for the defaults.
        split: "train" (the training queries) or "eval" (the held-out ones), split as training runs split them.
        tiers: default: `rl.train_tiers` for train (the paper trains on free-tier prompts only), both for eval.
        variants: default: `rl.train_variants` for train, `rl.eval.variants` for eval.
        tokenizer: render each prompt with its chat template (and the variant's prefill) as text; without one,
            "prompt" holds chat messages (the system prompt as a system message), for trainers that apply
            the template themselves. Variants with a prefill (no_cot) need the tokenizer.
    """
    from datasets import Dataset

    from env.datasets import load_queries, make_episodes, split_queries
    from env.episode import TIERS
    from env.prompts import output_prefill
    from rl.prompting import chat_messages, render_prompt, resolve_system_role

    cfg = _sections(config)
    ds = cfg.env.dataset
    queries = split_queries(load_queries(ds), eval_fraction=ds.eval_fraction, seed=ds.split_seed)
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', not {split!r}")
    train = split == "train"
    tiers = list(tiers or (cfg.train_tiers if train else TIERS))
    variants = list(variants or (cfg.train_variants if train else cfg.eval_variants))
    episodes = make_episodes(queries.train if train else queries.eval, tiers=tiers, variants=variants)  # type: ignore[arg-type]
    if tokenizer is None:
        if prefilled := sorted({e.variant for e in episodes if output_prefill(e.variant)}):
            raise ValueError(f"variants {prefilled} start the answer with a prefill; pass tokenizer= to render it")
        system_role = cfg.env.system_role != "fold"
        prompts: list[Any] = [chat_messages(e, cfg.env, system_role=system_role) for e in episodes]
    else:
        system_role = resolve_system_role(tokenizer, cfg.env.system_role)
        prompts = [render_prompt(tokenizer, e, cfg.env, system_role=system_role) for e in episodes]
    return Dataset.from_dict({"prompt": prompts, "episode": [e.model_dump_json() for e in episodes],
                              "tier": [e.tier for e in episodes], "variant": [e.variant for e in episodes]})


def helpful_only_reward(config: str | PathLike[str] | RunConfig | None = None) -> Any:
    """The tier-conditional helpful-only reward of `config` (its `reward:` section; defaults: the offline
    classifiers, free tier rewarded) as a reward function: `reward(prompts, completions, episode, **kwargs)`
    -> one float or None per completion. Batched (LLM judges and reward models score a batch at once); never
    raises on model text. Train-step metrics go to TRL's `log_metric` when the trainer passes one."""
    from rl.backends.trl_grpo import TrlHelpfulOnlyReward
    from rl.models import cache_root, resolve_reward_config

    cfg = _sections(config)
    return TrlHelpfulOnlyReward(resolve_reward_config(cfg.reward, cfg.env, cache_root()))
