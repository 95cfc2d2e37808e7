"""1.6's constraints msgspec cannot check (``multipleOf: 0.1``, ``format: uri``) on the typed
decode: the CSMS's requests that carry them (GetDiagnostics, RemoteStartTransaction,
SetChargingProfile, UpdateFirmware) and GetCompositeSchedule's answer take the compiled
path, with the reference path's verdict on every value.

The typed check (``_reference.typed_check``) vouches for a value only where the reference
path accepts the same payload; anything else (a value it refuses, a float too large to be
the integer written) is left to the reference path, whose error is the one given. So the
tests compare, value by value, the verdict and the error of: both codec twins, the
reference path alone, both dispatch twins against the general path, and, for our own
payloads, the check before sending. The live asyncio path (``AsyncConnection.feed``, the
same routes, both dispatch twins) answers each bad value with the spec table's code and hands
each good one to the handler typed.
"""

from __future__ import annotations

import asyncio
import decimal
from types import ModuleType
from typing import Any

import msgspec
import pytest
from conftest import IMPLEMENTATIONS
from hypothesis import given, settings
from hypothesis import strategies as st

from ocpp_fast import errors, v16
from ocpp_fast._outgoing import encode_checked_payload
from ocpp_fast._protocol_version import NotVouched
from ocpp_fast._reference import _EXACT, _is_multiple, decode_frame_reference, typed_check
from ocpp_fast.v16 import datatypes, enums, messages

pytestmark = pytest.mark.usefixtures("dispatch_twin")  # handle: both twins

LIMITS = [
    "0", "-0.0", "0.1", "0.2", "0.3", "0.7", "6.1", "21.4", "32", "32.0", "100.1", "1e1",
    "2.5e-1", "123456789.1", "4503599627370495.5", "9007199254740991", "-21.4", "1e-1",
    # refused by decimal arithmetic on the number as read
    "0.15", "4.11", "0.30000000000000004", "1e-7", "5e-324", "21.45", "-0.05", "0.01",
    # at and beyond 2**53, where a float may not be the integer written
    "9007199254740992", "9007199254740993", "18446744073709551615", "1e30", "1.5e300",
    "1e16", "12345678901234567.8",
]  # fmt: skip
"""Valid and invalid limits, float edge cases among them (the 0.1 steps binary floats miss,
the smallest subnormal, numbers beyond 2**53 and beyond the default decimal context)."""

URIS = [
    "ftp://diag.example.com/upload/", "https://fw.example.com/v2.bin?x=1#f", "urn:isbn:0451",
    "file:///tmp/x", "no scheme", "http://exa mple.com/", "://x", "", "http://[::1]:80/",
    "ht~tp://x", "mailto:ops@example.com",
]  # fmt: skip


def _profile(limit: str) -> str:
    return (
        '{"chargingProfileId":7,"stackLevel":0,"chargingProfilePurpose":"TxProfile",'
        '"chargingProfileKind":"Absolute","chargingSchedule":{"chargingRateUnit":"A",'
        f'"minChargingRate":6.1,"chargingSchedulePeriod":[{{"startPeriod":0,"limit":32}},'
        f'{{"startPeriod":60,"limit":{limit}}}]}}}}'
    )


def _frames(limit: str) -> dict[str, bytes]:
    profile = _profile(limit)
    return {
        "SetChargingProfile": f'[2,"m1","SetChargingProfile",{{"connectorId":1,'
        f'"csChargingProfiles":{profile.replace("TxProfile", "TxDefaultProfile")}}}]'.encode(),
        "RemoteStartTransaction": f'[2,"m1","RemoteStartTransaction",{{"idTag":"04A1",'
        f'"chargingProfile":{profile}}}]'.encode(),
    }


def _uri_frames(uri: str) -> dict[str, bytes]:
    text = msgspec.json.encode(uri).decode()
    return {
        "GetDiagnostics": f'[2,"m1","GetDiagnostics",{{"location":{text}}}]'.encode(),
        "UpdateFirmware": f'[2,"m1","UpdateFirmware",{{"location":{text},'
        '"retrieveDate":"2026-12-05T03:00:00Z"}]'.encode(),
    }


def _cases() -> list[tuple[str, bytes]]:
    out = [(f"{a} limit {v}", f) for v in LIMITS for a, f in _frames(v).items()]
    out += [(f"{a} {u!r}", f) for u in URIS for a, f in _uri_frames(u).items()]
    return out


CASES = _cases()


def _outcome(decode: Any, data: bytes) -> Any:
    """What a decode of ``data`` gives: the Call, or the error's class, description, details."""
    try:
        return decode(data)
    except errors.OcppError as error:
        return (type(error).__name__, error.description, error.details)


def _reference_accepts(data: bytes) -> bool:
    return not isinstance(
        _outcome(lambda d: decode_frame_reference(d, v16.VERSION, {}), data), tuple
    )


def test_the_constrained_types_take_the_typed_decode() -> None:
    """Every 1.6 type with multipleOf or format uri has a typed decoder of its own, which
    a valid payload passes (so the fast paths conclude) and an invalid one is refused by
    with NotVouched (so they fall back, as on any ValidationError)."""
    version = v16.VERSION
    for action, data in {**_frames("21.4"), **_uri_frames("ftp://x.example/d")}.items():
        payload = data[data.index(b"{") : -1]
        assert (
            type(version.request_decoders[action].decode(payload)) is version.request_types[action]
        )
    for action, data in {**_frames("0.15"), **_uri_frames("no scheme")}.items():
        payload = data[data.index(b"{") : -1]
        with pytest.raises(NotVouched):
            version.request_decoders[action].decode(payload)


@pytest.mark.parametrize(("label", "data"), CASES, ids=[c[0] for c in CASES])
def test_both_codec_twins_give_the_reference_paths_outcome(label: str, data: bytes) -> None:
    """Each codec twin's outcome is the reference path's, on valid and invalid values; the
    twins agree with each other (the same Call, the same error and description)."""
    reference = _outcome(lambda d: decode_frame_reference(d, v16.VERSION, {}), data)
    outcomes = [
        _outcome(lambda d, m=m: m.decode_frame(d, v16.VERSION), data) for m in IMPLEMENTATIONS
    ]
    assert all(o == reference for o in outcomes), (label, reference, outcomes)


@pytest.mark.parametrize(("label", "data"), CASES, ids=[c[0] for c in CASES])
def test_the_typed_check_vouches_exactly_where_the_reference_accepts(
    label: str, data: bytes
) -> None:
    """Below 2**53 the typed check's verdict is the reference path's, value for value;
    at and beyond it, the check vouches for nothing and the reference decides alone."""
    action = label.split()[0]
    tp = v16.VERSION.request_types[action]
    typed = msgspec.json.decode(data[data.index(b"{") : -1], type=tp)
    vouched = typed_check(tp)(typed)
    accepted = _reference_accepts(data)
    large = any(value in label for value in LIMITS[LIMITS.index("9007199254740992") :])
    assert vouched == (accepted and not large), (label, vouched, accepted)
    if large:
        assert accepted  # integers and floats that large are multiples of 0.1


class Station(v16.Charger):
    """Plain handlers of the CSMS's constrained requests (and GetCompositeSchedule, whose
    answer holds multipleOf values)."""

    limit = 16.1

    def set_charging_profile(self, request: Any) -> Any:
        return messages.SetChargingProfileResponse(
            status=enums.SetChargingProfileResponseStatusEnum.ACCEPTED
        )

    def remote_start_transaction(self, request: Any) -> Any:
        return messages.RemoteStartTransactionResponse(
            status=enums.RemoteStartTransactionResponseStatusEnum.ACCEPTED
        )

    def get_diagnostics(self, request: Any) -> Any:
        return messages.GetDiagnosticsResponse(file_name="diag.zip")

    def update_firmware(self, request: Any) -> Any:
        return messages.UpdateFirmwareResponse()

    def get_composite_schedule(self, request: Any) -> Any:
        period = datatypes.ChargingSchedulePeriodType(start_period=0, limit=self.limit)
        schedule = datatypes.ChargingScheduleType(
            charging_rate_unit=enums.ChargingRateUnitEnum.A, charging_schedule_period=[period]
        )
        return messages.GetCompositeScheduleResponse(
            status=enums.GetCompositeScheduleResponseStatusEnum.ACCEPTED,
            connector_id=1,
            charging_schedule=schedule,
        )


def _general(handler: Any, frame: bytes) -> bytes | None:
    from ocpp_fast._awaitless import finish_at_once

    answered: bytes | None = finish_at_once(handler.handle_async(frame, "CS1"))
    return answered


@pytest.mark.parametrize(("label", "data"), CASES, ids=[c[0] for c in CASES])
def test_handle_answers_as_the_general_path_and_concludes_on_valid_values(
    label: str, data: bytes
) -> None:
    """``Charger.handle`` (both dispatch twins) answers each frame as the general path does
    (CALLRESULT or the same CALLERROR); the compiled path answers every payload the typed
    check vouches for itself."""
    station = Station()
    assert station.handle(data) == _general(Station(), data)
    answered = station._handle_dispatcher().answer(data, "")
    action = label.split()[0]
    tp = v16.VERSION.request_types[action]
    typed = msgspec.json.decode(data[data.index(b"{") : -1], type=tp)
    assert isinstance(answered, bytes) == typed_check(tp)(typed), label


@pytest.mark.parametrize(
    ("limit", "valid"), [(16.1, True), (0.3, True), (16.15, False), (1e30, True), (1e-7, False)]
)
def test_a_composite_schedule_answer_is_checked_on_both_paths(limit: float, valid: bool) -> None:
    """GetCompositeSchedule's answer (multipleOf in its schedule) is answered on the
    compiled path when valid; an invalid one is InternalError on either path."""
    frame = b'[2,"g1","GetCompositeSchedule",{"connectorId":1,"duration":60}]'
    station = type("Limited", (Station,), {"limit": limit})()
    reply = station.handle(frame)
    assert reply == _general(type("Limited", (Station,), {"limit": limit})(), frame)
    assert reply is not None
    assert msgspec.json.decode(reply)[0] == (3 if valid else 4)
    answered = station._handle_dispatcher().answer(frame, "")
    assert isinstance(answered, bytes) == (valid and limit < 2**53)


def test_our_own_requests_are_held_to_the_same_constraints() -> None:
    """A request we send with a limit off the 0.1 grid, or a location that is no URI, is
    refused before it leaves, with the error the peer's reference path would give; a
    valid one and one the typed check leaves to the reference (1e30) are encoded."""
    version = v16.VERSION
    for data in (*_frames("0.15").values(), *_uri_frames("no scheme").values()):
        action = msgspec.json.decode(data)[2]
        request = msgspec.json.decode(
            data[data.index(b"{") : -1], type=version.request_types[action]
        )
        with pytest.raises(errors.OcppError) as refused:
            encode_checked_payload(request, action, version, response=False)
        expected = _outcome(lambda d: decode_frame_reference(d, version, {}), data)
        assert (type(refused.value).__name__, refused.value.description) == expected[:2]
        assert refused.value.origin is errors.Origin.REQUEST_CHECK
    for data in (*_frames("21.4").values(), *_frames("1e30").values()):
        action = msgspec.json.decode(data)[2]
        request = msgspec.json.decode(
            data[data.index(b"{") : -1], type=version.request_types[action]
        )
        assert encode_checked_payload(request, action, version, response=False)


def test_the_decimal_arithmetic_is_exact_whatever_the_threads_context() -> None:
    """1e30 % 0.1 needs 32 digits of quotient (the default context has 28: the check used to
    raise InvalidOperation out of the frame's decode); an application's own context, however
    coarse, changes no verdict on either path."""
    assert _reference_accepts(_frames("1e30")["SetChargingProfile"])
    with decimal.localcontext(decimal.Context(prec=2)):
        for limit, valid in (("21.4", True), ("123456789.1", True), ("21.45", False)):
            data = _frames(limit)["SetChargingProfile"]
            assert _reference_accepts(data) is valid
            for module in IMPLEMENTATIONS:
                outcome = _outcome(lambda d, m=module: m.decode_frame(d, v16.VERSION), data)
                assert isinstance(outcome, tuple) is not valid


def test_a_valid_constrained_call_is_concluded_by_the_twin_itself(
    impl: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A valid constrained CALL is decoded by the codec twin's own typed decode: with the
    reference path made to fail, it still decodes; an invalid one reaches the reference."""

    def refuse(*args: Any) -> Any:
        raise AssertionError("the reference path was asked")

    monkeypatch.setattr(impl, "decode_frame_reference", refuse)
    for data in (*_frames("21.4").values(), *_uri_frames("ftp://x.example/d").values()):
        call = impl.decode_frame(data, v16.VERSION)
        assert type(call.payload) is v16.VERSION.request_types[call.action]
    with pytest.raises(AssertionError, match="reference path was asked"):
        impl.decode_frame(_frames("0.15")["SetChargingProfile"], v16.VERSION)


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(min_value=-(2**64), max_value=2**64),
        st.decimals(min_value=-(10**9), max_value=10**9, places=3).map(float),
    ),
    st.sampled_from(["0.1", "1", "0.01", "0.001", "0.5", "2", "10", "0.25"]),
)
def test_the_whole_number_shortcut_is_the_decimal_remainders_verdict(
    value: float, step: str
) -> None:
    """A whole number is judged without its remainder where the step divides 1 (0.1, 0.25):
    the verdict is the exact decimal remainder's, on every float and integer JSON carries,
    whatever the step."""
    exact = _EXACT.remainder(decimal.Decimal(repr(value)), decimal.Decimal(step)) == 0
    assert _is_multiple(value, decimal.Decimal(step)) == exact


# --- the live asyncio path: AsyncConnection.feed --------------------------------------------

EXPECTED_CODE = "PropertyConstraintViolation"
"""The spec table's code (1.6 and 2.x) for a value that breaks multipleOf or a format."""


class Recording(Station):
    """:class:`Station` keeping each request its plain handlers are handed, typed."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Any] = []

    def set_charging_profile(self, request: Any) -> Any:
        self.requests.append(request)
        return super().set_charging_profile(request)

    def remote_start_transaction(self, request: Any) -> Any:
        self.requests.append(request)
        return super().remote_start_transaction(request)

    def get_diagnostics(self, request: Any) -> Any:
        self.requests.append(request)
        return super().get_diagnostics(request)

    def update_firmware(self, request: Any) -> Any:
        self.requests.append(request)
        return super().update_firmware(request)


class AsyncRecording(Recording):
    """The same handlers as ``async def``: the compiled path decodes their CALL and hands it
    to a task (:meth:`AsyncConnection._received`) instead of answering in ``feed``."""

    async def set_charging_profile(self, request: Any) -> Any:
        return Recording.set_charging_profile(self, request)

    async def remote_start_transaction(self, request: Any) -> Any:
        return Recording.remote_start_transaction(self, request)

    async def get_diagnostics(self, request: Any) -> Any:
        return Recording.get_diagnostics(self, request)

    async def update_firmware(self, request: Any) -> Any:
        return Recording.update_firmware(self, request)


def _fed(station: Recording, frame: bytes) -> list[Any]:
    """The frames ``AsyncConnection.feed`` of ``frame`` wrote (decoded), an ``async def``
    handler's task let run to its end."""
    from ocpp_fast.aio import AsyncConnection

    async def scenario() -> list[bytes]:
        written: list[bytes] = []
        connection = AsyncConnection(station, write=written.append, identity="CS1")
        assert connection.feed(frame)
        for _ in range(50):  # a guard: the task answers within a few loop turns
            if written:
                break
            await asyncio.sleep(0)
        return written

    return [msgspec.json.decode(sent) for sent in asyncio.run(scenario())]


def _typed_value(action: str, request: Any) -> Any:
    """The constrained value of ``request`` the frames of :func:`_frames` and
    :func:`_uri_frames` vary: the second period's limit, or the location."""
    if action == "SetChargingProfile":
        return request.cs_charging_profiles.charging_schedule.charging_schedule_period[1].limit
    if action == "RemoteStartTransaction":
        return request.charging_profile.charging_schedule.charging_schedule_period[1].limit
    return request.location


FEED_CASES = [
    *(
        (action, float(limit), frame)
        for limit in LIMITS
        for action, frame in _frames(limit).items()
    ),
    *((action, uri, frame) for uri in URIS for action, frame in _uri_frames(uri).items()),
]
"""``(action, the value as written, the frame)``: each limit as a float, each URI as text."""


@pytest.mark.parametrize("kind", [Recording, AsyncRecording], ids=["plain", "async"])
@pytest.mark.parametrize(("action", "value", "data"), FEED_CASES, ids=[label for label, _ in CASES])
def test_feed_refuses_a_bad_value_with_the_spec_code_and_hands_over_a_good_one(
    action: str, value: Any, data: bytes, kind: type[Recording]
) -> None:
    """The live asyncio path (``AsyncConnection.feed``, both dispatch twins, plain and ``async
    def`` handlers): a value off the 0.1 grid or a location that is no URI is answered with
    the CALLERROR the spec table names (PropertyConstraintViolation), its handler never
    called; a valid one reaches the handler typed, as written (a float limit, the URI text),
    and is answered."""
    station = kind()
    answered = _fed(station, data)
    assert len(answered) == 1, answered
    if _reference_accepts(data):
        assert answered[0][:2] == [3, "m1"], answered
        (request,) = station.requests
        assert type(request) is v16.VERSION.request_types[action]
        typed = _typed_value(action, request)
        assert type(typed) is type(value) and typed == value
    else:
        assert answered[0][:3] == [4, "m1", EXPECTED_CODE], answered
        assert station.requests == []


@pytest.mark.parametrize(
    ("limit", "valid"), [(16.1, True), (0.3, True), (16.15, False), (1e30, True), (1e-7, False)]
)
def test_feed_checks_a_composite_schedule_answer(limit: float, valid: bool) -> None:
    """GetCompositeSchedule's answer through ``feed`` (both dispatch twins): sent as the
    handler made it when on the 0.1 grid, InternalError (the station's own answer breaks the
    schema) when not."""
    frame = b'[2,"g1","GetCompositeSchedule",{"connectorId":1,"duration":60}]'
    (answered,) = _fed(type("Limited", (Recording,), {"limit": limit})(), frame)
    if valid:
        assert answered[:2] == [3, "g1"], answered
        assert answered[2]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == limit
    else:
        assert answered[:3] == [4, "g1", "InternalError"], answered
