"""Building blocks shared by the generated models of every OCPP version.

The generated modules (``ocpp_fast.v201.*`` ...) import from here so that the
rules that make a Struct faithful to the official JSON schemas live in one
place: unknown fields are rejected, optional fields default to ``UNSET`` (so an
explicit ``null`` is a violation and an absent field is never written), and
date-times must carry an offset.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeAlias

import msgspec
from typing_extensions import TypeVar

__all__ = [
    "AwareDatetime",
    "CustomData",
    "EnumValidator",
    "OcppEnum",
    "OcppStruct",
    "Request",
    "ResponseT",
    "SendRequest",
    "SentByCsms",
    "SentByStation",
    "dec_hook",
    "json_type_name",
    "enum_validator",
]

AwareDatetime = Annotated[datetime.datetime, msgspec.Meta(tz=True)]
"""A date-time that must carry a UTC offset, as RFC 3339 requires."""


class OcppStruct(
    msgspec.Struct,
    kw_only=True,
    omit_defaults=True,
    forbid_unknown_fields=True,
    repr_omit_defaults=True,
):
    """Base of every generated message and data type.

    ``forbid_unknown_fields`` mirrors ``additionalProperties: false``;
    ``omit_defaults`` keeps ``UNSET`` optional fields off the wire, and
    ``repr_omit_defaults`` out of ``repr()`` (a print shows what was set, as the
    frame would, not a dozen ``UNSET``).
    """


ResponseT = TypeVar("ResponseT", bound=OcppStruct, covariant=True, default=OcppStruct)
"""The response Struct of a request's action (the parameter of :class:`Request`).

Its default (PEP 696, from ``typing_extensions`` before Python 3.13) is what mypy names when
it cannot infer it: a request handed to the wrong side's ``call()`` is reported as ``expected
"SentByCsms[OcppStruct]"`` (a CSMS's request, of any response) where, without a default, it
read ``expected "SentByCsms[Never]"``, which says nothing of the side. The check is the same:
the request's own base is still the other side's."""

if TYPE_CHECKING:

    class Request(OcppStruct, Generic[ResponseT]):
        """Base of every request Struct answered by a CALLRESULT: ``ResetRequest`` is a
        ``Request[ResetResponse]``, so ``await connection.call(ResetRequest(...))`` is a
        ``ResetResponse`` to a type checker.

        Annotate a function that calls the peer with it::

            async def call(self, request: Request[ResponseT]) -> ResponseT: ...
        """

else:

    class Request(OcppStruct):
        """Base of every request Struct answered by a CALLRESULT.

        Generic only to type checkers: at run time ``Request[ResetResponse]`` is
        ``Request`` itself, so a generated request class costs what a plain
        Struct costs (no generic alias per class at import, nothing at decode).
        """

        def __class_getitem__(cls, response: Any) -> type[Request]:
            return cls


class SentByCsms(Request[ResponseT]):
    """Base of every request a CSMS sends (``ResetRequest`` is a
    ``SentByCsms[ResetResponse]``): what ``CsmsServer.call`` and ``ClusterClient.call``
    take, so a station's request handed to them is a type error, not a run-time one.

    A request both sides send (``DataTransferRequest``) derives from both this and
    :class:`SentByStation`. A plain subclass of :class:`Request` at run time too (one more
    class in the request's MRO, nothing per instance): ``issubclass`` tells the side.
    """


class SentByStation(Request[ResponseT]):
    """Base of every request a station sends (``HeartbeatRequest`` is a
    ``SentByStation[HeartbeatResponse]``): what ``StationClient.call`` and ``put`` take, so
    a CSMS's request handed to them is a type error, not a run-time one."""


class SendRequest(OcppStruct):
    """Base of every request sent only as a SEND frame (OCPP 2.1's
    ``NotifyPeriodicEventStreamRequest``): never answered, so it has no response type.
    ``send()`` takes one, and only one (typed like ``call()`` takes a :class:`Request`)::

        async def stream(self, request: SendRequest) -> None: ...
    """


class OcppEnum(enum.StrEnum):
    """Base of every generated enum: members compare equal to their wire value."""


class CustomData(dict[str, Any]):
    """The open ``CustomDataType`` of OCPP 2.x: ``vendorId`` plus any vendor keys.

    A msgspec Struct cannot keep unknown keys, so this is a ``dict`` whose
    schema (``vendorId``: required string of at most 255 characters) is checked
    by :func:`dec_hook` while decoding. Every vendor key survives a round trip.
    """

    @property
    def vendor_id(self) -> str:
        """The mandatory vendor identifier."""
        value: str = self["vendorId"]
        return value


_VENDOR_ID_MAX_LENGTH = 255


def json_type_name(obj: object) -> str:
    """The JSON name of a decoded value's type, spelt as msgspec spells it."""
    if obj is None:
        return "null"
    if isinstance(obj, bool):
        return "bool"
    if isinstance(obj, int):
        return "int"
    if isinstance(obj, float):
        return "float"
    if isinstance(obj, str):
        return "str"
    if isinstance(obj, list):
        return "array"
    return "object"


def check_custom_data(obj: object) -> CustomData:
    """Validate a decoded ``customData`` object against ``CustomDataType``.

    The messages follow msgspec's own wording so that one error classifier
    serves both (missing field, wrong type, too long).
    """
    if not isinstance(obj, dict):
        raise TypeError(f"Expected `object`, got `{json_type_name(obj)}`")
    if "vendorId" not in obj:
        raise ValueError("Object missing required field `vendorId`")
    vendor_id = obj["vendorId"]
    if not isinstance(vendor_id, str):
        raise TypeError(f"Expected `str`, got `{json_type_name(vendor_id)}`")
    if len(vendor_id) > _VENDOR_ID_MAX_LENGTH:
        raise ValueError(f"Expected `str` of length <= {_VENDOR_ID_MAX_LENGTH}")
    return obj if type(obj) is CustomData else CustomData(obj)


def dec_hook(tp: type, obj: object) -> object:
    """msgspec decode hook: builds the types msgspec cannot decode natively."""
    if tp is CustomData:
        return check_custom_data(obj)
    raise NotImplementedError(f"ocpp_fast cannot decode {tp!r}")


EnumValidator: TypeAlias = Callable[[str, object], bool]
"""The type of each version's ``enums.validate``: ``(enum type name, value) -> valid``."""


def enum_validator(
    enums: dict[str, type[OcppEnum]],
) -> EnumValidator:
    """Make a ``validate(enum_type_name, value)`` function over one version's enums."""

    def validate(enum_type: str, value: object) -> bool:
        """Whether ``value`` is a valid wire value of the enum named ``enum_type``.

        Raises ``KeyError`` for an enum name the version does not define, so a
        typo is not mistaken for an invalid value.
        """
        try:
            members = enums[enum_type]._value2member_map_
        except KeyError:
            raise KeyError(f"no enum type named {enum_type!r}") from None
        return isinstance(value, str) and value in members

    return validate
