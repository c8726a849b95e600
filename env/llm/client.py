"""Async client for an OpenAI-compatible chat-completions endpoint, with bounded concurrency and retries.

It also owns a background event-loop thread, so synchronous callers (and callers already inside an
event loop) can run batches (judgements, generations) on it while its connections stay open between batches.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from env.llm.config import EndpointConfig

T = TypeVar("T")

MAX_BACKOFF_S = 30.0
"""Cap on one retry delay, Retry-After included."""
_CONNECTIONS_PER_POOL = 8
"""httpcore's pool rescans every connection (a socket poll each) whenever a request starts or ends, so
one pool of 64 connections spends most of its time scanning: 1,000 requests at 0.1 s latency, 64 in
flight, took 12.6-13.9 s with one pool and 2.0-2.8 s with pools of 8 (ideal 1.6 s; bench/judge_throughput.py)."""
_EXCERPT_CHARS = 200
_FATAL_STATUSES = frozenset({401, 403})
"""Authentication failures hold for every later request too, so they stop the client (see `complete`)."""

log = logging.getLogger(__name__)


class LlmError(RuntimeError):
    """A request failed for good: a non-retryable HTTP error, or retries exhausted. The message
    names the endpoint, the model, the attempts made and the last error; never the API key."""


@dataclass
class ClientStats:
    """Counters of one client, for tests and benchmarks."""

    requests: int = 0
    """HTTP requests sent (attempts, retries included)."""
    retries: int = 0
    """Attempts after a first one."""
    failures: int = 0
    """`complete` calls that raised LlmError."""
    in_flight: int = 0
    """Requests awaiting a response now."""
    max_in_flight: int = 0
    """Most requests awaiting a response at once, since the client was made."""


@dataclass
class RequestCount:
    """HTTP requests sent inside one `counting_requests` block."""

    n: int = 0


_REQUEST_COUNT: ContextVar[RequestCount | None] = ContextVar("af_rl_llm_requests", default=None)


@contextmanager
def counting_requests() -> Iterator[RequestCount]:
    """Count the HTTP requests (retries included; cached answers send none) that any LlmClient sends
    from this context and from the tasks started in it. Contexts are per task, so concurrent batches
    (OpenRLHF scores samples in parallel threads) each count only their own requests."""
    count = RequestCount()
    token = _REQUEST_COUNT.set(count)
    try:
        yield count
    finally:
        _REQUEST_COUNT.reset(token)


@dataclass
class _Pool:
    """Connections and the in-flight bound of one event loop (httpx and asyncio objects are loop-bound)."""

    shards: list[httpx.AsyncClient]
    """Connection pools of at most _CONNECTIONS_PER_POOL connections each."""
    load: list[int]
    """Requests in flight per shard."""
    semaphore: asyncio.Semaphore


class _Retryable(Exception):
    """One attempt failed in a way another attempt may fix."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class _Permanent(Exception):
    """One attempt failed in a way no retry can fix; `stops_client` when no later request can succeed either."""

    def __init__(self, reason: str, stops_client: bool) -> None:
        super().__init__(reason)
        self.stops_client = stops_client


class LlmClient:
    """Sends chat-completion requests (judges, generators). Safe to share between callers and threads.

    Pickles as its config alone: the key is read again (from env or file) where it is unpickled.
    """

    def __init__(self, cfg: EndpointConfig) -> None:
        """Raises ValueError when `cfg.api_key_file` is set but unreadable (see `resolve_api_key`)."""
        self.cfg = cfg
        self.url = cfg.base_url.rstrip("/") + "/chat/completions"
        self.stats = ClientStats()
        self._key = cfg.resolve_api_key()
        self._headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pool] = weakref.WeakKeyDictionary()
        self._fatal: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._loop_pid = 0
        self._loop_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LlmClient(url={self.url!r}, model={self.cfg.model!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"cfg": self.cfg}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["cfg"])  # type: ignore[misc]

    async def complete(
        self,
        messages: list[dict[str, str]] | str,
        *,
        temperature: float,
        max_tokens: int,
        valid: Callable[[str], bool] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """POST one chat completion and return the assistant message's content; with a prompt string
        instead of messages, POST one text completion (`{base_url}/completions`) and return its text.
        `extra` adds fields to the request body (e.g. `seed`).

        Retries (up to `cfg.max_retries`, with backoff) on HTTP 429/5xx, timeouts, connection errors,
        a body that is not JSON or has no `choices[0].message.content`, and content for which `valid`
        is False (an answer not in the caller's format is sampled again). Other HTTP errors (400, 401,
        ...) fail at once. After a 401 or 403 the client fails every later call at once, unsent.

        Raises:
            LlmError: the request failed for good.
        """
        if self._fatal is not None:
            self.stats.failures += 1
            raise LlmError(self._fatal)
        pool = self._pool()
        chat = not isinstance(messages, str)
        body = {"model": self.cfg.model, "messages" if chat else "prompt": messages, "temperature": temperature,
                "max_tokens": max_tokens, **(extra or {})}
        url = self.url if chat else self.url.removesuffix("/chat/completions") + "/completions"
        last = ""
        for attempt in range(self.cfg.max_retries + 1):
            try:
                return await self._attempt(pool, body, valid, url)
            except _Retryable as e:
                last = str(e)
                if attempt == self.cfg.max_retries:
                    break
                delay = self._delay(attempt, e.retry_after)
                log.debug("%s attempt %d failed (%s); retrying in %.2f s", self.cfg.label, attempt + 1, last, delay)
                self.stats.retries += 1
                await asyncio.sleep(delay)
            except _Permanent as e:
                message = self._failure(attempt + 1, str(e))
                if e.stops_client:
                    self._fatal = message
                self.stats.failures += 1
                raise LlmError(message) from None
        self.stats.failures += 1
        raise LlmError(self._failure(self.cfg.max_retries + 1, last))

    async def aclose(self) -> None:
        """Close the connections opened on the running event loop."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            await asyncio.gather(*(http.aclose() for http in pool.shards))

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the client's background event-loop thread (started on first use) and return
        its result, blocking the calling thread. Works from sync code and from inside a running loop
        (that loop is blocked meanwhile); not from the background loop itself.

        Raises:
            RuntimeError: called from the client's own background loop (it would deadlock).
            Whatever `coro` raises.
        """
        loop = self._background_loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            coro.close()
            raise RuntimeError("LlmClient.run called from its own background loop; await the coroutine instead")
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt: do not leave the batch running unobserved
            raise

    def close(self) -> None:
        """Close the background loop's connections and stop its thread. A later `run` starts a new one."""
        with self._loop_lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.aclose(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()

    async def _attempt(self, pool: _Pool, body: dict[str, Any], valid: Callable[[str], bool] | None,
                       url: str) -> str:
        async with pool.semaphore:
            # The semaphore keeps the total within len(shards) * _CONNECTIONS_PER_POOL, so the least
            # busy shard always has a free connection and no request queues inside httpx.
            shard = min(range(len(pool.shards)), key=pool.load.__getitem__)
            pool.load[shard] += 1
            self.stats.requests += 1
            if (count := _REQUEST_COUNT.get()) is not None:
                count.n += 1
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
            try:
                response = await pool.shards[shard].post(url, json=body, headers=self._headers)
            except httpx.TransportError as e:  # timeouts, refused or dropped connections, protocol errors
                raise _Retryable(self._scrub(f"{type(e).__name__}: {e}".rstrip(": "))) from None
            finally:
                pool.load[shard] -= 1
                self.stats.in_flight -= 1
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = _retry_after(response.headers.get("retry-after")) if status in (429, 503) else None
            raise _Retryable(f"HTTP {status}: {self._excerpt(response.text)}", retry_after)
        if not 200 <= status < 300:
            reason = f"HTTP {status} (not retried): {self._excerpt(response.text)}"
            if status in _FATAL_STATUSES and self._key is None:
                reason += f"; {missing_key_note(self.cfg)}"
            raise _Permanent(reason, stops_client=status in _FATAL_STATUSES)
        field = "message.content" if "messages" in body else "text"
        try:
            choice = response.json()["choices"][0]
            content = choice["message"]["content"] if "messages" in body else choice["text"]
        except ValueError:
            raise _Retryable(f"response is not JSON: {self._excerpt(response.text)}") from None
        except (KeyError, IndexError, TypeError):
            content = None
        if not isinstance(content, str):
            raise _Retryable(f"response has no choices[0].{field}: {self._excerpt(response.text)}")
        if valid is not None and not valid(content):
            raise _Retryable(f"answer not in the expected format: {self._excerpt(content)}")
        return content

    def _pool(self) -> _Pool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            n = self.cfg.max_concurrency
            size = min(n, _CONNECTIONS_PER_POOL)
            limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
            tls = httpx.create_ssl_context()  # built once: each one costs ~20 ms of CPU
            shards = [
                httpx.AsyncClient(timeout=httpx.Timeout(self.cfg.timeout_s), limits=limits, verify=tls)
                for _ in range(-(-n // size))
            ]
            pool = self._pools[loop] = _Pool(shards, [0] * len(shards), asyncio.Semaphore(n))
        return pool

    def _background_loop(self) -> asyncio.AbstractEventLoop:
        with self._loop_lock:
            # A forked child inherits the loop object but not its thread; waiting on it would hang forever.
            if self._loop is None or self._loop_pid != os.getpid():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=_serve_forever, args=(loop,), name="af-rl-llm-loop", daemon=True)
                thread.start()
                self._loop, self._thread, self._loop_pid = loop, thread, os.getpid()
            return self._loop

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        delay = min(MAX_BACKOFF_S, self.cfg.backoff_s * 2**attempt) * random.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(MAX_BACKOFF_S, delay)

    def _failure(self, attempts: int, last: str) -> str:
        return f"{self.cfg.label} request to {self.url} (model {self.cfg.model}) failed after {attempts} attempt(s): {last}"

    def _excerpt(self, text: str) -> str:
        text = " ".join(self._scrub(text).split())
        return text[:_EXCERPT_CHARS] + ("..." if len(text) > _EXCERPT_CHARS else "") or "(empty body)"

    def _scrub(self, text: str) -> str:
        return scrub_key(text, self._key)


def scrub_key(text: str, key: str | None) -> str:
    """Mask the key wherever a server echoed it back (some 401 bodies quote the key they got)."""
    return text.replace(key, "***") if key else text


def missing_key_note(cfg: EndpointConfig) -> str:
    """Why no key was sent, for a 401/403 answered to a request without one."""
    unset = f"${cfg.api_key_env} is not set" if cfg.api_key_env else "no key source is configured"
    return f"no API key was sent ({unset}; see {cfg.label}.api_key_env, {cfg.label}.api_key_file)"


def _serve_forever(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_forever()


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
