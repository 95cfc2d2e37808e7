"""The fifth sweep's leftovers, each run on ``ocpp`` 2.1.0 and on the drop-in.

- An integral float (``1.0``, ``1e2``) where a draft-06 schema (2.x, 1.6 security) says
  integer: ``ocpp`` refuses it (TypeConstraintViolation, its draft-04 reading), the
  schema accepts it and the native API hands the handler an int. The drop-in accepted it
  but handed the float as decoded (``100.0``); now an int, in a CALL's handler, in what
  our ``call()`` returns and in a 2.1 SEND's handler, wherever the schema says integer
  (a ``number`` keeps its float) [an_integral_float_for_an_integer_is_handed_as_an_int,
  an_integral_float_in_our_calls_result_is_returned_as_an_int,
  an_integral_float_in_a_send_is_handed_as_an_int]. 1.6 core (draft-04) still refuses it.
- A CALLRESULT to our ``call()`` nested deeper than the codec reads was answered with a
  CALLERROR of id "-1" and the call waited out its timeout; ``ocpp`` raises RecursionError
  out of ``route_message`` (its ``json.loads``) and its call waits too. Now the waiting
  call fails at once with FormatViolationError, as for any answer that is no JSON to the
  spec, nothing answered (2.1: CALLRESULTERROR RpcFrameworkError)
  [a_too_deep_answer_fails_the_waiting_call_at_once].
"""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from compat_pair import MODULES, Sink, charge_point_classes, ocpp_validating_inline, parsed
from ocpp.routing import on

LABELS = list(MODULES)
NOW = "2026-12-04T02:00:00Z"


@pytest.fixture(autouse=True)
def _inline_validation() -> Iterator[None]:
    with ocpp_validating_inline():
        yield


def _module(package: str, label: str, name: str) -> Any:
    return importlib.import_module(f"{package}.{MODULES[label]}.{name}")


async def _route(cls: type[Any], frame: str, reply: Any) -> tuple[str, list[Any], list[Any]]:
    sink = Sink()
    charge_point = cls("CP", sink)
    charge_point.replies.update(reply)
    try:
        await charge_point.route_message(frame)
    except Exception as error:
        return type(error).__name__, parsed(sink.sent), charge_point.received
    return "returned", parsed(sink.sent), charge_point.received


def _typed(value: Any) -> Any:
    """``value`` with every number paired with its type: ``1 == 1.0`` hides the difference."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_typed(item) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (type(value).__name__, value)
    return value


_CALLS = {
    "2.0.1": (
        "StatusNotification",
        f'{{"timestamp":"{NOW}","connectorStatus":"Available","evseId":1.0,"connectorId":1e2}}',
        {"timestamp": NOW, "connector_status": "Available", "evse_id": 1, "connector_id": 100},
    ),
    "2.1": (
        "MeterValues",
        f'{{"evseId":2E0,"meterValue":[{{"timestamp":"{NOW}","sampledValue":[{{"value":1.0}}]}}]}}',
        {"evse_id": 2, "meter_value": [{"timestamp": NOW, "sampled_value": [{"value": 1.0}]}]},
    ),
    "1.6": (  # a security message: draft-06
        "LogStatusNotification",
        '{"status":"Uploaded","requestId":7.0}',
        {"status": "Uploaded", "request_id": 7},
    ),
}


@pytest.mark.parametrize("label", LABELS)
def test_an_integral_float_for_an_integer_is_handed_as_an_int(label: str) -> None:
    """``ocpp`` refuses the CALL (TypeConstraintViolation); the drop-in answers it, its
    handler handed an int where the schema says integer and the float of a ``number``
    (``value``), as the native API hands them. It handed the floats as decoded."""
    action, payload, handed = _CALLS[label]
    frame = f'[2,"m1","{action}",{payload}]'
    reply = {action: getattr(_module("ocpp", label, "call_result"), action)()}
    theirs_class, ours_class = charge_point_classes(label, [action])
    theirs = asyncio.run(_route(theirs_class, frame, reply))
    assert [sent[:3] for sent in theirs[1]] == [[4, "m1", "TypeConstraintViolation"]]
    outcome, sent, received = asyncio.run(_route(ours_class, frame, reply))
    assert (outcome, sent) == ("returned", [[3, "m1", {}]])
    assert _typed(received) == _typed([(action, handed)])


def test_draft04_still_refuses_an_integral_float() -> None:
    """1.6 core's schemas are draft-04, where ``1.0`` is no integer: refused, as by ``ocpp``."""
    frame = '[2,"m1","StatusNotification",{"connectorId":1.0,"errorCode":"NoError",'
    frame += '"status":"Available"}]'
    reply = {"StatusNotification": _module("ocpp", "1.6", "call_result").StatusNotification()}
    theirs_class, ours_class = charge_point_classes("1.6", ["StatusNotification"])
    theirs = asyncio.run(_route(theirs_class, frame, reply))
    ours = asyncio.run(_route(ours_class, frame, reply))
    assert [sent[:3] for sent in ours[1]] == [[4, "m1", "TypeConstraintViolation"]]
    assert [sent[:3] for sent in theirs[1]] == [sent[:3] for sent in ours[1]]


async def _called(cls: type[Any], request: Any, answer: str | bytes) -> Any:
    sink = Sink()
    charge_point = cls("CP", sink)
    charge_point._unique_id_generator = lambda: "c1"
    calling = asyncio.ensure_future(charge_point.call(request, suppress=False))
    while not sink.sent:
        await asyncio.sleep(0)
    try:
        await charge_point.route_message(answer)
    except Exception as error:  # ocpp's, for a frame it cannot read
        calling.cancel()
        return ("route_message raised", type(error).__name__), parsed(sink.sent)
    try:
        return await asyncio.wait_for(calling, 5), parsed(sink.sent)
    except Exception as error:
        return ("raised", type(error).__name__), parsed(sink.sent)


@pytest.mark.parametrize("label", ["2.0.1", "2.1"])
def test_an_integral_float_in_our_calls_result_is_returned_as_an_int(label: str) -> None:
    """Our ``call()`` answered with integral floats for integers, in a nested object and
    a list of them: ``ocpp`` raises TypeConstraintViolationError; the drop-in returns the
    result with ints there (the float ``limit``, a number, kept), where it held floats."""
    schedule = f'{{"evseId":1.0,"duration":1e2,"scheduleStart":"{NOW}","chargingRateUnit":"W",'
    schedule += '"chargingSchedulePeriod":[{"startPeriod":0.0,"limit":1.0}]}'
    answer = f'[3,"c1",{{"status":"Accepted","schedule":{schedule}}}]'
    request = _module("ocpp", label, "call").GetCompositeSchedule(duration=100, evse_id=1)
    theirs_class, ours_class = charge_point_classes(label, [])
    theirs, _ = asyncio.run(_called(theirs_class, request, answer))
    assert theirs == ("raised", "TypeConstraintViolationError")
    ours, sent = asyncio.run(_called(ours_class, request, answer))
    assert len(sent) == 1
    assert ours.status == "Accepted"
    assert _typed(ours.schedule) == _typed(
        {
            "evse_id": 1,
            "duration": 100,
            "schedule_start": NOW,
            "charging_rate_unit": "W",
            "charging_schedule_period": [{"start_period": 0, "limit": 1.0}],
        }
    )


def test_an_integral_float_in_a_send_is_handed_as_an_int() -> None:
    """A 2.1 SEND (NotifyPeriodicEventStream; ``ocpp`` 2.1.0 reads no SEND) with integral
    floats for its integers: its handler is handed ints, the values' floats kept."""
    from ocpp_fast.compat import v21

    handed: list[Any] = []

    class Streams(v21.ChargePoint):
        @on("NotifyPeriodicEventStream")
        def on_stream(self, **kwargs: Any) -> None:
            handed.append(kwargs)

    frame = f'[6,"s1","NotifyPeriodicEventStream",{{"id":3.0,"pending":0,"basetime":"{NOW}",'
    frame += '"data":[{"t":1.0,"v":"1"}]}]'
    sink = Sink()
    asyncio.run(Streams("CP", sink).route_message(frame))
    assert sink.sent == []
    wanted = {"id": 3, "pending": 0, "basetime": NOW, "data": [{"t": 1.0, "v": "1"}]}
    assert _typed(handed) == _typed([wanted])


def _too_deep(unique_id: str) -> str:
    """A CALLRESULT answering a Reset whose payload nests deeper than any reader here reads."""
    return f'[3,{unique_id},{{"status":"Accepted","customData":' + "[" * 3500 + "]" * 3500 + "}]"


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("label", LABELS)
def test_a_too_deep_answer_fails_the_waiting_call_at_once(label: str, binary: bool) -> None:
    """``ocpp`` raises RecursionError out of ``route_message`` (its ``json.loads``), its call
    left waiting. The drop-in answered a CALLERROR of id "-1" (RpcFrameworkError) and its
    call waited out its timeout; now the call fails at once with FormatViolationError, as
    for an answer holding NaN, nothing sent but 2.1's CALLRESULTERROR RpcFrameworkError."""
    request = _module("ocpp", label, "call").Reset(type="Hard" if label == "1.6" else "Immediate")
    theirs_class, ours_class = charge_point_classes(label, [])
    text = _too_deep('"c1"')
    answer = text.encode() if binary else text  # some firmware sends binary frames
    theirs, _ = asyncio.run(_called(theirs_class, request, answer))
    assert theirs == ("route_message raised", "RecursionError")
    ours, sent = asyncio.run(_called(ours_class, request, answer))
    assert ours == ("raised", "FormatViolationError")
    back = [[5, "c1", "RpcFrameworkError", "frame is nested too deeply", {}]]
    assert sent[1:] == (back if label == "2.1" else [])


@pytest.mark.parametrize("label", LABELS)
def test_a_too_deep_frame_of_no_waiting_call_is_answered_as_the_codec_answers(label: str) -> None:
    """A too deep frame that answers no waiting call is handled as the native path handles it
    (``ocpp`` raises RecursionError out of ``route_message`` for each): a CALLRESULT of an id
    no call waits on is discarded, as one of 2 elements is (it was answered with a CALLERROR
    of id "-1"; a CALLRESULT is never answered so); one whose head is unreadable (an id that
    is a list) is answered RpcFrameworkError (1.6 FormationViolation) to "-1"; an unknown
    message type as a frame read whole (2.0.1: MessageTypeNotSupported to its id)."""
    _, ours_class = charge_point_classes(label, [])
    code = "FormationViolation" if label == "1.6" else "RpcFrameworkError"
    for frame, answer in (
        (_too_deep('"zz"'), []),
        (_too_deep("[1]"), [[4, "-1", code, "frame is nested too deeply", {}]]),
        (
            _too_deep('"c1"').replace("3", "7", 1),
            [[4, "c1", "MessageTypeNotSupported"]] if label == "2.0.1" else [],
        ),
    ):
        outcome, sent, _ = asyncio.run(_route(ours_class, frame, {}))
        assert len(sent) == len(answer)
        shown = [message[: len(want)] for message, want in zip(sent, answer, strict=True)]
        assert (outcome, shown) == ("returned", answer)


@pytest.mark.parametrize("unique_id", [7, "x" * 37])
def test_a_too_deep_answer_fails_a_call_of_an_id_the_spec_refuses(unique_id: Any) -> None:
    """A ``call()`` made with an id the spec refuses (an integer, over 36 characters: ``ocpp``
    sends what it is given) answered too deeply to read: the codec reads the head but takes
    no such id, so the drop-in reads it from the head itself and the call fails at once, as
    for a string id; it waited out its timeout."""
    request = _module("ocpp", "2.0.1", "call").Reset(type="Immediate")
    _, ours_class = charge_point_classes("2.0.1", [])

    async def run() -> Any:
        sink = Sink()
        charge_point = ours_class("CP", sink, response_timeout=5)
        calling = asyncio.ensure_future(
            charge_point.call(request, suppress=False, unique_id=unique_id)
        )
        while not sink.sent:
            await asyncio.sleep(0)
        await charge_point.route_message(_too_deep(json.dumps(unique_id)))
        try:
            await asyncio.wait_for(calling, 1)
        except Exception as error:
            return type(error).__name__, parsed(sink.sent)[1:]
        return "returned", parsed(sink.sent)[1:]

    assert asyncio.run(run()) == ("FormatViolationError", [])
