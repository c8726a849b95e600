"""The `trl:` section of a run config: TRL GRPOTrainer settings (the trl backend, rl/backends/trl_grpo.py).

Imported by rl/config.py, so it stays light: no TRL, no torch.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_FROZEN = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .nan/.inf pass ge/gt bounds otherwise


class TrlConfig(BaseModel):
    """TRL GRPOTrainer settings (the `trl:` section)."""

    model_config = _FROZEN
    learning_rate: float = Field(1e-6, gt=0)
    """Optimizer learning rate."""
    per_device_train_batch_size: int = Field(8, ge=1)
    """Completions per device per micro-step."""
    gradient_accumulation_steps: int = Field(1, ge=1)
    """Micro-steps per optimizer step."""
    num_generations: int = Field(8, ge=2)
    """Completions per prompt; GRPO needs >= 2 for a group baseline."""
    max_completion_length: int = Field(512, ge=1)
    """Token budget of a completion."""
    temperature: float = Field(1.0, gt=0)
    """Rollout sampling temperature."""
    beta: float = Field(0.0, ge=0)
    """KL coefficient against the reference model (0: no reference model is loaded)."""
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo"] = "dapo"
    """GRPO loss normalisation."""
    scale_rewards: Literal["group", "batch", "none"] = "group"
    """Divide advantages by the group's (or batch's) reward std, or not."""
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    """Linear warm-up fraction of max_steps."""
    lr_scheduler_type: Literal["constant", "linear", "cosine", "constant_with_warmup"] = "constant"
    """Learning-rate schedule."""
    max_grad_norm: float = Field(1.0, gt=0)
    """Gradient clipping."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto: CUDA when available, else CPU (bf16 off)."""
    gradient_checkpointing: bool = False
    """Trade compute for memory on large models."""
    rollouts: Literal["engine", "trl"] = "engine"
    """Who generates training rollouts. engine: af-rl (rl/backends/trl_rollout.py), as evaluation generates:
    <NEXT/> turns up to env.max_turns, the system prompt's KV cache shared, per-prompt seeded sampling (with
    use_vllm, TRL's vLLM engine generates the turns). trl: GRPOTrainer's own generation, one turn per prompt."""
    rollout_batch_size: int = Field(64, ge=1)
    """Completions af-rl's HF engine generates together (trl.rollouts engine without vLLM)."""
    share_prefix: bool = True
    """Compute the training log-probabilities with the batch's common prompt prefix (the system prompt) run
    once, with gradients, instead of once per completion (rl/backends/trl_prefix.py): the same values and
    gradients, much less compute and memory. Off with gradient_checkpointing (TRL's computation is used)."""
    use_vllm: bool = False
    """Generate rollouts with vLLM in colocate mode (same GPUs as training; needs CUDA and the vllm package)."""
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0, le=1)
    """Share of each GPU vLLM takes for weights and KV cache when colocated with training."""
    vllm_tensor_parallel_size: int = Field(1, ge=1)
    """GPUs one vLLM engine spans."""
    vllm_max_model_length: int | None = Field(None, ge=16)
    """Context vLLM reserves KV cache for (None: the model's maximum; set it to save memory)."""

    @model_validator(mode="after")
    def _whole_groups(self) -> TrlConfig:
        total = self.per_device_train_batch_size * self.gradient_accumulation_steps
        if total % self.num_generations:
            raise ValueError(
                f"trl.per_device_train_batch_size ({self.per_device_train_batch_size}) x "
                f"trl.gradient_accumulation_steps ({self.gradient_accumulation_steps}) = {total} must be a multiple "
                f"of trl.num_generations ({self.num_generations}), so every prompt's group is complete"
            )
        return self
