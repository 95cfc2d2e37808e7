"""Errors as ``ocpp`` users meet them: raised classes and error frames, next to the real ``ocpp``.

- A schema failure of a ``call()``'s request or of the CALLRESULT answering it
  raises, in the user's process, the class ``ocpp`` 2.1.0 raises for the same
  input (its mapping by jsonschema keyword), on every version; what goes on the
  wire (2.1's CALLRESULTERROR) keeps the spec's code.
- A CALLERROR whose ErrorDetails is ``null`` or absent reaches the waiting
  ``call()`` as if ``{}`` had been sent, whether it arrives before or after
  ``call()`` waits; so on compat, on ``ocpp``, and on the native API, logged once
  per connection at INFO.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Iterator
from typing import Any

import msgspec
import ocpp.exceptions
import ocpp.v16
import ocpp.v21
import ocpp.v201
import pytest
from compat_pair import MODULES, Sink, ocpp_validating_inline
from my_test_charge_system import MyTestChargeSystem

from ocpp_fast import errors
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.compat import v16, v21, v201
from ocpp_fast.protocol import CallFailed
from ocpp_fast.v201 import enums, messages

FORMAT = ocpp.exceptions.FormatViolationError
TYPE = ocpp.exceptions.TypeConstraintViolationError
PROTOCOL = ocpp.exceptions.ProtocolError
OCPPS_CLASS = {
    "type": TYPE,
    "additionalProperties": FORMAT,
    "required": PROTOCOL,
    "maxLength": TYPE,
    "enum": FORMAT,
    "minItems": FORMAT,
}
"""The issue's statement of ``ocpp``'s mapping; the test checks ``ocpp`` agrees."""
SPEC_CODE = {
    "type": "TypeConstraintViolation",
    "additionalProperties": "FormatViolation",
    "required": "OccurrenceConstraintViolation",
    "maxLength": "PropertyConstraintViolation",
    "enum": "PropertyConstraintViolation",
    "minItems": "OccurrenceConstraintViolation",
}
"""What the spec table answers for each (2.x spelling): what 2.1's CALLRESULTERROR carries."""

BASES = {
    "1.6": (ocpp.v16.ChargePoint, v16.ChargePoint),
    "2.0.1": (ocpp.v201.ChargePoint, v201.ChargePoint),
    "2.1": (ocpp.v21.ChargePoint, v21.ChargePoint),
}

_RESET_2X = ("Reset", {"type": "Immediate"})
RESULT_CASES: dict[str, list[tuple[str, tuple[str, dict[str, Any]], Any]]] = {
    "1.6": [
        ("type", ("Reset", {"type": "Hard"}), {"status": 5}),
        ("additionalProperties", ("Reset", {"type": "Hard"}), {"status": "Accepted", "x": 1}),
        ("required", ("Reset", {"type": "Hard"}), {}),
        ("enum", ("Reset", {"type": "Hard"}), {"status": "Maybe"}),
        (
            "maxLength",
            ("GetConfiguration", {}),
            {"configurationKey": [{"key": "k" * 51, "readonly": True}]},
        ),
        ("type", ("Reset", {"type": "Hard"}), ["not", "an", "object"]),
    ],
    "2.0.1": [
        ("type", _RESET_2X, {"status": 5}),
        ("additionalProperties", _RESET_2X, {"status": "Accepted", "x": 1}),
        ("required", _RESET_2X, {}),
        ("enum", _RESET_2X, {"status": "Maybe"}),
        ("maxLength", _RESET_2X, {"status": "Accepted", "statusInfo": {"reasonCode": "r" * 21}}),
        (
            "minItems",
            (
                "GetVariables",
                {"get_variable_data": [{"component": {"name": "C"}, "variable": {"name": "V"}}]},
            ),
            {"getVariableResult": []},
        ),
    ],
}
RESULT_CASES["2.1"] = RESULT_CASES["2.0.1"]

REQUEST_CASES: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "1.6": [
        ("enum", "Reset", {"type": "Medium"}),  # the issue's own example
        ("type", "ChangeAvailability", {"connector_id": "one", "type": "Operative"}),
        ("required", "ChangeAvailability", {"connector_id": None, "type": "Operative"}),
        ("maxLength", "ChangeConfiguration", {"key": "k" * 51, "value": "v"}),
    ],
    "2.0.1": [
        ("enum", "Reset", {"type": "Sideways"}),
        ("type", "Reset", {"type": "Immediate", "evse_id": "one"}),
        ("required", "Reset", {"type": None}),
        ("maxLength", "ClearCache", {"custom_data": {"vendorId": "v" * 256}}),
        (
            "additionalProperties",
            "GetVariables",
            {
                "get_variable_data": [
                    {"component": {"name": "C", "x": 1}, "variable": {"name": "V"}}
                ]
            },
        ),
    ],
}
RESULT_ID = "r-1"


@pytest.fixture(autouse=True)
def _inline_validation() -> Iterator[None]:
    with ocpp_validating_inline():
        yield


def _request(label: str, action: str, kwargs: dict[str, Any]) -> Any:
    calls = importlib.import_module(f"ocpp.{MODULES[label]}.call")
    return getattr(calls, action)(**kwargs)


async def _call_answered(
    base: type[Any], request: Any, answer: str | None, **options: Any
) -> tuple[Any, list[Any]]:
    """``call(request)`` answered by the frame ``answer`` (sent once the call is out);
    returns what it returned or raised, and the frames the ChargePoint sent."""
    sink = Sink()
    charge_point = base("CP", sink, response_timeout=2)
    charge_point._unique_id_generator = lambda: RESULT_ID
    waiting = asyncio.ensure_future(charge_point.call(request, **options))
    for _ in range(5):
        await asyncio.sleep(0)
    if answer is not None and sink.sent:
        await charge_point.route_message(answer)
    try:
        outcome: Any = await waiting
    except Exception as error:  # the outcome compared
        outcome = error
    return outcome, [msgspec.json.decode(text) for text in sink.sent]


@pytest.mark.parametrize("label", ["1.6", "2.0.1", "2.1"])
def test_an_invalid_callresult_raises_ocpps_class_for_its_keyword(label: str) -> None:
    theirs_base, ours_base = BASES[label]

    async def run() -> None:
        for keyword, (action, kwargs), payload in RESULT_CASES[label]:
            request = _request(label, action, kwargs)
            answer = msgspec.json.encode([3, RESULT_ID, payload]).decode()
            theirs, _ = await _call_answered(theirs_base, request, answer)
            ours, sent = await _call_answered(ours_base, request, answer)
            expected = OCPPS_CLASS[keyword]
            assert type(theirs) is expected, (label, keyword, theirs)
            assert type(ours) is expected, (label, keyword, ours)
            if label == "2.1":  # the wire keeps the spec's code
                assert sent[-1][:3] == [5, RESULT_ID, SPEC_CODE[keyword]], (keyword, sent)

    asyncio.run(run())


@pytest.mark.parametrize("label", ["1.6", "2.0.1", "2.1"])
def test_an_invalid_request_raises_ocpps_class_before_anything_is_sent(label: str) -> None:
    theirs_base, ours_base = BASES[label]
    cases = REQUEST_CASES["1.6" if label == "1.6" else "2.0.1"]

    async def run() -> None:
        for keyword, action, kwargs in cases:
            request = _request(label, action, kwargs)
            theirs, their_sent = await _call_answered(theirs_base, request, None)
            ours, our_sent = await _call_answered(ours_base, request, None)
            expected = OCPPS_CLASS[keyword]
            assert type(theirs) is expected, (label, keyword, theirs)
            assert type(ours) is expected, (label, keyword, ours)
            assert their_sent == our_sent == []

    asyncio.run(run())


def test_the_spec_code_still_goes_on_the_wire_of_21() -> None:
    request = _request("2.1", "Reset", {"type": "Immediate"})
    answer = f'[3,"{RESULT_ID}",{{"status":"Maybe"}}]'
    raised, sent = asyncio.run(_call_answered(v21.ChargePoint, request, answer))
    assert type(raised) is FORMAT  # ocpp's class for an enum failure
    assert sent[-1][:3] == [5, RESULT_ID, "PropertyConstraintViolation"]  # the spec's code


# --- ErrorDetails null or absent -----------------------------------------------------------

ERROR_FRAMES = [
    f'[4,"{RESULT_ID}","GenericError","boom",null]',
    f'[4,"{RESULT_ID}","GenericError","boom"]',
]


async def _error_before_call(base: type[Any], frame: str, suppress: bool) -> Any:
    """The error arrives before ``call()`` waits for it (the id chosen by the caller)."""
    charge_point = base("CP", Sink(), response_timeout=2)
    await charge_point.route_message(frame)
    try:
        return await charge_point.call(
            _request("2.0.1", "Heartbeat", {}), suppress=suppress, unique_id=RESULT_ID
        )
    except Exception as error:  # the outcome compared
        return error


@pytest.mark.parametrize("frame", ERROR_FRAMES)
@pytest.mark.parametrize("suppress", [True, False])
def test_an_error_without_details_reaches_the_waiting_call_as_ocpp_delivers_it(
    frame: str, suppress: bool
) -> None:
    request = _request("2.0.1", "Heartbeat", {})
    outcomes = []
    for base in BASES["2.0.1"]:
        after, _ = asyncio.run(_call_answered(base, request, frame, suppress=suppress))
        before = asyncio.run(_error_before_call(base, frame, suppress))
        outcomes.append((after, before))
    for after, before in outcomes:
        for outcome in (after, before):
            if suppress:
                assert outcome is None
            else:
                assert type(outcome) is ocpp.exceptions.GenericError
                assert (outcome.description, outcome.details) == ("boom", {})


def test_an_error_without_details_is_logged_once_per_connection_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def run() -> None:
        backend = v201.ChargePoint("CP", Sink())
        for number in range(3):
            await backend.route_message(f'[4,"x{number}","GenericError","",null]')
        await v201.ChargePoint("CP2", Sink()).route_message('[4,"y","GenericError",""]')

    with caplog.at_level(logging.INFO, logger="ocpp"):
        asyncio.run(run())
    noted = [r for r in caplog.records if "without ErrorDetails" in r.getMessage()]
    assert [(r.levelno, r.getMessage()[:4]) for r in noted] == [
        (logging.INFO, "CP: "),
        (logging.INFO, "CP2:"),
    ]


def test_a_21_callresulterror_without_details_is_taken_quietly() -> None:
    async def run(base: type[Any]) -> list[str]:
        sink = Sink()
        await base("CP", sink).route_message('[5,"r9","GenericError","no",null]')
        return sink.sent

    assert asyncio.run(run(v21.ChargePoint)) == []
    assert asyncio.run(run(ocpp.v21.ChargePoint)) == []  # ocpp does not know type 5 at all


@pytest.mark.usefixtures("dispatch_twin")  # feed: both twins
@pytest.mark.parametrize("details", [b"null", None])
def test_the_native_api_delivers_an_error_without_details_to_the_waiting_call(
    details: bytes | None, caplog: pytest.LogCaptureFixture
) -> None:
    def frame(message_id: str) -> bytes:
        tail = b"," + details if details is not None else b""
        return b'[4,"' + message_id.encode() + b'","GenericError","boom"' + tail + b"]"

    async def run() -> errors.OcppError:
        written: list[bytes] = []
        connection = AsyncConnection(MyTestChargeSystem(), write=written.append, identity="CS1")
        waiting = asyncio.ensure_future(
            connection.call(messages.ResetRequest(type=enums.ResetEnumType.IMMEDIATE), timeout=2)
        )
        for _ in range(5):
            await asyncio.sleep(0)
        connection.feed(frame(msgspec.json.decode(written[0])[1]))
        with pytest.raises(errors.GenericError) as caught:
            await waiting
        return caught.value

    with caplog.at_level(logging.INFO, logger="ocpp_fast"):
        error = asyncio.run(run())
        # the other order: the error is in before anyone awaits the call's outcome
        protocol = MyTestChargeSystem().protocol("CS2")
        message_id = protocol.call(messages.ResetRequest(type=enums.ResetEnumType.ON_IDLE))
        protocol.receive(frame("unknown"))  # no call of that id: discarded
        (event,) = protocol.receive(frame(message_id))
    assert (error.description, error.details) == ("boom", {})
    assert isinstance(event, CallFailed) and type(event.error) is errors.GenericError
    assert event.error.details == {}
    noted = [r for r in caplog.records if "without ErrorDetails" in r.getMessage()]
    assert [(r.levelno, r.getMessage()[:4]) for r in noted] == [
        (logging.INFO, "CS1:"),
        (logging.INFO, "CS2:"),
    ]
