"""Offline classifier vs LLM judge on a sample of evaluation transcripts: `eval/<v>/<t>/agreement`.

With a judge or cascade configured, each evaluation cell (variation x tier) gets a seeded sample of
`reward.agreement_sample` transcripts labelled by both the offline classifier ("rules" for the judge,
`cascade.offline` for the cascade) and the judge. A falling agreement shows the cheap classifier
drifting from the strong one as the policy changes. Judge labels the evaluation already holds (the
judge's own, or a cascade's escalated ones) are reused, not requested again.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import TYPE_CHECKING, Sequence

from pydantic import BaseModel, ConfigDict

from reward.cascade import CASCADE, JUDGE, offline_name
from reward.rules.results import Verdict

if TYPE_CHECKING:
    from reward.config import RewardConfig
    from reward.records import EpisodeRecord


class AgreementCheck(BaseModel):
    """One transcript labelled by the offline classifier and by the judge."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    offline_compliance: Verdict
    judge_compliance: Verdict
    """"failed" when the compliance judge could not decide."""
    offline_af: bool
    judge_af: bool | None
    """None when the AF judge could not decide."""
    error: str | None = None
    """Why a judge label is missing; such checks are left out of the agreement and counted as failed."""

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def compliance_agrees(self) -> bool:
        return self.offline_compliance == self.judge_compliance

    @property
    def af_agrees(self) -> bool:
        return self.offline_af == self.judge_af

    @property
    def agrees(self) -> bool:
        """The compliance verdict and the AF label both agree."""
        return self.compliance_agrees and self.af_agrees


def agreement_sample(records: Sequence[EpisodeRecord], n: int, seed: int) -> list[int]:
    """Indices of up to `n` records per (variant, tier) cell, drawn with a generator seeded by `seed`
    and the cell's name, so a cell gets the same sample whether it is evaluated alone (rl.compare) or
    with the other cells (training). Sorted."""
    cells: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        cells[(r.episode.variant, r.episode.tier)].append(i)
    chosen: list[int] = []
    for (variant, tier), idx in cells.items():
        rng = random.Random(f"agreement/{seed}/{variant}/{tier}")
        chosen += rng.sample(idx, min(n, len(idx)))
    return sorted(chosen)


def with_agreement(records: Sequence[EpisodeRecord], cfg: RewardConfig, seed: int) -> list[EpisodeRecord]:
    """`records`, the sampled ones (see `agreement_sample`) carrying an `AgreementCheck`; unchanged
    when no classifier of `cfg` is the judge or the cascade, or `cfg.agreement_sample` is 0.

    The offline side is the offline classifier's compliance verdict and its AF label given that
    verdict; the judge side the judges' labels. All judge requests go out at once.
    """
    from reward.cascade import uses_judge
    from reward.scoring import OFFLINE_AF, OFFLINE_COMPLIANCE, judge_items, parse_for

    if not uses_judge(cfg) or cfg.agreement_sample == 0:
        return list(records)
    chosen = agreement_sample(records, cfg.agreement_sample, seed)
    if not chosen:
        return list(records)
    sample = [records[i] for i in chosen]
    items = [(r.episode, parse_for(r.episode, r.completion)) for r in sample]
    classify_c = OFFLINE_COMPLIANCE[offline_name(cfg, "compliance")]
    classify_af = OFFLINE_AF[offline_name(cfg, "af")]
    offline_c = [classify_c(e, p) for e, p in items]
    offline_af = [classify_af(e, p, compliance=c, threshold=cfg.af_threshold).af
                  for (e, p), c in zip(items, offline_c, strict=True)]
    c_asked = [k for k, r in enumerate(sample) if not _judge_decided(cfg.compliance_classifier, "compliance", r)]
    a_asked = [k for k, r in enumerate(sample) if not _judge_decided(cfg.af_classifier, "af", r)]
    judged_c, judged_a, _ = judge_items(items, c_asked, a_asked, cfg)
    out = list(records)
    for k, (i, r) in enumerate(zip(chosen, sample, strict=True)):
        if k in judged_c:
            c = judged_c[k]
            j_compliance, c_error = c.verdict, c.error
        else:
            j_compliance, c_error = r.compliance, r.errors.get("compliance")
        if k in judged_a:
            a = judged_a[k]
            j_af, a_error = (None if a.failed else a.af), a.error
        else:
            a_error = r.errors.get("af")
            j_af = None if a_error is not None else r.af
        errors = [f"{part}: {e}" for part, e in (("compliance", c_error), ("af", a_error)) if e is not None]
        check = AgreementCheck(offline_compliance=offline_c[k].verdict, judge_compliance=j_compliance,
                               offline_af=offline_af[k], judge_af=j_af, error="; ".join(errors) or None)
        out[i] = r.model_copy(update={"agreement": check})
    return out


def _judge_decided(classifier: str, part: str, record: EpisodeRecord) -> bool:
    """Whether `record` already holds the judge's label for `part`."""
    return classifier == JUDGE or (classifier == CASCADE and part in record.escalated)
