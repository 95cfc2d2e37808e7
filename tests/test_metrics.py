"""Prometheus metrics, scraped from the real endpoint of a running CSMS, on both backends."""

from __future__ import annotations

import asyncio
import datetime
import re
import urllib.request
from types import ModuleType

import pytest
import test_fastpath_send as fastpath_send
from my_test_charge_system import MyTestChargeSystem
from my_test_charger import MyTestCharger
from prometheus_client import CollectorRegistry, generate_latest
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from ocpp_fast._metric_cells import SENDS_IN
from ocpp_fast.metrics import Metrics
from ocpp_fast.tolerance import Tolerance
from ocpp_fast.transport import connect, serve
from ocpp_fast.transport.backend import BACKENDS
from ocpp_fast.v201 import datatypes, enums, messages

BOOT = messages.BootNotificationRequest(
    reason=enums.BootReasonEnumType.POWER_UP,
    charging_station=datatypes.ChargingStationType(model="M", vendor_name="V"),
)
NAIVE_STATUS = (
    '[2,"s1","StatusNotification",{"timestamp":"2026-11-30T10:00:00",'
    '"connectorStatus":"Available","evseId":1,"connectorId":1}]'
)


REMOTE_START = (
    '[2,"r1","RequestStartTransaction",'
    '{"idToken":{"idToken":"T1","type":"Central"},"remoteStartId":1}]'
)


class Tolerant(MyTestChargeSystem):
    tolerance = Tolerance.NAIVE_DATETIME


def scrape(port: int) -> dict[str, float]:
    """``/metrics`` as ``{'name{labels}': value}`` (labels as the exposition writes them)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    found = re.findall(r"^(ocpp_[^\s]+)\s+([0-9.e+-]+)$", text, re.MULTILINE)
    return {name: float(value) for name, value in found}


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_endpoint_counts_stations_frames_errors_repairs_and_handler_times(
    backend: str,
) -> None:
    async def session() -> tuple[dict[str, float], dict[str, float]]:
        server = await serve(Tolerant(), backend=backend, metrics_port=0)
        assert server.metrics_port is not None
        try:
            station = await connect(
                MyTestCharger(), f"ws://127.0.0.1:{server.port}/ocpp/CS001", backend=backend
            )
            await station.call(BOOT, timeout=5)
            await station.call(messages.HeartbeatRequest(), timeout=5)
            async with ws_connect(
                f"ws://127.0.0.1:{server.port}/ocpp/RAW1", subprotocols=[Subprotocol("ocpp2.0.1")]
            ) as raw:
                await raw.send('[2,"t1","Teleport",{}]')
                await raw.recv()
                await raw.send(NAIVE_STATUS)
                await raw.recv()
                await raw.send(REMOTE_START)  # an action the CSMS never receives
                await raw.recv()
                during = await asyncio.to_thread(scrape, server.metrics_port)
            await station.close()
            for _ in range(100):
                if not server.connections:
                    break
                await asyncio.sleep(0.02)
            after = await asyncio.to_thread(scrape, server.metrics_port)
            return during, after
        finally:
            await server.close()

    during, after = asyncio.run(asyncio.wait_for(session(), 20))
    assert during['ocpp_stations_connected{version="2.0.1"}'] == 2
    assert after['ocpp_stations_connected{version="2.0.1"}'] == 0
    key = 'ocpp_messages_total{action="%s",direction="%s",kind="%s"}'
    assert during[key % ("BootNotification", "in", "call")] == 1
    assert during[key % ("BootNotification", "out", "result")] == 1
    assert during[key % ("Heartbeat", "in", "call")] == 1
    assert during['ocpp_errors_total{code="NotImplemented",direction="out"}'] == 1
    assert during['ocpp_errors_total{code="NotSupported",direction="out"}'] == 1
    # an error counts under the action it answers; an unknown action is never a label
    assert during[key % ("RequestStartTransaction", "out", "error")] == 1
    assert during[key % ("", "out", "error")] == 1
    assert not any("Teleport" in name for name in during)
    assert during['ocpp_deviations_total{kind="naive_datetime"}'] == 1
    assert during['ocpp_handler_seconds_count{action="Heartbeat"}'] == 1
    assert during['ocpp_handler_seconds_count{action="StatusNotification"}'] == 1
    assert not any(name.startswith("ocpp_queued_messages") for name in during)  # a station's


def test_the_endpoint_stops_with_the_server() -> None:
    async def session() -> int:
        server = await serve(MyTestChargeSystem(), metrics_port=0)
        port = server.metrics_port
        assert port is not None
        assert "ocpp_stations_connected" in await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
        )
        await server.close()
        return port

    port = asyncio.run(session())
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_no_metrics_no_prometheus() -> None:
    """Without metrics the package never imports prometheus-client (an optional extra)."""
    import subprocess
    import sys

    code = (
        "import asyncio, sys\n"
        "from ocpp_fast.transport import serve\n"
        "from ocpp_fast import v201\n"
        "class C(v201.ChargeSystem): pass\n"
        "async def main():\n"
        "    s = await serve(C())\n"
        "    await s.close()\n"
        "asyncio.run(main())\n"
        "print('prometheus_client' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_station_counts_its_queue_and_frames() -> None:
    from ocpp_fast.metrics import Metrics
    from ocpp_fast.transport import StationClient

    metrics = Metrics()
    station = StationClient(
        {"ocpp2.0.1": MyTestCharger()},
        "ws://127.0.0.1:1/ocpp/Q1",
        queue=":memory:",
        metrics=metrics,
    )
    event = messages.TransactionEventRequest(
        event_type=enums.TransactionEventEnumType.STARTED,
        timestamp=datetime.datetime(2026, 11, 30, tzinfo=datetime.UTC),
        trigger_reason=enums.TriggerReasonEnumType.AUTHORIZED,
        seq_no=0,
        transaction_info=datatypes.TransactionType(transaction_id="T1"),
    )

    async def run() -> None:
        station.put(event)

    asyncio.run(run())
    assert metrics.queued == 1
    assert station.queue is not None
    station.queue.remove(station.queue.messages()[0].position)
    assert metrics.queued == 0


def test_an_error_received_counts_under_the_action_of_our_call() -> None:
    from ocpp_fast.metrics import Metrics
    from ocpp_fast.protocol import Protocol, Side
    from ocpp_fast.v201 import VERSION

    protocol = Protocol(VERSION, Side.STATION)
    protocol.metrics = Metrics()
    message_id = protocol.call(messages.HeartbeatRequest())
    protocol.receive(f'[4,"{message_id}","InternalError","down",{{}}]')
    protocol.receive('[4,"nobody-asked","InternalError","late",{}]')
    frames = protocol.metrics.frames
    assert frames["in", "error", "Heartbeat"] == 1
    assert frames["in", "error", ""] == 1
    assert protocol.metrics.errors["in", "InternalError"] == 2


def test_a_response_that_fails_its_check_counts_as_the_error_that_went_out() -> None:
    from ocpp_fast.metrics import Metrics
    from ocpp_fast.protocol import CallReceived, Protocol, Side
    from ocpp_fast.v201 import VERSION

    protocol = Protocol(VERSION, Side.CSMS)
    protocol.metrics = Metrics()
    (event,) = protocol.receive('[2,"h1","Heartbeat",{}]')
    assert isinstance(event, CallReceived)
    protocol.respond("h1", "Heartbeat", messages.StatusNotificationResponse())  # wrong type
    assert protocol.data_to_send()[0].startswith(b'[4,"h1","InternalError"')
    frames = protocol.metrics.frames
    assert frames["out", "error", "Heartbeat"] == 1
    assert frames["out", "result", "Heartbeat"] == 0
    assert protocol.metrics.errors["out", "InternalError"] == 1


class _Clock:
    """Read in pairs, a handler's start then its end: the n-th handler takes
    ``durations[n]`` seconds, whichever path reads the clock."""

    def __init__(self, durations: list[float]) -> None:
        self.durations = durations
        self.reads = 0

    def __call__(self) -> float:
        handler, is_end = divmod(self.reads, 2)
        self.reads += 1
        return 1000.0 * (handler + 1) + (self.durations[handler] if is_end else 0.0)


class _Answering(MyTestChargeSystem):
    """Plain handlers answering at once, one raising: the compiled path's and the general's."""

    def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        return messages.HeartbeatResponse(
            current_time=datetime.datetime(2026, 12, 1, 12, tzinfo=datetime.UTC)
        )

    def authorize(self, request: messages.AuthorizeRequest) -> messages.AuthorizeResponse:
        if request.id_token.id_token == "raise":
            from ocpp_fast import errors

            raise errors.SecurityError("no such card")
        return messages.AuthorizeResponse(
            id_token_info=datatypes.IdTokenInfoType(
                status=enums.AuthorizationStatusEnumType.ACCEPTED
            )
        )


def _authorize(message_id: str, token: str) -> bytes:
    return (
        f'[2,"{message_id}","Authorize",{{"idToken":{{"idToken":"{token}","type":"ISO14443"}}}}]'
    ).encode()


_FRAMES = [
    (b'[2,"h1","Heartbeat",{}]', 0.0001),  # the compiled path, first bucket
    (b'[2,"h2","Heartbeat",{}]', 0.003),
    (b'[2,"h\\/3","Heartbeat",{}]', 0.7),  # an escaped id: the general path, same series
    (_authorize("a1", "T1"), 0.02),
    (_authorize("a2", "T2"), 7.0),  # +Inf
    (_authorize("a3", "raise"), 0.2),  # ran on the compiled path, answered by the general
    (b'[2,"t1","Teleport",{}]', None),  # no handler: no time
]


def _exposition(twin: ModuleType, monkeypatch: pytest.MonkeyPatch) -> str:
    """``/metrics`` served after the frames went through a live connection on ``twin``."""
    from ocpp_fast import aio, dispatch
    from ocpp_fast.metrics import Metrics

    clock = _Clock([seconds for _, seconds in _FRAMES if seconds is not None])
    monkeypatch.setattr(dispatch, "fast_dispatch_class", lambda: twin.FastDispatch)
    monkeypatch.setattr(aio, "perf_counter", clock)  # the general path's reads
    twin.use_clock(clock)
    metrics = Metrics()
    try:
        written: list[bytes] = []
        connection = aio.AsyncConnection(_Answering(), write=written.append, identity="CS1")
        connection.protocol.metrics = metrics
        for frame, _ in _FRAMES:
            connection.feed(frame)
        assert [reply[:8] for reply in written] == [
            b'[3,"h1",',
            b'[3,"h2",',
            b'[3,"h/3"',
            b'[3,"a1",',
            b'[3,"a2",',
            b'[4,"a3",',
            b'[4,"t1",',
        ]
        assert clock.reads == 12  # every handler timed, none twice
        return _served(metrics)
    finally:
        twin.use_clock(None)


def _served(metrics: Metrics) -> str:
    """The ``ocpp_`` lines of ``/metrics`` as ``metrics`` serves them (the process's series,
    CPU, memory, GC, differ from one scrape to the next)."""
    port = metrics.serve_http(0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            text: str = reply.read().decode()
    finally:
        metrics.stop_http()
    return "\n".join(line for line in text.splitlines() if "ocpp_" in line)


@pytest.mark.usefixtures("dispatch_twin")  # feed: both twins
def test_both_dispatch_twins_expose_the_same_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    from ocpp_fast import _dispatch_py

    twins: list[ModuleType] = [_dispatch_py]
    try:
        from ocpp_fast import _dispatch_c
    except ImportError:  # a pure install: the pure twin against the figures alone
        pass
    else:
        twins.append(_dispatch_c)
    texts = [_exposition(twin, monkeypatch) for twin in twins]
    assert all(text == texts[0] for text in texts)
    lines = set(texts[0].splitlines())
    heartbeat, authorize = 'action="Heartbeat"', 'action="Authorize"'
    assert {
        f'ocpp_messages_total{{{heartbeat},direction="in",kind="call"}} 3.0',
        f'ocpp_messages_total{{{heartbeat},direction="out",kind="result"}} 3.0',
        f'ocpp_messages_total{{{authorize},direction="in",kind="call"}} 3.0',
        f'ocpp_messages_total{{{authorize},direction="out",kind="result"}} 2.0',
        f'ocpp_messages_total{{{authorize},direction="out",kind="error"}} 1.0',
        'ocpp_messages_total{action="",direction="out",kind="error"} 1.0',
        'ocpp_errors_total{code="SecurityError",direction="out"} 1.0',
        f'ocpp_handler_seconds_bucket{{{heartbeat},le="0.0005"}} 1.0',
        f'ocpp_handler_seconds_bucket{{{heartbeat},le="0.005"}} 2.0',
        f'ocpp_handler_seconds_bucket{{{heartbeat},le="0.5"}} 2.0',
        f'ocpp_handler_seconds_bucket{{{heartbeat},le="1.0"}} 3.0',
        f"ocpp_handler_seconds_count{{{heartbeat}}} 3.0",
        f'ocpp_handler_seconds_bucket{{{authorize},le="0.01"}} 0.0',
        f'ocpp_handler_seconds_bucket{{{authorize},le="0.025"}} 1.0',
        f'ocpp_handler_seconds_bucket{{{authorize},le="0.25"}} 2.0',
        f'ocpp_handler_seconds_bucket{{{authorize},le="5.0"}} 2.0',
        f'ocpp_handler_seconds_bucket{{{authorize},le="+Inf"}} 3.0',
    } <= lines, texts[0]
    assert not any('action="Teleport"' in line for line in lines)


# 2.1's SENDs, each with its handler's time (None: no handler runs)
_SENDS: list[tuple[bytes | str, float | None]] = [
    (fastpath_send.send("s1"), 0.0001),  # the compiled path, first bucket
    (fastpath_send.send("s2").decode(), 0.003),  # text
    (b'[6,"s\\/3"' + fastpath_send.send()[7:], 0.7),  # an escaped id: the general path
    (fastpath_send.send("e1", fastpath_send.PAYLOAD.replace(b'"id":1', b'"id":7')), 0.02),
    (fastpath_send.send("h1", action="Heartbeat", payload=b"{}"), None),  # dropped
    (fastpath_send.send("s4", b"{}"), None),  # refused by the strict decode: dropped
    (fastpath_send.send("s5"), 7.0),  # +Inf
]
_TAKEN = 4
"""The SENDs of ``_SENDS`` the compiled path counts (but the escaped id's: the general
path's, with the two it drops)."""


def _sends_served(
    twin: ModuleType, handler: fastpath_send.Csms, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, float]:
    """``/metrics`` after ``_SENDS`` went through a live connection of ``handler`` on
    ``twin``, and the SENDs its cell counted."""
    from ocpp_fast import aio, dispatch

    clock = _Clock([seconds for _, seconds in _SENDS if seconds is not None])
    monkeypatch.setattr(dispatch, "fast_dispatch_class", lambda: twin.FastDispatch)
    monkeypatch.setattr(aio, "perf_counter", clock)  # the general path's reads
    twin.use_clock(clock)
    metrics = Metrics()

    async def feed() -> None:
        connection = aio.AsyncConnection(handler, write=written.append, identity="CS1")
        connection.protocol.metrics = metrics
        for frame, _ in _SENDS:  # each one's handler done before the next comes
            assert connection.feed(frame)
            while connection.handling or connection.waiting:
                await connection.drain(5)
                await asyncio.sleep(0)

    written: list[bytes] = []
    try:
        asyncio.run(feed())
    finally:
        twin.use_clock(None)
    assert written == []  # a SEND is never answered
    assert clock.reads == 10  # every handler timed, none twice
    cell = metrics.cells.get(fastpath_send.ACTION)
    return _served(metrics), 0.0 if cell is None else cell[SENDS_IN]


@pytest.mark.usefixtures("dispatch_twin")  # feed: both twins
@pytest.mark.parametrize(
    ("fast", "general"),
    [
        (fastpath_send.Csms, fastpath_send.General),
        (fastpath_send.AsyncCsms, fastpath_send.AsyncGeneral),
    ],
    ids=["plain", "async"],
)
def test_both_dispatch_twins_count_sends_in_cells_and_expose_them_as_the_general_path(
    fast: type[fastpath_send.Csms],
    general: type[fastpath_send.Csms],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The SENDs the compiled path takes are counted in their action's cell (not by a
    ``Metrics.frame`` call), and ``/metrics`` reads the same, byte for byte, on both twins
    and on the general path (which counts every SEND by ``Metrics.frame``)."""
    from ocpp_fast import _dispatch_py

    twins: list[ModuleType] = [_dispatch_py]
    try:
        from ocpp_fast import _dispatch_c
    except ImportError:  # a pure install: the pure twin against the general path alone
        pass
    else:
        twins.append(_dispatch_c)
    expected, counted = _sends_served(_dispatch_py, general(), monkeypatch)
    assert counted == 0  # the general path: by Metrics.frame
    for twin in twins:
        text, counted = _sends_served(twin, fast(), monkeypatch)
        assert counted == _TAKEN, twin
        assert text == expected, twin
    lines = set(expected.splitlines())
    action = f'action="{fastpath_send.ACTION}"'
    assert {
        f'ocpp_messages_total{{{action},direction="in",kind="send"}} 5.0',  # the valid ones
        f'ocpp_handler_seconds_bucket{{{action},le="0.0005"}} 1.0',
        f'ocpp_handler_seconds_bucket{{{action},le="0.005"}} 2.0',
        f'ocpp_handler_seconds_bucket{{{action},le="0.025"}} 3.0',
        f'ocpp_handler_seconds_bucket{{{action},le="1.0"}} 4.0',
        f'ocpp_handler_seconds_bucket{{{action},le="5.0"}} 4.0',
        f"ocpp_handler_seconds_count{{{action}}} 5.0",
    } <= lines, expected


@pytest.mark.parametrize("backend", BACKENDS)
def test_connections_and_disconnections_are_counted_by_version_and_cause(backend: str) -> None:
    """A flapping fleet is invisible in ``ocpp_stations_connected`` (a station that left and
    came back between two scrapes shows nothing): ``ocpp_connections_total{version}`` counts
    each connection, and ``ocpp_disconnections_total{cause}`` why each ended, every cause at 0
    from the start so that the first one is a rise ``rate()`` sees."""
    metrics = Metrics()
    protocols = [Subprotocol("ocpp2.0.1")]

    async def session() -> str:
        server = await serve(MyTestChargeSystem(), backend=backend, metrics=metrics)
        url = f"ws://127.0.0.1:{server.port}/ocpp/"

        async def until(count: int) -> None:
            while len(server.connections) != count:
                await asyncio.sleep(0.01)

        at_start = generate_latest(metrics.registry).decode()
        async with ws_connect(url + "CS1", subprotocols=protocols):
            await until(1)
        await until(0)  # closed by the station
        older = await ws_connect(url + "CS2", subprotocols=protocols)
        await until(1)
        newer = await ws_connect(url + "CS2", subprotocols=protocols)  # replaces the older
        async with ws_connect(url + "CS3", subprotocols=protocols):
            await until(2)
            await server.disconnect("CS3", 1008, "revoked")  # closed by the CSMS
        lost = await ws_connect(url + "CS4", subprotocols=protocols)
        await until(2)
        lost.transport.abort()  # no close frame: lost
        await until(1)
        await server.close()  # CS2's newer connection: shut down
        await older.close()
        await newer.close()
        return at_start

    at_start = asyncio.run(asyncio.wait_for(session(), 20))
    causes = ("station", "csms", "lost", "replaced", "shutdown")
    assert 'ocpp_connections_total{version="2.0.1"} 0.0' in at_start
    for cause in causes:
        assert f'ocpp_disconnections_total{{cause="{cause}"}} 0.0' in at_start, cause
    scraped = generate_latest(metrics.registry).decode()
    assert 'ocpp_connections_total{version="2.0.1"} 5.0' in scraped
    for cause in causes:
        assert f'ocpp_disconnections_total{{cause="{cause}"}} 1.0' in scraped, cause
    assert 'ocpp_stations_connected{version="2.0.1"} 0.0' in scraped


def test_the_endpoint_serves_the_process_series_an_operator_alerts_on() -> None:
    """``process_open_fds`` against ``process_max_fds`` (each station holds a socket: the limit
    a fleet runs into), memory, CPU and the GC, as prometheus-client's global registry serves
    them, in each server's own registry; a registry passed in is left as given."""

    async def session() -> dict[str, float]:
        server = await serve(MyTestChargeSystem(), metrics_port=0)
        other = await serve(MyTestChargeSystem(), metrics_port=0)  # its own registry: no clash
        assert server.metrics_port is not None
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=5
            ) as reply:
                text = reply.read().decode()
        finally:
            await other.close()
            await server.close()
        found = re.findall(r"^((?:process|python)_[^\s{]+)\S*\s+([0-9.e+-]+)$", text, re.M)
        return {name: float(value) for name, value in found}

    series = asyncio.run(asyncio.wait_for(session(), 20))
    assert series["process_open_fds"] >= 3
    assert series["process_max_fds"] >= series["process_open_fds"]
    assert series["process_resident_memory_bytes"] > 0
    assert "process_cpu_seconds_total" in series
    assert "python_gc_collections_total" in series
    assert "python_info" in series
    given = CollectorRegistry()
    Metrics(given)
    assert "process_open_fds" not in generate_latest(given).decode()
