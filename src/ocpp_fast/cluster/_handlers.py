"""The handler a gateway actually serves: the user's own, with durable actions stored first,
or, with handlers in workers, one that forwards every CALL.

Either way it is a subclass of the user's class, made at run time, so dispatch
builds and checks its action table as for any other class (no hand-written
method per action) and everything else of the user's class still applies
(``tolerance``, ``tolerance_for``, ``on_deviation``, helper methods). The
instance shares the user's instance ``__dict__``: state the handlers keep is
one state, whichever object it is reached through.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Coroutine
from typing import Any

from ocpp_fast.cluster.relay import Relay, station_payload
from ocpp_fast.dispatch import CallContext, OcppHandler, is_awaitable

__all__ = ["clustered"]


Method = Callable[[Any, Any, CallContext], Coroutine[Any, Any, Any]]


def _storing(action: str, base: type[OcppHandler], method: str, wants_context: bool) -> Method:
    """The user's handler of a durable action, run once the stream has the CALL.

    The base class's function is called directly: through ``invoke_handler`` the
    name would find this override again."""
    inner = getattr(base, method)

    async def handle(self: Any, request: Any, context: CallContext) -> Any:
        payload = station_payload(self.version, action, request, context)
        await self._relay.store(self.version, action, request, payload, context)
        result = inner(self, request, context) if wants_context else inner(self, request)
        if is_awaitable(result):
            result = await result
        return result

    return handle


def _forwarding(action: str, durable: bool) -> Method:
    """A CALL handed to a worker (stored first when ``durable``)."""

    async def handle(self: Any, request: Any, context: CallContext) -> Any:
        relay: Relay = self._relay
        payload = station_payload(self.version, action, request, context)
        if durable:
            await relay.store(self.version, action, request, payload, context)
        return await relay.forward(self.version, action, payload, context)

    return handle


def clustered(
    handler: OcppHandler, relay: Relay, *, forward: bool, durable: frozenset[str]
) -> OcppHandler:
    """``handler`` as a gateway serves it (``handler`` itself when nothing changes)."""
    base = type(handler)
    version = base.version
    methods: dict[str, Any] = {}
    for name in base.receivable_actions():
        action = version.actions[name]
        route = base._routes.get(name)
        if forward:
            methods[action.method] = _forwarding(name, name in durable)
        elif name in durable and route is not None:
            methods[action.method] = _storing(name, base, route.method, route.wants_context)
    if not methods:
        return handler
    for method in methods.values():
        method.__qualname__ = f"{base.__name__}.{method.__name__}"
    methods["_relay"] = relay
    methods["keeps_frames"] = True  # the station's bytes are what is stored and forwarded
    derived = type(f"Clustered{base.__name__}", (base,), methods)
    if hasattr(handler, "__dict__"):
        clone: OcppHandler = object.__new__(derived)
        clone.__dict__ = handler.__dict__
        return clone
    clone = copy.copy(handler)  # a class with __slots__: state is copied, not shared
    clone.__class__ = derived
    return clone
