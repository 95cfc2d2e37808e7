"""Station lifecycle and calls from your own code, on both backends over real sockets:
``on_connect`` / ``on_disconnect``, the connection's attributes, ``server.call`` and
``server.stations()`` (the same interface and errors as ``ClusterClient``)."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from my_test_charge_system import MyTestChargeSystem
from my_test_charger import MyTestCharger

from ocpp_fast import aio
from ocpp_fast._machine import free_port
from ocpp_fast.errors import StartupFailed, StationNotConnected
from ocpp_fast.stations import StationCaller, StationEntry
from ocpp_fast.transport import Backoff, Limits, connect, serve
from ocpp_fast.v201 import datatypes, enums, messages

FAST = Backoff(minimum=0.05, random_range=0.05, repeat_times=2)
UNLOCK = messages.UnlockConnectorRequest(evse_id=1, connector_id=1)


def run(coro: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(coro(), 20))


pytestmark = pytest.mark.usefixtures("backend")  # every test on both backends


class Watching(MyTestChargeSystem):
    """Records the lifecycle; its async on_connect calls the station that just connected."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []
        self.seen: list[aio.AsyncConnection] = []
        self.unlocked: dict[str, enums.UnlockStatusEnumType] = {}
        self.gone = asyncio.Event()

    async def on_connect(self, connection: aio.AsyncConnection) -> None:
        self.seen.append(connection)
        self.events.append(("connect", connection.identity, str(connection.version)))
        response = await connection.call(UNLOCK, timeout=5)
        self.unlocked[connection.identity] = response.status

    def on_disconnect(self, connection: aio.AsyncConnection, reason: str) -> None:
        self.events.append(("disconnect", connection.identity, reason))
        self.gone.set()


def test_on_connect_may_call_the_station_and_on_disconnect_says_who_closed() -> None:
    async def main() -> None:
        csms = Watching()
        server = await serve(csms)
        client = await connect(MyTestCharger(), f"ws://127.0.0.1:{server.port}/CS001", backoff=FAST)
        try:
            for _ in range(200):
                if "CS001" in csms.unlocked:
                    break
                await asyncio.sleep(0.01)
            assert csms.unlocked == {"CS001": enums.UnlockStatusEnumType.UNLOCKED}
            connection = csms.seen[0]
            assert connection is server.connections["CS001"]
            assert (connection.identity, str(connection.version)) == ("CS001", "2.0.1")
            assert repr(connection.version) == "<ProtocolVersion 2.0.1>"
            assert connection.remote_address is not None
            assert connection.remote_address[0] == "127.0.0.1"
            age = datetime.datetime.now(datetime.UTC) - connection.connected_since
            assert datetime.timedelta(0) <= age < datetime.timedelta(seconds=10)
        finally:
            await client.close()
        await asyncio.wait_for(csms.gone.wait(), 5)
        await server.close()
        assert csms.events[0] == ("connect", "CS001", "2.0.1")
        kind, identity, reason = csms.events[1]
        assert (kind, identity) == ("disconnect", "CS001")
        assert reason.startswith("closed by the station (1000"), reason

    run(main)


class Failing(MyTestChargeSystem):
    """Hooks that raise: logged, and the station is served all the same."""

    async def on_connect(self, connection: aio.AsyncConnection) -> None:
        raise RuntimeError("the database is down")

    def on_disconnect(self, connection: aio.AsyncConnection, reason: str) -> None:
        raise RuntimeError("the database is still down")


def test_a_hook_that_raises_is_logged_with_the_identity_and_harms_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        server = await serve(Failing())
        url = f"ws://127.0.0.1:{server.port}/CS042"
        client = await connect(MyTestCharger(), url, backoff=FAST)
        response = await client.call(messages.HeartbeatRequest(), timeout=5)
        assert response.current_time.tzinfo is not None
        await client.close()
        for _ in range(200):
            if "CS042" not in server.connections:
                break
            await asyncio.sleep(0.01)
        await server.close()

    with caplog.at_level(logging.ERROR, logger="ocpp_fast"):
        run(main)
    failed = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "CS042: on_connect failed" in failed
    assert "CS042: on_disconnect failed" in failed


class TenantLookupFailed(Exception):
    """This test's own: the process's count of hook failures is per exception class."""


def test_a_hook_failing_for_every_station_is_logged_10_times_then_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An ``on_connect`` that reads a database that is down fails for every station: 10
    tracebacks, then one count of the rest (at the server's close here), as handlers that
    raise are limited. A traceback per station made 10,000 of them at a fleet's reconnect."""

    class Down(MyTestChargeSystem):
        async def on_connect(self, connection: aio.AsyncConnection) -> None:
            raise TenantLookupFailed(connection.identity)

    async def main() -> None:
        server = await serve(Down())
        for n in range(12):
            client = await connect(MyTestCharger(), f"ws://127.0.0.1:{server.port}/CS{n}")
            await client.call(messages.HeartbeatRequest(), timeout=5)  # served all the same
            await client.close()
        await server.close()

    with caplog.at_level(logging.ERROR, logger="ocpp_fast"):
        run(main)
    said = [r.getMessage() for r in caplog.records if "TenantLookupFailed" in r.getMessage()]
    failed = [r for r in caplog.records if r.getMessage().endswith(": on_connect failed")]
    assert len(failed) == 10
    assert len(said) == 1, said
    assert said[0].startswith("2 more 'on_connect failed TenantLookupFailed' messages suppressed")


def test_server_call_and_stations_match_the_cluster_client() -> None:
    async def main() -> None:
        csms = Watching()
        server = await serve(csms)
        assert isinstance(server, StationCaller)
        before = datetime.datetime.now(datetime.UTC)
        client = await connect(MyTestCharger(), f"ws://127.0.0.1:{server.port}/CS007", backoff=FAST)
        try:
            entries = await server.stations()
            assert list(entries) == ["CS007"]
            entry = entries["CS007"]
            assert isinstance(entry, StationEntry) and entry.version == "2.0.1"
            assert before - datetime.timedelta(seconds=1) <= entry.since
            request = messages.ChangeAvailabilityRequest(
                operational_status=enums.OperationalStatusEnumType.INOPERATIVE
            )
            response = await server.call("CS007", request, timeout=5)
            assert isinstance(response, messages.ChangeAvailabilityResponse)
            with pytest.raises(StationNotConnected) as refused:
                await server.call("CS999", request)
            assert refused.value.identity == "CS999"
        finally:
            await client.close()
        await asyncio.wait_for(csms.gone.wait(), 5)
        assert await server.stations() == {}
        with pytest.raises(StationNotConnected):
            await server.call("CS007", UNLOCK)
        await server.close()

    run(main)


def test_shutting_down_is_the_reason_given_at_close() -> None:
    async def main() -> None:
        csms = Watching()
        server = await serve(csms)
        client = await connect(MyTestCharger(), f"ws://127.0.0.1:{server.port}/CS003", backoff=FAST)
        for _ in range(200):
            if "CS003" in csms.unlocked:
                break
            await asyncio.sleep(0.01)
        await server.close(2)
        await client.close()
        assert csms.events[-1] == ("disconnect", "CS003", "the CSMS is shutting down")

    run(main)


def test_server_disconnect_closes_a_station_with_its_code_and_reason() -> None:
    """An operator's ``server.disconnect``: the station gets the close frame, the handler's
    ``on_disconnect`` the words; the call returns once that ran; the station may come back."""

    async def main() -> None:
        csms = Watching()
        server = await serve(csms)
        client = await connect(MyTestCharger(), f"ws://127.0.0.1:{server.port}/CS008", backoff=FAST)
        try:
            for _ in range(200):
                if "CS008" in csms.unlocked:
                    break
                await asyncio.sleep(0.01)
            first = server.connections["CS008"]
            await server.disconnect("CS008", 1008, "credentials revoked")
            said = "closed by the CSMS (1008: credentials revoked)"
            assert csms.events[-1] == ("disconnect", "CS008", said)
            for _ in range(300):  # the station connects again on its own
                if server.connections.get("CS008") not in (None, first):
                    break
                await asyncio.sleep(0.01)
            assert server.connections["CS008"] is not first
            with pytest.raises(StationNotConnected):
                await server.disconnect("CS999")
            for code, reason in ((1005, ""), (2000, ""), (None, ""), (1000, "é" * 62)):
                with pytest.raises(ValueError):
                    await server.disconnect("CS008", code, reason)
            assert server.connections["CS008"] is not first  # nothing closed by those
        finally:
            await client.close()
            await server.close()

    run(main)


class Holding(Watching):
    """Its FirmwareStatusNotification handler holds on until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.holding = asyncio.Event()

    async def firmware_status_notification(
        self, request: messages.FirmwareStatusNotificationRequest
    ) -> messages.FirmwareStatusNotificationResponse:
        self.holding.set()
        await self.release.wait()
        return messages.FirmwareStatusNotificationResponse()


def test_a_station_that_closed_before_the_stop_is_told_apart_from_the_shutdown() -> None:
    """The first cause wins: the station closed its socket, then (its handler still running,
    so its ``on_disconnect`` not yet told) the server stopped. It was told "the CSMS is
    shutting down", the server's reason; its own close is what ended it."""

    async def main() -> None:
        csms = Holding()
        server = await serve(csms)
        client = await connect(MyTestCharger(), f"ws://127.0.0.1:{server.port}/CS4", backoff=FAST)
        while "CS4" not in csms.unlocked:
            await asyncio.sleep(0.01)
        assert client.connection is not None
        status = messages.FirmwareStatusNotificationRequest(
            status=enums.FirmwareStatusEnumType.DOWNLOADED
        )
        reported = asyncio.ensure_future(client.connection.call(status))
        await asyncio.wait_for(csms.holding.wait(), 5)
        await client.close()
        while "CS4" in server.connections:  # the server saw it leave
            await asyncio.sleep(0.01)
        stopping = asyncio.ensure_future(server.close(5))
        while server.not_serving() is None:
            await asyncio.sleep(0.01)
        csms.release.set()  # the handler ends during the stop, then on_disconnect is told
        await stopping
        with pytest.raises(ConnectionError):
            await reported
        assert csms.events[-1] == ("disconnect", "CS4", "closed by the station (1000)")

    run(main)


class Hosting(MyTestChargeSystem):
    """Starts and stops something beside the server (an admin API would be one)."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.log: list[str] = []

    async def on_startup(self, server: Any) -> None:
        if self.fail:
            raise RuntimeError("the admin port is taken")
        self.log.append(f"started on {server.port}")

    async def on_shutdown(self, server: Any) -> None:
        self.log.append(f"stopping with {sorted(server.connections)}")


def test_on_startup_and_on_shutdown_frame_the_server() -> None:
    async def main() -> None:
        csms = Hosting()
        mapping = {"ocpp2.0.1": csms}  # one instance: its hooks run once
        server = await serve(mapping)
        assert csms.log == [f"started on {server.port}"]
        client = await connect(MyTestCharger(), f"ws://127.0.0.1:{server.port}/CS5", backoff=FAST)
        await client.call(messages.HeartbeatRequest(), timeout=5)
        await server.close(2)
        await client.close()
        assert csms.log[1:] == ["stopping with ['CS5']"]  # the stations are still there

        failing = Hosting(fail=True)
        port = free_port()
        with pytest.raises(StartupFailed) as failed:
            await serve(failing, port=port)
        assert str(failed.value) == (
            "on_startup of Hosting failed: RuntimeError: the admin port is taken"
        )
        assert failed.value.owner == "Hosting" and failed.value.__cause__ is failed.value.error
        assert isinstance(failed.value.error, RuntimeError)
        assert failing.log == []  # no on_shutdown for a start that failed
        with pytest.raises(ConnectionRefusedError):  # the server was closed again
            await asyncio.open_connection("127.0.0.1", port)

    run(main)


def test_an_on_startup_that_takes_long_is_said(caplog: pytest.LogCaptureFixture) -> None:
    """An ``on_startup`` waiting for a database that does not answer: one WARNING naming it
    once the stations waiting for it begin to be dropped (``Limits.handshake_timeout``). The
    server said nothing at all meanwhile: no start line, no line of any kind."""
    said = asyncio.Event()

    class Said(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "on_startup of" in record.getMessage():
                said.set()

    class Waiting(MyTestChargeSystem):
        async def on_startup(self, server: Any) -> None:
            await said.wait()  # returns once the line is out: the test's bound, not a sleep

    async def main() -> None:
        server = await serve(Waiting(), limits=Limits(handshake_timeout=0.2))
        await server.close()

    watcher = Said()
    logging.getLogger("ocpp_fast.transport").addHandler(watcher)
    caplog.set_level(logging.WARNING, logger="ocpp_fast.transport")
    try:
        run(main)
    finally:
        logging.getLogger("ocpp_fast.transport").removeHandler(watcher)
    (line,) = [r.getMessage() for r in caplog.records if "on_startup of" in r.getMessage()]
    assert line.startswith("on_startup of Waiting still running after 0.2 s: no station is")


class HangingShutdown(MyTestChargeSystem):
    """An ``on_shutdown`` that waits for what never comes (a backend that does not answer)."""

    def __init__(self) -> None:
        self.cancelled = False

    async def on_shutdown(self, server: Any) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


def test_a_hanging_on_shutdown_gets_the_stop_s_time_not_handler_grace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``close(1)`` with an ``on_shutdown`` that hangs: the hook is cancelled by the time the
    handlers must end, and the stop ends within its timeout, the station closed. The hook had
    ``Limits.handler_grace`` (here 60 s) whatever the stop's timeout, the stations left
    connected all along: ``ocpp-fast serve --shutdown-timeout 3`` stopped after 13 s."""

    async def main() -> None:
        csms = HangingShutdown()
        server = await serve(csms, limits=Limits(handler_grace=60))
        client = await connect(MyTestCharger(), f"ws://127.0.0.1:{server.port}/CS1", backoff=FAST)
        await client.call(messages.HeartbeatRequest(), timeout=5)
        await asyncio.wait_for(server.close(1), 10)  # 60 s before: the test's bound fails it
        assert csms.cancelled
        assert "CS1" not in server.connections
        await client.close()

    caplog.set_level(logging.WARNING, logger="ocpp_fast.transport")
    run(main)
    said = [r.getMessage() for r in caplog.records if "on_shutdown" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("on_shutdown still running after 0.")


def test_a_station_connecting_again_replaces_its_older_connection() -> None:
    async def main() -> None:
        csms = Watching()
        server = await serve(csms)
        url = f"ws://127.0.0.1:{server.port}/CS8"
        first = await connect(MyTestCharger(), url, backoff=FAST)
        while "CS8" not in csms.unlocked:
            await asyncio.sleep(0.01)
        older = server.connections["CS8"]
        second = await connect(MyTestCharger(), url, backoff=FAST)
        await asyncio.wait_for(csms.gone.wait(), 5)
        assert csms.events[-1] == ("disconnect", "CS8", "replaced by a newer connection")
        assert server.connections["CS8"] is not older  # the newer one stays
        await first.close()
        await second.close()
        await server.close()

    run(main)


class SlowStart(MyTestChargeSystem):
    """An app whose ``on_startup`` takes a while (opening its database pool, say) and what
    its handlers then need; ``fail``: the pool cannot be opened."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.listening = asyncio.Event()
        self.release = asyncio.Event()
        self.port = 0
        self.pool: str | None = None
        self.seen_by: list[str | None] = []
        """The pool as ``authorize``, ``on_connect`` and the BootNotification handler saw it."""

    async def on_startup(self, server: Any) -> None:
        self.port = server.port
        self.listening.set()
        await self.release.wait()
        if self.fail:
            raise RuntimeError("the database is unreachable")
        self.pool = "pool"

    def authorize(self, station: Any) -> bool:  # type: ignore[override]
        self.seen_by.append(self.pool)
        return True

    def on_connect(self, connection: aio.AsyncConnection) -> None:
        self.seen_by.append(self.pool)

    def boot_notification(
        self, request: messages.BootNotificationRequest
    ) -> messages.BootNotificationResponse:
        self.seen_by.append(self.pool)
        return super().boot_notification(request)


BOOT = messages.BootNotificationRequest(
    reason=enums.BootReasonEnumType.POWER_UP,
    charging_station=datatypes.ChargingStationType(model="M", vendor_name="V"),
)


async def upgrade_answer(port: int, path: str, first: int | None = None) -> bytes:
    """A raw WebSocket upgrade request: what the server answers until it closes (or its
    ``first`` bytes: a 101 stays open)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp2.0.1\r\n\r\n"
        ).encode()
    )
    answer = b""
    try:
        async with asyncio.timeout(5):
            while chunk := await reader.read(65536 if first is None else first - len(answer)):
                answer += chunk
                if first is not None and len(answer) >= first:
                    break
    except (TimeoutError, ConnectionError):
        pass
    writer.close()
    return answer


def test_a_station_connecting_during_on_startup_is_served_once_it_returned() -> None:
    async def main() -> None:
        csms = SlowStart()
        starting = asyncio.ensure_future(serve(csms, authorize=csms.authorize))
        await csms.listening.wait()
        url = f"ws://127.0.0.1:{csms.port}/CS9"
        connecting = asyncio.ensure_future(connect(MyTestCharger(), url, boot=BOOT, backoff=FAST))
        await asyncio.sleep(0.3)
        assert not connecting.done()  # its handshake waits for on_startup
        assert csms.seen_by == []  # nor authorize, on_connect nor a handler ran
        csms.release.set()
        server = await starting
        client = await connecting
        try:
            await client.booted(5)
            assert csms.seen_by == ["pool", "pool", "pool"]  # what on_startup made is there
        finally:
            await client.close()
            await server.close()

    run(main)


def test_a_station_waiting_for_an_on_startup_that_raises_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        csms = SlowStart(fail=True)
        starting = asyncio.ensure_future(serve(csms, authorize=csms.authorize))
        await csms.listening.wait()
        answering = asyncio.ensure_future(upgrade_answer(csms.port, "/CS10"))
        await asyncio.sleep(0.3)
        assert not answering.done()
        csms.release.set()
        with pytest.raises(StartupFailed):
            await starting
        answer = await answering
        assert answer.startswith(b"HTTP/1.1 503 "), answer  # on picows too, not dropped
        assert answer.endswith(b"shutting down\n"), answer
        assert csms.seen_by == []  # neither authorize, nor on_connect, nor a handler ran

    caplog.set_level(logging.WARNING, logger="ocpp_fast.transport.refusals")
    run(main)
    refused = [r for r in caplog.records if r.name == "ocpp_fast.transport.refusals"]
    assert [r.reason for r in refused] == ["shutting_down"]  # type: ignore[attr-defined]


def test_a_station_waiting_for_on_startup_past_the_handshake_timeout_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        csms = SlowStart()
        limits = Limits(handshake_timeout=0.3)
        starting = asyncio.ensure_future(serve(csms, authorize=csms.authorize, limits=limits))
        await csms.listening.wait()
        loop = asyncio.get_running_loop()
        began = loop.time()
        answer = await upgrade_answer(csms.port, "/CS11")
        assert answer == b""  # dropped as any slow handshake, with no answer
        # at the handshake timeout, not before (a lower bound: a load only makes it later);
        # dropped by it, as the refusal's reason says below (upgrade_answer's 5 s: b"" too)
        assert loop.time() - began > 0.2
        assert csms.seen_by == []
        csms.release.set()
        server = await starting
        assert await upgrade_answer(server.port, "/CS12", first=12) == b"HTTP/1.1 101"
        await server.close(1)

    caplog.set_level(logging.WARNING, logger="ocpp_fast.transport.refusals")
    run(main)
    refused = [r for r in caplog.records if r.name == "ocpp_fast.transport.refusals"]
    assert [r.reason for r in refused] == ["handshake_timeout"]  # type: ignore[attr-defined]
    assert "the server still starting (on_startup)" in refused[0].getMessage()
