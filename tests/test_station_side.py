"""The station side as firmware meets it: a ``StationClient`` built from one ``Charger``, what
a refused or unreachable first connection raises, the station's ``on_connect`` /
``on_disconnect`` across a reconnect, the heartbeat at the CSMS's interval, timeouts that
say what timed out, and the lifecycle hooks under ``connect_in_memory``. Real sockets on
127.0.0.1, both backends where the WebSocket library matters."""

from __future__ import annotations

import asyncio
import datetime
import importlib.util
import json
import logging
import re
import socket
import ssl
import struct
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from ocpp_fast import Tolerance, errors, v16, v201
from ocpp_fast.aio import AsyncConnection, connect_in_memory
from ocpp_fast.transport import (
    Admission,
    Backoff,
    CsmsServer,
    HandshakeFailed,
    Limits,
    StationClient,
    StationRequest,
    connect,
    serve,
    serve_in_memory,
)
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v201 import datatypes, enums, messages

pytestmark = pytest.mark.usefixtures("listener_twin")  # picows' listener: both twins
FAST = Backoff(minimum=0.05, random_range=0.05, repeat_times=2)
NOW = datetime.datetime(2026, 12, 2, tzinfo=datetime.UTC)
BOOT = messages.BootNotificationRequest(
    reason=enums.BootReasonEnumType.POWER_UP,
    charging_station=datatypes.ChargingStationType(model="M", vendor_name="V"),
)


def run(coro: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(coro(), 45))


def free_port() -> int:
    with socket.socket() as probe:  # a port nobody listens on, yet
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def until(condition: Callable[[], bool], seconds: float = 5) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


class Csms(v201.ChargeSystem):
    """Boots with a heartbeat interval of 1 s and counts heartbeats and status reports."""

    def __init__(self) -> None:
        self.heartbeats = 0
        self.statuses = 0
        self.events: list[tuple[str, str]] = []

    def boot_notification(
        self, request: messages.BootNotificationRequest
    ) -> messages.BootNotificationResponse:
        return messages.BootNotificationResponse(
            current_time=NOW, interval=1, status=enums.RegistrationStatusEnumType.ACCEPTED
        )

    def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        self.heartbeats += 1
        return messages.HeartbeatResponse(current_time=NOW)

    def status_notification(
        self, request: messages.StatusNotificationRequest
    ) -> messages.StatusNotificationResponse:
        self.statuses += 1
        return messages.StatusNotificationResponse()

    def on_connect(self, connection: AsyncConnection) -> None:
        self.events.append(("connect", connection.identity))

    def on_disconnect(self, connection: AsyncConnection, reason: str) -> None:
        self.events.append(("disconnect", reason))


class Firmware(v201.Charger):
    """Reports its connector after every (re)connection, as OCPP asks after an outage."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    async def on_connect(self, connection: AsyncConnection) -> None:
        self.events.append(("connect", str(connection.version)))
        await connection.call(
            messages.StatusNotificationRequest(
                timestamp=NOW,
                connector_status=enums.ConnectorStatusEnumType.AVAILABLE,
                evse_id=1,
                connector_id=1,
            ),
            timeout=5,
        )
        self.events.append(("reported", ""))

    def on_disconnect(self, connection: AsyncConnection, reason: str) -> None:
        self.events.append(("disconnect", reason))


def test_serve_and_connect_take_and_refuse_handlers_alike() -> None:
    """One rule for both sides: one handler or a mapping of subprotocol to one; anything else
    is a TypeError naming what each side expects (serve() failed further on, obscurely)."""

    async def main() -> None:
        with pytest.raises(
            TypeError, match=r"handlers is one ChargeSystem or a mapping .* not list"
        ):
            await serve([v201.ChargeSystem()])  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"handlers is one Charger or a mapping .* not list"):
            StationClient([v201.Charger()], "ws://127.0.0.1:1/CS1")  # type: ignore[call-overload]
        csms = v201.ChargeSystem()
        server = await serve({"ocpp2.0.1": csms})
        try:
            client = await connect(
                {"ocpp2.0.1": v201.Charger()}, f"ws://127.0.0.1:{server.port}/CS1"
            )
            assert client.subprotocol == "ocpp2.0.1"
            await client.close()
        finally:
            await server.close()

    run(main)


class Recording(v201.ChargeSystem):
    """A CSMS whose list of the meter values it got is named as its handler of them."""

    def __init__(self) -> None:
        self.meter_values: list[messages.MeterValuesRequest] = []  # type: ignore[assignment]

    def meter_values(self, request: messages.MeterValuesRequest) -> messages.MeterValuesResponse:
        return messages.MeterValuesResponse()


class Remembering(v201.Charger):
    def __init__(self) -> None:
        self.reset = "not yet"  # type: ignore[method-assign,assignment]

    def reset(self, request: messages.ResetRequest) -> messages.ResetResponse:
        return messages.ResetResponse(status=enums.ResetStatusEnumType.ACCEPTED)


def test_serve_and_connect_refuse_a_handler_whose_instance_hides_a_handler_method() -> None:
    """An attribute of the instance named as a handler method (``self.meter_values = []``)
    is refused when served or connected, naming the action, the attribute and the fix (every
    MeterValues was answered InternalError, the log saying ``'list' object is not
    callable``); a callable set there (a test's stand-in) is taken."""

    async def main() -> None:
        hidden = r"Recording.meter_values handles MeterValues, but the instance sets "
        with pytest.raises(TypeError, match=hidden + r"meter_values to a list, .* rename"):
            await serve(Recording())
        with pytest.raises(TypeError, match=r"Remembering.reset handles Reset, .* a str"):
            StationClient({"ocpp2.0.1": Remembering()}, "ws://127.0.0.1:1/CS1")
        stand_in = v201.ChargeSystem()
        stand_in.heartbeat = lambda request: None  # type: ignore[assignment]
        server = await serve(stand_in)
        await server.close()

    run(main)


def test_serve_and_connect_key_a_version_by_label_and_refuse_a_key_of_another() -> None:
    """``{"2.0.1": ..., "1.6": ...}``, as ``ocpp-fast serve`` takes it, is served as the
    subprotocols ``ocpp2.0.1`` and ``ocpp1.6`` (it was offered as ``2.0.1``, which no station
    asks for: every handshake failed with no common version); a key naming another version
    than its handler's is refused when given, on both sides alike."""

    async def main() -> None:
        with pytest.raises(ValueError, match=r"key 'ocpp1.6' maps to a ChargeSystem of OCPP 2.0.1"):
            await serve({"ocpp1.6": v201.ChargeSystem()})
        with pytest.raises(ValueError, match=r"key '2.1' .* Charger of OCPP 1.6; use .*'ocpp1.6'"):
            StationClient({"2.1": v16.Charger()}, "ws://127.0.0.1:1/CS1")
        server = await serve({"2.0.1": v201.ChargeSystem(), "1.6": v16.ChargeSystem()})
        try:
            url = f"ws://127.0.0.1:{server.port}/ocpp"
            new = await connect({"2.0.1": v201.Charger()}, f"{url}/CS201")
            old = await connect(v16.Charger(), f"{url}/CS16")
            assert (new.subprotocol, old.subprotocol) == ("ocpp2.0.1", "ocpp1.6")
            await new.close()
            await old.close()
        finally:
            await server.close()

    run(main)


def test_a_station_client_takes_one_charger_as_connect_does() -> None:
    async def main() -> None:
        port = free_port()
        charger = v16.Charger()
        client = StationClient(charger, f"ws://127.0.0.1:{port}/ocpp/CS16", backoff=FAST)
        assert client.handlers == {"ocpp1.6": charger}
        with pytest.raises(OSError) as refused:  # the CSMS is down: start() raises, documented
            await client.start()
        assert isinstance(refused.value, ConnectionRefusedError)
        server = await serve(v16.ChargeSystem(), port=port)
        try:
            await client.start()  # retried once the CSMS is up
            assert client.subprotocol == "ocpp1.6"
        finally:
            await client.close()
            await server.close()
        with pytest.raises(TypeError, match=r'\{"ocpp1.6": charger\}'):
            StationClient([charger], "ws://127.0.0.1:1/CS16")  # type: ignore[call-overload]

    run(main)


@pytest.mark.usefixtures("backend")
def test_a_csms_refusing_on_every_address_fails_as_asyncio_s_create_connection() -> None:
    """A host resolving to several addresses, none answering: the picows client (which makes
    its TCP connection itself) raised the first address's error, where asyncio's
    ``create_connection`` (the websockets client's) raises one ``OSError`` naming every
    address. Each backend now fails exactly as ``create_connection`` does in the same run:
    one address or the same words from each, that error itself; different words, combined."""

    async def main() -> None:
        port = free_port()
        hosts = {
            "one.test": ["127.0.0.1"],
            "same.test": ["127.0.0.1", "127.0.0.1"],
            "two.test": ["127.0.0.1", "127.0.0.2"],
        }

        async def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in hosts[host]]

        loop = asyncio.get_running_loop()
        loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign,assignment]
        seen = {}
        for host in hosts:
            with pytest.raises(OSError) as expected:
                await loop.create_connection(asyncio.Protocol, host, port)
            with pytest.raises(OSError) as station:
                await connect(v16.Charger(), f"ws://{host}:{port}/ocpp/CS16")
            assert type(station.value) is type(expected.value)
            assert str(station.value) == str(expected.value)
            seen[host] = station.value
        assert isinstance(seen["one.test"], ConnectionRefusedError)
        assert isinstance(seen["same.test"], ConnectionRefusedError)
        assert str(seen["two.test"]).startswith("Multiple exceptions: ")
        assert "127.0.0.2" in str(seen["two.test"])

    run(main)


@pytest.mark.skipif(importlib.util.find_spec("uvloop") is None, reason="uvloop not installed")
@pytest.mark.skipif(importlib.util.find_spec("picows") is None, reason="picows not installed")
def test_a_csms_refusing_on_every_address_fails_as_uvloop_s_create_connection() -> None:
    """On uvloop (where ``ocpp_fast.run`` puts a station) ``create_connection``, the
    websockets client's, words a refusal without the address (``[Errno 111] Connection
    refused``), so every address of a host refusing reads the same and it raises one
    ``ConnectionRefusedError``; the picows client, whose errors name the address, raised a
    combined ``OSError`` there. Its errors are now worded as uvloop's: the same error as
    uvloop's ``create_connection`` gives for one address, for one or several."""
    import uvloop

    async def main() -> None:
        port = free_port()
        loop = asyncio.get_running_loop()
        with pytest.raises(OSError) as expected:  # uvloop's own words, for one address
            await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        hosts = {"one.test": ["127.0.0.1"], "two.test": ["127.0.0.1", "127.0.0.2"]}

        async def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
            found = hosts.get(host, [host])  # uvloop's sock_connect looks an address up too
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in found]

        loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign,assignment]
        for host in hosts:
            with pytest.raises(OSError) as station:
                await connect(v16.Charger(), f"ws://{host}:{port}/ocpp/CS16", backend="picows")
            assert type(station.value) is type(expected.value) is ConnectionRefusedError
            assert str(station.value) == str(expected.value), host

    uvloop.run(asyncio.wait_for(main(), 45))


@pytest.mark.usefixtures("backend")
def test_a_refused_station_reads_the_http_status_from_a_public_exception() -> None:
    def authorize(station: StationRequest) -> Admission:
        if station.identity != "CS16":
            return Admission.UNKNOWN
        right = station.password == "right-password-0"
        return Admission.ACCEPT if right else Admission.UNAUTHORIZED

    async def refusal(port: int, identity: str, password: str) -> HandshakeFailed:
        url = f"ws://127.0.0.1:{port}/ocpp/{identity}"
        with pytest.raises(HandshakeFailed) as refused:
            await connect(v16.Charger(), url, password=password, backoff=FAST)
        return refused.value

    async def main() -> None:
        server = await serve(v16.ChargeSystem(), security_profile=1, authorize=authorize)
        try:
            wrong = await refusal(server.port, "CS16", "wrong-password-0")
            unknown = await refusal(server.port, "OTHER", "right-password-0")
        finally:
            await server.close()
        assert (wrong.status, wrong.reason) == (401, "Unauthorized")
        assert (unknown.status, unknown.reason) == (404, "Not Found")
        assert "HTTP 401" in str(wrong) and not wrong.no_common_version
        assert isinstance(wrong, ConnectionError)

    run(main)
    from ocpp_fast.transport._link import HandshakeFailed as old_path

    assert old_path is HandshakeFailed is errors.HandshakeFailed


def test_a_refusal_keeps_the_csms_words_and_marks_a_cut() -> None:
    """The websockets library's server (under the ``ocpp`` package) refuses a station whose
    versions it does not serve with a 400 and an 87-character line naming its own: cut at 80
    characters, without a mark, it read "expected one of ocpp", its versions gone and the cut
    unseen. A line too long for :data:`~ocpp_fast.errors.BODY_CHARS` ends in "..."."""
    said = b"Failed to open a WebSocket connection: invalid subprotocol; "
    said += b"expected one of ocpp2.0.1.\n"
    refused = HandshakeFailed.refused(400, said)
    assert refused.body.endswith("expected one of ocpp2.0.1."), refused.body
    assert str(refused) == f"the CSMS refused the handshake: HTTP 400 Bad Request ({refused.body})"
    page = HandshakeFailed.refused(503, b"<html>" + b"x" * 500 + b"</html>")
    assert page.body == "<html>" + "x" * (errors.BODY_CHARS - 6) + "...", page.body
    assert HandshakeFailed.refused(401, b"").body == ""


@pytest.mark.usefixtures("backend")
def test_no_common_version_is_told_apart_from_a_refusal() -> None:
    async def main() -> None:
        server = await serve(v201.ChargeSystem())  # 2.0.1 only; the station speaks 1.6
        try:
            with pytest.raises(HandshakeFailed) as refused:
                await connect(v16.Charger(), f"ws://127.0.0.1:{server.port}/CS16", backoff=FAST)
        finally:
            await server.close()
        failed = refused.value
        assert failed.no_common_version and failed.status is None
        assert failed.offered == ("ocpp1.6",) and failed.chosen is None
        assert "no common OCPP version" in str(failed) and "ocpp1.6" in str(failed)

    run(main)


@pytest.mark.usefixtures("backend")
def test_an_http_url_fails_at_once_naming_the_websocket_url() -> None:
    """``connect()`` to ``http://`` / ``https://`` (a URL an operator copies from a browser):
    picows failed it at the handshake as ``HandshakeFailed``, websockets as ``InvalidURI``, and
    an HTTP failover URL only when its turn came (for good). Now a ``ValueError`` before any
    connection, naming the WebSocket URL meant; other URLs that are no ``ws://`` or ``wss://``
    URL with a host likewise, as ``simulate --url`` says (one check)."""

    async def main() -> None:
        with socket.create_server(("127.0.0.1", 0)) as listening:
            listening.setblocking(False)
            port = listening.getsockname()[1]
            good = f"ws://127.0.0.1:{port}/CS1"
            wrong = {
                f"http://127.0.0.1:{port}/CS1": f"use ws://127.0.0.1:{port}/CS1",
                f"HTTPS://127.0.0.1:{port}/CS1": f"use wss://127.0.0.1:{port}/CS1",
                f"127.0.0.1:{port}/CS1": "is no ws:// or wss:// URL (ws://HOST:PORT/PATH)",
                "ws:/CS1": "is a URL without a host (ws://HOST:PORT/PATH)",
            }
            for url, said in wrong.items():
                with pytest.raises(ValueError, match=re.escape(f"{url} ")) as failed:
                    await connect(v201.Charger(), url, backoff=FAST)
                assert str(failed.value).endswith(said), failed.value
                with pytest.raises(ValueError, match=re.escape(said)):
                    await connect(v201.Charger(), good, failover=[url], backoff=FAST)
            with pytest.raises(BlockingIOError):  # no connection was tried
                listening.accept()

    run(main)


@pytest.mark.usefixtures("backend")
def test_the_first_connection_tries_the_failover_urls_before_it_fails() -> None:
    """A station given a cluster's gateways (``failover=``) raised at once when the first was
    down at its start, though another answered: ``simulate --url A B`` with A down lost a
    share of its fleet for the whole run (a walk of the cluster). The first connection tries
    each URL once, at once; only when none answers does it raise, the first URL's error."""

    async def main() -> None:
        server = await serve(v201.ChargeSystem())
        down = f"ws://127.0.0.1:{free_port()}/ocpp/CS1"
        up = f"ws://127.0.0.1:{server.port}/ocpp/CS1"
        client = await connect(v201.Charger(), down, failover=[down, up], backoff=FAST)
        assert client.url == up and "CS1" in server.connections
        await client.close()
        with pytest.raises(ConnectionRefusedError):
            await connect(v201.Charger(), down, failover=[down], backoff=FAST)
        await server.close()

    run(main)


class SlowToAnswer(v201.ChargeSystem):
    """Counts a status report as it comes, answers it a moment later: the CSMS has counted a
    report whose answer the station has not had yet, a window a loaded machine opens too."""

    def __init__(self) -> None:
        self.statuses = 0

    async def status_notification(
        self, request: messages.StatusNotificationRequest
    ) -> messages.StatusNotificationResponse:
        self.statuses += 1
        await asyncio.sleep(0.2)
        return messages.StatusNotificationResponse()


@pytest.mark.usefixtures("backend")
def test_a_charger_is_told_of_each_connection_and_reports_again_after_an_outage() -> None:
    """Each step waits for what the station saw: its report answered (``reported``), not the
    CSMS's count of reports. The count came before the answer reached the station, and the
    CSMS's close (or the station's) then failed the report's call in ``on_connect``: no
    ``reported``, and a wait for six events that never held (on a loaded machine, 2 runs in
    30; every run with the CSMS's answer delayed, as :class:`SlowToAnswer` does)."""

    async def main() -> None:
        csms, firmware = SlowToAnswer(), Firmware()
        server = await serve(csms)
        port = server.port
        client = await connect(firmware, f"ws://127.0.0.1:{port}/CS001", backoff=FAST)
        # Waits of up to 10 s: on a loaded 2-core machine a reconnect and its report once
        # took longer than the default 5 s (a bound on waiting, not a timing assertion).
        await until(lambda: len(firmware.events) == 2, seconds=10)  # connected, reported
        await server.close()  # the CSMS goes away...
        await until(lambda: len(firmware.events) == 3, seconds=10)
        server = await serve(csms, port=port)  # ...and comes back: the station reconnects
        try:
            await until(lambda: len(firmware.events) == 5, seconds=10)  # and reports again
            await client.close()
            await until(lambda: len(firmware.events) == 6, seconds=10)
        finally:
            await server.close()
        kind, reason = firmware.events.pop(2)  # the CSMS said why it closed
        assert kind == "disconnect" and reason.startswith("closed by the CSMS (1001"), reason
        assert firmware.events == [
            ("connect", "2.0.1"),
            ("reported", ""),
            ("connect", "2.0.1"),
            ("reported", ""),
            ("disconnect", "closed by the station (1000)"),
        ]
        assert (client.connects, csms.statuses) == (2, 2)

    run(main)


def test_the_heartbeat_is_opt_in_and_follows_the_boot_interval() -> None:
    async def main() -> None:
        csms = Csms()
        server = await serve(csms)
        url = f"ws://127.0.0.1:{server.port}/CS001"
        silent = await connect(v201.Charger(), url, backoff=FAST)
        beating = await connect(v201.Charger(), url.replace("CS001", "CS002"), heartbeat=60)
        try:
            assert beating.heartbeat_interval == 60
            await silent.call(BOOT, timeout=5)
            assert silent.heartbeat_interval is None  # no heartbeat unless asked for
            await beating.call(BOOT, timeout=5)  # accepted, interval=1
            assert beating.heartbeat_interval == 1.0
            await until(lambda: csms.heartbeats >= 1, seconds=3)
            beating.heartbeat_interval = 60  # e.g. after a SetVariables of HeartbeatInterval
            seen = csms.heartbeats
            await asyncio.sleep(2.5)  # at interval 1 s: two heartbeats or more
            assert csms.heartbeats <= seen + 1  # one may have been on its way already
            silent.heartbeat_interval = 0.05  # turned on while connected
            await until(lambda: csms.heartbeats >= seen + 2)
        finally:
            await silent.close()
            await beating.close()
            await server.close()
        with pytest.raises(ValueError, match="heartbeat"):
            StationClient(v201.Charger(), url, heartbeat=0)

    run(main)


@pytest.mark.usefixtures("backend")
def test_close_leaves_no_heartbeat_task_behind() -> None:
    """``close()`` returns with the heartbeat task finished, not merely cancelled: a firmware
    that runs its own loop and closes it right after ``close()`` got "Task was destroyed but
    it is pending" for the heartbeat's task (asyncio.run hid it, cancelling what was left)."""

    async def main() -> None:
        before = asyncio.all_tasks()  # this one, and run()'s wait_for
        server = await serve(Csms())
        url = f"ws://127.0.0.1:{server.port}/CS001"
        station = await connect(v201.Charger(), url, backoff=FAST, heartbeat=60, boot=BOOT)
        try:
            await station.booted(timeout=5)
            assert station._beating is not None  # heartbeats on: the task waits its interval
            beating = station._beating
        finally:
            await station.close()
            await server.close()
        assert beating.done()
        assert asyncio.all_tasks() - before == set()

    run(main)


class Cleaner(v201.Charger):
    """Answers ClearCache (a CALLRESULT); any other CALL of the CSMS gets a CALLERROR."""

    def clear_cache(self, request: messages.ClearCacheRequest) -> messages.ClearCacheResponse:
        return messages.ClearCacheResponse(status=enums.ClearCacheStatusEnumType.ACCEPTED)


@pytest.mark.usefixtures("backend")
def test_a_busy_station_sends_no_heartbeat() -> None:
    """HeartbeatInterval is an interval of inactivity (2.0.1; 1.6 lets a station skip them):
    any frame to the CSMS, a CALL or an answer to one of its CALLs, starts the count again.
    Busy for about 2 intervals each way (every 0.05 s), the station sends no heartbeat (it
    sent one every interval regardless before: 2 or more here); silent, it sends them again.
    Only a stall of the loop of ~0.95 s between two frames could make this fail."""
    interval = 1.0

    async def main() -> None:
        csms = Csms()
        server = await serve(csms)
        url = f"ws://127.0.0.1:{server.port}/CS001"
        station = await connect(Cleaner(), url, backoff=FAST, heartbeat=interval)
        status = messages.StatusNotificationRequest(
            timestamp=NOW,
            connector_status=enums.ConnectorStatusEnumType.AVAILABLE,
            evse_id=1,
            connector_id=1,
        )
        try:
            for _ in range(36):  # the station's own CALLs
                await station.call(status, timeout=5)
                await asyncio.sleep(0.05)
            assert (csms.statuses, csms.heartbeats) == (36, 0)
            for turn in range(36):  # the station only answers the CSMS's CALLs
                if turn % 2:
                    cleared = await server.call("CS001", messages.ClearCacheRequest(), timeout=5)
                    assert cleared.status == enums.ClearCacheStatusEnumType.ACCEPTED
                else:
                    with pytest.raises(errors.OcppError):  # a CALLERROR: no handler
                        unlock = messages.UnlockConnectorRequest(evse_id=1, connector_id=1)
                        await server.call("CS001", unlock, timeout=5)
                await asyncio.sleep(0.05)
            assert csms.heartbeats == 0
            await until(lambda: csms.heartbeats >= 2, seconds=10)  # silent: beating again
        finally:
            await station.close()
            await server.close()

    run(main)


def test_a_call_that_times_out_says_what_and_how_long() -> None:
    class Slow(v201.ChargeSystem):
        async def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
            await asyncio.sleep(5)
            return messages.HeartbeatResponse(current_time=NOW)

    async def main() -> None:
        station, _ = connect_in_memory(v201.Charger(), Slow())
        with pytest.raises(TimeoutError) as unanswered:
            await station.call(messages.HeartbeatRequest(), timeout=0.1)
        assert "no answer to HeartbeatRequest (message id " in str(unanswered.value)
        assert "within 0.1 s" in str(unanswered.value)

        server = await serve(Csms())
        client = await connect(v201.Charger(), f"ws://127.0.0.1:{server.port}/CS1", backoff=FAST)
        await server.close()
        await until(lambda: client.connection is None)
        try:
            with pytest.raises(TimeoutError) as offline:
                await client.call(messages.HeartbeatRequest(), timeout=0.1)
        finally:
            await client.close()
        assert str(offline.value) == (
            "HeartbeatRequest not sent: no connection to the CSMS within 0.1 s"
        )

    run(main)


def test_connect_in_memory_runs_the_hooks_of_both_sides() -> None:
    async def main() -> None:
        csms, firmware = Csms(), Firmware()
        pair = connect_in_memory(firmware, csms, identity="CS7")
        station, to_station = pair  # still a pair of connections
        assert (station, to_station) == (pair.station, pair.csms)
        assert csms.events == [("connect", "CS7")]  # a plain hook: at once
        # the station's async one called the CSMS and had its answer (the CSMS's count alone
        # comes before the answer reaches the station)
        await until(lambda: len(firmware.events) == 2)
        assert csms.statuses == 1
        await pair.close()
        await pair.close()  # once only
        assert csms.events == [("connect", "CS7"), ("disconnect", "closed by the station (1000)")]
        assert firmware.events == [
            ("connect", "2.0.1"),
            ("reported", ""),
            ("disconnect", "closed by the station (1000)"),
        ]
        with pytest.raises(TimeoutError):  # nothing travels any more
            await station.call(messages.HeartbeatRequest(), timeout=0.1)

    run(main)


def test_put_refuses_what_is_never_queued_instead_of_returning_none() -> None:
    async def main() -> None:
        url = f"ws://127.0.0.1:{free_port()}/CS16"
        queued = StationClient(v16.Charger(), url, queue=":memory:")
        plain = StationClient(v16.Charger(), url)
        start = messages16.StartTransactionRequest(
            connector_id=1, id_tag="T", meter_start=0, timestamp=NOW
        )
        try:
            assert queued.put(start).transaction_id < 0
            with pytest.raises(ValueError, match="never queued: send it with call"):
                queued.put(messages16.HeartbeatRequest())  # type: ignore[call-overload]
            with pytest.raises(ValueError, match="no transaction queue"):
                plain.put(start)
        finally:
            await queued.close()

    run(main)


def test_wss_to_a_port_without_tls_fails_cleanly_on_picows(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The CSMS closes the connection during the TLS handshake: a ConnectionResetError saying
    so, and nothing else. picows' TLS layer reported it to the loop with the exception class
    where an instance belongs, and asyncio's handler failed to log that ("--- Logging error
    ---" and a traceback on stderr)."""

    async def main() -> None:
        server = await serve(v201.ChargeSystem(), limits=Limits(handshake_timeout=0.3))
        try:
            with pytest.raises(ConnectionResetError, match="during the TLS handshake"):
                await connect(
                    v201.Charger(),
                    f"wss://127.0.0.1:{server.port}/CS1",
                    backend="picows",
                    ssl=ssl.create_default_context(),
                    backoff=FAST,
                )
        finally:
            await server.close()

    with caplog.at_level(logging.WARNING, logger="asyncio"):
        run(main)
    assert not [r for r in caplog.records if r.name == "asyncio"], caplog.records
    assert "Logging error" not in capfd.readouterr().err


async def _one_connection_csms(end: Callable[[Any], Awaitable[None]]) -> Any:
    """A CSMS (the websockets library, raw) that accepts one station and ends its connection
    with ``end(websocket)``."""
    from websockets.asyncio.server import serve as ws_serve
    from websockets.typing import Subprotocol

    async def handler(websocket: Any) -> None:
        await end(websocket)

    return await ws_serve(handler, "127.0.0.1", 0, subprotocols=[Subprotocol("ocpp2.0.1")])


async def _disconnected_line(
    end: Callable[[Any], Awaitable[None]],
    caplog: pytest.LogCaptureFixture,
    backend: str | None = None,
) -> str:
    """What a station logs when ``end`` ends its connection (on ``backend``, else the test's)."""
    csms = await _one_connection_csms(end)
    port = csms.sockets[0].getsockname()[1]
    url = f"ws://127.0.0.1:{port}/CS001"
    client = await connect(v201.Charger(), url, backoff=FAST, backend=backend)
    try:
        await until(lambda: any("disconnected" in r.getMessage() for r in caplog.records))
    finally:
        await client.close()
        csms.close()
    (line,) = {r.getMessage() for r in caplog.records if "disconnected" in r.getMessage()}
    return line


@pytest.mark.usefixtures("backend")
def test_a_station_says_why_it_was_disconnected(caplog: pytest.LogCaptureFixture) -> None:
    """The station's "disconnected" line says why, as ``on_disconnect`` is told: the CSMS's
    close code and reason, its line breaks escaped (a CSMS's words cannot forge a log line)."""
    caplog.set_level(logging.INFO, logger="ocpp_fast.transport")

    async def close_for_maintenance(websocket: Any) -> None:
        await websocket.close(4000, "maintenance\nCS002: connected")

    line = run(lambda: _disconnected_line(close_for_maintenance, caplog))
    assert line == "CS001: disconnected: closed by the CSMS (4000: maintenance\\nCS002: connected)"


def test_a_station_says_the_transport_error_that_ended_its_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A connection reset without a close frame: the websockets backend names the error (picows
    hands it to no one: the line says "connection lost" there)."""
    caplog.set_level(logging.INFO, logger="ocpp_fast.transport")

    async def reset(websocket: Any) -> None:
        raw = websocket.transport.get_extra_info("socket")
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        websocket.transport.abort()  # an RST, no close frame

    line = run(lambda: _disconnected_line(reset, caplog, backend="websockets"))
    assert line.startswith("CS001: disconnected: connection lost (ConnectionResetError: "), line


def test_a_boot_answer_that_breaks_the_schema_is_named_so_with_its_remedy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A CSMS written after the ``ocpp`` package's examples accepts the boot with
    ``datetime.utcnow().isoformat()``: a time without offset, which the schema refuses. The
    station said "BootNotification failed: Invalid RFC3339 ..." and ``booted()`` "the CSMS did
    not accept the boot", though it had; both now say the answer broke the schema and name the
    tolerance, and the Charger's ``tolerance`` boots the station on the same answer."""
    caplog.set_level(logging.WARNING, logger="ocpp_fast.transport")

    async def naive_time(websocket: Any) -> None:
        async for frame in websocket:
            answer = {"currentTime": "2026-12-05T10:00:00.123456", "interval": 300}
            await websocket.send(
                json.dumps([3, json.loads(frame)[1], {**answer, "status": "Accepted"}])
            )

    class Tolerant(v201.Charger):
        tolerance = Tolerance.NAIVE_DATETIME

    async def boot(charger: v201.Charger) -> str:
        csms = await _one_connection_csms(naive_time)
        port = csms.sockets[0].getsockname()[1]
        client = await connect(charger, f"ws://127.0.0.1:{port}/CS001", boot=BOOT, backoff=FAST)
        try:
            if isinstance(charger, Tolerant):
                return str((await client.booted(timeout=30)).status)
            await until(
                lambda: any("BootNotification failed" in r.getMessage() for r in caplog.records)
            )
            with pytest.raises(TimeoutError) as waited:  # the next boot is 10 s away
                await client.booted(timeout=0.01)
            return str(waited.value)
        finally:
            await client.close()
            csms.close()

    said = run(lambda: boot(v201.Charger()))
    assert said.startswith("the CSMS did not accept the boot within 0.01 s: the last ")
    assert "the CSMS's answer broke the schema (PropertyConstraintViolation: " in said
    assert "$.currentTime" in said and "a tolerance on the Charger may accept it" in said
    (line,) = [m for r in caplog.records if "BootNotification failed" in (m := r.getMessage())]
    assert "failed, again in 10 s: the CSMS's answer broke the schema (" in line
    assert run(lambda: boot(Tolerant())) == "Accepted"


def test_a_boot_of_the_wrong_version_names_both_versions() -> None:
    """The BootNotificationRequest classes of the versions share a name: a 1.6 boot given to a
    2.0.1 station said "takes one BootNotificationRequest of OCPP 2.0.1, not 0", which reads as
    if no boot had been given. The error names the version given, the one spoken, and the
    class to use."""
    boot16 = messages16.BootNotificationRequest(charge_point_vendor="A", charge_point_model="M")
    with pytest.raises(ValueError) as wrong:
        StationClient(v201.Charger(), "ws://127.0.0.1:9/CS001", boot=boot16)  # type: ignore[arg-type]
    said = str(wrong.value)
    assert "OCPP 1.6" in said and "OCPP 2.0.1" in said
    assert "ocpp_fast.v201.messages.BootNotificationRequest" in said
    with pytest.raises(ValueError, match=r"the versions the station speaks \(1\.6\), not one of"):
        StationClient(v16.Charger(), "ws://127.0.0.1:9/CS001", boot=[boot16, BOOT])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"not 2: one per version"):
        StationClient(v201.Charger(), "ws://127.0.0.1:9/CS001", boot=[BOOT, BOOT])
    with pytest.raises(ValueError, match=r"not ocpp_fast\.v16\.messages\.HeartbeatRequest"):
        no_boot: Any = messages16.HeartbeatRequest()  # a type error too: BootT's bound
        StationClient(v201.Charger(), "ws://127.0.0.1:9/CS001", boot=no_boot)
    both = StationClient(
        {"ocpp2.0.1": v201.Charger(), "ocpp1.6": v16.Charger()},
        "ws://127.0.0.1:9/CS001",
        boot=[boot16, BOOT],
    )
    assert both.identity == "CS001"


def test_a_boot_mapping_by_subprotocol_says_to_give_a_list() -> None:
    """A station of several versions is given its handlers as a mapping by subprotocol, so
    ``boot=`` written the same way (``{"ocpp2.1": boot21, "ocpp2.0.1": boot201}``) was natural,
    and was refused with "not builtins.str" (its keys, iterated). The error says what to give:
    a list, each boot's version read from its class."""
    boot16 = messages16.BootNotificationRequest(charge_point_vendor="A", charge_point_model="M")
    mapped: Any = {"ocpp2.0.1": BOOT, "ocpp1.6": boot16}  # a type error too
    with pytest.raises(ValueError) as wrong:
        StationClient(
            {"ocpp2.0.1": v201.Charger(), "ocpp1.6": v16.Charger()},
            "ws://127.0.0.1:9/CS001",
            boot=mapped,
        )
    said = str(wrong.value)
    assert "not a mapping" in said and "boot=[" in said, said
    assert "builtins.str" not in said


@pytest.mark.usefixtures("backend")
def test_connect_takes_max_size_for_what_the_csms_sends() -> None:
    """``connect(max_size=...)``: the largest message the station takes from the CSMS (a
    larger one closes the connection with 1009). ``StationClient`` had the option and
    ``connect()`` did not pass it on: its stations always took 1 MiB, whatever firmware with
    less memory asked for."""

    async def main() -> None:
        csms = Csms()
        server = await serve(csms)
        url = f"ws://127.0.0.1:{server.port}/CS001"
        station = await connect(v201.Charger(), url, backoff=FAST, max_size=512)
        try:
            await until(lambda: "CS001" in server.connections)
            small = messages.DataTransferRequest(vendor_id="V", data="x" * 100)
            with pytest.raises(errors.OcppError):  # answered (NotImplemented): it got through
                await server.call("CS001", small, timeout=5)
            big = messages.DataTransferRequest(vendor_id="V", data="x" * 1000)
            with pytest.raises(ConnectionError):
                await server.call("CS001", big, timeout=5)
            await until(lambda: csms.events[-1][0] == "disconnect")
            assert csms.events[-1][1].startswith("closed by the station (1009")
        finally:
            await station.close()
            await server.close()

    run(main)


@pytest.mark.usefixtures("backend")
def test_a_cancelled_station_drops_its_socket() -> None:
    """A client cancelled rather than closed (``asyncio.run`` ending with the station still
    connected cancels its tasks) drops its socket: on picows it stayed open with no task to
    read it, the CSMS saw the station connected until its pings went unanswered, and the
    interpreter's exit finalized it with "Error in sys.excepthook" on stderr."""

    async def main() -> None:
        csms = Csms()
        server = await serve(csms, ping_interval=None)  # only the socket can tell it went
        url = f"ws://127.0.0.1:{server.port}/CS001"
        station = await connect(v201.Charger(), url, backoff=FAST, ping_interval=None)
        try:
            await until(lambda: "CS001" in server.connections)
            runner = station._runner
            assert runner is not None
            runner.cancel()
            await asyncio.wait([runner])
            await until(lambda: "CS001" not in server.connections)
            assert csms.events[-1] == ("disconnect", "connection lost")
        finally:
            await server.close()

    run(main)


@pytest.mark.skipif(importlib.util.find_spec("picows") is None, reason="picows not installed")
def test_a_station_left_connected_at_exit_leaves_stderr_clean(tmp_path: Path) -> None:
    """The symptom: a script whose ``asyncio.run`` returns with a picows station connected
    printed "Error in sys.excepthook:" at exit."""
    script = tmp_path / "left.py"
    script.write_text(
        "import asyncio\n"
        "from ocpp_fast import v201\n"
        "from ocpp_fast.transport import connect, serve\n"
        "async def main() -> None:\n"
        "    server = await serve(v201.ChargeSystem(), backend='picows')\n"
        "    url = f'ws://127.0.0.1:{server.port}/CS001'\n"
        "    await connect(v201.Charger(), url, backend='picows')\n"
        "asyncio.run(main())\n",
        encoding="utf-8",
    )
    ran = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert ran.returncode == 0 and ran.stderr == "", ran.stderr


@pytest.mark.usefixtures("backend")
def test_a_close_while_the_first_connection_opens_ends_both() -> None:
    """``close()`` while ``start()`` is still opening the first connection (a firmware stopped
    during its start) waited for the opening's timeout, or for ever for a link that opened
    after close() looked for one. Now the handshake is cut short: close() returns, ``start()``
    returns with no connection, the socket is closed at once, and a closed client refuses to
    start again. (picows kept the socket open until its own handshake timeout, 5 s: the CSMS
    saw a station connected that long after it was closed.)"""

    async def main() -> None:
        asked, gone = asyncio.Event(), asyncio.Event()

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")  # the upgrade request, never answered
            asked.set()
            await reader.read()  # b"" once the station's end of the socket is closed
            gone.set()
            writer.close()

        listener = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        station = StationClient(v201.Charger(), f"ws://127.0.0.1:{port}/CS001")
        try:
            starting = asyncio.create_task(station.start())
            await asyncio.wait_for(asked.wait(), 10)
            await asyncio.wait_for(station.close(), 30)
            await asyncio.wait_for(starting, 10)
            assert station.connection is None and station.connects == 0
            await asyncio.wait_for(gone.wait(), 2)  # picows: only after 5 s
            with pytest.raises(RuntimeError, match="was closed"):
                await station.start()
        finally:
            listener.close()
            await listener.wait_closed()

    run(main)


@pytest.mark.parametrize("sender", ["csms", "station"])
@pytest.mark.parametrize("carrier", ["picows", "websockets", "memory"])
def test_a_message_over_max_size_is_one_warning_on_every_carrier_both_ways(
    carrier: str, sender: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A message over its receiver's ``max_size`` closes the connection with 1009 and is said
    in one WARNING naming the station, by whichever side cut the other off: the CSMS's line
    for a station's message, and now the station's for a CSMS's, the same on every carrier.
    In memory (``via=``) and on websockets the station logged nothing but the INFO
    "disconnected" line, and on picows a WARNING without the station's identity."""
    station_takes, csms_takes = (512, 2**20) if sender == "csms" else (2**20, 512)

    async def main() -> None:
        server: CsmsServer
        if carrier == "memory":
            server = memory = await serve_in_memory(Csms(), max_size=csms_takes)
            url = "ws://csms.test/CS001"
            station = await connect(
                v201.Charger(), url, backoff=FAST, max_size=station_takes, via=memory
            )
        else:
            server = await serve(Csms(), backend=carrier, max_size=csms_takes)
            url = f"ws://127.0.0.1:{server.port}/CS001"
            station = await connect(
                v201.Charger(), url, backoff=FAST, max_size=station_takes, backend=carrier
            )
        try:
            await until(lambda: "CS001" in server.connections)
            big = messages.DataTransferRequest(vendor_id="V", data="x" * 1000)
            if sender == "csms":
                with pytest.raises(ConnectionError):
                    await server.call("CS001", big, timeout=5)
            else:
                with pytest.raises(errors.TooBigForCsms):
                    await station.call(big, timeout=5)
        finally:
            await station.close()
            await server.close()

    with caplog.at_level(logging.INFO, logger="ocpp_fast"):
        run(main)
    said = [
        (r.name, r.levelname, r.getMessage())
        for r in caplog.records
        if r.levelno >= logging.WARNING
    ]
    assert len(said) == 1, said
    name, level, text = said[0]
    assert (name, level) == ("ocpp_fast.transport", "WARNING")
    assert text.startswith("CS001: closing the connection: ") and text.endswith(" (1009)"), text
    assert "512" in text, text


@pytest.mark.usefixtures("backend")
def test_a_wss_url_without_ssl_takes_the_systems_default_context() -> None:
    """``wss://`` with no ``ssl=`` is TLS with the system's trusted CAs, on both backends, as
    with ``ssl=ssl.create_default_context()``: websockets raised ``ValueError: ssl=None is
    incompatible with a wss:// URI`` (an ``ssl=None`` the firmware never wrote), and picows,
    taking a default of its own, raised a ``ConnectionResetError`` with no words for a port
    without TLS, with "--- Logging error ---" on stderr."""

    async def attempt(url: str, tls: ssl.SSLContext | None) -> OSError:
        with pytest.raises(OSError) as failed:
            await connect(v201.Charger(), url, backoff=FAST, ssl=tls)
        return failed.value

    async def main() -> None:
        server = await serve(v201.ChargeSystem(), limits=Limits(handshake_timeout=0.3))
        url = f"wss://127.0.0.1:{server.port}/CS1"  # a port without TLS
        try:
            given = await attempt(url, ssl.create_default_context())
            default = await attempt(url, None)
        finally:
            await server.close()
        assert (type(default), str(default)) == (type(given), str(given))

    run(main)


@pytest.mark.usefixtures("backend")
def test_a_binary_frame_from_the_csms_closes_with_1003_on_every_backend(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """OCPP-J is text frames only: a station refuses a CSMS's binary frame as our servers
    refuse a station's, closing with 1003 and one WARNING naming itself. On websockets the
    station answered the CALL in it (its messages are read as bytes, both kinds alike), on
    picows it closed with 1003 and logged a line without its identity."""
    from websockets.exceptions import ConnectionClosed
    from websockets.frames import Close

    seen: list[object] = []

    async def binary_call(websocket: Any) -> None:
        await websocket.send(b'[2,"b1","Heartbeat",{}]')  # a CALL, in a binary frame
        try:
            seen.append(await asyncio.wait_for(websocket.recv(), 5))
        except ConnectionClosed as closed:
            seen.append(closed.rcvd)

    async def main() -> None:
        csms = await _one_connection_csms(binary_call)
        port = csms.sockets[0].getsockname()[1]
        try:
            station = await connect(v201.Charger(), f"ws://127.0.0.1:{port}/CS001", backoff=FAST)
            try:
                await until(lambda: bool(seen), 5)
            finally:
                await station.close()
        finally:
            csms.close()
            await csms.wait_closed()

    with caplog.at_level(logging.INFO, logger="ocpp_fast"):
        run(main)
    [closed] = seen
    assert isinstance(closed, Close), seen
    assert (closed.code, closed.reason) == (1003, "OCPP-J uses text frames only")
    said = [(r.name, r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= 30]
    assert said == [("ocpp_fast.transport", "WARNING", "CS001: closing with 1003: a binary frame")]
