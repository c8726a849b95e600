"""rl.compare on Ray when a worker dies mid-evaluation: its unfinished cells are redone on a new worker,
each cell is written exactly once, and a cell whose worker keeps dying is reported as failed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from rl.evaluation.checkpoints import Checkpoint
from rl.compare.run import Cell, _run_on_ray

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_local() -> Any:
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


def _cells() -> list[Cell]:
    return [Cell(Checkpoint(label=f"run/step-{s}", model=f"/m/{s}", step=s), v, (), f"fp-{s}-{v}")
            for s in (1, 2) for v in ("default", "lab_swap")]


def _worker_cls(ray: Any) -> Any:
    @ray.remote(max_restarts=0, num_cpus=0)
    class Crashy:
        """Dies (like a worker killed by the OOM killer) the first `deaths` times it starts a chosen cell."""

        def __init__(self, marker_dir: str, kill: str, deaths: int) -> None:
            self.marker_dir, self.kill, self.deaths = Path(marker_dir), kill, deaths

        def run_cell(self, checkpoint: dict, variant: str, episodes: list) -> dict:
            key = f"{checkpoint['label']}/{variant}"
            if key == self.kill:
                died = len(list(self.marker_dir.glob("death-*")))
                if died < self.deaths:
                    (self.marker_dir / f"death-{died}").touch()
                    os._exit(1)
            return {"records": [], "seconds": 0.0, "key": key}

        def close(self) -> None:
            pass

    return Crashy


# The worker dies on the FIRST cell of checkpoint step-1, so both of that checkpoint's cells are unfinished
# whatever the timing: had it died on the second, whether the first one's reply left the process before the
# os._exit is a race (under load it doesn't, and that cell is redone too).
KILL = "run/step-1/default"


def _run(ray: Any, tmp: Path, deaths: int) -> tuple[list[str], list[str], list[str]]:
    finished: list[str] = []
    failed: list[str] = []
    logs: list[str] = []
    crashy = _worker_cls(ray)
    _run_on_ray(_cells(), lambda: crashy.remote(str(tmp), KILL, deaths), 1,
                finish=lambda cell, payload: finished.append(payload["key"]),
                fail=lambda cell, err: failed.append(cell.name), log=logs.append, max_retries=2)
    return finished, failed, logs


def test_a_killed_worker_is_replaced_and_its_cell_redone_once(ray_local: Any, tmp_path: Path) -> None:
    finished, failed, logs = _run(ray_local, tmp_path, deaths=1)
    assert sorted(finished) == ["run/step-1/default", "run/step-1/lab_swap", "run/step-2/default",
                                "run/step-2/lab_swap"]  # every cell exactly once
    assert failed == []
    assert [m for m in logs if "redoing" in m] == ["worker 0 died; redoing 2 unfinished cell(s) on a new worker"]


def test_a_cell_that_keeps_killing_its_worker_fails_and_the_rest_finish(ray_local: Any, tmp_path: Path) -> None:
    finished, failed, logs = _run(ray_local, tmp_path, deaths=10)
    # Redone in the checkpoint's order, so lab_swap always runs behind the cell that kills the worker.
    assert sorted(failed) == ["run/step-1 / default", "run/step-1 / lab_swap"]  # after 2 redos each (max_retries)
    assert sorted(finished) == ["run/step-2/default", "run/step-2/lab_swap"]
    assert len([m for m in logs if "redoing 2 unfinished" in m]) == 2
