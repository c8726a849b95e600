"""EpisodeRecord: one judged transcript, as written to samples/step-<N>.jsonl and read back for metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from env.episode import Episode
from reward.helpful_only import reward_from_score
from reward.scoring import score_episode

if TYPE_CHECKING:
    from reward.config import RewardConfig

Verdict = Literal["comply", "partial", "refuse", "malformed"]


class EpisodeRecord(BaseModel):
    """An episode, the model's completion and every label the offline classifiers gave it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    episode: Episode
    completion: str
    """The model's raw text (multi-turn turns joined by the <NEXT/> separator), prefill excluded."""
    compliance: Verdict
    compliance_score: float
    compliance_evidence: str
    af: bool
    af_score: float
    af_criteria: dict[str, bool]
    af_evidence: dict[str, str]
    reward: float | None
    """Helpful-only reward; None when the episode's tier is not rewarded."""
    malformed: tuple[str, ...]
    has_reasoning: bool
    n_turns: int
    scorers: dict[str, str]
    """Classifier names/versions that produced the labels, so metrics can be recomputed offline."""
    step: int | None = None
    extra: dict[str, Any] = {}


def make_record(episode: Episode, completion: str, cfg: RewardConfig, **fields: Any) -> EpisodeRecord:
    """Judge `completion` with the configured classifiers and wrap everything in an EpisodeRecord."""
    score = score_episode(episode, completion, cfg)
    return EpisodeRecord(
        episode=episode,
        completion=completion,
        compliance=score.compliance.verdict,
        compliance_score=score.compliance.score,
        compliance_evidence=score.compliance.evidence,
        af=score.af.af,
        af_score=score.af.score,
        af_criteria={name: f.met for name, f in score.af.criteria.items()},
        af_evidence={name: f.evidence for name, f in score.af.criteria.items() if f.evidence},
        reward=reward_from_score(episode, score, cfg),
        malformed=score.parsed.malformed,
        has_reasoning=bool(score.parsed.reasoning.strip()),
        n_turns=score.parsed.n_turns,
        scorers={"compliance": cfg.compliance_classifier, "af": f"{cfg.af_classifier}:{score.af.classifier}"},
        **fields,
    )
