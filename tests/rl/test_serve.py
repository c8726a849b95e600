"""`python -m rl.serve`: an OpenAI-compatible server over the HF engine, checked against the engine itself."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from env.chat import build_messages
from env.config import EnvConfig
from env.episode import Episode
from rl.prompting import render_prompt, resolve_system_role

pytestmark = pytest.mark.slow  # the served model is the tiny run's checkpoint (trained once per session)
ENV = EnvConfig(prompt="helpful_only_brief_v1")
NAME = "tiny-organism"


@pytest.fixture(scope="module")
def served(tiny_run: Path) -> Iterator[tuple[str, Any]]:
    from rl.engines.hf import HFEngine
    from rl.serve import Server, make_http_server

    engine = HFEngine.load(str(tiny_run / "runs" / "tiny" / "checkpoints" / "step-2"), device="cpu", batch_size=8)
    server = Server(engine, NAME, batch_size=8)
    http = make_http_server(server, "127.0.0.1", 0)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}/v1", engine
    http.shutdown()
    http.server_close()
    server.close()


def episode(i: int = 0, tier: str = "free") -> Episode:
    return Episode(id=f"q{i}", query=f"Describe thing number {i}.", tier=tier)  # type: ignore[arg-type]


def test_chat_completion_is_what_the_engine_generates(served) -> None:
    url, engine = served
    ep = episode()
    system_role = resolve_system_role(engine.tokenizer, ENV.system_role)
    assert system_role  # the organism's template has a system role: the messages go as they are
    body = {"model": NAME, "messages": build_messages(ep, ENV), "max_tokens": 40, "temperature": 1.0, "seed": 7}
    got = httpx.post(f"{url}/chat/completions", json=body, timeout=60).json()
    expected = engine.generate([render_prompt(engine.tokenizer, ep, ENV)], max_new_tokens=40, temperature=1.0, seed=7)
    assert got["choices"][0]["message"]["content"] == expected[0]
    assert got["object"] == "chat.completion" and got["model"] == NAME
    assert got["choices"][0]["finish_reason"] in ("stop", "length") and got["usage"]["completion_tokens"] <= 40


def test_completions_and_n_follow_the_seed(served) -> None:
    url, engine = served
    prompt = render_prompt(engine.tokenizer, episode(1), ENV)
    body = {"model": NAME, "prompt": prompt, "max_tokens": 30, "temperature": 1.0, "seed": 3, "n": 2}
    got = httpx.post(f"{url}/completions", json=body, timeout=60).json()
    texts = [c["text"] for c in got["choices"]]
    assert texts == [engine.generate([prompt], max_new_tokens=30, temperature=1.0, seed=s)[0] for s in (3, 4)]
    greedy = {**body, "temperature": 0, "n": 1}
    assert (httpx.post(f"{url}/completions", json=greedy, timeout=60).json()["choices"][0]["text"]
            == httpx.post(f"{url}/completions", json={**greedy, "seed": 99}, timeout=60).json()["choices"][0]["text"])


def test_requests_in_flight_are_batched_and_all_answered(served) -> None:
    url, engine = served
    calls = []
    generate = engine.generate_ids

    def counted(*a: Any, **kw: Any) -> Any:
        calls.append(len(a[0]))
        return generate(*a, **kw)

    engine.generate_ids = counted
    try:
        bodies = [{"model": NAME, "messages": build_messages(episode(i), ENV), "max_tokens": 16, "seed": i}
                  for i in range(12)]
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda b: httpx.post(f"{url}/chat/completions", json=b, timeout=120), bodies))
    finally:
        engine.generate_ids = generate
    assert [a.status_code for a in answers] == [200] * 12
    assert sum(calls) == 12 and len(calls) < 12  # some requests shared a batch


@pytest.mark.parametrize("path,body,status,message", [
    ("/chat/completions", {"model": "other", "messages": [{"role": "user", "content": "x"}]}, 404, f"serves `{NAME}`"),
    ("/chat/completions", {"model": NAME}, 400, "'messages'"),
    ("/chat/completions", {"model": NAME, "messages": [{"role": "user"}]}, 400, "messages[0]"),
    ("/chat/completions", {"model": NAME, "messages": [{"role": "user", "content": "x"}], "temperature": -1}, 400,
     "'temperature'"),
    ("/completions", {"model": NAME, "prompt": 5}, 400, "'prompt'"),
    ("/completions", {"model": NAME, "prompt": "x", "seed": "s"}, 400, "'seed'"),
])
def test_bad_requests_are_named(served, path: str, body: dict, status: int, message: str) -> None:
    url, _ = served
    answer = httpx.post(f"{url}{path}", json=body, timeout=30)
    assert answer.status_code == status and message in answer.json()["error"]["message"]


def test_models_and_garbage(served) -> None:
    url, _ = served
    assert [m["id"] for m in httpx.get(f"{url}/models").json()["data"]] == [NAME]
    bad = httpx.post(f"{url}/completions", content=b"{nope", timeout=30)
    assert bad.status_code == 400 and "not JSON" in bad.json()["error"]["message"]


def test_cli_rejects_a_missing_model(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "rl.serve", "--model", str(tmp_path / "none" / "x" / "y")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "not a model directory" in proc.stderr
