"""A peer's JSON nested deep, on ``ocpp`` 2.1.0 and on the drop-in.

A DataTransfer ``data`` takes any JSON value, so a station chooses how deep it nests.
The drop-in renamed the keys of a payload by recursion (two frames a level for a list),
so 500 nested lists raised RecursionError out of ``route_message``, which ended
``start()``: any station could drop its own connection, its CALLs read meanwhile
unanswered. Now every walk of a payload is a loop:

- where ``ocpp`` answers, the drop-in answers the same frames and hands the handler the
  same arguments [nested_data_is_handled_as_ocpp_handles_it];
- a handler's result holding what the station sent is answered, where ``ocpp``'s
  conversion of it raises RecursionError out of ``route_message`` from about 490 levels
  [an_echoed_deep_value_is_answered];
- deeper than the codec reads, the codec's answer (RpcFrameworkError, 1.6
  FormationViolation, to the CALL's id read from its head; it was "-1"), as the native
  path's, where ``ocpp`` raises RecursionError
  [too_deep_for_the_codec_is_answered_as_the_native_path_answers];
- ``start()`` reads on after such a frame [start_reads_on_after_a_deep_frame];
- a result that holds itself is answered InternalError, where it raised RecursionError
  [a_result_holding_itself_is_answered_internal_error];
- the result of our ``call()`` is handed over as ``ocpp`` hands it
  [a_deep_call_result_is_returned_as_ocpp_returns_it]; a request that holds itself raises
  RecursionError, as with ``ocpp`` (``NestedTooDeeply`` was a ValueError, which a backend's
  ``except RecursionError`` written against ``ocpp`` missed)
  [a_request_holding_itself_raises_recursion_error_as_with_ocpp];
- a frame read whole whose payload's check, further down the stack, finds it too deep is
  answered with the codec's code [refused_deeper_down_is_answered_with_the_codecs_code].
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Iterator
from typing import Any

import msgspec
import ocpp.exceptions
import ocpp.v21
import ocpp.v201
import pytest
from compat_pair import MODULES, Sink, charge_point_classes, ocpp_validating_inline, parsed
from ocpp.routing import on
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from ocpp_fast import codec, errors
from ocpp_fast._protocol_version import by_label
from ocpp_fast.compat import v201
from ocpp_fast.compat._naming import NestedTooDeeply

LABELS = list(MODULES)


@pytest.fixture(autouse=True)
def _inline_validation() -> Iterator[None]:
    with ocpp_validating_inline():
        yield


def _nested(kind: str, depth: int) -> str:
    """JSON ``depth`` levels deep: objects with a camelCase key (renamed on the way), or lists."""
    if kind == "dict":
        return '{"vendorKey":' * (depth - 1) + '{"innerValue":1}' + "}" * (depth - 1)
    return "[" * depth + "1" + "]" * depth


def _data_transfer(kind: str, depth: int) -> str:
    return f'[2,"d1","DataTransfer",{{"vendorId":"V","data":{_nested(kind, depth)}}}]'


def _accepted(label: str) -> Any:
    return importlib.import_module(f"ocpp.{MODULES[label]}.call_result").DataTransfer(
        status="Accepted"
    )


async def _route(cls: type[Any], frame: str, reply: Any) -> tuple[str, list[Any], Any]:
    """What ``route_message`` raised ("returned" if nothing), the frames sent, the
    handler's arguments."""
    sink = Sink()
    charge_point = cls("CP", sink)
    if reply is not None:  # a pair's class, whose handler returns it
        charge_point.replies["DataTransfer"] = reply
    try:
        await charge_point.route_message(frame)
    except BaseException as error:
        outcome = type(error).__name__
    else:
        outcome = "returned"
    return outcome, parsed(sink.sent), getattr(charge_point, "received", None)


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize("kind", ["dict", "list"])
@pytest.mark.parametrize("depth", [500, 600, 800])
def test_nested_data_is_handled_as_ocpp_handles_it(label: str, kind: str, depth: int) -> None:
    """2.x: answered, the handler handed ``data`` with every key renamed as ``ocpp`` renames
    it; 1.6 (``data`` a string there): the same CALLERROR. The drop-in raised RecursionError
    from 500 nested lists and 900 nested objects."""
    theirs_class, ours_class = charge_point_classes(label, ["DataTransfer"])
    frame = _data_transfer(kind, depth)
    theirs = asyncio.run(_route(theirs_class, frame, _accepted(label)))
    ours = asyncio.run(_route(ours_class, frame, _accepted(label)))
    assert theirs[0] == "returned"
    if label == "1.6":
        assert [sent[:3] for sent in theirs[1]] == [[4, "d1", "TypeConstraintViolation"]]
        assert [sent[:3] for sent in ours[1]] == [sent[:3] for sent in theirs[1]]
        assert ours[0] == "returned"
    else:
        assert theirs[1] == [[3, "d1", {"status": "Accepted"}]]
        assert ours == theirs


def _echoing(base: type[Any]) -> type[Any]:
    class Echo(base):  # type: ignore[misc]
        @on("DataTransfer")
        def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> Any:
            return result201.DataTransfer(status="Accepted", data=kwargs.get("data"))

    return Echo


@pytest.mark.parametrize("kind", ["dict", "list"])
def test_an_echoed_deep_value_is_answered(kind: str) -> None:
    """A handler answering with the ``data`` it was handed (renamed back): ``ocpp`` raises
    RecursionError out of ``route_message`` (converting the result), nothing answered; the
    drop-in answers it, the data as sent."""
    frame = _data_transfer(kind, 600)
    theirs = asyncio.run(_route(_echoing(ocpp.v201.ChargePoint), frame, None))
    ours = asyncio.run(_route(_echoing(v201.ChargePoint), frame, None))
    assert theirs[:2] == ("RecursionError", [])
    data = msgspec.json.decode(_nested(kind, 600))
    assert ours[:2] == ("returned", [[3, "d1", {"status": "Accepted", "data": data}]])


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize("kind", ["dict", "list"])
@pytest.mark.parametrize("depth", [1000, 2900, 3500])
def test_too_deep_for_the_codec_is_answered_as_the_native_path_answers(
    label: str, kind: str, depth: int
) -> None:
    """Deeper than msgspec reads: the code the native codec raises (RpcFrameworkError,
    1.6's FormationViolation) to the CALL's id, read from the frame's head (it was "-1",
    which the station cannot match to its CALL). ``ocpp`` raises RecursionError out of
    ``route_message`` (its ``json.loads``), answering nothing."""
    frame = _data_transfer(kind, depth)
    version = by_label(label)
    with pytest.raises(errors.RpcFrameworkError) as native:
        codec.decode_frame(frame.encode(), version)
    code = version.code_of(native.value)
    theirs_class, ours_class = charge_point_classes(label, ["DataTransfer"])
    assert asyncio.run(_route(theirs_class, frame, _accepted(label)))[:2] == (
        "RecursionError",
        [],
    )
    ours = asyncio.run(_route(ours_class, frame, _accepted(label)))
    assert native.value.message_id == "d1"
    assert ours == ("returned", [[4, "d1", code, "frame is nested too deeply", {}]], [])


@pytest.mark.parametrize("label", LABELS)
def test_start_reads_on_after_a_deep_frame(label: str) -> None:
    """``start()`` over a connection: a DataTransfer of 600 nested lists (the report's), one
    too deep for the codec, then a Heartbeat; each answered, and ``start()`` still reading
    (it ended with RecursionError at the first)."""
    _, ours_class = charge_point_classes(label, ["DataTransfer", "Heartbeat"])
    heartbeat = importlib.import_module(f"ocpp.{MODULES[label]}.call_result").Heartbeat(
        current_time="2026-12-03T07:00:00Z"
    )

    async def run() -> tuple[list[Any], bool]:
        sink = Sink()
        charge_point = ours_class("CP", sink)
        charge_point.replies.update(DataTransfer=_accepted(label), Heartbeat=heartbeat)
        reading = asyncio.ensure_future(charge_point.start())
        for frame in (
            _data_transfer("list", 600),
            _data_transfer("list", 3500),
            '[2,"h1","Heartbeat",{}]',
        ):
            sink.inbox.put_nowait(frame)
        for _ in range(200):
            if len(sink.sent) == 3 or reading.done():
                break
            await asyncio.sleep(0.01)
        still_reading = not reading.done()
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
        return [(frame[0], frame[1]) for frame in parsed(sink.sent)], still_reading

    sent, still_reading = asyncio.run(run())
    first = (4, "d1") if label == "1.6" else (3, "d1")  # 1.6: data is a string
    assert sent == [first, (4, "d1"), (3, "h1")]
    assert still_reading


def test_a_result_holding_itself_is_answered_internal_error() -> None:
    """A handler's result whose data holds itself: no JSON can write it. ``ocpp`` raises
    RecursionError out of ``route_message``; the drop-in did too (its recursion), ending
    ``start()``; now it answers InternalError, as for any result it cannot send."""
    looped: dict[str, Any] = {}
    looped["self"] = looped

    class Loop(v201.ChargePoint):
        @on("DataTransfer")
        def on_data_transfer(self, **kwargs: Any) -> Any:
            return result201.DataTransfer(status="Accepted", data=looped)

    outcome, sent, _ = asyncio.run(_route(Loop, _data_transfer("dict", 2), None))
    assert outcome == "returned"
    assert [frame[:3] for frame in sent] == [[4, "d1", "InternalError"]]


def test_error_details_holding_themselves_are_answered_as_details_json_cannot_hold() -> None:
    """A handler's error whose details hold themselves: ``ocpp`` raises ValueError out of
    ``route_message`` (its ``json.dumps``: a circular reference), nothing answered; the
    drop-in answers the code and description with ``{}``, as for any details JSON cannot
    hold (``NestedTooDeeply``, now a RecursionError, is among them)."""
    looped: dict[str, Any] = {}
    looped["self"] = looped
    theirs_class, ours_class = charge_point_classes("2.0.1", ["DataTransfer"])
    error = ocpp.exceptions.GenericError(description="no", details=looped)
    theirs = asyncio.run(_route(theirs_class, _data_transfer("dict", 2), error))
    assert theirs[:2] == ("ValueError", [])
    outcome, sent, _ = asyncio.run(_route(ours_class, _data_transfer("dict", 2), error))
    assert (outcome, sent) == ("returned", [[4, "d1", "GenericError", "no", {}]])


@pytest.mark.parametrize("kind", ["dict", "list"])
def test_a_deep_call_result_is_returned_as_ocpp_returns_it(kind: str) -> None:
    """Our ``call()`` answered with ``data`` 600 levels deep: the result ``ocpp`` returns
    (keys renamed), where the drop-in's recursion raised RecursionError out of ``call()``."""

    async def run(cls: type[Any]) -> Any:
        sink = Sink()
        charge_point = cls("CP", sink)
        charge_point._unique_id_generator = lambda: "c1"
        calling = asyncio.ensure_future(charge_point.call(call201.DataTransfer(vendor_id="V")))
        while not sink.sent:
            await asyncio.sleep(0)
        answer = f'[3,"c1",{{"status":"Accepted","data":{_nested(kind, 600)}}}]'
        await charge_point.route_message(answer)
        return await calling

    theirs = asyncio.run(run(ocpp.v201.ChargePoint))
    ours = asyncio.run(run(v201.ChargePoint))
    assert theirs.status == "Accepted"
    assert ours == theirs


@pytest.mark.parametrize("label", LABELS)
def test_refused_deeper_down_is_answered_with_the_codecs_code(
    label: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frame ``route_message`` read whole that the check of its payload, further down the
    stack, refuses as nested too deeply (msgspec's bound being the stack left: a band of a
    few levels). Answered with the code the codec names (RpcFrameworkError, 1.6
    FormationViolation) to the frame's id, where 2.x answered FormatViolation, the code of
    the class ``ocpp`` raises for the fault; the class stays ``ocpp``'s."""
    _, ours_class = charge_point_classes(label, ["DataTransfer"])
    raised: list[Exception] = []

    def refused(*args: Any) -> None:
        raise errors.RpcFrameworkError("frame is nested too deeply")

    monkeypatch.setattr(ours_class, "_fast_check", refused)
    original = ours_class._fast_route_call

    async def routed(self: Any, msg: Any) -> None:
        try:
            await self._fast_handle_call(msg, True)
        except Exception as error:
            raised.append(error)
        await original(self, msg)

    monkeypatch.setattr(ours_class, "_fast_route_call", routed)
    outcome, sent, _ = asyncio.run(_route(ours_class, _data_transfer("list", 3), _accepted(label)))
    code = by_label(label).code_of(errors.RpcFrameworkError)
    assert (outcome, sent) == ("returned", [[4, "d1", code, "frame is nested too deeply", {}]])
    assert type(raised[0]) is ocpp.exceptions.FormatViolationError


def test_a_request_holding_itself_raises_recursion_error_as_with_ocpp() -> None:
    """A ``call()`` whose request holds itself, or nests deeper than JSON is read: ``ocpp``
    raises RecursionError (its ``asdict``), nothing sent. The drop-in raised
    ``NestedTooDeeply``, a ValueError, past a backend's ``except RecursionError``; it is a
    RecursionError now, nothing sent, and no ``OCPPError`` on either."""
    looped: dict[str, Any] = {}
    looped["self"] = looped
    deep: list[Any] = []
    for _ in range(3000):
        deep = [deep]

    async def run(cls: type[Any], data: Any) -> tuple[str, list[str]]:
        sink = Sink()
        try:
            await cls("CP", sink).call(call201.DataTransfer(vendor_id="V", data=data))
        except RecursionError as error:
            assert not isinstance(error, ocpp.exceptions.OCPPError)
            return "RecursionError", sink.sent
        return "returned", sink.sent

    for data in (looped, deep):
        assert asyncio.run(run(ocpp.v201.ChargePoint, data)) == ("RecursionError", [])
        assert asyncio.run(run(v201.ChargePoint, data)) == ("RecursionError", [])
    assert issubclass(NestedTooDeeply, RecursionError)
