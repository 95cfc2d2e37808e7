# pyright: strict
"""Calls whose result is used as another action's response, or that call with what is no
request: each must fail as the comment above it says
(``# expect: mypy[code,...] pyright[rule,...]``)."""

from __future__ import annotations

import datetime

from ocpp_fast import v16, v21, v201
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.cluster import ClusterClient, decode_event
from ocpp_fast.protocol import Protocol
from ocpp_fast.transport import StationClient

RESET = v201.messages.ResetRequest(type=v201.enums.ResetEnumType.IMMEDIATE)
NOW = datetime.datetime.now(datetime.UTC)
START = v16.messages.RemoteStartTransactionRequest(id_tag="T")


async def wrong(conn: AsyncConnection, cluster: ClusterClient, client: StationClient) -> None:
    # expect: mypy[arg-type] pyright[reportAssignmentType]
    a: v201.messages.ResetResponse = await conn.call(START)
    # expect: mypy[arg-type] pyright[reportAssignmentType]
    b: v16.messages.ResetResponse = await cluster.call("CS", RESET)
    # expect: mypy[arg-type] pyright[reportAssignmentType]
    c: v201.messages.HeartbeatResponse = await client.call(v21.messages.HeartbeatRequest())
    answer = v201.messages.ResetResponse(status=v201.enums.ResetStatusEnumType.ACCEPTED)
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await conn.call(answer)
    stream = v21.messages.NotifyPeriodicEventStreamRequest(id=1, pending=0, basetime=NOW, data=[])
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await conn.call(stream)
    print(a, b, c)


async def wrong_sends(conn: AsyncConnection, client: StationClient, protocol: Protocol) -> None:
    """A SEND frame carries only a SEND-only request (2.1's NotifyPeriodicEventStream): one that
    is answered goes by call(), and a response is no request at all."""
    heartbeat = v21.messages.HeartbeatRequest()
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await client.send(heartbeat)
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await conn.send(RESET)
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await client.send(v21.messages.HeartbeatResponse(current_time=NOW), timeout=5)
    # expect: mypy[arg-type] pyright[reportArgumentType]
    protocol.send(heartbeat)


def sans_io(protocol: Protocol) -> None:
    """The sans-I/O protocol returns a message id, but takes only requests that are answered."""
    protocol.call(RESET)
    answer = v201.messages.ResetResponse(status=v201.enums.ResetStatusEnumType.ACCEPTED)
    # expect: mypy[arg-type] pyright[reportArgumentType]
    protocol.call(answer)


def stored_event(data: bytes) -> v16.messages.StartTransactionRequest:
    """An event's request names a class that is no request, or is read as another."""
    event = decode_event(data)
    # expect: mypy[type-var] pyright[reportArgumentType]
    event.request(int)
    # expect: mypy[assignment] pyright[reportAssignmentType]
    started: v16.messages.StartTransactionRequest = event.request(
        v201.messages.TransactionEventRequest
    )
    return started
