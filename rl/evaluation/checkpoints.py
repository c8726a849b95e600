"""What `rl.compare --checkpoints` may name (and the OpenRLHF backend's saved checkpoints), resolved to
models before any generation starts.

A spec is one of:
- a run directory (`runs/<name>/`): every finished `checkpoints/step-<N>/` in step order, and first, with
  `start=True` (rl.compare's default), the model the run started from, labelled `<name>/step-0 (start)` (see
  `start_checkpoint`);
- one checkpoint `runs/<name>/checkpoints/step-<N>/`, or any HF model directory (config.json + weights);
- a LoRA adapter directory (adapter_config.json): loaded on the base model it names, or on `--base-model`;
- an HF hub id (`org/name`) found in the local HF cache or answered by one hub request (short timeout).
Anything else is a CheckpointError naming the spec and what was tried; a relative-looking path that doesn't
exist (`runs/nope`) is reported as missing, never tried on the hub.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Sequence

CHECKPOINTS_DIR = "checkpoints"
STEP_PREFIX = "step-"
RUN_CONFIG = "config.yaml"
START_LABEL = "step-0 (start)"
"""The label (after `<run>/`) of the model a run started from, evaluated as step 0."""
_WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json", "*.pt", "*.gguf")
_ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


class CheckpointError(ValueError):
    """A --checkpoints entry that cannot be evaluated; the message names it."""


@dataclass(frozen=True)
class Checkpoint:
    """One model to evaluate."""

    label: str
    """Name in reports, plots and the viewer (`<run>/step-<N>` for run checkpoints)."""
    model: str
    """Model directory or hub id; for an adapter, its base model."""
    adapter: str | None = None
    """LoRA adapter directory loaded on `model`, if any."""
    kind: Literal["model", "adapter", "hub"] = "model"
    step: int | None = None
    """Training step of a run checkpoint."""
    run_config: str | None = None
    """The run's config.yaml saved with the checkpoint, if any (env and reward settings come from it)."""

    @property
    def key(self) -> str:
        """File-name-safe form of the label, used for samples/<key>__<variant>.jsonl."""
        return re.sub(r"[^\w.-]+", "_", self.label).strip("_") or "checkpoint"

    @property
    def weights(self) -> str:
        """The directory whose contents decide the outputs (the adapter for adapters)."""
        return self.adapter or self.model


def step_of(path: Path) -> int | None:
    """N of a `step-<N>` directory, else None."""
    name = path.name
    if name.startswith(STEP_PREFIX) and name[len(STEP_PREFIX):].isdigit():
        return int(name[len(STEP_PREFIX):])
    return None


def run_checkpoints(run_dir: Path) -> list[Path]:
    """Finished `step-<N>` checkpoints of a run directory, in step order."""
    ckpts = run_dir / CHECKPOINTS_DIR
    if not ckpts.is_dir():
        return []
    found = [p for p in ckpts.iterdir() if p.is_dir() and step_of(p) is not None]
    return sorted(found, key=lambda p: step_of(p) or 0)


def _has_weights(d: Path, names: Sequence[str] = (), patterns: Sequence[str] = _WEIGHT_PATTERNS) -> bool:
    return any((d / n).exists() for n in names) or any(next(d.glob(p), None) is not None for p in patterns)


def _locate(spec: str, ref: str, what: str, hub_timeout_s: float) -> str:
    """locate_model for `ref` (`what` names it in `spec`'s message), as a CheckpointError."""
    from rl.models import ModelNotFoundError, locate_model
    from rl.rundir import ray_working_dir

    try:
        return locate_model(ref, timeout_s=hub_timeout_s)
    except ModelNotFoundError as e:
        copy = ray_working_dir()
        hint = (f" (this runs in Ray's temporary copy of the tree, {copy}, which leaves out git-ignored files such "
                f"as runs/: pass absolute paths)" if copy is not None else "")
        raise CheckpointError(f"checkpoint {spec}: {what} {ref!r}: {e}{hint}") from None


def _label_for(path: Path) -> str:
    step = step_of(path)
    if step is not None and path.parent.name == CHECKPOINTS_DIR:
        return f"{path.parent.parent.name}/{path.name}"
    return path.name


def _run_config_for(path: Path) -> str | None:
    for candidate in (path / RUN_CONFIG, path.parent.parent / RUN_CONFIG if step_of(path) is not None else None):
        if candidate is not None and candidate.is_file():
            return str(candidate)
    return None


def _adapter_base(spec: str, path: Path, base_model: str | None, hub_timeout_s: float) -> str:
    if base_model:
        base = base_model
        origin = "--base-model"
    else:
        try:
            meta = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise CheckpointError(f"checkpoint {spec}: adapter_config.json cannot be read ({e})") from None
        base = meta.get("base_model_name_or_path") if isinstance(meta, dict) else None
        origin = f"{path / 'adapter_config.json'} base_model_name_or_path"
        if not base:
            raise CheckpointError(
                f"checkpoint {spec}: a LoRA adapter without its base model (adapter_config.json names none); "
                f"pass --base-model PATH_OR_HUB_ID")
    base_path = Path(base).expanduser()
    what = f"the adapter's base model ({origin}{'' if base_model else '; --base-model overrides it'})"
    if _locate(spec, base, what, hub_timeout_s) != "local":
        return base
    if not (base_path / "config.json").is_file():
        raise CheckpointError(f"checkpoint {spec}: the adapter's base model {base} ({origin}) is not a model "
                              f"directory (no config.json)")
    return str(base_path.resolve())


def _resolve_dir(spec: str, path: Path, base_model: str | None, hub_timeout_s: float, *, start: bool = False,
                 log: Callable[[str], None] = print) -> list[Checkpoint]:
    path = path.resolve()
    if (path / "adapter_config.json").is_file():
        if not _has_weights(path, _ADAPTER_WEIGHTS, ()):
            raise CheckpointError(f"checkpoint {spec}: adapter_config.json but no adapter_model.safetensors/.bin")
        base = _adapter_base(spec, path, base_model, hub_timeout_s)
        return [Checkpoint(label=_label_for(path), model=base, adapter=str(path), kind="adapter", step=step_of(path),
                           run_config=_run_config_for(path))]
    if (path / "config.json").is_file():
        if not _has_weights(path):
            raise CheckpointError(f"checkpoint {spec}: config.json but no weights (*.safetensors or *.bin)")
        return [Checkpoint(label=_label_for(path), model=str(path), step=step_of(path),
                           run_config=_run_config_for(path))]
    if (path / CHECKPOINTS_DIR).is_dir():
        steps = run_checkpoints(path)
        if not steps:
            raise CheckpointError(f"checkpoint {spec}: a run directory with no finished checkpoints "
                                  f"({path / CHECKPOINTS_DIR} has no step-<N>/)")
        out: list[Checkpoint] = []
        if start and step_of(steps[0]) != 0:  # a run that saved step 0 itself needs no stand-in
            first = start_checkpoint(spec, path, hub_timeout_s, log)
            out += [first] if first is not None else []
        for step_dir in steps:
            out.extend(_resolve_dir(f"{spec} ({step_dir.name})", step_dir, base_model, hub_timeout_s))
        return out
    raise CheckpointError(f"checkpoint {spec}: {path} is not a model (no config.json or adapter_config.json) "
                          f"nor a run directory (no {CHECKPOINTS_DIR}/)")


def resolve_checkpoints(specs: Sequence[str], *, base_model: str | None = None,
                        hub_timeout_s: float | None = None, start: bool = False,
                        log: Callable[[str], None] = print) -> list[Checkpoint]:
    """Expand and check every spec, in the order given; labels are made unique. Hub ids (specs and adapter
    bases) are looked up in the local HF cache, else with one hub request of `hub_timeout_s` (default
    rl.models.HUB_TIMEOUT_S; none under $HF_HUB_OFFLINE). With `start`, a run directory also gives the
    model it started from, first (`start_checkpoint`); where that model is not found here, `log` says why
    and the run's other checkpoints are still returned.

    Raises:
        CheckpointError: naming the first spec that doesn't exist, isn't a model, is a hub id that doesn't
            resolve, or is an adapter whose base can't be found, with what was tried.
    """
    from rl.models import HUB_TIMEOUT_S

    timeout = HUB_TIMEOUT_S if hub_timeout_s is None else hub_timeout_s
    if not specs:
        raise CheckpointError("--checkpoints: name at least one checkpoint, run directory or model")
    found: list[Checkpoint] = []
    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_dir():
            found.extend(_resolve_dir(spec, path, base_model, timeout, start=start, log=log))
        elif path.exists():
            raise CheckpointError(f"checkpoint {spec}: is a file, not a model directory")
        else:
            _locate(spec, spec, "model", timeout)
            found.append(Checkpoint(label=spec, model=spec, kind="hub"))
    return _unique_labels(found)


def start_checkpoint(spec: str, run_dir: Path, hub_timeout_s: float,
                     log: Callable[[str], None] = print) -> Checkpoint | None:
    """The model run `run_dir` started training from, as its config.yaml names it and as training resolved it
    (rl.models.resolve_model_path): `sft/final` when the run has an sft stage, else the built organism in the
    cache (rl.model.source organism; `rl.model.cache_dir`, $AF_RL_CACHE or ~/.cache/af-rl), the converted SmolLM2,
    or rl.model.name_or_path. Labelled `<run>/step-0 (start)`, step 0. Nothing is built or downloaded here: a
    model that is not on this machine (an organism built elsewhere, an unfinished sft stage) gives None and a
    line in `log` saying what is missing and how to get it."""
    from rl.config import ConfigError, load_config
    from rl.models import cache_root

    label = f"{run_dir.name}/{START_LABEL}"
    config = run_dir / RUN_CONFIG

    def skip(why: str) -> None:
        log(f"{label}: left out of the comparison: {why}")

    if not config.is_file():
        skip(f"the run has no {RUN_CONFIG} naming the model it started from")
        return None
    try:
        cfg = load_config(config)
    except ConfigError as e:
        skip(f"its {RUN_CONFIG} does not load ({e})")
        return None
    m = cfg.rl.model
    if "sft" in cfg.stages:
        from rl.sft import final_dir, is_complete

        if not is_complete(run_dir):
            skip(f"its sft stage has not finished ({final_dir(run_dir)} is not complete)")
            return None
        model = final_dir(run_dir)
    elif m.source == "organism":
        from rl.organism.build import MARKER, organism_key

        assert m.organism is not None  # filled in by ModelConfig's validator
        model = cache_root(m) / "organisms" / f"organism-{organism_key(m.organism, cfg.env)}"
        if not (model / MARKER).is_file():
            skip(f"its organism is not in this machine's cache ({model}); it is built on first use by training: "
                 f"point $AF_RL_CACHE (or rl.model.cache_dir) at the cache the run used, or run the run's config "
                 f"once here")
            return None
    elif m.source == "smollm2":
        from rl.smollm2 import MODEL_DIR_NAME

        model = cache_root(m) / MODEL_DIR_NAME
        if not (model / "config.json").is_file():
            skip(f"SmolLM2 is not converted in this machine's cache ({model}); training converts it on first use")
            return None
    else:
        assert m.name_or_path is not None
        ref = m.name_or_path
        if not Path(ref).expanduser().exists():
            try:
                _locate(label, ref, "rl.model.name_or_path", hub_timeout_s)
            except CheckpointError as e:
                skip(str(e))
                return None
            return Checkpoint(label=label, model=ref, kind="hub", step=0, run_config=str(config))
        model = Path(ref).expanduser()
    try:
        [found] = _resolve_dir(label, model, None, hub_timeout_s)
    except CheckpointError as e:
        skip(str(e))
        return None
    return Checkpoint(**{**found.__dict__, "label": label, "step": 0, "run_config": str(config)})


def _unique_labels(ckpts: list[Checkpoint]) -> list[Checkpoint]:
    seen: dict[str, int] = {}
    out = []
    for c in ckpts:
        n = seen.get(c.label, 0) + 1
        seen[c.label] = n
        if n > 1:
            c = Checkpoint(**{**c.__dict__, "label": f"{c.label}#{n}"})
        out.append(c)
    return out
