"""Startup check of the judge endpoint (`env.llm.probe`'s one tiny chat completion) before any model
loads, with the judges' wording: the message names `reward.judge`'s keys and how to skip the check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from env.llm.probe import ProbeError, ProbeResult, probe_endpoint
from reward.judges.config import JudgeConfig

if TYPE_CHECKING:
    from reward.config import RewardConfig


class JudgeProbeError(RuntimeError):
    """The judge endpoint cannot serve the judges. The message names the endpoint (base_url), the model
    and the cause (e.g. "connection refused", "HTTP 401 Unauthorized: <server's message>"); never the key."""


def needs_judge(cfg: RewardConfig) -> bool:
    """True when either classifier may call the LLM judge: "judge", or "cascade" (for uncertain items)."""
    from reward.cascade import uses_judge

    return uses_judge(cfg)


def probe_reward_judge(cfg: RewardConfig) -> ProbeResult | None:
    """Probe `cfg.judge` when a classifier of `cfg` is the judge and `cfg.judge.probe` is on; else None.

    Raises:
        JudgeProbeError: see `probe_judge`.
    """
    if not needs_judge(cfg) or not cfg.judge.probe:
        return None
    return probe_judge(cfg.judge)


def probe_judge(cfg: JudgeConfig) -> ProbeResult:
    """Send one 1-token chat completion to the judge endpoint (`env.llm.probe.probe_endpoint`: what fails
    at once, what gets one retry, when a rate limit only warns).

    Raises:
        JudgeProbeError: the endpoint cannot serve the judges; the message never holds the key.
    """
    try:
        return probe_endpoint(cfg)
    except ValueError as e:  # an unreadable api_key_file
        raise JudgeProbeError(f"reward.{e}") from None
    except ProbeError as e:
        raise JudgeProbeError(
            f"reward.judge: the judge endpoint {cfg.base_url} (model {cfg.model}) failed the startup probe: "
            f"{e.cause}. Fix reward.judge.base_url/model/key or start the server; reward.judge.probe=false skips "
            f"this check") from None
