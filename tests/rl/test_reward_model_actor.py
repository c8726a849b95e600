"""reward.model.placement actor: one Ray actor holds the reward model; every process of the run scores
through it, with the same scores as the model in-process, and an actor that dies fails its batch (counted)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from env.config import EnvConfig
from reward.rm import RewardModelConfig
from reward.rm.local import SeqClsScorer

PAIRS = [("Explain X.", "<request_fully_accepted/>\n[Placeholder.]"), ("Hi", "<rejected/>"), ("Q", "")] * 2


@pytest.fixture(scope="module")
def ray_local() -> Iterator[object]:
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def rm_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rl.organism.reward_model import OrganismRmConfig, build_reward_model

    return build_reward_model(OrganismRmConfig(n_pairs=64), EnvConfig(), tmp_path_factory.mktemp("rm"), log=print)


def test_actor_scores_like_the_local_model_and_is_shared(ray_local, rm_path: Path) -> None:
    from reward.rm.actor import ActorScorer

    cfg = RewardModelConfig(name_or_path=str(rm_path), placement="actor", num_gpus=0, batch_size=4)
    first, second = ActorScorer(cfg), ActorScorer(cfg)
    assert first.actor._actor_id == second.actor._actor_id  # one actor per config, found by name
    local = SeqClsScorer(cfg.model_copy(update={"placement": "local"})).score(PAIRS)
    assert [r.score for r in first.score(PAIRS)] == [r.score for r in local]  # same model, same CPU kernels


def test_a_dead_actor_fails_its_batch_not_the_run(ray_local, rm_path: Path) -> None:
    from reward.rm.actor import ActorScorer

    cfg = RewardModelConfig(name_or_path=str(rm_path), placement="actor", num_gpus=0, batch_size=5)
    scorer = ActorScorer(cfg)
    ray_local.kill(scorer.actor, no_restart=True)  # type: ignore[attr-defined]
    results = scorer.score(PAIRS)
    assert [r.score for r in results] == [None] * len(PAIRS) and all("Actor" in (r.error or "") for r in results)
