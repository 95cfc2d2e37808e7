"""The accept gate of a server on asyncio's own loop (``ocpp_fast.transport._accept``): each
socket counted as it is accepted, one over the fd budget closed within the same ``accept()``.

The burst this is for (100 connections queued before the server runs, on each backend and
loop) is played in ``tests/test_hostile.py``; here are the pieces on plain sockets.
"""

from __future__ import annotations

import asyncio
import errno
import resource
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from my_test_charge_system import MyTestChargeSystem

from ocpp_fast.transport import Limits, serve
from ocpp_fast.transport._accept import AcceptGate, GatedSocket
from ocpp_fast.transport._stations import Stations
from ocpp_fast.transport.backend import BACKENDS


def stations_with_room(sockets: int) -> Stations:
    """A server whose fd budget is ``sockets`` sockets in this process."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return Stations({}, None, False, Limits(spare_fds=soft - sockets))


@contextmanager
def listening(gate: AcceptGate) -> Iterator[GatedSocket]:
    sock = GatedSocket(socket.AF_INET, socket.SOCK_STREAM)
    sock.gate = gate
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(10)
        sock.setblocking(False)
        yield sock
    finally:
        sock.close()


def test_accept_returns_the_sockets_within_the_budget_and_closes_the_rest_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stations = stations_with_room(1)
    gate = AcceptGate(stations)
    with listening(gate) as server:
        clients = [socket.create_connection(server.getsockname()) for _ in range(3)]
        try:
            kept, _ = server.accept()
            with pytest.raises(BlockingIOError):
                server.accept()  # the two over the budget closed, then the loop is told to wait
            for client in clients[1:]:
                client.settimeout(2)
                assert client.recv(1) == b""  # closed by the server
            assert gate.held() == 1
            kept.close()
        finally:
            for client in clients:
                client.close()
    refused = [r.getMessage() for r in caplog.records if "socket_cap" in r.getMessage()]
    assert len(refused) == 2
    assert refused[0].endswith("2 open, near the file-descriptor limit")


def test_a_socket_made_into_a_connection_moves_from_pending_to_sockets() -> None:
    stations = stations_with_room(10)
    gate = AcceptGate(stations)
    with listening(gate) as server:
        client = socket.create_connection(server.getsockname())
        try:
            kept, _ = server.accept()
            assert gate.held() == 1

            class Transport:
                def get_extra_info(self, name: str) -> object:
                    return kept if name == "socket" else None

            stations.sockets += 1  # what a backend's connection_made counts
            gate.made(Transport())
            assert gate.held() == 1  # counted once, in sockets
            kept.close()
        finally:
            client.close()


def test_a_socket_the_loop_closed_before_its_connection_was_made_is_no_longer_held() -> None:
    gate = AcceptGate(stations_with_room(10))
    with listening(gate) as server:
        client = socket.create_connection(server.getsockname())
        try:
            kept, _ = server.accept()
            assert gate.held() == 1
            kept.close()  # as asyncio does when making the transport failed
            assert gate.held() == 0
        finally:
            client.close()


def test_at_the_budget_a_socket_the_loop_closed_unmade_makes_room_again() -> None:
    gate = AcceptGate(stations_with_room(1))
    with listening(gate) as server:
        clients = [socket.create_connection(server.getsockname()) for _ in range(2)]
        try:
            first, _ = server.accept()
            first.close()  # never made: the budget's one socket is free again
            second, _ = server.accept()  # kept, not closed as over the budget
            assert second.fileno() != -1
            assert gate.held() == 1
            second.close()
        finally:
            for client in clients:
                client.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_host_is_listened_on_at_each_of_its_addresses(backend: str) -> None:
    """On asyncio's loop the server binds its sockets itself: every address of the host (all
    interfaces for ``""``: IPv4 and IPv6, the latter IPv6 only), as asyncio's own does."""

    async def session() -> tuple[set[int], set[int]]:
        server = await serve(MyTestChargeSystem(), "", 0, backend=backend)
        try:
            families = {sock.family for sock in server.listening()}
            v6only = {
                sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
                for sock in server.listening()
                if sock.family == socket.AF_INET6
            }
            return families, v6only
        finally:
            await server.close(timeout=1)

    families, v6only = asyncio.run(session())
    expected = {family for family, *_ in socket.getaddrinfo(None, 0, flags=socket.AI_PASSIVE)}
    assert families == expected
    assert v6only <= {1}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_port_taken_is_said_with_its_errno(backend: str) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)

    async def session() -> None:
        await serve(MyTestChargeSystem(), "127.0.0.1", taken.getsockname()[1], backend=backend)

    try:
        with pytest.raises(OSError) as raised:
            asyncio.run(session())
    finally:
        taken.close()
    assert raised.value.errno == errno.EADDRINUSE
    assert "127.0.0.1" in str(raised.value)
