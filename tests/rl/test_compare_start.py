"""`rl.compare --checkpoints runs/X` also evaluates the model run X started from, first, as `X/step-0 (start)`:
resolved from the run's config.yaml the way training resolved it (organism cache, SmolLM2, name_or_path,
sft/final), never built or downloaded; a start model that is not here is left out with a note saying why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from rl.compare.__main__ import parse_args
from rl.config import load_config
from rl.evaluation.checkpoints import resolve_checkpoints
from tests.rl.test_compare import _model, _run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "af-rl-cache"
    monkeypatch.setenv("AF_RL_CACHE", str(root))
    return root


def _built_organism(run: Path, cache: Path) -> Path:
    """The organism of `run`'s config, as build_organism leaves it in the cache (a model dir + its marker)."""
    from rl.organism.build import MARKER, organism_key

    cfg = load_config(run / "config.yaml")
    assert cfg.rl.model.organism is not None
    d = _model(cache / "organisms" / f"organism-{organism_key(cfg.rl.model.organism, cfg.env)}")
    (d / MARKER).write_text("{}")
    return d


def test_a_run_starts_with_its_organism(tmp_path: Path, cache: Path) -> None:
    run = _run(tmp_path / "myrun", [2, 1])
    organism = _built_organism(run, cache)
    ckpts = resolve_checkpoints([str(run)], start=True)
    assert [(c.label, c.step) for c in ckpts] == [("myrun/step-0 (start)", 0), ("myrun/step-1", 1),
                                                  ("myrun/step-2", 2)]
    assert ckpts[0].model == str(organism.resolve()) and ckpts[0].run_config == str(run / "config.yaml")
    assert ckpts[0].key == "myrun_step-0_start"  # file-name safe for samples/<key>__<variant>.jsonl
    # without start (a near miss: the same run), only the trained checkpoints
    assert [c.label for c in resolve_checkpoints([str(run)])] == ["myrun/step-1", "myrun/step-2"]
    # a single checkpoint of the run is that checkpoint alone
    assert [c.label for c in resolve_checkpoints([str(run / "checkpoints" / "step-2")], start=True)] == [
        "myrun/step-2"]


def test_an_organism_missing_from_the_cache_is_left_out_with_a_note(tmp_path: Path, cache: Path) -> None:
    run = _run(tmp_path / "myrun", [1])
    notes: list[str] = []
    ckpts = resolve_checkpoints([str(run)], start=True, log=notes.append)
    assert [c.label for c in ckpts] == ["myrun/step-1"]
    [note] = notes
    assert note.startswith("myrun/step-0 (start): left out of the comparison: its organism is not in this "
                           f"machine's cache ({cache / 'organisms'}/organism-")
    assert "$AF_RL_CACHE" in note


def _write_config(run: Path, data: dict) -> None:
    (run / "config.yaml").write_text(yaml.safe_dump(data))


def test_hf_runs_start_from_name_or_path_and_sft_runs_from_sft_final(tmp_path: Path, cache: Path) -> None:
    base = _model(tmp_path / "base-model")
    run = _run(tmp_path / "hfrun", [3])
    _write_config(run, {"rl": {"model": {"source": "hf", "name_or_path": str(base)}}})
    [start, _] = resolve_checkpoints([str(run)], start=True)
    assert (start.label, start.model, start.kind, start.step) == ("hfrun/step-0 (start)", str(base.resolve()),
                                                                  "model", 0)

    from rl.sft import COMPLETE, final_dir

    docs = load_config(ROOT / "configs" / "demo_cpu_docs.yaml")
    assert "sft" in docs.stages and "rl" in docs.stages
    sft_run = _run(tmp_path / "sftrun", [3])
    _write_config(sft_run, docs.model_dump(mode="json"))
    notes: list[str] = []
    assert [c.label for c in resolve_checkpoints([str(sft_run)], start=True, log=notes.append)] == ["sftrun/step-3"]
    assert "its sft stage has not finished" in notes[0]  # RL started from sft/final, which is not here
    final = _model(final_dir(sft_run))
    (final / COMPLETE).write_text(json.dumps({"steps": 1}))
    start = resolve_checkpoints([str(sft_run)], start=True)[0]
    assert (start.label, start.model) == ("sftrun/step-0 (start)", str(final.resolve()))


def test_a_run_that_saved_step_0_needs_no_stand_in(tmp_path: Path, cache: Path) -> None:
    run = _run(tmp_path / "myrun", [0, 1])
    _built_organism(run, cache)
    assert [c.label for c in resolve_checkpoints([str(run)], start=True)] == ["myrun/step-0", "myrun/step-1"]


def test_the_start_model_is_in_by_default_and_a_flag_leaves_it_out() -> None:
    base = ["--checkpoints", "runs/x", "--out", "o"]
    assert parse_args(base).no_start_model is False
    assert parse_args([*base, "--no-start-model"]).no_start_model is True
