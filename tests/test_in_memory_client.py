"""A station's own ``StationClient`` against a CSMS in the same event loop, with no socket
(``serve_in_memory`` and ``connect(..., via=server)``): its boot, queue, heartbeats and
reconnects as in production, an outage made on purpose (``disconnect``, ``reachable``), the
refusals a socket gives, and ``StationClient.of`` from a handler."""

from __future__ import annotations

import asyncio
import datetime
import logging
import typing
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest

from ocpp_fast import CallContext, dispatch, v16, v201
from ocpp_fast.aio import AsyncConnection, MemoryWire, connect_in_memory
from ocpp_fast.errors import (
    NotSupportedError,
    StartupFailed,
    StationNotConnected,
    TooBigForCsms,
)
from ocpp_fast.transport import (
    Admission,
    Backoff,
    CsmsServer,
    HandshakeFailed,
    InMemoryServer,
    StationClient,
    StationRequest,
    connect,
    serve_in_memory,
)
from ocpp_fast.transport.limits import REPLACED_CLOSE_CODE
from ocpp_fast.v201 import datatypes, enums, messages

URL = "ws://csms.test/ocpp/CS001"
FAST = Backoff(minimum=0.01, random_range=0.0)
NOW = datetime.datetime(2026, 12, 3, tzinfo=datetime.UTC)
BOOT = messages.BootNotificationRequest(
    reason=enums.BootReasonEnumType.POWER_UP,
    charging_station=datatypes.ChargingStationType(model="M", vendor_name="V"),
)
TOKEN = datatypes.IdTokenType(id_token="04A1", type=enums.IdTokenEnumType.ISO14443)


def run(coro: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(coro(), 30))


def started(seq_no: int = 0) -> messages.TransactionEventRequest:
    return messages.TransactionEventRequest(
        event_type=enums.TransactionEventEnumType.STARTED,
        timestamp=NOW,
        trigger_reason=enums.TriggerReasonEnumType.AUTHORIZED,
        seq_no=seq_no,
        transaction_info=datatypes.TransactionType(transaction_id="T-1"),
    )


class Csms(v201.ChargeSystem):
    """Accepts each boot (``interval`` 1 s) and records what came, in order."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.left: list[str] = []

    def boot_notification(
        self, request: messages.BootNotificationRequest
    ) -> messages.BootNotificationResponse:
        self.seen.append("boot")
        return messages.BootNotificationResponse(
            current_time=NOW, interval=1, status=enums.RegistrationStatusEnumType.ACCEPTED
        )

    def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        self.seen.append("heartbeat")
        return messages.HeartbeatResponse(current_time=NOW)

    def transaction_event(
        self, request: messages.TransactionEventRequest
    ) -> messages.TransactionEventResponse:
        self.seen.append(f"{request.event_type.value} {request.seq_no}")
        return messages.TransactionEventResponse()

    def on_disconnect(self, connection: AsyncConnection, reason: str) -> None:
        self.left.append(reason)


class Firmware(v201.Charger):
    """Queues its TransactionEvent from the remote start's handler, through its client."""

    def __init__(self) -> None:
        self.left: list[str] = []
        self.clients: list[StationClient] = []

    def request_start_transaction(
        self, request: messages.RequestStartTransactionRequest, context: CallContext
    ) -> messages.RequestStartTransactionResponse:
        client = StationClient.of(context)
        self.clients.append(client)
        client.put(started())
        return messages.RequestStartTransactionResponse(
            status=enums.RequestStartStopStatusEnumType.ACCEPTED, transaction_id="T-1"
        )

    def on_disconnect(self, connection: AsyncConnection, reason: str) -> None:
        self.left.append(reason)


async def until(condition: Callable[[], bool], seconds: float = 5) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within the time")


def test_boot_heartbeat_and_calls_both_ways_with_no_socket() -> None:
    async def scenario() -> None:
        csms = Csms()
        server = await serve_in_memory(csms)
        station = await connect(Firmware(), URL, boot=BOOT, heartbeat=300, via=server)
        assert station.backend == "memory" and not station.compressed
        accepted = await station.booted(timeout=5)
        assert accepted.interval == 1 and station.heartbeat_interval == 1.0
        assert set(await server.stations()) == {"CS001"}
        with pytest.raises(NotSupportedError):  # the station's CALLERROR, carried back
            await server.call(
                "CS001", messages.ResetRequest(type=enums.ResetEnumType.IMMEDIATE), timeout=5
            )
        await until(lambda: "heartbeat" in csms.seen)
        await station.close()
        await server.close()
        assert csms.seen[:2] == ["boot", "heartbeat"]
        assert csms.left == ["closed by the station (1000)"]

    run(scenario)


def test_the_queue_is_kept_across_an_outage_and_delivered_after_the_next_boot() -> None:
    async def scenario() -> None:
        csms = Csms()
        server = await serve_in_memory(csms)
        firmware = Firmware()
        station = await connect(
            firmware, URL, boot=BOOT, queue=":memory:", backoff=FAST, via=server
        )
        await station.booted(timeout=5)
        server.reachable = False
        await server.disconnect("CS001")
        assert station.connection is None
        assert firmware.left == csms.left == ["connection lost"]
        queued = station.put(started())
        await asyncio.sleep(0.1)  # attempts to connect fail meanwhile
        assert station.failed_reconnects > 0 and station.queue is not None
        assert len(station.queue) == 1 and csms.seen == ["boot"]
        server.reachable = True
        await asyncio.wait_for(queued, 5)
        assert csms.seen == ["boot", "boot", "Started 0"]  # booted again before the queue
        assert station.connects == 2
        await station.close()
        await server.close()

    run(scenario)


def test_an_event_put_while_disconnected_is_flagged_offline() -> None:
    """OCPP asks a station to flag the TransactionEvents that happened while the CSMS was
    unreachable (``offline``); the client knows when it was not connected, so a 2.x event put
    then goes with ``offline`` true, unless the firmware set the field itself."""

    class Recorder(Csms):
        def __init__(self) -> None:
            super().__init__()
            self.offline: list[object] = []

        def transaction_event(
            self, request: messages.TransactionEventRequest
        ) -> messages.TransactionEventResponse:
            self.offline.append(request.offline)
            return super().transaction_event(request)

    def updated(offline: bool | None = None) -> messages.TransactionEventRequest:
        event = msgspec.structs.replace(
            started(), event_type=enums.TransactionEventEnumType.UPDATED
        )
        return event if offline is None else msgspec.structs.replace(event, offline=offline)

    async def scenario() -> None:
        csms = Recorder()
        server = await serve_in_memory(csms)
        station = await connect(
            Firmware(), URL, boot=BOOT, queue=":memory:", backoff=FAST, via=server
        )
        await station.booted(timeout=5)
        await station.call(started(), timeout=5)  # connected: left as it was
        server.reachable = False
        await server.disconnect("CS001")
        outage = [station.put(updated()), station.put(updated(offline=False))]
        server.reachable = True
        await asyncio.wait_for(asyncio.gather(*outage), 5)
        await station.call(updated(), timeout=5)  # connected again
        await station.close()
        await server.close()
        assert csms.offline == [msgspec.UNSET, True, False, msgspec.UNSET]

    run(scenario)


def test_a_cancelled_station_is_lost_to_the_csms() -> None:
    """A client cancelled rather than closed drops its connection, as over a socket: the
    in-memory CSMS saw it connected for good."""

    async def scenario() -> None:
        csms = Csms()
        server = await serve_in_memory(csms)
        station = await connect(Firmware(), URL, backoff=FAST, via=server)
        assert "CS001" in server.connections
        runner = station._runner
        assert runner is not None
        runner.cancel()
        await asyncio.wait([runner])
        await until(lambda: csms.left == ["connection lost"])
        assert "CS001" not in server.connections
        await server.close()

    run(scenario)


def test_max_size_holds_both_ways_in_memory() -> None:
    """``max_size`` acts in memory as over a socket: a station's message over the server's
    (``serve_in_memory(max_size=)``) closes its connection with 1009, so a queued message too
    big for the CSMS is dropped with ``TooBigForCsms``; a CSMS's message over the station's
    ``max_size`` (``connect(max_size=)``) is closed 1009 by the station. Both were ignored
    under ``via=``: a test in memory passed where the station failed on a socket."""

    async def scenario() -> None:
        csms = Csms()
        server = await serve_in_memory(csms, max_size=400)
        station = await connect(
            Firmware(), URL, queue=":memory:", backoff=FAST, max_size=300, via=server
        )
        big = msgspec.structs.replace(
            started(),
            id_token=datatypes.IdTokenType(id_token="x" * 36, type=enums.IdTokenEnumType.CENTRAL),
            meter_value=[
                datatypes.MeterValueType(
                    timestamp=NOW, sampled_value=[datatypes.SampledValueType(value=n)]
                )
                for n in range(10)
            ],
        )
        with pytest.raises(TooBigForCsms):
            await asyncio.wait_for(station.put(big), 5)
        assert csms.left == ["closed by the CSMS (1009: a message over 400 bytes)"]
        await asyncio.wait_for(station.put(started()), 5)  # a small one after the reconnect
        data = messages.DataTransferRequest(vendor_id="V", data="x" * 400)
        with pytest.raises(ConnectionError):
            await server.call("CS001", data, timeout=5)
        await until(lambda: len(csms.left) == 2)
        assert csms.left[1] == "closed by the station (1009: a message over 300 bytes)"
        await station.close()
        await server.close()

    run(scenario)


def test_close_cuts_a_handshake_short() -> None:
    """``close()`` while a handshake is in progress cancels it: a CSMS that accepted the
    connection and never answered held ``close()`` for the whole opening timeout (5 to 10 s
    over a socket, by backend; for ever in memory, where none applies). Here the CSMS's
    ``authorize`` never returns."""

    async def scenario() -> None:
        asked = asyncio.Event()

        async def authorize(station: StationRequest) -> Admission:
            asked.set()
            await asyncio.Event().wait()  # never answers
            return Admission.ACCEPT

        server = await serve_in_memory(Csms(), authorize=authorize)
        station = StationClient(Firmware(), URL, backoff=FAST, via=server)
        starting = asyncio.create_task(station.start())
        await asyncio.wait_for(asked.wait(), 5)
        await asyncio.wait_for(station.close(), 10)  # it waited for ever
        await asyncio.wait_for(starting, 10)
        assert station.connection is None and station.connects == 0
        await server.close()

    run(scenario)


def test_a_close_by_the_csms_and_its_shutdown_are_said_as_over_a_socket() -> None:
    async def scenario() -> None:
        csms = Csms()
        server = await serve_in_memory(csms)
        firmware = Firmware()
        station = await connect(firmware, URL, boot=BOOT, backoff=FAST, via=server)
        await station.booted(timeout=5)
        for code in (1005, 1010, 5000):  # what no server sends, as a real server refuses it
            with pytest.raises(ValueError, match="no close code"):
                await server.disconnect("CS001", code)
        with pytest.raises(ValueError, match="123 bytes"):
            await server.disconnect("CS001", 4000, "x" * 124)
        assert firmware.left == []
        await server.disconnect("CS001", 4000, "bye")
        assert firmware.left == csms.left == ["closed by the CSMS (4000: bye)"]
        await station.booted(timeout=5)  # back by itself
        await server.close()
        await until(lambda: len(firmware.left) == 2)
        assert firmware.left[1] == "closed by the CSMS (1001: the CSMS is shutting down)"
        assert csms.left[1] == "the CSMS is shutting down"  # the server's own words
        with pytest.raises(StationNotConnected):
            await server.disconnect("CS001")
        await station.close()

    run(scenario)


def test_a_frame_on_its_way_is_lost_with_the_connection() -> None:
    async def scenario() -> None:
        server = await serve_in_memory(Csms())
        station = await connect(Firmware(), URL, backoff=Backoff(60, 0), via=server)
        call = asyncio.ensure_future(station.call(started()))
        await asyncio.sleep(0)  # written, not delivered yet
        await server.disconnect("CS001")
        with pytest.raises(ConnectionError):
            await call
        await station.close()
        await server.close()

    run(scenario)


def test_refusals_are_those_of_a_socket() -> None:
    def known(station: StationRequest) -> Admission:
        if station.identity != "CS001":
            return Admission.UNKNOWN
        return Admission.ACCEPT if station.password == "secret" else Admission.UNAUTHORIZED

    async def scenario() -> None:
        server = await serve_in_memory(Csms(), authorize=known, require_basic_auth=True)
        with pytest.raises(HandshakeFailed) as unknown:
            await connect(v201.Charger(), "ws://csms.test/ocpp/CS999", password="x", via=server)
        assert unknown.value.status == 404
        with pytest.raises(HandshakeFailed) as no_password:
            await connect(v201.Charger(), URL, via=server)
        assert no_password.value.status == 401
        with pytest.raises(HandshakeFailed) as other_version:
            await connect(v16.Charger(), URL, password="secret", via=server)
        assert other_version.value.no_common_version
        station = await connect(v201.Charger(), URL, password="secret", via=server)
        await station.close()
        await server.close()
        with pytest.raises(ConnectionRefusedError):
            await connect(v201.Charger(), URL, password="secret", via=server)

    run(scenario)


def test_a_newer_connection_replaces_the_older_one() -> None:
    async def scenario() -> None:
        csms = Csms()
        server = await serve_in_memory(csms)
        replaced = Firmware()
        first = await connect(replaced, URL, backoff=Backoff(60, 0), via=server)
        second = await connect(Firmware(), URL, via=server)
        await until(lambda: first.connection is None)
        assert second.connection is not None and set(server.connections) == {"CS001"}
        await first.close()
        await second.close()
        await server.close()
        assert csms.left[0] == "replaced by a newer connection"
        assert replaced.left[0] == f"closed by the CSMS ({REPLACED_CLOSE_CODE}: {csms.left[0]})"

    run(scenario)


def test_a_handler_reaches_its_client() -> None:
    async def scenario() -> None:
        csms = Csms()
        server: InMemoryServer = await serve_in_memory(csms)
        firmware = Firmware()
        station = await connect(firmware, URL, boot=BOOT, queue=":memory:", via=server)
        await station.booted(timeout=5)
        start = messages.RequestStartTransactionRequest(id_token=TOKEN, remote_start_id=1)
        answer = await server.call("CS001", start, timeout=5)
        assert answer.status == enums.RequestStartStopStatusEnumType.ACCEPTED
        assert firmware.clients == [station]
        assert station.connection is not None and StationClient.of(station.connection) is station
        await until(lambda: "Started 0" in csms.seen)
        await station.close()
        await server.close()

    run(scenario)


def test_a_client_typed_by_its_chargers_version_is_of_that_version_alone() -> None:
    """``StationClient.of(context, v201.Charger)`` types the client by that version (the
    typing tests check the type): at run time the claim is checked, so a client that speaks
    another version, or several (its next connection may be of the other one), is refused."""

    async def scenario() -> None:
        server: InMemoryServer = await serve_in_memory(Csms())
        station = await connect(Firmware(), URL, via=server)
        both = await connect(
            {"ocpp2.0.1": v201.Charger(), "ocpp1.6": v16.Charger()},
            "ws://csms.test/ocpp/CS002",
            via=server,
        )
        assert station.connection is not None and both.connection is not None
        assert StationClient.of(station.connection, v201.Charger) is station
        assert StationClient.of(station.connection, Firmware) is station  # a subclass
        with pytest.raises(TypeError, match=r"CS001's client speaks OCPP 2\.0\.1, not OCPP 1\.6"):
            StationClient.of(station.connection, v16.Charger)
        with pytest.raises(TypeError, match=r"1\.6 and 2\.0\.1, not OCPP 2\.0\.1 alone"):
            StationClient.of(both.connection, v201.Charger)
        assert StationClient.of(both.connection) is both  # typed for any version: no claim
        for no_charger in (v201.ChargeSystem, dispatch.Charger):
            with pytest.raises(TypeError, match="not the Charger class of one version"):
                StationClient.of(station.connection, no_charger)
        await both.close()
        await station.close()
        await server.close()

    run(scenario)


def test_a_connection_of_no_client_is_told() -> None:
    async def scenario() -> None:
        pair = connect_in_memory(v201.Charger(), Csms())
        with pytest.raises(LookupError, match="serve_in_memory"):
            StationClient.of(pair.station)
        await pair.close()

    run(scenario)


def test_the_wire_keeps_order_feeds_a_late_end_and_loses_what_travels_when_cut() -> None:
    class Fed:
        def __init__(self) -> None:
            self.frames: list[bytes] = []

        def feed(self, frame: bytes) -> bool:
            self.frames.append(frame)
            return True

    async def scenario() -> None:
        wire = MemoryWire()
        station, csms = Fed(), Fed()
        wire.attach(0, station)  # type: ignore[arg-type]  # all the wire asks of an end
        wire.writer(0)(b"1")
        wire.writer(0)(b"2")
        await asyncio.sleep(0)
        assert csms.frames == []  # the CSMS's end is not there yet: kept for it
        wire.attach(1, csms)  # type: ignore[arg-type]
        assert csms.frames == [b"1", b"2"]
        wire.writer(1)(b"3")
        wire.writer(1)(b"4")
        wire.cut()
        await asyncio.sleep(0)
        assert station.frames == []  # on their way when the wire was cut
        wire.writer(1)(b"5")
        await asyncio.sleep(0)
        assert station.frames == [] and not wire.open

    run(scenario)


def test_the_in_memory_server_is_a_csms_server_without_a_port() -> None:
    """Code of a CSMS typed against ``CsmsServer`` (mypy refused the in-memory server: it was
    a bare ``Stations``, tests/typing/typed_hooks.py) takes it; its missing port says why."""

    async def scenario() -> None:
        server = await serve_in_memory(Csms())
        assert isinstance(server, CsmsServer) and server.listening() == ()
        assert not hasattr(server, "port")
        with pytest.raises(AttributeError, match="no port: its stations connect with via="):
            print(server.port)
        await server.close()

    # typed so: reading it gives no int (it said int, the base class's, and raised)
    port: property = vars(InMemoryServer)["port"]
    assert port.fget is not None and typing.get_type_hints(port.fget)["return"] is typing.Never

    run(scenario)


def test_a_pair_closed_delivers_the_frames_sent_before_it() -> None:
    """A WebSocket's close frame goes behind the frames sent before it: ``pair.close()``
    cut the wire at once, so a CALL the station wrote just before never reached the CSMS.
    Delivered now; its async handler runs to its end (within ``grace``), as a server lets a
    station's handlers finish after it left; its answer, written after the close, is lost."""
    handled: list[str] = []

    class Recording(v201.ChargeSystem):
        async def status_notification(
            self, request: messages.StatusNotificationRequest
        ) -> messages.StatusNotificationResponse:
            await asyncio.sleep(0.01)  # a database write
            handled.append(request.connector_status.value)
            return messages.StatusNotificationResponse()

    async def scenario() -> None:
        pair = connect_in_memory(v201.Charger(), Recording())
        status = messages.StatusNotificationRequest(
            timestamp=NOW,
            connector_status=enums.ConnectorStatusEnumType.AVAILABLE,
            evse_id=1,
            connector_id=1,
        )
        sending = asyncio.ensure_future(pair.station.call(status, timeout=5))
        await asyncio.sleep(0)  # the CALL is written, on its way
        await pair.close()
        assert handled == ["Available"]
        with pytest.raises(ConnectionError):
            await sending  # the answer came after the close

    run(scenario)


class SlowStart(Csms):
    """Its ``on_startup`` starts a station (``via=`` the server it gets) then takes a while to
    make what the handlers need; ``fail``: it cannot."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.pool: str | None = None
        self.station: asyncio.Task[StationClient] | None = None

    async def on_startup(self, server: Any) -> None:
        self.station = asyncio.ensure_future(connect(v201.Charger(), URL, boot=BOOT, via=server))
        await asyncio.sleep(0.2)
        assert not self.station.done()  # its link waits for this hook
        if self.fail:
            raise RuntimeError("the database is unreachable")
        self.pool = "pool"

    def on_connect(self, connection: AsyncConnection) -> None:
        self.seen.append(f"connect with {self.pool}")

    def boot_notification(
        self, request: messages.BootNotificationRequest
    ) -> messages.BootNotificationResponse:
        self.seen.append(f"boot with {self.pool}")
        return super().boot_notification(request)


def test_a_station_connecting_during_on_startup_is_served_once_it_returned() -> None:
    async def scenario() -> None:
        csms = SlowStart()
        server = await serve_in_memory(csms)
        assert csms.station is not None
        station = await csms.station
        await station.booted(5)
        assert csms.seen == ["connect with pool", "boot with pool", "boot"]
        await station.close()
        await server.close()

        failing = SlowStart(fail=True)
        with pytest.raises(StartupFailed):
            await serve_in_memory(failing)
        assert failing.station is not None
        with pytest.raises(HandshakeFailed) as refused:
            await failing.station
        assert refused.value.status == 503
        assert failing.seen == []  # neither on_connect nor a handler ran

    run(scenario)


class Pending(Csms):
    """Answers every boot Pending, with a minute's wait before the next."""

    def boot_notification(
        self, request: messages.BootNotificationRequest
    ) -> messages.BootNotificationResponse:
        return messages.BootNotificationResponse(
            current_time=NOW, interval=60, status=enums.RegistrationStatusEnumType.PENDING
        )


def test_close_ends_what_waits_for_the_boot_at_once() -> None:
    """``booted()`` and a ``call()`` waiting for an accepted boot end when the client closes,
    with a ``ConnectionError`` saying so: they waited out their whole timeout (30 s by
    default), holding a firmware's shutdown, then said the CSMS had not accepted the boot.
    A client closed already says so at once too."""

    async def scenario() -> None:
        server = await serve_in_memory(Pending())
        station = await connect(Firmware(), URL, boot=BOOT, backoff=FAST, via=server)
        booted = asyncio.create_task(station.booted(timeout=20))
        called = asyncio.create_task(station.call(messages.HeartbeatRequest(), timeout=20))
        await until(lambda: station.boot_response is not None)
        await station.close()
        for waiting in (booted, called):
            with pytest.raises(ConnectionError, match="CS001 was closed"):
                await asyncio.wait_for(waiting, 2)
        with pytest.raises(ConnectionError, match="CS001 was closed"):
            await asyncio.wait_for(station.booted(timeout=20), 2)
        await server.close()

    run(scenario)


class Rebooting(v201.Charger):
    """Carries out a Reset in its handler, awaiting its client's ``reboot()`` (or ``close()``
    for an ``OnIdle`` one) before it answers, as firmware written straight from the API does."""

    def __init__(self) -> None:
        self.returned: list[str] = []

    async def reset(
        self, request: messages.ResetRequest, context: CallContext
    ) -> messages.ResetResponse:
        client = StationClient.of(context)
        if request.type == enums.ResetEnumType.IMMEDIATE:
            await client.reboot(0.01, enums.BootReasonEnumType.REMOTE_RESET)
        else:
            await client.close(timeout=3600)  # past the test's bound: only no wait passes
        self.returned.append(request.type.value)
        return messages.ResetResponse(status=enums.ResetStatusEnumType.ACCEPTED)


class BootReasons(Csms):
    def boot_notification(
        self, request: messages.BootNotificationRequest
    ) -> messages.BootNotificationResponse:
        self.seen.append(f"boot {request.reason.value}")
        return messages.BootNotificationResponse(
            current_time=NOW, interval=1, status=enums.RegistrationStatusEnumType.ACCEPTED
        )


@pytest.mark.usefixtures("dispatch_twin")
def test_a_reboot_awaited_in_a_handler_comes_after_its_answer() -> None:
    """``await StationClient.of(context).reboot(...)`` in a Reset's handler closed the
    connection before the answer: the CSMS's call failed with ``StationNotConnected`` and the
    answer went nowhere, unsaid. The reboot now waits for the answer to go out."""

    async def scenario() -> None:
        csms, firmware = BootReasons(), Rebooting()
        server = await serve_in_memory(csms)
        station = await connect(firmware, URL, boot=BOOT, backoff=FAST, via=server)
        try:
            await station.booted(timeout=5)
            reset = messages.ResetRequest(type=enums.ResetEnumType.IMMEDIATE)
            answer = await server.call("CS001", reset, timeout=5)
            assert answer.status == enums.ResetStatusEnumType.ACCEPTED
            await until(lambda: csms.seen == ["boot PowerUp", "boot RemoteReset"])
            assert csms.left == ["closed by the station (1012: rebooting)"]
            assert firmware.returned == ["Immediate"]
        finally:
            await station.close()
            await server.close()

    run(scenario)


@pytest.mark.usefixtures("dispatch_twin")
def test_a_close_awaited_in_a_handler_waits_for_the_others_not_for_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``await client.close()`` in a handler waited for that very handler, which cannot end
    while it waits: the whole timeout, then the handler was cancelled (and the answer lost
    with it, said as "cancelling handlers still running"). Now the close goes on at once, the
    handler goes on after it, and one WARNING says its answer comes too late."""

    async def scenario() -> None:
        csms, firmware = Csms(), Rebooting()
        server = await serve_in_memory(csms)
        station = await connect(firmware, URL, backoff=FAST, via=server)
        try:
            reset = messages.ResetRequest(type=enums.ResetEnumType.ON_IDLE)
            with pytest.raises(StationNotConnected):
                await server.call("CS001", reset, timeout=3600)
            await until(lambda: firmware.returned == ["OnIdle"])
            assert station.connection is None
        finally:
            await station.close()
            await server.close()

    run(scenario)
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and said[0].startswith("CS001: closing from the handler of Reset ")
    assert said[0].endswith("(close in a task of its own to answer first)")
