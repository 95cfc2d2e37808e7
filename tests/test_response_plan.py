"""The response plans (``ocpp_fast._response_plan``): what a plan vouches for, the decode accepts.

The compiled dispatch path skips the decode check of a response its plan vouches
for, so a plan must never vouch for a value the typed decoder of its encoding
refuses. Every message type of every version is built valid, then broken one
field at a time in the ways a handler gets a response wrong; both twins (the pure
``surely_valid`` and the compiled one) must give the same verdict, and each
"surely valid" must decode.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from msgspec import inspect as mi

from ocpp_fast import _response_plan, v16, v21, v201
from ocpp_fast._model import CustomData, dec_hook
from ocpp_fast._response_plan import response_plan
from ocpp_fast.bench import fast_responses

UTC_TIME = datetime.datetime(2026, 11, 24, 12, 30, tzinfo=datetime.UTC)


def _twins() -> list[Callable[[Any, Any], bool]]:
    found: list[Callable[[Any, Any], bool]] = [_response_plan.surely_valid]
    try:
        from ocpp_fast import _dispatch_c
    except ImportError:
        return found
    return [*found, _dispatch_c.surely_valid]


TWINS = _twins()


class _Odd(datetime.tzinfo):
    """A time zone with no offset to tell: msgspec writes such a date-time naive."""

    def utcoffset(self, dt: datetime.datetime | None) -> None:
        return None

    def dst(self, dt: datetime.datetime | None) -> None:
        return None

    def tzname(self, dt: datetime.datetime | None) -> None:
        return None


def _valid(info: mi.Type) -> Any:
    """A value of ``info`` the decoder accepts (where it can be built simply)."""
    if isinstance(info, mi.Metadata):
        return _valid(info.type)
    if isinstance(info, mi.DateTimeType):
        return UTC_TIME
    if isinstance(info, mi.EnumType):
        return next(iter(info.cls))
    if isinstance(info, mi.StrType):
        return "a" * max(info.min_length or 0, 1)
    if isinstance(info, mi.IntType):
        return max(
            info.ge if info.ge is not None else 0, (info.gt + 1) if info.gt is not None else 0
        )
    if isinstance(info, mi.FloatType):
        return 1.0
    if isinstance(info, mi.BoolType):
        return True
    if isinstance(info, mi.ListType):
        return [_valid(info.item_type)] * max(info.min_length or 0, 1)
    if isinstance(info, mi.StructType):
        return info.cls(**{f.name: _valid(f.type) for f in info.fields if f.required})
    if isinstance(info, mi.CustomType):
        return CustomData({"vendorId": "v"})
    if isinstance(info, mi.UnionType):
        return _valid(next(t for t in info.types if not isinstance(t, mi.NoneType)))
    if isinstance(info, mi.LiteralType):
        return info.values[0]
    return {"any": [1, "two"]}


BAD: tuple[Any, ...] = (
    None,
    msgspec.UNSET,
    "",
    "x" * 6000,
    "Accepted",
    datetime.datetime(2026, 1, 1),  # naive
    datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
    datetime.datetime(2026, 1, 1, tzinfo=_Odd()),
    -1,
    2**70,
    True,
    1.5,
    [],
    [None],
    {"vendorId": "v"},
    CustomData({"vendorId": "v" * 300}),
)


def _paths(info: mi.StructType, depth: int = 0) -> Iterator[tuple[tuple[str, ...], mi.Type]]:
    for field in info.fields:
        yield (field.name,), field.type
        inner = field.type.type if isinstance(field.type, mi.Metadata) else field.type
        if isinstance(inner, mi.StructType) and depth < 2:
            for path, kind in _paths(inner, depth + 1):
                yield (field.name, *path), kind


def _replace(value: Any, path: tuple[str, ...], new: Any) -> Any:
    if len(path) == 1:
        return msgspec.structs.replace(value, **{path[0]: new})
    inner = getattr(value, path[0])
    if not isinstance(inner, msgspec.Struct):
        return value
    return msgspec.structs.replace(value, **{path[0]: _replace(inner, path[1:], new)})


def _cases(cls: type[Any]) -> Iterator[Any]:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    base = _valid(info)
    full = info.cls(**{f.name: _valid(f.type) for f in info.fields})
    yield base
    yield full
    for path, kind in _paths(info):
        for start in (base, full):
            yield _replace(start, path, _valid(kind))
            for bad in BAD:
                yield _replace(start, path, bad)


def _every_message_type() -> list[type[Any]]:
    types: dict[str, type[Any]] = {}
    for version in (v16.VERSION, v201.VERSION, v21.VERSION):
        for table in (version.request_types, version.response_types):
            for cls in table.values():
                types[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return [types[k] for k in sorted(types)]


def _decodes(decode: Callable[[bytes], Any], value: Any) -> bool | None:
    """Whether the typed decode accepts ``value``'s encoding; ``None``: it does not encode."""
    try:
        data = msgspec.json.encode(value)
    except (TypeError, ValueError, OverflowError):
        return None
    try:
        decode(data)
    except msgspec.ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    "cls", _every_message_type(), ids=lambda c: f"{c.__module__[10:]}.{c.__name__}"
)
def test_what_a_plan_vouches_for_the_decoder_accepts(cls: type[Any]) -> None:
    plan = response_plan(cls)
    decode = msgspec.json.Decoder(cls, dec_hook=dec_hook).decode
    for value in _cases(cls):
        verdicts = {twin(value, plan) for twin in TWINS} if plan is not None else {False}
        assert len(verdicts) == 1, (value, verdicts)  # the twins agree
        if verdicts == {True}:
            assert _decodes(decode, value) is True, value


def test_the_benchs_responses_are_all_vouched_for() -> None:
    """The plan must spare the decode where it can: each response of the mix."""
    for action, response in fast_responses().items():
        plan = response_plan(v201.VERSION.response_types[action])
        assert plan is not None
        for twin in TWINS:
            assert twin(response, plan), action


@pytest.mark.parametrize("twin", TWINS, ids=["python", "cython"][: len(TWINS)])
def test_plans_leave_to_the_decode_what_they_cannot_tell(twin: Any) -> None:
    heartbeat = response_plan(v201.messages.HeartbeatResponse)
    assert heartbeat is not None
    for when in (
        datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
        datetime.datetime(2026, 1, 1),
    ):
        assert not twin(v201.messages.HeartbeatResponse(current_time=when), heartbeat)
    custom = v201.messages.HeartbeatResponse(
        current_time=UTC_TIME, custom_data=CustomData({"vendorId": "v"})
    )
    assert not twin(custom, heartbeat)

    class Level(enum.Enum):
        LOW = 1

    class Odd(msgspec.Struct):
        when: datetime.datetime
        count: int
        names: list[str]

    odd = response_plan(Odd)
    assert odd is not None
    assert twin(Odd(UTC_TIME, 3, ["a"]), odd)
    assert twin(Odd(datetime.datetime(2026, 1, 1), 3, []), odd)  # no tz constraint there
    assert not twin(Odd(UTC_TIME, True, ["a"]), odd)  # a bool is no int to the decoder
    assert not twin(Odd(UTC_TIME, 2**63, ["a"]), odd)
    assert not twin(Odd(UTC_TIME, 3, ["a", Level.LOW]), odd)  # type: ignore[list-item]
