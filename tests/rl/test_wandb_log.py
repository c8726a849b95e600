"""RunLogger: one metrics.jsonl row per step, NaN-free JSON, and an offline W&B run resumed by id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rl.config import load_config
from rl.wandb_log import RunLogger, read_metrics, resolve_wandb_mode, truncate_metrics

ROOT = Path(__file__).resolve().parents[2]


def _cfg(tmp: Path, mode: str):
    return load_config(ROOT / "configs/demo_cpu.yaml", [f"rl.output_dir={tmp}", f"rl.wandb.mode={mode}"])


def test_rows_merge_per_step_and_nan_becomes_null(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "disabled")
    log = RunLogger(cfg.run_dir(), cfg)
    log.log(0, {"eval/default/free/compliance": 0.25})
    log.log(1, {"eval/default/free/compliance": 0.5})
    log.log(1, {"train/reward": float("nan"), "train/loss": 0.1})  # same step: merged into one row
    log.finish()
    rows = read_metrics(cfg.run_dir())
    assert rows == [
        {"step": 0, "eval/default/free/compliance": 0.25},
        {"step": 1, "eval/default/free/compliance": 0.5, "train/reward": None, "train/loss": 0.1},
    ]
    assert truncate_metrics(cfg.run_dir(), 0) == 1
    assert [r["step"] for r in read_metrics(cfg.run_dir())] == [0]


@pytest.mark.parametrize(
    ("cfg_mode", "env", "expected"),
    [
        ("offline", {"WANDB_MODE": "online"}, "offline"),  # the config wins
        (None, {"WANDB_MODE": "disabled"}, "disabled"),  # then the environment
        (None, {"WANDB_API_KEY": "k"}, "online"),  # a key means online
        (None, {}, "offline"),  # nothing configured: never try to reach the network
    ],
)
def test_wandb_mode_resolution(cfg_mode, env, expected, monkeypatch) -> None:
    from rl.config import WandbConfig

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert resolve_wandb_mode(WandbConfig(mode=cfg_mode)) == expected


def test_offline_wandb_run_is_created_and_resumed_under_the_same_id(tmp_path: Path) -> None:
    pytest.importorskip("wandb")
    cfg = _cfg(tmp_path, "offline")
    first = RunLogger(cfg.run_dir(), cfg)
    first.log(0, {"eval/default/free/compliance": 0.25})
    where = first.wandb_location
    first.finish()
    run_id = (cfg.run_dir() / "wandb_id.txt").read_text()
    assert run_id and "offline" in where
    offline_runs = list((cfg.run_dir() / "wandb").glob(f"offline-run-*-{run_id}"))
    assert offline_runs, list((cfg.run_dir() / "wandb").iterdir())
    second = RunLogger(cfg.run_dir(), cfg)  # a resumed job reuses the id
    second.log(1, {"eval/default/free/compliance": 0.5})
    second.finish()
    assert (cfg.run_dir() / "wandb_id.txt").read_text() == run_id
    assert [json.loads(x)["step"] for x in (cfg.run_dir() / "metrics.jsonl").read_text().splitlines()] == [0, 1]


class _FakeWandb:
    """Records wandb.init's arguments and define_metric calls (an online W&B needs a server)."""

    def __init__(self) -> None:
        self.inits: list[dict] = []
        self.metrics: list[tuple] = []

    def Settings(self, **kw):  # noqa: N802 - wandb's own name
        return ("Settings", kw)

    def init(self, **kw):
        self.inits.append(kw)
        return type("Run", (), {"dir": "/tmp/x", "url": "https://wandb.example/run", "finish": lambda self: None})()

    def define_metric(self, *a, **kw) -> None:
        self.metrics.append((a, kw))

    def log(self, data) -> None:
        pass


@pytest.mark.parametrize("mode", ["online", "offline"])
def test_secondary_logger_joins_the_trainers_run_online(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        mode: str) -> None:
    """With OpenRLHF owning the W&B run, af-rl's evaluation joins it in shared mode as a secondary writer
    (online) and defines only eval/* against its `step`; offline it is its own run in the same group."""
    fake = _FakeWandb()
    monkeypatch.setitem(__import__("sys").modules, "wandb", fake)
    cfg = _cfg(tmp_path, mode)
    logger = RunLogger(cfg.run_dir(), cfg, secondary=True)
    [init] = fake.inits
    assert init["id"] == logger.run_id and init["group"] == cfg.rl.run_name
    if mode == "online":
        assert init["mode"] == "shared" and init["settings"] == ("Settings", {"x_primary": False,
                                                                              "x_label": "af-rl-eval"})
    else:
        assert init["mode"] == "offline" and "settings" not in init
    assert (("eval/*",), {"step_metric": "step"}) in fake.metrics
    assert not any(a == ("*",) for a, _ in fake.metrics)  # OpenRLHF's train/* keep their own x-axis
