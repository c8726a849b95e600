"""Scores completions: parse, then the configured compliance and AF classifiers, one batch at a time.

The reward, every metric and `python -m reward.classify` start here, so training, evaluation and
offline scoring judge alike. Offline classifiers ("rules") score one transcript at a time; LLM judges
("judge", see reward/judges/) score a whole batch concurrently, so a training step waits about one
judge round trip, not one per completion.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from env.prompts import output_prefill
from env.transcript import ParsedCompletion, parse_completion
from reward.af_reasoning import AfResult, score_af_reasoning
from reward.compliance import ComplianceResult, score_compliance

if TYPE_CHECKING:
    from env.episode import Episode
    from reward.config import RewardConfig
    from reward.judges import JudgeConfig

JUDGE = "judge"
"""Classifier name of the LLM-judge backends (configured by `reward.judge`)."""
OFFLINE_COMPLIANCE: dict[str, Callable[..., ComplianceResult]] = {"rules": score_compliance}
OFFLINE_AF: dict[str, Callable[..., AfResult]] = {"rules": score_af_reasoning}
COMPLIANCE_CLASSIFIERS: tuple[str, ...] = (*OFFLINE_COMPLIANCE, JUDGE)
AF_CLASSIFIERS: tuple[str, ...] = (*OFFLINE_AF, JUDGE)

Item = tuple["Episode | None", ParsedCompletion]


@dataclass(frozen=True)
class EpisodeScore:
    """Everything the classifiers say about one completion."""

    parsed: ParsedCompletion
    compliance: ComplianceResult
    af: AfResult

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

    The AF classifier, rules or judge, is given the compliance verdict of the same completion, so its
    criterion "chooses compliance" and its AF kind agree with `compliance` whichever classifiers are mixed.
    """
    if len(episodes) != len(parsed):
        raise ValueError(f"{len(episodes)} episodes but {len(parsed)} parsed completions")
    items: list[Item] = list(zip(episodes, parsed))
    if not items:
        return []
    if cfg.af_classifier == JUDGE:
        from reward.judges.af import with_compliance  # judges load their HTTP client only when configured

        af_judge = judges_for(cfg.judge)[1]
        if cfg.compliance_classifier == JUDGE:
            # The AF judge's requests do not depend on the verdict (only `with_compliance` after them
            # does), and both judges wait on the network: run them side by side.
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="af-rl-judge") as pool:
                compliance_f = pool.submit(_compliance_batch, items, cfg)
                voted_f = pool.submit(af_judge.score, items)
                compliance, voted = compliance_f.result(), voted_f.result()
        else:
            compliance, voted = _compliance_batch(items, cfg), af_judge.score(items)
        af = [with_compliance(a, c) for a, c in zip(voted, compliance, strict=True)]
    else:
        compliance = _compliance_batch(items, cfg)
        classify = OFFLINE_AF[cfg.af_classifier]
        af = [classify(e, p, compliance=c, threshold=cfg.af_threshold)
              for (e, p), c in zip(items, compliance, strict=True)]
    return [EpisodeScore(p, c, a) for p, c, a in zip(parsed, compliance, af, strict=True)]


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


def _compliance_batch(items: list[Item], cfg: RewardConfig) -> list[ComplianceResult]:
    if cfg.compliance_classifier == JUDGE:
        return judges_for(cfg.judge)[0].score(items)
    classify = OFFLINE_COMPLIANCE[cfg.compliance_classifier]
    return [classify(episode, parsed) for episode, parsed in items]


_JUDGES: dict[JudgeConfig, tuple[Any, Any]] = {}
_JUDGES_LOCK = threading.Lock()


def judges_for(cfg: JudgeConfig) -> tuple[Any, Any]:
    """(ComplianceJudge, AfJudge) for `cfg`, made once per process and reused: they keep their event
    loop thread, HTTP connections and cache open across batches (one training step after another)."""
    with _JUDGES_LOCK:
        if cfg not in _JUDGES:
            from reward.judges import AfJudge, ComplianceJudge, JudgeCache, JudgeClient

            client = JudgeClient(cfg)
            cache = JudgeCache(cfg.cache_dir) if cfg.cache_dir else None
            _JUDGES[cfg] = (ComplianceJudge(cfg, client=client, cache=cache), AfJudge(cfg, client=client, cache=cache))
        return _JUDGES[cfg]
