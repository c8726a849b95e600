"""Serve a reward scorer under OpenRLHF's remote reward-model protocol.

    python -m reward.serve --model PATH [--port 5000] [--host 127.0.0.1]      # a local reward model
    python -m reward.serve --config RUN.yaml [--port 5000]                     # the run's whole reward

POST `/get_reward` (or `/`) a JSON object; the answer is `{"rewards": [...], "scores": [...], "extra_logs": {...}}`,
one value per item. Two kinds of request:
- `requests` and `outputs` lists (what `reward.model.url` sends): the reward model's raw score of each
  (request, output), rendered with the served model's chat template; null where it failed (a reason in
  `extra_logs.errors`).
- `query`, `prompts` and `labels` lists (what OpenRLHF sends with `--reward.remote_url URL --data.label_key
  episode`): the run's tier-conditional reward (`reward:` of --config, its reward model replaced by --model
  if given) of the response in each query, as rl/backends/openrlhf/reward.py computes it, `extra_logs` with
  its keys. OpenRLHF can then score on the reward server's GPUs instead of in every rollout actor.
GET `/health` answers `{"ok": true, "scorer": NAME}`. A malformed request gets HTTP 400 naming the problem;
a model that fails gives null or neutral rewards, counted, and the server stays up.
"""

from __future__ import annotations

import argparse
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from reward.config import RewardConfig
from reward.http_json import BadRequest, read_json_body, send_json
from reward.rm import RewardModelConfig, RewardModelError, RewardScorer, check_reward_model, scorer_for

EXIT_BAD_INPUT = 2
MAX_BODY_BYTES = 64 * 1024 * 1024


def answer(body: Any, cfg: RewardConfig, scorer: RewardScorer) -> dict[str, Any]:
    """The protocol's answer to one decoded request body (see the module docstring).

    Raises:
        BadRequest: the body is not an object with equal-length `requests`/`outputs` lists of strings,
            or with a `query` list (and optional `prompts`, `labels`).
    """
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object, not {type(body).__name__}")
    if "requests" in body or "outputs" in body:
        requests, outputs = body.get("requests"), body.get("outputs")
        if not (isinstance(requests, list) and isinstance(outputs, list) and len(requests) == len(outputs)):
            raise BadRequest("'requests' and 'outputs' must be lists of the same length")
        if not all(isinstance(x, str) for x in [*requests, *outputs]):
            raise BadRequest("'requests' and 'outputs' must hold strings")
        results = scorer.score(list(zip(requests, outputs)))
        scores = [r.score for r in results]
        return {"rewards": scores, "scores": scores, "extra_logs": {"errors": [r.error for r in results]}}
    queries = body.get("query")
    if not isinstance(queries, list):
        raise BadRequest("the body needs 'query' (a list, with 'prompts' and 'labels' as OpenRLHF sends them) or "
                         "'requests' and 'outputs' lists")
    from reward.samples import LOG_KEYS, score_samples

    outcomes = score_samples(queries, body.get("prompts") or [], body.get("labels") or [], cfg)
    rewards = [o.reward for o in outcomes]
    return {"rewards": rewards, "scores": rewards,
            "extra_logs": {k: [o.logs[k] for o in outcomes] for k in LOG_KEYS}}


def make_server(cfg: RewardConfig, host: str, port: int) -> ThreadingHTTPServer:
    """A threading HTTP server for `cfg` (its reward model is the served scorer); `serve_forever` runs it."""
    assert cfg.model is not None
    scorer = scorer_for(cfg.model, cfg.judge)
    lock = threading.Lock()  # one batch at a time through the model

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *args: Any) -> None:  # quiet: one line per request is noise in training
            pass

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            send_json(self, status, payload)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path.rstrip("/") in ("/health", ""):
                self._send(200, {"ok": True, "scorer": scorer.name})
            else:
                self._send(404, {"error": f"no route {self.path}; POST /get_reward, GET /health"})

        def do_POST(self) -> None:  # noqa: N802
            if self.path.rstrip("/") not in ("/get_reward", ""):
                self._send(404, {"error": f"no route {self.path}; POST /get_reward"})
                return
            try:
                body = read_json_body(self, MAX_BODY_BYTES)
                with lock:
                    payload = answer(body, cfg, scorer)
            except BadRequest as e:
                self._send(400, {"error": str(e)})
                return
            except Exception as e:  # noqa: BLE001 - a scorer bug answers 500 (clients retry), the server stays up
                self._send(500, {"error": f"{type(e).__name__}: {e}"})
                return
            self._send(200, payload)

    return ThreadingHTTPServer((host, port), Handler)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m reward.serve", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help="a run config whose reward: section is served (kind, tiers, reward model)")
    p.add_argument("--model", help="a local or hub sequence-classification reward model (replaces reward.model)")
    p.add_argument("--judge", action="store_true", help="serve the LLM judge's helpfulness rubric (reward.judge)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; 0.0.0.0 for a cluster)")
    p.add_argument("--port", type=int, default=5000)
    args = p.parse_args(argv)
    try:
        cfg = load_reward_config(args.config, args.model, args.judge)
        print(f"[af-rl] {check_reward_model(cfg.model, cfg.judge)}", flush=True)  # type: ignore[arg-type]
        server = make_server(cfg, args.host, args.port)
    except (ValueError, RewardModelError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"[af-rl] serving {cfg.model.source} reward model on http://{args.host}:{server.server_port}/get_reward "  # type: ignore[union-attr]
          f"(reward kind {cfg.kind}, rewarded tiers {list(cfg.rewarded_tiers)})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def load_reward_config(config: str | None, model: str | None, judge: bool) -> RewardConfig:
    """The served RewardConfig: `reward:` of `config` (or the defaults, kind model), its reward model replaced
    by `model` or the judge if given.

    Raises:
        ValueError: no reward model at all, or an invalid `reward:` section (the message names the file).
    """
    section: dict[str, Any] = {}
    if config is not None:
        from pydantic import ValidationError

        from env.yaml_file import read_yaml_mapping

        section = dict(read_yaml_mapping(config, sections="env/reward/rl/trl sections").get("reward") or {})
        try:
            RewardConfig.model_validate(section)
        except ValidationError as e:
            raise ValueError(f"config file {config}, reward: {e}") from None
    if model is not None or judge:
        section["model"] = RewardModelConfig(name_or_path=model, judge=judge).model_dump()
        section.setdefault("kind", "model")
    if not section.get("model"):
        raise ValueError("nothing to serve: give --model PATH, --judge, or --config with a reward.model section")
    if (section["model"] or {}).get("organism"):
        raise ValueError("reward.model.organism is built by training runs; serve its directory with --model "
                         "(python -m rl.organism.reward_model prints it)")
    section.setdefault("kind", "model")
    return RewardConfig.model_validate(section)


if __name__ == "__main__":
    sys.exit(main())
