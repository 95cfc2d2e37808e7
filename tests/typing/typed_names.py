# pyright: strict
"""The public names a handler's code needs are exported (``__all__``) where the docs say."""

from __future__ import annotations

from typing import assert_type

import ocpp_fast
from ocpp_fast import UNSET, CallContext, Request, ResponseT, Tolerance, UnsetType
from ocpp_fast.cluster import StationNotConnected as FromTheCluster
from ocpp_fast.errors import (
    InternalError,
    NotSupportedError,
    OcppError,
    Origin,
    PropertyConstraintViolationError,
    StationNotConnected,
)
from ocpp_fast.v16 import UNSET as UNSET_16
from ocpp_fast.v21 import CallContext as CallContext21
from ocpp_fast.v201 import UNSET as UNSET_201
from ocpp_fast.v201 import VERSION, messages
from ocpp_fast.v201 import CallContext as CallContext201
from ocpp_fast.v201 import Tolerance as Tolerance201
from ocpp_fast.v201 import UnsetType as UnsetType201

unset: list[UnsetType] = [UNSET_201, UNSET_16, UNSET]
unset_201: UnsetType201 = UNSET
assert_type(str(VERSION), str)
policy: Tolerance = Tolerance201.STRICT


def names(context: CallContext201, other: CallContext21, also: CallContext) -> str:
    return context.identity + other.message_id + also.identity


def origin_of(error: OcppError) -> bool:
    """Local or remote: the attribute is typed, the class stays the one of the code."""
    assert_type(error.origin, Origin | None)
    assert_type(error.local, bool)
    return isinstance(error, PropertyConstraintViolationError | NotSupportedError | InternalError)


def not_connected(error: StationNotConnected | FromTheCluster) -> str:
    return error.identity


def request_type(request: Request[ResponseT]) -> Request[ResponseT]:
    return request


assert_type(
    request_type(messages.ResetRequest(type=ocpp_fast.v201.enums.ResetEnumType.IMMEDIATE)),
    Request[messages.ResetResponse],
)
serial: str | UnsetType = messages.BootNotificationRequest(
    reason=ocpp_fast.v201.enums.BootReasonEnumType.POWER_UP,
    charging_station=ocpp_fast.v201.datatypes.ChargingStationType(model="M", vendor_name="V"),
).charging_station.serial_number


def lazily_loaded_names() -> None:
    """Names a module loads on first use are declared to checkers, typed: not ``Any``."""
    from ocpp_fast import OcppStruct, protocol
    from ocpp_fast.transport.server import CsmsServer, WebsocketsServer

    assert_type(protocol.Connection, type[protocol.Protocol])  # 0.1's name, deprecated
    assert issubclass(WebsocketsServer, CsmsServer)
    assert issubclass(messages.HeartbeatRequest, OcppStruct)
