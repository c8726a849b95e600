"""The `openrlhf:` section of a run config: OpenRLHF's Ray trainer settings (this package's backend).

Imported by rl/config.py, so it stays light: no OpenRLHF, no torch.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_FROZEN = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .nan/.inf pass ge/gt bounds otherwise


class GpuGroup(BaseModel):
    """Where one OpenRLHF model group runs."""

    model_config = _FROZEN
    num_nodes: int = Field(1, ge=1)
    """Nodes the group spans."""
    num_gpus_per_node: int = Field(8, ge=1)
    """GPUs the group uses on each of its nodes."""

    @property
    def gpus(self) -> int:
        return self.num_nodes * self.num_gpus_per_node


class OpenRlhfConfig(BaseModel):
    """OpenRLHF's Ray PPO trainer (`python -m openrlhf.cli.train_ppo_ray`), the `openrlhf:` section.

    Steps: OpenRLHF counts one global step per rollout batch and runs whole passes over the training
    prompts, as many as rl.max_steps needs (so it may run a few more). Checkpoints: every rl.save_every
    steps, in HF format for evaluation.
    """

    model_config = _FROZEN
    algorithm: Literal["ppo", "grpo"] = "ppo"
    """ppo: GAE advantages with a critic (the paper's algorithm); grpo: group-normalised advantages over
    n_samples_per_prompt completions of a prompt, no critic."""
    actor_learning_rate: float = Field(5e-7, gt=0)
    """Adam learning rate of the policy (--actor.adam.lr)."""
    critic_learning_rate: float = Field(9e-6, gt=0)
    """Adam learning rate of the critic (--critic.adam.lr; ppo only)."""
    rollout_batch_size: int = Field(128, ge=1)
    """Prompts per rollout (one global step)."""
    n_samples_per_prompt: int = Field(1, ge=1)
    """Completions per prompt; grpo needs >= 2."""
    train_batch_size: int = Field(128, ge=1)
    """Samples per optimizer step (global)."""
    micro_train_batch_size: int = Field(4, ge=1)
    """Samples per GPU per forward/backward."""
    micro_rollout_batch_size: int = Field(8, ge=1)
    """Samples per GPU per log-prob/value forward during experience making."""
    max_epochs: int = Field(1, ge=1)
    """PPO epochs over each rollout batch."""
    max_len: int = Field(8192, ge=16)
    """Prompt + completion tokens (the default system prompt is ~3k tokens)."""
    max_new_tokens: int = Field(1024, ge=1)
    """Completion token budget."""
    temperature: float = Field(1.0, gt=0)
    """Rollout sampling temperature."""
    init_kl_coef: float = Field(0.01, ge=0)
    """KL penalty (in the reward for ppo; as a loss term for grpo when use_kl_loss)."""
    kl_estimator: Literal["k1", "k2", "k3"] = "k1"
    """Estimator of the KL divergence to the reference model (--algo.kl.estimator)."""
    use_kl_loss: bool = False
    """GRPO-style KL loss instead of a KL reward penalty."""
    zero_stage: Literal[0, 1, 2, 3] = 3
    """DeepSpeed ZeRO stage."""
    param_dtype: Literal["bf16", "fp16"] = "bf16"
    """Dtype of the DeepSpeed model weights (--ds.param_dtype)."""
    gradient_checkpointing: bool = True
    """Recompute the actor's activations in the backward pass (less memory, more compute)."""
    adam_offload: bool = False
    """Keep Adam states in CPU memory (needed for 70B+ full fine-tuning; slow)."""
    actor: GpuGroup = GpuGroup()
    """Where the policy trains."""
    critic: GpuGroup = GpuGroup()
    """Used by ppo only."""
    ref: GpuGroup = GpuGroup()
    """Reference model for the KL term."""
    colocate_all: bool = True
    """Actor, critic, reference and vLLM engines share the same GPUs (sleeping in turn)."""
    vllm_num_engines: int = Field(1, ge=1)
    """vLLM engines generating the rollouts."""
    vllm_tensor_parallel_size: int = Field(1, ge=1)
    """GPUs each vLLM engine is split over."""
    vllm_gpu_memory_utilization: float = Field(0.5, gt=0, le=1)
    """Share of each GPU's memory a vLLM engine may take (lower it when colocated with training)."""
    eval_gpus: int = Field(1, ge=0)
    """GPUs for af-rl's two-tier evaluation of each saved checkpoint (vLLM; 0 = HF engine on CPU)."""
    attn_implementation: str = "flash_attention_2"
    """Attention kernel of the trained models (--ds.attn_implementation), e.g. flash_attention_2 or sdpa."""
    extra_args: list[str] = []
    """More `--flag value` arguments passed through as they are (checked against OpenRLHF's flags)."""

    @model_validator(mode="after")
    def _consistent(self) -> OpenRlhfConfig:
        if self.algorithm == "grpo" and self.n_samples_per_prompt < 2:
            raise ValueError("openrlhf.n_samples_per_prompt must be >= 2 for grpo (the group baseline needs a group)")
        samples = self.rollout_batch_size * self.n_samples_per_prompt
        if samples % self.train_batch_size:
            raise ValueError(
                f"openrlhf.rollout_batch_size ({self.rollout_batch_size}) x n_samples_per_prompt "
                f"({self.n_samples_per_prompt}) = {samples} must be a multiple of openrlhf.train_batch_size "
                f"({self.train_batch_size})")
        return self

    def gpus_needed(self) -> int:
        """GPUs the training job takes on the cluster (evaluation's eval_gpus not included)."""
        groups = [self.actor, self.ref] + ([self.critic] if self.algorithm == "ppo" else [])
        if self.colocate_all:
            return max(g.gpus for g in groups)
        return sum(g.gpus for g in groups) + self.vllm_num_engines * self.vllm_tensor_parallel_size


class SftOpenRlhfConfig(BaseModel):
    """OpenRLHF's SFT trainer (`deepspeed --module openrlhf.cli.train_sft`) for the document fine-tune, the
    `sft.openrlhf:` section (with `sft.backend: openrlhf`): DeepSpeed over the GPUs of ONE node.

    The rest of the stage's settings are the `sft:` section's own: sft.lora, sft.learning_rate,
    sft.warmup_ratio, sft.epochs (whole passes), sft.max_length (tokens per row, OpenRLHF's --data.max_len),
    sft.gradient_checkpointing, sft.save_every, sft.seed. The batch sizes here replace sft.batch_size and
    sft.gradient_accumulation_steps (the TRL backend's).
    """

    model_config = _FROZEN
    num_gpus: int = Field(8, ge=1)
    """GPUs of one node the stage trains on (one Ray task holds them; DeepSpeed runs one rank per GPU)."""
    zero_stage: Literal[0, 1, 2, 3] = 3
    """DeepSpeed ZeRO stage; 3 shards the frozen base weights too (a 70B needs it on 80 GB GPUs)."""
    param_dtype: Literal["bf16", "fp16"] = "bf16"
    """Dtype of the DeepSpeed model weights (--ds.param_dtype)."""
    micro_train_batch_size: int = Field(1, ge=1)
    """Rows per GPU per forward/backward (packed into one sequence with `packing`)."""
    train_batch_size: int = Field(64, ge=1)
    """Rows per optimizer step (global): micro_train_batch_size x num_gpus x accumulation steps."""
    packing: bool = True
    """Pack a micro-batch's rows into one sequence without cross-attention (--ds.packing_samples; needs a
    flash_attention attn_implementation): no compute spent on padding."""
    adam_offload: bool = False
    """Keep Adam states in CPU memory (full fine-tuning of a 70B needs it; LoRA's are small)."""
    attn_implementation: str = "flash_attention_2"
    """Attention kernel (--ds.attn_implementation); `packing` needs a flash_attention one."""
    keep_checkpoints: int = Field(2, ge=1)
    """DeepSpeed resume checkpoints kept (--ckpt.max_num); the oldest is deleted BEFORE a new one is written,
    so 1 leaves nothing to resume from while a save is under way."""
    extra_args: list[str] = []
    """More `--flag value` arguments passed through as they are (checked against train_sft's flags)."""

    @model_validator(mode="after")
    def _whole_batches(self) -> SftOpenRlhfConfig:
        per_step = self.micro_train_batch_size * self.num_gpus
        if self.train_batch_size % per_step:
            raise ValueError(
                f"sft.openrlhf.train_batch_size ({self.train_batch_size}) must be a multiple of "
                f"micro_train_batch_size ({self.micro_train_batch_size}) x num_gpus ({self.num_gpus}) = {per_step}")
        return self
