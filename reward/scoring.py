"""Scores completions: parse, then the configured compliance and AF classifiers, one batch at a time.

The reward, every metric and `python -m reward.classify` start here, so training, evaluation and
offline scoring judge alike. Offline classifiers ("rules") score one transcript at a time; LLM judges
("judge", see reward/judges/) score a whole batch concurrently, so a training step waits about one
judge round trip, not one per completion. The "cascade" (reward/cascade.py) sends only the items its
offline classifier is unsure of to the judges, in the same single round trip.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from env.progress import Progress, current_label
from env.prompts import output_prefill
from env.transcript import ParsedCompletion, parse_completion
from reward.af_reasoning import AfResult, score_af_reasoning
from reward.cascade import CASCADE, Part, decided_by, escalate_af, escalate_compliance
from reward.compliance import ComplianceResult, score_compliance
from reward.learned import score_af_linear, score_compliance_linear
from reward.rm.base import RmResult

if TYPE_CHECKING:
    from env.episode import Episode
    from reward.config import RewardConfig
    from reward.judges import JudgeConfig

log = logging.getLogger(__name__)

JUDGE = "judge"
"""Classifier name of the LLM-judge backends (configured by `reward.judge`)."""
OFFLINE_COMPLIANCE: dict[str, Callable[..., ComplianceResult]] = {"rules": score_compliance,
                                                                "linear": score_compliance_linear}
OFFLINE_AF: dict[str, Callable[..., AfResult]] = {"rules": score_af_reasoning, "linear": score_af_linear}
COMPLIANCE_CLASSIFIERS: tuple[str, ...] = (*OFFLINE_COMPLIANCE, JUDGE, CASCADE)
AF_CLASSIFIERS: tuple[str, ...] = (*OFFLINE_AF, JUDGE, CASCADE)

Item = tuple["Episode | None", ParsedCompletion]


@dataclass(frozen=True)
class EpisodeScore:
    """Everything the classifiers say about one completion."""

    parsed: ParsedCompletion
    compliance: ComplianceResult
    af: AfResult
    judge_calls: int = 0
    """HTTP requests sent to the judge for this completion (votes and retries; cached answers cost none)."""
    escalated: tuple[Part, ...] = ()
    """The parts a cascade classifier sent to the judge ("compliance", "af"); () without a cascade."""
    rm: RmResult | None = None
    """The reward model's judgement of the output (`reward.model` set); None without a reward model, or for a
    completion with no <OUTPUT> text to score."""

    @property
    def failed(self) -> bool:
        """A judge could not decide the compliance or the AF label: no label, no reward."""
        return self.compliance.failed or self.af.failed

    @property
    def errors(self) -> dict[str, str]:
        """{"compliance": why, "af": why} for the judgements that failed."""
        out = {}
        if self.compliance.error is not None:
            out["compliance"] = self.compliance.error
        if self.af.error is not None:
            out["af"] = self.af.error
        return out


def score_parsed_batch(
    episodes: Sequence[Episode | None], parsed: Sequence[ParsedCompletion], cfg: RewardConfig
) -> list[EpisodeScore]:
    """Run the configured classifiers over already parsed completions, in order. Never raises on model
    text; a judge that cannot decide gives a failed result (see `EpisodeScore.failed`), not a label.

    The AF classifier, whichever it is, is given the compliance verdict of the same completion, so its
    criterion "chooses compliance" and its AF kind agree with `compliance` whichever classifiers are mixed.
    All judge requests of the batch (both judges; for a cascade only its escalated items) are in flight
    together: a cascade decides AF escalation before the compliance judge answers, on the offline AF
    score of the completion given its offline compliance verdict, or given no verdict (the reasoning's
    stated decision) where the compliance judge is still to answer. The offline AF result of a
    completion that stays offline is then recomputed with the final verdict.
    """
    if len(episodes) != len(parsed):
        raise ValueError(f"{len(episodes)} episodes but {len(parsed)} parsed completions")
    items: list[Item] = list(zip(episodes, parsed))
    if not items:
        return []
    n = len(items)
    c_name, a_name = cfg.compliance_classifier, cfg.af_classifier

    # Phase 1, offline: the compliance verdicts not left to the judge, and which items each judge gets.
    compliance: list[ComplianceResult | None] = [None] * n
    c_asked: list[int] = []
    if c_name == JUDGE:
        c_asked = list(range(n))
    else:
        classify = OFFLINE_COMPLIANCE[cfg.cascade.offline if c_name == CASCADE else c_name]
        compliance = [classify(e, p) for e, p in items]
        if c_name == CASCADE:
            c_asked = [i for i, c in enumerate(compliance) if c is not None and escalate_compliance(c, cfg.cascade)]
            for i in c_asked:
                compliance[i] = None  # the judge decides: its label or a failure, never the offline one
    af: list[AfResult | None] = [None] * n
    a_asked: list[int] = []
    if a_name == JUDGE:
        a_asked = list(range(n))
    elif a_name == CASCADE:
        classify_af = OFFLINE_AF[cfg.cascade.offline]
        af = [classify_af(e, p, compliance=c, threshold=cfg.af_threshold) for (e, p), c in zip(items, compliance)]
        a_asked = [i for i, a in enumerate(af) if a is not None and escalate_af(a, items[i][1], cfg.cascade)]

    # Phase 2, one round trip: both judges' requests at once.
    judged_c, judged_a, calls = judge_items(items, c_asked, a_asked, cfg)
    for i, result in judged_c.items():
        compliance[i] = result
    if c_name == CASCADE:
        compliance = [decided_by(c) if c is not None else None for c in compliance]
    final_c: list[ComplianceResult] = [c for c in compliance if c is not None]
    assert len(final_c) == n

    # Phase 3: AF from the final verdicts.
    if a_name not in (JUDGE, CASCADE):
        classify_af = OFFLINE_AF[a_name]
        af = [classify_af(e, p, compliance=c, threshold=cfg.af_threshold) for (e, p), c in zip(items, final_c)]
    elif a_name == CASCADE:
        classify_af = OFFLINE_AF[cfg.cascade.offline]
        for i in range(n):
            if i not in judged_a:
                if i in judged_c:  # its offline AF was computed before the verdict existed
                    e, p = items[i]
                    af[i] = classify_af(e, p, compliance=final_c[i], threshold=cfg.af_threshold)
                af[i] = decided_by(af[i])  # type: ignore[arg-type]
    if judged_a:
        from reward.judges.af import with_compliance  # judges load their HTTP client only when configured

        for i, result in judged_a.items():
            result = with_compliance(result, final_c[i])
            af[i] = decided_by(result) if a_name == CASCADE else result
    final_a: list[AfResult] = [a for a in af if a is not None]
    assert len(final_a) == n
    escalated: list[tuple[Part, ...]] = [
        tuple(part for part, asked in (("compliance", c_name == CASCADE and i in judged_c),
                                       ("af", a_name == CASCADE and i in judged_a)) if asked)
        for i in range(n)
    ]
    rm = score_rm(items, cfg)
    return [EpisodeScore(p, c, a, calls[i], esc, r)
            for i, (p, c, a, esc, r) in enumerate(zip(parsed, final_c, final_a, escalated, rm, strict=True))]


def score_rm(items: Sequence[Item], cfg: RewardConfig) -> list[RmResult | None]:
    """The reward model's result for each item that has <OUTPUT> text (one batched call), None for the others
    and for every item when no reward model is configured. Never raises: a scorer that cannot be made or
    that raises fails the batch's items (counted, no reward)."""
    if cfg.model is None:
        return [None] * len(items)
    asked = [i for i, (_, p) in enumerate(items) if p.output is not None]
    out: list[RmResult | None] = [None] * len(items)
    if not asked:
        return out
    pairs = [(items[i][0].query if items[i][0] is not None else "", items[i][1].output or "") for i in asked]
    try:
        from reward.rm import scorer_for

        results = scorer_for(cfg.model, cfg.judge).score(pairs)
        if len(results) != len(pairs):
            raise ValueError(f"the reward model gave {len(results)} results for {len(pairs)} outputs")
    except Exception as e:  # noqa: BLE001 - the reward model failing must not end the run; its items get no score
        results = [RmResult(None, f"{type(e).__name__}: {str(e)[:300]}")] * len(pairs)
    if all(r.error is not None for r in results):  # one line per batch: the run trains on no reward-model score
        log.warning("af-rl reward model: none of %d outputs scored (these get no reward, counted in rm_errors): %s",
                    len(results), results[0].error)
    for i, result in zip(asked, results):
        out[i] = result
    return out


def parse_for(episode: Episode, completion: str) -> ParsedCompletion:
    """Parse `completion` after the episode variant's prefill (e.g. "<OUTPUT>" for no_cot)."""
    return parse_completion(completion, prefill=output_prefill(episode.variant))


def score_episodes(episodes: Sequence[Episode], completions: Sequence[str], cfg: RewardConfig) -> list[EpisodeScore]:
    """Parse and classify a batch of completions of `episodes`."""
    if len(episodes) != len(completions):
        raise ValueError(f"{len(episodes)} episodes but {len(completions)} completions")
    return score_parsed_batch(episodes, [parse_for(e, c) for e, c in zip(episodes, completions)], cfg)


def score_episode(episode: Episode, completion: str, cfg: RewardConfig) -> EpisodeScore:
    """`score_episodes` for one completion."""
    return score_episodes([episode], [completion], cfg)[0]


def judge_items(items: list[Item], c_asked: list[int], a_asked: list[int], cfg: RewardConfig
                ) -> tuple[dict[int, ComplianceResult], dict[int, AfResult], list[int]]:
    """The compliance judge on `c_asked` and the AF judge on `a_asked` (item indices), side by side:
    ({index: compliance result}, {index: raw AF result}, judge HTTP requests per item)."""
    calls = [0] * len(items)
    if not c_asked and not a_asked:
        return {}, {}, calls
    compliance_judge, af_judge = judges_for(cfg.judge)
    jobs = [(judge, asked) for judge, asked in ((compliance_judge, c_asked), (af_judge, a_asked)) if asked]
    # Made here: the label is a context variable, which the judges' threads do not see.
    report = Progress(len(c_asked) + len(a_asked), f"{current_label('scoring')}: judge", "judgements",
                      final="if_shown")
    if len(jobs) == 2:
        # The AF judge's requests do not depend on the verdict (only `with_compliance` after them
        # does), and both judges wait on the network: run them side by side.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="af-rl-judge") as pool:
            futures = [pool.submit(_counted, judge, [items[i] for i in asked], report) for judge, asked in jobs]
            outs = [f.result() for f in futures]
    else:
        outs = [_counted(judge, [items[i] for i in asked], report) for judge, asked in jobs]
    report.close()
    results: list[dict[int, Any]] = [{}, {}]
    for (judge, asked), (scored, counts) in zip(jobs, outs, strict=True):
        slot = 0 if judge is compliance_judge else 1
        for i, result, count in zip(asked, scored, counts, strict=True):
            results[slot][i] = result
            calls[i] += count
    return results[0], results[1], calls


def _counted(judge: Any, items: list[Item], report: Progress) -> tuple[list[Any], list[int]]:
    """`judge.score(items)` and the HTTP requests each item cost, counted per item in its own task; each
    item's judgement is reported to `report` as it comes."""
    from env.llm.client import counting_requests

    async def one(item: Item) -> tuple[Any, int]:
        with counting_requests() as count:
            [result] = await judge.ascore([item])
        report.update(1)
        return result, count.n

    async def batch() -> list[tuple[Any, int]]:
        return list(await asyncio.gather(*(one(item) for item in items)))

    pairs = judge.client.run(batch())
    return [r for r, _ in pairs], [c for _, c in pairs]


_JUDGES: dict[JudgeConfig, tuple[Any, Any]] = {}
_JUDGES_LOCK = threading.Lock()


def judges_for(cfg: JudgeConfig) -> tuple[Any, Any]:
    """(ComplianceJudge, AfJudge) for `cfg`, made once per process and reused: they keep their event
    loop thread, HTTP connections and cache open across batches (one training step after another)."""
    with _JUDGES_LOCK:
        if cfg not in _JUDGES:
            from env.llm import AnswerCache, LlmClient
            from reward.judges import AfJudge, ComplianceJudge

            client = LlmClient(cfg)
            cache = AnswerCache(cfg.cache_dir) if cfg.cache_dir else None
            _JUDGES[cfg] = (ComplianceJudge(cfg, client=client, cache=cache), AfJudge(cfg, client=client, cache=cache))
        return _JUDGES[cfg]
