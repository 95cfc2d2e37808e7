# pyright: strict
"""A request sent the wrong way: a station's through a CSMS's call site, a CSMS's through a
station's client, in every version. Each must fail as the comment above it says
(``# expect: mypy[code,...] pyright[rule,...]``)."""

from __future__ import annotations

import datetime

from ocpp_fast import ResponseT, SentByCsms, v16, v21, v201
from ocpp_fast.cluster import ClusterClient
from ocpp_fast.stations import StationCaller
from ocpp_fast.transport import CsmsServer, StationClient, connect

NOW = datetime.datetime.now(datetime.UTC)


async def station_requests_from_a_csms(
    server: CsmsServer, cluster: ClusterClient, caller: StationCaller
) -> None:
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await cluster.call("CS", v201.messages.HeartbeatRequest())
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await server.call("CS", v201.messages.HeartbeatRequest())
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await caller.call("CS", v201.messages.HeartbeatRequest())
    boot16 = v16.messages.BootNotificationRequest(charge_point_model="M", charge_point_vendor="V")
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await server.call("CS", boot16)
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await cluster.call("CS", boot16)
    status21 = v21.messages.StatusNotificationRequest(
        timestamp=NOW,
        connector_status=v21.enums.ConnectorStatusEnumType.AVAILABLE,
        evse_id=1,
        connector_id=1,
    )
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await server.call("CS", status21)
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await cluster.call("CS", status21)


async def csms_requests_from_a_station(client: StationClient, charger: v201.Charger) -> None:
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await client.call(v16.messages.RemoteStartTransactionRequest(id_tag="T"))
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await client.call(v201.messages.ClearCacheRequest())
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await client.call(v21.messages.ResetRequest(type=v21.enums.ResetEnumType.ON_IDLE))
    connected = await connect(charger, "ws://127.0.0.1:9000/CS")
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await connected.call(v201.messages.ClearCacheRequest())
    # expect: mypy[call-overload] pyright[reportCallIssue, reportArgumentType]
    client.put(v16.messages.RemoteStopTransactionRequest(transaction_id=1))
    # expect: mypy[call-overload] pyright[reportCallIssue, reportArgumentType]
    client.put(v201.messages.RequestStopTransactionRequest(transaction_id="T"))
    # expect: mypy[call-overload] pyright[reportCallIssue, reportArgumentType]
    client.put(v21.messages.RequestStopTransactionRequest(transaction_id="T"))


async def to_a_station(server: CsmsServer, request: SentByCsms[ResponseT]) -> ResponseT:
    return await server.call("CS", request)


async def through_own_function(server: CsmsServer) -> None:
    """A function of the user's own typed ``SentByCsms`` refuses a station's request too."""
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await to_a_station(server, v16.messages.HeartbeatRequest())
