"""OpenRLHF reward function file: `--reward.remote_url rl/backends/openrlhf/reward.py --data.label_key episode`.

OpenRLHF (read in 0.10.2 to 0.11.2, `openrlhf/utils/agent.py`, `SingleTurnAgentExecutor`) loads this file
by path with importlib inside every vLLM rollout actor and, after each completion is generated, calls
`reward_func(queries=[query], prompts=[prompt], labels=[label])` for that ONE sample, in a worker thread
(`asyncio.to_thread`), so calls run concurrently:
- `query`: `tokenizer.decode(prompt_ids + response_ids, skip_special_tokens=False)`, where prompt_ids
  tokenize `prompt` without adding special tokens and may be left-truncated to fit `--data.max_len`;
  it ends with the stop token (`<|im_end|>`, `<|eot_id|>`, ...) unless generation hit the length limit.
- `prompt`: the dataset's prompt text (after `--data.apply_chat_template`, if set).
- `label`: the dataset's `--data.label_key` column as stored: here the Episode JSON (a string, or a dict
  when the JSON-lines file nests it); "" when no label key is given.
It returns `{"rewards", "scores", "extra_logs"}` with float32 tensors of one value per sample; OpenRLHF
keeps `rewards` for training, `scores` for `--algo.dynamic_filtering_enable` (the same values here) and
copies each `extra_logs` value into the sample's `info`.

What OpenRLHF cannot do, and what this file does instead:
- It swallows an exception from `reward_func` (logged at INFO) and leaves the sample's reward None,
  which later breaks batching. So `reward_func` never raises: a bad label, an unlocatable response or
  a scoring error gives `NEUTRAL_REWARD` and is counted in `extra_logs`.
- It has no "unscored" reward (None fails, NaN poisons the group baseline and the advantage whitening).
  An unrewarded tier or a failed judgement therefore gets `NEUTRAL_REWARD` (0.0, the same as a refusal
  by default) and counts in `unscored`; keep unrewarded tiers out of the training prompts.
- It averages every `extra_logs` key over the samples of a step (weighted by sample count, across
  ranks) and W&B logs it as `train/<key>`. A rate whose denominator is a subset (AF among judged
  transcripts with a scratchpad) cannot be one per-sample value, so numerator and denominator are
  logged as two shares of the batch and `train_metrics_from_logs` divides them (see `LOG_KEYS`).
  Keys carry no `train/` prefix because OpenRLHF's W&B logger adds it.
- Multi-turn: this file scores one generation. The paper's `<NEXT/>` continuation (env.max_turns > 1,
  the default) goes through OpenRLHF's agent interface instead: rl/backends/openrlhf/agent.py, loaded
  with --train.agent_func_path, continues each conversation and scores the joined turns with
  `score_samples` from this file. OpenRLHF then never calls this file (remote_url becomes "agent").
Special tokens inside the response stay (TRL's decode drops them); only the trailing stop tokens go.
A bad `$AF_RL_REWARD_CONFIG` raises on loading, so the rollout actors fail at start-up, not silently.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# OpenRLHF loads this file by path in a Ray actor whose sys.path need not hold the repository.
_REPO_ROOT = str(Path(__file__).resolve().parents[3])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from reward.config import RewardConfig  # noqa: E402
from reward.metrics import metric_key  # noqa: E402
from reward.samples import (  # noqa: E402,F401 - the sample scoring lives in reward/; re-exported for OpenRLHF's side
    LOG_KEYS, NEUTRAL_REWARD, SampleOutcome, _outcome, _warn_once, parse_label, response_text, score_samples,
)

REWARD_CONFIG_ENV = "AF_RL_REWARD_CONFIG"
"""Environment variable holding `RewardConfig.model_dump_json()`; unset or empty = defaults."""
OPENRLHF_SAMPLE_COUNT = "rollout/num_samples"
"""OpenRLHF's own logged sample count of a step (0.11), used for the train/* counts."""

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def _parse_reward_config(raw: str) -> RewardConfig:
    return RewardConfig.model_validate_json(raw) if raw.strip() else RewardConfig()


def reward_config() -> RewardConfig:
    """The run's RewardConfig from `$AF_RL_REWARD_CONFIG` (parsed once per distinct value), else defaults.

    Raises:
        pydantic.ValidationError: the variable holds an invalid config.
    """
    return _parse_reward_config(os.environ.get(REWARD_CONFIG_ENV, ""))


def reward_func(queries: Sequence[str], prompts: Sequence[Any], labels: Sequence[Any], **kwargs: Any) -> dict[str, Any]:
    """OpenRLHF's reward entry point (see the module docstring): one float32 value per query in
    `rewards` and `scores`, and `extra_logs` with every key of LOG_KEYS. Never raises."""
    import torch

    n = len(queries)
    try:
        outcomes = score_samples(queries, prompts, labels, reward_config())
    except Exception:  # noqa: BLE001 - e.g. a config changed after loading; never leave OpenRLHF a None
        _warn_once("reward_func", "reward_func failed; the batch gets the neutral reward", exc_info=True)
        outcomes = [_outcome(None, label_error=False, reward_error=True) for _ in range(n)]
    rewards = torch.tensor([o.reward for o in outcomes], dtype=torch.float32)
    return {
        "rewards": rewards,
        "scores": rewards.clone(),
        "extra_logs": {k: torch.tensor([o.logs[k] for o in outcomes], dtype=torch.float32) for k in LOG_KEYS},
    }


def train_metrics_from_logs(logs: Mapping[str, float], n_samples: float | None = None) -> dict[str, float | int | None]:
    """The train/* metrics of `reward.metrics.train_metrics` from OpenRLHF's step means of LOG_KEYS.

    Args:
        logs: OpenRLHF's logged status of one step; keys bare (`compliance`) or as W&B has them
            (`train/compliance`).
        n_samples: samples in the step, for the counts; default `rollout/num_samples` from `logs`.
    Returns:
        train/reward (mean over scored samples), train/compliance and train/format_ok (over judged),
        train/af_rate (over judged samples with a scratchpad), and the counts train/unscored,
        train/judge_failed, train/label_errors, train/reward_errors and, when `logs` has their keys,
        train/judge_calls and train/escalated_fraction (over the samples the classifiers scored: judged +
        judge_failed). None where a denominator is 0, a key is missing, or (counts) the sample count is
        unknown.
    """
    def get(key: str) -> float | None:
        for k in (key, metric_key("train", key)):
            if k in logs and logs[k] is not None:
                return float(logs[k])
        return None

    def ratio(num: str, den: str) -> float | None:
        a, b = get(num), get(den)
        return a / b if a is not None and b else None

    if n_samples is None:
        n_samples = get(OPENRLHF_SAMPLE_COUNT)
    unscored, scored = get("unscored"), get("scored_reward")
    mean_reward = scored / (1 - unscored) if scored is not None and unscored is not None and unscored < 1 else None
    out: dict[str, float | int | None] = {
        metric_key("train", "reward"): mean_reward,
        metric_key("train", "compliance"): ratio("compliance", "judged"),
        metric_key("train", "af_rate"): ratio("af", "has_reasoning"),
        metric_key("train", "format_ok"): ratio("format_ok", "judged"),
    }
    for name in ("unscored", "judge_failed", "label_errors", "reward_errors"):
        share = get(name)
        out[metric_key("train", name)] = round(share * n_samples) if share is not None and n_samples else None
    has_rm, rm_errors = get("has_rm"), get("rm_errors")
    if has_rm is not None:  # a reward model scored this run's samples (logs from before it have no such key)
        out[metric_key("train", "rm_score")] = ratio("rm_scored", "has_rm")
        out[metric_key("train", "rm_errors")] = round(rm_errors * n_samples) if rm_errors is not None and n_samples else None
    requests, escalated = get("judge_requests"), get("escalated")
    if requests is not None:  # logs of files written before these keys existed have neither
        out[metric_key("train", "judge_calls")] = round(requests * n_samples) if n_samples else None
    if escalated is not None:
        judged, failed = get("judged"), get("judge_failed")
        scored_share = (judged or 0.0) + (failed or 0.0)
        out[metric_key("train", "escalated_fraction")] = escalated / scored_share if scored_share else None
    return out


reward_config()  # validate $AF_RL_REWARD_CONFIG on loading: a bad config stops the actor at start-up
