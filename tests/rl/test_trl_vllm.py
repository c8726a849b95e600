"""vLLM for the TRL backend, through its contracts on CPU: config checks, GRPOConfig arguments, and the
colocated engine serving evaluation with the current weights."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from rl.backends.trl_grpo import build_grpo_args
from rl.config import RunConfig
from rl.runner import check_vllm_here, training_eval_engine

BASE = {"rl": {"model": {"source": "hf", "name_or_path": "org/model"}, "ray": {"num_gpus": 1}}}


def _cfg(trl: dict[str, Any], **rl: Any) -> RunConfig:
    return RunConfig.model_validate({"rl": {**BASE["rl"], **rl}, "trl": trl})


def test_grpo_args_ask_trl_for_colocated_vllm(tmp_path) -> None:
    # float32: this CPU machine can't build a bf16 TrainingArguments; on a GPU node dtype auto means bf16.
    model = {"source": "hf", "name_or_path": "org/model", "dtype": "float32"}
    cfg = _cfg({"use_vllm": True, "vllm_gpu_memory_utilization": 0.4, "vllm_tensor_parallel_size": 2,
                "vllm_max_model_length": 8192}, model=model)
    args = build_grpo_args(cfg, str(tmp_path), "cuda")
    assert (args.use_vllm, args.vllm_mode, args.vllm_gpu_memory_utilization, args.vllm_tensor_parallel_size,
            args.vllm_max_model_length) == (True, "colocate", 0.4, 2, 8192)
    assert build_grpo_args(_cfg({}), str(tmp_path), "cpu").use_vllm is False


@pytest.mark.parametrize(("trl", "rl", "message"), [
    ({"use_vllm": True, "device": "cpu"}, {}, "trl.use_vllm needs a GPU"),
    ({"use_vllm": True}, {"ray": {"num_gpus": 0}}, "rl.ray.num_gpus >= 1"),
    ({}, {"eval": {"engine": "vllm"}}, "set trl.use_vllm true"),
])
def test_vllm_without_a_gpu_or_rollout_engine_is_a_config_error(trl, rl, message) -> None:
    with pytest.raises(ValueError, match=message):
        _cfg(trl, **rl)


def test_trainer_node_without_vllm_or_cuda_is_named() -> None:
    with pytest.raises(RuntimeError, match="no vllm and a CUDA device|no a CUDA device|no vllm"):
        check_vllm_here()  # this machine has neither


class FakeGeneration:
    def __init__(self) -> None:
        self.synced = 0
        self.llm = SimpleNamespace(shutdown=lambda: pytest.fail("a borrowed engine must stay up"))

    def sync_weights(self) -> None:
        self.synced += 1


def test_evaluation_borrows_the_colocated_engine_with_synced_weights() -> None:
    gen = FakeGeneration()
    trainer = SimpleNamespace(vllm_generation=gen)
    tok = object()
    engine = training_eval_engine(_cfg({"use_vllm": True}), trainer, tok)
    assert engine.llm is gen.llm and engine.tokenizer is tok and gen.synced == 1
    engine.close()  # leaves TRL's engine running (FakeGeneration fails the test otherwise)
    assert training_eval_engine(_cfg({"use_vllm": True}, eval={"engine": "hf"}), trainer, tok) is None
    assert training_eval_engine(_cfg({}), trainer, tok) is None
