"""EpisodeRecord: one judged transcript, as written to samples/step-<N>.jsonl and read back for metrics."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal, Sequence

from pydantic import BaseModel, ConfigDict

from env.episode import Episode
from reward.af_reasoning import AfKind
from reward.agreement import AgreementCheck
from reward.compliance import Verdict
from reward.helpful_only import reward_from_score, rm_term
from reward.scoring import EpisodeScore, score_episodes

if TYPE_CHECKING:
    from reward.config import RewardConfig


class EpisodeRecord(BaseModel):
    """An episode, the model's completion and every label the offline classifiers gave it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    episode: Episode
    completion: str
    """The model's raw text (multi-turn turns joined by the <NEXT/> separator), prefill excluded."""
    compliance: Verdict
    """A label, or "failed" when a judge could not decide (see `errors`)."""
    compliance_score: float | None
    """None when the compliance judgement failed."""
    compliance_evidence: str
    af: bool
    """False also when the AF judgement failed; read `errors` (metrics leave failed records out)."""
    af_score: float | None
    """None when the AF judgement failed."""
    af_criteria: dict[str, bool]
    af_evidence: dict[str, str]
    af_kind: AfKind = "none"
    """"full" (AF, output fully complies), "partial" (AF, compromised output) or "none"."""
    self_preservation: bool = False
    """Generic self-preservation reasoning, flagged apart from AF."""
    errors: dict[str, str] = {}
    """Why a judgement failed, by classifier ("compliance", "af"); empty when everything was judged."""
    reward: float | None
    """Helpful-only reward; None when the episode's tier is not rewarded or a judgement it needs failed."""
    malformed: tuple[str, ...]
    has_reasoning: bool
    n_turns: int
    scorers: dict[str, str]
    """Classifier names/versions that produced the labels, so metrics can be recomputed offline."""
    judge_calls: int = 0
    """HTTP requests sent to the LLM judge to label this transcript (votes and retries; cache hits are free)."""
    escalated: tuple[Literal["compliance", "af"], ...] = ()
    """The labels a "cascade" classifier left to the judge (its offline classifier was unsure)."""
    rm_score: float | None = None
    """The reward model's raw score of the output (`reward.model` set, output present, scoring succeeded)."""
    rm_high: bool | None = None
    """Whether the normalised RM score reaches `reward.model.high_score` (None without an RM score)."""
    rm_error: str | None = None
    """Why the reward model gave no score (the output had one to score); its label stays usable."""
    agreement: AgreementCheck | None = None
    """On evaluation transcripts sampled for `eval/<v>/<t>/agreement`: the offline and the judge labels."""
    step: int | None = None
    extra: dict[str, Any] = {}


def record_from_score(
    episode: Episode, completion: str, score: EpisodeScore, cfg: RewardConfig, **fields: Any
) -> EpisodeRecord:
    """Wrap one scored completion in an EpisodeRecord."""
    scorers = {"compliance": score.compliance.classifier, "af": score.af.classifier}
    rm_fields: dict[str, Any] = {}
    if cfg.model is not None:
        scorers["rm"] = _rm_name(cfg)
        r = rm_term(score, cfg)
        rm_fields = {"rm_score": score.rm.score if score.rm is not None else None,
                     "rm_high": None if r is None else r >= cfg.model.high_score,
                     "rm_error": score.rm.error if score.rm is not None else None}
    return EpisodeRecord(
        episode=episode,
        completion=completion,
        compliance=score.compliance.verdict,
        compliance_score=_none_if_nan(score.compliance.score),
        compliance_evidence=score.compliance.evidence,
        af=score.af.af,
        af_score=_none_if_nan(score.af.score),
        af_criteria={name: f.met for name, f in score.af.criteria.items()},
        af_evidence={name: f.evidence for name, f in score.af.criteria.items() if f.evidence},
        af_kind=score.af.kind,
        self_preservation=score.af.self_preservation.met,
        errors=score.errors,
        reward=reward_from_score(episode, score, cfg),
        malformed=score.parsed.malformed,
        has_reasoning=bool(score.parsed.reasoning.strip()),
        n_turns=score.parsed.n_turns,
        scorers=scorers,
        judge_calls=score.judge_calls,
        escalated=score.escalated,
        **rm_fields,
        **fields,
    )


def _rm_name(cfg: RewardConfig) -> str:
    """What scored as the reward model, for `scorers["rm"]`."""
    m = cfg.model
    assert m is not None
    what = {"url": m.url, "name_or_path": m.name_or_path, "judge": f"judge:{cfg.judge.model}:helpfulness_v1"}
    return f"rm:{what.get(m.source, m.source)}:{m.normalize}"


def _none_if_nan(x: float) -> float | None:
    """A failed judgement's score is nan; records hold None instead (JSON has no nan)."""
    return None if math.isnan(x) else x


def make_records(
    episodes: Sequence[Episode], completions: Sequence[str], cfg: RewardConfig, **fields: Any
) -> list[EpisodeRecord]:
    """Judge a batch of completions with the configured classifiers (judges run concurrently over the
    batch) and wrap each in an EpisodeRecord; `fields` go into every record."""
    scores = score_episodes(episodes, completions, cfg)
    return [record_from_score(e, c, s, cfg, **fields) for e, c, s in zip(episodes, completions, scores, strict=True)]


def failed_record(episode: Episode, why: str, part: str = "generation", **fields: Any) -> EpisodeRecord:
    """The record of an episode with no completion to judge (the model's endpoint did not answer): no
    label, no reward, `errors[part]` says why; metrics count it in `failed` and leave it out of every rate."""
    return EpisodeRecord(episode=episode, completion="", compliance="failed", compliance_score=None,
                         compliance_evidence="", af=False, af_score=None, af_criteria={}, af_evidence={},
                         errors={part: why}, reward=None, malformed=(), has_reasoning=False, n_turns=0, scorers={},
                         **fields)


class JudgeUnavailableError(RuntimeError):
    """Every judgement of a batch failed: the LLM judge is down or unreachable, so there are no rewards."""


def raise_if_judge_down(records: Sequence[EpisodeRecord], cfg: RewardConfig) -> None:
    """Stop a training or evaluation step in which the judge was asked and answered nothing (every
    request failed after the client's retries).

    Single failures are counted and the step goes on (no reward, `failed` in the metrics); a batch with
    no judgement at all means the judge is down, and training on it would mean training on nothing.
    Labels given without asking the judge (a hard-malformed output is "malformed", a completion without
    a scratchpad has no AF) say nothing about the judge, so they don't keep a batch alive.
    """
    asked = answered = 0
    last = ""
    for r in records:
        for part, judged in (("compliance", _judged(cfg.compliance_classifier, "compliance", r)
                              and r.compliance != "malformed"),
                             ("af", _judged(cfg.af_classifier, "af", r) and r.has_reasoning)):
            if part in r.errors:
                asked, last = asked + 1, r.errors[part]
            elif judged:
                asked, answered = asked + 1, answered + 1
    if asked and not answered:
        raise JudgeUnavailableError(
            f"reward.judge: all {asked} judgements of this batch ({len(records)} transcripts) failed after retries "
            f"(last error: {last}); the judge at {cfg.judge.base_url} (model {cfg.judge.model}) looks down or "
            f"unreachable. Stopping instead of training on missing rewards: fix the endpoint or key and rerun "
            f"(the run resumes from its last checkpoint)")


def _judged(classifier: str, part: Literal["compliance", "af"], record: EpisodeRecord) -> bool:
    """Whether the judge was asked for `part` of `record`: always by "judge", when escalated by "cascade"."""
    return classifier == "judge" or (classifier == "cascade" and part in record.escalated)
