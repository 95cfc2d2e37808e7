"""Raw WebSocket stations for the cluster tests whose frames' exact bytes matter, and a
gateway served for the length of a block."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from ocpp_fast.cluster import ClusterConfig, Gateway
from ocpp_fast.transport import CsmsServer, serve
from ocpp_fast.v201 import ChargeSystem

__all__ = ["EVENT", "call", "serving", "station"]

EVENT = (
    b'{ "eventType" : "Updated","timestamp":"2026-11-30T12:00:00.000Z",'
    b'"triggerReason":"MeterValuePeriodic", "seqNo":%d,'
    b'"transactionInfo":{"transactionId":"T-%d"}  }'
)
"""A TransactionEvent payload with spaces and a key order msgspec would not write."""


@contextlib.asynccontextmanager
async def serving(
    cluster: ClusterConfig, handler: ChargeSystem, **options: Any
) -> AsyncIterator[tuple[Gateway, CsmsServer]]:
    """``handler`` served through a gateway of ``cluster`` (``options``: the gateway's); both
    closed on the way out."""
    gateway = Gateway(cluster, **options)
    server = await serve(handler, cluster=gateway)
    try:
        yield gateway, server
    finally:
        await server.close()
        await gateway.close()


async def station(port: int, identity: str) -> ClientConnection:
    return await ws_connect(
        f"ws://127.0.0.1:{port}/ocpp/{identity}", subprotocols=[Subprotocol("ocpp2.0.1")]
    )


async def call(ws: ClientConnection, message_id: str, action: str, payload: bytes) -> list[Any]:
    """Send ``[2,id,action,payload]`` as these bytes; the reply frame, decoded."""
    frame = b'[2, "%s", "%s",  %s ]' % (message_id.encode(), action.encode(), payload)
    await ws.send(frame.decode())  # a text frame, as OCPP-J wants
    reply: list[Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return reply
