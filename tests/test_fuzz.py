"""Never crash, never hang: any input yields a frame, nothing, or an OCPP error.

Hypothesis feeds both codec implementations random bytes, random text, random
JSON shaped like frames, and mutations of real frames; every input must end in
a decoded frame or an :class:`~ocpp_fast.errors.OcppError` (checked by
``outcome``), and the two implementations must agree on every one of them.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import msgspec
import pytest
from conftest import IMPLEMENTATIONS
from frame_outcomes import mix_frames, outcome
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocpp_fast import errors

FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
MIX = mix_frames()

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
message_ids = st.text(max_size=40) | st.integers() | st.none()
actions = st.sampled_from(
    ["Heartbeat", "BootNotification", "TransactionEvent", "DataTransfer", "Nope"]
)


def agree(data: bytes | str, pending: dict[str, str] | None = None) -> Any:
    """Decode with every implementation; they must agree. Returns the outcome."""
    results = [outcome(impl, data, pending) for impl in IMPLEMENTATIONS]
    for other in results[1:]:
        assert other == results[0], data
    return results[0]


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    agree(data)


@FUZZ
@given(st.text(max_size=200))
def test_random_text_including_lone_surrogates(data: str) -> None:
    agree(data)


@FUZZ
@given(
    st.lists(st.integers(min_value=-1, max_value=8) | json_values, max_size=1),
    message_ids,
    actions,
    json_values,
    st.integers(min_value=0, max_value=4),
)
def test_frame_shaped_json(
    head: list[Any], message_id: Any, action: str, payload: Any, extra: int
) -> None:
    frame: list[Any] = [*head, message_id, action, payload][: 1 + extra] if extra else [*head]
    try:
        data = msgspec.json.encode(frame)
    except (TypeError, ValueError, OverflowError):  # NaN and friends: not our input
        return
    agree(data, {"m": "Heartbeat"} if isinstance(message_id, str) else None)


@FUZZ
@given(
    st.sampled_from(MIX),
    st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=4
    ),
    st.integers(min_value=0),
)
def test_mutated_real_frames(frame: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(frame)
    for position, value in flips:
        data[position % len(data)] = value
    agree(bytes(data))
    agree(bytes(data[: cut % (len(data) + 1)]))


@FUZZ
@given(st.sampled_from(MIX), st.text(alphabet=' \t\r\n,]}x0"', max_size=5))
def test_trailing_bytes(frame: bytes, tail: str) -> None:
    result = agree(frame + tail.encode())
    if tail.strip(" \t\r\n") == "":
        assert result[0] == "frame"
    else:
        assert result[0] == "error" and result[1] is errors.RpcFrameworkError


def test_every_mix_frame_decodes_identically() -> None:
    for data in MIX:
        assert agree(data)[0] == "frame"


def test_every_mix_frame_as_call_result_decodes_identically() -> None:
    """The same payloads sent as CALLRESULTs of a CALL expecting a request type are errors."""
    for data in MIX:
        frame = msgspec.json.decode(data)
        as_result = msgspec.json.encode([3, frame[1], frame[3]])
        agree(as_result, {frame[1]: frame[2]})


BIG = 10_000_000


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b'[2,"a","DataTransfer",{"vendorId":"v","data":"' + b"x" * BIG + b'"}]', "frame"),
        (b'[2,"a","DataTransfer",{"vendorId":"' + b"x" * BIG + b'"}]', "error"),
        (
            b'[2,"a","DataTransfer",{"vendorId":"v","data":'
            + b"[" * 100_000
            + b"]" * 100_000
            + b"}]",
            "error",
        ),
        (b'[2,"a","DataTransfer",{"vendorId":"v","data":' + b"9" * 10_000 + b"}]", "error"),
        (b'[2,"a","StatusNotification",{"evseId":' + b"9" * 30 + b"}]", "error"),
        (b'[2,"a","Heartbeat",{"' + b"k" * BIG + b'":1}]', "error"),
        (b'[2,"a","Heartbeat",{"x":1,"x":2}]', "error"),
        (b'[2,"a","DataTransfer",{"vendorId":"v","vendorId":"w"}]', "frame"),
    ],
    ids=[
        "10MB-data",
        "10MB-vendorId",
        "deep-nesting",
        "huge-int-any",
        "huge-int-field",
        "10MB-key",
        "duplicate-unknown",
        "duplicate-known",
    ],
)
def test_hostile_inputs_end_cleanly(impl: ModuleType, data: bytes, kind: str) -> None:
    result = outcome(impl, data)
    assert result[0] == kind, result[:4]
    assert outcome(IMPLEMENTATIONS[0], data)[:4] == result[:4]


@FUZZ
@given(st.binary(max_size=40) | st.text(alphabet='0123456789 :+-"Tz', max_size=40).map(str.encode))
def test_compiled_lenient_datetime_scan_matches_the_reference_regex(data: bytes) -> None:
    """The C byte loop and the regex it replaces find the same spellings."""
    from ocpp_fast._reference import LENIENT_DATETIME

    for impl in IMPLEMENTATIONS:
        scan = getattr(impl, "lenient_datetime", None)
        if scan is not None:
            assert scan(data) == (LENIENT_DATETIME.search(data) is not None), data


@pytest.mark.usefixtures("dispatch_twin")  # handle: both twins
@FUZZ
@given(st.sampled_from(MIX), st.binary(max_size=8), st.integers(min_value=0))
def test_charge_system_handle_never_raises_and_always_answers_calls(
    frame: bytes, noise: bytes, position: int
) -> None:
    """Any input: ``handle`` returns a frame or ``None``, never raises, and keeps serving."""
    from my_test_charge_system import MyTestChargeSystem

    csms = MyTestChargeSystem()
    cut = position % (len(frame) + 1)
    damaged = frame[:cut] + noise + frame[cut:]
    reply = csms.handle(damaged)
    if reply is not None:
        decoded = msgspec.json.decode(reply)
        assert decoded[0] in (3, 4)
    healthy = csms.handle(frame)
    assert healthy is not None and msgspec.json.decode(healthy)[0] in (3, 4)


@FUZZ
@given(
    st.sampled_from([4, 5]),
    st.text(max_size=8),
    json_values,
    st.sampled_from(["", " ", "\n"]),
    st.booleans(),
)
def test_error_frames_with_any_details_decode_identically(
    kind: int, description: str, details: Any, space: str, drop_details: bool
) -> None:
    """ErrorDetails ``null``, absent, an object or anything else: both codecs, same verdict."""
    parts = [str(kind), '"e1"', '"GenericError"', msgspec.json.encode(description).decode()]
    if not drop_details:
        parts.append(msgspec.json.encode(details).decode())
    data = ("[" + ("," + space).join(parts) + "]").encode()
    result = agree(data)
    if kind == 4 and (drop_details or details is None):
        assert result[0] == "frame" and result[1].details == {} and result[1].details_missing
