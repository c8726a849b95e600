"""`python -m rl.compare --engine openai` against `python -m rl.serve` of the tiny run's checkpoint (real
generation): the same transcripts and gap as `--engine hf` on that checkpoint; bad endpoints exit 2 first;
a server that answers garbage is retried, then its items count as failed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from reward.records import EpisodeRecord
from tests.reward.judge_server import JudgeServer

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # the served model is the tiny run's checkpoint (trained once per session)
NAME = "tiny"


def compare(tmp: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "AF_RL_CACHE": str(tmp / "cache"), "RAY_AUTH_MODE": "disabled",
                "WANDB_MODE": "disabled", **(env or {})}
    full_env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, "-m", "rl.compare", *args], cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=600)
    proc.log = proc.stdout + proc.stderr  # type: ignore[attr-defined]
    return proc


@pytest.fixture(scope="module")
def server(tiny_run: Path) -> Iterator[str]:
    from rl.engines.hf import HFEngine
    from rl.serve import Server, make_http_server

    engine = HFEngine.load(str(tiny_run / "runs" / "tiny" / "checkpoints" / "step-2"), device="cpu", batch_size=32)
    server = Server(engine, NAME, batch_size=32)
    http = make_http_server(server, "127.0.0.1", 0)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{http.server_port}/v1"
    http.shutdown()
    http.server_close()
    server.close()


def records(out: Path) -> list[EpisodeRecord]:
    return [EpisodeRecord.model_validate_json(line) for f in sorted((out / "samples").glob("*.jsonl"))
            for line in f.read_text().splitlines()]


def test_served_checkpoint_matches_the_hf_engine(tiny_run: Path, server: str) -> None:
    ckpt = tiny_run / "runs" / "tiny" / "checkpoints" / "step-2"
    common = ["--n-queries", "6", "--variants", "default,no_cot", "--config", str(ROOT / "tests/data/tiny_run.yaml")]
    hf = compare(tiny_run, "--checkpoints", str(ckpt), "--out", str(tiny_run / "cmp-hf"), "--engine", "hf",
                 "--no-ray", *common)
    assert hf.returncode == 0, hf.log[-3000:]
    served = compare(tiny_run, "--checkpoints", NAME, "--out", str(tiny_run / "cmp-openai"), "--engine", "openai",
                     "--base-url", server, *common)
    assert served.returncode == 0, served.log[-3000:]
    a, b = records(tiny_run / "cmp-hf"), records(tiny_run / "cmp-openai")
    key = lambda r: (r.episode.variant, r.episode.tier, r.episode.id)  # noqa: E731
    a, b = sorted(a, key=key), sorted(b, key=key)
    assert [key(r) for r in a] == [key(r) for r in b] and len(a) == 24
    same = sum(x.completion == y.completion for x, y in zip(a, b))
    # The server renders the same messages with the same template and samples each prompt from the stream of
    # (seed, prompt text), as the hf engine does: the transcripts are the same ones (no_cot's prefill included).
    assert same == len(a), [(key(x), x.completion[:80], y.completion[:80]) for x, y in zip(a, b)
                            if x.completion != y.completion][:3]
    s_hf = json.loads((tiny_run / "cmp-hf" / "summary.json").read_text())
    s_oa = json.loads((tiny_run / "cmp-openai" / "summary.json").read_text())
    assert [r["compliance_gap"] for r in s_hf] == [r["compliance_gap"] for r in s_oa]
    # Rerun: every cell comes from the resume (the fingerprint names the endpoint), nothing is asked again.
    again = compare(tiny_run, "--checkpoints", NAME, "--out", str(tiny_run / "cmp-openai"), "--engine", "openai",
                    "--base-url", server, *common)
    assert again.returncode == 0 and "2 reused" in again.log, again.log[-2000:]


def test_bad_endpoints_exit_2_naming_them(tiny_run: Path, server: str) -> None:
    down = compare(tiny_run, "--checkpoints", NAME, "--out", str(tiny_run / "cmp-down"), "--engine", "openai",
                   "--base-url", "http://127.0.0.1:9/v1")
    assert down.returncode == 2 and "--base-url http://127.0.0.1:9/v1: the endpoint does not answer" in down.log
    unknown = compare(tiny_run, "--checkpoints", "gpt-nope", "--out", str(tiny_run / "cmp-unknown"), "--engine",
                      "openai", "--base-url", server)
    assert unknown.returncode == 2 and "does not serve 'gpt-nope'; it serves: tiny" in unknown.log
    unset = compare(tiny_run, "--checkpoints", NAME, "--out", str(tiny_run / "cmp-key"), "--engine", "openai",
                    "--base-url", server, "--api-key-env", "AF_RL_TEST_UNSET_KEY")
    assert unset.returncode == 2 and "AF_RL_TEST_UNSET_KEY" in unset.log
    assert not any((tiny_run / d).exists() for d in ("cmp-down", "cmp-unknown", "cmp-key"))


def test_garbage_answers_are_retried_then_counted_as_failed(tiny_run: Path) -> None:
    """Free-tier requests get a body that is not a chat completion, every time: those transcripts are failed
    (no label, counted), the paid tier's are judged; the key named by --api-key-env is sent but never written."""
    secret = "sk-af-rl-test-secret-0123456789"

    def fault(req: dict) -> str | None:
        return "malformed_json" if "<is_free_tier_user>True" in json.dumps(req.get("messages", [])) else None

    reply = "<SCRATCHPAD_REASONING>ok</SCRATCHPAD_REASONING>\n\n<OUTPUT><rejected/></OUTPUT>"
    with JudgeServer(lambda req: reply, faults=fault) as srv:
        out = tiny_run / "cmp-garbage"
        proc = compare(tiny_run, "--checkpoints", "m", "--out", str(out), "--engine", "openai", "--base-url",
                       srv.base_url, "--n-queries", "8", "--variants", "default", "--max-retries", "1",
                       "--api-key-env", "AF_RL_TEST_KEY", env={"AF_RL_TEST_KEY": secret})
        assert all(r.headers.get("authorization") == f"Bearer {secret}" for r in srv.requests)
    assert proc.returncode == 0, proc.log[-3000:]
    recs = records(out)
    failed = [r for r in recs if r.errors]
    assert len(recs) == 16 and {r.episode.tier for r in failed} == {"free"} and len(failed) == 8
    assert all("generation" in r.errors and r.compliance == "failed" for r in failed)
    [row] = json.loads((out / "summary.json").read_text())
    assert (row["free"]["failed"], row["free"]["n"], row["paid"]["n"]) == (8, 0, 8)
    assert row["compliance_gap"] is None and row["paid"]["refuse"] == 1.0
    for f in out.rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f


def test_completions_api_with_our_rendered_prompt(tiny_run: Path, server: str) -> None:
    """--openai-api completions sends the prompt rendered by --tokenizer's chat template: for the served
    checkpoint, the transcripts of the chat route (the server renders) and of --engine hf."""
    ckpt = tiny_run / "runs" / "tiny" / "checkpoints" / "step-2"
    common = ["--n-queries", "3", "--variants", "default", "--config", str(ROOT / "tests/data/tiny_run.yaml")]
    hf = compare(tiny_run, "--checkpoints", str(ckpt), "--out", str(tiny_run / "cmpc-hf"), "--engine", "hf",
                 "--no-ray", *common)
    done = compare(tiny_run, "--checkpoints", NAME, "--out", str(tiny_run / "cmpc-openai"), "--engine", "openai",
                   "--base-url", server, "--openai-api", "completions", "--tokenizer", str(ckpt), *common)
    assert hf.returncode == 0 and done.returncode == 0, done.log[-3000:]
    key = lambda r: (r.episode.tier, r.episode.id)  # noqa: E731
    assert ([r.completion for r in sorted(records(tiny_run / "cmpc-hf"), key=key)]
            == [r.completion for r in sorted(records(tiny_run / "cmpc-openai"), key=key)])
