"""Joining (or starting) the Ray cluster a job runs on; shared by rl/train.py and rl.compare."""

from __future__ import annotations

import os


class ClusterError(RuntimeError):
    """The Ray cluster cannot be reached or cannot host the job."""


def probe_address(address: str, key: str, timeout_s: float = 5.0) -> None:
    """Fail fast when nothing listens at host:port (ray.init would retry for a minute first)."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    if not parsed.hostname or not parsed.port:
        raise ClusterError(f"{key}: {address!r} is not host:port, ray://host:port, 'auto' or 'local'")
    try:
        socket.create_connection((parsed.hostname, parsed.port), timeout=timeout_s).close()
    except OSError as e:
        raise ClusterError(f"{key}: cannot reach Ray cluster at {address!r} ({e})") from e


def connect(address: str, *, num_cpus: float = 1, num_gpus: float = 0, key: str = "rl.ray.address") -> dict[str, float]:
    """ray.init per `address` and check the cluster has `num_cpus`/`num_gpus`; returns its resources.

    auto: the cluster of `ray job submit` / $RAY_ADDRESS / a running local head, else start one locally;
    local: always a private local instance; anything else must be reachable. `key` names the setting in
    error messages. Token auth is off for clusters started here (Ray 2.60 turns it on by default).
    """
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if address not in ("auto", "local"):
        probe_address(address, key)
    import ray

    local_cpus = max(os.cpu_count() or 1, int(num_cpus + 0.999))
    if address == "local":
        ray.init(address="local", num_cpus=local_cpus)
    elif address == "auto":
        try:
            ray.init(address="auto", log_to_driver=True)
        except ConnectionError:
            ray.init(num_cpus=local_cpus)
    else:
        try:
            ray.init(address=address, log_to_driver=True)
        except Exception as e:  # ray raises ConnectionError, TimeoutError or RuntimeError depending on the address
            raise ClusterError(f"{key}: cannot reach Ray cluster at {address!r} ({type(e).__name__}: {e})") from e
    have = ray.cluster_resources()
    prefix = key.rsplit(".", 1)[0]
    for name, res, want in (("num_cpus", "CPU", num_cpus), ("num_gpus", "GPU", num_gpus)):
        if want > have.get(res, 0):
            ray.shutdown()
            raise ClusterError(
                f"{prefix}.{name}: the job needs {want:g} {res} but the cluster has {have.get(res, 0):g}")
    return dict(have)
