"""The judge endpoint's startup probe (reward/judges/probe.py): one tiny request, a clear exit 2 from every
CLI that uses a judge (rl/train.py, rl.compare, reward.classify) before anything is loaded or written, and
never the key in a message. Loopback servers only (tests/reward/judge_server.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from judge_server import JudgeServer, compliance_answer

from env.episode import Episode
from env.llm.probe import PROBE_MESSAGES, _transport_cause
from env.transcript import parsed_from_parts
from reward.config import RewardConfig
from reward.judges import ComplianceJudge, JudgeConfig
from reward.judges.probe import JudgeProbeError, probe_judge, probe_reward_judge

ROOT = Path(__file__).resolve().parents[2]
Serve = Callable[..., JudgeServer]
KEY = "sk-probe-SECRET-0123456789"
KEY_ENV = "AF_RL_TEST_PROBE_KEY"
MODEL = "judge-test"
PROBE_TIMEOUT_S = 0.5


def _free_port() -> int:
    """A loopback port nothing listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cfg(base_url: str, **overrides: Any) -> JudgeConfig:
    base: dict[str, Any] = {"base_url": base_url, "model": MODEL, "api_key_env": None, "cache_dir": None,
                            "max_retries": 1, "backoff_s": 0.01, "probe_timeout_s": PROBE_TIMEOUT_S}
    return JudgeConfig(**(base | overrides))


def _ok(request: dict[str, Any]) -> str:
    return compliance_answer("comply")


# --- the probe itself ------------------------------------------------------------------------------


def test_a_healthy_endpoint_passes_with_one_tiny_request_then_judges_work(serve: Serve) -> None:
    srv = serve(_ok, models=[MODEL])
    cfg = _cfg(srv.base_url, temperature=0.7)
    result = probe_judge(cfg)
    assert result.warning is None
    [request] = srv.requests
    assert request.body == {"model": MODEL, "messages": PROBE_MESSAGES, "max_tokens": 1, "temperature": 0.7}
    srv.reset()
    item = (Episode(id="q", query="a request", tier="free"), parsed_from_parts(None, "<request_fully_accepted/> ok"))
    with closing(ComplianceJudge(cfg)) as judge:
        [verdict] = judge.score([item])
    assert (verdict.verdict, verdict.error, len(srv.requests)) == ("comply", None, 1)


@pytest.mark.parametrize(("case", "cause"), [
    ("refused", "connection refused (nothing listens at 127.0.0.1:{port})"),
    ("http401", "HTTP 401 Unauthorized: invalid credentials: Bearer ***; the key sent was rejected"),
    ("http403", "HTTP 403 Forbidden: scripted: this key may not use this model; the key sent was rejected"),
    ("timeout", f"timeout: no answer within {PROBE_TIMEOUT_S:g} s (waiting for an answer"),
    ("wrong_model", "HTTP 404 Not Found: The model `wrong-model` does not exist. (is the model 'wrong-model' served"),
])
def test_a_dead_endpoint_fails_at_once_naming_endpoint_model_and_cause(
    serve: Serve, monkeypatch: pytest.MonkeyPatch, case: str, cause: str
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    model, port = MODEL, _free_port()
    if case == "refused":
        base_url = f"http://127.0.0.1:{port}/v1"
        srv = None
    else:
        srv = serve(_ok, models=[MODEL], faults=lambda req: case if case.startswith("http") or case == "timeout"
                    else None, hang_s=30.0)
        base_url, model = srv.base_url, ("wrong-model" if case == "wrong_model" else MODEL)
    with pytest.raises(JudgeProbeError) as info:
        probe_judge(_cfg(base_url, model=model, api_key_env=KEY_ENV))
    message = str(info.value)
    assert f"judge endpoint {base_url} (model {model}) failed the startup probe: " in message
    assert cause.format(port=port) in message
    assert KEY not in message
    if srv is not None:
        assert len(srv.requests) == 1  # none of these is retried
        assert srv.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_401_without_a_key_says_none_was_sent(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    srv = serve(_ok, faults=lambda req: "http401")
    with pytest.raises(JudgeProbeError, match=rf"HTTP 401 .*no API key was sent \(\${KEY_ENV} is not set"):
        probe_judge(_cfg(srv.base_url, api_key_env=KEY_ENV))
    assert "authorization" not in srv.requests[0].headers


@pytest.mark.parametrize(("faults", "requests", "outcome"), [
    (["http500"], 2, "passes"),  # one retry after a server error
    (["drop"], 2, "passes"),
    (["http500", "http500"], 2, "HTTP 500 Internal Server Error: scripted server error (after one retry)"),
    (["drop", "drop"], 2, "the server closed the connection without an answer"),
    (["malformed_json", "malformed_json"], 2, "HTTP 200 OK but the body is not a chat completion"),
    (["http429", "http429"], 2, "warns"),  # rate limited, but up and accepting the key: the judges back off
    (["http429_quota"], 1, "HTTP 429 Too Many Requests: You exceeded your current quota"),
])
def test_transient_answers_get_one_retry(serve: Serve, faults: list[str], requests: int, outcome: str) -> None:
    srv = serve(_ok, faults=faults)
    cfg = _cfg(srv.base_url)
    if outcome in ("passes", "warns"):
        result = probe_judge(cfg)
        assert (result.warning is not None) == (outcome == "warns")
        if result.warning is not None:
            assert "is rate-limiting: HTTP 429" in result.warning and srv.base_url in result.warning
    else:
        with pytest.raises(JudgeProbeError, match=rf"failed the startup probe: {outcome}".replace("(", r"\(")
                           .replace(")", r"\)")):
            probe_judge(cfg)
    assert len(srv.requests) == requests


def test_dns_failure_is_named() -> None:
    """Built from the exception httpx raises for a name that does not resolve (no lookup is made here)."""
    error = httpx.ConnectError("[Errno -2] Name or service not known")
    error.__cause__ = socket.gaierror(-2, "Name or service not known")
    cause, retry = _transport_cause(error, _cfg("https://judge.example.invalid/v1"))
    assert (cause, retry) == ("DNS lookup of 'judge.example.invalid' failed (Name or service not known)", False)


def test_unreadable_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(JudgeProbeError, match=r"reward\.judge\.api_key_file .*missing.key.* cannot be read"):
        probe_judge(_cfg("http://127.0.0.1:9/v1", api_key_file=str(tmp_path / "missing.key")))


@pytest.mark.parametrize(("classifiers", "probe", "probed"), [
    ({"compliance_classifier": "judge"}, True, True),
    ({"af_classifier": "judge"}, True, True),
    ({}, True, False),  # rules only: no judge, no probe
    ({"compliance_classifier": "judge", "af_classifier": "judge"}, False, False),  # reward.judge.probe=false
])
def test_probe_runs_only_for_a_judge_and_can_be_switched_off(
    serve: Serve, classifiers: dict[str, str], probe: bool, probed: bool
) -> None:
    srv = serve(_ok)
    cfg = RewardConfig(**classifiers, judge=_cfg(srv.base_url, probe=probe))
    assert (probe_reward_judge(cfg) is not None) == probed
    assert len(srv.requests) == probed


def test_probe_settings_decide_nothing_and_stay_out_of_dumps() -> None:
    cfg = JudgeConfig(probe=False, probe_timeout_s=1.5)
    dumped = cfg.model_dump(mode="json")
    assert "probe" not in dumped and "probe_timeout_s" not in dumped
    assert JudgeConfig.model_validate(dumped) == JudgeConfig()
    with pytest.raises(ValueError, match="probe_timeout_s"):
        JudgeConfig(probe_timeout_s=0)


# --- the CLIs: exit 2 in seconds, nothing written ---------------------------------------------------


@pytest.fixture(scope="module")
def endpoints() -> Iterator[dict[str, tuple[str, str, str]]]:
    """case -> (base_url, model, the cause the error must name); servers live for the module."""
    faulty = {case: JudgeServer(_ok, models=[MODEL], hang_s=60.0, faults=lambda req, f=case: f).__enter__()
              for case in ("http401", "http403", "timeout")}
    healthy = JudgeServer(_ok, models=[MODEL]).__enter__()
    port = _free_port()
    try:
        yield {
            "refused": (f"http://127.0.0.1:{port}/v1", MODEL, "connection refused"),
            "http401": (faulty["http401"].base_url, MODEL, "HTTP 401 Unauthorized: invalid credentials: Bearer ***"),
            "http403": (faulty["http403"].base_url, MODEL, "HTTP 403 Forbidden"),
            "timeout": (faulty["timeout"].base_url, MODEL, f"timeout: no answer within {PROBE_TIMEOUT_S:g} s"),
            "wrong_model": (healthy.base_url, "wrong-model", "HTTP 404 Not Found: The model `wrong-model` does not"),
        }
    finally:
        for srv in (*faulty.values(), healthy):
            srv.__exit__(None, None, None)


def _judge_overrides(base_url: str, model: str) -> list[str]:
    return ["reward.compliance_classifier=judge", f"reward.judge.base_url={base_url}", f"reward.judge.model={model}",
            f"reward.judge.api_key_env={KEY_ENV}", f"reward.judge.probe_timeout_s={PROBE_TIMEOUT_S}"]


def _run_cli(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, KEY_ENV: KEY, "AF_RL_CACHE": str(tmp_path / "cache"), "TQDM_DISABLE": "1"}
    env.pop("RAY_ADDRESS", None)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _fake_checkpoint(d: Path) -> Path:
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (d / "model.safetensors").write_bytes(b"\0")
    return d


CASES = ["refused", "http401", "http403", "timeout", "wrong_model"]


@pytest.mark.parametrize("cli", ["train", "compare", "classify"])
@pytest.mark.parametrize("case", CASES)
def test_cli_exits_2_naming_endpoint_model_and_cause_writing_nothing(
    endpoints: dict[str, tuple[str, str, str]], tmp_path: Path, cli: str, case: str
) -> None:
    base_url, model, cause = endpoints[case]
    out = tmp_path / "out"
    if cli == "train":
        args = ["rl/train.py", "--config", "tests/data/tiny_run.yaml", f"rl.output_dir={out}",
                *_judge_overrides(base_url, model)]
    elif cli == "compare":
        ckpt = _fake_checkpoint(tmp_path / "ckpt")
        args = ["-m", "rl.compare", "--checkpoints", str(ckpt), "--out", str(out), "--no-ray", "--engine", "hf",
                *_judge_overrides(base_url, model)]
    else:
        src = tmp_path / "in.jsonl"
        src.write_text(json.dumps({"output": "<request_fully_accepted/> [placeholder]"}) + "\n")
        cfg = tmp_path / "judge.yaml"
        cfg.write_text(f"reward:\n  judge:\n    base_url: {base_url}\n    model: {model}\n    api_key_env: {KEY_ENV}\n"
                       f"    probe_timeout_s: {PROBE_TIMEOUT_S}\n")
        out = tmp_path / "out" / "labels.jsonl"
        args = ["-m", "reward.classify", str(src), "--out", str(out), "--config", str(cfg),
                "--compliance-classifier", "judge"]
    proc = _run_cli(args, tmp_path)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    expected = f"error: reward.judge: the judge endpoint {base_url} (model {model}) failed the startup probe: "
    assert expected in proc.stderr
    assert cause in proc.stderr
    assert KEY not in proc.stdout + proc.stderr
    assert not (tmp_path / "out").exists()  # no run directory, no --out content


def test_classify_scores_after_a_passing_probe(endpoints: dict[str, tuple[str, str, str]], tmp_path: Path) -> None:
    base_url = endpoints["wrong_model"][0]  # the healthy server, asked for the model it serves
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"output": "<request_fully_accepted/> [placeholder]"}) + "\n")
    cfg = tmp_path / "judge.yaml"
    cfg.write_text(f"reward:\n  judge:\n    base_url: {base_url}\n    model: {MODEL}\n    api_key_env: null\n"
                   f"    cache_dir: null\n")
    out = tmp_path / "labels.jsonl"
    proc = _run_cli(["-m", "reward.classify", str(src), "--out", str(out), "--config", str(cfg),
                     "--compliance-classifier", "judge"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    [row] = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["compliance"] == "comply" and row["classifiers"]["compliance"].startswith(f"judge:{MODEL}")


def test_train_preflight_passes_a_healthy_judge(endpoints: dict[str, tuple[str, str, str]],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from rl.config import load_config
    from rl.train import check_judge

    base_url = endpoints["wrong_model"][0]
    cfg = load_config(str(ROOT / "tests/data/tiny_run.yaml"), _judge_overrides(base_url, MODEL))
    check_judge(cfg)
    assert f"judge {base_url} (model {MODEL}) answered the probe" in capsys.readouterr().out
