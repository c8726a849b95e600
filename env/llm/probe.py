"""Startup check of an endpoint: one tiny chat completion before any work starts, so an unreachable
endpoint, a rejected key or a model the server does not serve stops a command in seconds instead of
failing every request after minutes of retries.

The probe sends what the callers send (POST `{base_url}/chat/completions` with the model, the key and
the configured temperature), with a one-line message and `max_tokens` 1. That is the one route every
OpenAI-compatible server (OpenAI, vLLM, llama.cpp, gateways) must answer, it checks the key and the
model name in one go (an unknown model is a 404 there), and it tests the request the callers depend
on. `GET /models` checks less: some gateways and local servers don't implement it or answer it
without a key, and a model missing from its list may still be served under an alias.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

import httpx

from env.llm.client import missing_key_note, scrub_key
from env.llm.config import EndpointConfig

PROBE_MESSAGES = [{"role": "user", "content": "Reply with the word OK."}]
_RETRY_PAUSE_S = 0.5
"""Pause before the one retry of an answer that may be transient (5xx, 408, 429, a dropped connection)."""
_MESSAGE_CHARS = 300


class ProbeError(RuntimeError):
    """The endpoint cannot serve requests. `cause` says why in words (e.g. "connection refused (nothing
    listens at 127.0.0.1:8000)", "HTTP 401 Unauthorized: <server's message>; ..."); the message adds the
    endpoint (base_url) and the model. Neither ever holds the key."""

    def __init__(self, cfg: EndpointConfig, cause: str) -> None:
        super().__init__(f"{cfg.label} endpoint {cfg.base_url} (model {cfg.model}) failed the startup probe: {cause}")
        self.cause = cause


@dataclass(frozen=True)
class ProbeResult:
    """A probe the endpoint passed."""

    seconds: float
    """Wall time of the probe, retry included."""
    warning: str | None = None
    """Set when the endpoint is up but answered only with rate limiting (HTTP 429): the client retries
    those with backoff, so the work goes on."""


class _Retry(Exception):
    """An outcome one more try may change."""


def probe_endpoint(cfg: EndpointConfig) -> ProbeResult:
    """Send one 1-token chat completion to the endpoint, with `cfg.probe_timeout_s` per request.

    Fails at once on: connection refused, DNS failure, TLS errors, a timeout, HTTP 401/403 (key
    missing or rejected), 404 (model not served, or base_url not the API root), any other 4xx (every
    later request is the same one, so each would fail too) and an exhausted quota (429
    `insufficient_quota`). 5xx, 408, 429, a dropped connection and a 200 that is not a chat
    completion get one retry after a short pause; a second 429 passes with a warning, anything else
    fails.

    Raises:
        ProbeError: the endpoint cannot serve requests; the message never holds the key.
        ValueError: `cfg.api_key_file` is set but unreadable (see `EndpointConfig.resolve_api_key`).
    """
    key = cfg.resolve_api_key()
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
                                       f"{cfg.label} endpoint {cfg.base_url} (model {cfg.model}) is rate-limiting: {e}")
                raise ProbeError(cfg, f"{e} (after one retry)") from None
            return ProbeResult(time.perf_counter() - start)
    raise AssertionError("unreachable")  # pragma: no cover


def _attempt(http: httpx.Client, url: str, body: dict[str, Any], headers: dict[str, str], cfg: EndpointConfig,
             key: str | None) -> None:
    try:
        response = http.post(url, json=body, headers=headers)
    except httpx.TransportError as e:
        cause, transient = _transport_cause(e, cfg)
        if transient:
            raise _Retry(cause) from None
        raise ProbeError(cfg, cause) from None
    status = response.status_code
    said = _server_message(scrub_key(response.text, key))
    reason = f"HTTP {status} {httpx.codes.get_reason_phrase(status)}".rstrip()
    if 200 <= status < 300:
        if not _is_chat_completion(response.text):
            raise _Retry(f"{reason} but the body is not a chat completion (is base_url the API root, usually "
                         f"ending in /v1?): {said}")
        return None
    if status in (401, 403):
        hint = (missing_key_note(cfg) if key is None
                else f"the key sent was rejected ({cfg.label}.api_key_env/api_key_file)")
        raise ProbeError(cfg, f"{reason}: {said}; {hint}")
    if status == 404:
        raise ProbeError(cfg, f"{reason}: {said} (is the model {cfg.model!r} served there, and is "
                              f"base_url the API root, usually ending in /v1?)")
    if status == 429 and "insufficient_quota" in response.text:
        raise ProbeError(cfg, f"{reason}: {said} (the account's quota is used up)")
    if status in (408, 429) or status >= 500:
        raise _Retry(f"{reason}: {said}")
    raise ProbeError(cfg, f"{reason}: {said} (every {cfg.label} request is the same one, so each would fail too)")


def _transport_cause(e: httpx.TransportError, cfg: EndpointConfig) -> tuple[str, bool]:
    """(what went wrong in words, whether one retry may help)."""
    host = httpx.URL(cfg.base_url).host
    if isinstance(e, httpx.TimeoutException):
        phase = "connecting" if isinstance(e, (httpx.ConnectTimeout, httpx.PoolTimeout)) else "waiting for an answer"
        return (f"timeout: no answer within {cfg.probe_timeout_s:g} s ({phase}; if the server is only slow, raise "
                f"{cfg.label}.probe_timeout_s)"), False
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
