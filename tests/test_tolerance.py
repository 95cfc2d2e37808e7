"""Tolerances: a deviation corpus (1.6 and 2.0.1, one frame per class and combined), the
policy hooks, the reports, and a fuzz of deviating payloads; on both codecs."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest
from msgspec import inspect as mi

from ocpp_fast import protocol, v16, v201
from ocpp_fast._deviate import deviate
from ocpp_fast._model import OcppEnum
from ocpp_fast._protocol_version import ProtocolVersion
from ocpp_fast._reference import decode_payload
from ocpp_fast.bench import DEFAULT_MIX, load_mix
from ocpp_fast.cli import main
from ocpp_fast.protocol import CallReceived, CallSucceeded, Protocol, Side
from ocpp_fast.tolerance import Deviation, Tolerance, repair

pytestmark = pytest.mark.usefixtures("dispatch_twin")  # handle and feed: both twins

T = Tolerance
WHEN = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def live_codec(impl: ModuleType, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Every test here runs on both codecs: the protocol decodes with ``impl``."""
    monkeypatch.setattr(protocol, "decode_frame", impl.decode_frame)
    return impl


@dataclass(frozen=True)
class Case:
    """A deviating CALL, the classes it needs, its strict code and the repaired payload."""

    name: str
    version: ProtocolVersion
    frame: bytes
    needs: Tolerance
    code: str
    expected: Any


def status_201(**changes: Any) -> Any:
    fields: dict[str, Any] = {
        "timestamp": WHEN,
        "connector_status": v201.enums.ConnectorStatusEnumType.AVAILABLE,
        "evse_id": 1,
        "connector_id": 1,
    }
    return v201.messages.StatusNotificationRequest(**(fields | changes))


def status_16(**changes: Any) -> Any:
    fields: dict[str, Any] = {
        "connector_id": 1,
        "error_code": v16.enums.ErrorCodeEnum.NO_ERROR,
        "status": v16.enums.StatusNotificationRequestStatusEnum.AVAILABLE,
        "timestamp": WHEN,
    }
    return v16.messages.StatusNotificationRequest(**(fields | changes))


S201 = (
    b'[2,"m1","StatusNotification",'
    b'{"timestamp":%s,"connectorStatus":%s,"evseId":%s,"connectorId":1%s}]'
)
S16 = (
    b'[2,"m1","StatusNotification",'
    b'{"connectorId":%s,"errorCode":"NoError","status":%s,"timestamp":%s%s}]'
)
OK_TIME = b'"2026-11-30T10:00:00Z"'
LONG = "M" * 30
V2, V1 = v201.VERSION, v16.VERSION
CORPUS = [
    Case("201 naive", V2, S201 % (b'"2026-11-30T10:00:00"', b'"Available"', b"1", b""),
         T.NAIVE_DATETIME, "PropertyConstraintViolation", status_201()),
    Case("201 space", V2, S201 % (b'"2026-11-30 10:00:00Z"', b'"Available"', b"1", b""),
         T.SPACE_DATETIME, "PropertyConstraintViolation", status_201()),
    Case("201 numeric", V2, S201 % (OK_TIME, b'"Available"', b'"1"', b""),
         T.NUMERIC_STRING, "TypeConstraintViolation", status_201()),
    Case("201 enum case", V2, S201 % (OK_TIME, b'"AVAILABLE"', b"1", b""),
         T.ENUM_CASE, "PropertyConstraintViolation", status_201()),
    Case("201 null", V2, S201 % (OK_TIME, b'"Available"', b"1", b',"customData":null'),
         T.NULL_OPTIONAL, "TypeConstraintViolation", status_201()),
    Case("201 unknown", V2, S201 % (OK_TIME, b'"Available"', b"1", b',"fw":"x"'),
         T.UNKNOWN_FIELDS, "FormatViolation", status_201()),
    Case("201 overlong", V2,
         b'[2,"m1","BootNotification",{"reason":"PowerUp","chargingStation":'
         b'{"model":"%s","vendorName":"V"}}]' % LONG.encode(),
         T.OVERLONG_STRING, "PropertyConstraintViolation",
         v201.messages.BootNotificationRequest(
             reason=v201.enums.BootReasonEnumType.POWER_UP,
             charging_station=v201.datatypes.ChargingStationType(model=LONG, vendor_name="V"))),
    Case("201 combined", V2,
         S201 % (b'"2026-11-30 10:00:00"', b'"available"', b'"1"',
                 b',"fw":null,"customData":{"vendorId":"Acme","fw":"keep"}'),
         T.NAIVE_DATETIME | T.SPACE_DATETIME | T.ENUM_CASE | T.NUMERIC_STRING | T.UNKNOWN_FIELDS,
         "PropertyConstraintViolation",
         status_201(custom_data={"vendorId": "Acme", "fw": "keep"})),
    Case("16 naive", V1, S16 % (b"1", b'"Available"', b'"2026-11-30T10:00:00"', b""),
         T.NAIVE_DATETIME, "PropertyConstraintViolation", status_16()),
    Case("16 space", V1, S16 % (b"1", b'"Available"', b'"2026-11-30 10:00:00Z"', b""),
         T.SPACE_DATETIME, "PropertyConstraintViolation", status_16()),
    Case("16 numeric", V1, S16 % (b'"1"', b'"Available"', OK_TIME, b""),
         T.NUMERIC_STRING, "TypeConstraintViolation", status_16()),
    Case("16 enum case", V1, S16 % (b"1", b'"available"', OK_TIME, b""),
         T.ENUM_CASE, "PropertyConstraintViolation", status_16()),
    Case("16 null", V1, S16 % (b"1", b'"Available"', OK_TIME, b',"info":null'),
         T.NULL_OPTIONAL, "TypeConstraintViolation", status_16()),
    Case("16 unknown", V1, S16 % (b"1", b'"Available"', OK_TIME, b',"fw":1'),
         T.UNKNOWN_FIELDS, "FormationViolation", status_16()),
    Case("16 overlong", V1, S16 % (b"1", b'"Available"', OK_TIME, b',"info":"%s"' % (b"i" * 60)),
         T.OVERLONG_STRING, "PropertyConstraintViolation", status_16(info="i" * 60)),
    Case("16 combined", V1, S16 % (b'"1"', b'"AVAILABLE"', b'"2026-11-30 10:00:00"', b',"fw":1'),
         T.NAIVE_DATETIME | T.SPACE_DATETIME | T.ENUM_CASE | T.NUMERIC_STRING | T.UNKNOWN_FIELDS,
         "TypeConstraintViolation", status_16()),
]  # fmt: skip
IDS = [case.name for case in CORPUS]


def csms(case: Case, policy: Tolerance) -> Protocol:
    return Protocol(case.version, Side.CSMS, identity="CS1", tolerance=policy)


def refused_with(connection: Protocol, frame: bytes) -> str:
    assert connection.receive(frame) == []
    (reply,) = connection.data_to_send()
    decoded = msgspec.json.decode(reply)
    assert decoded[:2] == [4, "m1"]
    code: str = decoded[2]
    return code


@pytest.mark.parametrize("case", CORPUS, ids=IDS)
def test_strict_answers_each_deviation_with_the_spec_code(case: Case) -> None:
    assert refused_with(csms(case, T.STRICT), case.frame) == case.code


@pytest.mark.parametrize("case", CORPUS, ids=IDS)
def test_the_policy_with_the_classes_accepts_and_repairs(case: Case) -> None:
    connection = csms(case, case.needs)
    (event,) = connection.receive(case.frame)
    assert isinstance(event, CallReceived)
    assert event.call.payload == case.expected
    assert type(event.call.payload) is type(case.expected)
    assert connection.data_to_send() == []
    assert {kind for _, kind in connection.deviations} == set(case.needs)
    assert {action for action, _ in connection.deviations} == {event.call.action}


@pytest.mark.parametrize("case", CORPUS, ids=IDS)
def test_a_policy_without_one_needed_class_still_refuses(case: Case) -> None:
    for missing in case.needs:
        connection = csms(case, T.ALL & ~missing)
        assert refused_with(connection, case.frame) == case.code, missing
        assert not connection.deviations


def test_conformant_frames_are_byte_for_byte_unaffected(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole mix under Tolerance.ALL: same payloads, same replies, and no repair ran."""

    def never(*_: Any) -> None:
        raise AssertionError("tolerance ran on a conformant frame")

    monkeypatch.setattr(protocol, "retry", never)
    for frame in load_mix(DEFAULT_MIX):
        strict, tolerant = (Protocol(V2, Side.CSMS, tolerance=p) for p in (T.STRICT, T.ALL))
        (a,), (b,) = strict.receive(frame.data), tolerant.receive(frame.data)
        assert isinstance(a, CallReceived) and isinstance(b, CallReceived)
        assert msgspec.json.encode(a.call.payload) == msgspec.json.encode(b.call.payload)
        assert not tolerant.deviations


def test_a_callresult_is_repaired_for_the_station() -> None:
    station = Protocol(V2, Side.STATION, tolerance=T.ALL)
    request = v201.messages.BootNotificationRequest(
        reason=v201.enums.BootReasonEnumType.POWER_UP,
        charging_station=v201.datatypes.ChargingStationType(model="M", vendor_name="V"),
    )
    message_id = station.call(request)
    station.data_to_send()
    result = b'[3,"%s",{"currentTime":"2026-11-30 10:00:00","interval":"300","status":"accepted"}]'
    (event,) = station.receive(result % message_id.encode())
    assert isinstance(event, CallSucceeded)
    assert event.response == v201.messages.BootNotificationResponse(
        current_time=WHEN, interval=300, status=v201.enums.RegistrationStatusEnumType.ACCEPTED
    )
    assert set(station.deviations) == {
        ("BootNotification", kind)
        for kind in (T.SPACE_DATETIME, T.NAIVE_DATETIME, T.NUMERIC_STRING, T.ENUM_CASE)
    }


@pytest.mark.parametrize(
    ("value", "accepted"),
    [("1", True), ("-3", True), ("1.5", False), ("1.0", False), (" 1", False), ("1 ", False),
     ("NaN", False), ("1e3", False), ("0x1", False), ("01", False), ("", False), ("+1", False)],
)  # fmt: skip
def test_numeric_string_takes_exact_integers_only(value: str, accepted: bool) -> None:
    frame = S201 % (OK_TIME, b'"Available"', msgspec.json.encode(value), b"")
    events = Protocol(V2, Side.CSMS, tolerance=T.NUMERIC_STRING).receive(frame)
    assert bool(events) is accepted


def test_numeric_string_of_a_number_field() -> None:
    payload = {"transactionId": 1, "connectorId": 1, "meterValue": [
        {"timestamp": "2026-11-30T10:00:00Z", "sampledValue": [{"value": "21.5"}]}]}  # fmt: skip
    result, found = repair(payload, v16.messages.MeterValuesRequest, V1, T.NUMERIC_STRING)
    assert result.meter_value[0].sampled_value[0].value == "21.5"  # a string in 1.6: untouched
    assert found == []
    payload = {"evseId": 1, "meterValue": [
        {"timestamp": "2026-11-30T10:00:00Z", "sampledValue": [{"value": "21.5"}]}]}  # fmt: skip
    result2, found = repair(payload, v201.messages.MeterValuesRequest, V2, T.NUMERIC_STRING)
    assert result2.meter_value[0].sampled_value[0].value == 21.5
    assert found == [Deviation(T.NUMERIC_STRING, "$.meterValue[0].sampledValue[0].value")]


class Twin(OcppEnum):
    """Two spellings that differ only in case: no unique case-insensitive match."""

    ONE = "Ab"
    TWO = "aB"


class Holder(msgspec.Struct, forbid_unknown_fields=True):
    kind: Twin


def test_enum_case_needs_a_unique_match() -> None:
    for ambiguous in ("AB", "ab"):
        with pytest.raises(Exception, match="Invalid enum value"):
            repair({"kind": ambiguous}, Holder, V2, T.ENUM_CASE)
    assert repair({"kind": "aB"}, Holder, V2, T.ENUM_CASE) == (Holder(Twin.TWO), [])


def test_customdata_vendor_keys_survive_and_datatransfer_null_data_stays() -> None:
    frame = (
        b'[2,"m1","DataTransfer",{"vendorId":"Acme","data":null,"junk":1,'
        b'"customData":{"vendorId":"Acme","extra":{"deep":true}}}]'
    )
    connection = Protocol(V2, Side.CSMS, tolerance=T.UNKNOWN_FIELDS | T.NULL_OPTIONAL)
    (event,) = connection.receive(frame)
    assert isinstance(event, CallReceived)
    request = event.call.payload
    assert isinstance(request, v201.messages.DataTransferRequest)
    assert request.data is None
    assert request.custom_data == {"vendorId": "Acme", "extra": {"deep": True}}
    assert set(connection.deviations) == {("DataTransfer", T.UNKNOWN_FIELDS)}


def test_null_of_a_required_field_is_not_repaired() -> None:
    frame = S201 % (OK_TIME, b'"Available"', b"null", b"")
    assert refused_with(Protocol(V2, Side.CSMS, tolerance=T.ALL), frame) == (
        "TypeConstraintViolation"
    )


def test_deviations_are_logged_once_per_station_action_and_class(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[tuple[str, str, list[Deviation]]] = []

    class Csms(v201.ChargeSystem):
        tolerance = T.NUMERIC_STRING
        on_deviation = staticmethod(lambda *report: seen.append(report))

        def status_notification(self, request: Any) -> Any:
            return v201.messages.StatusNotificationResponse()

    handler = Csms()
    frame = S201 % (OK_TIME, b'"Available"', b'"1"', b"")
    with caplog.at_level(logging.WARNING, logger="ocpp_fast"):
        for identity in ("CS1", "CS1", "CS2"):
            reply = handler.handle(frame, identity)
            assert reply == b'[3,"m1",{}]'
    lines = [r.getMessage() for r in caplog.records if "tolerated" in r.getMessage()]
    assert len(lines) == 2  # CS1 once, CS2 once
    assert "numeric_string" in lines[0] and "$.evseId" in lines[0]
    assert [identity for identity, _, _ in seen] == ["CS1", "CS1", "CS2"]
    assert seen[0][1:] == ("StatusNotification", [Deviation(T.NUMERIC_STRING, "$.evseId")])


def test_the_policy_is_chosen_per_station() -> None:
    class Csms(v201.ChargeSystem):
        def tolerance_for(self, identity: str) -> Tolerance:
            return T.NUMERIC_STRING if identity.startswith("NOISY") else T.STRICT

        def status_notification(self, request: Any) -> Any:
            return v201.messages.StatusNotificationResponse()

    frame = S201 % (OK_TIME, b'"Available"', b'"1"', b"")
    assert Csms().handle(frame, "NOISY-1") == b'[3,"m1",{}]'
    assert msgspec.json.decode(Csms().handle(frame, "GOOD-1") or b"")[2] == (
        "TypeConstraintViolation"
    )


def test_set_tolerance_from_the_boot_notification_handler() -> None:
    """A handler loosens its own station by vendor and model; other stations stay strict."""
    from ocpp_fast.aio import AsyncConnection
    from ocpp_fast.dispatch import CallContext

    class Csms(v201.ChargeSystem):
        def boot_notification(self, request: Any, context: CallContext) -> Any:
            if request.charging_station.vendor_name == "Acme" and context.connection:
                context.connection.set_tolerance(T.NUMERIC_STRING)
            return v201.messages.BootNotificationResponse(
                current_time=WHEN,
                interval=60,
                status=v201.enums.RegistrationStatusEnumType.ACCEPTED,
            )

        def status_notification(self, request: Any) -> Any:
            return v201.messages.StatusNotificationResponse()

    async def run() -> None:
        sent: list[bytes] = []
        conn = AsyncConnection(Csms(), write=sent.append, identity="CS1")
        frame = S201 % (OK_TIME, b'"Available"', b'"1"', b"")
        conn.feed(frame)
        assert b"TypeConstraintViolation" in sent[-1]
        conn.feed(b'[2,"b1","BootNotification",{"reason":"PowerUp","chargingStation":'
                  b'{"model":"M","vendorName":"Acme"}}]')  # fmt: skip
        assert sent[-1].startswith(b'[3,"b1"')
        conn.feed(frame.replace(b'"m1"', b'"m2"'))
        assert sent[-1] == b'[3,"m2",{}]'
        assert conn.protocol.tolerance == T.NUMERIC_STRING

    asyncio.run(run())


def test_parse_names_the_classes() -> None:
    assert Tolerance.parse("naive_datetime, enum_case") == T.NAIVE_DATETIME | T.ENUM_CASE
    assert Tolerance.parse("all") == T.ALL
    assert Tolerance.parse("") == T.STRICT
    with pytest.raises(ValueError, match="unknown tolerance 'naive'"):
        Tolerance.parse("naive")


def test_validate_reports_what_a_policy_would_repair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "frames.jsonl"
    log.write_bytes(CORPUS[0].frame + b"\n" + CORPUS[2].frame + b"\n" + b'[2,"1","Heartbeat",{}]')
    assert main(["validate", str(log), "--tolerate", "naive_datetime"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{log}:1: repaired naive_datetime $.timestamp",
        f"{log}:2: TypeConstraintViolation $.evseId Expected `int`, got `str` at $.evseId",
        "3 frames, 1 invalid, 1 accepted after repair (OCPP 2.0.1)",
    ]
    with pytest.raises(SystemExit):
        main(["validate", str(log), "--tolerate", "bogus"])


# --- fuzz: random deviations never crash and never hand over an invalid Struct --------------


def strictly_valid(payload: Any, tp: type[Any], deviations: list[Deviation]) -> None:
    """``payload`` encodes to what the strict decoder accepts, except ``maxLength`` at the
    reported over-long paths, whose values are cut to their limit before the check."""
    untyped = msgspec.json.decode(msgspec.json.encode(payload))
    for deviation in deviations:
        if deviation.kind is T.OVERLONG_STRING:
            *parents, last = _steps(deviation.path)
            node = untyped
            for step in parents:
                node = node[step]
            node[last] = node[last][:1]
    decode_payload(untyped, tp, V2 if tp.__module__.startswith("ocpp_fast.v201") else V1)


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for part in path[1:].replace("[", ".[").split(".")[1:]:
        steps.append(int(part[1:-1]) if part.startswith("[") else part)
    return steps


KINDS = [kind.label for kind in T.ALL]


@pytest.mark.parametrize("seed", range(40))
def test_fuzz_random_deviations_under_all_tolerances(seed: int) -> None:
    rng = random.Random(seed)
    for frame in load_mix(DEFAULT_MIX):
        tp = V2.request_types[frame.action]
        decoded = msgspec.json.decode(frame.data)
        chosen = set(rng.sample(KINDS, rng.randint(1, len(KINDS))))
        rate = rng.random()

        def pick(kind: str, chosen: set[str] = chosen, rate: float = rate) -> bool:
            return kind in chosen and rng.random() < rate

        decoded[3] = deviate(decoded[3], mi.type_info(tp), pick)
        data = msgspec.json.encode(decoded)
        reports: list[tuple[str, str, list[Deviation]]] = []
        strict = Protocol(V2, Side.CSMS)
        connection = Protocol(
            V2, Side.CSMS, tolerance=T.ALL, on_deviation=lambda *r, out=reports: out.append(r)
        )
        events = connection.receive(data)
        strict_events = strict.receive(data)
        if strict_events:  # nothing deviated: both accept the very same payload
            assert msgspec.json.encode(events) == msgspec.json.encode(strict_events)
            assert not reports
            continue
        (event,) = events
        assert isinstance(event, CallReceived)
        ((_, action, deviations),) = reports
        assert action == frame.action and deviations
        strictly_valid(event.call.payload, tp, deviations)


def test_handle_replies_are_byte_for_byte_the_same_under_any_policy() -> None:
    """ChargeSystem.handle over the mix: the strict and the all-tolerant class reply alike."""
    from ocpp_fast.bench import dispatch_batches, fast_responses

    frames = load_mix(DEFAULT_MIX)
    responses = fast_responses()
    handlers = {
        V2.actions[action].method: (lambda self, request, r=response: r)
        for action, response in responses.items()
    }
    strict = type("Strict", (v201.ChargeSystem,), handlers)()
    tolerant = type("Tolerant", (v201.ChargeSystem,), handlers | {"tolerance": T.ALL})()
    for frame in frames:
        assert strict.handle(frame.data) == tolerant.handle(frame.data)
    assert dispatch_batches(frames, responses, T.ALL)  # the bench's (g) verifies too


def test_a_call_this_side_does_not_handle_is_not_repaired() -> None:
    reports: list[object] = []
    station = Protocol(V2, Side.STATION, tolerance=T.ALL, on_deviation=lambda *r: reports.append(r))
    frame = S201 % (OK_TIME, b'"Available"', b'"1"', b"")
    assert refused_with(station, frame) == "NotSupported"
    assert not reports and not station.deviations


def test_a_failing_on_deviation_callback_does_not_fail_the_frame(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("report sink down")

    connection = Protocol(V2, Side.CSMS, tolerance=T.NUMERIC_STRING, on_deviation=broken)
    with caplog.at_level(logging.ERROR, logger="ocpp_fast"):
        (event,) = connection.receive(S201 % (OK_TIME, b'"Available"', b'"1"', b""))
    assert isinstance(event, CallReceived)
    assert any("on_deviation raised" in r.getMessage() for r in caplog.records)


def test_retry_of_an_error_naming_a_send_only_result_lets_it_stand() -> None:
    """A CALLRESULT's payload error naming 2.1's NotifyPeriodicEventStream (``pending`` mapping
    the id to it) made ``retry`` raise ``KeyError``: the action has no response (a SEND is
    never answered) to repair the payload against. The original error stands (``None``)."""
    from ocpp_fast import errors, v21
    from ocpp_fast.frames import CALLRESULT
    from ocpp_fast.tolerance import retry

    error = errors.PropertyConstraintViolationError(
        "bad", message_id="s1", message_type=CALLRESULT, action="NotifyPeriodicEventStream"
    )
    stream = {"s1": "NotifyPeriodicEventStream"}
    assert retry(b'[3,"s1",{"id":"1"}]', error, v21.VERSION, stream, Tolerance.ALL) is None
