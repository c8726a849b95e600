"""Model references that don't resolve stop rl/train.py and rl.compare with exit code 2 before Ray starts,
naming the reference and what was tried, writing nothing. No test here reaches the network: the hub is
switched off ($HF_HUB_OFFLINE) or pointed at a local port where nothing listens."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from rl.models import HUB_TIMEOUT_S, ModelNotFoundError, locate_model, looks_like_path

ROOT = Path(__file__).resolve().parents[2]


def fake_hf_cache(root: Path, repo_id: str, filename: str = "config.json") -> Path:
    """A hub cache as huggingface_hub lays it out, holding `filename` of `repo_id` at revision main."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    (repo / "snapshots" / ("0" * 40)).mkdir(parents=True)
    (repo / "snapshots" / ("0" * 40) / filename).write_text('{"model_type": "llama"}')
    return root


@pytest.fixture
def offline_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HF cache and offline mode, as huggingface_hub reads them (its constants, set at import)."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A local port bound but not listening: connecting is refused at once, and no one else can take it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


@pytest.mark.parametrize(("ref", "is_path"), [
    ("runs/nope", True),  # first component exists (made below)
    ("./model", True), ("../model", True), ("/abs/model", True), ("~/model", True),
    ("runs/x/checkpoints/step-5", True),  # hub ids have one slash
    ("org/name/", True),
    ("org/name", False),  # a hub id: `org` is no directory here
    ("Qwen/Qwen2.5-7B-Instruct", False),
    ("gpt2", False),  # not a path; whether it is a hub id is the next check's business
])
def test_looks_like_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ref: str, is_path: bool) -> None:
    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path)
    assert looks_like_path(ref) is is_path


def test_a_missing_path_is_reported_as_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelNotFoundError) as e:
        locate_model("runs/nope")
    missing = tmp_path / "runs" / "nope"
    assert str(e.value) == f"no such file or directory ({missing}); a path is not looked up on the hub"


def test_hub_ids_resolve_from_the_local_cache_without_the_hub(offline_hub: Path, tmp_path: Path) -> None:
    fake_hf_cache(offline_hub, "org/cached-model")
    fake_hf_cache(offline_hub, "org/cached-adapter", "adapter_config.json")
    assert locate_model("org/cached-model") == "cache"
    assert locate_model("org/cached-adapter") == "cache"
    assert locate_model(str(tmp_path)) == "local"
    with pytest.raises(ModelNotFoundError) as e:
        locate_model("org/other-model")  # near miss: same org, not cached
    assert f"not in the local HF cache ({offline_hub})" in str(e.value)
    assert "the hub was not asked ($HF_HUB_OFFLINE is set)" in str(e.value)
    with pytest.raises(ModelNotFoundError, match="nor an org/name hub id"):
        locate_model("not a model")


def test_a_hub_that_never_answers_is_given_up_after_the_timeout(tmp_path: Path) -> None:
    """A server that accepts the connection and says nothing: the request ends with the timeout passed in."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        code = ("from rl.models import locate_model, ModelNotFoundError\n"
                "try:\n    locate_model('org/nope', timeout_s=0.5)\n"
                "except ModelNotFoundError as e:\n    print(e)\n")
        proc = _run(["-c", code], tmp_path, HF_ENDPOINT=f"http://127.0.0.1:{port}")
    assert proc.returncode == 0, proc.stderr
    assert f"the hub (http://127.0.0.1:{port}, timeout 0.5s) answered ReadTimeout" in proc.stdout


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    full.update({"PYTHONPATH": str(ROOT), "WANDB_MODE": "disabled", "HF_HUB_CACHE": str(cwd / "hf-cache"), **env})
    return subprocess.run([sys.executable, *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=120)


TRAIN = [str(ROOT / "rl" / "train.py"), "--config", str(ROOT / "configs" / "demo_cpu.yaml"), "rl.model.source=hf",
         "rl.output_dir=runs", "rl.ray.address=127.0.0.1:1"]  # should a check let it through: exit 2 at once, no Ray


def test_train_with_an_unreachable_hub_id_stops_before_ray(tmp_path: Path, closed_port: int) -> None:
    proc = _run([*TRAIN, "rl.model.name_or_path=org/nope"], tmp_path, HF_ENDPOINT=f"http://127.0.0.1:{closed_port}")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: rl.model.name_or_path: 'org/nope': ")
    assert f"not in the local HF cache ({tmp_path / 'hf-cache'})" in proc.stderr
    hub = f"http://127.0.0.1:{closed_port}"
    assert f"the hub ({hub}, timeout {HUB_TIMEOUT_S:g}s) answered ConnectError" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no run directory, no config.yaml


def test_train_offline_does_not_ask_the_hub(tmp_path: Path) -> None:
    proc = _run([*TRAIN, "rl.model.name_or_path=org/nope"], tmp_path, HF_HUB_OFFLINE="1")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "the hub was not asked ($HF_HUB_OFFLINE is set)" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_train_with_a_missing_relative_path_never_asks_the_hub(tmp_path: Path, closed_port: int) -> None:
    (tmp_path / "runs").mkdir()
    proc = _run([*TRAIN, "rl.model.name_or_path=runs/nope/checkpoints/step-5"], tmp_path,
                HF_ENDPOINT=f"http://127.0.0.1:{closed_port}")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"no such file or directory ({tmp_path / 'runs/nope/checkpoints/step-5'})" in proc.stderr
    assert "hub (" not in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["runs"] and not any((tmp_path / "runs").iterdir())


def test_train_accepts_a_hub_id_from_the_cache(tmp_path: Path) -> None:
    """The control: the same command with the id in the local cache passes the model check (and then
    stops at the unreachable Ray address, before anything is written)."""
    fake_hf_cache(tmp_path / "hf-cache", "org/cached")
    proc = _run([*TRAIN, "rl.model.name_or_path=org/cached"], tmp_path, HF_HUB_OFFLINE="1")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "rl.model.name_or_path" not in proc.stderr and "rl.ray.address" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf-cache"]


@pytest.mark.parametrize(("spec", "needles"), [
    ("runs/nope", ["checkpoint runs/nope: model 'runs/nope': no such file or directory", "not looked up on the hub"]),
    ("org/nope", ["checkpoint org/nope: model 'org/nope': not a local path", "answered ConnectError"]),
])
def test_compare_with_a_checkpoint_that_does_not_resolve_writes_nothing(tmp_path: Path, closed_port: int, spec: str,
                                                                       needles: list[str]) -> None:
    (tmp_path / "runs").mkdir()
    proc = _run(["-m", "rl.compare", "--checkpoints", spec, "--out", str(tmp_path / "out"), "--ray-address",
                 "127.0.0.1:1"], tmp_path, HF_ENDPOINT=f"http://127.0.0.1:{closed_port}")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr
    assert len(proc.stderr.splitlines()) == 1  # one line, no traceback
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]  # no --out directory


def test_compare_adapter_whose_hub_base_does_not_resolve(tmp_path: Path) -> None:
    adapter = tmp_path / "lora"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"base_model_name_or_path": "org/base", "r": 4}')
    (adapter / "adapter_model.safetensors").write_bytes(b"\0")
    proc = _run(["-m", "rl.compare", "--checkpoints", str(adapter), "--out", str(tmp_path / "out")], tmp_path,
                HF_HUB_OFFLINE="1")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"checkpoint {adapter}: the adapter's base model" in proc.stderr and "'org/base'" in proc.stderr
    assert "$HF_HUB_OFFLINE is set" in proc.stderr
    assert not (tmp_path / "out").exists()
