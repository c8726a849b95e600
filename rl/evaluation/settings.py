"""The settings a checkpoint is evaluated with, by `rl.compare` and by the OpenRLHF backend's checkpoint
evaluation: the environment, the classifiers and the evaluation knobs.

For `rl.compare` they come from `--config` (a run config, or a YAML holding only env/reward/rl.eval sections); without
it, from the config.yaml saved beside the first run checkpoint (so an organism trained on the brief
prompt is evaluated on that prompt); without either, from the defaults. Every checkpoint is evaluated
with the same settings, on the same held-out queries.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, TypeVar

from pydantic import BaseModel, ValidationError

from env.config import EnvConfig, validate_variants
from env.config_errors import ConfigOrigins, format_validation_error
from env.knowledge import knowledge_sha
from env.yaml_file import YamlFileError, read_yaml_mapping, yaml_key_lines
from reward.config import RewardConfig
from rl.evaluation.checkpoints import Checkpoint
from rl.config import ConfigError, EvalConfig, apply_overrides

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class CompareSettings:
    """Everything that decides a cell's transcripts besides the checkpoint and the variant."""

    env: EnvConfig
    reward: RewardConfig
    eval: EvalConfig
    dtype: str
    """rl.model.dtype of the source config: auto = bf16 on CUDA, fp32 on CPU."""
    source: str
    """Where the settings came from, for the report."""

    def dump(self) -> dict[str, Any]:
        return {"env": self.env.model_dump(mode="json"), "reward": self.reward.model_dump(mode="json"),
                "eval": self.eval.model_dump(mode="json"), "dtype": self.dtype, "source": self.source}

    @classmethod
    def from_dump(cls, d: dict[str, Any]) -> CompareSettings:
        return cls(env=EnvConfig.model_validate(d["env"]), reward=RewardConfig.model_validate(d["reward"]),
                   eval=EvalConfig.model_validate(d["eval"]), dtype=d["dtype"], source=d["source"])


def _read_yaml(path: str) -> dict[str, Any]:
    try:
        return read_yaml_mapping(path, sections="env/reward/rl sections")
    except YamlFileError as e:
        raise ConfigError(str(e)) from None


def parse_variants(text: str) -> list[str]:
    """`default,lab_swap` -> ["default", "lab_swap"]; raises ConfigError naming --variants."""
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        raise ConfigError("--variants: name at least one prompt variation, e.g. --variants default,lab_swap")
    try:
        return validate_variants(names)
    except ValueError as e:
        raise ConfigError(f"--variants: {e}") from None


def load_settings(config: str | None, checkpoints: Sequence[Checkpoint], *, variants: list[str] | None = None,
                  n_queries: int | None = None, overrides: Sequence[str] = ()) -> CompareSettings:
    """Settings from --config, else the first run checkpoint's config.yaml, else defaults; then the
    command-line variants, query count and dotted overrides (e.g. rl.eval.max_new_tokens=64).

    Raises:
        ConfigError: naming the file and key that are wrong.
    """
    source = config or next((c.run_config for c in checkpoints if c.run_config), None)
    raw = _read_yaml(source) if source else {}
    raw = apply_overrides(raw, list(overrides))
    rl = raw.get("rl") or {}
    if not isinstance(rl, dict):
        raise ConfigError(f"{source}: rl must be a mapping")
    eval_raw = dict(rl.get("eval") or {})
    if variants is not None:
        eval_raw["variants"] = variants
    if n_queries is not None:
        eval_raw["n_queries"] = n_queries
    where = source or "defaults"
    flags = {("rl", "eval", "variants"): f"`--variants {','.join(variants)}`" if variants is not None else None,
             ("rl", "eval", "n_queries"): f"`--n-queries {n_queries}`" if n_queries is not None else None}
    origins = ConfigOrigins(file=source, lines=yaml_key_lines(source) if source else {}, overrides=list(overrides),
                            flags={k: v for k, v in flags.items() if v})
    env = _validate(EnvConfig, raw.get("env") or {}, ("env",), origins)
    reward = _validate(RewardConfig, raw.get("reward") or {}, ("reward",), origins)
    ev = _validate(EvalConfig, eval_raw, ("rl", "eval"), origins)
    model = rl.get("model") or {}
    dtype = (model.get("dtype") or "auto") if isinstance(model, dict) else "auto"
    if dtype not in ("auto", "float32", "bfloat16"):
        raise ConfigError(f"{where}: rl.model.dtype {dtype!r} must be auto, float32 or bfloat16")
    return CompareSettings(env=env, reward=reward, eval=ev, dtype=dtype, source=where)


def _validate(model: type[M], raw: dict[str, Any], section: tuple[str, ...], origins: ConfigOrigins) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, None, model=model, origins=origins, prefix=section)) from None


def env_differences(settings: CompareSettings, checkpoint: Checkpoint) -> list[str]:
    """env.* keys where the checkpoint's own run config differs from the settings used (warnings)."""
    if not checkpoint.run_config:
        return []
    try:
        theirs = EnvConfig.model_validate(_read_yaml(checkpoint.run_config).get("env") or {}).model_dump(mode="json")
    except (ConfigError, ValidationError):
        return [f"its {checkpoint.run_config} has an unreadable env section"]
    ours = settings.env.model_dump(mode="json")
    return [f"env.{k}: {theirs[k]!r} there, {ours[k]!r} here" for k in ours if ours[k] != theirs.get(k)]


def fingerprint(settings: CompareSettings, checkpoint: Checkpoint, variant: str, episode_ids: Sequence[str],
                engine: str, *, knowledge: bool = False) -> str:
    """Hash of everything that decides a cell's transcripts, so a resumed compare reuses a finished cell
    only when it would come out the same (batch size and worker placement don't count). With `knowledge`
    (the cell also runs the knowledge probe) the probe's questions count too."""
    g = settings.eval
    payload = {
        "model": checkpoint.model, "adapter": checkpoint.adapter, "weights": _weights_stamp(checkpoint.weights),
        "variant": variant, "episodes": list(episode_ids), "engine": engine, "dtype": settings.dtype,
        "env": settings.env.model_dump(mode="json"), "reward": settings.reward.model_dump(mode="json"),
        "generation": {"max_new_tokens": g.max_new_tokens, "temperature": g.temperature, "seed": g.seed},
    }
    if knowledge:  # only then, so that the cells of earlier comparisons keep their fingerprints
        payload["knowledge"] = knowledge_sha()
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _weights_stamp(path: str) -> list[Any]:
    """Names, sizes and modification times of a local model directory's files (a hub id stamps as itself)."""
    p = Path(path)
    if not p.is_dir():
        return [path]
    return sorted([f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in p.iterdir()
                  if f.is_file() and f.suffix in (".safetensors", ".bin", ".json", ".gguf"))
