"""The drop-in's leftovers from the fourth audit, each run on ``ocpp`` 2.1.0 and on the drop-in.

Each test feeds ``ocpp``'s ChargePoint and ``ocpp_fast.compat``'s the same input and
requires the same outcome (what is sent, what is raised), or the difference the
migration guide lists:

- Key names: the drop-in wrote a payload key spelt otherwise than the schema
  (``ChargingProfileId``, ``Component``) as the schema spells it, on every version,
  where ``ocpp`` writes it as given and refuses it (``call()`` raises
  FormatViolationError, nothing sent; with ``skip_schema_validation=True`` it is sent as
  given). Only the names ``ocpp``'s own conversion gets wrong, all of them 2.1's
  (``limitL2``, ``prioritizedEmaids``), are still written as the schema spells them
  [a_key_spelt_otherwise_is_refused_as_ocpp_refuses_it,
  unvalidated_keys_are_sent_as_ocpp_writes_them,
  a_result_with_a_key_spelt_otherwise_is_not_sent,
  the_21_names_ocpp_gets_wrong_are_still_written_as_the_schema_spells_them].
- A handler raising ``asyncio.CancelledError`` (awaiting a lookup someone cancelled)
  ends ``ocpp``'s ``start()``, its ``except Exception`` not catching it; the drop-in read
  on, handled the next CALL and left this one unanswered without a word
  [a_handler_raising_cancelled_error_ends_start].
- A CALLRESULT that is no JSON (``NaN``) failed the drop-in's ``call()`` with
  FormationViolationError on 1.6 and GenericError on 2.x (``ocpp`` has no class of
  RpcFrameworkError); now FormatViolationError on every version, the class ``ocpp``
  raises for a frame that is not JSON [an_answer_that_is_no_json_raises_format_violation].
  A peer's CALLERROR whose code ``ocpp`` has no class for raises its
  UnknownCallErrorCodeError on both [a_code_ocpp_has_no_class_for_raises_as_with_ocpp];
  the drop-in answers a CALL holding NaN with the spec's code of the version
  [a_call_holding_nan_is_answered_with_the_versions_code].
- Found running an ``ocpp`` CSMS and charger in the four pairings: a float NaN or
  infinity the schema did not refuse (``skip_schema_validation=True``, DataTransfer
  ``data``) was sent as ``null`` (msgspec's writing of it), where ``ocpp`` sends ``NaN``
  and the guide says the drop-in refuses it; it is refused now, with or without
  validation [a_nan_is_never_sent_as_null].
- A handler's error whose details held a NaN was answered with ``null`` for it (``ocpp``:
  ``NaN``, no JSON); now ``{}``
  [error_details_holding_nan_are_answered_as_details_json_cannot_hold].
  A code ``ocpp`` has no class for stood in as GenericError in what the drop-in's checks
  raise; now ``ocpp``'s class of the same fault
  [a_code_ocpp_has_no_class_for_is_raised_as_ocpp_raises_its_fault].
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from typing import Any

import msgspec
import ocpp.exceptions
import ocpp.messages
import ocpp.v16
import ocpp.v21
import ocpp.v201
import pytest
from compat_pair import Sink, ocpp_validating_inline
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v21 import call as call21
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from test_compat_ported import real_pair

from ocpp_fast import errors
from ocpp_fast._protocol_version import by_label
from ocpp_fast.compat import v16, v21, v201
from ocpp_fast.compat._charge_point import ocpp_exception

NOW = "2026-12-03T07:00:00Z"
PAIRS = {
    "1.6": (ocpp.v16.ChargePoint, v16.ChargePoint),
    "2.0.1": (ocpp.v201.ChargePoint, v201.ChargePoint),
    "2.1": (ocpp.v21.ChargePoint, v21.ChargePoint),
}


@pytest.fixture(autouse=True)
def _inline_validation() -> Iterator[None]:
    with ocpp_validating_inline():
        yield


async def _call(base: type[Any], request: Any, **kwargs: Any) -> tuple[str, list[Any]]:
    """What ``call()`` raised (its class name) and the frames it sent, no answer coming."""
    sink = Sink()
    charge_point = base("CP", sink, response_timeout=0.01)
    charge_point._unique_id_generator = lambda: "c1"
    try:
        await charge_point.call(request, **kwargs)
    except Exception as error:
        outcome = type(error).__name__
    else:
        outcome = "returned"
    return outcome, [msgspec.json.decode(frame) for frame in sink.sent]


def _profile16(**keys: Any) -> dict[str, Any]:
    return {
        **keys,
        "stack_level": 0,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Absolute",
        "charging_schedule": {
            "charging_rate_unit": "A",
            "charging_schedule_period": [{"start_period": 0, "limit": 6.0}],
        },
    }


def _set_variable(**keys: Any) -> Any:
    return call201.SetVariables(set_variable_data=[{"variable": {"name": "V"}, **keys}])


def _profile21(period: dict[str, Any]) -> Any:
    return call21.SetChargingProfile(
        evse_id=1,
        charging_profile={
            "id": 1,
            "stack_level": 0,
            "charging_profile_purpose": "TxDefaultProfile",
            "charging_profile_kind": "Absolute",
            "charging_schedule": [
                {
                    "id": 1,
                    "charging_rate_unit": "W",
                    "start_schedule": NOW,
                    "charging_schedule_period": [{"start_period": 0, "limit": 10.0, **period}],
                }
            ],
        },
    )


MISSPELT = {
    "1.6 ChargingProfileId": (
        "1.6",
        call16.RemoteStartTransaction(id_tag="T", charging_profile=_profile16(ChargingProfileId=1)),
    ),
    "1.6 charging_profile_ID": (
        "1.6",
        call16.RemoteStartTransaction(
            id_tag="T", charging_profile=_profile16(charging_profile_ID=1)
        ),
    ),
    "2.0.1 Component": ("2.0.1", _set_variable(attribute_value="1", Component={"name": "C"})),
    "2.0.1 Name": ("2.0.1", _set_variable(attribute_value="1", component={"Name": "C"})),
    "2.1 LimitL2": ("2.1", _profile21({"LimitL2": 5.0})),
}


@pytest.mark.parametrize("case", MISSPELT)
def test_a_key_spelt_otherwise_is_refused_as_ocpp_refuses_it(case: str) -> None:
    """A key of a dict in a request that the schema spells otherwise (case, underscores):
    ``ocpp`` writes it as given, its validation refuses it, ``call()`` raises
    FormatViolationError and sends nothing. The drop-in wrote the schema's spelling and
    sent the call: a backend passed its tests on the drop-in that failed on ``ocpp``, and
    back on ``ocpp`` (or with ``skip_schema_validation``) sent a key no station knows."""
    label, request = MISSPELT[case]
    theirs_class, ours_class = PAIRS[label]
    theirs = asyncio.run(_call(theirs_class, request))
    ours = asyncio.run(_call(ours_class, request))
    assert theirs == ("FormatViolationError", [])
    assert ours == theirs


def test_a_key_ocpp_writes_right_is_sent_as_ocpp_sends_it() -> None:
    """``attribute_Value``: ``ocpp``'s conversion writes ``attributeValue``, the schema's
    name, so both send the call (the restriction above refuses only what ``ocpp`` does)."""
    request = _set_variable(attribute_Value="1", component={"name": "C"})
    theirs = asyncio.run(_call(ocpp.v201.ChargePoint, request))
    assert theirs[0] == "TimeoutError"
    assert theirs[1][0][3]["setVariableData"][0]["attributeValue"] == "1"
    assert asyncio.run(_call(v201.ChargePoint, request)) == theirs


@pytest.mark.parametrize("case", MISSPELT)
def test_unvalidated_keys_are_sent_as_ocpp_writes_them(case: str) -> None:
    """``call(..., skip_schema_validation=True)`` sends the payload as ``ocpp`` converts it,
    a key spelt otherwise included: the drop-in sent the schema's spelling instead."""
    label, request = MISSPELT[case]
    theirs_class, ours_class = PAIRS[label]
    theirs = asyncio.run(_call(theirs_class, request, skip_schema_validation=True))
    assert theirs[0] == "TimeoutError"
    assert asyncio.run(_call(ours_class, request, skip_schema_validation=True)) == theirs


def test_a_result_with_a_key_spelt_otherwise_is_not_sent() -> None:
    """A handler's result holding ``{"Key": ...}``: ``ocpp`` refuses its own answer and
    sends a CALLERROR FormatViolation (the guide's row: the drop-in answers InternalError,
    the fault being ours); the drop-in sent a CALLRESULT with ``key``."""

    def station(base: type[Any]) -> type[Any]:
        class Station(base):  # type: ignore[misc]
            @on("GetConfiguration")
            def on_get_configuration(self, **kwargs: Any) -> Any:
                return result16.GetConfiguration(
                    configuration_key=[{"Key": "HeartbeatInterval", "readonly": False}]
                )

        return Station

    async def run(base: type[Any]) -> list[Any]:
        sink = Sink()
        await station(base)("CP", sink).route_message('[2,"g1","GetConfiguration",{}]')
        return [msgspec.json.decode(frame)[:3] for frame in sink.sent]

    assert asyncio.run(run(ocpp.v16.ChargePoint)) == [[4, "g1", "FormatViolation"]]
    assert asyncio.run(run(v16.ChargePoint)) == [[4, "g1", "InternalError"]]


def test_the_21_names_ocpp_gets_wrong_are_still_written_as_the_schema_spells_them() -> None:
    """The guide's row: ``ocpp`` writes ``limitL2`` for ``limit_l2`` (what a handler is
    handed) and ``prioritizedEmaids`` for its own dataclass field, and refuses both; the
    drop-in writes ``limit_L2`` and ``prioritizedEMAIDs``, as the 2.1 schema spells them."""
    profile = _profile21({"limit_l2": 5.0})
    certificate = call21.Get15118EVCertificate(
        iso_15118_schema_version="v", action="Install", exi_request="e", prioritized_emaids=["A"]
    )
    for request in (profile, certificate):
        assert asyncio.run(_call(ocpp.v21.ChargePoint, request)) == ("FormatViolationError", [])
    outcome, ((_, _, _, payload),) = asyncio.run(_call(v21.ChargePoint, profile))
    period = payload["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]
    assert (outcome, period) == ("TimeoutError", {"startPeriod": 0, "limit": 10.0, "limit_L2": 5.0})
    outcome, ((_, _, _, payload),) = asyncio.run(_call(v21.ChargePoint, certificate))
    assert (outcome, payload["prioritizedEMAIDs"]) == ("TimeoutError", ["A"])


# --- a handler raising CancelledError ---------------------------------------------------------


class _Connection:
    """Hands ``start()`` the frames, then fails as a closed connection does."""

    def __init__(self, frames: list[str]) -> None:
        self.frames = frames
        self.sent: list[str] = []

    async def recv(self) -> str:
        if self.frames:
            return self.frames.pop(0)
        await asyncio.sleep(0.2)
        raise ConnectionError("closed")

    async def send(self, text: str) -> None:
        self.sent.append(text)


def test_a_handler_raising_cancelled_error_ends_start() -> None:
    """A handler awaiting a lookup that another task cancelled gets ``CancelledError``:
    ``ocpp``'s ``_handle_call`` catches ``Exception`` only, so it leaves ``route_message``
    and ``start()``, the CALL unanswered and the CALLs after it never handled. The drop-in
    dropped it with the routing task: it read on, answered the next CALL, and ``start()``
    ended only with the connection, the station's ``call()`` waiting out its timeout."""
    frames = [
        '[2,"a1","Authorize",{"idToken":{"idToken":"T","type":"ISO14443"}}]',
        '[2,"h1","Heartbeat",{}]',
    ]

    def csms(base: type[Any]) -> type[Any]:
        class Csms(base):  # type: ignore[misc]
            @on("Authorize")
            async def on_authorize(self, id_token: dict[str, str]) -> Any:
                lookup = asyncio.ensure_future(asyncio.sleep(10))
                asyncio.get_running_loop().call_soon(lookup.cancel)  # a shutdown elsewhere
                await lookup
                return result201.Authorize(id_token_info={"status": "Accepted"})

            @on("Heartbeat")
            def on_heartbeat(self) -> Any:
                return result201.Heartbeat(current_time=NOW)

        return Csms

    async def run(base: type[Any]) -> tuple[str, list[str], int]:
        connection = _Connection(list(frames))
        try:
            await csms(base)("CP", connection).start()
        except BaseException as error:  # the point: which one leaves start()
            outcome = type(error).__name__
        else:
            outcome = "returned"
        current = asyncio.current_task()
        assert current is not None
        return outcome, connection.sent, current.cancelling()

    theirs = asyncio.run(run(ocpp.v201.ChargePoint))
    assert theirs == ("CancelledError", [], 0)
    assert asyncio.run(run(v201.ChargePoint)) == theirs


# --- errors of codes ocpp has no class for --------------------------------------------------

_HEARTBEATS = {"1.6": call16.Heartbeat(), "2.0.1": call201.Heartbeat(), "2.1": call21.Heartbeat()}


async def _answered(base: type[Any], label: str, answer: str, suppress: bool) -> Any:
    """What ``call()`` raises or returns when the peer answers ``answer``, and what was sent
    back (2.1's CALLRESULTERROR)."""
    sink = Sink()
    charge_point = base("CP", sink, response_timeout=1)
    charge_point._unique_id_generator = lambda: "u1"
    waiting = asyncio.ensure_future(charge_point.call(_HEARTBEATS[label], suppress=suppress))
    await asyncio.sleep(0.01)
    await charge_point.route_message(answer)
    try:
        outcome: Any = await waiting
    except Exception as error:
        outcome = type(error)
    return outcome, [msgspec.json.decode(frame)[:3] for frame in sink.sent[1:]]


@pytest.mark.parametrize("label", PAIRS)
@pytest.mark.parametrize("code", ["RpcFrameworkError", "MessageTypeNotSupported", "AcmeRetryLater"])
def test_a_code_ocpp_has_no_class_for_raises_as_with_ocpp(label: str, code: str) -> None:
    """A CALLERROR whose code ``ocpp`` has no exception class for (2.x's RpcFrameworkError
    and MessageTypeNotSupported, a vendor's own code): ``call(suppress=False)`` raises
    ``ocpp``'s UnknownCallErrorCodeError, which is no OCPPError, on both; ``suppress=True``
    returns None on both."""
    answer = f'[4,"u1","{code}","no",{{}}]'
    for suppress, expected in ((False, ocpp.exceptions.UnknownCallErrorCodeError), (True, None)):
        outcomes = [asyncio.run(_answered(base, label, answer, suppress)) for base in PAIRS[label]]
        assert outcomes == [(expected, [])] * 2


@pytest.mark.parametrize("label", PAIRS)
def test_an_answer_that_is_no_json_raises_format_violation(label: str) -> None:
    """``[3,"u1",{"currentTime":NaN}]``: ``ocpp`` reads it (and refuses the float where a
    string is due); the drop-in refuses the frame, as the spec's JSON has no NaN, with
    ``ocpp``'s class for a frame that is not JSON, the same on every version (1.6 raised
    FormationViolationError, 2.x GenericError, ``ocpp`` having no RpcFrameworkError); 2.1
    sends its CALLRESULTERROR of the spec's code."""
    answer = '[3,"u1",{"currentTime":NaN}]'
    theirs_class, ours_class = PAIRS[label]
    theirs = asyncio.run(_answered(theirs_class, label, answer, False))
    assert theirs == (ocpp.exceptions.TypeConstraintViolationError, [])
    back = [[5, "u1", "RpcFrameworkError"]] if label == "2.1" else []
    assert asyncio.run(_answered(ours_class, label, answer, False)) == (
        ocpp.exceptions.FormatViolationError,
        back,
    )


@pytest.mark.parametrize(
    ("label", "raised"),
    [
        ("1.6", ocpp.exceptions.FormationViolationError),
        ("2.0.1", ocpp.exceptions.UnknownCallErrorCodeError),
    ],
)
def test_a_call_holding_nan_is_answered_with_the_versions_code(
    label: str, raised: type[Exception]
) -> None:
    """An ``ocpp`` station's MeterValues holding NaN, over a real WebSocket: the drop-in
    answers the spec's code for a frame that is not JSON, FormationViolation on 1.6 and
    RpcFrameworkError on 2.0.1, which the station's ``call()`` raises as
    FormationViolationError and, ``ocpp`` having no class of that code,
    UnknownCallErrorCodeError (``ocpp`` itself answers such a CALL as if it held a float)."""
    if label == "1.6":  # a meter read as NaN; ocpp's own check refuses a float there
        request: Any = call16.StartTransaction(
            connector_id=1, id_tag="T", meter_start=math.nan, timestamp=NOW
        )
    else:
        request = call201.MeterValues(
            evse_id=1, meter_value=[{"timestamp": NOW, "sampled_value": [{"value": math.nan}]}]
        )
    csms_class = PAIRS[label][1]

    async def script(csms: Any, station: Any) -> Any:
        try:
            await station.call(request, suppress=False, skip_schema_validation=label == "1.6")
        except Exception as error:
            return type(error)
        return "answered"

    observed, _ = asyncio.run(real_pair(csms_class, PAIRS[label][0], label, script, 2))
    assert observed is raised


# --- a NaN the schema does not refuse -------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "kwargs", "path"),
    [
        (call201.DataTransfer(vendor_id="V", data={"x": math.nan}), {}, "$.data.x"),
        (
            call201.MeterValues(
                evse_id=1, meter_value=[{"timestamp": NOW, "sampled_value": [{"value": math.inf}]}]
            ),
            {"skip_schema_validation": True},
            "$.meterValue[0].sampledValue[0].value",
        ),
    ],
    ids=["data", "unvalidated"],
)
def test_a_nan_is_never_sent_as_null(request_: Any, kwargs: dict[str, Any], path: str) -> None:
    """``ocpp`` writes ``NaN``/``Infinity`` (the guide's row); the drop-in refuses a request
    holding one, ``TypeConstraintViolationError`` naming its path, nothing sent, also where
    validation lets it through. It sent ``null`` there: a value nobody wrote."""

    async def run(base: type[Any]) -> tuple[Any, list[str]]:
        sink = Sink()
        try:
            await base("CP", sink, response_timeout=0.01).call(request_, **kwargs)
        except ocpp.exceptions.TypeConstraintViolationError as error:
            return error.details["path"], sink.sent
        except TimeoutError:
            return "sent", sink.sent
        return "answered", sink.sent

    outcome, (frame,) = asyncio.run(run(ocpp.v201.ChargePoint))
    assert outcome == "sent"
    assert "NaN" in frame or "Infinity" in frame  # no JSON: the guide's row
    assert asyncio.run(run(v201.ChargePoint)) == (path, [])


def test_a_result_holding_nan_is_answered_internal_error() -> None:
    """A handler's DataTransfer result whose ``data`` (any value) holds a NaN: ``ocpp``
    answers ``[NaN]``; the drop-in answers InternalError (the guide's row), where it
    answered ``[null]``."""

    def station(base: type[Any]) -> type[Any]:
        class Station(base):  # type: ignore[misc]
            @on("DataTransfer")
            def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> Any:
                return result201.DataTransfer(status="Accepted", data=[math.nan])

        return Station

    async def run(base: type[Any]) -> list[str]:
        sink = Sink()
        await station(base)("CP", sink).route_message('[2,"d1","DataTransfer",{"vendorId":"V"}]')
        return sink.sent

    assert asyncio.run(run(ocpp.v201.ChargePoint)) == [
        '[3,"d1",{"status":"Accepted","data":[NaN]}]'
    ]
    assert asyncio.run(run(v201.ChargePoint)) == [
        '[4,"d1","InternalError","invalid DataTransfer response",{}]'
    ]


# --- an answer's ErrorDetails holding a NaN; a code ocpp has no class for ----------------------


@pytest.mark.parametrize("label", PAIRS)
def test_error_details_holding_nan_are_answered_as_details_json_cannot_hold(label: str) -> None:
    """A handler raising an ``ocpp`` error whose details hold a float NaN or infinity:
    ``ocpp`` writes them ``NaN`` / ``Infinity`` (no JSON; 2.1.0 measured here); the drop-in
    wrote ``null``, values nobody wrote. Now they are ErrorDetails JSON cannot hold, sent
    ``{}`` as the details ``json`` cannot write (the guide's row), code and words kept."""

    def station(base: type[Any]) -> type[Any]:
        class Station(base):  # type: ignore[misc]
            @on("Heartbeat")
            def on_heartbeat(self) -> Any:
                raise ocpp.exceptions.InternalError(
                    description="meter", details={"reading": math.nan, "limit": [math.inf]}
                )

        return Station

    async def run(base: type[Any]) -> list[str]:
        sink = Sink()
        await station(base)("CP", sink).route_message('[2,"h1","Heartbeat",{}]')
        return sink.sent

    assert asyncio.run(run(PAIRS[label][0])) == [
        '[4,"h1","InternalError","meter",{"reading":NaN,"limit":[Infinity]}]'
    ]
    assert asyncio.run(run(PAIRS[label][1])) == ['[4,"h1","InternalError","meter",{}]']


def _raised_by_unpack(frame: str) -> type[Exception]:
    """The class ``ocpp``'s ``unpack`` raises for ``frame``."""
    with pytest.raises(ocpp.exceptions.OCPPError) as raised:
        ocpp.messages.unpack(frame)
    return type(raised.value)


@pytest.mark.parametrize("label", PAIRS)
def test_a_code_ocpp_has_no_class_for_is_raised_as_ocpp_raises_its_fault(label: str) -> None:
    """``ocpp_exception`` (a request or result the drop-in's check refuses) fell back to
    GenericError for a code ``ocpp`` has no class for: 2.x's RpcFrameworkError (a frame not
    JSON to the spec, nested too deeply) and MessageTypeNotSupported. ``ocpp`` raises
    FormatViolationError for a frame that is not JSON and PropertyConstraintViolationError for
    a MessageTypeId it does not know, whatever the version: so does the drop-in now. Every
    other code of the spec is raised as ``ocpp``'s class of that code."""
    version = by_label(label)
    not_json, unknown_type = _raised_by_unpack("[2,"), _raised_by_unpack('[7,"u1",{}]')
    assert (not_json, unknown_type) == (
        ocpp.exceptions.FormatViolationError,
        ocpp.exceptions.PropertyConstraintViolationError,
    )
    raised: Any = ocpp_exception(errors.RpcFrameworkError("frame is nested too deeply"), version)
    assert raised.description == "frame is nested too deeply"
    assert type(raised) is not_json
    assert type(ocpp_exception(errors.MessageTypeNotSupportedError("7"), version)) is unknown_type
    for cls in set(errors._BY_CODE.values()) - {
        errors.RpcFrameworkError,
        errors.MessageTypeNotSupportedError,
    }:
        code = version.code_of(cls)
        assert ocpp_exception(cls("x"), version).code == code  # type: ignore[attr-defined]
