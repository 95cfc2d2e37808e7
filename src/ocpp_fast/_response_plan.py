"""A response Struct checked where it lies, without decoding its JSON again.

The compiled dispatch path checks each response a handler returns before it is sent
(:mod:`ocpp_fast._outgoing`: encode it, decode the bytes with the typed decoder).
The decode makes every object of the payload again, to throw them away: for a
Heartbeat's answer (one date-time) it was the largest single cost of the path.

A *plan* reads the same constraints from the Struct's type (``msgspec.inspect``) and
checks the values the Struct holds: ``surely_valid(response, plan)`` is ``True`` only
where the typed decode of the encoded response is certain to succeed; anything it
cannot vouch for (a pattern, a float, a union, ``customData``, a time zone other than
UTC ...) makes it answer ``False``, and the decode is then done as before, so the
verdict on what is sent is always the decoder's. The plan only spares the decode of
responses it knows to be valid.

A plan is nested tuples, read by index by the compiled twin (``_dispatch_c.pyx``) and
by :func:`surely_valid` here, the pure twin:

- ``(ANY,)``: anything encodable (it was encoded) decodes as ``Any``;
- ``(DATETIME, tz)``: a ``datetime`` (exactly), with ``tzinfo`` ``timezone.utc``
  (``tz`` 1: the schema's date-time, written ``...Z``), or naive or UTC (0: no
  constraint);
- ``(ENUM, cls)``: a member of ``cls`` (exactly its type);
- ``(STR, min, max)``: a ``str`` of ``min``..``max`` characters (``max`` -1: no bound);
- ``(INT, lo, hi)``: an ``int`` (not a ``bool``) within ``lo``..``hi``, inside int64;
- ``(BOOL,)``: ``True`` or ``False``;
- ``(STRUCT, cls, fields)``: a ``cls`` (exactly), each field ``(descriptor, required,
  plan)``: the field's slot, read by its member descriptor; an optional field may
  hold ``UNSET`` (not written, so nothing to check), a required one may not;
- ``(LIST, min, max, plan)``: a ``list`` of ``min``..``max`` items, each one of ``plan``;
- ``(UNKNOWN,)``: nothing vouched for (a value other than ``UNSET`` there sends the
  whole response to the decode).
"""

from __future__ import annotations

import datetime
import types
from typing import Any

import msgspec
from msgspec import inspect as mi

__all__ = [
    "ANY",
    "BOOL",
    "DATETIME",
    "ENUM",
    "INT",
    "LIST",
    "STR",
    "STRUCT",
    "UNKNOWN",
    "response_plan",
    "surely_valid",
]

ANY, DATETIME, ENUM, STR, INT, BOOL, STRUCT, LIST, UNKNOWN = range(9)
_INT64 = (-(2**63), 2**63 - 1)
_UNKNOWN = (UNKNOWN,)
_plans: dict[type[Any], tuple[Any, ...] | None] = {}


def _int_plan(info: mi.IntType) -> tuple[Any, ...]:
    if info.multiple_of is not None:
        return _UNKNOWN
    low, high = _INT64
    if info.ge is not None:
        low = max(low, info.ge)
    if info.gt is not None:
        low = max(low, info.gt + 1)
    if info.le is not None:
        high = min(high, info.le)
    if info.lt is not None:
        high = min(high, info.lt - 1)
    return (INT, low, high)


def _struct_plan(info: mi.StructType, seen: frozenset[type[Any]]) -> tuple[Any, ...]:
    cls = info.cls
    if info.array_like or info.tag_field is not None or cls in seen:
        return _UNKNOWN
    fields = []
    for field in info.fields:
        descriptor = cls.__dict__.get(field.name)
        if type(descriptor) is not types.MemberDescriptorType:  # not a plain slot
            return _UNKNOWN
        fields.append((descriptor, field.required, _plan(field.type, seen | {cls})))
    return (STRUCT, cls, tuple(fields))


def _plan(info: mi.Type, seen: frozenset[type[Any]]) -> tuple[Any, ...]:
    """The plan of one msgspec type (``(UNKNOWN,)`` for what it does not vouch for)."""
    if isinstance(info, mi.AnyType):
        return (ANY,)
    if isinstance(info, mi.DateTimeType):
        return _UNKNOWN if info.tz is False else (DATETIME, 1 if info.tz else 0)
    if isinstance(info, mi.EnumType):
        return (ENUM, info.cls)
    if isinstance(info, mi.StrType):
        if info.pattern is not None:
            return _UNKNOWN
        high = -1 if info.max_length is None else info.max_length
        return (STR, info.min_length or 0, high)
    if isinstance(info, mi.IntType):
        return _int_plan(info)
    if isinstance(info, mi.BoolType):
        return (BOOL,)
    if isinstance(info, mi.ListType):
        high = -1 if info.max_length is None else info.max_length
        return (LIST, info.min_length or 0, high, _plan(info.item_type, seen))
    if isinstance(info, mi.StructType):
        return _struct_plan(info, seen)
    return _UNKNOWN  # Metadata (reference-only constraints), unions, floats, custom types ...


def response_plan(response_type: type[Any]) -> tuple[Any, ...] | None:
    """The plan of a response Struct type, made once per type; ``None`` where it could
    vouch for no instance (then the decode alone checks)."""
    try:
        return _plans[response_type]
    except KeyError:
        pass
    plan: tuple[Any, ...] | None = _plan(mi.type_info(response_type), frozenset())
    if plan is not None and plan[0] != STRUCT:
        plan = None
    _plans[response_type] = plan
    return plan


def _fields_valid(value: Any, fields: tuple[Any, ...]) -> bool:
    for descriptor, required, plan in fields:
        try:
            held = descriptor.__get__(value)
        except AttributeError:  # a slot never set
            return False
        if held is msgspec.UNSET:
            if required:
                return False
        elif not surely_valid(held, plan):
            return False
    return True


def surely_valid(value: Any, plan: tuple[Any, ...]) -> bool:
    """Whether the typed decode of ``value``'s encoding is certain to accept it
    (``False``: not certain, the decode must tell)."""
    kind = plan[0]
    if kind == ANY:
        return True
    if kind == DATETIME:
        if type(value) is not datetime.datetime:
            return False
        zone = value.tzinfo
        return zone is datetime.UTC or (zone is None and plan[1] == 0)
    if kind == ENUM:
        return type(value) is plan[1]
    if kind == STR:
        return (
            type(value) is str and plan[1] <= len(value) and (plan[2] < 0 or len(value) <= plan[2])
        )
    if kind == INT:
        return type(value) is int and plan[1] <= value <= plan[2]
    if kind == BOOL:
        return value is True or value is False
    if kind == STRUCT:
        return type(value) is plan[1] and _fields_valid(value, plan[2])
    if kind == LIST:
        if type(value) is not list or len(value) < plan[1] or 0 <= plan[2] < len(value):
            return False
        item = plan[3]
        return all(surely_valid(x, item) for x in value)
    return False
