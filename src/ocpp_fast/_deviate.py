"""Deviations as real firmware makes them, applied to a valid payload.

The bench's deviating mix and the tolerance fuzz tests both start from valid
payloads and break them the way field firmware does; one transform serves both
(the bench applies every deviation, the fuzz tests let a seeded random choose).
It follows the message type (``msgspec.inspect``), so each deviation lands where
firmware makes it: numbers where the schema wants numbers, enums, date-times,
strings with a ``maxLength``, ``null`` for absent optional fields. Open values
(``customData``, DataTransfer ``data``) are left as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from msgspec import inspect as mi

__all__ = ["VENDOR_KEY", "deviate"]

VENDOR_KEY = "vendorNote"
"""The unknown field added to objects."""

Pick = Callable[[str], bool]
"""Whether to apply the deviation named (``naive_datetime`` ...) at the value in hand."""


def _always(_: str) -> bool:
    return True


def deviate(value: Any, info: mi.Type, pick: Pick = _always) -> Any:
    """A deviating copy of ``value``, a decoded JSON value valid as ``info``."""
    while isinstance(info, mi.Metadata):
        info = info.type
    if isinstance(info, mi.UnionType):
        kept = [t for t in info.types if not isinstance(t, mi.NoneType)]
        info = kept[0] if len(kept) == 1 else info
    if isinstance(info, mi.StructType) and isinstance(value, dict):
        return _struct(value, info, pick)
    if isinstance(info, mi.ListType) and isinstance(value, list):
        return [deviate(item, info.item_type, pick) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        numeric = isinstance(info, mi.IntType | mi.FloatType)
        return repr(value) if numeric and pick("numeric_string") else value
    if isinstance(value, str):
        return _string(value, info, pick)
    return value


def _struct(value: dict[str, Any], info: mi.StructType, pick: Pick) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in info.fields:
        key = field.encode_name
        if key in value:
            out[key] = deviate(value[key], field.type, pick)
        elif not field.required and pick("null_optional"):
            out[key] = None
    if pick("unknown_fields"):
        out[VENDOR_KEY] = "added by firmware"
    return out


def _string(value: str, info: mi.Type, pick: Pick) -> str:
    if isinstance(info, mi.DateTimeType):
        if pick("naive_datetime") and value.endswith("Z"):
            value = value[:-1]
        if pick("space_datetime"):
            value = value[:10] + " " + value[11:]
    elif isinstance(info, mi.EnumType):
        if pick("enum_case"):
            value = value.swapcase()
    elif isinstance(info, mi.StrType):
        limit = info.max_length
        if limit is not None and pick("overlong_string"):
            value = value.ljust(limit + 5, "x")
    return value
