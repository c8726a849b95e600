"""`reward.model.placement: actor`: one Ray actor per run holds a local reward model on its own GPUs, and
every process of the run (the trainer, each rollout actor) sends it their batches."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from reward.rm.base import Pair, RmResult, failed_all
from reward.rm.config import RewardModelConfig


class _Worker:
    def __init__(self, cfg_json: str) -> None:
        from reward.rm.local import SeqClsScorer

        self.scorer = SeqClsScorer(RewardModelConfig.model_validate_json(cfg_json))

    def score(self, pairs: list[Pair]) -> list[RmResult]:
        return self.scorer.score(pairs)


class ActorScorer:
    """A handle on the run's reward-model actor, made on first use (named after the config, so processes of
    the same Ray job share one) and owned by the process that made it."""

    def __init__(self, cfg: RewardModelConfig) -> None:
        import ray

        cfg_json = cfg.model_dump_json()
        self.cfg = cfg
        self.name = f"rm:{cfg.name_or_path}@actor"
        key = hashlib.sha256(cfg_json.encode()).hexdigest()[:12]
        self.actor: Any = ray.remote(_Worker).options(
            name=f"af-rl-rm-{key}", get_if_exists=True, num_gpus=cfg.num_gpus, num_cpus=1, max_restarts=1,
        ).remote(cfg_json)

    def score(self, pairs: Sequence[Pair]) -> list[RmResult]:
        import ray

        try:
            return ray.get(self.actor.score.remote(list(pairs)))
        except Exception as e:  # noqa: BLE001 - an actor that died scores nothing this batch; counted, not fatal
            return failed_all(pairs, f"{self.name}: {type(e).__name__}: {str(e)[:200]}")
