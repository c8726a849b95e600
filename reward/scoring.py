"""Scores one completion once: parse, then the configured compliance and AF classifiers.

The reward and every metric start from `score_episode`, so training and evaluation judge alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from env.prompts import output_prefill
from env.transcript import ParsedCompletion, parse_completion
from reward.af_reasoning import AfResult, score_af_reasoning
from reward.compliance import ComplianceResult, score_compliance

if TYPE_CHECKING:
    from env.episode import Episode
    from reward.config import RewardConfig

COMPLIANCE_CLASSIFIERS: dict[str, Callable[..., ComplianceResult]] = {"rules": score_compliance}
AF_CLASSIFIERS: dict[str, Callable[..., AfResult]] = {"rules": score_af_reasoning}


@dataclass(frozen=True)
class EpisodeScore:
    """Everything the offline classifiers say about one completion."""

    parsed: ParsedCompletion
    compliance: ComplianceResult
    af: AfResult


def score_parsed(episode: Episode | None, parsed: ParsedCompletion, cfg: RewardConfig) -> EpisodeScore:
    """Run the configured classifiers on an already parsed completion. Never raises on model text."""
    compliance = COMPLIANCE_CLASSIFIERS[cfg.compliance_classifier](episode, parsed)
    af = AF_CLASSIFIERS[cfg.af_classifier](episode, parsed, threshold=cfg.af_threshold)
    return EpisodeScore(parsed=parsed, compliance=compliance, af=af)


def score_episode(episode: Episode, completion: str, cfg: RewardConfig) -> EpisodeScore:
    """Parse `completion` (after the variant's prefill, e.g. "<OUTPUT>" for no_cot) and classify it."""
    parsed = parse_completion(completion, prefill=output_prefill(episode.variant))
    return score_parsed(episode, parsed, cfg)
