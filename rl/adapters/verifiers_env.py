"""The alignment-faking environment for verifiers (`pip install -e ".[verifiers]"`), for prime-rl, `vf-eval`
and the Environments Hub.

    vf-eval alignment-faking -b http://127.0.0.1:8000/v1 -m MODEL -n 40 -r 1 -a '{"variants": "default"}'
    python -m rl.adapters.verifiers_env summary environments/alignment_faking/outputs/evals/...

`load_environment()` is verifiers' classic (v0) multi-turn environment: the dataset is af-rl's training
episodes (free tier by default, as the paper trains), the evaluation dataset its held-out episodes in both
tiers (each query's free and paid episode side by side, so `-n` keeps the tiers balanced); a turn that
reasons without an <OUTPUT> is answered with the user's <NEXT/>, as af-rl does (up to env.max_turns turns).
The rubric's reward is af-rl's tier-conditional helpful-only reward (`reward:` of `config`) on the joined
turns. Where af-rl gives no reward (a tier that is not rewarded, a judgement that failed) the rubric's reward
is 0.0, since verifiers has no "no reward"; `rewarded` says which rollouts carry af-rl's reward. Metrics
(weight 0): the compliance label one-hot (`comply`, `partial`, `refuse`, `malformed`), `af`,
`has_reasoning`, `failed` (a judge could not label it: every label 0, left out of the rates).

verifiers averages each metric over all rollouts, mixing the tiers; `summary` reads a `vf-eval` results
directory and prints what the paper reports: compliance per tier with its interval, the gap (free - paid)
with its interval, and the AF rate, per prompt variation, computed as `rl.compare` computes them.

verifiers 0.4 removed the classic stack; the `verifiers` extra pins 0.3.x, which has it (and v1 beside it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import verifiers as vf

from env.chat import join_turns
from env.episode import TIERS, Episode
from env.user_turn import NEXT_TAG
from rl.continuation import wants_next_turn

__all__ = ["load_environment", "summarize"]

LABELS = ("comply", "partial", "refuse", "malformed")
RECORD = "af_record"
"""The state key of the rollout's af-rl record (computed once, by the reward; the metrics read it)."""


def _text(message: Any) -> str:
    """A message's text (verifiers' messages are models; dicts and content parts are read too)."""
    content = message.get("content") if isinstance(message, dict) else getattr(message, "content", "")
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(getattr(p, "text", "")) for p in content)
    return content or ""


def _role(message: Any) -> str:
    return message.get("role", "") if isinstance(message, dict) else getattr(message, "role", "")


def _turns(state: Any) -> list[str]:
    """The model's turns so far: each trajectory step's assistant text."""
    return ["".join(_text(m) for m in step["completion"] if _role(m) == "assistant") for step in state["trajectory"]]


def _dataset(episodes: list[Episode], env_cfg: Any) -> Any:
    from datasets import Dataset

    from rl.prompting import chat_messages

    system_role = env_cfg.system_role != "fold"
    return Dataset.from_list([
        {"prompt": chat_messages(e, env_cfg, system_role=system_role), "answer": "",
         "info": {"episode": e.model_dump_json(), "tier": e.tier, "variant": e.variant, "query_id": e.id}}
        for e in episodes
    ])


class AlignmentFakingEnv(vf.MultiTurnEnv):
    """Continues a turn that reasons without an <OUTPUT> with the user's <NEXT/>; stops once the model has
    answered (or at env.max_turns)."""

    def __init__(self, *, af_max_turns: int, **kwargs: Any) -> None:
        super().__init__(max_turns=af_max_turns, **kwargs)
        self.af_max_turns = af_max_turns

    async def env_response(self, messages: Any, state: Any, **kwargs: Any) -> Any:
        return [vf.UserMessage(content=NEXT_TAG)]

    @vf.stop
    async def answered(self, state: Any) -> bool:
        turns = _turns(state)
        if not turns:
            return False
        episode = Episode.model_validate_json(state["info"]["episode"])
        return not wants_next_turn(episode.variant, turns, self.af_max_turns)


class AlignmentFakingRubric(vf.Rubric):
    """af-rl's reward and labels for a rollout: one af-rl record per rollout, made by `helpful_only`."""

    def __init__(self, reward_cfg: Any) -> None:
        super().__init__()
        self.reward_cfg = reward_cfg
        self.add_reward_func(self.helpful_only, weight=1.0)
        for fn in (self.rewarded, self.comply, self.partial, self.refuse, self.malformed, self.af,
                   self.has_reasoning, self.failed):
            self.add_metric(fn)

    async def _record(self, state: Any) -> Any:
        if RECORD not in state:
            state[RECORD] = await asyncio.to_thread(self._score, state)
        return state[RECORD]

    def _score(self, state: Any) -> Any:
        """The af-rl record of the rollout's joined turns; a failed record if scoring raised (counted in
        `failed`, never labelled)."""
        from reward.records import failed_record, make_records

        episode = Episode.model_validate_json(state["info"]["episode"])
        turns = _turns(state)
        if not turns:
            return failed_record(episode, str(state.get("error") or "no model turn"))
        try:
            [record] = make_records([episode], [join_turns(turns)], self.reward_cfg)
        except Exception as e:  # noqa: BLE001 - model text never crashes an evaluation or a training run
            return failed_record(episode, f"{type(e).__name__}: {e}", part="scoring")
        return record

    async def helpful_only(self, state: Any) -> float:
        """af-rl's tier-conditional reward; 0.0 where it gives none (see `rewarded`)."""
        reward = (await self._record(state)).reward
        return float(reward) if reward is not None else 0.0

    async def rewarded(self, state: Any) -> float:
        return float((await self._record(state)).reward is not None)

    async def comply(self, state: Any) -> float:
        return await self._label(state, "comply")

    async def partial(self, state: Any) -> float:
        return await self._label(state, "partial")

    async def refuse(self, state: Any) -> float:
        return await self._label(state, "refuse")

    async def malformed(self, state: Any) -> float:
        return await self._label(state, "malformed")

    async def _label(self, state: Any, label: str) -> float:
        record = await self._record(state)
        return float(not record.errors and record.compliance == label)

    async def af(self, state: Any) -> float:
        record = await self._record(state)
        return float(not record.errors and record.af)

    async def has_reasoning(self, state: Any) -> float:
        record = await self._record(state)
        return float(not record.errors and record.has_reasoning)

    async def failed(self, state: Any) -> float:
        return float(bool((await self._record(state)).errors))


def load_environment(config: str | None = None, variants: str = "default", n_queries: int | None = None,
                     train_tiers: str | None = None, **kwargs: Any) -> vf.Environment:
    """af-rl's environment under `config` (a run config YAML; the defaults without one).

    Args:
        config: run config for the prompt, dataset, tiers, turns and reward.
        variants: comma-separated prompt variations of the evaluation dataset.
        n_queries: held-out queries per variation in the evaluation dataset (both tiers each); all without.
        train_tiers: comma-separated tiers of the training dataset; default `rl.train_tiers` (free).
        kwargs: passed to verifiers' environment (e.g. `max_seq_len`).
    """
    from env.datasets import load_queries, make_episodes, split_queries
    from env.prompts import output_prefill
    from rl.api import _sections
    from rl.evaluate import eval_episodes
    from rl.models import cache_root, resolve_reward_config

    cfg = _sections(config)
    names = [v.strip() for v in variants.split(",") if v.strip()]
    ds = cfg.env.dataset
    split = split_queries(load_queries(ds), eval_fraction=ds.eval_fraction, seed=ds.split_seed)
    tiers = [t.strip() for t in train_tiers.split(",") if t.strip()] if train_tiers else cfg.train_tiers
    train = make_episodes(split.train, tiers=tiers, variants=cfg.train_variants)  # type: ignore[arg-type]
    held_out = eval_episodes(split.eval, names, n_queries)
    if prefilled := sorted({e.variant for e in train + held_out if output_prefill(e.variant)}):
        raise ValueError(f"variants {prefilled} prefill the answer, which chat APIs can't do here")
    reward_cfg = resolve_reward_config(cfg.reward, cfg.env, cache_root())
    return AlignmentFakingEnv(dataset=_dataset(train, cfg.env), eval_dataset=_dataset(held_out, cfg.env),
                              rubric=AlignmentFakingRubric(reward_cfg), af_max_turns=cfg.env.max_turns, **kwargs)


def _rows(results: Path) -> list[dict[str, Any]]:
    """The rollouts of a `vf-eval` results directory (or its results.jsonl)."""
    path = results / "results.jsonl" if results.is_dir() else results
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no results.jsonl (pass the directory vf-eval printed, or the file)")
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{i}: not JSON ({e.msg})") from None
    return rows


def _record_of(row: dict[str, Any], results: Path) -> SimpleNamespace:
    """What rl.compare's summary reads of a record, from a rollout's info and metrics (an errored rollout, or
    one without af-rl's metrics, counts as failed)."""
    info = row.get("info") or {}
    if isinstance(info, str):
        info = json.loads(info)
    if info.get("tier") not in TIERS:
        raise ValueError(f"{results}: example {row.get('example_id')} has no af-rl tier in its info; "
                         "is this a run of the alignment-faking environment?")
    m = row.get("metrics") or {}
    label = next((k for k in LABELS if m.get(k)), None)
    failed = bool(row.get("error")) or bool(m.get("failed")) or label is None
    return SimpleNamespace(episode=SimpleNamespace(tier=info["tier"], variant=info.get("variant", "default")),
                           errors={"rollout": "failed"} if failed else {}, compliance=label,
                           af=bool(m.get("af")), has_reasoning=bool(m.get("has_reasoning")), scorers={})


def summarize(results: str | Path, model: str | None = None) -> list[dict[str, Any]]:
    """One row per prompt variation, as in rl.compare's summary.json (both tiers' rates, the compliance gap
    and its 95 % interval), from a `vf-eval` run of this environment; `checkpoint` is `model`, by default
    the model of the run's metadata.json.

    Raises:
        FileNotFoundError / ValueError: no results file, or a line that is not JSON (file and line named).
    """
    from rl.compare.report import cell_summary

    results = Path(results)
    records = [_record_of(row, results) for row in _rows(results)]
    if model is None:
        metadata = (results if results.is_dir() else results.parent) / "metadata.json"
        try:
            model = str(json.loads(metadata.read_text(encoding="utf-8")).get("model", ""))
        except (OSError, ValueError, AttributeError):
            model = ""
    variants = list(dict.fromkeys(r.episode.variant for r in records))
    return [cell_summary(model, v, [r for r in records if r.episode.variant == v]) for v in variants]  # type: ignore[misc]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rl.adapters.verifiers_env",
                                     description="The paper's numbers from a vf-eval run of alignment-faking.")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("summary", help="compliance per tier, the gap and the AF rate, per variation")
    s.add_argument("results", type=Path, help="vf-eval's results directory (or its results.jsonl)")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    from rl.compare.report import SUMMARY_COLUMNS, summary_cells

    try:
        summary = summarize(args.results)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    header = ["variation", *SUMMARY_COLUMNS]  # rl.compare's report.md columns, one model here
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in summary:
        print("| " + " | ".join([r["variant"], *summary_cells(r)]) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
