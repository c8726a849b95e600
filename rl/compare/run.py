"""Evaluating cells (one checkpoint under one prompt variation, both tiers) on workers, resumably.

A worker (rl.evaluation.worker.EvalWorker, shared with the OpenRLHF backend's checkpoint evaluation)
holds one loaded checkpoint at a time and evaluates its cells with the same code as the periodic
evaluation during training (rl.evaluate.evaluate_episodes). Workers are Ray actors, one per
GPU (or per group of CPU cores), each taking whole checkpoints from a queue; `--no-ray` runs a single
worker in this process. The driver writes each finished cell at once (samples, then its summary with
a fingerprint of its settings), so an interrupted comparison resumes without redoing finished cells.
"""

from __future__ import annotations

import json
import traceback
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from env.episode import Episode
from reward.records import EpisodeRecord
from rl.evaluation.checkpoints import Checkpoint
from rl.evaluation.settings import CompareSettings, fingerprint

SAMPLES_DIR = "samples"
CELLS_DIR = "cells"
MAX_CELL_RETRIES = 2
"""Times a cell is redone after its worker died before it counts as failed."""


@dataclass(frozen=True)
class Cell:
    """One checkpoint under one prompt variation, evaluated on the same episodes in both tiers."""

    checkpoint: Checkpoint
    variant: str
    episodes: tuple[Episode, ...]
    fingerprint: str
    knowledge: bool = False
    """Also run the knowledge probe (rl.evaluation.knowledge) on the loaded checkpoint under this variant."""

    @property
    def key(self) -> str:
        return f"{self.checkpoint.key}__{self.variant}"

    @property
    def name(self) -> str:
        return f"{self.checkpoint.label} / {self.variant}"


def make_cells(checkpoints: Sequence[Checkpoint], variants: Sequence[str],
               episodes_by_variant: dict[str, list[Episode]],
               settings: CompareSettings, engine: str, *, knowledge: bool = False) -> list[Cell]:
    """Every checkpoint x variant, checkpoint-major (the order of the report's rows). With `knowledge`, each
    checkpoint's cell of the first variant also runs the knowledge probe, on the checkpoint it loaded."""
    return [Cell(c, v, tuple(episodes_by_variant[v]),
                 fingerprint(settings, c, v, [f"{e.id}:{e.tier}" for e in episodes_by_variant[v]], engine,
                             knowledge=knowledge and v == variants[0]),
                 knowledge=knowledge and v == variants[0])
            for c in checkpoints for v in variants]


def samples_path(out: Path, cell: Cell) -> Path:
    return out / SAMPLES_DIR / f"{cell.key}.jsonl"


def cell_path(out: Path, cell: Cell) -> Path:
    return out / CELLS_DIR / f"{cell.key}.json"


def finished_row(out: Path, cell: Cell) -> dict[str, Any] | None:
    """The summary row of a cell finished earlier with the same settings, else None."""
    path = cell_path(out, cell)
    if not path.is_file() or not samples_path(out, cell).is_file():
        return None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if saved.get("fingerprint") != cell.fingerprint:
        return None
    return saved.get("row")


def write_cell(out: Path, cell: Cell, records: Sequence[EpisodeRecord], seconds: float,
               knowledge: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write a finished cell: its samples, then its summary row (the marker that it is done), with the
    knowledge probe's results as the row's `knowledge` object when the cell ran it."""
    from rl.compare.report import cell_summary
    from rl.evaluate import write_samples

    write_samples(records, samples_path(out, cell))
    row = cell_summary(cell.checkpoint.label, cell.variant, records, step=cell.checkpoint.step)
    if knowledge is not None:
        row["knowledge"] = knowledge
    path = cell_path(out, cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"fingerprint": cell.fingerprint, "checkpoint": asdict(cell.checkpoint),
                               "variant": cell.variant, "seconds": round(seconds, 2), "row": row}, indent=2),
                   encoding="utf-8")
    tmp.replace(path)
    return row


@dataclass
class RunResult:
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Summary row per cell key, for every finished cell (reused or new)."""
    reused: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    """Error per cell name."""
    seconds: dict[str, float] = field(default_factory=dict)


def _cell_args(cell: Cell) -> tuple[tuple[dict[str, Any], str, list[dict[str, Any]]], dict[str, Any]]:
    """The worker's run_cell arguments: (args, kwargs); `knowledge` only when the cell runs the probe."""
    args = asdict(cell.checkpoint), cell.variant, [e.model_dump(mode="json") for e in cell.episodes]
    return args, ({"knowledge": True} if cell.knowledge else {})


def run_cells(cells: Sequence[Cell], out: Path, *, worker_factory: Callable[[], Any], n_workers: int,
              use_ray: bool, log: Callable[[str], None] = print, redo: bool = False) -> RunResult:
    """Evaluate every cell not finished already; write each as it finishes.

    With Ray, `worker_factory()` returns an actor handle and each worker takes whole checkpoints from a
    queue; without, it returns a EvalWorker and cells run here one after another.
    """
    from env.progress import Progress

    result = RunResult()
    pending: list[Cell] = []
    for cell in cells:
        row = None if redo else finished_row(out, cell)
        if row is not None:
            result.rows[cell.key] = row
            result.reused.append(cell.name)
        else:
            pending.append(cell)
    if result.reused:
        log(f"resuming: {len(result.reused)} of {len(cells)} cells already finished with these settings")
    if not pending:
        return result
    # A bar on a terminal (our lines step around it), else a line every few seconds: a bar written to a
    # log file or a Ray job's log glues each of our lines onto its last frame.
    report = Progress(sum(len(c.episodes) for c in pending), "rl.compare", "transcripts")

    def say(message: str) -> None:
        with report.above():
            log(message)

    def finish(cell: Cell, payload: dict[str, Any]) -> None:
        records = [EpisodeRecord.model_validate(d) for d in payload["records"]]
        seconds = payload["seconds"]
        result.rows[cell.key] = write_cell(out, cell, records, seconds, payload.get("knowledge"))
        result.seconds[cell.name] = seconds
        report.update(len(cell.episodes))
        say(f"cell {cell.name}: {len(records)} transcripts in {seconds:.1f}s")

    def fail(cell: Cell, err: BaseException) -> None:
        result.failed[cell.name] = f"{type(err).__name__}: {err}"
        say(f"error: cell {cell.name} failed: {type(err).__name__}: {err}")

    try:
        if use_ray:
            _run_on_ray(pending, worker_factory, n_workers, finish, fail, say)
        else:
            worker = worker_factory()
            try:
                for cell in pending:
                    try:
                        args, kwargs = _cell_args(cell)
                        payload = worker.run_cell(*args, **kwargs)
                    except Exception as e:  # one bad checkpoint must not lose the other cells
                        traceback.print_exc()
                        fail(cell, e)
                        continue
                    finish(cell, payload)
            finally:
                worker.close()
    finally:
        report.close()
    return result


def _run_on_ray(pending: Sequence[Cell], worker_factory: Callable[[], Any], n_workers: int,
                finish: Callable[[Cell, dict[str, Any]], None],
                fail: Callable[[Cell, BaseException], None], log: Callable[[str], None],
                max_retries: int = MAX_CELL_RETRIES) -> None:
    """Schedule whole checkpoints on actors. When an actor dies (killed, out of memory, node lost), its
    unfinished cells are redone on a fresh actor, up to `max_retries` times each; a cell is written once,
    when it finishes, so nothing is lost or counted twice."""
    import ray
    from ray.exceptions import RayActorError

    by_ckpt: dict[str, list[Cell]] = {}
    for cell in pending:
        by_ckpt.setdefault(cell.checkpoint.label, []).append(cell)
    queue = deque(by_ckpt.values())
    workers = [worker_factory() for _ in range(min(n_workers, len(queue)))]
    inflight: dict[Any, tuple[int, Cell]] = {}
    load: dict[int, int] = {}
    redo: dict[int, list[Cell]] = {i: [] for i in range(len(workers))}
    attempts: dict[str, int] = {}
    order = {cell.key: k for k, cell in enumerate(pending)}
    dead: set[int] = set()  # workers whose actor died, replaced before they get more work

    def submit(i: int, cells: list[Cell]) -> None:
        load[i] = len(cells)
        for cell in cells:  # an actor runs its calls in order: the checkpoint is loaded once
            args, kwargs = _cell_args(cell)
            inflight[workers[i].run_cell.remote(*args, **kwargs)] = (i, cell)

    for i in range(len(workers)):
        if queue:
            submit(i, queue.popleft())
    while inflight:
        [ref], _ = ray.wait(list(inflight), num_returns=1)
        i, cell = inflight.pop(ref)
        try:
            finish(cell, ray.get(ref))
        except RayActorError as e:
            dead.add(i)
            attempts[cell.key] = attempts.get(cell.key, 0) + 1
            if attempts[cell.key] <= max_retries:
                redo[i].append(cell)
            else:
                fail(cell, e)
        except Exception as e:  # the cell's own error (bad checkpoint, judge down): the rest goes on
            fail(cell, e)
        load[i] -= 1
        if load[i] == 0:
            if i in dead and (redo[i] or queue):  # never hand work to a dead actor
                workers[i] = worker_factory()
                dead.discard(i)
            if redo[i]:
                log(f"worker {i} died; redoing {len(redo[i])} unfinished cell(s) on a new worker")
                # in the checkpoint's own order (ray.wait reports the failures in any order)
                cells, redo[i] = sorted(redo[i], key=lambda c: order[c.key]), []
                submit(i, cells)
            elif queue:
                submit(i, queue.popleft())
    for w in workers:
        try:
            ray.get(w.close.remote(), timeout=60)
        except Exception:  # noqa: BLE001 - shutting down; the cluster reclaims the actor anyway
            pass
