"""What a measurement needs besides the measurement: where it ran, and its percentiles.

``ocpp-fast bench``, the simulator and ``benchmarks/load.py`` print figures that
mean little without the machine under them, and all three rank latencies.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

__all__ = ["describe", "free_port", "percentile", "version_of"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for a server to start on)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def percentile(ordered: Sequence[float], share: float) -> float:
    """The value at ``share`` (0.5 = median) of already sorted values; NaN without any.

    Nearest rank, no interpolation: a reported p99 is a latency that happened.
    """
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def version_of(package: str) -> str:
    """An installed distribution's version, or "not installed"."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu() -> tuple[str, int]:
    name, count = platform.processor() or platform.machine(), 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                count += 1
    return name, count or os.cpu_count() or 0


def describe(packages: Sequence[str] = ("msgspec",)) -> list[str]:
    """Lines naming the machine, the interpreter, the packages given and the live codec."""
    from ocpp_fast import codec

    cpu, count = _cpu()
    memory = ""
    with contextlib.suppress(ValueError, OSError, AttributeError):
        memory = f"; RAM {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"
    versions = "; ".join(f"{name} {version_of(name)}" for name in packages)
    return [
        f"machine: {platform.platform()}; CPU: {cpu} ({count} logical CPUs){memory}",
        f"python: {platform.python_implementation()} {platform.python_version()}; {versions}",
        f"ocpp_fast.codec live implementation: {codec.IMPLEMENTATION}",
    ]
