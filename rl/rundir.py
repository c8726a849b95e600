"""One run directory holds one run: it is resumed only with the config that made it, never rewritten by another.

`plan_run_dir` reads the directory and decides (writing nothing): a new run, a resume, or a finished run that
has nothing to do; a config that differs from the saved one in anything that decides the results stops with
RunDirError. rl/train.py calls it before Ray starts; both backends (rl.runner.run_training, the OpenRLHF backend)
call it again through `prepare_run` (a job may be started without the driver), which also loads the episodes
and then calls `open_run_dir`; at the very end they call `mark_finished`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

import yaml
from pydantic import ValidationError

from rl.config import ConfigError, RunConfig, config_to_yaml
from rl.wandb_log import METRICS_FILE, WANDB_ID_FILE

if TYPE_CHECKING:
    from env.episode import Episode

CONFIG_FILE = "config.yaml"
FINISHED_FILE = "finished.json"
"""Written at the very end of a run: {"step", "max_steps", "finished_at"}."""
CHANGES_FILE = "config_changes.jsonl"
"""One line per attempt that resumed with an allowed change: {"at", "changes": {key: [old, new]}}."""
CHECKPOINTS_DIR = "checkpoints"
STEP_PREFIX = "step-"

MAY_CHANGE: dict[str, str] = {
    "rl.max_steps": "extends a run (refused when the learning-rate schedule spans rl.max_steps)",
    "rl.save_every": "checkpoint cadence",
    "rl.keep_checkpoints": "checkpoint retention",
    "rl.resume": "how this attempt starts",
    "rl.run_name": "where the run is (same directory)",
    "rl.output_dir": "where the run is (same directory)",
    "rl.wandb.*": "logging",
    "rl.ray.address": "which cluster runs it",
    "rl.model.cache_dir": "where the organism cache lives",
    "reward.judge.api_key_env": "where the judge key is read",
    "reward.judge.api_key_file": "where the judge key is read",
    "reward.judge.max_concurrency": "judge request concurrency",
    "reward.judge.cache_dir": "where judgements are cached",
}
"""Keys that may differ between attempts of one run: they decide where and how a run is placed and logged,
not its checkpoints, metrics or samples. Every other key decides the results (rl.ray.num_cpus sets the torch
thread count, rl.eval.* the evaluations, reward.judge.timeout_s which judgements fail, ...)."""
_LOCATION_KEYS = {"rl.run_name", "rl.output_dir", "rl.resume"}
"""Allowed differences not worth recording: the directory is the same one by construction."""


class RunDirError(ConfigError):
    """The run directory holds another run (or cannot be read); the message names the keys and the ways out."""


@dataclass(frozen=True)
class RunDirPlan:
    """What an attempt does with its run directory."""

    cfg: RunConfig
    """The config to run: the given one, or (rl.resume false, directory taken) the same with a fresh rl.run_name."""
    state: Literal["new", "resume", "finished"]
    """new: an empty or absent directory; resume: continue the run there; finished: nothing to do."""
    note: str
    """One line for the log saying what was decided."""
    step: int | None = None
    """Newest complete checkpoint step, if any."""
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    """Allowed differences from the saved config: dotted key -> (old, new)."""

    @property
    def run_dir(self) -> Path:
        return self.cfg.run_dir()


def checkpoint_steps(run_dir: Path) -> list[int]:
    """Steps of the published `checkpoints/step-<N>` directories, ascending."""
    d = Path(run_dir) / CHECKPOINTS_DIR
    if not d.is_dir():
        return []
    return sorted(int(p.name[len(STEP_PREFIX):]) for p in d.iterdir()
                  if p.is_dir() and p.name.startswith(STEP_PREFIX) and p.name[len(STEP_PREFIX):].isdigit())


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as {dotted.key: value}; lists and scalars are leaves."""
    if not isinstance(data, dict):
        return {prefix: data} if prefix else {}
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


_ABSENT = "(absent)"


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Every dotted key whose value differs between two config dumps: key -> (old, new); absent keys as '(absent)'."""
    a, b = flatten(old), flatten(new)
    pairs = {k: (a.get(k, _ABSENT), b.get(k, _ABSENT)) for k in sorted(set(a) | set(b))}
    return {k: (x, y) for k, (x, y) in pairs.items() if x != y}


def may_change(key: str) -> bool:
    """Whether `key` is one of MAY_CHANGE (a name, or under a `section.*`)."""
    return any(key == k or (k.endswith(".*") and key.startswith(k[:-1])) for k in MAY_CHANGE)


def _schedule_spans_max_steps(cfg: RunConfig) -> str | None:
    """Why rl.max_steps decides results for this config (the LR schedule depends on it), or None."""
    if cfg.rl.backend == "openrlhf":
        return "the openrlhf backend's learning-rate schedule (warm-up and decay) spans rl.max_steps"
    t = cfg.trl
    if t.lr_scheduler_type not in ("constant", "constant_with_warmup") or t.warmup_ratio > 0:
        return (f"trl.lr_scheduler_type {t.lr_scheduler_type!r} with trl.warmup_ratio {t.warmup_ratio:g} spans "
                f"rl.max_steps, so the steps already trained would differ from a run of the new length")
    return None


def _fmt(v: Any) -> str:
    return v if v == _ABSENT else json.dumps(v)


def read_saved_config(run_dir: Path) -> tuple[dict[str, Any], Path] | None:
    """The config the run directory was made with (its config.yaml, else its newest checkpoint's), as a full
    dump with today's defaults filled in where it still validates; None when there is none.

    Raises:
        RunDirError: the file exists but is not a YAML mapping.
    """
    candidates = [run_dir / CONFIG_FILE]
    candidates += [run_dir / CHECKPOINTS_DIR / f"{STEP_PREFIX}{s}" / CONFIG_FILE
                   for s in reversed(checkpoint_steps(run_dir))]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        return None
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise RunDirError(f"{path}: the run's saved config cannot be read ({e}); move the directory away or set "
                          f"another rl.run_name") from None
    if not isinstance(raw, dict):
        raise RunDirError(f"{path}: the run's saved config is not a mapping; move the directory away or set "
                          f"another rl.run_name")
    raw = _as_it_ran(raw)
    try:
        return RunConfig.model_validate(raw).model_dump(mode="json"), path
    except ValidationError:  # saved by another version of af-rl: compare what it says
        return raw, path


ADDED_LATER: dict[str, dict[str, Any]] = {"trl": {"rollouts": "trl", "share_prefix": False}}
"""Keys added after runs were saved without them, with the value that gives what those runs did (today's
default differs): TRL's own rollouts and per-row log-probs before 2026-12-07."""


def _as_it_ran(raw: dict[str, Any]) -> dict[str, Any]:
    """A saved config with the keys it predates (ADDED_LATER) set to what its run did, so that resuming it
    under today's defaults is a difference, not a silent change of how it trains."""
    out = dict(raw)
    for section, keys in ADDED_LATER.items():
        saved = out.get(section)
        if saved is None or isinstance(saved, dict):
            out[section] = {**keys, **(saved or {})}
    return out


def _fresh_name(cfg: RunConfig) -> RunConfig:
    """The config with rl.run_name `<name>-<k>` for the smallest k >= 2 whose directory doesn't exist."""
    parent = cfg.run_dir().parent
    k = 2
    while (parent / f"{cfg.rl.run_name}-{k}").exists():
        k += 1
    rl = cfg.rl.model_copy(update={"run_name": f"{cfg.rl.run_name}-{k}"})
    return cfg.model_copy(update={"rl": rl})


def evaluated_steps(run_dir: Path) -> set[int]:
    """Steps whose evaluation is complete: those with a metrics.jsonl row holding eval/* keys.

    That row is the last thing either backend writes for an evaluated step: TRL writes the samples, then the
    row (flushed before the step's checkpoint is published); OpenRLHF publishes the checkpoint, writes the
    samples, then the row. A line that is not a JSON object (torn by a crash while it was written) is skipped.
    """
    path = Path(run_dir) / METRICS_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    except (OSError, UnicodeDecodeError):
        return set()
    steps: set[int] = set()
    for line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int) and any(
                isinstance(k, str) and k.startswith("eval/") for k in row):
            steps.add(row["step"])
    return steps


def _finished_step(run_dir: Path, steps: list[int], max_steps: int) -> int | None:
    """The step a finished run reached, or None when it is not finished at `max_steps`.

    Finished: finished.json says it reached max_steps (or more). A directory without a readable finished.json
    (made before af-rl wrote one) is finished when its newest checkpoint is at or past max_steps AND that step's
    evaluation is complete (evaluated_steps): a checkpoint published before its evaluation (OpenRLHF) whose
    attempt crashed is not the end of a run, and the resumed attempt evaluates it and writes finished.json.
    (TRL always evaluates the step rl.max_steps, whatever rl.eval.every, and flushes its row before it publishes
    that checkpoint, so a finished TRL run of an older version passes.)
    """
    marker = run_dir / FINISHED_FILE
    try:
        data = json.loads(marker.read_text(encoding="utf-8")) if marker.is_file() else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("max_steps"), int):
        return data["max_steps"] if data["max_steps"] >= max_steps else None
    newest = steps[-1] if steps else None
    if newest is not None and newest >= max_steps and newest in evaluated_steps(run_dir):
        return newest
    return None


def plan_run_dir(cfg: RunConfig) -> RunDirPlan:
    """Decide what this attempt does with `cfg.run_dir()`; reads only.

    - absent or empty directory: a new run there;
    - rl.resume false and the directory holds anything: a new run in `<run_name>-<k>` (never the existing one);
    - the saved config differs in a key that decides results (all but MAY_CHANGE): RunDirError;
    - the run reached rl.max_steps (finished.json; without one, an evaluated checkpoint at or past it):
      finished, nothing to do;
    - else: resume (from the newest checkpoint, or from step 0 when there is none yet).

    Raises:
        RunDirError: naming the differing keys (old -> new) and the two ways out.
    """
    run_dir = cfg.run_dir()
    if not run_dir.exists() or (run_dir.is_dir() and not any(run_dir.iterdir())):
        return RunDirPlan(cfg, "new", f"new run in {run_dir}")
    if not run_dir.is_dir():
        raise RunDirError(f"rl.output_dir/rl.run_name: {run_dir} is a file, not a run directory")
    if not cfg.rl.resume:
        fresh = _fresh_name(cfg)
        return RunDirPlan(fresh, "new", f"rl.resume is false and {run_dir} holds another run: this run starts in "
                                        f"{fresh.run_dir()} (rl.run_name={fresh.rl.run_name})")
    steps = checkpoint_steps(run_dir)
    saved = read_saved_config(run_dir)
    changes: dict[str, tuple[Any, Any]] = {}
    if saved is not None:
        old, path = saved
        diffs = config_differences(old, cfg.model_dump(mode="json"))
        why_steps = _schedule_spans_max_steps(cfg)
        deciding = {k: v for k, v in diffs.items() if not may_change(k) or (k == "rl.max_steps" and why_steps)}
        if deciding:
            lines = "\n".join(f"  {k}: {_fmt(a)} -> {_fmt(b)}" for k, (a, b) in deciding.items())
            extra = f"\n({why_steps})" if "rl.max_steps" in deciding and why_steps else ""
            raise RunDirError(
                f"{run_dir} holds run {cfg.rl.run_name!r} made with another config ({path}); resuming it would mix "
                f"two runs in one record. Keys that differ (saved -> now):\n{lines}{extra}\n"
                f"Either give this run its own name (rl.run_name=NEW_NAME), or set rl.resume=false to start it in a "
                f"new directory ({_fresh_name(cfg).run_dir()}). To continue the existing run, use its config.")
        changes = {k: v for k, v in diffs.items() if k not in _LOCATION_KEYS}
    reached = _finished_step(run_dir, steps, cfg.rl.max_steps)
    if reached is not None:
        return RunDirPlan(cfg, "finished",
                          f"run {cfg.rl.run_name!r} in {run_dir} is finished (reached step {reached}, rl.max_steps is "
                          f"{cfg.rl.max_steps}): nothing to do. To train it further raise rl.max_steps; for another "
                          f"run set rl.run_name or rl.resume=false", step=steps[-1] if steps else None)
    newest = steps[-1] if steps else None
    where = f"from checkpoint step {newest}" if newest is not None else "from step 0 (no checkpoint yet)"
    changed = "; allowed changes: " + ", ".join(f"{k} {_fmt(a)} -> {_fmt(b)}" for k, (a, b) in changes.items()) \
        if changes else ""
    return RunDirPlan(cfg, "resume", f"resuming run {cfg.rl.run_name!r} in {run_dir} {where}{changed}",
                      step=newest, changes=changes)


def open_run_dir(plan: RunDirPlan) -> Path:
    """Create the run directory and write its config.yaml (plus a config_changes.jsonl line for allowed changes).

    Only a new or resumed plan may be opened: config.yaml then differs from the saved one at most in MAY_CHANGE
    keys, and those differences are recorded.
    """
    if plan.state == "finished":
        raise ValueError("a finished run is not opened again")
    run_dir = plan.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    if plan.changes:
        entry = {"at": time.strftime("%Y-%m-%dT%H:%M:%S"), "changes": {k: list(v) for k, v in plan.changes.items()}}
        with (run_dir / CHANGES_FILE).open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
    tmp = run_dir / f".{CONFIG_FILE}.tmp"
    tmp.write_text(config_to_yaml(plan.cfg), encoding="utf-8")
    tmp.replace(run_dir / CONFIG_FILE)
    return run_dir


@dataclass(frozen=True)
class PreparedRun:
    """A run ready to start: its config as planned, its open directory (config.yaml written), its training
    and evaluation episodes, and what `before_open` returned."""

    cfg: RunConfig
    run_dir: Path
    train_episodes: list[Episode]
    eval_episodes: list[Episode]
    extra: Any = None


def prepare_run(cfg: RunConfig, log: Callable[[str], None],
                before_open: Callable[[RunConfig], Any] | None = None) -> PreparedRun | dict[str, Any]:
    """What every backend does before it trains: check rl.output_dir, plan the run directory, load and
    split the queries into training and evaluation episodes, call `before_open` (e.g. load what must exist
    before anything is written), then open the directory (config.yaml).

    Returns:
        The prepared run; or, for a run that already finished, its `finished_result` (nothing is loaded or
        written).
    Raises:
        ConfigError (RunDirError), DatasetError, or whatever `before_open` raises, before the directory is
        opened.
    """
    from env.datasets import load_queries, make_episodes, split_queries
    from rl.evaluate import eval_episodes

    check_output_dir(cfg.rl.output_dir, "rl.output_dir")
    plan = plan_run_dir(cfg)
    log(plan.note)
    if plan.state == "finished":
        return finished_result(plan.run_dir)
    cfg = plan.cfg
    ds = cfg.env.dataset
    split = split_queries(load_queries(ds), eval_fraction=ds.eval_fraction, seed=ds.split_seed)
    train = make_episodes(split.train, tiers=cfg.rl.train_tiers, variants=cfg.rl.train_variants)
    evals = eval_episodes(split.eval, cfg.rl.eval.variants, cfg.rl.eval.n_queries)
    extra = before_open(cfg) if before_open is not None else None
    return PreparedRun(cfg, open_run_dir(plan), train, evals, extra)


def mark_finished(run_dir: Path, cfg: RunConfig, step: int | None) -> None:
    """Record that the run reached rl.max_steps (written last, after checkpoints, metrics and plots)."""
    data = {"step": step, "max_steps": cfg.rl.max_steps, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    tmp = Path(run_dir) / f".{FINISHED_FILE}.tmp"
    tmp.write_text(json.dumps(data) + "\n", encoding="utf-8")
    tmp.replace(Path(run_dir) / FINISHED_FILE)


def finished_result(run_dir: Path) -> dict[str, Any]:
    """Where a finished run's results are, in the shape run_training returns."""
    plots = sorted(str(p) for p in (run_dir / "plots").glob("*.png")) if (run_dir / "plots").is_dir() else []
    wandb_id = run_dir / WANDB_ID_FILE
    return {
        "run_dir": str(run_dir), "metrics": str(run_dir / "metrics.jsonl"), "plots": plots,
        "checkpoints": [str(run_dir / CHECKPOINTS_DIR / f"{STEP_PREFIX}{s}") for s in checkpoint_steps(run_dir)],
        "samples": str(run_dir / "samples"),
        "wandb": (f"id {wandb_id.read_text().strip()}, files under {run_dir / 'wandb'}" if wandb_id.is_file()
                  else "disabled"),
        "pid": os.getpid(), "peak_rss_mb": None,
    }


# ---- output directories under `ray job submit --working-dir` -------------------------------------------

_RAY_JOB_CONFIG_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"
"""Set by Ray's job supervisor for a submitted job's entrypoint: the job's runtime_env, working_dir included."""


def ray_working_dir(cwd: Path | None = None, environ: dict[str, str] | None = None) -> Path | None:
    """The temporary copy of the tree this process runs in under `ray job submit --working-dir`, else None.

    Ray unpacks the working directory under `<session>/runtime_resources/working_dir_files/<package>/` and
    starts the job (and its tasks) there; the job's entrypoint also gets $RAY_JOB_CONFIG_JSON_ENV_VAR naming
    the working_dir. ($RAY_JOB_ID is no sign of a job: Ray sets it in every worker and strips it from jobs.)
    """
    cwd = Path.cwd() if cwd is None else cwd
    environ = dict(os.environ) if environ is None else environ
    parts = cwd.parts
    for i in range(1, len(parts) - 1):
        if parts[i] == "working_dir_files" and parts[i - 1] == "runtime_resources":
            return Path(*parts[: i + 2])
    try:
        job = json.loads(environ.get(_RAY_JOB_CONFIG_ENV) or "{}")
    except json.JSONDecodeError:
        return None
    runtime_env = job.get("runtime_env") if isinstance(job, dict) else None
    if isinstance(runtime_env, dict) and runtime_env.get("working_dir"):
        return cwd
    return None


def check_output_dir(value: str, key: str, *, cwd: Path | None = None, environ: dict[str, str] | None = None,
                     example: str = "rl.output_dir=$PWD/runs") -> None:
    """Refuse an output directory that would land in Ray's temporary copy of the tree (it vanishes with it).

    Inside a `--working-dir` job a relative path resolves into that copy, and the submitter's directory is
    not known there, so nothing can resolve it for them: the message shows the absolute form to submit.

    Raises:
        ConfigError: naming `key`, where the results would go and the fix.
    """
    copy = ray_working_dir(cwd, environ)
    if copy is None:
        return
    p = Path(value).expanduser()
    resolved = (Path.cwd() if cwd is None else cwd) / p if not p.is_absolute() else p
    inside = resolved.resolve() == copy.resolve() or copy.resolve() in resolved.resolve().parents
    if not p.is_absolute() or inside:
        raise ConfigError(
            f"{key} {value!r} is inside Ray's temporary copy of the working directory ({copy}): this job runs "
            f"there (ray job submit --working-dir), and the results would be deleted with the copy. Submit an "
            f"absolute path from your checkout instead, e.g. `{example}` (the shell expands $PWD before "
            f"submitting; inside the job your directory is unknown)")
