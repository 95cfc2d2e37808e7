"""Tolerances: which schema deviations of real firmware may be accepted, and their repair.

Strict is the default: every deviation is answered with the spec's error code.
A :class:`Tolerance` policy names the deviation classes an operator chooses to
accept for a fleet or one station. Tolerance never touches the fast path: it
runs only after the strict decode refused a CALL, SEND or CALLRESULT payload
(:func:`retry`). The payload is then repaired, guided by the message's msgspec
type information, and decoded *strictly* again; the frame is accepted only if
that passes, so a handler always gets a Struct out of the strict decoder. When
the repaired payload still fails, the original error stands.

``overlong_string`` is the one repair that keeps a value the schema forbids:
the strict re-decode sees a stand-in cut to ``maxLength`` at that path, and the
original string is put back on the decoded Struct afterwards. Such a Struct is
valid in every respect except ``maxLength`` at the reported paths.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from msgspec import inspect as mi

from ocpp_fast import errors
from ocpp_fast._protocol_version import ProtocolVersion
from ocpp_fast._reference import _is_rfc3339, _parse, decode_payload
from ocpp_fast.frames import CALL, CALLRESULT, SEND, Call, CallResult, Send

__all__ = ["Deviation", "Repaired", "Tolerance", "repair", "retry"]

StructT = TypeVar("StructT", bound=msgspec.Struct)
"""The Struct type :func:`repair` decodes into, and returns."""


class Tolerance(enum.Flag):
    """The deviation classes a policy accepts and repairs; ``STRICT`` accepts none."""

    STRICT = 0
    NAIVE_DATETIME = enum.auto()
    """A date-time without offset (``2026-11-30T10:00:00``) is read as UTC (``Z`` added)."""
    SPACE_DATETIME = enum.auto()
    """A space instead of ``T`` between date and time is replaced by ``T``."""
    NUMERIC_STRING = enum.auto()
    """A number sent as a string where the schema wants one (``"1"``) becomes the number."""
    ENUM_CASE = enum.auto()
    """An enum value in the wrong case becomes the schema's spelling (unique match only)."""
    NULL_OPTIONAL = enum.auto()
    """``null`` for an optional field is dropped (the field is absent)."""
    UNKNOWN_FIELDS = enum.auto()
    """Fields the schema does not know are dropped (``customData`` keeps its vendor keys)."""
    OVERLONG_STRING = enum.auto()
    """A string longer than ``maxLength`` is kept as sent, not truncated."""
    ALL = (
        NAIVE_DATETIME
        | SPACE_DATETIME
        | NUMERIC_STRING
        | ENUM_CASE
        | NULL_OPTIONAL
        | UNKNOWN_FIELDS
        | OVERLONG_STRING
    )

    @property
    def label(self) -> str:
        """The snake_case name of one class (``naive_datetime``), as the CLI spells it."""
        return (self.name or "strict").lower()

    @classmethod
    def parse(cls, text: str) -> Tolerance:
        """``"naive_datetime,enum_case"`` (or ``all``, or empty for strict) as a policy."""
        policy = cls.STRICT
        for part in filter(None, (p.strip() for p in text.split(","))):
            try:
                policy |= cls[part.upper()]
            except KeyError:
                names = ", ".join(m.label for m in cls if m)
                raise ValueError(f"unknown tolerance {part!r}; known: {names}, all") from None
        return policy


@dataclass(frozen=True, slots=True)
class Deviation:
    """One repaired deviation: its class and the ``$.path`` in the payload."""

    kind: Tolerance
    path: str


@dataclass(slots=True)
class Repaired:
    """A frame accepted after repair: the frame and what was repaired in it."""

    frame: Call | CallResult
    deviations: list[Deviation]


@dataclass(slots=True)
class _Repair:
    """The state of one repair walk."""

    policy: Tolerance
    mask: int
    """``policy`` as an int: a Flag's ``in`` is slow, and a payload may hold hundreds of
    deviations."""
    found: list[Deviation] = field(default_factory=list)
    overlong: list[tuple[tuple[str | int, ...], str]] = field(default_factory=list)
    """Where a stand-in replaced an over-long string, and the original."""

    def note(self, kind: Tolerance, path: tuple[str | int, ...]) -> bool:
        if not self.mask & kind._value_:
            return False
        self.found.append(Deviation(kind, _path_text(path)))
        return True


def _path_text(path: Iterable[str | int]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)", re.ASCII)
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", re.ASCII)
_SPACED = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]", re.ASCII)
_NAIVE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?", re.ASCII)
_infos: dict[Any, mi.Type] = {}
_fields: dict[type[Any], dict[str, mi.Field]] = {}


def _strip_optional(info: mi.Type) -> mi.Type:
    """``X | None`` as ``X`` (inspect already drops ``UnsetType``); other unions stay."""
    if isinstance(info, mi.UnionType):
        kept = [t for t in info.types if not isinstance(t, mi.NoneType)]
        if len(kept) == 1:
            return kept[0]
    return info


def _accepts_null(info: mi.Type) -> bool:
    if isinstance(info, mi.Metadata):
        return _accepts_null(info.type)
    if isinstance(info, mi.UnionType):
        return any(_accepts_null(t) for t in info.types)
    return isinstance(info, mi.AnyType | mi.NoneType)


def _walk(value: Any, info: mi.Type, path: tuple[str | int, ...], state: _Repair) -> Any:
    """``value`` repaired against ``info``; dicts and lists are changed in place."""
    info = _strip_optional(info)
    if isinstance(info, mi.Metadata):  # the generator's Meta(extra=...): look through it
        return _walk(value, info.type, path, state)
    if isinstance(value, str):
        return _scalar(value, info, path, state)
    if isinstance(info, mi.ListType) and isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = _walk(item, info.item_type, (*path, index), state)
    elif isinstance(info, mi.StructType) and isinstance(value, dict):
        _struct(value, info, path, state)
    return value


def _struct(
    value: dict[str, Any], info: mi.StructType, path: tuple[str | int, ...], state: _Repair
) -> None:
    fields = _fields.get(info.cls)
    if fields is None:
        fields = _fields[info.cls] = {f.encode_name: f for f in info.fields}
    for key in list(value):
        spec = fields.get(key)
        where = (*path, key)
        if spec is None:
            if state.note(Tolerance.UNKNOWN_FIELDS, where):
                del value[key]
        elif value[key] is None and not spec.required and not _accepts_null(spec.type):
            if state.note(Tolerance.NULL_OPTIONAL, where):
                del value[key]
        else:
            value[key] = _walk(value[key], spec.type, where, state)


def _scalar(value: str, info: mi.Type, path: tuple[str | int, ...], state: _Repair) -> Any:
    if isinstance(info, mi.StrType):
        limit = info.max_length
        if limit is not None and len(value) > limit and state.note(Tolerance.OVERLONG_STRING, path):
            state.overlong.append((path, value))
            return value[:limit]  # the stand-in the strict re-decode sees
    elif isinstance(info, mi.IntType):
        if _INTEGER.fullmatch(value) and state.note(Tolerance.NUMERIC_STRING, path):
            return int(value)
    elif isinstance(info, mi.FloatType):
        if _NUMBER.fullmatch(value) and state.note(Tolerance.NUMERIC_STRING, path):
            return int(value) if _INTEGER.fullmatch(value) else float(value)
    elif isinstance(info, mi.EnumType):
        exact, folded = _enum_spellings(info.cls)
        if value not in exact:
            match = folded.get(value.casefold())
            if match is not None and state.note(Tolerance.ENUM_CASE, path):
                return match
    elif isinstance(info, mi.DateTimeType) and not _is_rfc3339(value):
        fixed = value
        if _SPACED.match(fixed) and Tolerance.SPACE_DATETIME in state.policy:
            fixed = fixed[:10] + "T" + fixed[11:]
        if _NAIVE.fullmatch(fixed) and Tolerance.NAIVE_DATETIME in state.policy:
            fixed += "Z"
        if fixed != value and _is_rfc3339(fixed):
            if " " in value:
                state.note(Tolerance.SPACE_DATETIME, path)
            if fixed.endswith("Z") and not value.upper().endswith("Z"):
                state.note(Tolerance.NAIVE_DATETIME, path)
            return fixed
    return value


_spellings: dict[type[enum.Enum], tuple[frozenset[str], dict[str, str]]] = {}


def _enum_spellings(cls: type[enum.Enum]) -> tuple[frozenset[str], dict[str, str]]:
    """An enum's wire values, and each by its case-folded form; a form two values share
    is left out, so only a unique case-insensitive match repairs. Cached per enum."""
    table = _spellings.get(cls)
    if table is None:
        values = [str(member.value) for member in cls]
        folded: dict[str, list[str]] = {}
        for value in values:
            folded.setdefault(value.casefold(), []).append(value)
        unique = {form: same[0] for form, same in folded.items() if len(same) == 1}
        table = _spellings[cls] = (frozenset(values), unique)
    return table


def _type_info(tp: type[Any]) -> mi.Type:
    info = _infos.get(tp)
    if info is None:
        info = _infos[tp] = mi.type_info(tp)
    return info


def repair(
    payload: object, tp: type[StructT], version: ProtocolVersion, policy: Tolerance
) -> tuple[StructT, list[Deviation]]:
    """Decode ``payload`` (untyped, changed in place) as ``tp`` after the repairs ``policy`` allows.

    Returns the strictly decoded Struct and the deviations repaired; raises the
    strict decoder's :class:`~ocpp_fast.errors.OcppError` when the repaired
    payload is still invalid (the caller keeps the original error then).
    """
    state = _Repair(policy, policy.value)
    payload = _walk(payload, _type_info(tp), (), state)
    result = decode_payload(payload, tp, version)
    for where, original in state.overlong:
        _put_back(result, where, original)
    return result, state.found


def _put_back(obj: Any, path: tuple[str | int, ...], original: str) -> None:
    """Set the value at ``path`` (wire names and list indexes) of a decoded Struct."""
    *parents, last = path
    for step in parents:
        obj = obj[step] if isinstance(step, int) else getattr(obj, _attribute(obj, step))
    if isinstance(last, int):
        obj[last] = original
    else:
        setattr(obj, _attribute(obj, last), original)


def _attribute(obj: msgspec.Struct, wire: str) -> str:
    names = dict(zip(obj.__struct_encode_fields__, obj.__struct_fields__, strict=True))
    return names[wire]


_PAYLOAD_ERRORS = (
    errors.PropertyConstraintViolationError,
    errors.TypeConstraintViolationError,
    errors.FormatViolationError,
    errors.OccurrenceConstraintViolationError,
)


def retry(
    data: bytes | str,
    error: errors.OcppError,
    version: ProtocolVersion,
    pending: Mapping[str, str],
    policy: Tolerance,
) -> Repaired | None:
    """The frame the strict decode refused with ``error``, accepted after repair, or ``None``.

    Only payload errors of a CALL, SEND or CALLRESULT are retried; ``None``
    means the original error stands, as it does for an error naming a message the version does
    not have (a CALLRESULT of 2.1's SEND-only NotifyPeriodicEventStream, which has no
    response: it raised ``KeyError``).
    """
    if not policy or error.action is None or not isinstance(error, _PAYLOAD_ERRORS):
        return None
    kind = error.message_type
    if kind not in (CALL, SEND, CALLRESULT) or error.message_id is None:
        return None
    types = version.response_types if kind == CALLRESULT else version.request_types
    tp = types.get(error.action)
    if tp is None:  # no such message in the version (a SEND-only action has no response)
        return None
    frame = _parse(data)
    try:
        payload, found = repair(frame[-1], tp, version, policy)
    except errors.OcppError:
        return None
    if not found:
        return None
    message_id = error.message_id
    if kind == CALLRESULT:
        return Repaired(CallResult(message_id, payload, error.action), found)
    cls = Send if kind == SEND else Call
    return Repaired(cls(message_id, error.action, payload), found)
