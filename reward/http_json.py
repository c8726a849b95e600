"""JSON over the standard library's HTTP server: what af-rl's small servers (`reward.serve`, `rl.serve`) share."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any


class BadRequest(ValueError):
    """The request body is not what the API says; the message names the problem (and the field)."""


def read_json_body(handler: BaseHTTPRequestHandler, max_bytes: int) -> Any:
    """The request's JSON body (None for an empty one).

    Raises:
        BadRequest: the body is larger than `max_bytes` or is not JSON.
    """
    length = int(handler.headers.get("Content-Length") or 0)
    if length > max_bytes:
        raise BadRequest(f"body of {length} bytes is over {max_bytes}")
    try:
        return json.loads(handler.rfile.read(length) or b"null")
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"the body is not JSON ({e})") from None


def send_json(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
    """Answer with `payload` as JSON (with its length, so keep-alive connections stay usable)."""
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
