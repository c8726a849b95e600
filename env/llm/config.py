"""Typed config of one OpenAI-compatible chat-completions endpoint: where it is, how requests are sent,
retried and cached. The judges (`reward.judges.JudgeConfig`) and the document generator build on it.

The API key is never a field: the config names where to read it (`api_key_env`, `api_key_file`), so
it stays out of repr, model_dump, saved run configs and logs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field


class EndpointConfig(BaseModel):
    """Where a model is served and how requests to it are sent. Any OpenAI-compatible chat-completions
    endpoint works (OpenAI, a vLLM server, a local server)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: ClassVar[str] = "endpoint"
    """How messages name this config's section and its requests (subclasses: "judge", "generator")."""

    base_url: str = "https://api.openai.com/v1"
    """Endpoint root; requests go to `{base_url}/chat/completions`."""
    model: str = "gpt-4o"
    """Model name, as the endpoint knows it."""
    api_key_env: str | None = "OPENAI_API_KEY"
    """NAME of the environment variable holding the API key (not the key itself)."""
    api_key_file: str | None = None
    """Path of a file holding the API key (surrounding whitespace stripped); wins over `api_key_env`."""
    temperature: float = Field(1.0, ge=0.0)
    """Sampling temperature of every request."""
    max_tokens: int = Field(1024, ge=1)
    """Completion-token limit of every request."""
    max_concurrency: int = Field(64, ge=1)
    """Most requests in flight at once per client (and event loop)."""
    timeout_s: float = Field(60.0, gt=0.0)
    """Per-request timeout (connect, read, write, pool), in seconds."""
    max_retries: int = Field(4, ge=0)
    """Retries per request after the first attempt: HTTP 429/5xx, timeouts, dropped connections, bodies
    that are not a chat completion, and answers the caller rejects as not in its format."""
    backoff_s: float = Field(1.0, ge=0.0)
    """First retry delay; it doubles per retry (with jitter), capped at 30 s. A Retry-After header
    on 429/503 is honoured, within the same cap."""
    cache_dir: str | None = "~/.cache/af-rl/judge"
    """Directory of the answer cache (sqlite); None disables caching."""
    probe: bool = Field(True, exclude=True)
    """Send one 1-token request before any work starts and stop with exit code 2 when the endpoint is
    unreachable, rejects the key or does not serve the model. Off only for an endpoint that comes up
    later. Like `probe_timeout_s` it decides no result, so both stay out of dumps: saved configs, resume
    checks and compare fingerprints."""
    probe_timeout_s: float = Field(5.0, gt=0.0, exclude=True)
    """Timeout of the probe request, in seconds."""

    def resolve_api_key(self) -> str | None:
        """The API key: the content of `api_key_file` if set, else `$api_key_env` if set and non-empty,
        else None (local servers need none).

        Raises:
            ValueError: `api_key_file` is set but cannot be read or is empty (the message names
                `<label>.api_key_file` and the path, never a key).
        """
        if self.api_key_file is not None:
            path = Path(self.api_key_file).expanduser()
            where = f"{self.label}.api_key_file {str(path)!r}"
            try:
                key = path.read_text().strip()
            except OSError as e:
                raise ValueError(f"{where} cannot be read: {e.strerror or e}") from None
            except UnicodeDecodeError:  # a ValueError too, whose own message names no key
                raise ValueError(f"{where} is not UTF-8 text") from None
            if not key:
                raise ValueError(f"{where} is empty")
            return key
        if self.api_key_env:
            return os.environ.get(self.api_key_env) or None
        return None
