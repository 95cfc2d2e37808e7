"""``ocpp``'s exception classes for ocpp_fast's errors: what the drop-in raises in the
backend's process, so the ``except`` clauses written against ``ocpp`` still catch.

The wire follows the spec (:mod:`ocpp_fast.errors`, the version's spelling of each code);
the class raised to Python code is the one ``ocpp`` raises for the same fault.
"""

from __future__ import annotations

from typing import Any

import ocpp.exceptions

from ocpp_fast import errors
from ocpp_fast._protocol_version import ProtocolVersion

__all__ = ["ocpp_exception", "ocpp_validation_exception"]


_OCPP_EXCEPTIONS: dict[str, type[Exception]] = {
    cls.code: cls
    for cls in (
        ocpp.exceptions.NotImplementedError,
        ocpp.exceptions.NotSupportedError,
        ocpp.exceptions.InternalError,
        ocpp.exceptions.ProtocolError,
        ocpp.exceptions.SecurityError,
        ocpp.exceptions.FormatViolationError,
        ocpp.exceptions.FormationViolationError,
        ocpp.exceptions.PropertyConstraintViolationError,
        ocpp.exceptions.OccurenceConstraintViolationError,
        ocpp.exceptions.OccurrenceConstraintViolationError,
        ocpp.exceptions.TypeConstraintViolationError,
        ocpp.exceptions.GenericError,
    )
}


_OCPP_CLASS_OF_FAULT: tuple[tuple[type[errors.OcppError], type[Exception]], ...] = (
    (errors.RpcFrameworkError, ocpp.exceptions.FormatViolationError),
    (errors.MessageTypeNotSupportedError, ocpp.exceptions.PropertyConstraintViolationError),
)
"""The faults whose code ``ocpp`` has no class for (2.x's RpcFrameworkError and
MessageTypeNotSupported), by the class ``ocpp`` raises for the same fault: its ``unpack``
raises FormatViolationError for a frame that is not JSON and PropertyConstraintViolationError
for a MessageTypeId it does not know, on every version (1.6's spellings of these codes,
FormationViolation and GenericError, name other faults). They stood in as GenericError."""


def _ocpp_class(error: errors.OcppError, version: ProtocolVersion) -> Any:
    """``ocpp``'s class of ``error``'s code as the version spells it; for a code ``ocpp``
    has no class for, the class it raises for the same fault."""
    cls: Any = next((c for fault, c in _OCPP_CLASS_OF_FAULT if isinstance(error, fault)), None)
    if cls is None:
        cls = _OCPP_EXCEPTIONS[version.code_of(error)]  # every other code of the spec has one
    return cls


def ocpp_exception(error: errors.OcppError, version: ProtocolVersion) -> Exception:
    """The ``ocpp`` exception of ``error``'s code, spelt as the version spells it,
    so the ``except`` clauses of a backend written for ``ocpp`` catch it; for a code
    ``ocpp`` has no class for, the class it raises for the same fault."""
    exception: Exception = _ocpp_class(error, version)(
        description=error.description, details=dict(error.details)
    )
    return exception


_OCPP_CLASS_OF_KEYWORD: dict[str, type[Exception]] = {
    "type": ocpp.exceptions.TypeConstraintViolationError,
    "additionalProperties": ocpp.exceptions.FormatViolationError,
    "required": ocpp.exceptions.ProtocolError,
    "maxLength": ocpp.exceptions.TypeConstraintViolationError,
}
"""How ``ocpp`` 2.1.0 names a schema failure, by the keyword broken; every other
keyword (enum, format, pattern, minimum, minItems ...) is its FormatViolationError."""


def ocpp_validation_exception(error: errors.OcppError, version: ProtocolVersion) -> Exception:
    """The exception ``ocpp`` raises in the user's process when a payload it validates
    (a ``call()``'s request, the CALLRESULT answering it) breaks its schema, or when the
    answer to a ``call()`` is no frame to the spec at all.

    The spec's code is what goes on the wire; the class raised to Python code is
    ``ocpp``'s, chosen by the schema keyword as ``ocpp`` chooses it, for every version,
    so ``except FormatViolationError`` written against ``ocpp`` still catches. An error of
    no keyword gets the class of :func:`ocpp_exception`: an answer that is no JSON to the
    spec though Python's ``json`` reads it (``NaN``, as an ``ocpp`` peer writes a float NaN)
    or that is no frame (a CALLRESULT of 2 elements) is a RpcFrameworkError (1.6:
    FormationViolation), raised as ``FormatViolationError`` on every version, the class
    ``ocpp``'s ``unpack`` raises for a frame that is not JSON (``ocpp`` has no class of
    RpcFrameworkError, and a class by code would raise ``FormationViolationError`` on 1.6
    and a stand-in on 2.x).
    """
    keyword = error.schema_keyword
    if keyword is None:
        cls = _ocpp_class(error, version)
    else:
        cls = _OCPP_CLASS_OF_KEYWORD.get(keyword, ocpp.exceptions.FormatViolationError)
    exception: Exception = cls(
        description=error.description, details={"cause": error.description, **error.details}
    )
    return exception
