# pyright: strict
"""Lifecycle hooks with their real types: a version's ``ChargeSystem`` declares ``on_connect`` /
``on_disconnect`` with the station's ``AsyncConnection`` and ``on_startup`` / ``on_shutdown``
with the running ``CsmsServer``, so what a hook reads of them is checked (no ``Any``)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import assert_type

from ocpp_fast import v16, v201
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.transport import CsmsServer, serve_in_memory
from ocpp_fast.transport.server import ListeningSocket
from ocpp_fast.v201 import enums, messages


class Csms(v201.ChargeSystem):
    async def on_startup(self, server: CsmsServer) -> None:
        port: int = server.port
        print(port, sorted(server.connections))
        sockets = server.listening()  # the backend's sockets, not Any
        assert_type(sockets, Sequence[ListeningSocket])
        print([sock.family for sock in sockets])

    def on_shutdown(self, server: CsmsServer) -> None:
        print(len(server.connections))

    async def on_connect(self, connection: AsyncConnection) -> None:
        since: datetime.datetime = connection.connected_since
        identity: str = connection.identity
        reset = messages.ResetRequest(type=enums.ResetEnumType.ON_IDLE)
        answer: messages.ResetResponse = await connection.call(reset)
        print(since, identity, answer.status)

    def on_disconnect(self, connection: AsyncConnection, reason: str) -> None:
        print(connection.identity, reason)


class Csms16(v16.ChargeSystem):
    """The same declarations in every version."""

    async def on_connect(self, connection: AsyncConnection) -> None:
        print(connection.version.label)


async def from_startup(server: CsmsServer) -> None:
    """What ``on_startup`` may keep: the server, to call stations later."""
    reset = messages.ResetRequest(type=enums.ResetEnumType.IMMEDIATE)
    answer: messages.ResetResponse = await server.call("CS001", reset)
    print(answer.status)


async def tested_in_memory() -> None:
    """A test hands the same code the in-memory server: it is a ``CsmsServer`` too."""
    server = await serve_in_memory(Csms())
    await from_startup(server)
    await server.close()
