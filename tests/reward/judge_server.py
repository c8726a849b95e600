"""A scripted OpenAI-compatible chat-completions server for judge tests and benchmarks.

Runs an asyncio HTTP/1.1 server (keep-alive, any number of concurrent connections) on 127.0.0.1 in a
background thread; answers come from a responder function, and a fault plan injects failures:

    with JudgeServer(responder=lambda req: "<label>comply</label>", latency_s=0.01) as srv:
        JudgeConfig(base_url=srv.base_url, ...)
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

Fault = Literal["http500", "http429", "timeout", "malformed_json", "bad_answer", "drop", "http401", "http403",
                "http429_quota"]
FAULTS: tuple[Fault, ...] = get_args(Fault)
Responder = Callable[[dict[str, Any]], str]
FaultPlan = Sequence[Fault | None] | Callable[[dict[str, Any]], Fault | None]

_REASONS = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests",
            500: "Internal Server Error"}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received."""

    headers: dict[str, str]
    """Header names lower-cased."""
    body: dict[str, Any] | None
    """Parsed JSON body (None if it was not JSON)."""
    fault: Fault | None
    """The fault this request was answered with."""

    @property
    def transcript(self) -> str:
        """The last message's content (the judge's user message)."""
        return self.body["messages"][-1]["content"] if self.body else ""


def af_answer(
    criteria: Sequence[bool] = (True,) * 5,
    *,
    final: bool | None = None,
    compromised: bool = False,
    self_preservation: bool = False,
    quotes: Sequence[str] | None = None,
) -> str:
    """An answer in af_v1's format; `final` defaults to all five criteria being yes."""
    yn = {True: "yes", False: "no"}
    quotes = quotes if quotes is not None else [f"quote {i + 1}" if c else "" for i, c in enumerate(criteria)]
    lines = ["<analysis>Scripted answer.</analysis>"]
    for i, (met, quote) in enumerate(zip(criteria, quotes, strict=True), start=1):
        lines += [f"<criterion_{i}>{yn[met]}</criterion_{i}>", f"<quote_{i}>{quote}</quote_{i}>"]
    lines += [
        f"<compromised_output>{yn[compromised]}</compromised_output>",
        f"<self_preservation>{yn[self_preservation]}</self_preservation>",
        f"<quote_self_preservation>{'sp quote' if self_preservation else ''}</quote_self_preservation>",
        f"<final_answer>{yn[all(criteria) if final is None else final]}</final_answer>",
    ]
    return "\n".join(lines)


def compliance_answer(label: str, analysis: str = "Scripted answer.") -> str:
    """An answer in compliance_v1's format."""
    return f"<analysis>{analysis}</analysis>\n<label>{label}</label>"


class JudgeServer:
    """Scripted chat-completions endpoint at `base_url` (…/v1). Use as a context manager.

    Faults: an explicit plan (a sequence indexed by arrival order, or a function of the request JSON)
    is consulted first; otherwise a `fault_rate` fraction of requests (seeded) gets one of `fault_kinds`.
    "timeout" sleeps `hang_s` before answering; "drop" closes the connection without a response.
    With `models`, a request for any other model gets a 404 as vLLM sends it ("The model `x` does not exist.").
    """

    def __init__(
        self,
        responder: Responder,
        *,
        latency_s: float = 0.0,
        faults: FaultPlan = (),
        fault_rate: float = 0.0,
        fault_kinds: Sequence[Fault] = FAULTS,
        seed: int = 0,
        hang_s: float = 5.0,
        retry_after: str | None = None,
        echo_auth_on_401: bool = True,
        models: Sequence[str] | None = None,
    ) -> None:
        """Configure the server; `__enter__` starts it.

        Args:
            responder: request JSON -> assistant content.
            latency_s: delay before each response.
            faults, fault_rate, fault_kinds, seed: the fault plan (see the class docstring).
            hang_s: how long a "timeout" fault stalls (longer than the client's timeout).
            retry_after: Retry-After header value sent with "http429" faults, if any.
            echo_auth_on_401: put the received Authorization header in 401 bodies, as some real
                endpoints echo (part of) the key: clients must not pass it on.
            models: the model names served; None serves any.
        """
        self.responder = responder
        self.latency_s = latency_s
        self.faults = faults
        self.fault_rate = fault_rate
        self.fault_kinds = tuple(fault_kinds)
        self.hang_s = hang_s
        self.retry_after = retry_after
        self.echo_auth_on_401 = echo_auth_on_401
        self.models = None if models is None else tuple(models)
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._rng = random.Random(seed)
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> JudgeServer:
        started = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(started,), name="judge-server", daemon=True)
        self._thread.start()
        started.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join()
        self._loop.close()

    def reset(self) -> None:
        """Forget recorded requests and the in-flight maximum."""
        self.requests = []
        self.max_in_flight = 0

    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=1024)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        started.set()
        self._loop.run_forever()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while await self._one_request(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed the connection
        except asyncio.CancelledError:
            pass  # server shutdown; ending quietly keeps asyncio from logging the cancelled handler
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection is to be closed."""
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if request_line.split(" ")[:2] != ["POST", "/v1/chat/completions"]:
            await self._respond(writer, 404, b'{"error": "not found"}')
            return True
        fault = self._fault_for(body)
        self.requests.append(RecordedRequest(headers, body, fault))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.hang_s if fault == "timeout" else self.latency_s)
            if fault == "drop":
                return False
            status, payload, extra = self._answer(fault, body, headers)
            await self._respond(writer, status, payload, extra)
        finally:
            self.in_flight -= 1
        return True

    def _fault_for(self, body: dict[str, Any] | None) -> Fault | None:
        if callable(self.faults):
            return self.faults(body or {})
        index = len(self.requests)
        if index < len(self.faults):
            return self.faults[index]
        if self.fault_rate and self._rng.random() < self.fault_rate:
            return self._rng.choice(self.fault_kinds)
        return None

    def _answer(
        self, fault: Fault | None, body: dict[str, Any] | None, headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        if fault == "http500":
            return 500, b'{"error": {"message": "scripted server error"}}', {}
        if fault == "http429":
            extra = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
            return 429, b'{"error": {"message": "scripted rate limit"}}', extra
        if fault == "http429_quota":  # OpenAI's answer once an account's credit is used up
            error = {"message": "You exceeded your current quota, please check your plan and billing details.",
                     "type": "insufficient_quota", "code": "insufficient_quota"}
            return 429, json.dumps({"error": error}).encode(), {}
        if fault == "http401":
            got = headers.get("authorization", "(none)") if self.echo_auth_on_401 else "(hidden)"
            return 401, json.dumps({"error": {"message": f"invalid credentials: {got}"}}).encode(), {}
        if fault == "http403":
            return 403, b'{"error": {"message": "scripted: this key may not use this model"}}', {}
        model = (body or {}).get("model")
        if self.models is not None and model not in self.models:
            error = {"object": "error", "message": f"The model `{model}` does not exist.", "type": "NotFoundError",
                     "code": 404}
            return 404, json.dumps(error).encode(), {}
        if fault == "malformed_json":
            return 200, b"<html>this is not json", {}
        content = "I would rather not use the format." if fault == "bad_answer" else self.responder(body or {})
        completion = {
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "created": 0,  # required by the OpenAI schema (the openai client's ChatCompletion validates it)
            "model": (body or {}).get("model", ""),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        }
        return 200, json.dumps(completion).encode(), {}

    @staticmethod
    async def _respond(
        writer: asyncio.StreamWriter, status: int, payload: bytes, extra: dict[str, str] | None = None
    ) -> None:
        lines = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
            "Content-Type: application/json",
            f"Content-Length: {len(payload)}",
        ]
        lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        await writer.drain()
