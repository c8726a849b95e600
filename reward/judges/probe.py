"""Startup check of the judge endpoint: one tiny chat completion before any model loads, so an
unreachable endpoint, a rejected key or a model the server does not serve stops a run in seconds
instead of failing every judgement after minutes of retries.

The probe sends what the judges send (POST `{base_url}/chat/completions` with the judge model, the
key and the judges' temperature), with a one-line message and `max_tokens` 1. That is the one route
every OpenAI-compatible server (OpenAI, vLLM, llama.cpp, gateways) must answer, it checks the key and
the model name in one go (an unknown model is a 404 there), and it tests the request the judges
depend on. `GET /models` checks less: some gateways and local servers don't implement it or answer it
without a key, and a model missing from its list may still be served under an alias.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from reward.judges.client import missing_key_note, scrub_key
from reward.judges.config import JudgeConfig

if TYPE_CHECKING:
    from reward.config import RewardConfig

PROBE_MESSAGES = [{"role": "user", "content": "Reply with the word OK."}]
_RETRY_PAUSE_S = 0.5
"""Pause before the one retry of an answer that may be transient (5xx, 408, 429, a dropped connection)."""
_MESSAGE_CHARS = 300


class JudgeProbeError(RuntimeError):
    """The judge endpoint cannot serve the judges. The message names the endpoint (base_url), the model
    and the cause (e.g. "connection refused", "HTTP 401 Unauthorized: <server's message>"); never the key."""


@dataclass(frozen=True)
class ProbeResult:
    """A probe the endpoint passed."""

    seconds: float
    """Wall time of the probe, retry included."""
    warning: str | None = None
    """Set when the endpoint is up but answered only with rate limiting (HTTP 429): the judges retry
    those with backoff, so the run goes on."""


class _Retry(Exception):
    """An outcome one more try may change."""


def needs_judge(cfg: RewardConfig) -> bool:
    """True when either classifier may call the LLM judge: "judge", or "cascade" (for uncertain items)."""
    from reward.cascade import uses_judge

    return uses_judge(cfg)


def probe_reward_judge(cfg: RewardConfig) -> ProbeResult | None:
    """Probe `cfg.judge` when a classifier of `cfg` is the judge and `cfg.judge.probe` is on; else None.

    Raises:
        JudgeProbeError: see `probe_judge`.
    """
    if not needs_judge(cfg) or not cfg.judge.probe:
        return None
    return probe_judge(cfg.judge)


def probe_judge(cfg: JudgeConfig) -> ProbeResult:
    """Send one 1-token chat completion to the judge endpoint, with `cfg.probe_timeout_s` per request.

    Fails at once on: connection refused, DNS failure, TLS errors, a timeout, HTTP 401/403 (key
    missing or rejected), 404 (model not served, or base_url not the API root), any other 4xx (the
    judges send the same request, so each of theirs would fail too) and an exhausted quota (429
    `insufficient_quota`). 5xx, 408, 429, a dropped connection and a 200 that is not a chat
    completion get one retry after a short pause; a second 429 passes with a warning, anything else
    fails.

    Raises:
        JudgeProbeError: the endpoint cannot serve the judges; the message never holds the key.
    """
    try:
        key = cfg.resolve_api_key()
    except ValueError as e:
        raise JudgeProbeError(f"reward.{e}") from None
    url = cfg.base_url.rstrip("/") + "/chat/completions"
    body = {"model": cfg.model, "messages": PROBE_MESSAGES, "max_tokens": 1, "temperature": cfg.temperature}
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    start = time.perf_counter()
    with httpx.Client(timeout=httpx.Timeout(cfg.probe_timeout_s)) as http:
        for attempt in range(2):
            try:
                _attempt(http, url, body, headers, cfg, key)
            except _Retry as e:
                if attempt == 0:
                    time.sleep(_RETRY_PAUSE_S)
                    continue
                if str(e).startswith("HTTP 429"):
                    return ProbeResult(time.perf_counter() - start,
                                       f"judge endpoint {cfg.base_url} (model {cfg.model}) is rate-limiting: {e}")
                raise JudgeProbeError(_failure(cfg, f"{e} (after one retry)")) from None
            return ProbeResult(time.perf_counter() - start)
    raise AssertionError("unreachable")  # pragma: no cover


def _attempt(http: httpx.Client, url: str, body: dict[str, Any], headers: dict[str, str], cfg: JudgeConfig,
             key: str | None) -> None:
    try:
        response = http.post(url, json=body, headers=headers)
    except httpx.TransportError as e:
        cause, transient = _transport_cause(e, cfg)
        if transient:
            raise _Retry(cause) from None
        raise JudgeProbeError(_failure(cfg, cause)) from None
    status = response.status_code
    said = _server_message(scrub_key(response.text, key))
    reason = f"HTTP {status} {httpx.codes.get_reason_phrase(status)}".rstrip()
    if 200 <= status < 300:
        if not _is_chat_completion(response.text):
            raise _Retry(f"{reason} but the body is not a chat completion (is base_url the API root, usually "
                         f"ending in /v1?): {said}")
        return None
    if status in (401, 403):
        hint = missing_key_note(cfg) if key is None else "the key sent was rejected (judge.api_key_env/api_key_file)"
        raise JudgeProbeError(_failure(cfg, f"{reason}: {said}; {hint}"))
    if status == 404:
        raise JudgeProbeError(_failure(cfg, f"{reason}: {said} (is the model {cfg.model!r} served there, and is "
                                            f"base_url the API root, usually ending in /v1?)"))
    if status == 429 and "insufficient_quota" in response.text:
        raise JudgeProbeError(_failure(cfg, f"{reason}: {said} (the account's quota is used up)"))
    if status in (408, 429) or status >= 500:
        raise _Retry(f"{reason}: {said}")
    raise JudgeProbeError(_failure(cfg, f"{reason}: {said} (the judges send the same request, so each judgement "
                                        f"would fail too)"))


def _failure(cfg: JudgeConfig, cause: str) -> str:
    return (f"reward.judge: the judge endpoint {cfg.base_url} (model {cfg.model}) failed the startup probe: "
            f"{cause}. Fix reward.judge.base_url/model/key or start the server; reward.judge.probe=false skips "
            f"this check")


def _transport_cause(e: httpx.TransportError, cfg: JudgeConfig) -> tuple[str, bool]:
    """(what went wrong in words, whether one retry may help)."""
    host = httpx.URL(cfg.base_url).host
    if isinstance(e, httpx.TimeoutException):
        phase = "connecting" if isinstance(e, (httpx.ConnectTimeout, httpx.PoolTimeout)) else "waiting for an answer"
        return (f"timeout: no answer within {cfg.probe_timeout_s:g} s ({phase}; if the server is only slow, raise "
                f"reward.judge.probe_timeout_s)"), False
    cause: BaseException | None = e
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return f"connection refused (nothing listens at {host}:{_port(cfg.base_url)})", False
        if isinstance(cause, socket.gaierror):
            return f"DNS lookup of {host!r} failed ({cause.strerror or cause})", False
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {getattr(cause, 'reason', None) or cause}", False
        cause = cause.__cause__ or cause.__context__
    if isinstance(e, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return f"the server closed the connection without an answer ({type(e).__name__})", True
    return f"{type(e).__name__}: {e}".rstrip(": "), isinstance(e, httpx.NetworkError)


def _port(base_url: str) -> int:
    url = httpx.URL(base_url)
    return url.port or (443 if url.scheme == "https" else 80)


def _is_chat_completion(text: str) -> bool:
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and isinstance(data.get("choices"), list)


def _server_message(text: str) -> str:
    """The error message of an OpenAI-style (`{"error": {"message"}}`) or vLLM-style (`{"message"}`)
    body, else the body itself; whitespace collapsed, shortened."""
    said: Any = None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        said = error.get("message") if isinstance(error, dict) else error
        said = said or data.get("message") or data.get("detail")
    said = " ".join(str(said if said else text).split())
    if len(said) > _MESSAGE_CHARS:
        said = said[:_MESSAGE_CHARS] + "..."
    return said or "(empty body)"
