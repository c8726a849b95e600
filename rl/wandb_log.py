"""One logger for a run: every metric goes to runs/<name>/metrics.jsonl and, unless disabled, to W&B.

W&B is imported only when enabled; a disabled run gets the same interface with nothing behind it. Beside the
metrics (sections `train/`, `eval/`), each evaluation adds to W&B only: the run's plots as images (`plots/`),
line charts of the paper's figures per variation (`charts/<variant>/`) and the judged transcripts
(`transcripts/eval`); none of these go into metrics.jsonl.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from pathlib import Path
from typing import Any, Iterable, NamedTuple

from env.episode import TIERS
from reward.metrics import metric_key
from rl.config import RunConfig, WandbConfig
from rl.figures import TIER_LABELS
from rl.plots import eval_variants, plot_run

METRICS_FILE = "metrics.jsonl"
WANDB_ID_FILE = "wandb_id.txt"
TRANSCRIPTS_KEY = "transcripts/eval"
OWN_SECTIONS = ("eval", "plots", "charts", "transcripts")
"""What af-rl logs to a W&B run another process owns (OpenRLHF's trainer), against af-rl's `step`."""


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: write None for them so metrics.jsonl stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def resolve_wandb_mode(cfg: WandbConfig) -> str:
    """online / offline / disabled: the config, else $WANDB_MODE, else online only with an API key."""
    if cfg.mode:
        return cfg.mode
    env_mode = os.environ.get("WANDB_MODE")
    if env_mode in ("online", "offline", "disabled"):
        return env_mode
    if env_mode == "dryrun":
        return "offline"
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """All rows of a run's metrics.jsonl (empty if none yet)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def truncate_metrics(run_dir: Path, last_step: int) -> int:
    """Drop rows logged after `last_step` (work lost in a crash after the last checkpoint); returns rows dropped.

    Resuming from checkpoint N replays steps N+1.., so keeping their old rows would duplicate steps.
    A last line that is not JSON (a row torn by a crash while it was written) is dropped too: a row is
    written before its step's checkpoint is published, so that step is replayed. Raises on any other bad line.
    """
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return 0
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [json.loads(line) for line in lines[:-1]]
    if lines:
        try:
            rows.append(json.loads(lines[-1]))
        except json.JSONDecodeError:
            pass
    keep = [r for r in rows if r.get("step", 0) <= last_step]
    if len(keep) != len(lines):
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in keep), encoding="utf-8")
        tmp.replace(path)
    return len(lines) - len(keep)


class RunLogger:
    """Writes metric rows to metrics.jsonl and W&B under the same step; resumes the W&B run by id."""

    def __init__(self, run_dir: Path, cfg: RunConfig, *, secondary: bool = False) -> None:
        """`secondary`: another process (OpenRLHF's trainer) owns the W&B run; online, this logger joins
        it in W&B's shared mode and defines only its own sections (OWN_SECTIONS, against `step`); offline it is a run
        of its own."""
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.mode = resolve_wandb_mode(cfg.rl.wandb)
        self.log_transcripts = cfg.rl.wandb.log_transcripts
        self._wandb: Any = None
        self._run: Any = None
        self._pending: dict[str, Any] | None = None
        self.run_id: str | None = None
        if self.mode != "disabled":
            import wandb

            id_file = self.run_dir / WANDB_ID_FILE
            run_id = id_file.read_text().strip() if id_file.exists() else uuid.uuid4().hex[:12]
            id_file.write_text(run_id)
            self.run_id = run_id
            self._wandb = wandb
            shared = secondary and self.mode == "online"
            extra: dict[str, Any] = (
                {"mode": "shared", "settings": wandb.Settings(x_primary=False, x_label="af-rl-eval")}
                if shared else {"mode": self.mode}
            )
            self._run = wandb.init(
                project=cfg.rl.wandb.project,
                entity=cfg.rl.wandb.entity,
                name=cfg.rl.run_name,
                id=run_id,
                group=cfg.rl.run_name if secondary else None,
                resume="allow",
                dir=str(self.run_dir),
                config=cfg.model_dump(mode="json"),
                **extra,
            )
            # Our own `step` is the x-axis, so resumed runs and eval rows line up with training steps.
            wandb.define_metric("step")
            for pattern in [f"{section}/*" for section in OWN_SECTIONS] if secondary else ["*"]:
                wandb.define_metric(pattern, step_metric="step")

    @property
    def wandb_location(self) -> str:
        """Where the W&B run lives (URL when online, local directory when offline), or 'disabled'."""
        if self._run is None:
            return "disabled"
        if self.mode == "online" and getattr(self._run, "url", None):
            return str(self._run.url)
        return f"{self._run.dir} (offline: `wandb sync {Path(self._run.dir).parent}` uploads it)"

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        """Record metrics for `step`; calls for the same step merge into one metrics.jsonl row.

        A row is written when a later step arrives or on `flush()`; None values are kept in the file
        and skipped for W&B.
        """
        clean = {k: _clean(v) for k, v in metrics.items()}
        if self._pending is not None and self._pending["step"] != step:
            self.flush()
        if self._pending is None:
            self._pending = {"step": step}
        self._pending.update(clean)
        if self._run is not None:
            self._wandb.log({"step": step, **{k: v for k, v in clean.items() if v is not None}})

    def flush(self) -> None:
        """Write the pending row to metrics.jsonl."""
        if self._pending is None:
            return
        with (self.run_dir / METRICS_FILE).open("a", encoding="utf-8") as f:
            f.write(json.dumps(self._pending) + "\n")
        self._pending = None

    def history(self) -> list[dict[str, Any]]:
        """Every row so far: metrics.jsonl's, then the row of the current step not yet written."""
        rows = read_metrics(self.run_dir)
        return rows + ([dict(self._pending)] if self._pending is not None else [])

    def log_figures(self, step: int, plots_dir: Path) -> list[Path]:
        """Redraw the run's plots from `history()` into `plots_dir` (rl.plots.plot_run) and, unless W&B is
        disabled, log them as images (`plots/<name>`) and the per-variation line charts (`charts/<v>/...`,
        rates in percent, the gap in points with its interval) at `step`. Returns the plot paths."""
        rows = self.history()
        paths = plot_run(rows, Path(plots_dir))
        if self._run is not None:
            wandb = self._wandb
            media: dict[str, Any] = {f"plots/{p.stem}": wandb.Image(str(p)) for p in paths}
            for key, chart in chart_series(rows).items():
                media[key] = wandb.plot.line_series(chart.xs, chart.ys, keys=chart.names, title=chart.title,
                                                    xname="step")
            self._wandb.log({"step": step, **media})
        return paths

    def log_transcripts_table(self, step: int, rows: Iterable[dict[str, Any]]) -> None:
        """Evaluated transcripts (rl.evaluate.transcript_rows) as the W&B table `transcripts/eval` (skipped
        when disabled or log_transcripts is false)."""
        if self._run is None or not self.log_transcripts:
            return
        rows = list(rows)
        if not rows:
            return
        columns = list(rows[0])
        table = self._wandb.Table(columns=columns, data=[[r[c] for c in columns] for r in rows])
        self._wandb.log({"step": step, TRANSCRIPTS_KEY: table})

    def finish(self) -> None:
        """Write the pending row and close the W&B run (flushes offline files)."""
        self.flush()
        if self._run is not None:
            self._run.finish()
            self._run = None


class Chart(NamedTuple):
    """One W&B line chart (wandb.plot.line_series): a line per name, each with its own steps and values."""

    title: str
    names: list[str]
    xs: list[list[int]]
    ys: list[list[float]]


def chart_series(rows: list[dict[str, Any]]) -> dict[str, Chart]:
    """The W&B line charts of metrics.jsonl rows, by key: for each variation `v`, `charts/<v>/compliance`
    (free vs paid, percent), `charts/<v>/compliance_gap` (the gap and its 95 % bounds, percentage points) and
    `charts/<v>/af_rate` (free vs paid, percent). Undefined (None) points are left out of their line; a
    chart with no point at all is left out."""
    charts: dict[str, Chart] = {}
    for v in eval_variants(rows):
        specs = {
            "compliance": (f"{v}: full compliance per tier (%)",
                           {TIER_LABELS[t]: metric_key("eval", v, t, "compliance") for t in TIERS}),
            "compliance_gap": (f"{v}: compliance gap, free - paid (percentage points)",
                               {"gap": metric_key("eval", v, "compliance_gap"),
                                "95 % low": metric_key("eval", v, "compliance_gap_lo"),
                                "95 % high": metric_key("eval", v, "compliance_gap_hi")}),
            "af_rate": (f"{v}: AF-reasoning rate per tier (%)",
                        {TIER_LABELS[t]: metric_key("eval", v, t, "af_rate") for t in TIERS}),
        }
        for name, (title, lines) in specs.items():
            xs = [[r["step"] for r in rows if r.get(k) is not None] for k in lines.values()]
            ys = [[round(100 * r[k], 2) for r in rows if r.get(k) is not None] for k in lines.values()]
            if any(xs):
                charts[metric_key("charts", v, name)] = Chart(title, list(lines), xs, ys)
    return charts
