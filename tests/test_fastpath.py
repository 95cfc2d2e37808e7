"""The compiled dispatch path (``_dispatch_c``) and its pure twin (``_dispatch_py``).

Both take the same frames to the same replies, byte for byte, and those are the
general path's replies (a sans-I/O Protocol, the codec, ``result_frame``); every
case the path steps aside from (an error, an async handler, an invalid response,
a payload only tolerance accepts, an id in hand) ends as the general path ends it.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from types import ModuleType
from typing import Any

import msgspec
import pytest
from conftest import DISPATCH_TWINS, compiled_expected
from frame_outcomes import mix_frames
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocpp_fast import _dispatch_py, errors, v16, v201
from ocpp_fast._awaitless import finish_at_once
from ocpp_fast._fastpath import HandlerRan, fast_dispatch_class, fast_routes, pure_twins
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.bench import fast_responses
from ocpp_fast.dispatch import CallContext, OcppHandler
from ocpp_fast.metrics import Metrics
from ocpp_fast.tolerance import Tolerance
from ocpp_fast.v201 import messages

pytestmark = pytest.mark.usefixtures("dispatch_twin")  # handle and feed: both twins


def _twins() -> list[ModuleType]:
    found: list[ModuleType] = [_dispatch_py]
    try:
        from ocpp_fast import _dispatch_c
    except ImportError:
        return found
    return [*found, _dispatch_c]


TWINS = _twins()
MIX = mix_frames()
NOW = datetime.datetime(2026, 11, 24, 12, tzinfo=datetime.UTC)
RESPONSES = fast_responses()
seen: list[tuple[Any, CallContext]] = []


class Csms(v201.ChargeSystem):
    """Prebuilt answers for the mix; a context-taking Heartbeat; odd handlers for the rest."""

    def boot_notification(self, request: Any) -> Any:
        return RESPONSES["BootNotification"]

    def heartbeat(self, request: Any, context: CallContext) -> Any:
        seen.append((request, context))
        return messages.HeartbeatResponse(current_time=NOW)

    def status_notification(self, request: Any) -> Any:
        return RESPONSES["StatusNotification"]

    def authorize(self, request: Any) -> Any:
        if request.id_token.id_token == "raise":
            raise errors.SecurityError("no such card", {"card": "raise"})
        if request.id_token.id_token == "crash":
            raise KeyError("a bug")
        if request.id_token.id_token == "wrong":
            return messages.HeartbeatResponse(current_time=NOW)  # the wrong type
        if request.id_token.id_token == "naive":  # the right type, an invalid value
            return messages.AuthorizeResponse(id_token_info="nope")  # type: ignore[arg-type]
        return RESPONSES["Authorize"]

    def transaction_event(self, request: Any) -> Any:
        return RESPONSES["TransactionEvent"]

    def meter_values(self, request: Any) -> Any:
        return RESPONSES["MeterValues"]

    def notify_report(self, request: Any) -> Any:
        return RESPONSES["NotifyReport"]

    def security_event_notification(self, request: Any) -> Any:
        async def later() -> Any:  # a plain method handing back an awaitable
            return RESPONSES["SecurityEventNotification"]

        return later()

    async def data_transfer(self, request: Any) -> Any:
        return await ready(RESPONSES["DataTransfer"])  # awaits (never suspending): a task's


async def ready(value: Any) -> Any:
    """``value``, from a coroutine that never suspends (a handler awaiting it is still async)."""
    return value


def general(handler: Any, frame: bytes | str, identity: str = "CS1") -> bytes | None:
    """The general path's reply: a Protocol of its own, the codec, ``result_frame``."""
    answered: bytes | None = finish_at_once(handler.handle_async(frame, identity))
    return answered


def authorize(token: str, message_id: str = "a1") -> bytes:
    payload = {"idToken": {"idToken": token, "type": "ISO14443"}}
    return msgspec.json.encode([2, message_id, "Authorize", payload])


def test_the_live_implementation_is_compiled_when_expected() -> None:
    module = fast_dispatch_class().__module__
    assert module == ("ocpp_fast._dispatch_c" if compiled_expected() else "ocpp_fast._dispatch_py")


def test_the_twins_of_handle_and_feed_under_test_are_the_ones_asked_for(
    dispatch_twin: str,
) -> None:
    for cls, method in ((OcppHandler, "handle"), (AsyncConnection, "feed")):
        pure = pure_twins.get((cls, method))
        compiled = pure is not None and getattr(cls, method) is not pure
        assert compiled == (dispatch_twin == "compiled")


def test_the_twin_under_handle_and_feed_is_the_one_asked_for(dispatch_twin: str) -> None:
    """``python`` runs the whole pure path: the pure ``FastDispatch`` under ``handle`` and
    ``feed`` too (the fixture put the Python entry points back alone, and the compiled
    ``FastDispatch`` still did their work: only ``OCPP_FAST_NO_EXTENSIONS=1`` ran the pure one)."""
    expected = "ocpp_fast._dispatch_c" if dispatch_twin == "compiled" else "ocpp_fast._dispatch_py"
    csms = Csms()
    assert csms.handle(b'[2,"hb-1","Heartbeat",{}]', "CS1") is not None
    assert csms._handle_path is not None
    assert type(csms._handle_path[1]).__module__ == expected
    written: list[bytes] = []
    connection = AsyncConnection(Csms(), write=written.append, identity="CS1")
    connection.feed(b'[2,"hb-2","Heartbeat",{}]')
    assert type(connection._fast).__module__ == expected
    assert written == [b'[3,"hb-2",{"currentTime":"2026-11-24T12:00:00Z"}]']


@pytest.mark.skipif(not compiled_expected(), reason="the pure build has no compiled twin")
def test_the_compiled_twins_of_handle_and_feed_are_installed_where_built() -> None:
    from ocpp_fast import _dispatch_c

    assert DISPATCH_TWINS == ["compiled", "python"]
    assert pure_twins[OcppHandler, "handle"] is not _dispatch_c.handle
    assert pure_twins[AsyncConnection, "feed"] is not _dispatch_c.feed
    assert pure_twins[OcppHandler, "handle"].__module__ == OcppHandler.__module__
    assert pure_twins[AsyncConnection, "feed"].__module__ == AsyncConnection.__module__


@pytest.mark.parametrize("twin", TWINS, ids=[t.IMPLEMENTATION for t in TWINS])
def test_every_mix_frame_gets_the_general_paths_reply(twin: ModuleType) -> None:
    csms = Csms()
    fast = twin.FastDispatch(csms, fast_routes(Csms), CallContext)
    concluded = 0
    for frame in MIX:
        outcome = fast.answer(frame, "CS1")
        if type(outcome) is bytes:
            concluded += 1
            assert outcome == general(csms, frame), frame
        elif isinstance(outcome, HandlerRan) and asyncio.iscoroutine(outcome.result):
            outcome.result.close()
        assert csms.handle(frame, "CS1") == general(csms, frame)
    assert concluded >= 9  # all but the async DataTransfer and the awaitable's action


@pytest.mark.parametrize("twin", TWINS, ids=[t.IMPLEMENTATION for t in TWINS])
def test_a_handler_with_context_gets_identity_id_and_peer(twin: ModuleType) -> None:
    peer = object()
    fast = twin.FastDispatch(Csms(), fast_routes(Csms), CallContext, peer)
    seen.clear()
    reply = fast.answer(b'[2,"hb-7","Heartbeat",{}]', "CS9")
    assert reply == b'[3,"hb-7",{"currentTime":"2026-11-24T12:00:00Z"}]'
    ((request, context),) = seen
    assert type(request) is messages.HeartbeatRequest
    assert context == CallContext("CS9", "hb-7", peer)  # type: ignore[arg-type]


@pytest.mark.parametrize("twin", TWINS, ids=[t.IMPLEMENTATION for t in TWINS])
def test_message_ids_are_copied_as_their_json(twin: ModuleType) -> None:
    """Every id character the scan lets through is written as msgspec writes it."""
    fast = twin.FastDispatch(Csms(), fast_routes(Csms), CallContext)
    printable = [chr(c) for c in range(0x20, 0x7F) if chr(c) not in '"\\']
    for start in range(0, len(printable), 30):
        message_id = "".join(printable[start : start + 30])
        frame = msgspec.json.encode([2, message_id, "StatusNotification", {}])[:-3]
        frame += b'{"timestamp":"2026-11-24T12:00:00Z","connectorStatus":"Available",'
        frame += b'"evseId":1,"connectorId":1}]'
        reply = fast.answer(frame, "CS1")
        assert reply == msgspec.json.encode([3, message_id, {}]), message_id


@pytest.mark.parametrize("twin", TWINS, ids=[t.IMPLEMENTATION for t in TWINS])
@pytest.mark.parametrize(
    ("token", "result_type", "error_type"),
    [
        ("raise", type(None), errors.SecurityError),
        ("crash", type(None), KeyError),
        ("wrong", messages.HeartbeatResponse, type(None)),
        ("naive", messages.AuthorizeResponse, type(None)),
    ],
)
def test_what_the_handler_did_wrong_is_left_to_the_general_code(
    twin: ModuleType, token: str, result_type: type, error_type: type
) -> None:
    csms = Csms()
    fast = twin.FastDispatch(csms, fast_routes(Csms), CallContext)
    ran = fast.answer(authorize(token), "CS1")
    assert isinstance(ran, HandlerRan)
    assert (ran.call.message_id, ran.call.action) == ("a1", "Authorize")
    assert type(ran.result) is result_type and type(ran.error) is error_type
    assert ran.started == 0.0  # no metrics here
    assert csms.handle(authorize(token), "CS1") == general(csms, authorize(token))


@pytest.mark.parametrize("twin", TWINS, ids=[t.IMPLEMENTATION for t in TWINS])
def test_with_metrics_the_start_is_read_on_perf_counters_clock(twin: ModuleType) -> None:
    """The general code times the rest with ``perf_counter() - started``: the compiled
    path's clock, read in C, must be that one."""
    connection, _ = _connection(Metrics())
    fast = twin.FastDispatch(
        connection.handler, fast_routes(Csms), CallContext, connection, connection.protocol
    )
    before = time.perf_counter()
    ran = fast.answer(authorize("raise"), "CS1")
    after = time.perf_counter()
    assert isinstance(ran, HandlerRan)
    assert before <= ran.started <= after


PLUS_TWO = datetime.timezone(datetime.timedelta(hours=2))
BOOTS = {  # a response, and whether it is valid (the plan vouches only for the first)
    "utc": (NOW, 300, None, True),
    "offset": (NOW.astimezone(PLUS_TWO), 300, None, True),
    "naive": (NOW.replace(tzinfo=None), 300, None, False),
    "bool": (NOW, True, None, False),
    "nested": (NOW, 300, "r" * 21, False),
    "nested-ok": (NOW, 300, "r" * 20, True),
}


class BootCsms(v201.ChargeSystem):
    """A BootNotification answered as its request's ``chargingStation.model`` says."""

    def boot_notification(self, request: Any) -> Any:
        when, interval, reason, _ = BOOTS[request.charging_station.model]
        info = (
            msgspec.UNSET if reason is None else v201.datatypes.StatusInfoType(reason_code=reason)
        )
        return messages.BootNotificationResponse(
            current_time=when,
            interval=interval,
            status=v201.enums.RegistrationStatusEnumType.ACCEPTED,
            status_info=info,
        )


@pytest.mark.parametrize("twin", TWINS, ids=[t.IMPLEMENTATION for t in TWINS])
@pytest.mark.parametrize("case", sorted(BOOTS))
def test_a_response_the_plan_cannot_vouch_for_is_decoded_as_before(
    twin: ModuleType, case: str
) -> None:
    """The response plan spares the decode only of what it knows to be valid: the rest is
    checked by the decode, valid or not, and answered as the general path answers it."""
    csms = BootCsms()
    fast = twin.FastDispatch(csms, fast_routes(BootCsms), CallContext)
    station = {"model": case, "vendorName": "V"}
    frame = msgspec.json.encode(
        [2, "b1", "BootNotification", {"chargingStation": station, "reason": "PowerUp"}]
    )
    outcome = fast.answer(frame, "CS1")
    valid = BOOTS[case][3]
    assert (type(outcome) is bytes) is valid
    if not valid:
        assert isinstance(outcome, HandlerRan) and outcome.error is None
    expected = general(csms, frame)
    assert expected is not None
    assert (msgspec.json.decode(expected)[0] == 3) is valid
    assert csms.handle(frame, "CS1") == expected
    if valid:
        assert outcome == expected


def test_errors_and_invalid_responses_answer_the_spec_codes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    csms = Csms()
    codes = {}
    for token in ("raise", "crash", "wrong", "naive"):
        reply = csms.handle(authorize(token))
        assert reply is not None
        codes[token] = msgspec.json.decode(reply)[2]
    assert codes == {
        "raise": "SecurityError",
        "crash": "InternalError",
        "wrong": "InternalError",
        "naive": "InternalError",
    }
    assert "our Authorize response to a1 is invalid" in caplog.text


@pytest.mark.parametrize("twin", TWINS, ids=[t.IMPLEMENTATION for t in TWINS])
def test_async_handlers_and_unreadable_frames_are_not_taken(twin: ModuleType) -> None:
    fast = twin.FastDispatch(Csms(), fast_routes(Csms), CallContext)
    data_transfer = b'[2,"d1","DataTransfer",{"vendorId":"V"}]'
    for frame in (
        data_transfer,  # an async def handler that awaits
        b'[2,"x1","Reset",{"type":"Immediate"}]',  # not ours to handle
        b'[2,"x2","NoSuchAction",{}]',
        b'[3,"r1",{}]',
        b'[2,"e\\"1","Heartbeat",{}]',  # an escaped id: the reference path's
        b'[2,"b1","Heartbeat",{"customData":1}]',  # refused by the strict decode
        b'[2,"b2","StatusNotification",{"timestamp":"2026-11-24 12:00:00Z",'
        b'"connectorStatus":"Available","evseId":1,"connectorId":1}]',  # lenient date-time
        b"not json",
        '[2,"s1","Heartbeat",{}]\ud800',  # text that is no UTF-8
    ):
        refused = isinstance(frame, bytes) and frame.startswith(b'[2,"b')  # by the strict decode
        expected = False if refused else None
        assert fast.answer(frame, "CS1") is expected, frame
    assert "NoSuchAction" not in fast_routes(Csms)  # names a peer makes up are not kept


@pytest.mark.parametrize("twin", TWINS, ids=[t.IMPLEMENTATION for t in TWINS])
def test_text_frames_are_answered_too(twin: ModuleType) -> None:
    fast = twin.FastDispatch(Csms(), fast_routes(Csms), CallContext)
    assert fast.answer('[2,"t1","Heartbeat",{}]', "CS1") == (
        b'[3,"t1",{"currentTime":"2026-11-24T12:00:00Z"}]'
    )


def test_a_payload_only_tolerance_accepts_is_repaired_by_the_general_path() -> None:
    class Tolerant(Csms):
        tolerance = Tolerance.ALL

    frame = b'[2,"n1","Heartbeat",{"customData":null}]'
    assert Tolerant().handle(frame) == b'[3,"n1",{"currentTime":"2026-11-24T12:00:00Z"}]'
    refused = Csms().handle(frame)
    assert refused is not None and msgspec.json.decode(refused)[2] == "TypeConstraintViolation"


def test_a_plain_method_handing_back_an_awaitable_is_awaited_in_handle() -> None:
    frame = b'[2,"s1","SecurityEventNotification",{"type":"T","timestamp":"2026-11-24T12:00:00Z"}]'
    assert Csms().handle(frame) == b'[3,"s1",{}]'


def test_the_frame_log_reads_as_on_the_general_path(caplog: pytest.LogCaptureFixture) -> None:
    csms = Csms()
    frame = b'[2,"l1","Heartbeat",{}]'
    logged = []
    with caplog.at_level(logging.DEBUG, logger="ocpp_fast.frames"):
        for compiled_path in (True, False):
            caplog.clear()
            reply = csms.handle(frame, "CS1") if compiled_path else general(csms, frame)
            logged.append([(r.direction, r.identity, r.frame) for r in caplog.records])  # type: ignore[attr-defined]
    assert logged[0] == logged[1] == [("<", "CS1", frame), (">", "CS1", reply)]


def _connection(metrics: Metrics | None = None) -> tuple[AsyncConnection, list[bytes]]:
    written: list[bytes] = []
    connection = AsyncConnection(Csms(), write=written.append, identity="CS1")
    connection.protocol.metrics = metrics
    return connection, written


def test_feed_counts_frames_and_handler_times_when_metrics_are_kept() -> None:
    metrics = Metrics()
    connection, written = _connection(metrics)
    assert connection.feed(
        b'[2,"m1","StatusNotification",{"timestamp":"2026-11-24T12:00:00Z",'
        b'"connectorStatus":"Available","evseId":1,"connectorId":1}]'
    )
    assert connection.feed(authorize("raise"))
    assert written == [
        b'[3,"m1",{}]',
        b'[4,"a1","SecurityError","no such card",{"card":"raise"}]',
    ]
    assert metrics.frames[("in", "call", "StatusNotification")] == 1
    assert metrics.frames[("out", "result", "StatusNotification")] == 1
    assert metrics.frames[("in", "call", "Authorize")] == 1
    assert metrics.errors[("out", "SecurityError")] == 1
    times = metrics.handler_times()
    assert sum(times["StatusNotification"][0]) == 1 and sum(times["Authorize"][0]) == 1


def test_a_protocol_subclass_s_metrics_property_counts_a_plain_call() -> None:
    """A plain CALL's ``_answer`` reads the protocol's ``metrics`` at ``Protocol``'s slot
    on the compiled path (``test_cluster_gated`` holds the offsets); a subclass that makes
    ``metrics`` a property is read through it, and its metrics count the CALL."""
    from ocpp_fast.protocol import Protocol

    class Watched(Protocol):
        """Its metrics a property, each read counted."""

        __slots__ = ("kept", "reads")

        @property
        def metrics(self) -> Metrics | None:
            self.reads += 1
            return self.kept

        @metrics.setter
        def metrics(self, value: Metrics | None) -> None:
            self.kept, self.reads = value, 0

    class WatchedCsms(Csms):
        def protocol(self, identity: str = "") -> Protocol:
            made = Watched(self.version, self.side, identity=identity, handled=self._handled)
            made.metrics = Metrics()
            return made

    written: list[bytes] = []
    connection = AsyncConnection(WatchedCsms(), write=written.append, identity="CS1")
    watched = connection.protocol
    assert isinstance(watched, Watched)
    assert connection.feed(b'[2,"h1","Heartbeat",{}]')
    assert written and watched.reads >= 1
    assert watched.kept is not None
    assert watched.kept.frames[("in", "call", "Heartbeat")] == 1


def test_feed_keeps_an_id_in_hand_while_its_awaitable_runs() -> None:
    async def scenario() -> list[bytes]:
        connection, written = _connection()
        frame = (
            b'[2,"dup","SecurityEventNotification",{"type":"T","timestamp":"2026-11-24T12:00:00Z"}]'
        )
        connection.feed(frame)
        connection.feed(b'[2,"dup","Heartbeat",{}]')  # the same id, still in hand
        await connection.drain(1)
        return written

    written = asyncio.run(scenario())
    assert [msgspec.json.decode(w)[:3] for w in written] == [
        [4, "dup", "RpcFrameworkError"],
        [3, "dup", {}],
    ]


def test_feed_without_a_writer_queues_the_reply_for_the_sender() -> None:
    sent: list[bytes] = []

    async def send(frame: bytes) -> None:
        sent.append(frame)

    async def scenario() -> None:
        connection = AsyncConnection(Csms(), send, identity="CS1")
        await connection.receive(b'[2,"q1","Heartbeat",{}]')

    asyncio.run(scenario())
    assert sent == [b'[3,"q1",{"currentTime":"2026-11-24T12:00:00Z"}]']


def test_a_16_call_takes_the_path_and_answers_as_the_general_one() -> None:
    class Csms16(v16.ChargeSystem):
        def meter_values(self, request: Any) -> Any:
            return v16.messages.MeterValuesResponse()

    routes = fast_routes(Csms16)
    assert routes["MeterValues"] is not None
    frame = (
        b'[2,"v1","MeterValues",{"connectorId":1,"meterValue":'
        b'[{"timestamp":"2026-11-24T12:00:00Z","sampledValue":[{"value":"1"}]}]}]'
    )
    assert Csms16().handle(frame) == general(Csms16(), frame) == b'[3,"v1",{}]'


FUZZ = settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@FUZZ
@given(
    st.sampled_from(MIX), st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=3)
)
def test_twins_and_the_general_path_agree_on_mutated_frames(
    frame: bytes, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(frame)
    for where, byte in flips:
        data[where % len(data)] = byte
    mutated = bytes(data)
    csms = Csms()
    for live in (False, True):  # of handle(), of a connection (an async handler's CALL decoded)
        outcomes = []
        for twin in TWINS:
            protocol = csms.protocol("CS1") if live else None
            fast = twin.FastDispatch(csms, fast_routes(Csms), CallContext, None, protocol)
            outcome = fast.answer(mutated, "CS1")
            if isinstance(outcome, HandlerRan):
                if asyncio.iscoroutine(outcome.result):
                    outcome.result.close()
                outcome = ("ran", outcome.call, type(outcome.result), type(outcome.error))
            outcomes.append((outcome, protocol and protocol._handling))
            if type(outcome) is bytes:
                assert outcome == general(csms, mutated)
        assert all(o == outcomes[0] for o in outcomes)
    assert csms.handle(mutated, "CS1") == general(csms, mutated)


@pytest.mark.parametrize("twin", TWINS, ids=[t.IMPLEMENTATION for t in TWINS])
def test_the_frame_log_follows_its_logger_as_it_changes(
    twin: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    """The compiled twin reads the logger's own state: on, off, disabled, on again."""
    fast = twin.FastDispatch(Csms(), fast_routes(Csms), CallContext)
    frames_log = logging.getLogger("ocpp_fast.frames")
    counts = []
    for level, disabled in (
        (logging.DEBUG, False),
        (logging.INFO, False),
        (logging.DEBUG, True),
        (logging.DEBUG, False),
    ):
        caplog.clear()
        with caplog.at_level(level, logger="ocpp_fast.frames"):
            frames_log.disabled = disabled
            try:
                assert fast.answer(b'[2,"f1","Heartbeat",{}]', "CS1") is not None
            finally:
                frames_log.disabled = False
        counts.append(len([r for r in caplog.records if r.name == "ocpp_fast.frames"]))
    assert counts == [2, 0, 0, 2]


def test_a_handler_that_wraps_invoke_handler_sees_every_call() -> None:
    """An ``invoke_handler`` of one's own (in the class or on the instance) keeps the
    general path: every CALL reaches it, on ``handle`` and on a live connection."""
    calls: list[str] = []

    class Traced(Csms):
        def invoke_handler(self, route: Any, call: Any, identity: str, peer: Any) -> Any:
            calls.append(call.action)
            return super().invoke_handler(route, call, identity, peer)

    patched = Csms()
    original = patched.invoke_handler

    def traced(route: Any, call: Any, identity: str, peer: Any) -> Any:
        calls.append(call.action)
        return original(route, call, identity, peer)

    patched.invoke_handler = traced  # type: ignore[method-assign]
    frame = b'[2,"w1","Heartbeat",{}]'
    expected = b'[3,"w1",{"currentTime":"2026-11-24T12:00:00Z"}]'
    for handler in (Traced(), patched):
        assert handler.handle(frame) == expected
        written: list[bytes] = []
        AsyncConnection(handler, write=written.append).feed(frame)
        assert written == [expected]
    assert calls == ["Heartbeat"] * 4
