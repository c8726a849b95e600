"""Two-tier evaluation of a policy on held-out queries: generate, judge, aggregate, write samples.

The same scorers as the training reward judge every transcript (reward.records.make_records).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from env.datasets import Query, make_episodes
from env.episode import TIERS, Episode
from reward.agreement import with_agreement
from reward.metrics import eval_metrics
from reward.records import EpisodeRecord, failed_record, make_records, raise_if_judge_down
from rl.generate import generate_episodes

if TYPE_CHECKING:
    from env.config import EnvConfig
    from reward.config import RewardConfig
    from rl.config import EvalConfig, RunConfig
    from rl.engines import Engine


def eval_episodes(queries: Sequence[Query], variants: Sequence[str], n_queries: int | None) -> list[Episode]:
    """The same first `n_queries` held-out queries in both tiers for every variant."""
    chosen = list(queries)[:n_queries] if n_queries else list(queries)
    return make_episodes(chosen, tiers=TIERS, variants=list(variants))


class GenerationUnavailableError(RuntimeError):
    """Every generation of an evaluation failed: the model's endpoint is down or refuses every request."""


def evaluate_episodes(
    engine: Engine,
    episodes: Sequence[Episode],
    env_cfg: EnvConfig,
    reward_cfg: RewardConfig,
    eval_cfg: EvalConfig,
    *,
    system_role: bool,
    **fields: Any,
) -> list[EpisodeRecord]:
    """Generate a completion per episode with `engine` and judge it: the one evaluation path.

    Periodic evaluation during training and `rl.compare` both come through here, so their numbers mean
    the same thing. `fields` (step, extra) are stored on every record. With a judge or cascade, a seeded
    sample of each cell is also labelled by the offline classifier and the judge (`record.agreement`,
    for `eval/<v>/<t>/agreement`). An episode the engine failed to generate (an endpoint that did not
    answer after retries) gets a failed record (`reward.records.failed_record`): counted, never judged.

    Raises:
        GenerationUnavailableError: every generation failed.
    """
    failures: dict[int, str] = {}
    completions = generate_episodes(
        engine,
        episodes,
        env_cfg,
        system_role=system_role,
        max_new_tokens=eval_cfg.max_new_tokens,
        temperature=eval_cfg.temperature,
        seed=eval_cfg.seed,
        failures=failures,
    )
    if failures and len(failures) == len(episodes):
        raise GenerationUnavailableError(f"none of the {len(episodes)} generations succeeded; last error: "
                                         f"{failures[max(failures)]}")
    done = [i for i in range(len(episodes)) if i not in failures]
    judged = make_records([episodes[i] for i in done], [completions[i] for i in done], reward_cfg, **fields)
    raise_if_judge_down(judged, reward_cfg)  # an evaluation with no judgement at all measures nothing
    judged_iter = iter(with_agreement(judged, reward_cfg, seed=eval_cfg.seed))
    return [failed_record(e, failures[i], **fields) if i in failures else next(judged_iter)
            for i, e in enumerate(episodes)]


def evaluate_policy(
    model: Any,
    tokenizer: Any,
    episodes: Sequence[Episode],
    cfg: RunConfig,
    *,
    system_role: bool,
    step: int,
    engine: Engine | None = None,
) -> list[EpisodeRecord]:
    """Evaluate the live policy during training; seeded, and the caller's RNG state is untouched.

    `engine`: generate with it (e.g. the trainer's vLLM engine holding the current weights) instead of
    the HF engine over `model`.
    """
    from rl.engines.hf import HFEngine

    if engine is None:
        engine = HFEngine(model, tokenizer, batch_size=cfg.rl.eval.batch_size, prefix_cache=cfg.rl.eval.prefix_cache)
    was_training = model.training
    model.eval()
    try:
        return evaluate_episodes(engine, episodes, cfg.env, cfg.reward, cfg.rl.eval, system_role=system_role,
                                 step=step)
    finally:
        model.train(was_training)


def write_samples(records: Sequence[EpisodeRecord], path: Path) -> None:
    """Write records as JSON lines (atomically: a crash leaves no half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
    tmp.replace(path)


def read_samples(path: Path) -> list[EpisodeRecord]:
    """Read a samples/step-<N>.jsonl file back into records."""
    return [EpisodeRecord.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()]


def summarize(records: Sequence[EpisodeRecord]) -> dict[str, Any]:
    """eval/* metrics of `records` (all variants and tiers present)."""
    return eval_metrics(records, prefix="eval")


def _evidence(r: EpisodeRecord, max_chars: int) -> str:
    """What decided the labels, as lines a person reads: the compliance span, then each AF criterion
    met (with its quote) and those not met, then any judgement that failed."""
    lines = [f"compliance: {r.compliance_evidence or '-'}"]
    met = [f"+ {name}: {r.af_evidence.get(name, '')}".rstrip(": ") for name, ok in r.af_criteria.items() if ok]
    lines += [f"AF criteria met ({len(met)}/{len(r.af_criteria)}):", *met] if r.af_criteria else []
    missing = [name for name, ok in r.af_criteria.items() if not ok]
    lines += [f"not met: {', '.join(missing)}"] if missing else []
    lines += [f"failed {part}: {why}" for part, why in r.errors.items()]
    return _clip("\n".join(lines), max_chars)


def _clip(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


TRANSCRIPT_COLUMNS = ("step", "variant", "tier", "id", "query", "compliance", "af", "af_score", "evidence",
                      "completion")
"""Columns of the W&B transcripts table, in order."""


def transcript_rows(records: Sequence[EpisodeRecord], max_chars: int = 4000) -> list[dict[str, Any]]:
    """One flat row per record for the W&B transcripts table (keys: TRANSCRIPT_COLUMNS).

    `query` is the user's request as the episode holds it, `evidence` what decided the compliance label and
    which AF criteria were met, with the judge's quotes; `completion` is the model's raw text. Each text
    is cut to `max_chars` (ending in "…"). `af_score` is None where the AF judgement failed.
    """
    return [
        {
            "step": r.step,
            "variant": r.episode.variant,
            "tier": r.episode.tier,
            "id": r.episode.id,
            "query": _clip(r.episode.query, max_chars),
            "compliance": r.compliance,
            "af": r.af,
            "af_score": None if r.af_score is None else round(r.af_score, 3),  # None: the AF judgement failed
            "evidence": _evidence(r, max_chars),
            "completion": _clip(r.completion, max_chars),
        }
        for r in records
    ]
