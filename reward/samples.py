"""Scoring samples the way reward servers are called (OpenRLHF's reward-function file and remote-RM protocol):
decoded prompt + response text, the prompt, and a label holding the Episode JSON, to one reward per sample
and per-sample log values. Used by rl/backends/openrlhf/reward.py and agent.py (the file OpenRLHF loads) and
by `python -m reward.serve`. Never raises on a sample: what cannot be scored gets NEUTRAL_REWARD and counts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from env.episode import Episode
from reward.records import make_records

if TYPE_CHECKING:
    from reward.config import RewardConfig
    from reward.records import EpisodeRecord

log = logging.getLogger(__name__)
_warned: set[str] = set()

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
    "rm_scored",      # the reward model's raw score of a rewarded sample it scored, else 0 (over has_rm: train/rm_score)
    "has_rm",         # 1 if a rewarded sample got a reward-model score
    "rm_errors",      # 1 if the reward model failed to score it
    "judge_requests", # judge HTTP requests made to score it (times the sample count: train/judge_calls)
    "escalated",      # 1 if a cascade classifier sent it to the judge (over judged + judge_failed)
)  # fmt: skip
"""`extra_logs` keys, the same on every call (OpenRLHF stacks them). Each is a per-sample value whose
mean over a step is a share of all samples; `train_metrics_from_logs` turns them into train/* rates."""
_ANCHOR_CHARS = (256, 64, 24)
"""Prompt tails tried, longest first, to find the response when the query does not start with the prompt."""
_TRAILING_STOP_RE = re.compile(r"(?:<\|[A-Za-z0-9_]+\|>|</s>|<eos>|<end_of_turn>|<｜end▁of▁sentence｜>)+\Z")
"""A run of stop/special tokens at the very end: ChatML <|im_end|>, Llama-3 <|eot_id|>, <|end_of_text|>,
the organism's <|end|>, SentencePiece </s>, Gemma <eos>/<end_of_turn>, DeepSeek's end of sentence."""

class SampleOutcome(NamedTuple):
    """One sample's reward for OpenRLHF and its `extra_logs` values (keys: LOG_KEYS).

    A NamedTuple, not a dataclass: OpenRLHF executes this file without registering it in sys.modules,
    where @dataclass fails on postponed annotations.
    """

    reward: float
    logs: dict[str, float]


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


def _outcome(record: EpisodeRecord | None, *, label_error: bool, reward_error: bool) -> SampleOutcome:
    logs = dict.fromkeys(LOG_KEYS, 0.0)
    logs["label_errors"] = float(label_error)
    logs["reward_errors"] = float(reward_error and not label_error)
    if record is not None and not reward_error:
        logs["judge_requests"] = float(record.judge_calls)
        logs["rm_errors"] = float(record.rm_error is not None)
        if record.reward is not None and record.rm_score is not None:
            logs["has_rm"] = 1.0
            logs["rm_scored"] = float(record.rm_score)
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
