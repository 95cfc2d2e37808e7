"""Charger and ChargeSystem: dispatch, the error rules, and whole conversations in memory."""

from __future__ import annotations

import asyncio
import datetime
import gc
import logging
import sys
from pathlib import Path
from typing import Any

import hypothesis
import msgspec
import pytest
from hypothesis import strategies as st
from my_test_charge_system import MyTestChargeSystem
from my_test_charger import MyTestCharger

from ocpp_fast import errors, v16, v21, v201
from ocpp_fast._model import CustomData
from ocpp_fast._outgoing import _check_result_frame
from ocpp_fast.aio import AsyncConnection, connect_in_memory
from ocpp_fast.dispatch import CallContext, HandlerSuspended
from ocpp_fast.protocol import CallFailed, CallReceived, CallSucceeded, Protocol, Side
from ocpp_fast.tolerance import Tolerance
from ocpp_fast.v201 import datatypes, enums, messages

pytestmark = pytest.mark.usefixtures("dispatch_twin")  # handle and feed: both twins

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))


NOW = datetime.datetime(2026, 11, 24, 12, tzinfo=datetime.UTC)
BOOT = messages.BootNotificationRequest(
    reason=enums.BootReasonEnumType.POWER_UP,
    charging_station=datatypes.ChargingStationType(model="M", vendor_name="V"),
)


def reply(handler: Any, frame: bytes) -> list[Any]:
    out = handler.handle(frame, "CS1")
    assert out is not None
    decoded: list[Any] = msgspec.json.decode(out)
    return decoded


# --- handle(): one frame in, the reply out --------------------------------------------------


def test_handle_answers_with_the_typed_response() -> None:
    answer = reply(MyTestChargeSystem(), b'[2,"1","DataTransfer",{"vendorId":"GA","data":"abc"}]')
    assert answer == [3, "1", {"status": "Accepted", "data": "cba"}]
    other = reply(MyTestChargeSystem(), b'[2,"2","DataTransfer",{"vendorId":"X"}]')
    assert other == [3, "2", {"status": "UnknownVendorId"}]


def test_handle_boot_checks_the_reason() -> None:
    frame = msgspec.json.encode([2, "b", "BootNotification", BOOT])
    assert reply(MyTestChargeSystem(), frame)[2]["status"] == "Accepted"
    unknown = msgspec.json.encode(
        [2, "b", "BootNotification", msgspec.structs.replace(BOOT, reason="Unknown")]
    )
    assert reply(MyTestChargeSystem(), unknown)[2]["status"] == "Pending"


def test_async_handlers_that_do_not_suspend_work_in_handle() -> None:
    frame = (
        b'[2,"t","TransactionEvent",{"eventType":"Ended","timestamp":"2026-11-24T12:00:00Z",'
        b'"triggerReason":"StopAuthorized","seqNo":3,"transactionInfo":{"transactionId":"T1"}}]'
    )
    assert reply(MyTestChargeSystem(), frame) == [3, "t", {}]


class _Waits(v201.ChargeSystem):
    tolerance = Tolerance.NUMERIC_STRING

    async def status_notification(
        self, request: messages.StatusNotificationRequest
    ) -> messages.StatusNotificationResponse:
        await asyncio.sleep(0)
        return messages.StatusNotificationResponse()


@pytest.mark.parametrize("evse", ["1", '"1"'], ids=["valid", "repaired"])
def test_an_async_handler_that_awaits_in_handle_is_the_callers_mistake(evse: str) -> None:
    """Both routes through ``handle`` (a valid CALL straight to its handler, a repaired one
    through the protocol) raise it to the caller; neither answers the peer for it."""
    frame = (
        '[2,"s","StatusNotification",{"timestamp":"2026-11-24T12:00:00Z",'
        f'"connectorStatus":"Available","evseId":{evse},"connectorId":1}}]'
    )
    with pytest.raises(HandlerSuspended, match="handle_async"):
        _Waits().handle(frame)
    assert reply_async(_Waits(), frame) == [3, "s", {}]


class _Sleeps(v201.ChargeSystem):
    tolerance = Tolerance.NUMERIC_STRING

    async def status_notification(
        self, request: messages.StatusNotificationRequest
    ) -> messages.StatusNotificationResponse:
        await asyncio.sleep(0.001)  # asks for the running loop before it could suspend
        return messages.StatusNotificationResponse()


@pytest.mark.parametrize("evse", ["1", '"1"'], ids=["valid", "repaired"])
def test_an_async_handler_that_needs_a_loop_in_handle_is_the_callers_mistake_too(
    evse: str,
) -> None:
    """Most real awaits (a sleep, a lock, a database call) ask asyncio for the running loop
    first, and fail in ``handle()`` before they could suspend: that is the same mistake, said
    as such, where the peer was answered a bare InternalError ("the handler failed")."""
    frame = (
        '[2,"s","StatusNotification",{"timestamp":"2026-11-24T12:00:00Z",'
        f'"connectorStatus":"Available","evseId":{evse},"connectorId":1}}]'
    )
    with pytest.raises(
        HandlerSuspended, match=r"handler of StatusNotification needs an event loop .*handle_async"
    ):
        _Sleeps().handle(frame)
    assert reply_async(_Sleeps(), frame) == [3, "s", {}]


def reply_async(handler: v201.ChargeSystem, frame: str) -> Any:
    answered = asyncio.run(handler.handle_async(frame))
    assert answered is not None
    return msgspec.json.decode(answered)


def test_handle_sync_and_async_agree() -> None:
    frame = b'[2,"h","Heartbeat",{}]'
    sync = MyTestChargeSystem().handle(frame)
    asynchronous = asyncio.run(MyTestChargeSystem().handle_async(frame))
    assert sync is not None and asynchronous is not None
    assert msgspec.json.decode(sync)[:2] == msgspec.json.decode(asynchronous)[:2] == [3, "h"]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (
            b'[2,"1","NotifyReport",{"requestId":1,"generatedAt":"2026-11-24T12:00:00Z","seqNo":0}]',
            "NotSupported",
        ),
        (b'[2,"1","ChangeAvailability",{"operationalStatus":"Operative"}]', "NotSupported"),
        (b'[2,"1","DoTheThing",{}]', "NotImplemented"),
        (b'[2,"1","Heartbeat",{"x":1}]', "FormatViolation"),
        (b'[2,"1","Heartbeat"]', "RpcFrameworkError"),
        (b"[2,", "RpcFrameworkError"),
        (b'[8,"1"]', "MessageTypeNotSupported"),
    ],
)
def test_handle_answers_errors_with_the_spec_codes(frame: bytes, code: str) -> None:
    answer = reply(MyTestChargeSystem(), frame)
    assert answer[0] == 4
    assert answer[2] == code
    assert answer[1] == ("-1" if frame == b"[2," else "1")
    assert isinstance(answer[4], dict)


def test_results_and_errors_get_no_reply() -> None:
    csms = MyTestChargeSystem()
    assert csms.handle(b'[3,"1",{}]') is None
    assert csms.handle(b'[4,"1","GenericError","",{}]') is None


class Picky(v201.ChargeSystem):
    def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        raise errors.SecurityError("not you", {"why": "banned"})

    def authorize(self, request: messages.AuthorizeRequest) -> messages.AuthorizeResponse:
        raise KeyError("database is down")

    def status_notification(self, request: messages.StatusNotificationRequest) -> Any:
        return messages.HeartbeatResponse(current_time=NOW)

    def meter_values(self, request: messages.MeterValuesRequest) -> Any:
        return {"not": "a struct"}

    def boot_notification(
        self, request: messages.BootNotificationRequest
    ) -> messages.BootNotificationResponse:
        naive = datetime.datetime(2026, 1, 1)
        return messages.BootNotificationResponse(
            current_time=naive, interval=1, status=enums.RegistrationStatusEnumType.ACCEPTED
        )

    def data_transfer(self, request: messages.DataTransferRequest) -> messages.DataTransferResponse:
        return messages.DataTransferResponse(
            status=enums.DataTransferStatusEnumType.ACCEPTED,
            status_info=datatypes.StatusInfoType(reason_code="x" * 21),
        )


def test_a_handler_raising_an_ocpp_error_answers_its_code() -> None:
    answer = reply(Picky(), b'[2,"1","Heartbeat",{}]')
    assert answer == [4, "1", "SecurityError", "not you", {"why": "banned"}]


def test_an_unexpected_exception_is_internal_error_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, "ocpp_fast"):
        answer = reply(Picky(), b'[2,"1","Authorize",{"idToken":{"idToken":"a","type":"Local"}}]')
    assert answer[:3] == [4, "1", "InternalError"]
    assert "database" not in str(answer) and "Traceback" not in str(answer)
    assert any(r.exc_info and "database is down" in str(r.exc_info[1]) for r in caplog.records)


@pytest.mark.parametrize(
    "frame",
    [
        b'[2,"1","StatusNotification",{"timestamp":"2026-11-24T12:00:00Z",'
        b'"connectorStatus":"Available","evseId":1,"connectorId":1}]',
        b'[2,"1","MeterValues",{"evseId":1,"meterValue":[{"timestamp":"2026-11-24T12:00:00Z",'
        b'"sampledValue":[{"value":1}]}]}]',
        msgspec.json.encode([2, "1", "BootNotification", BOOT]),
        b'[2,"1","DataTransfer",{"vendorId":"v"}]',
    ],
    ids=["wrong-struct", "not-a-struct", "naive-datetime", "too-long"],
)
def test_an_invalid_response_is_our_internal_error(
    frame: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, "ocpp_fast"):
        answer = reply(Picky(), frame)
    assert answer[:3] == [4, "1", "InternalError"]
    assert any("is invalid" in r.getMessage() for r in caplog.records)


class _AnswersEmpty(v201.ChargeSystem):
    def authorize(self, request: messages.AuthorizeRequest) -> messages.AuthorizeResponse:
        missing: Any = msgspec.UNSET  # a required field left out: the payload is {}
        return messages.AuthorizeResponse(id_token_info=missing)

    def status_notification(
        self, request: messages.StatusNotificationRequest
    ) -> messages.StatusNotificationResponse:
        return messages.StatusNotificationResponse()


def test_an_empty_response_is_checked_like_any_other(caplog: pytest.LogCaptureFixture) -> None:
    """``{}`` skips the decode only for a type that has no required field."""
    with caplog.at_level(logging.ERROR, "ocpp_fast"):
        authorize = b'[2,"a","Authorize",{"idToken":{"idToken":"a","type":"Local"}}]'
        assert reply(_AnswersEmpty(), authorize)[:3] == [4, "a", "InternalError"]
    status = (
        b'[2,"s","StatusNotification",{"timestamp":"2026-11-24T12:00:00Z",'
        b'"connectorStatus":"Available","evseId":1,"connectorId":1}]'
    )
    assert reply(_AnswersEmpty(), status) == [3, "s", {}]


@pytest.mark.parametrize("version", [v16.VERSION, v201.VERSION, v21.VERSION], ids=str)
def test_whether_an_empty_payload_is_valid_is_known_per_type(version: Any) -> None:
    for response_type in version.response_types.values():
        required = [f.name for f in msgspec.structs.fields(response_type) if f.required]
        assert _check_result_frame(response_type)[1] is (not required), response_type


@hypothesis.given(
    message_id=st.text(max_size=40),
    payload=st.sampled_from(
        [
            messages.StatusNotificationResponse(),
            messages.HeartbeatResponse(current_time=datetime.datetime.now(datetime.UTC)),
            messages.TransactionEventResponse(
                id_token_info=datatypes.IdTokenInfoType(
                    status=enums.AuthorizationStatusEnumType.ACCEPTED
                ),
                custom_data=CustomData(vendorId="v"),
            ),
            messages.DataTransferResponse(
                status=enums.DataTransferStatusEnumType.ACCEPTED, data={"x": [1, {}]}
            ),
            messages.DataTransferResponse(
                status=enums.DataTransferStatusEnumType.ACCEPTED, data={}
            ),
        ]
    ),
)
def test_only_an_empty_payload_makes_a_frame_end_in_an_empty_object(
    message_id: str, payload: Any
) -> None:
    frame = msgspec.json.encode((3, message_id, payload))
    assert frame.endswith(b",{}]") is (msgspec.json.encode(payload) == b"{}")


# --- the class is checked when it is created ------------------------------------------------


def test_a_misspelt_handler_is_an_error_at_class_creation() -> None:
    with pytest.raises(TypeError, match="did you mean boot_notification"):

        class Typo(v201.ChargeSystem):
            def boot_notificaton(self, request: Any) -> Any:
                return None


@pytest.mark.parametrize(
    ("base", "name", "says"),
    [
        (
            v16.Charger,
            "request_start_transaction",
            "Station.request_start_transaction is the handler of RequestStartTransaction, an "
            "action of OCPP 2.0.1 and 2.1, not of OCPP 1.6, the version of Station (the 1.6 "
            "handler name closest to it: remote_start_transaction)",
        ),
        (
            v201.Charger,
            "remote_start_transaction",
            "Station.remote_start_transaction is the handler of RemoteStartTransaction, an "
            "action of OCPP 1.6, not of OCPP 2.0.1, the version of Station (the 2.0.1 handler "
            "name closest to it: request_start_transaction)",
        ),
    ],
)
def test_another_versions_handler_is_named_as_such(base: type[Any], name: str, says: str) -> None:
    """A station ported between versions keeps handler names of the old one: close to a name
    of the new one, each read as a misspelling, and its author looked for a typo."""
    with pytest.raises(TypeError) as refused:
        type("Station", (base,), {name: lambda self, request: None})
    assert str(refused.value) == says


@pytest.mark.parametrize(
    ("base", "name"),
    [
        (v201.ChargeSystem, "default_security_event_notification"),
        (v201.ChargeSystem, "log_boot_notification"),
        (v16.Charger, "remote_start_transaction_count"),
    ],
)
def test_a_helper_named_after_an_action_is_no_misspelling(base: type[Any], name: str) -> None:
    """A name holding a handler's name whole, between underscores, is a helper (the demo's
    ``default_<handler>`` answers): difflib found it close enough to be refused before."""
    helper: type[Any] = type("Helper", (base,), {name: lambda self, request: None})
    assert helper.handled_actions() == []


@pytest.mark.parametrize(
    ("base", "name", "says"),
    [
        (
            v201.ChargeSystem,
            "start_transaction",
            "Csms.start_transaction is the handler of StartTransaction, an action of OCPP 1.6, "
            "not of OCPP 2.0.1, the version of Csms",
        ),
        (
            v16.ChargeSystem,
            "transaction_event",
            "Csms.transaction_event is the handler of TransactionEvent, an action of OCPP "
            "2.0.1 and 2.1, not of OCPP 1.6, the version of Csms",
        ),
        (
            v201.Charger,
            "get_configuration",
            "Csms.get_configuration is the handler of GetConfiguration, an action of OCPP 1.6, "
            "not of OCPP 2.0.1, the version of Csms",
        ),
    ],
)
def test_a_handler_only_another_version_has_is_refused_without_a_close_name(
    base: type[Any], name: str, says: str
) -> None:
    """No handler name of the class's version is close to these: read as helpers, they were
    kept without a word, and the CALLs they were written for answered NotImplemented."""
    with pytest.raises(TypeError) as refused:
        type("Csms", (base,), {name: lambda self, request, context: None})
    assert str(refused.value) == says


@pytest.mark.parametrize(
    ("base", "name", "method"),
    [
        (v201.Charger, "get_configuration", lambda self: None),  # not shaped as a handler
        (v16.ChargeSystem, "get_variables", lambda self, identity: None),  # sent, not received
        (v201.ChargeSystem, "change_configuration", lambda self, key: None),
    ],
)
def test_another_versions_handler_name_stays_a_helper_where_it_could_not_be_one(
    base: type[Any], name: str, method: Any
) -> None:
    helper: type[Any] = type("Helper", (base,), {name: method})
    assert helper.handled_actions() == []


def test_a_misspelling_holding_a_shorter_handler_name_is_still_refused() -> None:
    """``remot_start_transaction`` holds ``start_transaction``, yet its closest handler name
    is ``remote_start_transaction``: a misspelling of that one."""
    with pytest.raises(TypeError, match="did you mean remote_start_transaction"):
        type("Typo", (v16.Charger,), {"remot_start_transaction": lambda self, request: None})


@pytest.mark.parametrize(
    ("base", "name", "suggested"),
    [
        (v201.ChargeSystem, "BootNotification", "boot_notification"),
        (v16.ChargeSystem, "StartTransaction", "start_transaction"),
        (v21.Charger, "SetDERControl", "set_der_control"),
    ],
)
def test_a_handler_named_as_its_action_on_the_wire_is_an_error_at_class_creation(
    base: type[Any], name: str, suggested: str
) -> None:
    """``def BootNotification(...)`` was silently never called: its name is no handler's."""
    with pytest.raises(TypeError, match=f"named in snake_case, {suggested}$"):
        type("Camel", (base,), {name: lambda self, request: None})


def test_the_typed_handler_slots_exist_only_for_type_checkers() -> None:
    """The version classes declare a slot per action under TYPE_CHECKING only: at run time
    none is an attribute, so dispatch counts only the methods a subclass writes."""
    for version in (v16, v201, v21):
        for base in (version.ChargeSystem, version.Charger):
            assert base.handled_actions() == []
            assert not any(hasattr(base, a.method) for a in version.actions.ACTIONS.values())

    class One(v201.ChargeSystem):
        def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
            return messages.HeartbeatResponse(current_time=NOW)

    assert One.handled_actions() == ["Heartbeat"]


def test_a_handler_for_the_wrong_direction_is_an_error_at_class_creation() -> None:
    with pytest.raises(TypeError, match="never received by the csms"):

        class Wrong(v201.ChargeSystem):
            def change_availability(self, request: Any) -> Any:  # type: ignore[misc]
                return None

    with pytest.raises(TypeError, match="never received by the station"):

        class AlsoWrong(v201.Charger):
            def boot_notification(self, request: Any) -> Any:  # type: ignore[misc]
                return None


def test_a_handler_with_a_wrong_signature_is_an_error_at_class_creation() -> None:
    with pytest.raises(TypeError, match="must take"):

        class Odd(v201.ChargeSystem):
            def heartbeat(self) -> Any:  # type: ignore[override]
                return None


def test_helper_methods_are_left_alone_and_unhandled_actions_are_listed() -> None:
    class Small(v201.ChargeSystem):
        def heartbeat(self, request: Any) -> Any:
            return messages.HeartbeatResponse(current_time=NOW)

        def lookup_station(self, name: str) -> str:
            return name

    assert Small.handled_actions() == ["Heartbeat"]
    assert "BootNotification" in Small.unhandled_actions()
    assert "Heartbeat" not in Small.unhandled_actions()
    assert "DataTransfer" in Small.unhandled_actions()
    assert len(Small.unhandled_actions()) == 24  # 24 station actions + DataTransfer - 1
    assert len(MyTestCharger.receivable_actions()) == 40


# --- the sans-I/O connection ------------------------------------------------------------------


def ids() -> Any:
    counter = iter(range(1, 1000))
    return lambda: f"id{next(counter)}"


def test_one_call_outstanding_later_ones_wait_in_order() -> None:
    conn = Protocol(v201.VERSION, Side.STATION, message_id_factory=ids())
    first = conn.call(messages.HeartbeatRequest())
    second = conn.call(BOOT)
    sent = conn.data_to_send()
    assert [msgspec.json.decode(f)[1] for f in sent] == [first]
    assert conn.outstanding == first
    events = conn.receive(b'[3,"id1",{"currentTime":"2026-11-24T12:00:00Z"}]')
    assert events == [
        CallSucceeded(first, "Heartbeat", messages.HeartbeatResponse(current_time=NOW))
    ]
    assert [msgspec.json.decode(f)[1] for f in conn.data_to_send()] == [second]


def test_calls_cross_incoming_call_accepted_while_ours_pending() -> None:
    conn = Protocol(v201.VERSION, Side.STATION, message_id_factory=ids())
    conn.call(messages.HeartbeatRequest())
    conn.data_to_send()
    events = conn.receive(b'[2,"c1","UnlockConnector",{"evseId":1,"connectorId":1}]')
    assert len(events) == 1 and isinstance(events[0], CallReceived)
    assert conn.outstanding == "id1"


def test_time_out_frees_the_slot_and_late_answers_are_discarded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    conn = Protocol(v201.VERSION, Side.STATION, message_id_factory=ids())
    conn.call(messages.HeartbeatRequest())
    conn.call(messages.HeartbeatRequest())
    conn.data_to_send()
    failed = conn.time_out("id1")
    assert isinstance(failed, CallFailed) and isinstance(failed.error, TimeoutError)
    assert [msgspec.json.decode(f)[1] for f in conn.data_to_send()] == ["id2"]
    with caplog.at_level(logging.WARNING, "ocpp_fast"):
        late = conn.receive(b'[3,"id1",{"currentTime":"2026-11-24T12:00:00Z"}]')
    assert late == [] and conn.data_to_send() == []
    assert [r.getMessage() for r in caplog.records] == [
        "discarding the CALLRESULT of Heartbeat 'id1': it came after the call timed out"
    ]
    assert conn.outstanding == "id2"


def test_unknown_ids_are_never_answered() -> None:
    conn = Protocol(v201.VERSION, Side.CSMS)
    assert conn.receive(b'[3,"zz",{}]') == []
    assert conn.receive(b'[4,"zz","GenericError","",{}]') == []
    assert conn.receive(b'[3,"zz",{"currentTime":5}]') == []
    assert conn.data_to_send() == []


def test_a_call_with_an_id_in_hand_is_refused() -> None:
    conn = Protocol(v201.VERSION, Side.CSMS)
    assert len(conn.receive(b'[2,"x","Heartbeat",{}]')) == 1
    assert conn.receive(b'[2,"x","Heartbeat",{}]') == []
    refusal = msgspec.json.decode(conn.data_to_send()[0])
    assert refusal[:3] == [4, "x", "RpcFrameworkError"]


def test_an_invalid_call_result_fails_our_call_and_is_not_answered() -> None:
    conn = Protocol(v201.VERSION, Side.STATION, message_id_factory=ids())
    conn.call(messages.HeartbeatRequest())
    conn.data_to_send()
    events = conn.receive(b'[3,"id1",{"currentTime":"noon"}]')
    assert len(events) == 1 and isinstance(events[0], CallFailed)
    assert isinstance(events[0].error, errors.PropertyConstraintViolationError)
    assert events[0].error.origin is errors.Origin.RESPONSE_CHECK  # the peer answered: ours
    assert events[0].error.local
    assert conn.data_to_send() == []
    assert conn.outstanding is None


def test_an_invalid_request_is_refused_before_sending() -> None:
    conn = Protocol(v201.VERSION, Side.STATION)
    bad = messages.AuthorizeRequest(
        id_token=datatypes.IdTokenType(id_token="x" * 37, type=enums.IdTokenEnumType.LOCAL)
    )
    with pytest.raises(errors.PropertyConstraintViolationError) as refused:
        conn.call(bad)
    assert refused.value.origin is errors.Origin.REQUEST_CHECK and refused.value.local
    with pytest.raises(ValueError, match="not a request the station sends"):
        conn.call(messages.ResetRequest(type=enums.ResetEnumType.IMMEDIATE))
    assert conn.data_to_send() == []


def test_a_request_of_another_version_is_refused_with_the_module_to_use() -> None:
    """A 2.0.1 request on a 2.1 connection (the classes share their names) names the module
    to build it from; one the other side sends says so; neither is sent."""
    csms = Protocol(v21.VERSION, Side.CSMS)
    reset = messages.ResetRequest(type=enums.ResetEnumType.IMMEDIATE)
    with pytest.raises(ValueError) as refused:
        csms.call(reset)
    assert str(refused.value) == (
        "v201.messages.ResetRequest is not a request the csms sends in OCPP 2.1: "
        "this connection speaks OCPP 2.1, so build it from ocpp_fast.v21.messages"
    )
    with pytest.raises(ValueError, match=r"in OCPP 1\.6 the other side sends Heartbeat$"):
        Protocol(v16.VERSION, Side.CSMS).call(v16.messages.HeartbeatRequest())
    with pytest.raises(ValueError, match=r"sends in OCPP 2\.1$"):  # no such action in 2.1
        csms.call(v16.messages.RemoteStartTransactionRequest(id_tag="T"))
    assert csms.data_to_send() == []


def test_generated_message_ids_are_unique_uuid4() -> None:
    conn = Protocol(v201.VERSION, Side.STATION)
    seen = {conn.call(messages.HeartbeatRequest()) for _ in range(200)}
    assert len(seen) == 200
    assert all(len(i) == 36 for i in seen)


# --- whole conversations over the asyncio layer ------------------------------------------------


def tx(event: str, seq: int, **extra: Any) -> messages.TransactionEventRequest:
    return messages.TransactionEventRequest(
        event_type=enums.TransactionEventEnumType(event),
        timestamp=NOW,
        trigger_reason=enums.TriggerReasonEnumType.AUTHORIZED,
        seq_no=seq,
        transaction_info=datatypes.TransactionType(transaction_id="T-1"),
        **extra,
    )


METER = [
    datatypes.MeterValueType(
        timestamp=NOW, sampled_value=[datatypes.SampledValueType(value=1234.5)]
    )
]


async def full_session() -> tuple[MyTestCharger, list[Any]]:
    station_handler = MyTestCharger()
    station, csms = connect_in_memory(station_handler, MyTestChargeSystem(), "CS001")
    got: list[Any] = [
        await station.call(BOOT),
        await station.call(
            messages.AuthorizeRequest(
                id_token=datatypes.IdTokenType(id_token="AB", type=enums.IdTokenEnumType.ISO14443)
            )
        ),
        await station.call(
            messages.StatusNotificationRequest(
                timestamp=NOW,
                connector_status=enums.ConnectorStatusEnumType.OCCUPIED,
                evse_id=1,
                connector_id=1,
            )
        ),
        await station.call(tx("Started", 0)),
        await station.call(tx("Updated", 1, meter_value=METER)),
        await station.call(tx("Ended", 2)),
        await station.call(messages.MeterValuesRequest(evse_id=1, meter_value=METER)),
        await csms.call(
            messages.RequestStartTransactionRequest(
                id_token=datatypes.IdTokenType(id_token="AB", type=enums.IdTokenEnumType.LOCAL),
                remote_start_id=7,
            )
        ),
        await csms.call(
            messages.GetVariablesRequest(
                get_variable_data=[
                    datatypes.GetVariableDataType(
                        component=datatypes.ComponentType(name="EVSE"),
                        variable=datatypes.VariableType(name="Power"),
                    )
                ]
            )
        ),
        await csms.call(
            messages.ChangeAvailabilityRequest(
                operational_status=enums.OperationalStatusEnumType.INOPERATIVE
            )
        ),
        await csms.call(messages.UnlockConnectorRequest(evse_id=1, connector_id=1)),
        await csms.call(messages.DataTransferRequest(vendor_id="GA", data="to station")),
        await station.call(messages.DataTransferRequest(vendor_id="GA", data="to csms")),
    ]
    return station_handler, got


def test_a_complete_session_in_memory() -> None:
    station_handler, got = asyncio.run(full_session())
    (
        boot,
        auth,
        status,
        started,
        updated,
        ended,
        meter,
        start,
        variables,
        avail,
        unlock,
        dt1,
        dt2,
    ) = got
    assert boot.status is enums.RegistrationStatusEnumType.ACCEPTED
    assert auth.id_token_info.status is enums.AuthorizationStatusEnumType.ACCEPTED
    assert status == messages.StatusNotificationResponse()
    assert started.id_token_info.status is enums.AuthorizationStatusEnumType.ACCEPTED
    assert updated == ended == messages.TransactionEventResponse()
    assert meter == messages.MeterValuesResponse()
    assert start.status is enums.RequestStartStopStatusEnumType.ACCEPTED
    assert station_handler.started[0].remote_start_id == 7
    assert variables.get_variable_result[0].attribute_value == "42"
    assert avail.status is enums.ChangeAvailabilityStatusEnumType.ACCEPTED
    assert station_handler.operational_status == "Inoperative"
    assert unlock.status is enums.UnlockStatusEnumType.UNLOCKED
    assert dt1.data == "noitats ot"
    assert dt2.data == "smsc ot"


class CallingBack(MyTestChargeSystem):
    """A CSMS that asks the station something before it answers the boot."""

    async def boot_notification(  # type: ignore[override]
        self, request: messages.BootNotificationRequest, context: CallContext
    ) -> messages.BootNotificationResponse:
        assert context.connection is not None and context.identity == "CS001"
        unlock = await context.connection.call(
            messages.UnlockConnectorRequest(evse_id=1, connector_id=1), timeout=2
        )
        assert unlock.status == "Unlocked"
        return messages.BootNotificationResponse(
            current_time=NOW, interval=5, status=enums.RegistrationStatusEnumType.ACCEPTED
        )


def test_a_handler_may_call_the_peer_without_deadlock() -> None:
    async def run() -> Any:
        station, _ = connect_in_memory(MyTestCharger(), CallingBack(), "CS001")
        return await station.call(BOOT, timeout=2)

    assert asyncio.run(run()).interval == 5


class CallingBackTyped(MyTestChargeSystem):
    """:class:`CallingBack` as a user writes it under ``mypy --strict``: ``context.peer``,
    no ``None`` to check."""

    async def boot_notification(  # type: ignore[override]
        self, request: messages.BootNotificationRequest, context: CallContext
    ) -> messages.BootNotificationResponse:
        unlock = await context.peer.call(
            messages.UnlockConnectorRequest(evse_id=1, connector_id=1), timeout=2
        )
        interval = 7 if unlock.status == "Unlocked" else 1  # the station's answer came back
        return messages.BootNotificationResponse(
            current_time=NOW, interval=interval, status=enums.RegistrationStatusEnumType.ACCEPTED
        )


def test_context_peer_is_the_connection_and_names_the_call_when_there_is_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``CallContext.connection`` is ``PeerConnection | None``, so a handler calling back
    checked ``None`` for mypy alone; ``context.peer`` is the same connection typed without
    ``None``, and without one (a frame answered by ``handle()``) it raises a RuntimeError
    naming the CALL, which the peer gets as InternalError, where an ``assert`` said nothing."""

    async def over_a_connection() -> Any:
        station, _ = connect_in_memory(MyTestCharger(), CallingBackTyped(), "CS001")
        return await station.call(BOOT, timeout=2)

    assert asyncio.run(over_a_connection()).interval == 7
    with caplog.at_level(logging.ERROR, "ocpp_fast"):
        answer = reply(CallingBackTyped(), msgspec.json.encode([2, "b7", "BootNotification", BOOT]))
    assert answer[:3] == [4, "b7", "InternalError"]
    said = [str(r.exc_info[1]) for r in caplog.records if r.exc_info]
    assert any("the CALL 'b7' of 'CS1' came with no connection" in line for line in said), said
    with pytest.raises(RuntimeError, match=r"CallContext.peer: the CALL '9' of 'CS2'"):
        print(CallContext("CS2", "9").peer)


class Slow(MyTestChargeSystem):
    delay = 0.3

    async def heartbeat(  # type: ignore[override]
        self, request: messages.HeartbeatRequest
    ) -> messages.HeartbeatResponse:
        await asyncio.sleep(self.delay)
        return messages.HeartbeatResponse(current_time=NOW)

    def security_event_notification(self, request: Any) -> Any:
        raise errors.SecurityError("go away")


def test_queued_calls_go_one_at_a_time_in_order() -> None:
    async def run() -> tuple[list[Any], list[bytes]]:
        sent: list[bytes] = []
        station, _ = connect_in_memory(MyTestCharger(), Slow(), "CS001")
        original = station._write
        assert original is not None

        def spy(frame: bytes) -> None:
            sent.append(frame)
            original(frame)

        station._write = spy
        results = await asyncio.gather(
            station.call(messages.HeartbeatRequest(), timeout=5),
            station.call(BOOT, timeout=5),
            station.call(messages.HeartbeatRequest(), timeout=5),
        )
        return list(results), sent

    results, sent = asyncio.run(run())
    assert [msgspec.json.decode(f)[2] for f in sent] == [
        "Heartbeat",
        "BootNotification",
        "Heartbeat",
    ]
    assert isinstance(results[1], messages.BootNotificationResponse)


def test_timeout_then_the_late_answer_is_dropped_and_the_next_call_works(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def run() -> Any:
        station, _ = connect_in_memory(MyTestCharger(), Slow(), "CS001")
        with pytest.raises(TimeoutError):
            await station.call(messages.HeartbeatRequest(), timeout=0.05)
        answer = await station.call(BOOT, timeout=2)
        await asyncio.sleep(0.4)  # the late heartbeat result arrives now
        return answer

    with caplog.at_level(logging.WARNING, "ocpp_fast"):
        answer = asyncio.run(run())
    assert answer.status is enums.RegistrationStatusEnumType.ACCEPTED
    assert any("of Heartbeat" in r.getMessage() for r in caplog.records)


def test_the_peers_error_is_raised_as_the_class_of_its_code() -> None:
    async def run() -> None:
        station, _ = connect_in_memory(MyTestCharger(), Slow(), "CS001")
        with pytest.raises(errors.SecurityError, match="go away") as refused:
            await station.call(
                messages.SecurityEventNotificationRequest(type="x", timestamp=NOW), timeout=2
            )
        assert refused.value.origin is errors.Origin.PEER and not refused.value.local
        with pytest.raises(errors.NotSupportedError):
            await station.call(
                messages.NotifyEventRequest(generated_at=NOW, seq_no=0, event_data=[]), timeout=2
            )

    with pytest.raises(errors.OccurrenceConstraintViolationError) as never_sent:
        asyncio.run(run())  # event_data=[] breaks minItems: refused before sending
    assert never_sent.value.origin is errors.Origin.REQUEST_CHECK


def test_not_supported_reaches_the_caller() -> None:
    async def run() -> None:
        station, _ = connect_in_memory(MyTestCharger(), Slow(), "CS001")
        with pytest.raises(errors.SecurityError, match="go away"):
            await station.call(
                messages.SecurityEventNotificationRequest(type="x", timestamp=NOW), timeout=2
            )
        with pytest.raises(errors.NotSupportedError):
            await station.call(
                messages.LogStatusNotificationRequest(status=enums.UploadLogStatusEnumType.IDLE),
                timeout=2,
            )

    asyncio.run(run())


def test_async_connection_answers_garbage_and_keeps_serving() -> None:
    async def run() -> list[bytes]:
        out: list[bytes] = []

        async def send(frame: bytes) -> None:
            out.append(frame)

        conn = AsyncConnection(MyTestChargeSystem(), send, identity="CS9")
        for frame in (b"\xff\xfe", b'[2,"a","Heartbeat",{}]', b"[]", b'[2,"b","Heartbeat",{}]'):
            await conn.receive(frame)
        await conn.drain()
        return out

    out = [msgspec.json.decode(f) for f in asyncio.run(run())]
    # plain handlers are answered on the spot: every answer in the order of its frame
    assert [o[:3] if o[0] == 4 else o[:2] for o in out] == [
        [4, "-1", "RpcFrameworkError"],
        [3, "a"],
        [4, "-1", "RpcFrameworkError"],
        [3, "b"],
    ]


def test_not_supported_comes_before_any_complaint_about_the_payload() -> None:
    """An action this side does not handle is NotSupported whatever its payload holds."""
    csms = MyTestChargeSystem()
    wrong_direction = b'[2,"w","ChangeAvailability",{"operationalStatus":"Broken"}]'
    no_handler = b'[2,"n","NotifyReport",{"requestId":"x"}]'
    assert reply(csms, wrong_direction)[:3] == [4, "w", "NotSupported"]
    assert reply(csms, no_handler) == [
        4,
        "n",
        "NotSupported",
        "NotifyReport is not handled by this CSMS",  # a sentence: "CSMS", not "csms"
        {"action": "NotifyReport"},
    ]
    station = reply(MyTestCharger(), b'[2,"s","GetLog",{}]')
    assert station[3] == "GetLog is not handled by this station"
    handled = b'[2,"h","Heartbeat",{"x":1}]'
    assert reply(csms, handled)[:3] == [4, "h", "FormatViolation"]


def test_a_connection_logs_with_its_identity(caplog: pytest.LogCaptureFixture) -> None:
    """One adapter per connection prefixes its lines (a '%' in the identity is no format)
    and puts the identity on the record, for handlers that file lines by station."""
    conn = MyTestChargeSystem().protocol("CS%d-7")
    with caplog.at_level(logging.WARNING, logger="ocpp_fast"):
        assert conn.receive(b'[3,"zz",{}]') == []  # a result nobody waits for
    (record,) = [r for r in caplog.records if "unknown id" in r.getMessage()]
    assert record.getMessage().startswith("CS%d-7: discarding a CALLRESULT with unknown id")
    assert record.__dict__["identity"] == "CS%d-7"


def test_an_answer_after_its_timeout_is_logged_as_late(caplog: pytest.LogCaptureFixture) -> None:
    """The answer of a CALL that timed out is not "unknown": the line names its action and
    says it came late (the timeout to raise); it is still dropped, and only once late."""
    conn = Protocol(v201.VERSION, Side.CSMS, identity="CS001")
    first = conn.call(messages.ResetRequest(type=enums.ResetEnumType.IMMEDIATE))
    assert isinstance(conn.time_out(first), CallFailed)
    second = conn.call(messages.ClearCacheRequest())
    assert conn.time_out(second) is not None  # the slot holds the last one only
    with caplog.at_level(logging.WARNING, logger="ocpp_fast"):
        assert conn.receive(f'[4,"{second}","InternalError","slow",{{}}]'.encode()) == []
        assert conn.receive(f'[3,"{second}",{{"status":"Accepted"}}]'.encode()) == []
        assert conn.receive(f'[3,"{first}",{{"status":"Accepted"}}]'.encode()) == []
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        f"CS001: discarding the CALLERROR (InternalError) of ClearCache '{second}': "
        "it came after the call timed out",
        f"CS001: discarding a CALLRESULT with unknown id '{second}'",
        f"CS001: discarding a CALLRESULT with unknown id '{first}'",
    ]
    assert caplog.records[0].__dict__["action"] == "ClearCache"


def test_the_names_of_0_1_still_work_with_a_warning() -> None:
    """``protocol.Connection`` and ``handler.connection()`` were renamed: old code keeps running."""
    import ocpp_fast.protocol as protocol_module

    with pytest.warns(DeprecationWarning, match="Protocol"):
        old_class = protocol_module.Connection
    assert old_class is Protocol
    with pytest.warns(DeprecationWarning, match="protocol"):
        protocol = MyTestChargeSystem().connection("CS1")
    assert type(protocol) is Protocol and protocol.identity == "CS1"
    with pytest.raises(AttributeError):
        protocol_module.Connexion  # type: ignore[attr-defined]  # noqa: B018


def test_is_awaitable_agrees_with_inspect_and_asks_generators_each_time() -> None:
    import inspect
    import types

    from ocpp_fast.dispatch import is_awaitable

    class Awaits:
        def __await__(self) -> Any:
            yield

    @types.coroutine
    def old_style() -> Any:
        yield

    def plain_generator() -> Any:
        yield

    async def native() -> None:
        pass

    loop = asyncio.new_event_loop()
    coroutine = native()
    values = [
        messages.HeartbeatResponse(current_time=datetime.datetime.now(datetime.UTC)),
        None,
        coroutine,
        loop.create_future(),
        Awaits(),
        plain_generator(),
        old_style(),  # a generator too, but awaitable: same type, other answer
        plain_generator(),
    ]
    try:
        for _ in range(2):  # the second time from what was learnt of the type
            assert [is_awaitable(v) for v in values] == [inspect.isawaitable(v) for v in values]
        assert [is_awaitable(v) for v in values[-3:]] == [False, True, False]
    finally:
        coroutine.close()
        loop.close()


def test_helper_methods_with_common_names_do_not_shadow_dispatch() -> None:
    """The base class's own names are specific (``handler_route``, ``invoke_handler``), so a
    subclass's ``run`` or ``route`` helper stays the user's and dispatch keeps working."""

    class Busy(v201.ChargeSystem):
        def run(self) -> str:
            return "mine"

        def route(self, where: str) -> str:
            return where

        def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
            return messages.HeartbeatResponse(
                current_time=datetime.datetime(2026, 11, 30, tzinfo=datetime.UTC)
            )

    csms = Busy()
    assert reply(csms, b'[2,"1","Heartbeat",{}]')[:2] == [3, "1"]
    written: list[bytes] = []
    connection = AsyncConnection(csms, write=written.append)
    connection.feed(b'[2,"2","Heartbeat",{}]')
    assert msgspec.json.decode(written[0])[:2] == [3, "2"]
    assert csms.run() == "mine" and csms.route("here") == "here"


def test_a_call_cancelled_while_its_frame_is_sent_leaves_no_waiter() -> None:
    """Cancelled while its CALL frame is still being sent (a ``send`` transport that waits),
    a ``call()`` leaves nothing behind: the transport failing later has no waiter to fail,
    so asyncio reports no "Future exception was never retrieved"."""

    async def scenario() -> list[dict[str, Any]]:
        reported: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(
            lambda _, context: reported.append(context)
        )
        blocked = asyncio.Event()

        async def send(frame: bytes) -> None:
            await blocked.wait()  # the socket's buffer full: the send waits

        connection = AsyncConnection(MyTestCharger(), send=send, identity="CP1")
        calling = asyncio.ensure_future(connection.call(messages.HeartbeatRequest(), timeout=5))
        await asyncio.sleep(0)
        calling.cancel()
        with pytest.raises(asyncio.CancelledError):
            await calling
        assert not connection._waiters
        connection.abort(ConnectionError("the connection was lost"))
        del calling
        gc.collect()
        return reported

    assert asyncio.run(scenario()) == []
