"""``None`` in an optional field of a message of ours: msgspec writes ``null``, the schema
refuses it, and msgspec's words ("Expected `str`, got `null`") say nothing of ``UNSET``. The
error of our own request (raised by ``call()``) and the log of our own invalid response name
the field and ``UNSET``; a peer's ``null`` is answered without the hint (it is no Python's)."""

from __future__ import annotations

import asyncio
import datetime
import logging

import pytest

from ocpp_fast import errors, v16, v201
from ocpp_fast.aio import connect_in_memory
from ocpp_fast.protocol import Protocol, Side
from ocpp_fast.v201 import datatypes, enums, messages

pytestmark = pytest.mark.usefixtures("dispatch_twin")  # handle and feed: both twins

NOW = datetime.datetime(2026, 12, 3, 9, tzinfo=datetime.UTC)
HINT = "is optional: leave it out or set it to UNSET; None is sent as null"


def refusal(request: object) -> errors.OcppError:
    """What ``call()`` raises for ``request`` (checked before it is sent: the same check)."""
    with pytest.raises(errors.OcppError) as refused:
        Protocol(v201.VERSION, Side.STATION).call(request)  # type: ignore[arg-type]
    assert refused.value.origin is errors.Origin.REQUEST_CHECK
    return refused.value


def test_a_nested_optional_none_names_the_field_and_unset() -> None:
    station = datatypes.ChargingStationType(model="M", vendor_name="V", serial_number=None)  # type: ignore[arg-type]
    boot = messages.BootNotificationRequest(
        reason=enums.BootReasonEnumType.POWER_UP, charging_station=station
    )
    error = refusal(boot)
    assert isinstance(error, errors.TypeConstraintViolationError)
    assert str(error) == (
        f"Expected `str`, got `null` at $.chargingStation.serialNumber (serial_number {HINT})"
    )
    assert error.details == {"path": "$.chargingStation.serialNumber"}


def test_a_none_through_lists_and_in_custom_data_is_named_too() -> None:
    sampled = datatypes.SampledValueType(value=1.0, phase=None)  # type: ignore[arg-type]
    values = messages.MeterValuesRequest(
        evse_id=1, meter_value=[datatypes.MeterValueType(timestamp=NOW, sampled_value=[sampled])]
    )
    assert str(refusal(values)).endswith(f"$.meterValue[0].sampledValue[0].phase (phase {HINT})")
    heartbeat = messages.HeartbeatRequest(custom_data=None)  # type: ignore[arg-type]
    assert str(refusal(heartbeat)).endswith(f"at $.customData (custom_data {HINT})")


def test_a_required_field_or_a_list_item_set_to_none_gets_no_unset_hint() -> None:
    """UNSET would be no answer there: a required field must be set, an item must be one."""
    required = messages.AuthorizeRequest(id_token=None)  # type: ignore[arg-type]
    assert str(refusal(required)) == "Expected `object`, got `null` at $.idToken"
    values = messages.MeterValuesRequest(evse_id=1, meter_value=[None])  # type: ignore[list-item]
    assert "UNSET" not in str(refusal(values))


def test_the_hint_is_raised_by_call_on_a_connection() -> None:
    start = v16.messages.StartTransactionRequest(
        connector_id=1,
        id_tag="T",
        meter_start=0,
        timestamp=NOW,
        reservation_id=None,  # type: ignore[arg-type]
    )

    async def main() -> None:
        station, _ = pair = connect_in_memory(v16.Charger(), v16.ChargeSystem())
        try:
            with pytest.raises(errors.TypeConstraintViolationError) as refused:
                await station.call(start)
        finally:
            await pair.close()
        assert str(refused.value).endswith(f"at $.reservationId (reservation_id {HINT})")
        assert refused.value.origin is errors.Origin.REQUEST_CHECK

    asyncio.run(main())


class NullAnswers(v201.ChargeSystem):
    def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        return messages.HeartbeatResponse(current_time=NOW, custom_data=None)  # type: ignore[arg-type]


def test_our_response_with_a_none_is_logged_with_the_hint_and_answered_internal_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, "ocpp_fast"):
        reply = NullAnswers().handle(b'[2,"h1","Heartbeat",{}]', "CS1")
    assert reply == b'[4,"h1","InternalError","invalid Heartbeat response",{}]'  # no hint out
    logged = [r.getMessage() for r in caplog.records]
    assert any(f"at $.customData (custom_data {HINT})" in line for line in logged), logged


def test_a_peers_null_is_answered_without_the_hint() -> None:
    reply = NullAnswers().handle(b'[2,"h2","Heartbeat",{"customData":null}]', "CS1")
    assert reply is not None and reply.startswith(b'[4,"h2","TypeConstraintViolation"')
    assert b"UNSET" not in reply
