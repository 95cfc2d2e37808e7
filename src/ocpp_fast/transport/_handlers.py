"""What ``serve()`` and ``connect()`` take as ``handlers``: one handler, or one per subprotocol.

One rule for both sides, so a CSMS and a station are given their versions the same way (and
refused alike when given something else).
"""

from __future__ import annotations

from collections.abc import Mapping

from ocpp_fast._protocol_version import LABELS
from ocpp_fast.dispatch import OcppHandler

__all__ = ["by_subprotocol", "check_unshadowed", "subprotocol_of"]


def by_subprotocol(
    handlers: OcppHandler | Mapping[str, OcppHandler], kind: str
) -> dict[str, OcppHandler]:
    """One handler (under its version's subprotocol) or a mapping of subprotocol to handler,
    as a new dict; ``kind`` (``"Charger"``, ``"ChargeSystem"``) names what is expected in the
    ``TypeError`` for anything else."""
    if isinstance(handlers, OcppHandler):
        check_unshadowed(handlers)
        return {handlers.version.subprotocol: handlers}
    if not isinstance(handlers, Mapping):
        raise TypeError(
            f"handlers is one {kind} or a mapping of subprotocol to {kind} "
            f'({{"ocpp1.6": {kind.lower()}}}), not {type(handlers).__name__}'
        )
    for handler in handlers.values():
        check_unshadowed(handler)
    return {subprotocol_of(key, handler, kind): handler for key, handler in handlers.items()}


def check_unshadowed(handler: OcppHandler) -> None:
    """Refuse a handler whose instance sets, over one of its handler methods, a value that is
    not callable (``self.meter_values = []`` in ``__init__`` of a class whose
    ``meter_values`` handles MeterValues): every CALL of that action failed InternalError with
    ``'list' object is not callable`` in the log, which did not say what hid the method."""
    own = getattr(handler, "__dict__", {})
    for action in type(handler).handled_actions():
        route = handler.handler_route(action)
        if route is None or route.method not in own or callable(own[route.method]):
            continue
        hiding = type(own[route.method]).__name__
        raise TypeError(
            f"{type(handler).__name__}.{route.method} handles {action}, but the instance sets "
            f"{route.method} to a {hiding}, which hides the method: rename the attribute"
        )


def subprotocol_of(key: str, handler: OcppHandler, kind: str) -> str:
    """The subprotocol ``key`` names: ``"ocpp1.6"``, or its label ``"1.6"`` as ``ocpp-fast
    serve`` takes it. A key that is not the handler's own version would be offered in the
    handshake and never match (``"2.0.1"`` offered as such, no station asks for it), or pair a
    station with the model of another version: refused here, not at the first station."""
    version = getattr(handler, "version", None)
    if version is None:  # a version-less base: nothing to check the key against
        return key
    name = f"ocpp{key}" if key in LABELS else key
    if name != version.subprotocol:
        raise ValueError(
            f"the key {key!r} maps to a {kind} of OCPP {version}; "
            f"use the key {version.subprotocol!r}"
        )
    return name
