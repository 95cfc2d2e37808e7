# pyright: strict
"""A call site whose side is known takes that side's requests and still returns the
response: ``CsmsServer.call`` / ``ClusterClient.call`` (and ``StationCaller``) a
``SentByCsms``, a ``StationClient``'s ``call`` / ``put`` (``connect()``'s too) a
``SentByStation``; an action both sides send (DataTransfer) goes through either. Every
version.

Checked by mypy --strict (``make typecheck``) and pyright strict (tests/test_typing.py);
never run.
"""

from __future__ import annotations

import datetime
from typing import assert_type

from ocpp_fast import ResponseT, SentByCsms, SentByStation, v16, v21, v201
from ocpp_fast.cluster import ClusterClient
from ocpp_fast.stations import StationCaller
from ocpp_fast.transport import CsmsServer, StationClient, connect

NOW = datetime.datetime.now(datetime.UTC)


async def csms_16(server: CsmsServer, cluster: ClusterClient, caller: StationCaller) -> None:
    change = v16.messages.ChangeAvailabilityRequest(
        connector_id=0, type=v16.enums.ChangeAvailabilityRequestTypeEnum.INOPERATIVE
    )
    assert_type(await server.call("CS", change), v16.messages.ChangeAvailabilityResponse)
    assert_type(await cluster.call("CS", change), v16.messages.ChangeAvailabilityResponse)
    assert_type(await caller.call("CS", change), v16.messages.ChangeAvailabilityResponse)
    data = v16.messages.DataTransferRequest(vendor_id="V")
    assert_type(await server.call("CS", data), v16.messages.DataTransferResponse)
    assert_type(await cluster.call("CS", data, timeout=5), v16.messages.DataTransferResponse)


async def csms_201(server: CsmsServer, cluster: ClusterClient, caller: StationCaller) -> None:
    clear = v201.messages.ClearCacheRequest()
    assert_type(await server.call("CS", clear), v201.messages.ClearCacheResponse)
    assert_type(await cluster.call("CS", clear), v201.messages.ClearCacheResponse)
    assert_type(await caller.call("CS", clear, timeout=5), v201.messages.ClearCacheResponse)
    data = v201.messages.DataTransferRequest(vendor_id="V")
    assert_type(await server.call("CS", data), v201.messages.DataTransferResponse)
    assert_type(await cluster.call("CS", data), v201.messages.DataTransferResponse)


async def csms_21(server: CsmsServer, cluster: ClusterClient, caller: StationCaller) -> None:
    reset = v21.messages.ResetRequest(type=v21.enums.ResetEnumType.ON_IDLE)
    assert_type(await server.call("CS", reset), v21.messages.ResetResponse)
    assert_type(await cluster.call("CS", reset), v21.messages.ResetResponse)
    assert_type(await caller.call("CS", reset), v21.messages.ResetResponse)
    data = v21.messages.DataTransferRequest(vendor_id="V")
    assert_type(await server.call("CS", data), v21.messages.DataTransferResponse)
    assert_type(await cluster.call("CS", data), v21.messages.DataTransferResponse)


async def station_16(client: StationClient) -> None:
    heartbeat = v16.messages.HeartbeatRequest()
    assert_type(await client.call(heartbeat), v16.messages.HeartbeatResponse)
    data = v16.messages.DataTransferRequest(vendor_id="V")
    assert_type(await client.call(data, timeout=5), v16.messages.DataTransferResponse)
    stop = v16.messages.StopTransactionRequest(meter_stop=0, timestamp=NOW, transaction_id=1)
    assert_type(await client.put(stop), v16.messages.StopTransactionResponse)


async def station_201(charger: v201.Charger, event: v201.messages.TransactionEventRequest) -> None:
    """``connect()`` with a Charger: its client takes the station's requests."""
    client = await connect(charger, "ws://127.0.0.1:9000/CS")
    heartbeat = v201.messages.HeartbeatRequest()
    assert_type(await client.call(heartbeat), v201.messages.HeartbeatResponse)
    data = v201.messages.DataTransferRequest(vendor_id="V")
    assert_type(await client.call(data), v201.messages.DataTransferResponse)
    assert_type(await client.put(event), v201.messages.TransactionEventResponse)


async def station_21(client: StationClient) -> None:
    heartbeat = v21.messages.HeartbeatRequest()
    assert_type(await client.call(heartbeat), v21.messages.HeartbeatResponse)
    data = v21.messages.DataTransferRequest(vendor_id="V")
    assert_type(await client.call(data), v21.messages.DataTransferResponse)


async def to_a_station(server: CsmsServer, request: SentByCsms[ResponseT]) -> ResponseT:
    """A function of the user's own, CSMS side only, keeps the response type."""
    return await server.call("CS", request)


async def to_the_csms(client: StationClient, request: SentByStation[ResponseT]) -> ResponseT:
    """Its station-side twin."""
    return await client.call(request)


async def through_own_functions(server: CsmsServer, client: StationClient) -> None:
    data = v201.messages.DataTransferRequest(vendor_id="V")  # both sides': either function
    assert_type(await to_a_station(server, data), v201.messages.DataTransferResponse)
    assert_type(await to_the_csms(client, data), v201.messages.DataTransferResponse)
    boot = v16.messages.BootNotificationRequest(charge_point_model="M", charge_point_vendor="V")
    assert_type(await to_the_csms(client, boot), v16.messages.BootNotificationResponse)
