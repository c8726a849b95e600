"""Reward models: a score of how helpfully an output answers the user's request, from a local
sequence-classification model, a remote one (OpenRLHF's protocol), or the LLM judge's helpfulness rubric.

`scorer_for` makes one scorer per configuration and process; heavy imports (torch, transformers, ray)
happen only there. The scorers see the request and the <OUTPUT> text only, never the scratchpad.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from reward.rm.base import Pair, RewardModelError, RewardScorer, RmResult
from reward.rm.config import RewardModelConfig

if TYPE_CHECKING:
    from reward.judges.config import JudgeConfig

__all__ = ["Pair", "RewardModelConfig", "RewardModelError", "RewardScorer", "RmResult", "check_reward_model",
           "scorer_for"]

_SCORERS: dict[tuple[RewardModelConfig, JudgeConfig], RewardScorer] = {}
_LOCK = threading.Lock()


def scorer_for(model: RewardModelConfig, judge: JudgeConfig) -> RewardScorer:
    """The scorer of `model` (judge: on the endpoint of `judge`), made once per process and reused.

    Raises:
        RewardModelError: the model cannot be loaded (see `check_reward_model`), or `organism` is still
            unresolved (rl/ builds the organism's reward model and names its directory in `name_or_path`).
    """
    with _LOCK:
        key = (model, judge)
        if key not in _SCORERS:
            _SCORERS[key] = _make(model, judge)
        return _SCORERS[key]


def _make(model: RewardModelConfig, judge: JudgeConfig) -> RewardScorer:
    if model.source == "url":
        from reward.rm.remote import RemoteScorer

        return RemoteScorer(model)
    if model.source == "judge":
        from reward.rm.judge import HelpfulnessJudge
        from reward.scoring import judges_for

        compliance_judge, _ = judges_for(judge)  # share the judges' client and cache
        return HelpfulnessJudge(judge, model.judge_votes, client=compliance_judge.client,
                                cache=compliance_judge.cache)
    if model.source == "organism":
        raise RewardModelError("reward.model.organism: the organism's reward model is built by the training run "
                               "(rl/train.py); elsewhere name its directory in reward.model.name_or_path")
    if model.placement == "actor":
        from reward.rm.actor import ActorScorer

        return ActorScorer(model)
    from reward.rm.local import SeqClsScorer

    return SeqClsScorer(model)


def check_reward_model(model: RewardModelConfig, judge: JudgeConfig) -> str:
    """Before any policy loads: a local model must be a sequence-classification model, a remote one must
    answer a request, the judge's endpoint must answer its probe. Returns a line saying what was checked.

    Raises:
        RewardModelError: the check failed; the message names the config key and the cause.
    """
    if model.source == "name_or_path":
        assert model.name_or_path is not None
        from reward.rm.local import check_seq_cls

        check_seq_cls(model.name_or_path)
        return f"reward model {model.name_or_path}: a sequence-classification model"
    if model.source == "url":
        from reward.rm.remote import probe_remote

        seconds = probe_remote(model)
        return f"reward model {model.url} answered the probe in {seconds:.2f}s"
    if model.source == "judge":
        from reward.judges.probe import JudgeProbeError, probe_judge

        try:
            seconds = probe_judge(judge).seconds
        except (JudgeProbeError, ValueError) as e:
            raise RewardModelError(f"reward.model.judge: {e}") from None
        return f"reward model: the judge {judge.base_url} (model {judge.model}) answered the probe in {seconds:.2f}s"
    return "reward model: the organism's (built by the run)"
