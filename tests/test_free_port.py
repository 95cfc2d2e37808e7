"""``free_port``: a port no outgoing connection can take before the server binds it."""

from __future__ import annotations

import random
import socket
from pathlib import Path

import pytest

from ocpp_fast import _machine


def test_a_port_below_the_ephemeral_range_that_binds() -> None:
    low = _machine._ephemeral_low()
    if low <= 2048:
        pytest.skip("this machine does not say its ephemeral range (not Linux)")
    ports = {_machine.free_port() for _ in range(20)}
    assert all(max(1024, low - 12_000) <= port < low for port in ports), (low, ports)
    assert len(ports) > 1  # picked at random, not the same one for every server
    with socket.socket() as server:
        server.bind(("127.0.0.1", ports.pop()))


def test_a_port_someone_listens_on_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        monkeypatch.setattr(random, "sample", lambda pool, k: [busy, *pool[:k]])
        monkeypatch.setattr(_machine, "_ephemeral_low", lambda: 40_000)
        port = _machine.free_port()
        assert port != busy and 28_000 <= port < 40_000


def test_port_zero_s_where_the_range_is_unknown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_machine, "EPHEMERAL_RANGE", tmp_path / "absent")
    assert _machine._ephemeral_low() == 0
    port = _machine.free_port()
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
