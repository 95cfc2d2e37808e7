"""The complete decision procedure for a received frame, shared by both codecs.

Both codec implementations first try a fast scan that only ever *succeeds*: when
the frame is a plain CALL or CALLRESULT whose payload the typed decoder accepts,
they build the frame themselves. Anything else (errors above all) comes here,
where the frame is decoded untyped, checked element by element in the order of
the spec table (shared/spec/OCPP-J.md), and its payload validated exactly as
the official JSON schemas judge it. Keeping one copy of this procedure is what
makes the two codecs answer every bad frame identically.

Where msgspec's typed decoding and the schemas disagree, this module follows
the schemas: draft-06 integers accept integral floats (``1.0``), and date-times
must be RFC 3339 (msgspec also takes a space separator and ``+HHMM`` offsets).
"""

from __future__ import annotations

import calendar
import itertools
import re
from collections.abc import Callable, Mapping
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from typing import Any

import msgspec
from msgspec import inspect as mi

from ocpp_fast import errors
from ocpp_fast._model import dec_hook, json_type_name
from ocpp_fast._protocol_version import ProtocolVersion
from ocpp_fast._uri import is_uri
from ocpp_fast.frames import (
    CALL,
    CALLRESULT,
    CALLRESULTERROR,
    SEND,
    Call,
    CallError,
    CallResult,
    CallResultError,
    Send,
)

__all__ = [
    "LENIENT_DATETIME",
    "MESSAGE_ID_MAX_LENGTH",
    "classify",
    "decode_frame_reference",
    "decode_payload",
    "frame_head",
    "integers_as_read",
]

MESSAGE_ID_MAX_LENGTH = 36

LENIENT_DATETIME = re.compile(rb"\d \d\d:\d\d:\d\d|\d[+-]\d\d\d\d\"")
"""Date-time spellings msgspec accepts but RFC 3339 does not.

The fast paths run a typed decode and then search the payload for these; a hit
(even inside an unrelated string) sends the frame here for the exact check.
"""

_RFC3339 = re.compile(
    r"(\d{4})-(0[1-9]|1[0-2])-(\d{2})T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)",
    re.ASCII,
)
_NOT_A_DATETIME = "not an RFC 3339 date-time"

_JSON_ERROR_MESSAGE_ID = errors.UNREADABLE_MESSAGE_ID


def _is_rfc3339(text: str) -> bool:
    """RFC 3339 ``date-time`` as the OCPP schemas' format checker reads it."""
    match = _RFC3339.fullmatch(text.upper())
    if match is None:
        return False
    year, month, day = (int(part) for part in match.groups())
    return year > 0 and 1 <= day <= calendar.monthrange(year, month)[1]


_LAST_INSTANT = re.compile(r"9999-12-31T23:59:59\.999999[5-9]\d*", re.IGNORECASE)


def _clamp_last_instant(text: str) -> str:
    """Keep the last microsecond of year 9999 representable.

    msgspec rounds fractions beyond microseconds; at 9999-12-31T23:59:59.9999995
    and later that rounds into year 10000, which ``datetime`` cannot hold,
    although the text is valid RFC 3339. Such a value becomes .999999.
    """
    found = _LAST_INSTANT.match(text)
    return text if found is None else text[:26] + text[found.end() :]


# --- schema-exact payload normalisation -------------------------------------------------

_Plan = dict[str, Any]
_plans: dict[Any, Any] = {}


def _plan(info: mi.Type) -> Any:
    """What to fix in a decoded value of type ``info`` before ``msgspec.convert``.

    Returns ``"int"``, ``"datetime"``, ``"uri"``, ``("multiple", Decimal)``,
    ``("list", plan)``, ``("struct_ref", cls)`` or ``None`` (nothing to fix).
    Struct plans are cached per type.
    """
    if isinstance(info, mi.IntType):
        return "int"
    if isinstance(info, mi.Metadata):  # what the generator put in Meta(extra=...)
        extra = info.extra or {}
        if "multipleOf" in extra:
            return ("multiple", Decimal(extra["multipleOf"]))
        if extra.get("format") == "uri":
            return "uri"
        return _plan(info.type)
    if isinstance(info, mi.DateTimeType):
        return "datetime"
    if isinstance(info, mi.ListType):
        item = _plan(info.item_type)
        return ("list", item) if item is not None else None
    if isinstance(info, mi.UnionType):
        fixes = [p for p in (_plan(t) for t in info.types) if p is not None]
        return fixes[0] if len(fixes) == 1 else None
    if isinstance(info, mi.StructType):
        cls = info.cls
        if cls not in _plans:
            _plans[cls] = None  # breaks cycles of self-referencing types
            fields: _Plan = {}
            for f in info.fields:
                sub = _plan(f.type)
                if sub is not None:
                    fields[f.encode_name] = sub
            _plans[cls] = ("struct", fields)
        return ("struct_ref", cls)
    return None


class _Violation(Exception):
    """A constraint only this module checks; the path is filled in on the way out."""

    def __init__(self, reason: str, keyword: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.keyword = keyword
        self.path: list[str] = []


_ANY_DATETIME_STAND_IN = "2000-01-01T00:00:00Z"
"""What a date-time string becomes when formats are not checked: any string is a
valid ``format: date-time`` for a validator without a format checker."""


_STAMPS = itertools.count(1)
integral_floats_read = 0
"""The stamp of the last integral float (``1.0``, ``1e2``) the checks read as an integer.

The drop-in (:mod:`ocpp_fast.compat`) hands a handler the payload as decoded untyped, so
such a number stays a float there, where the schema and the native API make it an int. It
reads this value before and after its check of a payload and, only when it moved, makes
them ints in what it hands over (:func:`integers_as_read`): a payload without one costs it
two reads of this number, no walk. Such floats are read only here (the typed decode of the
fast paths refuses them).

Each conversion writes a stamp of its own, drawn whole from a counter (``next()``, one step
under the GIL), never written twice: a write another thread was switched out in the middle
of, landing later, writes its own older stamp, never the value a check read before it ran.
A count raised by ``+= 1`` (read, add, write) could be put back so, hiding a conversion from
a drop-in in another thread. The hot path pays nothing for it: the reads are unchanged."""


def integers_as_read(obj: Any, tp: type[Any], version: ProtocolVersion) -> Any:
    """``obj``, an untyped payload of type ``tp`` that passed the check, with every integral
    float where the schema says integer made an int, as the check read it; in place where it
    can. Draft-04 payloads (1.6 core) are left as they are: such a float is refused there."""
    if tp not in _plans:
        _plan(mi.type_info(tp))
    return _fix(obj, ("struct_ref", tp), tp in version.draft04_messages, integers_only=True)


def _fix(
    value: Any,
    plan: Any,
    draft04_integers: bool,
    formats: bool = True,
    *,
    integers_only: bool = False,
) -> Any:
    """Apply a plan to a decoded value, in place where it can.

    ``formats=False`` judges as a validator without a format checker does (the
    ``ocpp`` package's): any string is a date-time or a URI. ``integers_only``: only
    integral floats are made ints, nothing else is checked or replaced.
    """
    global integral_floats_read
    if plan is None:
        return value
    if plan == "int":
        if not draft04_integers and isinstance(value, float) and value.is_integer():
            integral_floats_read = next(_STAMPS)
            return int(value)
        return value
    if integers_only and (type(plan) is str or plan[0] == "multiple"):
        return value
    if plan == "datetime":
        if isinstance(value, str):
            if not formats:
                return _ANY_DATETIME_STAND_IN
            if not _is_rfc3339(value):
                return _NOT_A_DATETIME  # msgspec then reports it, in its own order
            return _clamp_last_instant(value)
        return value
    if plan == "uri":
        if formats and isinstance(value, str) and not is_uri(value):
            raise _Violation("not an RFC 3986 URI", "format")
        return value
    kind, sub = plan
    if kind == "multiple":
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if is_number and not _is_multiple(value, sub):
            raise _Violation(f"not a multiple of {sub}", "multipleOf")
        return value
    if kind == "list":
        if isinstance(value, list):
            for index, item in enumerate(value):
                try:
                    value[index] = _fix(
                        item, sub, draft04_integers, formats, integers_only=integers_only
                    )
                except _Violation as violation:
                    violation.path.append(f"[{index}]")
                    raise
        return value
    if kind == "struct_ref":
        resolved = _plans.get(sub)
        if resolved is None or not isinstance(value, dict):
            return value
        for wire, field_plan in resolved[1].items():
            if wire in value:
                try:
                    value[wire] = _fix(
                        value[wire],
                        field_plan,
                        draft04_integers,
                        formats,
                        integers_only=integers_only,
                    )
                except _Violation as violation:
                    violation.path.append(f".{wire}")
                    raise
        return value
    return value


_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
"""Decimal arithmetic that never rounds: a remainder's integer quotient may have any number
of digits (``1e30 % 0.1`` has 32: the default context's 28 refused it, and the frame's
check raised ``InvalidOperation``), and the thread's context, which an application may
change, plays no part."""


def _is_multiple(value: float, step: Decimal) -> bool:
    """Whether ``value`` is a multiple of ``step`` in decimal arithmetic on the number as
    written (its shortest repr): 21.4 is a multiple of 0.1, whatever binary floats say.

    A whole number (32.0, 1e30) is one wherever 1 is (0.1, 0.25, 1): that is known without
    its repr and remainder, which cost about 8,700 instructions (callgrind) and a charging
    schedule has a value per period, most of them whole amperes or watts.
    """
    if _WHOLE_STEPS[step] and (type(value) is int or value.is_integer()):
        return True
    return _EXACT.remainder(Decimal(repr(value)), step) == 0


class _WholeSteps(dict[Decimal, bool]):
    """Per step: whether 1 is a multiple of it (so every whole number is), on first use."""

    def __missing__(self, step: Decimal) -> bool:
        self[step] = found = _EXACT.remainder(Decimal(1), step) == 0
        return found


_WHOLE_STEPS = _WholeSteps()


_LARGEST_EXACT = 2.0**53
"""Below it a float is every integer exactly, so the typed decode's float of a number is
the number the untyped decode of the reference path reads. At and above it a JSON integer
(kept whole there) may become a neighbouring float: the typed check vouches for no such
value, the reference path judges it."""

_Vouch = Callable[[Any], bool]
_typed_fields: dict[type[Any], tuple[tuple[str, _Vouch], ...]] = {}
"""Per Struct type: its attributes that hold a constraint the typed check looks at, and
each one's check (made from the reference plan of the field, pruned to multipleOf and uri);
read when a value is walked, so a type inside itself finds its own fields."""


def _uri_vouched(value: Any) -> bool:
    return not isinstance(value, str) or is_uri(value)


def _vouch_multiple(step: Decimal) -> _Vouch:
    def vouched(value: Any) -> bool:
        kind = type(value)
        if kind is float:
            return -_LARGEST_EXACT < value < _LARGEST_EXACT and _is_multiple(value, step)
        return kind is not int or _is_multiple(value, step)

    return vouched


def _vouch_list(item: _Vouch) -> _Vouch:
    def vouched(value: Any) -> bool:
        if type(value) is list:
            for each in value:
                if not item(each):
                    return False
        return True

    return vouched


def _vouch_struct(cls: type[Any]) -> _Vouch:
    def vouched(value: Any) -> bool:
        if type(value) is not cls:  # absent, or a Struct of another type: not vouched for
            return value is msgspec.UNSET or value is None
        # a loop, not all() over a generator: a generator per Struct doubled the check's time
        for attr, field in _typed_fields[cls]:  # noqa: SIM110
            if not field(getattr(value, attr)):
                return False
        return True

    return vouched


def _typed_vouch(plan: Any, building: set[type[Any]]) -> _Vouch | None:
    """The check of a typed value against ``plan`` (of :func:`_plan`), for what msgspec's
    typed decode left unchecked: ``"uri"``, ``("multiple", step)``, and the lists and
    structs holding them; ``None`` for nothing (an integer or a date-time of a typed value
    is as msgspec checked it). Each check is ``True`` only where :func:`_fix` passes on the
    same value (``False`` also where it might not: a float too large to be the integer
    written, a Struct of another type than the plan's)."""
    if plan == "uri":
        return _uri_vouched
    if plan is None or type(plan) is str:
        return None
    kind, sub = plan
    if kind == "multiple":
        return _vouch_multiple(sub)
    if kind == "list":
        item = _typed_vouch(sub, building)
        return None if item is None else _vouch_list(item)
    if sub in _typed_fields:
        return _vouch_struct(sub) if _typed_fields[sub] else None
    if sub in building:  # a type inside itself: its fields are read when it is walked
        return _vouch_struct(sub)
    building.add(sub)
    names = dict(zip(sub.__struct_encode_fields__, sub.__struct_fields__, strict=True))
    fields = []
    for wire, field_plan in _plans[sub][1].items():
        check = _typed_vouch(field_plan, building)
        if check is not None:
            fields.append((names[wire], check))
    _typed_fields[sub] = tuple(fields)
    return _vouch_struct(sub) if fields else None


def typed_check(tp: type[Any]) -> _Vouch:
    """The check of a value of ``tp`` as msgspec's typed decode made it, against the
    constraints msgspec cannot check and :func:`decode_payload` does (multipleOf, format
    uri): ``True`` only where this path would accept the same payload, by the same
    predicates on the same numbers and strings (so a fast path may conclude), ``False``
    where it refuses it or might (then the reference path judges, and its error is the
    one given)."""
    if tp not in _plans:
        _plan(mi.type_info(tp))
    check = _typed_vouch(("struct_ref", tp), set())
    return check if check is not None else (lambda value: True)


def decode_payload(
    obj: Any, tp: type[Any], version: ProtocolVersion, *, formats: bool = True
) -> Any:
    """Validate an untyped payload against ``tp`` exactly as the schema would.

    Raises the :class:`~ocpp_fast.errors.OcppError` the spec table names.
    ``formats=False`` leaves ``format`` (date-time, uri) unchecked, and then the
    date-times of the result are stand-ins: only the verdict is meaningful.
    ``obj`` is modified in place.
    """
    if not isinstance(obj, dict):
        raise _schema_error(
            errors.TypeConstraintViolationError,
            "type",
            f"payload must be a JSON object, got {json_type_name(obj)}",
            "$",
        )
    if tp not in _plans:
        _plan(mi.type_info(tp))  # computed once per payload type
    try:
        obj = _fix(obj, ("struct_ref", tp), tp in version.draft04_messages, formats)
    except _Violation as violation:
        path = "$" + "".join(reversed(violation.path))
        raise _schema_error(
            errors.PropertyConstraintViolationError, violation.keyword, violation.reason, path
        ) from None
    try:
        return msgspec.convert(obj, tp, dec_hook=dec_hook)
    except msgspec.ValidationError as exc:
        raise classify(exc) from None


# --- classifying msgspec's validation errors --------------------------------------------

_PATH = re.compile(r" - at `(\$[^`]*)`$")
_FIELD = re.compile(r"^Object (?:missing required|contains unknown) field `([^`]*)`$")
_OCCURRENCE = errors.OccurrenceConstraintViolationError
_PROPERTY = errors.PropertyConstraintViolationError
_RULES: list[tuple[re.Pattern[str], type[errors.OcppError], str]] = [
    (re.compile(r"^Object missing required field"), _OCCURRENCE, "required"),
    (
        re.compile(r"^Object contains unknown field"),
        errors.FormatViolationError,
        "additionalProperties",
    ),
    (re.compile(r"^Expected `array` of length >="), _OCCURRENCE, "minItems"),
    (re.compile(r"^Expected `array` of length"), _OCCURRENCE, "maxItems"),
    (re.compile(r"^Expected `str` of length >="), _PROPERTY, "minLength"),
    (re.compile(r"^Expected `str` of length"), _PROPERTY, "maxLength"),
    (re.compile(r"^Invalid enum value"), _PROPERTY, "enum"),
    (re.compile(r"^Expected `(int|float)` that is a multiple"), _PROPERTY, "multipleOf"),
    (re.compile(r"^Expected `(int|float)` (>=|>)"), _PROPERTY, "minimum"),
    (re.compile(r"^Expected `(int|float)` (<=|<)"), _PROPERTY, "maximum"),
    (re.compile(r"^Invalid RFC3339"), _PROPERTY, "format"),
    (re.compile(r"^Expected `datetime` with a timezone"), _PROPERTY, "format"),
    (re.compile(r"^Integer value out of range"), _PROPERTY, "maximum"),
    (re.compile(r"^Expected `"), errors.TypeConstraintViolationError, "type"),
]
"""msgspec's message prefix -> the spec table's error class and the schema keyword it means."""


def _schema_error(
    cls: type[errors.OcppError], keyword: str, reason: str, path: str
) -> errors.OcppError:
    error = cls(f"{reason} at {path}", {"path": path})
    error.schema_keyword = keyword
    return error


def classify(exc: msgspec.ValidationError, frame_prefix: str = "") -> errors.OcppError:
    """Map a msgspec validation error to the OCPP error of the spec table.

    msgspec reports a fact only as text, so its stable message prefixes are the
    structured fact here; the ``$.path`` it names goes into the error details,
    relative to the payload (``frame_prefix``, e.g. ``$[2]``, is cut off when a
    whole frame was decoded). The schema keyword broken is kept on the error.
    """
    text = str(exc)
    found = _PATH.search(text)
    path = found.group(1) if found else "$"
    if frame_prefix and path.startswith(frame_prefix):
        path = "$" + path[len(frame_prefix) :]
    reason = text[: found.start()] if found else text
    named = _FIELD.search(reason)
    if named is not None:  # point at the missing or unknown field itself
        path = f"{path}.{named.group(1)}"
    for pattern, cls, keyword in _RULES:
        if pattern.search(reason):
            return _schema_error(cls, keyword, reason, path)
    return _schema_error(errors.TypeConstraintViolationError, "type", reason, path)


# --- the frame envelope -----------------------------------------------------------------


def _framework_error(
    description: str, message_id: str = _JSON_ERROR_MESSAGE_ID, message_type: int | None = None
) -> errors.RpcFrameworkError:
    return errors.RpcFrameworkError(
        description, {}, message_id=message_id, message_type=message_type
    )


_LONE_SURROGATE = re.compile(
    rb"(?<!\\)(?:\\\\)*"  # an escape's own backslash, not an escaped one
    rb"(\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"  # high, no low after
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2})"  # low, no high before
)
"""A ``\\uD83D`` escape with no other half: JSON's grammar allows it, but it is no
character, and msgspec refuses it with words about something else ("Input data was
truncated" for a high half followed by a letter)."""


def _json_error(data: bytes, exc: ValueError) -> str:
    """The description of a frame msgspec could not parse: its own words, or the lone
    surrogate escape named where that is the cause (those words would mislead)."""
    lone = _LONE_SURROGATE.search(data)
    if lone is None:
        return f"frame is not valid JSON: {exc}"
    escape = lone.group(1).decode("ascii")
    return (
        f"frame is not valid JSON: lone UTF-16 surrogate escape {escape} in a string "
        f"(byte {lone.start(1)}), which encodes no character"
    )


_TOO_DEEP = "frame is nested too deeply"

_FRAME_HEAD = re.compile(
    rb"[ \t\n\r]*\[[ \t\n\r]*(-?(?:0|[1-9][0-9]*))[ \t\n\r]*,"
    rb'[ \t\n\r]*("(?:[^"\\]|\\.)*"|[-+.0-9eE]+|true|false|null)[ \t\n\r]*,'
)
"""The head of a frame, ``[<message type>, <message id>,``: what is read of a frame nested
deeper than msgspec reads (the interpreter's recursion limit, about 990 levels)."""
_FRAME_HEAD_TEXT = re.compile(_FRAME_HEAD.pattern.decode())


class _TooDeep(Exception):
    """A frame nested deeper than msgspec reads whose head is intact: ``head`` holds its
    message type and id, all the envelope checks can be run on."""

    def __init__(self, head: list[Any]) -> None:
        super().__init__(_TOO_DEEP)
        self.head = head


def frame_head(
    data: bytes | str, read_id: Callable[[Any], Any] = msgspec.json.decode
) -> list[Any] | None:
    """``[message type, message id]`` read from the head of a frame alone, or ``None`` when
    the head is no frame's (the id read by ``read_id``: the drop-in reads ids as ``ocpp``
    does, with ``json.loads``). A frame too deep to decode whole is JSON (RFC 8259 lets a
    reader bound the depth it reads), so its id is readable, and it is answered to, as a
    frame of the wrong element count is: the spec's "-1" is for an id that cannot be read."""
    head: re.Match[str] | re.Match[bytes] | None = (
        _FRAME_HEAD_TEXT.match(data) if isinstance(data, str) else _FRAME_HEAD.match(data)
    )
    if head is None:
        return None
    try:
        raw_id = read_id(head.group(2))
    except ValueError:  # a bad escape, a control character, a malformed number
        return None
    return [int(head.group(1)), raw_id]


def _parse(data: bytes | str) -> Any:
    """Untyped JSON, or the RpcFrameworkError of a frame that is not JSON; ``_TooDeep``
    for one nested too deeply to read whose head is intact."""
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError:
            raise _framework_error("frame is not valid UTF-8 (lone surrogate)") from None
    try:
        return msgspec.json.decode(data)
    except UnicodeDecodeError:
        raise _framework_error("frame is not valid UTF-8") from None
    except ValueError as exc:  # msgspec.DecodeError, or a number it cannot hold
        raise _framework_error(_json_error(data, exc)) from None
    except RecursionError:
        head = frame_head(data)
        if head is None:
            raise _framework_error(_TOO_DEEP) from None
        raise _TooDeep(head) from None


def decode_frame_reference(
    data: bytes | str, version: ProtocolVersion, pending: Mapping[str, str]
) -> Call | CallResult | CallError | None:
    """Decode one received frame, or raise the OcppError to answer it with.

    Returns ``None`` for a frame the version says to ignore. The raised error's
    ``message_id`` and ``message_type`` tell the caller whom it concerns.
    """
    try:
        frame = _parse(data)
        too_deep = False
    except _TooDeep as deep:  # its head is checked as any frame's, then it is refused
        frame, too_deep = deep.head, True
    if not isinstance(frame, list):
        raise _framework_error(f"frame must be a JSON array, got {json_type_name(frame)}")
    if not frame or type(frame[0]) is not int:
        raise _framework_error("frame must start with an integer message type")
    kind: int = frame[0]
    raw_id = frame[1] if len(frame) > 1 else None
    readable = isinstance(raw_id, str) and len(raw_id) <= MESSAGE_ID_MAX_LENGTH
    message_id = raw_id if readable else _JSON_ERROR_MESSAGE_ID
    if kind not in version.message_types:
        if version.reply_to_unknown_message_type:
            raise errors.MessageTypeNotSupportedError(
                f"message type {kind} is not supported by OCPP {version.label}",
                message_id=message_id,
                message_type=kind,
            )
        return None
    if not isinstance(raw_id, str):
        raise _framework_error("message id must be a string", message_type=kind)
    if not readable:
        raise _framework_error(
            f"message id longer than {MESSAGE_ID_MAX_LENGTH} characters", message_type=kind
        )
    assert isinstance(message_id, str)
    if too_deep:  # 2: answered to its id; 3: fails the call it answers, or is discarded
        raise _framework_error(_TOO_DEEP, message_id, kind)
    expected = 4 if kind in (CALL, SEND) else 3 if kind == CALLRESULT else 5
    if len(frame) != expected and not (expected == 5 and len(frame) == 4):
        raise _framework_error(
            f"a frame of type {kind} has {expected} elements, got {len(frame)}",
            message_id,
            kind,
        )
    if kind in (CALL, SEND):
        return _decode_call(frame, message_id, kind, version)
    if kind == CALLRESULT:
        return _decode_call_result(frame[2], message_id, version, pending)
    return _decode_call_error(frame, message_id, kind)


def _decode_call(frame: list[Any], message_id: str, kind: int, version: ProtocolVersion) -> Call:
    action = frame[2]
    if not isinstance(action, str):
        raise _framework_error("action must be a string", message_id, kind)
    tp = version.request_types.get(action)
    if tp is None:
        raise errors.OcppNotImplementedError(
            f"unknown action {action[:64]!r} in OCPP {version.label}",
            {"action": action[:64]},
            message_id=message_id,
            message_type=kind,
        )
    payload = _payload(frame[3], tp, version, message_id, kind, action)
    return (Send if kind == SEND else Call)(message_id, action, payload)


def _decode_call_result(
    obj: Any, message_id: str, version: ProtocolVersion, pending: Mapping[str, str]
) -> CallResult:
    """The CALLRESULT of our CALL ``message_id``, its payload checked against the response of
    the action ``pending`` gives it; of unknown id (``action`` ``None``, the payload as
    parsed) when ``pending`` has no such id, or maps it to an action that has no response: a
    SEND-only action (2.1's NotifyPeriodicEventStream) is never answered, OCPP-J 2.1 gives it
    no CALLRESULT, so none answers it (it raised ``KeyError``). The caller discards a result
    of unknown id, as the spec's table says (log, never answer)."""
    action = pending.get(message_id)
    response = None if action is None else version.response_types.get(action)
    if action is None or response is None:
        return CallResult(message_id, obj, None)
    payload = _payload(obj, response, version, message_id, CALLRESULT, action)
    return CallResult(message_id, payload, action)


def _payload(
    obj: Any, tp: type[Any], version: ProtocolVersion, message_id: str, kind: int, action: str
) -> Any:
    try:
        return decode_payload(obj, tp, version)
    except errors.OcppError as exc:
        exc.message_id = message_id
        exc.message_type = kind
        exc.action = action
        raise


def _decode_call_error(frame: list[Any], message_id: str, kind: int) -> CallError:
    """An error frame; ErrorDetails ``null`` or absent is read as ``{}`` (and said so).

    The spec asks the sender for ``{}``, but what ``ocpp``'s own ``CallError`` writes
    without details, and some firmware sends, is ``null`` or nothing. Nothing is
    ever answered to an error frame, so refusing it would only leave the call that
    waits for it to time out; ``details_missing`` lets the connection log it.
    """
    code, description = frame[2], frame[3]
    details = frame[4] if len(frame) == 5 else None
    missing = details is None
    if missing:
        details = {}
    if not (isinstance(code, str) and isinstance(description, str) and isinstance(details, dict)):
        raise _framework_error(
            "an error frame holds a string code, a string description and an object",
            message_id,
            kind,
        )
    cls = CallResultError if kind == CALLRESULTERROR else CallError
    return cls(message_id, code, description, details, details_missing=missing)
