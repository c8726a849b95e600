"""A small OpenAI-compatible server over a local checkpoint, for CPU tests and demos.

    python -m rl.serve --model PATH [--name NAME] [--host 127.0.0.1] [--port 8000] [--batch-size 32]

Routes: `GET /v1/models`; `POST /v1/chat/completions` (messages rendered with the checkpoint's chat template;
vLLM's `continue_final_message` / `add_generation_prompt` extensions to continue a final assistant message,
e.g. a prefilled "<OUTPUT>"); `POST /v1/completions` (the prompt text as it is, no special tokens added).
Sampling: `temperature` (0 is greedy), `max_tokens`, `seed` and `n`. Generation goes through the HF engine
(rl/engines/hf.py) with its per-prompt seeded sampling: choice k of a request with seed s draws from the
stream of (s + k, prompt text), so a completion does not depend on what else is in flight, and a request
with seed s gives what `rl.compare --engine hf` gives for the same prompt with seed s. Requests in flight
are generated together in batches of up to --batch-size (those with the same temperature and token limit).
A request naming another model gets HTTP 404 naming the served one; a malformed body HTTP 400 naming the
field. Not a production server: one process, one model, no streaming, no authentication.
"""

from __future__ import annotations

import argparse
import queue
import random
import sys
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from reward.http_json import BadRequest, read_json_body, send_json

EXIT_BAD_INPUT = 2
MAX_BODY_BYTES = 16 * 1024 * 1024
BATCH_WAIT_S = 0.01
"""How long the batcher waits for more requests after the first of a batch arrives."""


@dataclass
class Job:
    """One prompt to generate (a request with n > 1 makes n jobs)."""

    prompt: str
    max_tokens: int
    temperature: float
    seed: int
    done: Future = field(default_factory=Future)


class Batcher:
    """Generates queued jobs with the HF engine on one thread, batching those with the same settings."""

    def __init__(self, engine: Any, batch_size: int) -> None:
        self.engine = engine
        self.batch_size = batch_size
        self.jobs: queue.Queue[Job] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="af-rl-serve-batcher", daemon=True)
        self.thread.start()

    def submit(self, job: Job) -> Future:
        self.jobs.put(job)
        return job.done

    def close(self) -> None:
        """Stop the batching thread once the jobs queued before this call are done."""
        self.jobs.put(None)  # type: ignore[arg-type]
        self.thread.join()

    def _run(self) -> None:
        pending: list[Job] = []
        while True:
            if not pending:
                first = self.jobs.get()
                if first is None:
                    return
                pending.append(first)
            deadline = time.monotonic() + BATCH_WAIT_S
            stop = False
            while len(pending) < self.batch_size:  # what arrives meanwhile joins the batch
                try:
                    job = self.jobs.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                pending.append(job)
            key = (pending[0].max_tokens, pending[0].temperature)
            batch = [j for j in pending if (j.max_tokens, j.temperature) == key][: self.batch_size]
            taken = {id(j) for j in batch}
            pending = [j for j in pending if id(j) not in taken]
            self._generate(batch)
            if stop:
                for rest in (pending[i:i + self.batch_size] for i in range(0, len(pending), self.batch_size)):
                    self._generate(rest)
                return

    def _generate(self, batch: list[Job]) -> None:
        from rl.engines.hf import prompt_seed

        try:
            ids = self.engine.tokenizer([j.prompt for j in batch], add_special_tokens=False)["input_ids"]
            out = self.engine.generate_ids(ids, max_new_tokens=batch[0].max_tokens, temperature=batch[0].temperature,
                                           seeds=[prompt_seed(j.seed, j.prompt) for j in batch])
            for job, prompt_ids, gen in zip(batch, ids, out, strict=True):
                text = self.engine.tokenizer.decode(gen.ids, skip_special_tokens=True)
                job.done.set_result((text, "stop" if gen.stopped else "length", len(gen.ids), len(prompt_ids)))
        except Exception as e:  # noqa: BLE001 - the request fails (HTTP 500), the server goes on
            for job in batch:
                if not job.done.done():
                    job.done.set_exception(e)


def _number(body: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = body.get(key, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise BadRequest(f"'{key}' must be a number in [{lo:g}, {hi:g}], got {value!r}")
    return value


def sampling(body: dict[str, Any], max_tokens_cap: int) -> tuple[int, float, int, int]:
    """(max_tokens, temperature, seed, n) of a request body.

    Raises:
        BadRequest: a field out of range or of the wrong type.
    """
    max_tokens = int(_number(body, "max_tokens", body.get("max_completion_tokens") or 256, 1, max_tokens_cap))
    temperature = float(_number(body, "temperature", 1.0, 0.0, 10.0))
    seed = body.get("seed")
    if seed is None:
        seed = random.getrandbits(31)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise BadRequest(f"'seed' must be an integer, got {seed!r}")
    n = int(_number(body, "n", 1, 1, 64))
    return max_tokens, temperature, seed, n


def chat_prompt(tokenizer: Any, body: dict[str, Any]) -> str:
    """The text a chat request's messages render to with the model's chat template.

    Raises:
        BadRequest: `messages` is not a non-empty list of {role, content} with string content.
    """
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list")
    clean = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise BadRequest(f"messages[{i}] must be an object with string 'role' and 'content'")
        clean.append({"role": m["role"], "content": m["content"]})
    continue_final = bool(body.get("continue_final_message", False))
    if continue_final and clean[-1]["role"] != "assistant":
        raise BadRequest("'continue_final_message' needs a final assistant message")
    add_generation = bool(body.get("add_generation_prompt", not continue_final))
    try:
        return tokenizer.apply_chat_template(clean, tokenize=False, add_generation_prompt=add_generation,
                                             continue_final_message=continue_final)
    except Exception as e:  # noqa: BLE001 - a template that rejects the conversation (roles, order)
        raise BadRequest(f"the chat template rejects these messages: {e}") from None


class Server:
    """The served model and what each route answers (`answer`), apart from HTTP."""

    def __init__(self, engine: Any, name: str, *, batch_size: int = 32, max_tokens_cap: int = 4096) -> None:
        self.engine = engine
        self.name = name
        self.max_tokens_cap = max_tokens_cap
        self.batcher = Batcher(engine, batch_size)

    def close(self) -> None:
        """Stop generating (after what is queued) and free the model."""
        self.batcher.close()
        self.engine.close()

    def answer(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        path = path.split("?")[0].rstrip("/")
        if method == "GET" and path in ("/v1/models", "/models"):
            return 200, {"object": "list", "data": [{"id": self.name, "object": "model", "owned_by": "af-rl"}]}
        if method == "GET" and path in ("/health", ""):
            return 200, {"ok": True, "model": self.name}
        if method != "POST" or path not in ("/v1/chat/completions", "/v1/completions"):
            return 404, _error(f"no route {method} {path}; POST /v1/chat/completions or /v1/completions, "
                               f"GET /v1/models", "not_found")
        if not isinstance(body, dict):
            return 400, _error("the body must be a JSON object", "invalid_request_error")
        if body.get("model") != self.name:
            return 404, _error(f"The model `{body.get('model')}` does not exist. This server serves `{self.name}`.",
                               "not_found")
        try:
            max_tokens, temperature, seed, n = sampling(body, self.max_tokens_cap)
            chat = path.endswith("chat/completions")
            if chat:
                prompts = [chat_prompt(self.engine.tokenizer, body)]
            else:
                prompt = body.get("prompt")
                prompts = [prompt] if isinstance(prompt, str) else prompt
                if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
                    raise BadRequest("'prompt' must be a string or a non-empty list of strings")
        except BadRequest as e:
            return 400, _error(str(e), "invalid_request_error")
        futures = [self.batcher.submit(Job(p, max_tokens, temperature, seed + k)) for p in prompts for k in range(n)]
        try:
            results = [f.result() for f in futures]
        except Exception as e:  # noqa: BLE001 - generation failed: the client may retry
            return 500, _error(f"generation failed: {type(e).__name__}: {e}", "server_error")
        choices = []
        for index, (text, finish, _, _) in enumerate(results):
            if chat:
                choices.append({"index": index, "message": {"role": "assistant", "content": text},
                                "finish_reason": finish})
            else:
                choices.append({"index": index, "text": text, "finish_reason": finish})
        prompt_tokens = sum(r[3] for r in results[::n])
        completion_tokens = sum(r[2] for r in results)
        return 200, {
            "id": f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()), "model": self.name, "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind}}


def make_http_server(server: Server, host: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server for `server`; `serve_forever` runs it (port 0 picks a free port: `.server_port`)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: clients hold their connections

        def log_message(self, fmt: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            send_json(self, *server.answer("GET", self.path, None))

        def do_POST(self) -> None:  # noqa: N802
            try:
                body = read_json_body(self, MAX_BODY_BYTES)
            except BadRequest as e:
                send_json(self, 400, _error(str(e), "invalid_request_error"))
                return
            send_json(self, *server.answer("POST", self.path, body))

    return ThreadingHTTPServer((host, port), Handler)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rl.serve", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a model directory (a checkpoint of a run, the organism) or hub id")
    p.add_argument("--name", help="the model name clients send (default: --model as given)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--batch-size", type=int, default=32, help="prompts generated together")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16"))
    args = p.parse_args(argv)
    from rl.engines.hf import HFEngine

    if not (Path(args.model).expanduser().is_dir() or args.model.count("/") == 1):
        print(f"error: --model {args.model!r} is not a model directory or an org/name hub id", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        engine = HFEngine.load(args.model, dtype=args.dtype, device=args.device, batch_size=args.batch_size)
        http = make_http_server(Server(engine, args.name or args.model, batch_size=args.batch_size),
                                args.host, args.port)
    except (OSError, ValueError) as e:
        print(f"error: --model {args.model}: {str(e).splitlines()[0]}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"[af-rl] serving {args.model} as {args.name or args.model!r} on "
          f"http://{args.host}:{http.server_port}/v1", flush=True)
    try:
        http.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        http.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
