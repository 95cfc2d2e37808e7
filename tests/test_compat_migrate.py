"""A fourth audit of the drop-in: a team migrating a CSMS and a charger simulator, week one.

Both written on ``ocpp`` 2.1.0 (1.6 and 2.0.1; ``@on``/``@after`` with enum and string
actions, calls from handlers and hooks, ``suppress=False`` and ``except`` clauses per
``ocpp.exceptions`` class, ``call_unique_id``, DataTransfer with vendor keys, the
``ocpp.charge_point`` helpers, ``route_message``/``_send``/``start`` overridden,
``asyncio.wait_for`` around calls, subprotocols from ``websockets.serve``), run on
``ocpp`` on both sides, then with the imports switched as docs/how-to/migrate-from-ocpp.md
says, then mixed. What they saw was the same, or a documented difference, except for
what these tests pin, each over real WebSockets with a real ``ocpp`` peer:

- a float NaN or infinity, which ``ocpp``'s encoder writes as ``NaN``/``Infinity`` (no
  JSON) and its decoder reads: the drop-in answers such a CALL with the CALL's own id,
  as Python's ``json`` reads it, so the peer's ``call()`` gets its error at once (it
  waited out its whole timeout for an answer to "-1", holding its call lock)
  [a_call_ocpp_writes_with_nan_is_answered_with_its_own_id,
  a_call_ocpp_writes_with_a_lone_surrogate_is_answered_with_its_own_id]; such an answer to
  the drop-in's ``call()`` fails the call at once, as an invalid CALLRESULT does (it waited
  out its timeout) [an_answer_ocpp_writes_with_nan_fails_the_call_at_once];
- the documented differences newly listed: a ``Decimal`` in the three 1.6 payloads
  ``ocpp`` validates with decimals (``ocpp`` raises TypeError) and a NaN in a ``call()``
  (``ocpp`` sends it) [a_decimal_in_a_16_decimal_payload_is_written,
  a_nan_in_a_call_is_refused_before_it_is_sent], and a tuple for an array (``ocpp`` refuses
  it) [a_tuple_for_an_array_is_written_where_ocpp_refuses_it];
- what ``call()`` cannot write: a ``unique_id`` that is a ``uuid.UUID`` was sent and never
  matched (``ocpp`` raises TypeError, as the drop-in now does), a lone surrogate in the text
  raised UnicodeEncodeError (now ``ocpp``'s FormatViolationError; ``ocpp`` sends the escape)
  [what_call_cannot_write_raises_before_anything_is_sent].
"""

from __future__ import annotations

import asyncio
import decimal
import math
import uuid
from collections.abc import Iterator
from typing import Any

import ocpp.exceptions
import ocpp.v16
import ocpp.v201
import pytest
from compat_pair import ocpp_validating_inline
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from test_compat_ported import real_pair

from ocpp_fast.compat import v16, v201

NOW = "2026-12-03T07:00:00Z"


@pytest.fixture(autouse=True)
def _inline_validation() -> Iterator[None]:
    with ocpp_validating_inline():
        yield


def _meter_values(value: float) -> Any:
    return call201.MeterValues(
        evse_id=1, meter_value=[{"timestamp": NOW, "sampled_value": [{"value": value}]}]
    )


def _csms201(base: type[Any]) -> type[Any]:
    class Csms(base):  # type: ignore[misc]
        @on("MeterValues")
        def on_meter_values(self, evse_id: int, meter_value: list[Any]) -> Any:
            self.values = [s["value"] for v in meter_value for s in v["sampled_value"]]
            return result201.MeterValues()

    return Csms


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_call_ocpp_writes_with_nan_is_answered_with_its_own_id(value: float) -> None:
    """An ``ocpp`` station's MeterValues holding NaN (a meter's division by zero): ``ocpp``
    sends ``NaN``, which is no JSON; the drop-in refuses it as the spec says, but to the
    CALL's own id, so the station's ``call(suppress=False)`` raises at once."""

    async def script(csms: Any, station: Any) -> Any:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await station.call(_meter_values(value), suppress=False)
        except ocpp.exceptions.UnknownCallErrorCodeError as error:  # RpcFrameworkError
            return str(error), loop.time() - started
        return "answered", csms.values

    async def run(csms_base: type[Any]) -> Any:
        observed, _ = await real_pair(_csms201(csms_base), ocpp.v201.ChargePoint, "2.0.1", script)
        return observed

    outcome, values = asyncio.run(run(ocpp.v201.ChargePoint))  # ocpp reads it, as a float
    assert outcome == "answered"
    assert values[0] == value or math.isnan(values[0])
    outcome, waited = asyncio.run(run(v201.ChargePoint))
    # at once: the station's timeout (5 s) would have raised a TimeoutError, not this error
    assert "RpcFrameworkError" in outcome
    print(f"\nanswered RpcFrameworkError in {waited:.3f} s")


def test_a_decimal_in_a_16_decimal_payload_is_written() -> None:
    """``ocpp`` validates 1.6 SetChargingProfile by re-encoding it without its Decimal
    encoder, so a ``Decimal`` limit raises TypeError out of ``call()``; the drop-in writes
    it with one decimal, as ``ocpp`` writes a Decimal anywhere else."""
    profile = {
        "charging_profile_id": 1,
        "stack_level": 0,
        "charging_profile_purpose": "TxDefaultProfile",
        "charging_profile_kind": "Absolute",
        "charging_schedule": {
            "charging_rate_unit": "A",
            "charging_schedule_period": [{"start_period": 0, "limit": decimal.Decimal("16.0")}],
        },
    }

    class Station(ocpp.v16.ChargePoint):  # type: ignore[misc]
        @on("SetChargingProfile")
        def on_profile(self, connector_id: int, cs_charging_profiles: Any) -> Any:
            self.limit = cs_charging_profiles["charging_schedule"]["charging_schedule_period"][0]
            return result16.SetChargingProfile(status="Accepted")

    async def script(csms: Any, station: Any) -> Any:
        try:
            result = await csms.call(
                call16.SetChargingProfile(connector_id=1, cs_charging_profiles=profile)
            )
        except TypeError as error:
            return f"TypeError: {error}"
        return result.status, station.limit["limit"]

    async def run(csms_class: type[Any]) -> Any:
        observed, _ = await real_pair(csms_class, Station, "1.6", script)
        return observed

    assert asyncio.run(run(ocpp.v16.ChargePoint)).startswith("TypeError: Object of type Decimal")
    assert asyncio.run(run(v16.ChargePoint)) == ("Accepted", decimal.Decimal("16.0"))


def test_a_nan_in_a_call_is_refused_before_it_is_sent() -> None:
    """A NaN in a ``call()``: ``ocpp`` sends ``NaN`` (and an ``ocpp`` peer reads it), the
    drop-in raises TypeConstraintViolationError and sends nothing."""

    async def script(csms: Any, station: Any) -> Any:
        try:
            await station.call(_meter_values(math.nan))
        except ocpp.exceptions.TypeConstraintViolationError as error:
            return error.details["path"]
        return csms.values

    async def run(station_class: type[Any]) -> Any:
        observed, _ = await real_pair(
            _csms201(ocpp.v201.ChargePoint), station_class, "2.0.1", script
        )
        return observed

    assert math.isnan(asyncio.run(run(ocpp.v201.ChargePoint))[0])
    assert asyncio.run(run(v201.ChargePoint)) == "$.meterValue[0].sampledValue[0].value"


def test_a_call_ocpp_writes_with_a_lone_surrogate_is_answered_with_its_own_id() -> None:
    """A string holding half a UTF-16 pair (firmware cutting a name): ``ocpp`` writes the
    escape ``\\ud800``, which decodes to no character; refused, to the CALL's own id."""

    async def script(csms: Any, station: Any) -> Any:
        try:
            await station.call(call201.DataTransfer(vendor_id="V\ud800"), suppress=False)
        except ocpp.exceptions.UnknownCallErrorCodeError as error:
            return str(error)
        return "answered"

    observed, _ = asyncio.run(
        real_pair(v201.ChargePoint, ocpp.v201.ChargePoint, "2.0.1", script, station_timeout=2)
    )
    assert "RpcFrameworkError" in observed


def test_a_tuple_for_an_array_is_written_where_ocpp_refuses_it() -> None:
    """``GetConfiguration(key=("HeartbeatInterval",))``: ``ocpp``'s schema check takes only
    a list for an array and raises; the drop-in writes the tuple as an array."""

    class Station(ocpp.v16.ChargePoint):  # type: ignore[misc]
        @on("GetConfiguration")
        def on_get_configuration(self, key: list[str]) -> Any:
            return result16.GetConfiguration(unknown_key=key)

    async def script(csms: Any, station: Any) -> Any:
        try:
            result = await csms.call(call16.GetConfiguration(key=("HeartbeatInterval",)))
        except ocpp.exceptions.TypeConstraintViolationError:
            return "TypeConstraintViolationError"
        return result.unknown_key

    def run(csms_class: type[Any]) -> Any:
        return asyncio.run(real_pair(csms_class, Station, "1.6", script))[0]

    assert run(ocpp.v16.ChargePoint) == "TypeConstraintViolationError"
    assert run(v16.ChargePoint) == ["HeartbeatInterval"]


def test_an_answer_ocpp_writes_with_nan_fails_the_call_at_once() -> None:
    """An ``ocpp`` station whose composite schedule holds a NaN limit answers ``NaN``: the
    drop-in's ``call()`` raises ``FormatViolationError`` at once, the class ``ocpp`` raises
    for a frame that is not JSON (it waited for its timeout), and, 1.6 and 2.0.1 answering
    no CALLRESULT, nothing is sent back."""

    class Station(ocpp.v201.ChargePoint):  # type: ignore[misc]
        @on("GetCompositeSchedule")
        def on_composite(self, duration: int, evse_id: int, **kwargs: Any) -> Any:
            period = {"start_period": 0, "limit": math.nan}
            return result201.GetCompositeSchedule(
                status="Accepted",
                schedule={
                    "evse_id": evse_id,
                    "duration": duration,
                    "schedule_start": NOW,
                    "charging_rate_unit": "W",
                    "charging_schedule_period": [period],
                },
            )

    async def script(csms: Any, station: Any) -> Any:
        csms._response_timeout = 3
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            result = await csms.call(call201.GetCompositeSchedule(duration=60, evse_id=1))
        except ocpp.exceptions.OCPPError as error:
            outcome = f"{type(error).__name__}: {error.description}"
        else:
            outcome = repr(result.schedule["charging_schedule_period"][0]["limit"])
        await asyncio.sleep(0.05)  # what the CSMS sent back would have arrived
        return outcome, loop.time() - started, station._response_queue.qsize()

    def run(csms_class: type[Any]) -> Any:
        return asyncio.run(real_pair(csms_class, Station, "2.0.1", script))[0]

    assert run(ocpp.v201.ChargePoint)[0] == "nan"  # ocpp reads it
    outcome, waited, sent_back = run(v201.ChargePoint)
    # as ocpp names it; at once: the CSMS's timeout (3 s) would have raised a TimeoutError
    assert outcome.startswith("FormatViolationError: frame is not valid JSON")
    print(f"\nanswered FormatViolationError in {waited:.3f} s")
    assert sent_back == 0


def test_what_call_cannot_write_raises_before_anything_is_sent() -> None:
    """A ``unique_id`` that is a ``uuid.UUID``, not its text: ``ocpp`` raises TypeError (its
    ``json.dumps``); the drop-in sent it and waited out its timeout, the answer's id being a
    string. A lone surrogate in a request's text: ``ocpp`` writes the escape (an ``ocpp``
    peer reads it); the drop-in cannot write it in UTF-8 and raised UnicodeEncodeError, which
    ``except OCPPError`` around the call let through: now FormatViolationError."""

    class Station(ocpp.v201.ChargePoint):  # type: ignore[misc]
        @on("DataTransfer")
        def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> Any:
            return result201.DataTransfer(status="Accepted")

    async def script(csms: Any, station: Any) -> Any:
        csms._response_timeout = 2
        outcomes = []
        for kwargs in (
            {"unique_id": uuid.UUID(int=1)},
            {"payload": call201.DataTransfer(vendor_id="V\ud800")},
        ):
            arguments = {"payload": call201.DataTransfer(vendor_id="V"), **kwargs}
            try:
                result = await csms.call(**arguments)
            except (TypeError, ocpp.exceptions.OCPPError) as error:
                outcomes.append(type(error).__name__)
            else:
                outcomes.append(result.status)
        return outcomes

    def run(csms_class: type[Any]) -> Any:
        return asyncio.run(real_pair(csms_class, Station, "2.0.1", script))[0]

    assert run(ocpp.v201.ChargePoint) == ["TypeError", "Accepted"]
    assert run(v201.ChargePoint) == ["TypeError", "FormatViolationError"]
