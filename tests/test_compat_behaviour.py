"""ocpp_fast.compat, behaviour by behaviour, next to the ``ocpp`` package where they differ.

Each deliberate difference of the docs' table (explanation/compat-differences.md) is
pinned here by name, with what ``ocpp`` 2.1.0 itself does beside it; everything else
is ``ocpp``'s API as its users write against it: ``@on``/``@after``, ``call()``, ``route_map``,
``start()``, integer ids, ``call_unique_id``, ``install()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import importlib
import logging
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar, NamedTuple

import msgspec
import ocpp.charge_point
import ocpp.exceptions
import ocpp.messages
import ocpp.v16
import ocpp.v21
import ocpp.v201
import pytest
from compat_pair import Sink, charge_point_classes, ocpp_validating_inline
from ocpp.charge_point import camel_to_snake_case
from ocpp.routing import after, on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as call_result16
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as call_result21
from ocpp.v21 import datatypes as datatypes21
from ocpp.v201 import call, call_result

from ocpp_fast import compat
from ocpp_fast.compat import v16, v21, v201

NOW = "2026-11-30T10:00:00Z"
BOOT = (
    '[2,"b1","BootNotification",{"reason":"PowerUp",'
    '"chargingStation":{"model":"M","vendorName":"V"}}]'
)


@pytest.fixture(autouse=True)
def _inline_validation() -> Iterator[None]:
    with ocpp_validating_inline():
        yield


def sent_by(cls: type[Any], frames: list[str], **replies: Any) -> list[Any]:
    """Route frames through a fresh ChargePoint of ``cls``; the JSON it sent."""

    async def run() -> list[Any]:
        sink = Sink()
        charge_point = cls("CP-1", sink)
        charge_point.replies.update(replies)
        for frame in frames:
            await charge_point.route_message(frame)
        return [msgspec.json.decode(text) for text in sink.sent]

    return asyncio.run(run())


PAIRS = {
    label: charge_point_classes(label, ["BootNotification", "Heartbeat"])
    for label in ("1.6", "2.0.1", "2.1")
}


def test_unknown_action_is_not_implemented_and_a_known_one_without_handler_not_supported() -> None:
    for label in ("1.6", "2.0.1", "2.1"):
        theirs_cls, ours_cls = PAIRS[label]
        known = "Reset" if label != "1.6" else "ClearCache"
        frames = ['[2,"u1","Teleport",{}]', f'[2,"u2","{known}",{{}}]']
        ours = sent_by(ours_cls, frames)
        theirs = sent_by(theirs_cls, frames)
        assert [f[:3] for f in ours] == [[4, "u1", "NotImplemented"], [4, "u2", "NotSupported"]]
        if label == "2.1":  # ocpp 2.1.0 never answers an unhandled call
            assert theirs == []
        else:  # ocpp swaps the two codes
            assert [f[:3] for f in theirs] == [
                [4, "u1", "NotSupported"],
                [4, "u2", "NotImplemented"],
            ]


def test_not_supported_comes_before_any_payload_complaint() -> None:
    _, ours_cls = PAIRS["2.0.1"]
    (frame,) = sent_by(ours_cls, ['[2,"r1","Reset",{"type":"Sideways","extra":1}]'])
    assert frame[:3] == [4, "r1", "NotSupported"]


@pytest.mark.parametrize(
    ("label", "raw", "code"),
    [
        ("2.0.1", "not json", "RpcFrameworkError"),
        ("2.0.1", '{"a":1}', "RpcFrameworkError"),
        ("2.0.1", '[7,"m","Heartbeat",{}]', "MessageTypeNotSupported"),
        ("1.6", "not json", "FormationViolation"),
        ("1.6", '[2,"m","Heartbeat"]', "FormationViolation"),
        ("2.1", "[2, true]", "RpcFrameworkError"),
    ],
)
def test_a_malformed_frame_is_answered_where_ocpp_stays_silent(
    label: str, raw: str, code: str
) -> None:
    theirs_cls, ours_cls = PAIRS[label]
    (frame,) = sent_by(ours_cls, [raw])
    assert frame[0] == 4 and frame[2] == code
    assert sent_by(theirs_cls, [raw]) == []


def test_a_message_id_longer_than_36_is_refused_where_ocpp_takes_it() -> None:
    theirs_cls, ours_cls = PAIRS["2.0.1"]
    raw = '[2,"' + "x" * 37 + '","Heartbeat",{}]'
    reply = call_result.Heartbeat(current_time=NOW)
    assert sent_by(ours_cls, [raw], Heartbeat=reply) == [
        [4, "-1", "RpcFrameworkError", "message id longer than 36 characters", {}]
    ]
    assert sent_by(theirs_cls, [raw], Heartbeat=reply)[0][0] == 3


def test_unknown_message_types_are_ignored_on_16_and_21() -> None:
    for label in ("1.6", "2.1"):
        assert sent_by(PAIRS[label][1], ['[7,"m","Heartbeat",{}]']) == []


def test_integer_ids_are_echoed_with_their_json_type_as_ocpp_does() -> None:
    reply = call_result.Heartbeat(current_time=NOW)
    theirs_cls, ours_cls = PAIRS["2.0.1"]
    ours = sent_by(ours_cls, ['[2,1,"Heartbeat",{}]', '[2,2,"Heartbeat",{"x":1}]'], Heartbeat=reply)
    theirs = sent_by(theirs_cls, ['[2,1,"Heartbeat",{}]'], Heartbeat=reply)
    assert ours[0] == theirs[0] == [3, 1, {"currentTime": NOW}]
    assert ours[1][:3] == [4, 2, "FormatViolation"]


def test_handler_errors_use_the_version_spelling() -> None:
    theirs_cls, ours_cls = PAIRS["1.6"]
    error = ocpp.exceptions.FormatViolationError(description="bad", details={"k": 1})
    frame = '[2,"h1","Heartbeat",{}]'
    assert sent_by(ours_cls, [frame], Heartbeat=error) == [
        [4, "h1", "FormationViolation", "bad", {"k": 1}]
    ]
    assert sent_by(theirs_cls, [frame], Heartbeat=error) == [
        [4, "h1", "FormatViolation", "bad", {"k": 1}]
    ]
    oops = sent_by(ours_cls, [frame], Heartbeat=RuntimeError("secret"))
    assert oops[0][:3] == [4, "h1", "InternalError"] and "secret" not in str(oops)


class Busy(ocpp.exceptions.OCPPError):  # type: ignore[misc]
    """A backend's own error class, with a code the spec's table does not have."""

    code = "Busy"
    default_description = "the station's slot is taken"


def test_a_handler_error_of_a_code_outside_the_table_is_generic_error() -> None:
    """``ocpp`` sends the class's code whatever it is; the receiver of a code outside
    the table cannot read it, so the drop-in sends GenericError, words kept."""
    theirs_cls, ours_cls = PAIRS["2.0.1"]
    frame = '[2,"h1","Heartbeat",{}]'
    error = Busy(details={"retryAfter": 5})
    assert sent_by(ours_cls, [frame], Heartbeat=error) == [
        [4, "h1", "GenericError", "the station's slot is taken", {"retryAfter": 5}]
    ]
    assert sent_by(theirs_cls, [frame], Heartbeat=error) == [
        [4, "h1", "Busy", "the station's slot is taken", {"retryAfter": 5}]
    ]


def test_an_invalid_handler_response_is_our_internal_error() -> None:
    theirs_cls, ours_cls = PAIRS["2.0.1"]
    bad = call_result.Heartbeat(current_time=12)
    assert sent_by(ours_cls, ['[2,"h","Heartbeat",{}]'], Heartbeat=bad)[0][:3] == [
        4,
        "h",
        "InternalError",
    ]
    # ocpp blames the station with its validation code for its own bad response
    assert sent_by(theirs_cls, ['[2,"h","Heartbeat",{}]'], Heartbeat=bad)[0][:3] == [
        4,
        "h",
        "TypeConstraintViolation",
    ]
    for not_a_dataclass in (None, {"currentTime": NOW}):
        answer = sent_by(ours_cls, ['[2,"h","Heartbeat",{}]'], Heartbeat=not_a_dataclass)
        assert answer[0][:3] == [4, "h", "InternalError"]
        with pytest.raises(TypeError, match="dataclass"):  # ocpp answers nothing
            sent_by(theirs_cls, ['[2,"h","Heartbeat",{}]'], Heartbeat=not_a_dataclass)


def test_formats_are_unchecked_by_default_and_checked_with_strict_formats() -> None:
    naive = (
        '[2,"s1","StatusNotification",{"timestamp":"2026-11-30T10:00:00",'
        '"connectorStatus":"Available","evseId":1,"connectorId":1}]'
    )
    received: list[Any] = []

    class Lenient(v201.ChargePoint):
        @on("StatusNotification")
        def on_status(self, **kwargs: Any) -> Any:
            received.append(kwargs)
            return call_result.StatusNotification()

    class Strict(Lenient):
        strict_formats = True

    async def run(cls: type[Any]) -> list[Any]:
        sink = Sink()
        await cls("CP", sink).route_message(naive)
        return [msgspec.json.decode(text) for text in sink.sent]

    assert asyncio.run(run(Lenient)) == [[3, "s1", {}]]
    assert received[0]["timestamp"] == "2026-11-30T10:00:00"  # the string, as ocpp gives it
    (refused,) = asyncio.run(run(Strict))
    assert refused[:3] == [4, "s1", "PropertyConstraintViolation"]


def test_handlers_get_ocpp_names_and_call_unique_id_only_when_named() -> None:
    got: list[Any] = []

    class Backend(v21.ChargePoint):
        @on("Get15118EVCertificate")
        def on_cert(self, **kwargs: Any) -> Any:
            got.append(kwargs)
            return call_result21.Get15118EVCertificate(status="Accepted", exi_response="x")

        @on("Heartbeat")
        async def on_heartbeat(self, call_unique_id: str) -> Any:
            got.append(call_unique_id)
            return call_result21.Heartbeat(current_time=NOW)

    frames = [
        '[2,"c1","Get15118EVCertificate",{"iso15118SchemaVersion":"v","action":"Install",'
        '"exiRequest":"e","prioritizedEMAIDs":["A"]}]',
        '[2,"c2","Heartbeat",{}]',
    ]

    async def run() -> list[str]:
        sink = Sink()
        charge_point = Backend("CP", sink)
        for frame in frames:
            await charge_point.route_message(frame)
        return sink.sent

    sent = asyncio.run(run())
    assert got[0]["prioritized_emai_ds"] == ["A"]  # ocpp's own conversion, quirk included
    assert got[0]["iso15118_schema_version"] == "v"
    assert got[1] == "c2"
    assert [msgspec.json.decode(s)[0] for s in sent] == [3, 3]


def test_after_hooks_run_as_ocpp_runs_them() -> None:
    events: list[str] = []

    class Backend(v201.ChargePoint):
        @on("Heartbeat")
        def on_heartbeat(self) -> Any:
            events.append("on")
            return call_result.Heartbeat(current_time=NOW)

        @after("Heartbeat")
        async def after_heartbeat(self) -> None:
            events.append("after started")
            await asyncio.sleep(0)
            events.append("after done")

        @on("BootNotification")
        def on_boot(self, **kwargs: Any) -> Any:
            return call_result.BootNotification(current_time=NOW, interval=5, status="Accepted")

        @after("BootNotification")
        def after_boot(self, **kwargs: Any) -> None:
            events.append("after boot")
            raise KeyError("swallowed, as ocpp swallows it")

    async def run() -> list[str]:
        sink = Sink()
        charge_point = Backend("CP", sink)
        await charge_point.route_message('[2,"h","Heartbeat",{}]')
        events.append("route_message returned")  # the async hook was scheduled, not awaited
        await asyncio.sleep(0.01)
        await charge_point.route_message(BOOT)
        return sink.sent

    sent = asyncio.run(run())
    assert events == ["on", "route_message returned", "after started", "after done", "after boot"]
    assert [msgspec.json.decode(s)[:2] for s in sent] == [[3, "h"], [3, "b1"]]


def test_route_map_is_read_per_message() -> None:
    got: list[Any] = []

    class Backend(v201.ChargePoint):
        @on("BootNotification")
        def on_boot(self, **kwargs: Any) -> Any:
            got.append(kwargs)
            return call_result.BootNotification(current_time=NOW, interval=5, status="Accepted")

    invalid = BOOT.replace('"b1"', '"b2"').replace("PowerUp", "Nope")

    async def run() -> list[Any]:
        sink = Sink()
        charge_point = Backend("CP", sink)
        await charge_point.route_message(invalid)
        charge_point.route_map["BootNotification"]["_skip_schema_validation"] = True
        await charge_point.route_message(invalid)
        charge_point.route_map["Heartbeat"] = {
            "_on_action": lambda: call_result.Heartbeat(current_time=NOW),
            "_skip_schema_validation": False,
        }
        await charge_point.route_message('[2,"h","Heartbeat",{}]')
        return [msgspec.json.decode(s)[:3] for s in sink.sent]

    assert asyncio.run(run()) == [
        [4, "b2", "PropertyConstraintViolation"],
        [3, "b2", {"currentTime": NOW, "interval": 5, "status": "Accepted"}],
        [3, "h", {"currentTime": NOW}],
    ]
    assert got == [{"reason": "Nope", "charging_station": {"model": "M", "vendor_name": "V"}}]


class Station:
    """Plays the station over a Sink: answers each CALL the CSMS sends with ``answer(frame)``."""

    def __init__(self, sink: Sink, answer: Any) -> None:
        self.sink = sink
        self.answer = answer
        self.seen = 0

    async def serve(self) -> None:
        while True:
            await asyncio.sleep(0.001)
            while self.seen < len(self.sink.sent):
                frame = msgspec.json.decode(self.sink.sent[self.seen])
                self.seen += 1
                if frame[0] == 2:
                    for reply in self.answer(frame):
                        self.sink.inbox.put_nowait(reply)


class Exchange(NamedTuple):
    """One version's material for a CSMS that asks its station something while handling Boot."""

    boot: str
    boot_result: Any
    question: Any
    answer: dict[str, Any]


_V2_BOOT = '{"reason":"PowerUp","chargingStation":{"model":"M","vendorName":"V"}}'
_V2_QUESTION = {"getVariableData": [{"component": {"name": "C"}, "variable": {"name": "V"}}]}
_V2_ANSWER = {
    "getVariableResult": [
        {"attributeStatus": "Accepted", "component": {"name": "C"}, "variable": {"name": "V"}}
    ]
}
EXCHANGES = {
    "1.6": Exchange(
        '[2,"b1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]',
        call_result16.BootNotification(current_time=NOW, interval=5, status="Accepted"),
        call16.GetConfiguration(key=["HeartbeatInterval"]),
        {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "60"}]},
    ),
    "2.0.1": Exchange(
        f'[2,"b1","BootNotification",{_V2_BOOT}]',
        call_result.BootNotification(current_time=NOW, interval=5, status="Accepted"),
        call.GetVariables(get_variable_data=_V2_QUESTION["getVariableData"]),
        _V2_ANSWER,
    ),
    "2.1": Exchange(
        f'[2,"b1","BootNotification",{_V2_BOOT}]',
        call_result21.BootNotification(current_time=NOW, interval=5, status="Accepted"),
        call21.GetVariables(get_variable_data=_V2_QUESTION["getVariableData"]),
        _V2_ANSWER,
    ),
}
VERSION_CLASSES = {"1.6": (v16, ocpp.v16), "2.0.1": (v201, ocpp.v201), "2.1": (v21, ocpp.v21)}


def _asking_csms(base: type[Any], exchange: Exchange) -> type[Any]:
    class Backend(base):  # type: ignore[misc]
        @on("BootNotification")
        async def on_boot(self, **kwargs: Any) -> Any:
            self.answer_seen = await self.call(exchange.question)
            return exchange.boot_result

    return Backend


async def _boot_with_a_nested_call(
    base: type[Any], exchange: Exchange, timeout: float
) -> tuple[Any, list[Any]]:
    sink = Sink()
    backend = _asking_csms(base, exchange)("CP", sink, response_timeout=timeout)

    def answer(frame: list[Any]) -> list[str]:
        return [msgspec.json.encode([3, frame[1], exchange.answer]).decode()]

    station = Station(sink, answer)
    tasks = [asyncio.ensure_future(backend.start()), asyncio.ensure_future(station.serve())]
    sink.inbox.put_nowait(exchange.boot)
    try:
        for _ in range(int(timeout * 1000) + 500):
            await asyncio.sleep(0.002)
            if any(msgspec.json.decode(s)[:2] in ([3, "b1"], [4, "b1"]) for s in sink.sent):
                break
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return getattr(backend, "answer_seen", None), [msgspec.json.decode(s) for s in sink.sent]


@pytest.mark.parametrize("label", ["1.6", "2.0.1", "2.1"])
def test_a_handler_awaiting_call_does_not_deadlock(label: str) -> None:
    ours, theirs = VERSION_CLASSES[label]
    exchange = EXCHANGES[label]
    result, sent = asyncio.run(_boot_with_a_nested_call(ours.ChargePoint, exchange, timeout=5))
    expected = getattr(theirs.call_result, type(exchange.question).__name__)
    snake = {
        "configurationKey": "configuration_key",
        "getVariableResult": "get_variable_result",
    }
    ((wire_name, wire_value),) = exchange.answer.items()
    assert isinstance(result, expected)
    nested = getattr(result, snake[wire_name])[0]  # nested values: snake_case dicts
    assert nested == camel_to_snake_case(wire_value[0])
    assert [f[0] for f in sent] == [2, 3] and sent[1][1] == "b1"
    # ocpp: start() waits for the handler, which waits for a response start() never reads
    _, sent_by_ocpp = asyncio.run(_boot_with_a_nested_call(theirs.ChargePoint, exchange, 0.3))
    assert [f[0] for f in sent_by_ocpp] == [2, 4] and sent_by_ocpp[1][2] == "InternalError"


@pytest.mark.parametrize("label", ["1.6", "2.0.1", "2.1"])
def test_call_matches_responses_by_id_whatever_else_arrives(label: str) -> None:
    ours, theirs = VERSION_CLASSES[label]
    exchange = EXCHANGES[label]
    answer = msgspec.json.encode(exchange.answer).decode()

    async def run() -> tuple[Any, list[str]]:
        sink = Sink()
        backend = ours.ChargePoint("CP", sink)
        backend._unique_id_generator = iter(["id-2"]).__next__

        async def station() -> None:
            while not sink.sent:
                await asyncio.sleep(0.001)
            # a stray result, a late one for an old call, then the real one
            await backend.route_message(f'[3,"nobody",{answer}]')
            await backend.route_message('[4,"id-1","GenericError","late",{}]')
            await backend.route_message(f'[3,"id-2",{answer}]')

        helper = asyncio.ensure_future(station())
        result = await backend.call(exchange.question)
        await helper
        return result, sink.sent

    result, sent = asyncio.run(run())
    expected = getattr(theirs.call_result, type(exchange.question).__name__)
    assert isinstance(result, expected)
    assert [msgspec.json.decode(s)[:3] for s in sent] == [
        [2, "id-2", type(exchange.question).__name__]
    ]


def test_a_response_that_arrives_before_call_waits_is_delivered() -> None:
    class Instant:
        """A connection whose peer answers inside send(), before call() starts waiting."""

        def __init__(self) -> None:
            self.charge_point: Any = None

        async def send(self, message: str) -> None:
            unique_id = msgspec.json.decode(message)[1]
            await self.charge_point.route_message(f'[3,"{unique_id}",{{"currentTime":"{NOW}"}}]')

    async def run() -> Any:
        connection = Instant()
        backend = v201.ChargePoint("CP", connection)
        connection.charge_point = backend
        first = await backend.call(call.Heartbeat())
        # and one that came in before call() was even made
        await backend.route_message(f'[3,"early",{{"currentTime":"{NOW}"}}]')
        backend._connection = Sink()
        second = await backend.call(call.Heartbeat(), unique_id="early")
        return first, second

    first, second = asyncio.run(run())
    assert first == second == call_result.Heartbeat(current_time=NOW)


def test_call_errors_return_none_or_raise_ocpps_class() -> None:
    async def run(suppress: bool) -> Any:
        sink = Sink()
        backend = v201.ChargePoint("CP", sink)
        backend._unique_id_generator = lambda: "e1"
        waiting = asyncio.ensure_future(backend.call(call.Heartbeat(), suppress=suppress))
        await asyncio.sleep(0.01)
        await backend.route_message('[4,"e1","NotSupported","no",{}]')
        return await waiting

    assert asyncio.run(run(True)) is None
    with pytest.raises(ocpp.exceptions.NotSupportedError):
        asyncio.run(run(False))


def test_call_times_out_with_asyncio_timeout_error() -> None:
    async def run() -> None:
        await v201.ChargePoint("CP", Sink(), response_timeout=0.05).call(call.Heartbeat())

    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(run())


def test_21_writes_its_schema_names_where_ocpp_writes_others() -> None:
    profile = datatypes21.ChargingProfileType(
        id=1,
        stack_level=0,
        charging_profile_purpose="TxDefaultProfile",
        charging_profile_kind="Absolute",
        charging_schedule=[
            datatypes21.ChargingScheduleType(
                id=1,
                charging_rate_unit="W",
                start_schedule=NOW,
                charging_schedule_period=[
                    datatypes21.ChargingSchedulePeriodType(start_period=0, limit=10.0, limit_l2=5.0)
                ],
            )
        ],
    )
    request = call21.SetChargingProfile(evse_id=1, charging_profile=profile)

    async def run(base: type[Any]) -> list[str]:
        sink = Sink()
        with contextlib.suppress(TimeoutError, ocpp.exceptions.OCPPError):
            await base("CP", sink, response_timeout=0.01).call(request)
        return sink.sent

    (ours,) = asyncio.run(run(v21.ChargePoint))
    period = msgspec.json.decode(ours)[3]["chargingProfile"]["chargingSchedule"][0][
        "chargingSchedulePeriod"
    ][0]
    assert period == {"startPeriod": 0, "limit": 10.0, "limit_L2": 5.0}
    # ocpp writes limitL2, which its own 2.1 schema refuses, so it never sends the call
    assert asyncio.run(run(ocpp.v21.ChargePoint)) == []


def test_21_send_frames_and_result_errors() -> None:
    got: list[Any] = []

    class Backend(v21.ChargePoint):
        @on("NotifyPeriodicEventStream")
        def on_stream(self, **kwargs: Any) -> None:
            got.append(kwargs)

    async def run() -> list[Any]:
        sink = Sink()
        backend = Backend("CP", sink)
        await backend.route_message(
            '[6,"s1","NotifyPeriodicEventStream",{"id":1,"pending":0,"basetime":"2026-11-30T10:00:00Z","data":[{"t":0,"v":"1"}]}]'
        )
        backend._unique_id_generator = lambda: "r1"
        waiting = asyncio.ensure_future(backend.call(call21.Heartbeat()))
        await asyncio.sleep(0.01)
        await backend.route_message('[3,"r1",{"currentTime":12}]')
        with pytest.raises(ocpp.exceptions.TypeConstraintViolationError):
            await waiting
        return [msgspec.json.decode(s) for s in sink.sent]

    sent = asyncio.run(run())
    assert got == [{"id": 1, "pending": 0, "basetime": NOW, "data": [{"t": 0, "v": "1"}]}]
    assert sent[0][:3] == [2, "r1", "Heartbeat"]  # nothing answered the SEND
    assert sent[1][:3] == [5, "r1", "TypeConstraintViolation"]  # 2.1's CALLRESULTERROR
    assert len(sent) == 2


def test_21_a_call_of_the_send_only_action_is_refused_not_supported() -> None:
    """NotifyPeriodicEventStream travels as a SEND only (it has no response). As a CALL, its
    handler ran and its None was answered InternalError ("invalid ... response"): the drop-in
    answers NotSupported, saying how the action travels, as the native API does, the handler
    not run."""
    got: list[Any] = []

    class Backend(v21.ChargePoint):
        @on("NotifyPeriodicEventStream")
        def on_stream(self, **kwargs: Any) -> None:
            got.append(kwargs)

    async def run() -> list[Any]:
        sink = Sink()
        await Backend("CP", sink).route_message(
            '[2,"c1","NotifyPeriodicEventStream",{"id":1,"pending":0,"basetime":"2026-11-30T10:00:00Z","data":[{"t":0,"v":"1"}]}]'
        )
        return [msgspec.json.decode(s) for s in sink.sent]

    (sent,) = asyncio.run(run())
    assert sent[:3] == [4, "c1", "NotSupported"]
    assert "SEND ([6, ...]) only" in sent[3]
    assert got == []


def test_install_swaps_ocpps_classes_and_uninstall_restores_them() -> None:
    originals = (
        ocpp.v16.ChargePoint,
        ocpp.v201.ChargePoint,
        ocpp.v21.ChargePoint,
        ocpp.charge_point.ChargePoint,
    )
    with pytest.warns(RuntimeWarning, match=r"compat_pair\.Ocppv16"):  # the tests' ocpp side
        compat.install()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing swapped, nothing said
        compat.install()  # idempotent
    assert compat.installed()
    assert ocpp.v16.ChargePoint is v16.ChargePoint
    assert ocpp.v201.ChargePoint is v201.ChargePoint
    assert ocpp.v21.ChargePoint is v21.ChargePoint
    assert ocpp.charge_point.ChargePoint is compat.ChargePoint
    from ocpp.v201 import ChargePoint as Imported  # what a backend imports after install()

    class Backend(Imported):  # type: ignore[misc]
        @on("Heartbeat")
        def on_heartbeat(self) -> Any:
            return call_result.Heartbeat(current_time=NOW)

    backend = Backend("CP", Sink())
    assert isinstance(backend, originals[1]) and isinstance(backend, v201.ChargePoint)
    (frame,) = sent_by_instance(backend, ['[2,"t","Teleport",{}]'])
    assert frame[2] == "NotImplemented"
    compat.uninstall()
    compat.uninstall()
    assert not compat.installed()
    assert (
        ocpp.v16.ChargePoint,
        ocpp.v201.ChargePoint,
        ocpp.v21.ChargePoint,
        ocpp.charge_point.ChargePoint,
    ) == originals


def test_a_backend_left_on_ocpps_class_by_a_late_install_is_warned_about() -> None:
    """An import sorter moves ``install()`` below ``from ocpp.v16 import ChargePoint``: the
    backend then runs on ``ocpp``'s code. Said at install() for a class defined before it,
    and when a class is made from the name imported before it; nothing for a right order."""
    early_base: Any = ocpp.v16.ChargePoint  # imported before install()

    class Early(early_base):  # type: ignore[misc]
        pass

    try:
        with pytest.warns(RuntimeWarning, match=r"Early\b.*a subclass of ocpp's own ChargePoint"):
            compat.install()

        with pytest.warns(RuntimeWarning, match=r"Late: .*its base imported before install"):

            class Late(early_base):  # type: ignore[misc]
                pass

        with warnings.catch_warnings():
            warnings.simplefilter("error")

            class Right(ocpp.v16.ChargePoint):  # type: ignore[misc]  # after install(): ours
                pass

        assert issubclass(Right, v16.ChargePoint) and not issubclass(Late, v16.ChargePoint)
    finally:
        compat.uninstall()
        del Early
    assert "__init_subclass__" not in vars(early_base)  # ocpp's class as it was
    with warnings.catch_warnings():
        warnings.simplefilter("error")

        class Plain(early_base):  # type: ignore[misc]  # not installed: no warning
            pass


def sent_by_instance(charge_point: Any, frames: list[str]) -> list[Any]:
    async def run() -> list[Any]:
        for frame in frames:
            await charge_point.route_message(frame)
        return [msgspec.json.decode(text) for text in charge_point._connection.sent]

    return asyncio.run(run())


def test_an_unsupported_version_is_refused_when_first_read() -> None:
    """Read where ``ocpp`` reads it (a subclass may still set it after construction)."""

    class Twenty(compat.ChargePoint):
        _ocpp_version = "2.0"

    backend = Twenty("CP", Sink())
    with pytest.raises(ValueError, match=r"not '2\.0'"):
        asyncio.run(backend.route_message('[2,"h","Heartbeat",{}]'))


def test_unknown_id_results_are_logged_a_bounded_number_of_times(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def run() -> None:
        backend = v201.ChargePoint("CP", Sink())
        for number in range(3000):
            await backend.route_message(f'[3,"x{number}",{{}}]')

    with caplog.at_level(logging.WARNING, logger="ocpp"):
        asyncio.run(run())
    unknown = [r for r in caplog.records if "unknown unique id" in r.getMessage()]
    assert 5 <= len(unknown) <= 8  # the first five, then one per thousand


def test_start_handles_calls_one_at_a_time_in_order_and_bounds_what_it_reads() -> None:
    """CALLs read while a handler runs wait their turn, as with ``ocpp``; at most
    ``max_concurrent_calls`` are held (reading pauses beyond, the rest stay unread)."""

    class Slow(v201.ChargePoint):
        max_concurrent_calls = 3
        running = 0
        most = 0
        order: ClassVar[list[str]] = []
        gate = asyncio.Event()

        @on("Heartbeat")
        async def on_heartbeat(self, call_unique_id: str) -> Any:
            Slow.running += 1
            Slow.most = max(Slow.most, Slow.running)
            await Slow.gate.wait()
            await asyncio.sleep(0)
            Slow.order.append(call_unique_id)
            Slow.running -= 1
            return call_result.Heartbeat(current_time=NOW)

    async def run() -> tuple[int, list[str]]:
        Slow.gate = asyncio.Event()
        sink = Sink()
        task = asyncio.ensure_future(Slow("CP", sink).start())
        for number in range(10):
            sink.inbox.put_nowait(f'[2,"h{number}","Heartbeat",{{}}]')
        for _ in range(20):
            await asyncio.sleep(0)
        unread = sink.inbox.qsize()  # the first handler waits at the gate
        Slow.gate.set()
        for _ in range(500):
            await asyncio.sleep(0.005)
            if len(sink.sent) == 10:
                break
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return unread, sink.sent

    unread, sent = asyncio.run(run())
    assert unread == 10 - 3 - 1  # three held, one more read and waiting for a slot
    numbers = [f"h{number}" for number in range(10)]
    assert [msgspec.json.decode(frame)[1] for frame in sent] == numbers
    assert Slow.order == numbers and Slow.most == 1


def test_the_version_classes_are_ocpps_subclasses() -> None:
    for label, module in (("1.6", "v16"), ("2.0.1", "v201"), ("2.1", "v21")):
        ours = importlib.import_module(f"ocpp_fast.compat.{module}").ChargePoint
        theirs = importlib.import_module(f"ocpp.{module}").ChargePoint
        assert issubclass(ours, theirs) and ours._ocpp_version == label
        instance = ours("CP", Sink(), 7)
        assert instance.id == "CP" and instance._response_timeout == 7
        assert isinstance(instance._call_lock, asyncio.Lock)
        assert instance.logger is ocpp.charge_point.LOGGER


def test_datetime_objects_in_a_response_are_written_as_rfc3339() -> None:
    """Where ``ocpp``'s JSON encoder cannot write the object (a ``TypeError`` out of
    ``route_message``, the CALL never answered), the drop-in writes it as the native
    API does."""
    theirs_cls, ours_cls = PAIRS["2.0.1"]
    when = datetime.datetime(2026, 11, 30, 10, 0, tzinfo=datetime.UTC)
    reply = call_result.Heartbeat(current_time=when)
    assert sent_by(ours_cls, ['[2,"h","Heartbeat",{}]'], Heartbeat=reply) == [
        [3, "h", {"currentTime": NOW}]
    ]
    with pytest.raises(TypeError, match="datetime is not JSON serializable"):
        sent_by(theirs_cls, ['[2,"h","Heartbeat",{}]'], Heartbeat=reply)


def test_datetime_objects_in_a_request_are_written_where_ocpp_refuses_them() -> None:
    """A ``call()`` request holding a ``datetime``: ``ocpp``'s schema check raises
    TypeConstraintViolationError (a date-time is a string) and sends nothing; the
    drop-in writes the string, as in a response."""
    when = datetime.datetime(2026, 11, 30, 10, 0, tzinfo=datetime.UTC)
    request = call.StatusNotification(
        timestamp=when, connector_status="Available", evse_id=1, connector_id=1
    )

    async def sent(cls: type[Any]) -> list[Any]:
        sink = Sink()
        charge_point = cls("CP-1", sink, 0.01)
        with contextlib.suppress(asyncio.TimeoutError):  # nobody answers
            await charge_point.call(request)
        return [msgspec.json.decode(text)[2:] for text in sink.sent]

    theirs_cls, ours_cls = PAIRS["2.0.1"]
    assert asyncio.run(sent(ours_cls)) == [
        [
            "StatusNotification",
            {"timestamp": NOW, "connectorStatus": "Available", "evseId": 1, "connectorId": 1},
        ]
    ]
    with pytest.raises(ocpp.exceptions.TypeConstraintViolationError):
        asyncio.run(sent(theirs_cls))
