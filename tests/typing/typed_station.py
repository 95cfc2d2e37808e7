# pyright: strict
"""The station side: the transaction queue is typed (``put()`` gives a ``Queued`` of the
request's response, awaiting it gives that response, with no ``None`` to rule out), a
``StationClient`` takes one ``Charger``, and a refusal's status is an ``int | None``.

Checked by mypy --strict (``make typecheck``) and pyright strict (tests/test_typing.py);
never run.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import assert_type

from ocpp_fast import CallContext, v16, v21, v201
from ocpp_fast.aio import AsyncConnection, InMemoryPair, connect_in_memory
from ocpp_fast.dispatch import OcppHandler
from ocpp_fast.errors import HandshakeFailed
from ocpp_fast.transport import HandshakeFailed as FromTheTransport
from ocpp_fast.transport import Queued, StationClient, connect

NOW = datetime.datetime.now(datetime.UTC)


def event201(kind: v201.enums.TransactionEventEnumType) -> v201.messages.TransactionEventRequest:
    return v201.messages.TransactionEventRequest(
        event_type=kind,
        timestamp=NOW,
        trigger_reason=v201.enums.TriggerReasonEnumType.METER_VALUE_PERIODIC,
        seq_no=0,
        transaction_info=v201.datatypes.TransactionType(transaction_id="T-1"),
    )


async def queue_201(client: StationClient) -> None:
    """A 2.0.1 TransactionEvent: put, then (perhaps much later) its response."""
    queued = client.put(event201(v201.enums.TransactionEventEnumType.UPDATED))
    assert_type(queued, Queued[v201.messages.TransactionEventResponse])
    assert_type(await queued, v201.messages.TransactionEventResponse)
    offline = [client.put(event201(v201.enums.TransactionEventEnumType.UPDATED)) for _ in "ab"]
    answers = await asyncio.gather(*offline)  # the how-to's line, with no assert per put()
    assert_type(answers, list[v201.messages.TransactionEventResponse])


async def queue_21(client: StationClient) -> None:
    event = v21.messages.TransactionEventRequest(
        event_type=v21.enums.TransactionEventEnumType.ENDED,
        timestamp=NOW,
        trigger_reason=v21.enums.TriggerReasonEnumType.EV_DEPARTED,
        seq_no=0,
        transaction_info=v21.datatypes.TransactionType(transaction_id="T-2"),
    )
    assert_type(await client.put(event), v21.messages.TransactionEventResponse)


async def queue_16(client: StationClient) -> None:
    """1.6: the placeholder transaction id at once, the CSMS's in the awaited response."""
    start = client.put(
        v16.messages.StartTransactionRequest(
            connector_id=1, id_tag="TAG", meter_start=0, timestamp=NOW
        )
    )
    placeholder: int = start.transaction_id
    meter = client.put(
        v16.messages.MeterValuesRequest(connector_id=1, transaction_id=placeholder, meter_value=[])
    )
    stop = client.put(
        v16.messages.StopTransactionRequest(
            meter_stop=10, timestamp=NOW, transaction_id=placeholder
        )
    )
    assert_type((await start).transaction_id, int)
    assert_type(await meter, v16.messages.MeterValuesResponse)
    assert_type(await stop, v16.messages.StopTransactionResponse)


class Firmware(v16.Charger):
    """The station's lifecycle hooks, plain or async."""

    async def on_connect(self, connection: AsyncConnection) -> None:
        await connection.call(v16.messages.HeartbeatRequest())

    def on_disconnect(self, connection: AsyncConnection, reason: str) -> None:
        print(connection.identity, reason)


async def build(url: str, failed: HandshakeFailed) -> None:
    """One Charger, as ``connect()`` takes it; the refusal's facts typed."""
    client = StationClient(Firmware(), url, queue=":memory:", heartbeat=300)
    assert_type(client.heartbeat_interval, float | None)
    assert_type(failed.status, int | None)
    assert_type(failed.no_common_version, bool)
    same: type[HandshakeFailed] = FromTheTransport
    print(same)
    pair = connect_in_memory(Firmware(), v16.ChargeSystem())
    assert_type(pair, InMemoryPair)
    station, csms = pair  # still a pair of connections
    assert_type(station, AsyncConnection)
    assert_type(csms, AsyncConnection)
    await pair.close()


async def boot_answer(client: StationClient) -> None:
    """The boot's answer is the BootNotificationResponse of the connection's version, not
    ``Any``: its common fields are typed, and a 2.x field needs the version narrowed."""
    accepted = await client.booted()
    assert_type(accepted.interval, int)
    if isinstance(accepted, v201.messages.BootNotificationResponse):
        print(accepted.status_info)
    last = client.boot_response
    if last is not None:
        print(last.status == "Pending", last.current_time.isoformat())


BOOT16 = v16.messages.BootNotificationRequest(charge_point_model="M", charge_point_vendor="V")
BOOT201 = v201.messages.BootNotificationRequest(
    reason=v201.enums.BootReasonEnumType.POWER_UP,
    charging_station=v201.datatypes.ChargingStationType(model="M", vendor_name="V"),
)


async def boot_of_one_version(url: str) -> None:
    """A client built with one version's boot is typed by it: its ``booted()`` and
    ``boot_response`` are that version's response, with no ``isinstance`` to narrow them."""
    station = await connect(v201.Charger(), url, boot=BOOT201)
    assert_type(station, StationClient[v201.messages.BootNotificationResponse])
    accepted = await station.booted()
    assert_type(accepted, v201.messages.BootNotificationResponse)
    print(accepted.status_info)  # a 2.x field, no narrowing
    assert_type(station.boot_response, v201.messages.BootNotificationResponse | None)
    station16 = StationClient(v16.Charger(), url, boot=BOOT16)
    assert_type(await station16.booted(), v16.messages.BootNotificationResponse)
    # the parameter written out, as a function taking a 2.0.1 station says it
    typed: StationClient[v201.messages.BootNotificationResponse] = station
    print(typed.identity)


async def boot_of_several_versions(url: str) -> None:
    """A client of several versions, or of a mapping, keeps the union, as before the
    parameter."""
    both = StationClient(
        {"2.0.1": v201.Charger(), "1.6": v16.Charger()}, url, boot=[BOOT201, BOOT16]
    )
    assert_type(
        await both.booted(),
        v16.messages.BootNotificationResponse
        | v201.messages.BootNotificationResponse
        | v21.messages.BootNotificationResponse,
    )
    plain = await connect({"ocpp1.6": Firmware()}, url)
    assert_type(plain, StationClient)


def of_a_handler_of_no_version(handler: OcppHandler, url: str) -> None:
    """A value whose type says no version (annotated ``OcppHandler``) is taken as before."""
    assert_type(StationClient(handler, url), StationClient)


async def version_of_the_charger(url: str) -> None:
    """Without ``boot=`` the Charger's version types the client (a subclass's too), so a
    function taking a 2.0.1 station takes it, and adding ``boot=`` later changes no type."""
    station = await connect(v201.Charger(), url)
    assert_type(station, StationClient[v201.messages.BootNotificationResponse])
    assert_type(station.boot_response, v201.messages.BootNotificationResponse | None)
    assert_type(
        StationClient(Firmware(), url), StationClient[v16.messages.BootNotificationResponse]
    )
    assert_type(
        await connect(v21.Charger(), url), StationClient[v21.messages.BootNotificationResponse]
    )
    print(takes_a_201_station(station))


def boot_interval_16(station: StationClient[v16.messages.BootNotificationResponse]) -> int:
    """A helper typed for a 1.6 station's client."""
    answer = station.boot_response
    return 300 if answer is None else answer.interval


class Reconfigured(v16.Charger):
    """A handler reaches its client typed by its own version: ``StationClient.of(context)`` is
    any version's (a connection's type says none), which such a helper does not take."""

    def change_configuration(
        self, request: v16.messages.ChangeConfigurationRequest, context: CallContext
    ) -> v16.messages.ChangeConfigurationResponse:
        client = StationClient.of(context, v16.Charger)
        assert_type(client, StationClient[v16.messages.BootNotificationResponse])
        assert_type(
            StationClient.of(context, type(self)),
            StationClient[v16.messages.BootNotificationResponse],
        )
        assert_type(StationClient.of(context), StationClient)
        client.heartbeat_interval = boot_interval_16(client)
        return v16.messages.ChangeConfigurationResponse(
            status=v16.enums.ChangeConfigurationResponseStatusEnum.ACCEPTED
        )


def takes_a_201_station(station: StationClient[v201.messages.BootNotificationResponse]) -> str:
    return station.identity


def identity_of(client: StationClient) -> str:
    """Code written before the parameter: a bare ``StationClient`` takes every version's."""
    return client.identity


async def older_code_takes_a_typed_client(url: str) -> None:
    print(identity_of(await connect(v201.Charger(), url, boot=BOOT201)))
    print(identity_of(StationClient(v16.Charger(), url, boot=BOOT16)))


async def boots_by_version(url: str, handler: OcppHandler) -> None:
    """Each version's Charger takes its own version's boot, alone or in a list; a handler of no
    one version takes a boot of any version, and is typed by it (a mismatch is in
    tests/typing/rejected/wrong_boot.py)."""
    assert_type(
        await connect(v16.Charger(), url, boot=[BOOT16], heartbeat=300),
        StationClient[v16.messages.BootNotificationResponse],
    )
    assert_type(
        StationClient(v201.Charger(), url, boot=[BOOT201], rng=None),
        StationClient[v201.messages.BootNotificationResponse],
    )
    assert_type(
        await connect(handler, url, boot=BOOT16),
        StationClient[v16.messages.BootNotificationResponse],
    )
    assert_type(StationClient(handler, url, boot=[BOOT16, BOOT201]), StationClient)
