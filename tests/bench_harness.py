"""Running a benchmark harness (``benchmarks/*.py``) from a test, as ``make`` runs it."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest


def run_harness(argv: Sequence[str], timeout: float, cwd: Path | None = None) -> str:
    """Run ``argv`` in a session of its own, so that a run over ``timeout`` seconds is killed
    with every process it started (servers, simulators, nats-server); its stdout once it
    exited 0, else the test fails with its stderr's end."""
    harness = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=cwd,
    )
    try:
        stdout, stderr = harness.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(harness.pid, signal.SIGKILL)
        harness.communicate()
        pytest.fail(f"{Path(argv[1]).name} took more than {timeout:g} s")
    assert harness.returncode == 0, stderr[-3000:]
    return stdout
