# pyright: strict
"""Every public way to call the peer returns the response Struct of the request's action.

Checked by mypy --strict (``make typecheck``) and pyright strict (tests/test_typing.py);
never run. A sample of each version's actions, in both directions.
"""

from __future__ import annotations

import datetime
from typing import assert_type

from ocpp_fast import Request, ResponseT, SendRequest, v16, v21, v201
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.cluster import ClusterClient, decode_event
from ocpp_fast.cluster.client import RoutedPeer
from ocpp_fast.dispatch import CallContext, PeerConnection
from ocpp_fast.stations import StationCaller
from ocpp_fast.transport import CsmsServer, StationClient

NOW = datetime.datetime.now(datetime.UTC)


async def csms_calls(server: CsmsServer, cluster: ClusterClient, peer: RoutedPeer) -> None:
    """What a CSMS sends: to a connection, through the cluster, or from a worker's handler."""
    connection = server.connections["CS001"]
    reset = v201.messages.ResetRequest(type=v201.enums.ResetEnumType.IMMEDIATE)
    assert_type(await connection.call(reset), v201.messages.ResetResponse)
    assert_type(await cluster.call("CS001", reset), v201.messages.ResetResponse)
    assert_type(await server.call("CS001", reset), v201.messages.ResetResponse)
    caller: StationCaller = server if NOW.year else cluster
    assert_type(await caller.call("CS001", reset, timeout=5), v201.messages.ResetResponse)
    assert_type(await peer.call(reset, timeout=5), v201.messages.ResetResponse)
    variables = v201.messages.GetVariablesRequest(get_variable_data=[])
    assert_type(await connection.call(variables), v201.messages.GetVariablesResponse)
    unlock = v16.messages.UnlockConnectorRequest(connector_id=1)
    assert_type(await connection.call(unlock), v16.messages.UnlockConnectorResponse)
    assert_type(await cluster.call("CS16", unlock), v16.messages.UnlockConnectorResponse)
    remote = v16.messages.RemoteStartTransactionRequest(id_tag="TAG")
    assert_type(await connection.call(remote), v16.messages.RemoteStartTransactionResponse)
    clear = v21.messages.ClearCacheRequest()
    assert_type(await connection.call(clear), v21.messages.ClearCacheResponse)
    assert_type(await cluster.call("CS21", clear), v21.messages.ClearCacheResponse)


def handler_connections(connection: AsyncConnection, peer: RoutedPeer) -> list[PeerConnection]:
    """What ``context.connection`` may be: a live connection, or a worker's stand-in."""
    return [connection, peer]


async def station_calls(client: StationClient, connection: AsyncConnection) -> None:
    """What a station sends: through its client (with its queue), or on a connection."""
    boot = v201.messages.BootNotificationRequest(
        reason=v201.enums.BootReasonEnumType.POWER_UP,
        charging_station=v201.datatypes.ChargingStationType(model="M", vendor_name="V"),
    )
    assert_type(await client.call(boot), v201.messages.BootNotificationResponse)
    assert_type(await connection.call(boot, 5), v201.messages.BootNotificationResponse)
    heartbeat = v16.messages.HeartbeatRequest()
    assert_type(await client.call(heartbeat), v16.messages.HeartbeatResponse)
    status = v21.messages.StatusNotificationRequest(
        timestamp=NOW,
        connector_status=v21.enums.ConnectorStatusEnumType.AVAILABLE,
        evse_id=1,
        connector_id=1,
    )
    assert_type(await connection.call(status), v21.messages.StatusNotificationResponse)
    data = v201.messages.DataTransferRequest(vendor_id="V")  # both sides send it
    assert_type(await client.call(data), v201.messages.DataTransferResponse)


async def station_sends(client: StationClient, connection: AsyncConnection) -> None:
    """2.1's SEND frames: typed as calls are, taking a SEND-only request, answering nothing."""
    stream = v21.messages.NotifyPeriodicEventStreamRequest(
        data=[v21.datatypes.StreamDataElementType(t=0.5, v="230.1")], id=1, pending=0, basetime=NOW
    )
    assert_type(await client.send(stream), None)
    assert_type(await client.send(stream, timeout=5), None)
    assert_type(await connection.send(stream), None)


async def send_any(connection: PeerConnection, request: SendRequest) -> None:
    """A function of the user's own that passes any SEND on."""
    await connection.send(request)


async def from_a_handler(
    request: v201.messages.BootNotificationRequest, context: CallContext
) -> None:
    """A handler calls back through its context's connection."""
    if context.connection is not None:
        answer = await context.connection.call(
            v201.messages.GetBaseReportRequest(
                request_id=1, report_base=v201.enums.ReportBaseEnumType.FULL_INVENTORY
            )
        )
        assert_type(answer, v201.messages.GetBaseReportResponse)


async def from_a_handler_on_a_connection(
    request: v201.messages.BootNotificationRequest, context: CallContext
) -> None:
    """A handler that always runs on a connection calls back with no ``None`` to check."""
    peer: PeerConnection = context.peer
    answer = await peer.call(v201.messages.ClearCacheRequest())
    assert_type(answer, v201.messages.ClearCacheResponse)
    reset = await context.peer.call(
        v201.messages.ResetRequest(type=v201.enums.ResetEnumType.ON_IDLE), timeout=5
    )
    assert_type(reset, v201.messages.ResetResponse)
    print(context.peer.identity, context.peer.version.label)


async def relay(connection: AsyncConnection, request: Request[ResponseT]) -> ResponseT:
    """A function of the user's own that passes any request on keeps its type."""
    return await connection.call(request, timeout=10)


async def through_relay(connection: AsyncConnection) -> None:
    answer = await relay(connection, v201.messages.ClearCacheRequest())
    assert_type(answer, v201.messages.ClearCacheResponse)


Either = v201.messages.ResetRequest | v201.messages.ClearCacheRequest
EitherAnswer = v201.messages.ResetResponse | v201.messages.ClearCacheResponse


async def a_union_of_requests(connection: AsyncConnection, request: Either) -> EitherAnswer:
    """A union of requests: mypy infers their responses' common base (``OcppStruct``), pyright
    their union; the two patterns of docs/reference/typing.md give the union to both."""
    answer: EitherAnswer = await connection.call(request)  # the union, checked
    assert_type(answer, EitherAnswer)
    relayed: EitherAnswer = await relay(connection, request)
    if isinstance(request, v201.messages.ResetRequest):  # or narrow: each call exact
        assert_type(await connection.call(request), v201.messages.ResetResponse)
    else:
        assert_type(await connection.call(request), v201.messages.ClearCacheResponse)
    return relayed


def a_stored_event(data: bytes) -> int:
    """A backend reading the cluster's events stream names the request class it expects."""
    event = decode_event(data)
    request = event.request(v201.messages.TransactionEventRequest)
    assert_type(request, v201.messages.TransactionEventRequest)
    return request.seq_no
