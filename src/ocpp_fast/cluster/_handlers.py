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

import asyncio
import copy
from collections.abc import Callable
from typing import Any

from ocpp_fast._deferred import ERROR, PENDING, RESULT, Deferred, pass_on
from ocpp_fast._fastpath import Gate, drop_outcome
from ocpp_fast.cluster.relay import Relay, station_payload
from ocpp_fast.dispatch import (
    ANSWERED_ELSEWHERE,
    CallContext,
    OcppHandler,
    Route,
    answers_later,
    is_awaitable,
)

__all__ = ["clustered"]


Method = Callable[[Any, Any, CallContext], Any]


def _storing(action: str, base: type[OcppHandler], route: Route, first: bool) -> Method:
    """The user's handler of a durable action, run once the stream has the CALL (``first``:
    as soon as its store has begun, the answer still given once the stream has it).

    A plain user handler gets a plain method (``answers_later``: its CALLs wait for a slot
    as an async handler's do): it starts the store and hands back a :class:`_Stored`,
    which runs the user's handler in the callback of the stream's ack and completes the
    answer there (no task; the connection writes it in the same turn of the loop). An
    ``async def`` one gets a coroutine that awaits the store, then it (``first``: it, then
    the store).

    The base class's function is called directly: through ``invoke_handler`` the
    name would find this override again."""
    inner = getattr(base, route.calls)  # an async def that never awaits: its plain twin
    wants_context = route.wants_context

    def begin(self: Any, request: Any, context: CallContext) -> Any:
        """The store started: its ack, a future (the link's ``Ack``, or over nats-py the
        coroutine made a task)."""
        payload = station_payload(self.version, action, request, context)
        ack = self._relay.start_store(self.version, action, request, payload, context)
        if not hasattr(ack, "add_done_callback"):  # over nats-py: a coroutine
            ack = asyncio.ensure_future(ack)
        return ack

    if not route.is_async:
        user = (inner, wants_context, action, base.version.response_types.get(action), first)

        def start(self: Any, request: Any, context: CallContext) -> _Stored:
            return _Stored(begin(self, request, context), user, self, request, context)

        return answers_later(start)

    async def handle(self: Any, request: Any, context: CallContext) -> Any:
        payload = station_payload(self.version, action, request, context)
        await self._relay.store(self.version, action, request, payload, context)
        result = inner(self, request, context) if wants_context else inner(self, request)
        if is_awaitable(result):
            result = await result
        return result

    async def handle_first(self: Any, request: Any, context: CallContext) -> Any:
        relay: Relay = self._relay
        ack = begin(self, request, context)
        try:
            result = inner(self, request, context) if wants_context else inner(self, request)
            if is_awaitable(result):
                result = await result
        except asyncio.CancelledError:
            ack.cancel()
            raise
        except Exception:
            await relay.stored_after(ack, action, context)  # the store's error comes first
            raise
        await relay.stored_after(ack, action, context)
        return result

    return handle_first if first else handle


class _Stored(Deferred[Any]):
    """The answer of a durable CALL whose user handler is plain, completed in the callback
    of the stream's ack: the user's handler runs there (its result, or what it raised, is
    the answer), or the store failed (InternalError, logged by the relay). Handler first, the
    handler runs as this is made, its outcome kept for that callback.

    It is the ack's done callback itself (``__call__``): nothing else is made per CALL.
    Cancelled (the connection stopped), it cancels what it waits for, so the user's handler
    does not run, as an awaiting task's cancellation would have ensured."""

    __slots__ = ("_context", "_handler", "_kept", "_request", "_user", "_waits_for")

    def __init__(
        self,
        ack: asyncio.Future[Any],
        user: tuple[Callable[..., Any], bool, str, type[Any] | None, bool],
        handler: Any,
        request: Any,
        context: CallContext,
    ) -> None:
        # Deferred.__init__'s, in place: a call less per durable CALL
        self._state = PENDING
        self._value = None
        self._callbacks = None
        self._waits_for: asyncio.Future[Any] = ack
        self._user = user
        self._handler = handler
        self._request = request
        self._context = context
        ack.add_done_callback(self)
        self._kept: tuple[Any, Exception | None] | None = None
        """A handler-first CALL's outcome (what its handler returned, what it raised)."""
        if user[4]:
            self._kept = self._run(user[0], handler, request, context, user[1])
            self._request = None  # run: not needed again

    @staticmethod
    def _run(
        inner: Callable[..., Any],
        handler: Any,
        request: Any,
        context: CallContext,
        wants_context: bool,
    ) -> tuple[Any, Exception | None]:
        """The user's handler run: what it returned, or what it raised."""
        try:
            return (
                inner(handler, request, context) if wants_context else inner(handler, request)
            ), None
        except Exception as exc:
            return None, exc

    def __call__(self, ack: asyncio.Future[Any]) -> None:
        """The stream's ack came (or the store failed, or timed out)."""
        if ack.cancelled():
            self.cancel()
            return
        if self._state != PENDING:  # cancelled meanwhile
            ack.exception()  # retrieved: asyncio never reports it
            return
        inner, wants_context, action, response_type, _ = self._user
        handler, request, context = self._handler, self._request, self._context
        kept = self._kept
        try:
            handler._relay.stored(ack, action, context)
        except Exception as exc:
            if kept is not None:
                drop_outcome(kept[0])
            self._complete(ERROR, exc)
            return
        if kept is None:
            kept = self._run(inner, handler, request, context, wants_context)
        result, error = kept
        if error is not None:
            self._complete(ERROR, error)
            return
        if type(result) is not response_type and is_awaitable(result):
            self._follow(result)  # a plain handler that handed back an awaitable after all
        else:
            self._complete(RESULT, result)

    def _follow(self, result: Any) -> None:
        waits_for = result if isinstance(result, asyncio.Future) else asyncio.ensure_future(result)
        self._waits_for = waits_for
        waits_for.add_done_callback(lambda done: pass_on(done, self))

    def cancel(self) -> bool:
        cancelled = super().cancel()  # first: an Ack calls this back at once as it is cancelled
        self._waits_for.cancel()
        return cancelled


def _forwarding(action: str, durable: bool) -> Method:
    """A CALL handed to a worker (stored first when ``durable``)."""

    async def handle(self: Any, request: Any, context: CallContext) -> Any:
        relay: Relay = self._relay
        payload = station_payload(self.version, action, request, context)
        if durable:
            await relay.store(self.version, action, request, payload, context)
        return await relay.forward(self.version, action, payload, context)

    setattr(handle, ANSWERED_ELSEWHERE, True)  # the worker logs a boot's answer, once
    return handle


def _gates(
    base: type[OcppHandler], relay: Relay, methods: dict[str, Any], first: bool
) -> dict[str, Gate]:
    """The store of each durable action whose user handler is plain, as the compiled path's
    :class:`~ocpp_fast._fastpath.Gate`: on a live connection it publishes the station's
    bytes, and once the stream's ack is in, runs the user's handler and answers, with no
    Python frame of the connection's or of this module's (``_storing``'s ``start`` and
    :class:`_Stored` are the same steps, for the CALLs the general path takes)."""
    version = base.version
    gates: dict[str, Gate] = {}
    for name, route in base._routes.items():
        if version.actions[name].method in methods and not route.is_async:
            gates[name] = Gate(
                (
                    relay.storing.starter(version),  # Relay.start_store's, no frame
                    relay.storing.check,  # Relay.stored's
                    getattr(base, route.calls),
                    route.wants_context,
                    first,  # the gateway's handler_first
                    base.keeps_frames,  # the store begun has the payload: frame_of is the user's
                )
            )
    return gates


def clustered(
    handler: OcppHandler,
    relay: Relay,
    *,
    forward: bool,
    durable: frozenset[str],
    handler_first: bool = False,
) -> OcppHandler:
    """``handler`` as a gateway serves it (``handler`` itself when nothing changes);
    ``handler_first``: a durable CALL's handler runs as its store begins (the Gateway's)."""
    base = type(handler)
    version = base.version
    methods: dict[str, Any] = {}
    for name in base.receivable_actions():
        action = version.actions[name]
        route = base._routes.get(name)
        if forward:
            methods[action.method] = _forwarding(name, name in durable)
        elif name in durable and route is not None:
            methods[action.method] = _storing(name, base, route, handler_first)
    if not methods:
        return handler
    for method in methods.values():
        method.__qualname__ = f"{base.__name__}.{method.__name__}"
    if not forward:
        methods["_gates"] = _gates(base, relay, methods, handler_first)
    methods["_relay"] = relay
    methods["keeps_frames"] = True  # the station's bytes are what is stored and forwarded
    methods["_frames_inline"] = base.keeps_frames  # the path's inline handlers are the user's
    derived = type(f"Clustered{base.__name__}", (base,), methods)
    if hasattr(handler, "__dict__"):
        clone: OcppHandler = object.__new__(derived)
        clone.__dict__ = handler.__dict__
        return clone
    clone = copy.copy(handler)  # a class with __slots__: state is copied, not shared
    clone.__class__ = derived
    return clone
