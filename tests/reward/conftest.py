"""Fixtures for the judge tests: scripted chat-completions servers, closed after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from judge_server import JudgeServer


@pytest.fixture
def serve() -> Iterator[Callable[..., JudgeServer]]:
    """Factory: `serve(responder, **options)` starts a JudgeServer that stops after the test."""
    started: list[JudgeServer] = []

    def start(*args: Any, **kwargs: Any) -> JudgeServer:
        srv = JudgeServer(*args, **kwargs).__enter__()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.__exit__(None, None, None)
