"""How real backends on ``ocpp`` touch the ChargePoint: a test per pattern, ``ocpp`` vs compat.

A survey of public code written for the ``ocpp`` package (read through code search,
December 2026; none of it is copied here: each test is our own code written to the
pattern) found the ways below of using the ChargePoint. Every test builds the same
subclass twice, on ``ocpp`` 2.1.0's class and on ``ocpp_fast.compat``'s, drives both
with the same frames, and requires the same frames out, the same handler arguments
and the same results, except the wire differences pinned by name in
``tests/test_compat_behaviour.py`` (listed in ``docs/how-to/migrate-from-ocpp.md``).

Sources read, and the patterns each uses (the test named in brackets):

- lbbrhzn/ocpp, the Home Assistant integration (custom_components/ocpp/chargepoint.py,
  ocppv201.py; tests/test_quirks.py, tests/test_ocpp_timeout_and_queue.py):
  the generic ``ocpp.charge_point.ChargePoint``, ``super().__init__(id, connection, 10)``,
  then ``_call``, ``_call_result`` and ``_ocpp_version`` set from the chosen version
  [generic_class, ..._version_changed_between_messages]; 2.1 on 2.0.1's call and
  call_result modules [v21_on_v201_dataclasses]; every route's
  ``_skip_schema_validation`` rewritten per instance [route_map_flags];
  ``_get_specific_response`` overridden to raise a CALLERROR
  [get_specific_response_override]; ``_handle_call`` overridden to answer a
  NotImplementedError itself [handle_call_override]; ``start()`` gathering
  ``super().start()`` with a monitor, ``_connection`` replaced on reconnect
  [start_with_monitor_and_reconnect]; one function under several ``@on``
  [stacked_on]; the instance's class swapped for a vendor mixin [class_swap];
  ``_response_timeout`` read by the backend [response_timeout_changed].
- joaonpsilva/IT_CSMS (CSMS/ocpp_server/chargePointRepr.py): ``self.logger`` replaced
  after ``super().__init__`` by a per-station logger [logger_replaced].
- mobilityhouse/ocpp examples/v16/charge_point.py, yomanthunder/ocpp_tool_chain main.py,
  tarkanaktan/ocpp_v2.0.1 main.py: the station side, a versioned subclass calling
  ``self.call()`` while ``start()`` reads (``asyncio.gather``), a positional
  ``response_timeout`` [station_side].
- dwarg/py-ocpp server.py: a versioned class per ``websockets.serve`` connection
  (``examples/ocpp_package_backend.py`` and its test).
- Excerpts the search returned without naming their repository: FastAPI/Starlette
  adapters (``recv`` over ``receive_text``, ``send`` over ``send_text``), i.e. a
  connection that is only ``recv()``/``send()`` [QueueConnection, used throughout;
  aiohttp_connection on a real aiohttp server];
  a ``start()`` replaced by the backend's own ``recv`` loop [own_start_loop]; a
  ``route_message`` parsing the raw frame first and an EVerest test CSMS recording
  its message history [route_message_and_send_overrides]; an Easee charger class on
  the generic base (1.6 only, as generic_class); predictable ids through
  ``_unique_id_generator`` [unique_id_generator].

Not supported (see the migration page): ``_ocpp_version = "2.0"`` (OCPP 2.0, which
ocpp_fast does not model), and looking into the drop-in's own ``_response_queue`` with
nobody awaiting ``get()`` on it (``qsize()``, ``get_nowait()``: compat matches responses
by id and fills its own queue only for a reader waiting on it; a queue the backend set
itself is filled as ``ocpp`` fills it, tests/test_compat_setup.py). Starlette is not
installed here; its adapter is the same ``recv()``/``send()`` object as the aiohttp one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import itertools
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import aiohttp
import aiohttp.web
import msgspec
import ocpp.charge_point
import ocpp.exceptions
import ocpp.v16
import ocpp.v201
import pytest
from compat_pair import MODULES, Sink, ocpp_validating_inline
from ocpp.messages import CallError
from ocpp.routing import on
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as call_result201

from ocpp_fast import compat
from ocpp_fast.compat import v201

NOW = "2026-11-30T10:00:00Z"
BOOT = {
    "1.6": '[2,"b1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]',
    "2.0.1": '[2,"b1","BootNotification",{"reason":"PowerUp",'
    '"chargingStation":{"model":"M","vendorName":"V"}}]',
}
BOOT["2.1"] = BOOT["2.0.1"]
HEARTBEAT = '[2,"h1","Heartbeat",{}]'
GENERIC = (ocpp.charge_point.ChargePoint, compat.ChargePoint)
VERSIONED = (ocpp.v201.ChargePoint, v201.ChargePoint)


@pytest.fixture(autouse=True)
def _inline_validation() -> Iterator[None]:
    with ocpp_validating_inline():
        yield


def on_both(
    bases: tuple[type[Any], type[Any]], scenario: Callable[[type[Any]], Coroutine[Any, Any, Any]]
) -> tuple[Any, Any]:
    """``(ocpp's observation, compat's)`` of one scenario run on each base."""
    return asyncio.run(scenario(bases[0])), asyncio.run(scenario(bases[1]))


def parsed(frames: list[str]) -> list[Any]:
    return [msgspec.json.decode(frame) for frame in frames]


def modules(label: str) -> tuple[Any, Any]:
    package = f"ocpp.{MODULES[label]}"
    return importlib.import_module(f"{package}.call"), importlib.import_module(
        f"{package}.call_result"
    )


class QueueConnection:
    """What ``ocpp`` needs of a connection: ``recv()`` and ``send()`` (here over asyncio
    queues, as FastAPI/Starlette or aiohttp adapters are over their sockets)."""

    CLOSED = "<closed>"

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[str] = asyncio.Queue()
        self.sent: list[str] = []

    async def recv(self) -> str:
        message = await self.inbox.get()
        if message == self.CLOSED:
            raise ConnectionError("closed")
        return message

    async def send(self, message: str) -> None:
        self.sent.append(message)

    async def sent_count(self, count: int) -> None:
        while len(self.sent) < count:
            await asyncio.sleep(0.001)


async def answer_call(charge_point: Any, sink: Any, call: Awaitable[Any], reply: Any) -> Any:
    """Run ``call`` and answer the CALL it sends with ``reply`` (a payload, or a CALLERROR
    frame given as a list); returns what ``call`` returned or raised."""
    before = len(sink.sent)
    waiting = asyncio.ensure_future(call)
    while len(sink.sent) == before and not waiting.done():
        await asyncio.sleep(0.001)
    if not waiting.done():
        message_id = json.loads(sink.sent[-1])[1]
        frame = reply(message_id) if callable(reply) else [3, message_id, reply]
        await charge_point.route_message(json.dumps(frame))
    try:
        return await waiting
    except Exception as error:  # the outcome compared
        return error


def generic_backend(base: type[Any]) -> type[Any]:
    """The generic class, its version chosen per connection from the subprotocol."""

    class Backend(base):  # type: ignore[misc]
        def __init__(self, id: str, connection: Any, subprotocol: str) -> None:
            super().__init__(id, connection, 10)
            self.use(subprotocol.removeprefix("ocpp"))
            self.booted: list[Any] = []
            numbers = itertools.count(1)
            self._unique_id_generator = lambda: f"c{next(numbers)}"

        def use(self, label: str) -> None:
            self._call, self._call_result = modules(label)
            self._ocpp_version = label

        @on("BootNotification")
        def on_boot_notification(self, **kwargs: Any) -> Any:
            self.booted.append(kwargs)
            return self._call_result.BootNotification(
                current_time=NOW, interval=10, status="Accepted"
            )

        @on("Heartbeat")
        def on_heartbeat(self) -> Any:
            return self._call_result.Heartbeat(current_time=NOW)

    return Backend


@pytest.mark.parametrize("subprotocol", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
def test_generic_class(subprotocol: str) -> None:
    label = subprotocol.removeprefix("ocpp")

    async def scenario(base: type[Any]) -> Any:
        sink = Sink()
        backend = generic_backend(base)("CP-1", sink, subprotocol)
        await backend.route_message(BOOT[label])
        await backend.route_message(HEARTBEAT)
        reset = backend._call.Reset(type="Hard" if label == "1.6" else "Immediate")
        result = await answer_call(backend, sink, backend.call(reset), {"status": "Accepted"})
        return parsed(sink.sent), backend.booted, result

    theirs, ours = on_both(GENERIC, scenario)
    assert ours == theirs
    assert ours[0][0][0] == 3 and ours[2].status == "Accepted"


def test_generic_class_version_changed_between_messages() -> None:
    async def scenario(base: type[Any]) -> Any:
        sink = Sink()
        backend = generic_backend(base)("CP-1", sink, "ocpp1.6")
        await backend.route_message(BOOT["1.6"])
        backend.use("2.0.1")
        await backend.route_message(BOOT["2.0.1"])
        await backend.route_message(BOOT["1.6"])  # now a 2.0.1 payload is expected
        backend.use("2.1")
        await backend.route_message(BOOT["2.1"])
        return parsed(sink.sent), backend.booted

    theirs, ours = on_both(GENERIC, scenario)
    assert ours[1] == theirs[1]
    assert [frame[:3] for frame in ours[0]] == [frame[:3] for frame in theirs[0]]
    # the 1.6 payload read as 2.0.1 is refused: its fields are unknown there
    assert [frame[0] for frame in ours[0]] == [3, 3, 4, 3]
    assert ours[0][2][2] == "FormatViolation" and len(ours[1]) == 3


def test_v21_on_v201_dataclasses() -> None:
    """``_ocpp_version = "2.1"`` with 2.0.1's call/call_result modules (same action names)."""

    async def scenario(base: type[Any]) -> Any:
        sink = Sink()
        backend = generic_backend(base)("CP-1", sink, "ocpp2.1")
        backend._call, backend._call_result = call201, call_result201
        await backend.route_message(BOOT["2.1"])
        result = await answer_call(
            backend, sink, backend.call(call201.Reset(type="OnIdle")), {"status": "Scheduled"}
        )
        return parsed(sink.sent), type(result).__module__, result

    theirs, ours = on_both(GENERIC, scenario)
    assert ours == theirs and ours[1] == "ocpp.v201.call_result"


def test_route_map_flags() -> None:
    """Every route's ``_skip_schema_validation`` rewritten per instance after init."""

    def backend_class(base: type[Any]) -> type[Any]:
        class Backend(generic_backend(base)):  # type: ignore[misc]
            def __init__(self, id: str, connection: Any, skip: bool) -> None:
                super().__init__(id, connection, "ocpp1.6")
                for action in self.route_map:
                    self.route_map[action]["_skip_schema_validation"] = skip

        return Backend

    incomplete = '[2,"b2","BootNotification",{"chargePointVendor":"V"}]'

    async def scenario(base: type[Any]) -> Any:
        sink = Sink()
        lax, strict = (
            backend_class(base)("CP-1", sink, True),
            backend_class(base)("CP-2", sink, False),
        )
        await lax.route_message(incomplete)
        await strict.route_message(incomplete)
        return parsed(sink.sent), lax.booted, strict.booted

    theirs, ours = on_both(GENERIC, scenario)
    assert ours[0][0] == theirs[0][0] and ours[0][0][0] == 3  # accepted unvalidated
    assert ours[1] == theirs[1] == [{"charge_point_vendor": "V"}]
    assert ours[0][1][0] == theirs[0][1][0] == 4 and ours[2] == theirs[2] == []


def test_get_specific_response_override() -> None:
    """A CALLERROR raised even with ``suppress=True``, by overriding the response wait."""

    def backend_class(base: type[Any]) -> type[Any]:
        class Backend(base):  # type: ignore[misc]
            async def _get_specific_response(self, unique_id: Any, timeout: float) -> Any:
                response = await super()._get_specific_response(unique_id, timeout)
                if isinstance(response, CallError):
                    raise response.to_exception()
                return response

        return Backend

    async def scenario(base: type[Any]) -> Any:
        sink = Sink()
        backend = backend_class(base)("CP-1", sink)
        refused = await answer_call(
            backend,
            sink,
            backend.call(call201.Reset(type="Immediate")),
            lambda message_id: [4, message_id, "NotSupported", "no", {}],
        )
        accepted = await answer_call(
            backend, sink, backend.call(call201.Reset(type="Immediate")), {"status": "Accepted"}
        )
        return type(refused), refused.description, accepted

    theirs, ours = on_both(VERSIONED, scenario)
    assert ours == theirs and ours[0] is ocpp.exceptions.NotSupportedError


def test_handle_call_override() -> None:
    """``_handle_call`` answering a NotImplementedError itself: the override runs on both;
    the codes are the pinned difference (unknown action / known action without handler)."""

    def backend_class(base: type[Any]) -> type[Any]:
        class Backend(base):  # type: ignore[misc]
            caught = 0

            async def _handle_call(self, msg: Any) -> Any:
                try:
                    return await super()._handle_call(msg)
                except ocpp.exceptions.NotImplementedError as error:
                    type(self).caught += 1
                    await self._send(msg.create_call_error(error).to_json())
                    return None

            @on("Heartbeat")
            def on_heartbeat(self) -> Any:
                return call_result201.Heartbeat(current_time=NOW)

        return Backend

    async def scenario(base: type[Any]) -> Any:
        sink = Sink()
        cls = backend_class(base)
        backend = cls("CP-1", sink)
        for frame in (HEARTBEAT, '[2,"t","Teleport",{}]', '[2,"a","Authorize",{"idToken":{}}]'):
            await backend.route_message(frame)
        return [frame[:3] for frame in parsed(sink.sent)], cls.caught

    theirs, ours = on_both(VERSIONED, scenario)
    assert ours[0][0] == theirs[0][0] == [3, "h1", {"currentTime": NOW}]
    assert ours[0][1:] == [[4, "t", "NotImplemented"], [4, "a", "NotSupported"]]
    assert theirs[0][1:] == [[4, "t", "NotSupported"], [4, "a", "NotImplemented"]]
    assert ours[1] == theirs[1] == 1  # the override caught one NotImplementedError


def test_start_with_monitor_and_reconnect() -> None:
    """``start()`` gathers ``super().start()`` with a monitor; on reconnect the backend
    replaces ``_connection`` and starts again: answers go to the new connection."""

    def backend_class(base: type[Any]) -> type[Any]:
        class Backend(generic_backend(base)):  # type: ignore[misc]
            async def monitor(self) -> None:
                self.monitored = getattr(self, "monitored", 0) + 1

            async def start(self) -> None:
                try:
                    await asyncio.gather(super().start(), self.monitor())
                except ConnectionError:
                    self.closed = getattr(self, "closed", 0) + 1

        return Backend

    async def scenario(base: type[Any]) -> Any:
        first, second = QueueConnection(), QueueConnection()
        backend = backend_class(base)("CP-1", first, "ocpp2.0.1")
        running = asyncio.ensure_future(backend.start())
        first.inbox.put_nowait(BOOT["2.0.1"])
        await first.sent_count(1)
        first.inbox.put_nowait(QueueConnection.CLOSED)
        await running
        backend._connection = second
        running = asyncio.ensure_future(backend.start())
        second.inbox.put_nowait(HEARTBEAT)
        await second.sent_count(1)
        second.inbox.put_nowait(QueueConnection.CLOSED)
        await running
        return parsed(first.sent), parsed(second.sent), backend.monitored, backend.closed

    theirs, ours = on_both(GENERIC, scenario)
    assert ours == theirs and ours[2:] == (2, 2)
    assert [frame[1] for frame in ours[0] + ours[1]] == ["b1", "h1"]


def test_own_start_loop() -> None:
    """``start()`` replaced by the backend's own ``recv()`` loop around ``route_message``."""

    def backend_class(base: type[Any]) -> type[Any]:
        class Backend(generic_backend(base)):  # type: ignore[misc]
            async def start(self) -> None:
                while True:
                    try:
                        message = await self._connection.recv()
                    except ConnectionError:
                        return
                    await self.route_message(message)

        return Backend

    async def scenario(base: type[Any]) -> Any:
        connection = QueueConnection()
        backend = backend_class(base)("CP-1", connection, "ocpp1.6")
        for frame in (BOOT["1.6"], HEARTBEAT, QueueConnection.CLOSED):
            connection.inbox.put_nowait(frame)
        await backend.start()
        return parsed(connection.sent), backend.booted

    theirs, ours = on_both(GENERIC, scenario)
    assert ours == theirs and len(ours[0]) == 2


def test_route_message_and_send_overrides() -> None:
    """``route_message`` parsing and recording each raw frame before routing it, ``_send``
    recording each frame out (a test CSMS's message history)."""

    def backend_class(base: type[Any]) -> type[Any]:
        class Backend(generic_backend(base)):  # type: ignore[misc]
            def __init__(self, *args: Any) -> None:
                super().__init__(*args)
                self.history: list[tuple[str, Any]] = []

            async def route_message(self, raw_msg: Any) -> None:
                self.history.append(("in", json.loads(raw_msg)[0]))
                await super().route_message(raw_msg)

            async def _send(self, message: str) -> None:
                self.history.append(("out", json.loads(message)[0]))
                await super()._send(message)

        return Backend

    async def scenario(base: type[Any]) -> Any:
        sink = Sink()
        backend = backend_class(base)("CP-1", sink, "ocpp2.0.1")
        await backend.route_message(BOOT["2.0.1"])
        await answer_call(backend, sink, backend.call(call201.ClearCache()), {"status": "Accepted"})
        return backend.history, parsed(sink.sent)

    theirs, ours = on_both(GENERIC, scenario)
    assert ours[0] == theirs[0] == [("in", 2), ("out", 3), ("out", 2), ("in", 3)]
    assert ours[1][0] == theirs[1][0]


def test_logger_replaced(caplog: pytest.LogCaptureFixture) -> None:
    """``self.logger = logging.getLogger(self.id)`` after init: the lines go there."""

    def backend_class(base: type[Any]) -> type[Any]:
        class Backend(generic_backend(base)):  # type: ignore[misc]
            def __init__(self, *args: Any) -> None:
                super().__init__(*args)
                self.logger = logging.getLogger(f"station.{self.id}")

        return Backend

    async def scenario(base: type[Any]) -> Any:
        caplog.clear()
        backend = backend_class(base)("CP-7", Sink(), "ocpp2.0.1")
        await backend.route_message(BOOT["2.0.1"])
        await backend.route_message('[2,"x","BootNotification",{}]')  # refused
        return sorted({record.name for record in caplog.records})

    with caplog.at_level(logging.INFO):
        theirs, ours = on_both(GENERIC, scenario)
    assert ours == theirs == ["station.CP-7"]


def test_unique_id_generator() -> None:
    """A counter as ``_unique_id_generator`` (predictable ids, as ``ocpp`` suggests for tests)."""

    async def scenario(base: type[Any]) -> Any:
        sink = Sink()
        backend = base("CP-1", sink)
        counter = itertools.count(100)
        backend._unique_id_generator = functools.partial(next, counter)
        for _ in range(2):
            await answer_call(
                backend, sink, backend.call(call201.Heartbeat()), {"currentTime": NOW}
            )
        return [frame[1] for frame in parsed(sink.sent)]

    theirs, ours = on_both(VERSIONED, scenario)
    assert ours == theirs == ["100", "101"]


def test_response_timeout_changed() -> None:
    """``_response_timeout`` read (and here set) by the backend after init."""

    async def scenario(base: type[Any]) -> Any:
        backend = base("CP-1", Sink())
        backend._response_timeout = 0.02
        try:
            await backend.call(call201.Heartbeat())
        except TimeoutError as error:
            return type(error), "Waited 0.02s" in str(error)
        return None

    theirs, ours = on_both(VERSIONED, scenario)
    assert ours == theirs == (asyncio.TimeoutError, True)


def test_stacked_on() -> None:
    """One function under several ``@on``: routed as ``ocpp`` routes it (the outer one)."""

    def backend_class(base: type[Any]) -> type[Any]:
        class Backend(base):  # type: ignore[misc]
            @on("FirmwareStatusNotification")
            @on("LogStatusNotification")
            def acknowledge(self, **kwargs: Any) -> Any:
                return call_result201.FirmwareStatusNotification()

        return Backend

    frames = [
        '[2,"f","FirmwareStatusNotification",{"status":"Idle"}]',
        '[2,"l","LogStatusNotification",{"status":"Idle"}]',
    ]

    async def scenario(base: type[Any]) -> Any:
        sink = Sink()
        backend = backend_class(base)("CP-1", sink)
        for frame in frames:
            await backend.route_message(frame)
        return [frame[:2] for frame in parsed(sink.sent)], sorted(backend.route_map)

    theirs, ours = on_both(VERSIONED, scenario)
    assert ours == theirs and ours[0][0] == [3, "f"]


def test_class_swap() -> None:
    """The instance's class swapped for a vendor mixin at run time (after a BootNotification)."""

    def backend_class(base: type[Any]) -> type[Any]:
        class Backend(generic_backend(base)):  # type: ignore[misc]
            def interval(self) -> int:
                return 10

        class Quirky(Backend):
            def interval(self) -> int:
                return 99

            @on("Heartbeat")
            def on_heartbeat(self) -> Any:
                return self._call_result.Heartbeat(current_time="2000-01-01T00:00:00Z")

        Backend.quirky = Quirky
        return Backend

    async def scenario(base: type[Any]) -> Any:
        sink = Sink()
        backend = backend_class(base)("CP-1", sink, "ocpp2.0.1")
        await backend.route_message(HEARTBEAT)
        backend.__class__ = backend.quirky
        await backend.route_message(HEARTBEAT)  # route_map was built at init: old handler
        backend.route_map = ocpp.routing.create_route_map(backend)
        await backend.route_message(HEARTBEAT)
        return parsed(sink.sent), backend.interval()

    theirs, ours = on_both(GENERIC, scenario)
    assert ours == theirs
    assert [frame[2]["currentTime"] for frame in ours[0]] == [NOW, NOW, "2000-01-01T00:00:00Z"]


def test_station_side() -> None:
    """A station simulator: a versioned subclass sending BootNotification with ``call()``
    while ``start()`` reads, against a CSMS over a pair of queues (the CSMS is ``ocpp``'s)."""

    class Csms(ocpp.v16.ChargePoint):  # type: ignore[misc]
        @on("BootNotification")
        def on_boot_notification(self, **kwargs: Any) -> Any:
            return ocpp.v16.call_result.BootNotification(
                current_time=NOW, interval=300, status="Accepted"
            )

    def station_class(base: type[Any]) -> type[Any]:
        class Station(base):  # type: ignore[misc]
            async def boot(self) -> Any:
                request = ocpp.v16.call.BootNotification(
                    charge_point_model="Optimus", charge_point_vendor="Vendor"
                )
                return await self.call(request)

        return Station

    class Link(QueueConnection):
        def __init__(self) -> None:
            super().__init__()
            self.peer: Link | None = None

        async def send(self, message: str) -> None:
            await super().send(message)
            assert self.peer is not None
            self.peer.inbox.put_nowait(message)

    async def scenario(base: type[Any]) -> Any:
        station_end, csms_end = Link(), Link()
        station_end.peer, csms_end.peer = csms_end, station_end
        station = station_class(base)("CP_1", station_end, 5)
        station._unique_id_generator = lambda: "boot-1"
        reading = [
            asyncio.ensure_future(station.start()),
            asyncio.ensure_future(Csms("CP_1", csms_end).start()),
        ]
        response = await station.boot()
        for task in reading:
            task.cancel()
        await asyncio.gather(*reading, return_exceptions=True)
        return response, parsed(station_end.sent), parsed(csms_end.sent)

    from ocpp_fast.compat import v16

    theirs, ours = on_both((ocpp.v16.ChargePoint, v16.ChargePoint), scenario)
    assert ours == theirs and ours[0].status == "Accepted"


def test_call_lock_and_id_replaced(caplog: pytest.LogCaptureFixture) -> None:
    """The rest of the state ``ocpp`` reads lazily: a ``_call_lock`` shared with other code
    (held, the call waits for it) and ``id`` renamed after init (the log lines follow)."""

    async def scenario(base: type[Any]) -> Any:
        caplog.clear()
        sink = Sink()
        backend = base("CP-1", sink)
        backend._unique_id_generator = lambda: "l1"
        backend.id = "CP-renamed"
        shared = asyncio.Lock()
        backend._call_lock = shared
        await shared.acquire()
        waiting = asyncio.ensure_future(backend.call(call201.Heartbeat()))
        await asyncio.sleep(0.01)
        held = list(sink.sent)
        shared.release()
        result = await answer_call(backend, sink, waiting, {"currentTime": NOW})
        ids = {r.getMessage().split(":")[0] for r in caplog.records if r.name == "ocpp"}
        return held, parsed(sink.sent), result, ids

    with caplog.at_level(logging.INFO, logger="ocpp"):
        theirs, ours = on_both(VERSIONED, scenario)
    assert ours == theirs
    assert ours[0] == [] and ours[1] == [[2, "l1", "Heartbeat", {}]]
    assert ours[3] == {"CP-renamed"}


class AiohttpConnection:
    """An aiohttp server WebSocket given the ``recv()``/``send()`` ``ocpp`` expects (the
    adapter FastAPI/Starlette and aiohttp backends write)."""

    def __init__(self, websocket: Any) -> None:
        self.websocket = websocket

    async def recv(self) -> str:
        message = await self.websocket.receive()
        if message.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"websocket closed ({message.type})")
        text: str = message.data
        return text

    async def send(self, message: str) -> None:
        await self.websocket.send_str(message)


def test_aiohttp_connection() -> None:
    """A backend on an aiohttp server (real sockets on 127.0.0.1), not on websockets."""

    async def scenario(base: type[Any]) -> Any:
        backend_class = generic_backend(base)
        booted: list[Any] = []

        async def station_socket(request: Any) -> Any:
            websocket = aiohttp.web.WebSocketResponse(protocols=["ocpp1.6", "ocpp2.0.1"])
            await websocket.prepare(request)
            backend = backend_class(
                request.match_info["id"], AiohttpConnection(websocket), websocket.ws_protocol
            )
            with contextlib.suppress(ConnectionError):
                await backend.start()
            booted.extend(backend.booted)
            return websocket

        app = aiohttp.web.Application()
        app.router.add_get("/ocpp/{id}", station_socket)
        runner = aiohttp.web.AppRunner(app)
        await runner.setup()
        site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        replies = []
        try:
            async with aiohttp.ClientSession() as session:
                for subprotocol, label in (("ocpp1.6", "1.6"), ("ocpp2.0.1", "2.0.1")):
                    async with session.ws_connect(
                        f"http://127.0.0.1:{port}/ocpp/CP-{label}", protocols=[subprotocol]
                    ) as websocket:
                        await websocket.send_str(BOOT[label])
                        replies.append(json.loads(await websocket.receive_str()))
        finally:
            await runner.cleanup()
        return replies, booted

    theirs, ours = on_both(GENERIC, scenario)
    assert ours == theirs
    assert [reply[:2] for reply in ours[0]] == [[3, "b1"], [3, "b1"]] and len(ours[1]) == 2
