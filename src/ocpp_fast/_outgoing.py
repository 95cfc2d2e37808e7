"""Checking what we send before it leaves: a payload we write must be as valid as one we accept.

msgspec does not validate a Struct on construction, so a handler can build a
response with a string that is too long, a naive datetime or a value of the
wrong type. Encoding the payload and decoding it again with the same typed
decoder used for incoming frames catches all of it; the error is ours, so the
connection answers InternalError and logs it, never blaming the peer.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from msgspec import inspect as mi

from ocpp_fast import codec, errors
from ocpp_fast._model import dec_hook
from ocpp_fast._protocol_version import (
    NotVouched,
    ProtocolVersion,
    needs_reference,
    with_typed_check,
)
from ocpp_fast._ratelimit import ConnectionLog
from ocpp_fast._reference import classify, decode_payload
from ocpp_fast.frames import CALLERROR

__all__ = ["encode_checked_payload", "error_frame", "result_check", "result_frame", "type_name"]

log = logging.getLogger("ocpp_fast")
_encode = msgspec.json.Encoder().encode
_encode_call_error = codec.encode_call_error
_result_checks: dict[type[Any], tuple[Any, bool]] = {}


_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
"""One step of a payload path as msgspec writes it: ``.wireName`` or ``[index]``."""


def _schema_error_of_ours(
    exc: msgspec.ValidationError, payload: Any, frame_prefix: str = ""
) -> errors.OcppError:
    """The classified error of a payload we wrote, refused by the typed decode; when the value
    refused is a ``None`` in an optional field, its description says what to write instead.

    msgspec encodes ``None`` as ``null``, which no OCPP schema allows, and its error names the
    wire path and ``null`` only ("Expected `str`, got `null`"): nothing there points at
    ``UNSET``, the value of an absent optional field. Built only once the check has failed,
    so the path of a valid payload costs what it did."""
    error = classify(exc, frame_prefix)
    if "got `null`" in error.description:
        field = _optional_field_set_to_none(payload, error.details.get("path", ""))
        if field is not None:
            hint = f" ({field} is optional: leave it out or set it to UNSET; None is sent as null)"
            error.description = (error.description + hint)[: errors.DESCRIPTION_MAX_LENGTH]
            error.args = (error.description,)
    return error


def _optional_field_set_to_none(payload: Any, path: str) -> str | None:
    """The Python name of the field at ``path`` (``$.chargingStation.serialNumber``) of
    ``payload``, when it is optional (its default is ``UNSET``) and holds ``None``."""
    value, field = payload, None
    steps = _STEP.findall(path.removeprefix("$"))
    if "".join(f".{name}" if name else f"[{index}]" for name, index in steps) != path[1:]:
        return None  # a path of another shape: no guess
    for name, index in steps:
        if name:
            if not isinstance(value, msgspec.Struct):
                return None
            field = next((f for f in msgspec.structs.fields(value) if f.encode_name == name), None)
            if field is None:
                return None
            value = getattr(value, field.name)
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                return None
            value, field = value[int(index)], None
    if value is None and field is not None and field.default is msgspec.UNSET:
        return field.name
    return None


def _expect_type(payload: Any, action: str, expected: type[Any], what: str) -> None:
    if type(payload) is not expected:
        raise TypeError(
            f"{action} {what} must be {type_name(expected)}, got {type_name(type(payload))}"
        )


def type_name(kind: type[Any]) -> str:
    """A type's name as a log must give it: each OCPP version has its own
    ``StatusNotificationResponse``, so a model type is named by its version's module
    (``v16.messages.StatusNotificationResponse``), as it is imported."""
    module = kind.__module__
    if module.startswith("ocpp_fast.v"):
        return f"{module.removeprefix('ocpp_fast.')}.{kind.__qualname__}"
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def _check_result_frame(expected: type[Any]) -> tuple[Any, bool]:
    """A decoder of a whole ``[3, id, payload]`` frame, made once per response type, and
    whether ``{}`` (every field absent) is a valid payload of that type."""
    frame_type: Any = tuple[int, str, expected]  # type: ignore[valid-type]
    decode: Any = msgspec.json.Decoder(frame_type, dec_hook=dec_hook).decode
    if needs_reference(mi.type_info(expected)):
        decode = with_typed_check(decode, expected, item=2)
    try:
        decode(b'[3,"",{}]')
    except msgspec.ValidationError:
        empty_is_valid = False
    else:
        empty_is_valid = True
    _result_checks[expected] = check = (decode, empty_is_valid)
    return check


def _judge_by_reference(data: bytes, expected: type[Any], version: ProtocolVersion) -> None:
    """A payload of ours the typed check would not vouch for: the reference path's verdict,
    its error raised where it refuses it (``multipleOf``, ``format: uri``), as it would be
    raised at the peer."""
    decode_payload(msgspec.json.decode(data), expected, version)


def result_check(expected: type[Any]) -> tuple[Any, bool]:
    """The check of a ``[3, id, payload]`` frame of response type ``expected``, and whether
    ``{}`` is a valid payload of it (the compiled dispatch path reads the latter)."""
    return _result_checks.get(expected) or _check_result_frame(expected)


def result_frame(
    message_id: str, action: str, response: Any, version: ProtocolVersion, identity: str = ""
) -> bytes:
    """The CALLRESULT answering ``message_id`` with ``response``, checked first.

    One encode of the frame and one typed decode of it: the cheapest way to
    hold a handler's response to the schema on the hot path of a CSMS. An
    invalid response is our fault, never the peer's: the peer gets
    InternalError, and the cause is logged.

    An empty payload needs no decode: ``{}`` is valid or not for the whole type
    (known once per type), and a frame written as ``[3,"<id>",{}]`` is the only
    one whose last four bytes are ``,{}]`` (a non-empty object never ends in
    ``{}``). Two thirds of a fleet's answers (TransactionEvent, MeterValues,
    StatusNotification) are that ``{}``.
    """
    expected = version.response_types[action]
    try:
        if type(response) is not expected:
            _expect_type(response, action, expected, "response")
        try:
            frame = _encode((3, message_id, response))
        except (TypeError, ValueError, OverflowError) as exc:
            raise errors.TypeConstraintViolationError(f"cannot encode {action}: {exc}") from None
        decode, empty_is_valid = _result_checks.get(expected) or _check_result_frame(expected)
        if not (empty_is_valid and frame.endswith(b",{}]")):
            try:
                decode(frame)
            except NotVouched:
                _judge_by_reference(msgspec.json.encode(response), expected, version)
            except msgspec.ValidationError as exc:
                raise _schema_error_of_ours(exc, response, frame_prefix="$[2]") from None
    except (TypeError, errors.OcppError) as exc:
        ConnectionLog(log, identity).error(
            "our %s response to %s is invalid, answering InternalError: %s",
            action,
            message_id,
            exc,
            extra={"action": action, "message_id": message_id},
        )
        return error_frame(message_id, errors.InternalError(f"invalid {action} response"), version)
    return frame


def error_frame(
    message_id: str, error: errors.OcppError, version: ProtocolVersion, kind: int = CALLERROR
) -> bytes:
    """The CALLERROR (or 2.1 CALLRESULTERROR) of ``error``, spelt as ``version`` spells it."""
    frame: bytes = _encode_call_error(
        message_id, version.code_of(error), error.description, error.details, kind
    )
    return frame


def encode_checked_payload(
    payload: Any, action: str, version: ProtocolVersion, *, response: bool
) -> bytes:
    """The JSON of ``payload`` after checking it against ``action``'s schema.

    Raises ``TypeError`` when ``payload`` is not the action's Struct type and
    the classified :class:`~ocpp_fast.errors.OcppError` when a value breaks the
    schema; for a request (ours, about to be sent) its ``origin`` is
    ``Origin.REQUEST_CHECK``: it was never sent.
    """
    types = version.response_types if response else version.request_types
    expected = types[action]
    _expect_type(payload, action, expected, "response" if response else "request")
    try:
        data = _encode(payload)
    except (TypeError, ValueError, OverflowError) as exc:
        raise errors.TypeConstraintViolationError(
            f"cannot encode {action}: {exc}",
            origin=None if response else errors.Origin.REQUEST_CHECK,
        ) from None
    decoders = version.response_decoders if response else version.request_decoders
    try:
        try:
            decoders[action].decode(data)  # our encoder writes RFC 3339: no spelling check
        except NotVouched:
            _judge_by_reference(data, expected, version)
    except errors.OcppError as refused:
        if not response:
            refused.origin = errors.Origin.REQUEST_CHECK
        raise
    except msgspec.ValidationError as exc:
        error = _schema_error_of_ours(exc, payload)
        if not response:
            error.origin = errors.Origin.REQUEST_CHECK
        raise error from None
    return data
