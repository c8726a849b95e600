"""Before `rl.compare --engine openai` generates anything: the endpoint must answer, accept the key, and serve
every model named (checked against `GET /models` where the server lists them, then with one tiny chat request
per model for the chat API, the request the engine depends on)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import httpx

from reward.judges.config import JudgeConfig
from reward.judges.probe import JudgeProbeError, probe_judge

TIMEOUT_S = 10.0


class EndpointError(ValueError):
    """The endpoint cannot serve the comparison; the message names the URL, the model and the cause (never the key)."""


def probe_endpoint(base_url: str, models: Sequence[str], *, api: str, api_key_env: str | None) -> str:
    """A line saying what was checked.

    Raises:
        EndpointError: unreachable, the key refused (401/403), a model not among those the server lists, or
            (chat API) a model's probe request failing.
    """
    root = base_url.rstrip("/")
    key = os.environ.get(api_key_env) if api_key_env else None
    if api_key_env and not key:
        raise EndpointError(f"--api-key-env {api_key_env}: the variable is not set or empty")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        resp = httpx.get(f"{root}/models", headers=headers, timeout=TIMEOUT_S)
    except httpx.HTTPError as e:
        cause = "connection refused" if isinstance(e, httpx.ConnectError) else type(e).__name__
        raise EndpointError(f"--base-url {root}: the endpoint does not answer ({cause})") from None
    if resp.status_code in (401, 403):
        why = "no key was sent (give --api-key-env NAME)" if not key else f"the key in ${api_key_env} was refused"
        raise EndpointError(f"--base-url {root}: HTTP {resp.status_code}: {why}")
    listed: list[str] | None = None
    if resp.status_code == 200:
        try:
            listed = [str(m["id"]) for m in resp.json()["data"]]
        except (ValueError, KeyError, TypeError):
            listed = None  # a server that answers /models with something else: the chat probe decides
    if listed is not None:
        missing = [m for m in models if m not in listed]
        if missing:
            raise EndpointError(f"--base-url {root} does not serve {', '.join(map(repr, missing))}; it serves: "
                                f"{', '.join(listed) or '(nothing)'}")
    if api == "chat":
        for model in models:
            try:
                probe_judge(JudgeConfig(base_url=root, model=model, api_key_env=api_key_env, probe_timeout_s=TIMEOUT_S))
            except (JudgeProbeError, ValueError) as e:
                raise EndpointError(f"--base-url {root}, model {model}: {e}") from None
    what = f"{len(models)} model{'s' if len(models) > 1 else ''}"
    return f"endpoint {root} answers and serves the {what}" + (" (listed)" if listed is not None else "")
