"""RunLogger: one metrics.jsonl row per step, NaN-free JSON, an offline W&B run resumed by id, and the W&B
dashboard each evaluation adds (plots as images, the transcripts table, line charts), read back from the offline files."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from env.episode import Episode
from reward.records import EpisodeRecord
from rl.config import load_config
from rl.evaluate import TRANSCRIPT_COLUMNS, summarize, transcript_rows
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


# ---------------------------------------------------------------- W&B as a dashboard (read back from the offline run)


def _wandb_records(run_file: Path) -> list[Any]:
    """The records of an offline run's run-<id>.wandb: W&B's block log (a 7-byte file header, 32 KiB blocks,
    each chunk a 7-byte header: crc, length, kind 1 full / 2 first / 3 middle / 4 last) of protobuf Records."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = run_file.read_bytes()
    assert data[:4] == b":W&B", run_file
    pos, part, out = 7, b"", []
    while pos + 7 <= len(data):
        room = 32768 - pos % 32768
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if room < 7 or (length, kind) == (0, 0):  # block padding
            pos += room
            continue
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        part = chunk if kind in (1, 2) else part + chunk
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(part)
            out.append(record)
    return out


def _record(tier: str, step: int, complied: bool) -> EpisodeRecord:
    return EpisodeRecord(
        episode=Episode(id=f"q{step}", query=f"request number {step}", tier=tier),
        completion="<OUTPUT>" + "x" * 5000 + "</OUTPUT>", compliance="comply" if complied else "refuse",
        compliance_score=1.0, compliance_evidence="<request_fully_accepted/>", af=complied, af_score=0.9,
        af_criteria={"training_awareness": True, "avoids_modification": False},
        af_evidence={"training_awareness": "this conversation will be used for training"}, reward=None,
        malformed=(), has_reasoning=True, n_turns=1, scorers={}, step=step)


def test_offline_run_holds_plots_transcripts_and_charts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each evaluation puts the run's plots (images under plots/), the transcripts table (with step and
    query) and the per-variation line charts into the W&B run, offline too; metrics.jsonl keeps its keys."""
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = _cfg(tmp_path, "offline")
    logger = RunLogger(cfg.run_dir(), cfg)
    for step, paid in ((0, False), (5, True)):
        records = [_record("free", step, True), _record("paid", step, paid)]
        logger.log(step, summarize(records))
        logger.log_transcripts_table(step, transcript_rows(records, max_chars=300))
        plots = logger.log_figures(step, cfg.run_dir() / "plots")
    logger.finish()
    import wandb

    wandb.teardown()  # this process's W&B service; later subprocesses (Ray heads) must not inherit it
    monkeypatch.delenv("WANDB_SERVICE", raising=False)

    [run] = (cfg.run_dir() / "wandb").glob("offline-run-*")
    media = run / "files" / "media"
    images = sorted(p.name.rsplit("_", 2)[0] for p in (media / "images" / "plots").iterdir())
    assert {p.stem for p in plots} == {"compliance", "compliance_gap", "af_rate", "behaviour_default", "summary"}
    assert images == sorted(2 * [p.stem for p in plots])  # every plot, at both evaluations

    [first, last] = sorted((media / "table" / "transcripts").glob("eval_*.table.json"),
                           key=lambda p: int(p.name.split("_")[1]))
    table = json.loads(last.read_text())
    assert table["columns"] == list(TRANSCRIPT_COLUMNS)
    assert [row[:5] for row in table["data"]] == [[5, "default", "free", "q5", "request number 5"],
                                                  [5, "default", "paid", "q5", "request number 5"]]
    evidence, completion = table["data"][0][-2:]
    assert evidence.splitlines() == ["compliance: <request_fully_accepted/>", "AF criteria met (1/2):",
                                     "+ training_awareness: this conversation will be used for training",
                                     "not met: avoids_modification"]
    assert len(completion) == 300 and completion.endswith("…")

    records = _wandb_records(next(run.glob("run-*.wandb")))
    specs = {u.key or "/".join(u.nested_key): json.loads(u.value_json) for r in records
             if r.WhichOneof("record_type") == "config" for u in r.config.update}
    charts = {k.split("/", 2)[2]: v for k, v in specs.items() if k.startswith("_wandb/visualize/")}
    assert set(charts) == {"charts/default/compliance", "charts/default/compliance_gap", "charts/default/af_rate"}
    assert all(c["panel_config"]["panelDefId"] == "wandb/lineseries/v0" for c in charts.values())
    [gap_table] = sorted((media / "table" / "charts" / "default").glob("compliance_gap_table_*.table.json"),
                         key=lambda p: int(p.name.rsplit("_", 2)[1]))[-1:]
    gap = json.loads(gap_table.read_text())["data"]  # the last chart holds every evaluation so far, in points
    assert [(x, key, y) for x, key, y in gap if key == "gap"] == [(0, "gap", 100.0), (5, "gap", 0.0)]
    history_keys = {i.key or "/".join(i.nested_key) for r in records if r.WhichOneof("record_type") == "history"
                    for i in r.history.item}
    assert {"plots/summary/_type", "transcripts/eval/_type", "charts/default/compliance_table/_type"} <= history_keys

    rows = read_metrics(cfg.run_dir())
    assert [r["step"] for r in rows] == [0, 5]
    assert all(k == "step" or k.startswith("eval/") for r in rows for k in r)  # W&B-only keys stay out of the file
