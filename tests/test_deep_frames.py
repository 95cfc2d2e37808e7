"""Frames nested deeper than the codec reads (msgspec's bound: the interpreter's recursion
limit, about 990 levels), on both codec twins and through the sans-I/O protocol.

Such a frame is JSON (RFC 8259 lets a reader bound the depth it reads), and its head
(``[2,"<id>","<action>",``) is intact: the spec's "-1" is for an id that cannot be read.
Both twins answered RpcFrameworkError (1.6 FormationViolation) to "-1" all the same, so the
station could not match the answer to its CALL, and a CALLRESULT of no waiting call that deep
was answered with a CALLERROR, where one of 2 elements is discarded (the spec: a CALLRESULT
is never answered with a CALLERROR; one of an unknown id is discarded). Now the head is read:

- a CALL is answered to its id, with the same code [a_deep_call_is_refused_to_its_id];
- a CALLRESULT fails the call it answers, or is discarded [a_deep_call_result_...];
- the head is checked as any frame's: an unknown message type, an id that is no string or
  too long, as for a frame read whole [the_head_of_a_deep_frame_is_checked_as_any_frames];
- without an intact head it is still RpcFrameworkError to "-1".
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import msgspec
import pytest

from ocpp_fast import errors, protocol, v16, v21, v201
from ocpp_fast._protocol_version import ProtocolVersion
from ocpp_fast.protocol import CallFailed, Protocol, Side

DEPTH = 2000
DEEP = b"[" * DEPTH + b"]" * DEPTH
VERSIONS = [v16.VERSION, v201.VERSION, v21.VERSION]
LABELS = [version.label for version in VERSIONS]


def _data_transfer(message_id: bytes = b'"d1"') -> bytes:
    return b"[2," + message_id + b',"DataTransfer",{"vendorId":"V","data":' + DEEP + b"}]"


def _result(message_id: bytes = b'"c1"') -> bytes:
    return b"[3," + message_id + b',{"status":"Accepted","data":' + DEEP + b"}]"


def _refusal(impl: ModuleType, data: bytes, version: ProtocolVersion) -> errors.OcppError:
    with pytest.raises(errors.OcppError) as caught:
        impl.decode_frame(data, version, {"c1": "DataTransfer"})
    return caught.value


@pytest.mark.parametrize("version", VERSIONS, ids=LABELS)
def test_a_deep_call_is_refused_to_its_id(impl: ModuleType, version: ProtocolVersion) -> None:
    error = _refusal(impl, b" [ 2 , " + _data_transfer()[3:], version)
    assert type(error) is errors.RpcFrameworkError
    assert (error.message_id, error.message_type, error.action) == ("d1", 2, None)
    assert error.description == "frame is nested too deeply"
    escaped = _refusal(impl, _data_transfer(b'"d\\u00e9\\"1"'), version)
    assert escaped.message_id == 'd\u00e9"1'


@pytest.mark.parametrize("version", VERSIONS, ids=LABELS)
def test_a_deep_call_result_is_refused_as_a_call_result(
    impl: ModuleType, version: ProtocolVersion
) -> None:
    for message_id in ("c1", "zz"):
        error = _refusal(impl, _result(f'"{message_id}"'.encode()), version)
        assert type(error) is errors.RpcFrameworkError
        assert (error.message_id, error.message_type) == (message_id, 3)


@pytest.mark.parametrize("version", VERSIONS, ids=LABELS)
def test_the_head_of_a_deep_frame_is_checked_as_any_frames(
    impl: ModuleType, version: ProtocolVersion
) -> None:
    """What a frame read whole is answered with, as far as the head tells it."""
    long_id = b'"' + b"x" * 37 + b'"'
    for head, shallow in (
        (_data_transfer(long_id), b"[2," + long_id + b',"Heartbeat",{}]'),
        (_data_transfer(b"5"), b'[2,5,"Heartbeat",{}]'),
        (_data_transfer(b"null"), b'[2,null,"Heartbeat",{}]'),
    ):
        deep, read_whole = _refusal(impl, head, version), _refusal(impl, shallow, version)
        assert (type(deep), deep.message_id, deep.message_type) == (
            type(read_whole),
            read_whole.message_id,
            read_whole.message_type,
        )
    unknown = b'[7,"u1",' + DEEP + b"]"
    if version.reply_to_unknown_message_type:  # 2.0.1
        error = _refusal(impl, unknown, version)
        assert (type(error), error.message_id) == (errors.MessageTypeNotSupportedError, "u1")
    else:
        assert impl.decode_frame(unknown, version, {}) is None
    for no_head in (b"[2,[1]," + DEEP + b"]", b"{" + DEEP, b'[2,"a\\x",' + DEEP + b"]", DEEP):
        error = _refusal(impl, no_head, version)
        assert (type(error), error.message_id, error.message_type) == (
            errors.RpcFrameworkError,
            errors.UNREADABLE_MESSAGE_ID,
            None,
        )


@pytest.fixture
def live_twin(impl: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The protocol decoding with ``impl``."""
    monkeypatch.setattr(protocol, "decode_frame", impl.decode_frame)
    yield impl


def _answers(conn: Protocol) -> list[Any]:
    return [msgspec.json.decode(frame) for frame in conn.data_to_send()]


@pytest.mark.usefixtures("live_twin")
@pytest.mark.parametrize("version", VERSIONS, ids=LABELS)
def test_the_protocol_answers_a_deep_call_to_its_id(version: ProtocolVersion) -> None:
    conn = Protocol(version, Side.CSMS)
    assert conn.receive(_data_transfer()) == []
    code = version.code_of(errors.RpcFrameworkError)
    assert _answers(conn) == [[4, "d1", code, "frame is nested too deeply", {}]]
    assert conn.receive(b'[2,"d1","Heartbeat",{}]') != []  # d1 is not left in hand


@pytest.mark.usefixtures("live_twin")
@pytest.mark.parametrize("version", VERSIONS, ids=LABELS)
def test_the_protocol_discards_a_deep_call_result_of_no_call(version: ProtocolVersion) -> None:
    """Never answered, as a CALLRESULT of 2 elements of no call is not."""
    conn = Protocol(version, Side.CSMS)
    assert conn.receive(_result(b'"zz"')) == []
    assert conn.receive(b'[3,"zz"]') == []
    assert _answers(conn) == []


@pytest.mark.usefixtures("live_twin")
@pytest.mark.parametrize("version", VERSIONS, ids=LABELS)
def test_the_protocol_fails_the_call_a_deep_call_result_answers(version: ProtocolVersion) -> None:
    conn = Protocol(version, Side.CSMS, message_id_factory=lambda: "c1")
    request: Any = version.request_types["DataTransfer"](vendor_id="V")
    conn.call(request)
    conn.data_to_send()
    events = conn.receive(_result())
    assert len(events) == 1 and isinstance(events[0], CallFailed)
    assert isinstance(events[0].error, errors.RpcFrameworkError)
    assert conn.outstanding is None
    code = version.code_of(errors.RpcFrameworkError)
    back = [[5, "c1", code, "frame is nested too deeply", {}]]
    assert _answers(conn) == (back if version.answers_bad_results else [])
