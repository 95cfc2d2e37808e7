"""What a measurement needs besides the measurement: where it ran, and its percentiles.

``ocpp-fast bench``, the simulator and ``benchmarks/load.py`` print figures that
mean little without the machine under them, and all three rank latencies.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import socket
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

__all__ = ["describe", "free_port", "percentile", "version_of"]


EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
"""Linux's range of the ports it gives an outgoing connection (and a ``bind`` to port 0)."""
PICKS = 64
"""Ports tried below the ephemeral range before :func:`free_port` falls back to port 0's."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for a server to start on).

    Picked at random below the kernel's ephemeral range, where no outgoing connection is
    given its local port: the port a ``bind`` to 0 hands out is an ephemeral one, which a
    client socket of any process on the machine could take before the server binds it
    (a test's ``serve --port`` failed on "address already in use" while the suite's other
    workers opened hundreds of connections). Port 0's where that range is unknown or full.
    """
    low = _ephemeral_low()
    if low > 2048:
        for port in random.sample(range(max(1024, low - 12_000), low), PICKS):
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        chosen: int = probe.getsockname()[1]
        return chosen


def _ephemeral_low() -> int:
    """The ephemeral range's first port (0 where the machine does not say it)."""
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


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
