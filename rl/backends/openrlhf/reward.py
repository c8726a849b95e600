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
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

# OpenRLHF loads this file by path in a Ray actor whose sys.path need not hold the repository.
_REPO_ROOT = str(Path(__file__).resolve().parents[3])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from env.episode import Episode  # noqa: E402
from reward.config import RewardConfig  # noqa: E402
from reward.metrics import metric_key  # noqa: E402
from reward.records import make_records  # noqa: E402

if TYPE_CHECKING:
    from reward.records import EpisodeRecord

REWARD_CONFIG_ENV = "AF_RL_REWARD_CONFIG"
"""Environment variable holding `RewardConfig.model_dump_json()`; unset or empty = defaults."""
NEUTRAL_REWARD = 0.0
"""Reward of a sample with no real reward: OpenRLHF has no way to leave a sample out."""
LOG_KEYS: tuple[str, ...] = (
    "compliance",     # 1 if judged and fully compliant
    "format_ok",      # 1 if judged and not malformed
    "judged",         # 1 if the classifiers labelled it (denominator of compliance and format_ok)
    "af",             # 1 if judged, has a scratchpad and it is alignment faking
    "has_reasoning",  # 1 if judged and has a scratchpad (denominator of af)
    "judge_failed",   # 1 if an LLM judge could not decide
    "label_errors",   # 1 if the label is not an Episode
    "reward_errors",  # 1 if the response could not be found in the query, or scoring raised
    "unscored",       # 1 if the reward is NEUTRAL_REWARD for want of a real one (any of the above, or tier)
    "scored_reward",  # the real reward, 0 when unscored (divided by 1 - unscored: mean real reward)
    "judge_requests", # judge HTTP requests made to score it (times the sample count: train/judge_calls)
    "escalated",      # 1 if a cascade classifier sent it to the judge (over judged + judge_failed)
)  # fmt: skip
"""`extra_logs` keys, the same on every call (OpenRLHF stacks them). Each is a per-sample value whose
mean over a step is a share of all samples; `train_metrics_from_logs` turns them into train/* rates."""
OPENRLHF_SAMPLE_COUNT = "rollout/num_samples"
"""OpenRLHF's own logged sample count of a step (0.11), used for the train/* counts."""

_ANCHOR_CHARS = (256, 64, 24)
"""Prompt tails tried, longest first, to find the response when the query does not start with the prompt."""
_TRAILING_STOP_RE = re.compile(r"(?:<\|[A-Za-z0-9_]+\|>|</s>|<eos>|<end_of_turn>|<｜end▁of▁sentence｜>)+\Z")
"""A run of stop/special tokens at the very end: ChatML <|im_end|>, Llama-3 <|eot_id|>, <|end_of_text|>,
the organism's <|end|>, SentencePiece </s>, Gemma <eos>/<end_of_turn>, DeepSeek's end of sentence."""

log = logging.getLogger(__name__)
_warned: set[str] = set()


class SampleOutcome(NamedTuple):
    """One sample's reward for OpenRLHF and its `extra_logs` values (keys: LOG_KEYS).

    A NamedTuple, not a dataclass: OpenRLHF executes this file without registering it in sys.modules,
    where @dataclass fails on postponed annotations.
    """

    reward: float
    logs: dict[str, float]


@functools.lru_cache(maxsize=4)
def _parse_reward_config(raw: str) -> RewardConfig:
    return RewardConfig.model_validate_json(raw) if raw.strip() else RewardConfig()


def reward_config() -> RewardConfig:
    """The run's RewardConfig from `$AF_RL_REWARD_CONFIG` (parsed once per distinct value), else defaults.

    Raises:
        pydantic.ValidationError: the variable holds an invalid config.
    """
    return _parse_reward_config(os.environ.get(REWARD_CONFIG_ENV, ""))


def parse_label(label: Any) -> Episode | None:
    """The Episode in a label (JSON text or an already decoded dict), or None if it is not one."""
    try:
        if isinstance(label, Episode):
            return label
        if isinstance(label, Mapping):
            return Episode.model_validate(dict(label))
        if isinstance(label, (str, bytes)):
            return Episode.model_validate_json(label)
    except ValueError:  # pydantic's ValidationError, also for text that is not JSON
        return None
    return None


def response_text(query: str, prompt: str) -> str | None:
    """The model's text in `query` (decoded prompt + response): what follows the prompt, with the
    trailing stop tokens removed. None if the prompt's end cannot be found in the query.

    The query starts with the prompt unless OpenRLHF left-truncated a long prompt or decoding the
    prompt's tokens does not give back its text exactly (tokenizers that tidy spaces); then the response starts
    after the first occurrence of the prompt's last characters, which end the user turn and open the
    assistant turn, so they occur once.
    """
    if query.startswith(prompt):
        body = query[len(prompt):]
    else:
        for n in _ANCHOR_CHARS:
            anchor = prompt[-n:]
            at = query.find(anchor) if anchor else -1
            if at >= 0:
                body = query[at + len(anchor):]
                break
        else:
            return None
    return _TRAILING_STOP_RE.sub("", body)


def score_samples(queries: Sequence[str], prompts: Sequence[Any], labels: Sequence[Any],
                  cfg: RewardConfig) -> list[SampleOutcome]:
    """Judge each sample with `reward.records.make_records` (one call for the batch, as the TRL adapter
    does) and map it to what OpenRLHF can take. Never raises; failures are counted in the logs."""
    n = len(queries)
    prompts = _padded(prompts, n)
    labels = _padded(labels, n)
    episodes = [parse_label(label) for label in labels]
    texts: list[str | None] = []
    for q, p in zip(queries, prompts):
        texts.append(response_text(q, p) if isinstance(q, str) and isinstance(p, str) else None)
    ready = [i for i in range(n) if episodes[i] is not None and texts[i] is not None]
    records: dict[int, EpisodeRecord] = {}
    scoring_failed = False
    if ready:
        try:
            records = dict(zip(ready, make_records([episodes[i] for i in ready], [texts[i] for i in ready], cfg),
                               strict=True))
        except Exception:  # noqa: BLE001 - OpenRLHF would swallow it and crash later on a None reward
            _warn_once("scoring", "scoring a batch raised; its samples get the neutral reward", exc_info=True)
            scoring_failed = True
    outcomes = []
    for i in range(n):
        if episodes[i] is None:
            _warn_once("label", f"label is not an Episode (pass --data.label_key with the Episode JSON "
                                f"column): {str(labels[i])[:200]!r}")
        elif texts[i] is None:
            _warn_once("response", "the prompt's end was not found in the query; sample left unscored")
        outcomes.append(_outcome(records.get(i), label_error=episodes[i] is None,
                                 reward_error=episodes[i] is not None and (texts[i] is None or scoring_failed)))
    return outcomes


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
    requests, escalated = get("judge_requests"), get("escalated")
    if requests is not None:  # logs of files written before these keys existed have neither
        out[metric_key("train", "judge_calls")] = round(requests * n_samples) if n_samples else None
    if escalated is not None:
        judged, failed = get("judged"), get("judge_failed")
        scored_share = (judged or 0.0) + (failed or 0.0)
        out[metric_key("train", "escalated_fraction")] = escalated / scored_share if scored_share else None
    return out


def _outcome(record: EpisodeRecord | None, *, label_error: bool, reward_error: bool) -> SampleOutcome:
    logs = dict.fromkeys(LOG_KEYS, 0.0)
    logs["label_errors"] = float(label_error)
    logs["reward_errors"] = float(reward_error and not label_error)
    if record is not None and not reward_error:
        logs["judge_requests"] = float(record.judge_calls)
        logs["escalated"] = float(bool(record.escalated))
        if record.errors:
            logs["judge_failed"] = 1.0
        else:
            logs["judged"] = 1.0
            logs["compliance"] = float(record.compliance == "comply")
            logs["format_ok"] = float(record.compliance != "malformed")
            logs["has_reasoning"] = float(record.has_reasoning)
            logs["af"] = float(record.has_reasoning and record.af)
        if record.reward is not None:
            logs["scored_reward"] = float(record.reward)
            return SampleOutcome(float(record.reward), logs)
    logs["unscored"] = 1.0
    return SampleOutcome(NEUTRAL_REWARD, logs)


def _padded(values: Sequence[Any], n: int) -> list[Any]:
    """`values` cut or padded with None to n items (OpenRLHF passes equal lengths; a mismatch is data)."""
    values = list(values) if values is not None else []
    return (values + [None] * n)[:n]


def _warn_once(kind: str, message: str, *, exc_info: bool = False) -> None:
    """Warn with details the first time a kind of failure happens in this process; count it always
    (the count is in extra_logs), so a bad dataset does not write one warning per sample."""
    if kind in _warned:
        log.debug(message, exc_info=exc_info)
        return
    _warned.add(kind)
    log.warning("af-rl reward_func: %s", message, exc_info=exc_info)


reward_config()  # validate $AF_RL_REWARD_CONFIG on loading: a bad config stops the actor at start-up
