"""The frame codec against the error table of shared/spec/OCPP-J.md, on both implementations."""

from __future__ import annotations

import datetime
from types import ModuleType
from typing import Any

import msgspec
import pytest
from conftest import compiled_expected

from ocpp_fast import codec, errors, v16, v21, v201
from ocpp_fast.frames import Call, CallError, CallResult, CallResultError
from ocpp_fast.v201 import datatypes, enums, messages

V = v201.VERSION
BOOT = b'{"reason":"PowerUp","chargingStation":{"model":"M","vendorName":"V"}}'


def decode(impl: ModuleType, data: bytes | str, pending: dict[str, str] | None = None) -> Any:
    return impl.decode_frame(data, V, pending or {})


def expect(
    impl: ModuleType,
    data: bytes | str,
    cls: type[errors.OcppError],
    message_id: str,
    pending: dict[str, str] | None = None,
) -> errors.OcppError:
    """Decoding must raise exactly ``cls`` (not a subclass or parent) about ``message_id``."""
    with pytest.raises(errors.OcppError) as caught:
        decode(impl, data, pending)
    assert type(caught.value) is cls, (caught.value, data)
    assert caught.value.message_id == message_id
    assert len(caught.value.description) <= errors.DESCRIPTION_MAX_LENGTH
    return caught.value


def test_compiled_codec_is_live_when_expected() -> None:
    if compiled_expected():
        from ocpp_fast import _codec_c

        assert _codec_c.IMPLEMENTATION == "cython"
        assert codec.IMPLEMENTATION == "cython"
    else:
        assert codec.IMPLEMENTATION == "python"


def test_call_decodes_to_typed_request(impl: ModuleType) -> None:
    frame = decode(impl, b'[2,"19223201","BootNotification",' + BOOT + b"]")
    assert isinstance(frame, Call)
    assert frame.message_id == "19223201"
    assert frame.action == "BootNotification"
    assert isinstance(frame.payload, messages.BootNotificationRequest)
    assert frame.payload.reason is enums.BootReasonEnumType.POWER_UP
    assert frame.payload.charging_station.vendor_name == "V"


def test_str_input_and_whitespace_are_accepted(impl: ModuleType) -> None:
    frame = decode(impl, ' [ 2 , "a" , "Heartbeat" , { } ] \n')
    assert frame == Call("a", "Heartbeat", messages.HeartbeatRequest())


def test_escaped_message_id_is_decoded(impl: ModuleType) -> None:
    frame = decode(impl, b'[2,"a\\"b\\u00e9","Heartbeat",{}]')
    assert isinstance(frame, Call)
    assert frame.message_id == 'a"b\u00e9'


def test_call_result_is_decoded_against_the_pending_action(impl: ModuleType) -> None:
    data = b'[3,"42",{"currentTime":"2026-11-23T10:00:00Z"}]'
    frame = decode(impl, data, {"42": "Heartbeat"})
    assert isinstance(frame, CallResult)
    assert frame.action == "Heartbeat"
    assert frame.payload == messages.HeartbeatResponse(
        current_time=datetime.datetime(2026, 11, 23, 10, tzinfo=datetime.UTC)
    )


def test_call_result_with_unknown_id_is_returned_untyped(impl: ModuleType) -> None:
    frame = decode(impl, b'[3,"nobody",{"x":1}]', {"42": "Heartbeat"})
    assert frame == CallResult("nobody", {"x": 1}, None)


def test_invalid_call_result_is_an_error_about_that_result(impl: ModuleType) -> None:
    err = expect(
        impl,
        b'[3,"42",{"currentTime":"yesterday"}]',
        errors.PropertyConstraintViolationError,
        "42",
        {"42": "Heartbeat"},
    )
    assert err.message_type == 3


def test_call_error_is_decoded(impl: ModuleType) -> None:
    frame = decode(impl, b'[4,"42","NotSupported","no",{"a":1}]')
    assert frame == CallError("42", "NotSupported", "no", {"a": 1})


@pytest.mark.parametrize(
    "data",
    [
        b'[4,"42","GenericError","boom",null]',
        b'[4,"42","GenericError","boom"]',
        b'[4 , "42" , "GenericError" , "boom" , null ]',
    ],
)
def test_call_error_without_details_reads_as_empty_details(impl: ModuleType, data: bytes) -> None:
    """``null`` or absent ErrorDetails (``ocpp``'s own ``CallError`` writes ``null``) is a
    deviation accepted as ``{}``, flagged so the connection can log it."""
    frame = decode(impl, data)
    assert frame == CallError("42", "GenericError", "boom", {}, details_missing=True)
    assert not decode(impl, b'[4,"42","GenericError","boom",{}]').details_missing


def test_call_result_error_without_details_reads_as_empty_details(impl: ModuleType) -> None:
    from ocpp_fast import v21

    for data in (b'[5,"9","GenericError","no",null]', b'[5,"9","GenericError","no"]'):
        frame = impl.decode_frame(data, v21.VERSION, {})
        assert frame == CallResultError("9", "GenericError", "no", {}, details_missing=True)


@pytest.mark.parametrize(
    "data",
    [
        b"nope",
        b"",
        b'[2,"a","Heartbeat",{"x":"\xff"}]',
        b'\xef\xbb\xbf[2,"a","Heartbeat",{}]',
        b'[2,"a","Heartbeat",{}] x',
        b'[2,"a","Heartbeat",{}]]',
        b'[2,"a","DataTransfer",{"vendorId":"v","data":NaN}]',
        b'[2,"a","DataTransfer",{"vendorId":"v","data":Infinity}]',
        b'[2,"a","Heartbeat",{}',
        '[2,"a","Heartbeat",{"\ud800":1}]',
        b'{"2":"a"}',
        b'"text"',
        b"[]",
        b'["2","a","Heartbeat",{}]',
        b'[2.0,"a","Heartbeat",{}]',
        b'[true,"a","Heartbeat",{}]',
        b'[null,"a","Heartbeat",{}]',
        b'[2,5,"Heartbeat",{}]',
        b'[2,null,"Heartbeat",{}]',
        b'[2,"' + b"x" * 37 + b'","Heartbeat",{}]',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_unreadable_frames_are_rpc_framework_errors_with_id_minus_one(
    impl: ModuleType, data: bytes | str
) -> None:
    err = expect(impl, data, errors.RpcFrameworkError, "-1")
    assert err.details == {}


@pytest.mark.parametrize(
    ("data", "escape"),
    [
        (rb'[2,"a","DataTransfer",{"vendorId":"a\ud83db"}]', r"\ud83d"),  # high, a letter after
        (rb'[2,"a","DataTransfer",{"vendorId":"a\ud83d"}]', r"\ud83d"),  # high, string ends
        (rb'[2,"a","DataTransfer",{"vendorId":"\uDC00x"}]', r"\uDC00"),  # low alone
        (rb'[2,"a\ud83d","Heartbeat",{}]', r"\ud83d"),  # in the id
        (r'[2,"a","DataTransfer",{"vendorId":"\\\ud83d"}]', r"\ud83d"),  # str, after a \\
    ],
)
@pytest.mark.parametrize("version", [v16.VERSION, v201.VERSION], ids=["1.6", "2.0.1"])
def test_a_lone_surrogate_escape_is_named_on_both_codecs(
    impl: ModuleType, version: Any, data: bytes | str, escape: str
) -> None:
    """msgspec refuses a ``\ud83d`` escape with no other half in words about something
    else ("Input data was truncated"); the description names it. The code is the one of
    a frame that is no JSON: FormationViolation (1.6), RpcFrameworkError (2.x)."""
    with pytest.raises(errors.OcppError) as caught:
        impl.decode_frame(data, version, {})
    assert version.code_of(caught.value) == (
        "FormationViolation" if version is v16.VERSION else "RpcFrameworkError"
    )
    raw = data if isinstance(data, bytes) else data.encode()
    assert caught.value.message_id == "-1"
    assert caught.value.description == (
        f"frame is not valid JSON: lone UTF-16 surrogate escape {escape} in a string "
        f"(byte {raw.index(escape.encode())}), which encodes no character"
    )


def test_escapes_that_are_no_lone_surrogate_keep_msgspec_words(impl: ModuleType) -> None:
    """A surrogate pair and an escaped backslash before ``ud83d`` are no lone surrogate."""
    pair = decode(impl, rb'[2,"a","DataTransfer",{"vendorId":"\ud83d\ude00"}]')
    assert isinstance(pair, Call) and isinstance(pair.payload, messages.DataTransferRequest)
    assert pair.payload.vendor_id == "\U0001f600"
    err = expect(
        impl, rb'[2,"a","DataTransfer",{"vendorId":"\\ud83d', errors.RpcFrameworkError, "-1"
    )
    assert "surrogate" not in err.description


@pytest.mark.parametrize(
    "data",
    [
        b'[2,"a","Heartbeat"]',
        b'[2,"a","Heartbeat",{},{}]',
        b'[2,"a"]',
        b'[3,"a"]',
        b'[3,"a",{},{}]',
        b'[4,"a","GenericError"]',
        b'[4,"a","GenericError","x",{},{}]',
        b'[2,"a",5,{}]',
        b'[4,"a",5,"x",{}]',
        b'[4,"a","GenericError","x",[]]',
        b'[4,"a","GenericError","x",false]',
        b'[4,"a","GenericError",null,{}]',
        b'[4,"a",null,"x"]',
    ],
)
def test_malformed_envelopes_keep_their_readable_id(impl: ModuleType, data: bytes) -> None:
    expect(impl, data, errors.RpcFrameworkError, "a")


@pytest.mark.parametrize(
    ("data", "message_id"),
    [
        (b'[7,"a",{}]', "a"),
        (b'[5,"a","GenericError","",{}]', "a"),
        (b'[6,"a","NotifyPeriodicEventStream",{}]', "a"),
        (b"[0]", "-1"),
        (b'[9,5,"x"]', "-1"),
    ],
)
def test_unknown_message_types_are_not_supported_on_201(
    impl: ModuleType, data: bytes, message_id: str
) -> None:
    err = expect(impl, data, errors.MessageTypeNotSupportedError, message_id)
    assert err.code == "MessageTypeNotSupported"


def test_unknown_action_is_not_implemented(impl: ModuleType) -> None:
    err = expect(impl, b'[2,"a","FlyToTheMoon",{}]', errors.OcppNotImplementedError, "a")
    assert err.code == "NotImplemented"


def test_action_is_case_sensitive(impl: ModuleType) -> None:
    expect(impl, b'[2,"a","heartbeat",{}]', errors.OcppNotImplementedError, "a")


BOOT_OK: dict[str, Any] = msgspec.json.decode(BOOT)


def boot(**changes: Any) -> bytes:
    """A BootNotification frame with top-level or chargingStation fields changed."""
    payload = msgspec.json.decode(BOOT)
    for key, value in changes.items():
        target = payload["chargingStation"] if key.startswith("cs_") else payload
        name = key.removeprefix("cs_")
        if value is DROP:
            del target[name]
        else:
            target[name] = value
    return msgspec.json.encode([2, "b1", "BootNotification", payload])


DROP = object()


@pytest.mark.parametrize(
    ("data", "cls", "path"),
    [
        (b'[2,"b1","Heartbeat",[]]', errors.TypeConstraintViolationError, "$"),
        (b'[2,"b1","Heartbeat",null]', errors.TypeConstraintViolationError, "$"),
        (b'[2,"b1","Heartbeat","x"]', errors.TypeConstraintViolationError, "$"),
        (boot(reason=5), errors.TypeConstraintViolationError, "$.reason"),
        (boot(cs_model=None), errors.TypeConstraintViolationError, "$.chargingStation.model"),
        (boot(cs_modem=[]), errors.TypeConstraintViolationError, "$.chargingStation.modem"),
        (
            boot(cs_vendorName=DROP),
            errors.OccurrenceConstraintViolationError,
            "$.chargingStation.vendorName",
        ),
        (boot(reason=DROP), errors.OccurrenceConstraintViolationError, "$.reason"),
        (boot(extra=1), errors.FormatViolationError, "$.extra"),
        (boot(cs_extra=1), errors.FormatViolationError, "$.chargingStation.extra"),
        (boot(reason="powerup"), errors.PropertyConstraintViolationError, "$.reason"),
        (
            boot(cs_model="x" * 21),
            errors.PropertyConstraintViolationError,
            "$.chargingStation.model",
        ),
        (
            boot(customData={"vendorId": "v" * 256}),
            errors.PropertyConstraintViolationError,
            "$.customData",
        ),
        (
            boot(customData={"x": 1}),
            errors.OccurrenceConstraintViolationError,
            "$.customData.vendorId",
        ),
        (boot(customData=[]), errors.TypeConstraintViolationError, "$.customData"),
        (boot(customData={"vendorId": 1}), errors.TypeConstraintViolationError, "$.customData"),
    ],
)
def test_payload_violations_map_to_the_spec_codes(
    impl: ModuleType, data: bytes, cls: type[errors.OcppError], path: str
) -> None:
    err = expect(impl, data, cls, "b1" if b'"b1"' in data else "-1")
    assert err.details["path"] == path
    assert err.message_type == 2


def frame_of(action: str, payload: dict[str, Any]) -> bytes:
    return msgspec.json.encode([2, "p", action, payload])


STATUS = {"timestamp": "2026-11-23T10:00:00Z", "connectorStatus": "Occupied"}


@pytest.mark.parametrize(
    ("data", "cls"),
    [
        (
            frame_of("StatusNotification", {**STATUS, "evseId": 1, "connectorId": 1.5}),
            errors.TypeConstraintViolationError,
        ),
        (
            frame_of("StatusNotification", {**STATUS, "evseId": True, "connectorId": 1}),
            errors.TypeConstraintViolationError,
        ),
        (
            frame_of("StatusNotification", {**STATUS, "evseId": "1", "connectorId": 1}),
            errors.TypeConstraintViolationError,
        ),
        (
            frame_of(
                "StatusNotification",
                {**STATUS, "timestamp": "2026-11-23T10:00:00", "evseId": 1, "connectorId": 1},
            ),
            errors.PropertyConstraintViolationError,
        ),
        (
            frame_of(
                "StatusNotification",
                {**STATUS, "timestamp": "2026-11-23 10:00:00Z", "evseId": 1, "connectorId": 1},
            ),
            errors.PropertyConstraintViolationError,
        ),
        (
            frame_of(
                "StatusNotification",
                {**STATUS, "timestamp": "2026-11-23T10:00:00+0100", "evseId": 1, "connectorId": 1},
            ),
            errors.PropertyConstraintViolationError,
        ),
        (
            frame_of("GetVariables", {"getVariableData": []}),
            errors.OccurrenceConstraintViolationError,
        ),
        (
            frame_of(
                "NotifyEVChargingNeeds",
                {
                    "evseId": 1,
                    "chargingNeeds": {
                        "requestedEnergyTransfer": "DC",
                        "dcChargingParameters": {
                            "evMaxCurrent": 1,
                            "evMaxVoltage": 1,
                            "stateOfCharge": 101,
                        },
                    },
                },
            ),
            errors.PropertyConstraintViolationError,
        ),
    ],
)
def test_values_map_to_the_spec_codes(
    impl: ModuleType, data: bytes, cls: type[errors.OcppError]
) -> None:
    expect(impl, data, cls, "p")


def test_integral_float_is_an_integer_in_draft06(impl: ModuleType) -> None:
    data = frame_of("StatusNotification", {**STATUS, "evseId": 1.0, "connectorId": 2e0})
    frame = decode(impl, data)
    assert frame.payload.evse_id == 1
    assert type(frame.payload.evse_id) is int
    assert type(frame.payload.connector_id) is int


def test_lowercase_t_and_z_are_rfc3339(impl: ModuleType) -> None:
    data = frame_of(
        "StatusNotification",
        {**STATUS, "timestamp": "2026-11-23t10:00:00z", "evseId": 1, "connectorId": 1},
    )
    frame = decode(impl, data)
    assert frame.payload.timestamp == datetime.datetime(2026, 11, 23, 10, tzinfo=datetime.UTC)


def test_a_datetime_lookalike_in_free_text_is_not_an_error(impl: ModuleType) -> None:
    data = frame_of(
        "SecurityEventNotification",
        {
            "type": "x",
            "timestamp": "2026-11-23T10:00:00Z",
            "techInfo": 'seen at 2026-11-23 10:00:00 and +0100" here',
        },
    )
    frame = decode(impl, data)
    assert frame.payload.tech_info == 'seen at 2026-11-23 10:00:00 and +0100" here'


def test_long_descriptions_are_cut_to_255(impl: ModuleType) -> None:
    data = frame_of("Heartbeat", {"k" * 1000: 1})
    err = expect(impl, data, errors.FormatViolationError, "p")
    assert len(err.description) == 255


def test_custom_data_keeps_vendor_keys(impl: ModuleType) -> None:
    payload = {"customData": {"vendorId": "acme", "x": [1, {"y": None}]}}
    frame = decode(impl, frame_of("Heartbeat", payload))
    assert frame.payload.custom_data.vendor_id == "acme"
    assert msgspec.json.decode(msgspec.json.encode(frame.payload)) == payload


@pytest.mark.parametrize("data", [b'{"x":[1,2]}', b"null", b"[]", b'"s"', b"1.5", b"true"])
def test_data_transfer_data_is_any_json_and_null_is_not_absent(
    impl: ModuleType, data: bytes
) -> None:
    frame = decode(impl, b'[2,"d","DataTransfer",{"vendorId":"v","data":' + data + b"}]")
    assert frame.payload.data == msgspec.json.decode(data)
    encoded = msgspec.json.encode(frame.payload)
    assert msgspec.json.decode(encoded) == {"vendorId": "v", "data": msgspec.json.decode(data)}
    absent = decode(impl, b'[2,"d","DataTransfer",{"vendorId":"v"}]')
    assert absent.payload.data is msgspec.UNSET
    assert msgspec.json.encode(absent.payload) == b'{"vendorId":"v"}'


def test_encoders_write_compact_frames(impl: ModuleType) -> None:
    response = messages.BootNotificationResponse(
        current_time=datetime.datetime(2026, 11, 23, 10, tzinfo=datetime.UTC),
        interval=300,
        status=enums.RegistrationStatusEnumType.ACCEPTED,
    )
    assert impl.encode_call_result("7", response) == (
        b'[3,"7",{"currentTime":"2026-11-23T10:00:00Z","interval":300,"status":"Accepted"}]'
    )
    request = messages.AuthorizeRequest(
        id_token=datatypes.IdTokenType(id_token="ab", type=enums.IdTokenEnumType.ISO14443)
    )
    assert impl.encode_call('q"1', "Authorize", request) == (
        b'[2,"q\\"1","Authorize",{"idToken":{"idToken":"ab","type":"ISO14443"}}]'
    )
    assert impl.encode_call_error("7", "NotSupported", "", {}) == b'[4,"7","NotSupported","",{}]'
    assert impl.encode_call_error("7", "InternalError", "x", {"a": 1}, 5) == (
        b'[5,"7","InternalError","x",{"a":1}]'
    )


def test_optional_fields_are_never_written_when_unset() -> None:
    assert msgspec.json.encode(messages.HeartbeatRequest()) == b"{}"


def test_public_codec_delegates_to_the_live_implementation() -> None:
    frame = codec.decode_frame(b'[2,"a","Heartbeat",{}]', V)
    assert frame == Call("a", "Heartbeat", messages.HeartbeatRequest())
    assert codec.encode_call("a", "Heartbeat", frame.payload) == b'[2,"a","Heartbeat",{}]'


@pytest.mark.parametrize("offset", ["Z", "+01:00"])
def test_the_last_instant_of_year_9999_is_representable(impl: ModuleType, offset: str) -> None:
    """msgspec would round .9999995 into year 10000; RFC 3339 accepts the text."""
    data = b'[3,"m",{"currentTime":"9999-12-31T23:59:59.9999995' + offset.encode() + b'"}]'
    frame = decode(impl, data, {"m": "Heartbeat"})
    assert frame.payload.current_time.year == 9999
    assert frame.payload.current_time.microsecond == 999_999


@pytest.mark.parametrize("payload", [b"{}", b'{"status":"Accepted"}', b"[]"])
def test_a_callresult_for_a_send_only_action_is_one_of_unknown_id(
    impl: ModuleType, payload: bytes
) -> None:
    """``pending`` mapping an id to 2.1's NotifyPeriodicEventStream made both twins raise
    ``KeyError`` on a CALLRESULT of that id: the action has no response (OCPP-J 2.1: a SEND
    is never answered, there is no CALLRESULT of one). No CALL of ours has that id, so the
    result is one of unknown id, as without the entry: ``action`` ``None``, the payload as
    parsed, for the caller to discard (log, never answer)."""
    frame = b'[3,"s1",' + payload + b"]"
    stream = {"s1": "NotifyPeriodicEventStream"}
    decoded = impl.decode_frame(frame, v21.VERSION, stream)
    assert decoded == CallResult("s1", msgspec.json.decode(payload), None)
    assert decoded == impl.decode_frame(frame, v21.VERSION, {})
