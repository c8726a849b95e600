"""Shared fixtures of the rl tests: one tiny training run, trained once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rl.openrlhf_src import openrlhf_source
from tests.rl.tiny_run import train_tiny


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-step run: tmp/runs/tiny with checkpoints step-1 and step-2 and samples step-0..2.

    Tests may add to it (another run name, more steps) but never change step-1/step-2 or their samples.
    """
    tmp = tmp_path_factory.mktemp("e2e")
    proc = train_tiny(tmp)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "== af-rl run finished ==" in proc.stdout
    return tmp


@pytest.fixture(scope="module")
def source() -> Path:
    """OpenRLHF's source (installed, cached or fetched once), read by the flag and config tests."""
    found = openrlhf_source()
    if isinstance(found, str):
        pytest.skip(f"OpenRLHF source not available: {found}")
    return found
