"""OCPP 1.6 and 2.1 on the same codec, protocol and dispatch: what differs by version."""

from __future__ import annotations

import asyncio
import datetime
import importlib
import logging
from typing import Any

import msgspec
import pytest

import ocpp_fast
from ocpp_fast import dispatch, errors, tolerance, v16, v21, v201
from ocpp_fast.aio import AsyncConnection, connect_in_memory
from ocpp_fast.protocol import CallFailed, Protocol, ResultRejected, SendReceived, Side

pytestmark = pytest.mark.usefixtures("dispatch_twin")  # handle and feed: both twins

NOW = datetime.datetime(2026, 11, 24, 12, tzinfo=datetime.UTC)


def decoded(frame: bytes | None) -> list[Any]:
    assert frame is not None
    result: list[Any] = msgspec.json.decode(frame)
    return result


# --- 1.6 ----------------------------------------------------------------------------------


class Central16(v16.ChargeSystem):
    def boot_notification(
        self, request: v16.messages.BootNotificationRequest
    ) -> v16.messages.BootNotificationResponse:
        return v16.messages.BootNotificationResponse(
            status=v16.enums.BootNotificationResponseStatusEnum.ACCEPTED,
            current_time=NOW,
            interval=300,
        )

    def start_transaction(
        self, request: v16.messages.StartTransactionRequest
    ) -> v16.messages.StartTransactionResponse:
        return v16.messages.StartTransactionResponse(
            id_tag_info=v16.datatypes.IdTagInfoType(status=v16.enums.IdTagInfoStatusEnum.ACCEPTED),
            transaction_id=42,
        )

    def meter_values(
        self, request: v16.messages.MeterValuesRequest
    ) -> v16.messages.MeterValuesResponse:
        return v16.messages.MeterValuesResponse()

    def stop_transaction(
        self, request: v16.messages.StopTransactionRequest
    ) -> v16.messages.StopTransactionResponse:
        return v16.messages.StopTransactionResponse()

    def signed_firmware_status_notification(
        self, request: v16.messages.SignedFirmwareStatusNotificationRequest
    ) -> v16.messages.SignedFirmwareStatusNotificationResponse:
        return v16.messages.SignedFirmwareStatusNotificationResponse()


class Point16(v16.Charger):
    def remote_start_transaction(
        self, request: v16.messages.RemoteStartTransactionRequest
    ) -> v16.messages.RemoteStartTransactionResponse:
        return v16.messages.RemoteStartTransactionResponse(
            status=v16.enums.RemoteStartTransactionResponseStatusEnum.ACCEPTED
        )


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (
            b'[2,"1","BootNotification",{"chargePointVendor":"v","chargePointModel":"m","x":1}]',
            "FormationViolation",
        ),
        (b'[2,"1","Heartbeat",{"x":1}]', "NotSupported"),  # no handler: said before the payload
        (b'[2,"1","BootNotification",{"chargePointModel":"m"}]', "OccurenceConstraintViolation"),
        (b'[2,"1","Heartbeat"]', "FormationViolation"),
        (b"not json", "FormationViolation"),
        (b'[2,"1","Teleport",{}]', "NotImplemented"),
        (b'[2,"1","Reset",{"type":"Hard"}]', "NotSupported"),
        (
            b'[2,"1","StatusNotification",{"connectorId":1.0,"errorCode":"NoError",'
            b'"status":"Available"}]',
            "NotSupported",  # not handled here; the integer rule is checked below
        ),
    ],
)
def test_16_answers_with_16_spellings(frame: bytes, code: str) -> None:
    answer = decoded(Central16().handle(frame))
    assert answer[0] == 4 and answer[2] == code


def test_16_draft04_core_rejects_integral_floats_but_its_security_extension_accepts_them() -> None:
    core = b'[2,"1","StartTransaction",{"connectorId":1.0,"idTag":"A","meterStart":0,'
    core += b'"timestamp":"2026-11-24T12:00:00Z"}]'
    assert decoded(Central16().handle(core))[2] == "TypeConstraintViolation"
    security = b'[2,"2","SignedFirmwareStatusNotification",{"status":"Idle","requestId":3.0}]'
    assert decoded(Central16().handle(security)) == [3, "2", {}]


def test_16_ignores_unknown_message_types_and_refuses_a_repeated_id_with_protocol_error() -> None:
    assert Central16().handle(b'[5,"1","GenericError","",{}]') is None
    assert Central16().handle(b'[9,"1"]') is None
    conn = Protocol(v16.VERSION, Side.CSMS)
    conn.receive(b'[2,"x","Heartbeat",{}]')
    conn.receive(b'[2,"x","Heartbeat",{}]')
    assert decoded(conn.data_to_send()[0])[:3] == [4, "x", "ProtocolError"]


def test_16_error_spellings_map_back_to_their_classes() -> None:
    assert errors.error_class("OccurenceConstraintViolation") is (
        errors.OccurrenceConstraintViolationError
    )
    assert errors.error_class("FormationViolation") is errors.FormatViolationError
    assert errors.error_class("FormatViolation") is errors.FormatViolationError


def test_16_session_in_memory() -> None:
    async def run() -> list[Any]:
        point, central = connect_in_memory(Point16(), Central16(), "CP1")
        return [
            await point.call(
                v16.messages.BootNotificationRequest(
                    charge_point_vendor="V", charge_point_model="M"
                ),
                timeout=2,
            ),
            await point.call(
                v16.messages.StartTransactionRequest(
                    connector_id=1, id_tag="TAG", meter_start=0, timestamp=NOW
                ),
                timeout=2,
            ),
            await point.call(
                v16.messages.MeterValuesRequest(
                    connector_id=1,
                    transaction_id=42,
                    meter_value=[
                        v16.datatypes.MeterValueType(
                            timestamp=NOW,
                            sampled_value=[v16.datatypes.MeterValueSampledValueType(value="12.5")],
                        )
                    ],
                ),
                timeout=2,
            ),
            await point.call(
                v16.messages.StopTransactionRequest(
                    meter_stop=100, timestamp=NOW, transaction_id=42
                ),
                timeout=2,
            ),
            await central.call(v16.messages.RemoteStartTransactionRequest(id_tag="TAG"), timeout=2),
        ]

    boot, start, meter, stop, remote = asyncio.run(run())
    assert boot.status == "Accepted"
    assert start.transaction_id == 42 and start.id_tag_info.status == "Accepted"
    assert meter == v16.messages.MeterValuesResponse()
    assert stop == v16.messages.StopTransactionResponse()
    assert remote.status == "Accepted"


# --- 2.1 ----------------------------------------------------------------------------------

STREAM = v21.messages.NotifyPeriodicEventStreamRequest(
    data=[v21.datatypes.StreamDataElementType(t=0.5, v="230.1")], id=1, pending=0, basetime=NOW
)


class Central21(v21.ChargeSystem):
    def __init__(self) -> None:
        self.streamed: list[v21.messages.NotifyPeriodicEventStreamRequest] = []

    def notify_periodic_event_stream(
        self, request: v21.messages.NotifyPeriodicEventStreamRequest
    ) -> None:
        self.streamed.append(request)

    def heartbeat(self, request: v21.messages.HeartbeatRequest) -> v21.messages.HeartbeatResponse:
        return v21.messages.HeartbeatResponse(current_time=NOW)


class Point21(v21.Charger):
    def get_tariffs(
        self, request: v21.messages.GetTariffsRequest
    ) -> v21.messages.GetTariffsResponse:
        return v21.messages.GetTariffsResponse(status=v21.enums.TariffGetStatusEnumType.NO_TARIFF)


def test_21_ignores_unknown_message_types() -> None:
    assert Central21().handle(b'[9,"1",{}]') is None
    assert Central21().handle(b"[0]") is None


def test_21_send_frames_reach_the_handler_and_are_never_answered() -> None:
    csms = Central21()
    frame = msgspec.json.encode([6, "s1", "NotifyPeriodicEventStream", STREAM])
    assert csms.handle(frame) is None
    assert csms.streamed == [STREAM]
    conn = Protocol(v21.VERSION, Side.CSMS)
    events = conn.receive(frame)
    assert len(events) == 1 and isinstance(events[0], SendReceived)
    assert conn.data_to_send() == []


def test_21_a_send_of_a_calls_action_is_dropped_and_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """OCPP-J 2.1: only an action never answered (NotifyPeriodicEventStream) is sent as a SEND.
    A SEND of a CALL's action (Heartbeat) reached its handler, whose answer went nowhere: it is
    dropped with a WARNING naming it, on handle(), the protocol and a live connection alike."""

    class Counting(Central21):
        beats = 0

        def heartbeat(
            self, request: v21.messages.HeartbeatRequest
        ) -> v21.messages.HeartbeatResponse:
            Counting.beats += 1
            return super().heartbeat(request)

    frame = b'[6,"s1","Heartbeat",{}]'
    with caplog.at_level(logging.WARNING, "ocpp_fast"):
        assert Counting().handle(frame) is None
        conn = Protocol(v21.VERSION, Side.CSMS)
        assert conn.receive(frame) == []
        assert conn.data_to_send() == []
        written: list[bytes] = []
        live = AsyncConnection(Counting(), write=written.append, identity="S1")
        live.feed(frame)
        assert written == []
    assert Counting.beats == 0
    said = [r.getMessage() for r in caplog.records if "SEND of Heartbeat" in r.getMessage()]
    assert len(said) == 3 and "never answered" in said[0], said


def test_21_send_is_outside_the_one_outstanding_call_rule() -> None:
    conn = Protocol(v21.VERSION, Side.STATION)
    call_id = conn.call(v21.messages.HeartbeatRequest())
    send_id = conn.send(STREAM)
    sent = [decoded(f) for f in conn.data_to_send()]
    assert [f[:3] for f in sent] == [
        [2, call_id, "Heartbeat"],
        [6, send_id, "NotifyPeriodicEventStream"],
    ]
    assert conn.outstanding == call_id
    with pytest.raises(ValueError, match="never answered"):
        conn.call(STREAM)  # type: ignore[arg-type]  # the checker refuses it too
    with pytest.raises(ValueError, match="SEND"):
        conn.send(v21.messages.HeartbeatRequest())  # type: ignore[arg-type]  # refused too


def test_21_an_invalid_call_result_is_answered_with_callresulterror(
    caplog: pytest.LogCaptureFixture,
) -> None:
    conn = Protocol(v21.VERSION, Side.STATION, message_id_factory=lambda: "h1")
    conn.call(v21.messages.HeartbeatRequest())
    conn.data_to_send()
    with caplog.at_level(logging.WARNING, "ocpp_fast"):
        events = conn.receive(b'[3,"h1",{"currentTime":"noon"}]')
    assert len(events) == 1 and isinstance(events[0], CallFailed)
    assert isinstance(events[0].error, errors.PropertyConstraintViolationError)
    answer = decoded(conn.data_to_send()[0])
    assert answer[:3] == [5, "h1", "PropertyConstraintViolation"]
    assert answer[4] == {"path": "$.currentTime"}


def test_21_a_received_callresulterror_is_reported_as_rejected() -> None:
    conn = Protocol(v21.VERSION, Side.CSMS)
    events = conn.receive(b'[5,"r1","PropertyConstraintViolation","bad",{"path":"$.x"}]')
    assert len(events) == 1 and isinstance(events[0], ResultRejected)
    assert isinstance(events[0].error, errors.PropertyConstraintViolationError)
    assert conn.data_to_send() == []


def test_21_session_with_a_send_in_memory() -> None:
    csms_handler = Central21()

    async def run() -> list[Any]:
        station, csms = connect_in_memory(Point21(), csms_handler, "CS21")
        heartbeat = await station.call(v21.messages.HeartbeatRequest(), timeout=2)
        await station.send(STREAM)
        tariffs = await csms.call(v21.messages.GetTariffsRequest(evse_id=1), timeout=2)
        await asyncio.sleep(0.05)
        return [heartbeat, tariffs]

    heartbeat, tariffs = asyncio.run(run())
    assert heartbeat.current_time == NOW
    assert tariffs.status == "NoTariff"
    assert csms_handler.streamed == [STREAM]


@pytest.mark.parametrize(("package", "label"), [("v16", "1.6"), ("v201", "2.0.1"), ("v21", "2.1")])
def test_a_version_prints_as_its_label_and_exports_the_shared_names(
    package: str, label: str
) -> None:
    """``str(VERSION)`` is what a log line or a message wants; the names a handler's code
    needs beside the model (``UNSET``, ``CallContext``, ``Tolerance``) come from the version
    package too, and are the very objects of their home modules."""
    version_package = importlib.import_module(f"ocpp_fast.{package}")
    assert str(version_package.VERSION) == label
    assert repr(version_package.VERSION) == f"<ProtocolVersion {label}>"
    assert version_package.UNSET is msgspec.UNSET
    assert version_package.UnsetType is msgspec.UnsetType
    assert version_package.CallContext is dispatch.CallContext
    assert version_package.Tolerance is tolerance.Tolerance
    assert set(version_package.__all__) <= set(dir(version_package))
    assert ocpp_fast.UNSET is msgspec.UNSET and ocpp_fast.Tolerance is tolerance.Tolerance
    assert ocpp_fast.CallContext is dispatch.CallContext


def test_21_an_invalid_send_is_discarded_never_answered(caplog: pytest.LogCaptureFixture) -> None:
    """OCPP-J 2.1: a SEND is never answered. An invalid one (NotifyPeriodicEventStream without
    its required fields) was answered with a CALLERROR to its id; it is discarded, said in a
    WARNING, on the protocol, handle() and a live connection alike."""
    frame = b'[6,"s1","NotifyPeriodicEventStream",{}]'
    with caplog.at_level(logging.WARNING, "ocpp_fast"):
        conn = Protocol(v21.VERSION, Side.CSMS)
        assert conn.receive(frame) == []
        assert conn.data_to_send() == []
        csms = Central21()
        assert csms.handle(frame) is None
        written: list[bytes] = []
        AsyncConnection(Central21(), write=written.append, identity="S1").feed(frame)
        assert written == []
        assert csms.streamed == []
    said = [r.getMessage() for r in caplog.records if "invalid SEND" in r.getMessage()]
    assert len(said) >= 2, said


def test_21_a_call_of_the_send_only_action_is_refused_with_not_supported() -> None:
    """NotifyPeriodicEventStream has no response: OCPP-J 2.1 sends it as a SEND only. A
    station that sent it as a CALL ran its handler, then the reply found no response type:
    a ``KeyError`` out of handle(), and a live connection closed with 1011. The CALL is
    refused NotSupported (the action is known, not taken so), the handler never run, on
    handle(), the protocol and a live connection alike, which stays open."""
    frame = msgspec.json.encode([2, "c1", "NotifyPeriodicEventStream", STREAM])
    csms = Central21()
    conn = Protocol(v21.VERSION, Side.CSMS)
    assert conn.receive(frame) == []
    written: list[bytes] = []
    live = AsyncConnection(csms, write=written.append, identity="S1")
    live.feed(frame)
    replies = [decoded(r) for r in (csms.handle(frame), *conn.data_to_send(), *written)]
    assert [r[:3] for r in replies] == [[4, "c1", "NotSupported"]] * 3, replies
    assert all("SEND" in r[3] for r in replies), replies
    assert csms.streamed == []
    live.feed(b'[2,"h1","Heartbeat",{}]')  # still open, still answering
    assert decoded(written[-1])[:2] == [3, "h1"]
    # whatever its payload: the action is refused before the payload is judged
    invalid = csms.handle(b'[2,"c2","NotifyPeriodicEventStream",{}]')
    assert decoded(invalid)[:3] == [4, "c2", "NotSupported"]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_send_frame_before_21_is_answered_as_its_version_says(version: str) -> None:
    """OCPP-J's table: a SEND (``[6, ...]``) on a 2.0.1 connection is answered
    MessageTypeNotSupported, as a CALLRESULTERROR (``[5, ...]``) is; 1.6 ignores both. 2.0.1
    discarded the SEND as an invalid one of 2.1, unanswered, on handle(), the protocol and a
    live connection alike."""
    handler: Any = v201.ChargeSystem() if version == "2.0.1" else v16.ChargeSystem()
    frame = msgspec.json.encode([6, "s1", "NotifyPeriodicEventStream", STREAM])
    conn = Protocol(handler.version, Side.CSMS)
    assert conn.receive(frame) == []
    written: list[bytes] = []
    AsyncConnection(handler, write=written.append, identity="S1").feed(frame)
    replies = [handler.handle(frame), *conn.data_to_send(), *written]
    if version == "1.6":
        assert replies == [None]
    else:
        assert [decoded(r)[:3] for r in replies] == [[4, "s1", "MessageTypeNotSupported"]] * 3


def test_21_a_peer_without_send_is_named_when_it_refuses_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A peer that reads no 2.1 SEND (npm ``ocpp-rpc`` 2.2.1 on ``ocpp2.1``) answers it with
    a CALLERROR MessageTypeNotSupported of id "-1", which was logged as any CALLERROR of an
    unknown id: nothing told the station that its stream went unread. The line says so; on
    2.0.1, where we send neither frame, it stays the plain one."""
    frame = b'[4,"-1","MessageTypeNotSupported","Unrecognised message type",{}]'
    with caplog.at_level(logging.WARNING, "ocpp_fast"):
        station = Protocol(v21.VERSION, Side.STATION)
        station.send(STREAM)
        assert station.receive(frame) == []
        assert Protocol(v201.VERSION, Side.STATION).receive(frame) == []
    (said21, said201) = [r.getMessage() for r in caplog.records if "unknown id" in r.getMessage()]
    assert "reads no OCPP 2.1 SEND" in said21, said21
    assert "NotifyPeriodicEventStream" in said21, said21
    assert said201 == "discarding a CALLERROR (MessageTypeNotSupported) with unknown id '-1'"
