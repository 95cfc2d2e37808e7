"""The compiled dispatch path: a CALL's bytes to its CALLRESULT's bytes in one call.

The common case of a CSMS, a valid CALL of an action whose handler is a plain
function returning the response Struct, used to cross Python a dozen times per
message (the codec, the route table, the frame-log check, the context, the
result check's lookups, the protocol's bookkeeping): half of ``handle``'s time
for a Heartbeat. :class:`FastDispatch` does the whole of it in one call, in C
(``_dispatch_c.pyx``) or, with the pure codec, in its pure-Python twin
(``_dispatch_py.py``):

scan the envelope -> look the action up in the class's :class:`FastRoutes` ->
typed strict decode -> the handler -> the response's type, its encoding and its
check against the schema (where the response's plan cannot vouch for it:
:mod:`ocpp_fast._response_plan`) -> ``[3,"<id>",<payload>]``.

Every check of the general path is kept: the frame log when it is on, the
metrics when they are kept, the response check. The path only concludes with
success; it leaves everything else to the general code, which is unchanged:

- ``None``: nothing was done (not a CALL it can read, an action without a
  handler the path takes, an id still in hand); ``False``: nothing was done, the
  strict decode refused the payload (so that the reference path, tolerance and the
  error table apply as before: :meth:`~ocpp_fast.dispatch.OcppHandler.handle` then
  goes straight to its Protocol, which decodes the frame once more, as it did before);
- :class:`HandlerRan`: the handler was called, but its outcome needs the general
  code (it raised, returned an awaitable or something other than its response
  type, or a response the check refused: answered InternalError and logged there);
- :class:`~ocpp_fast.protocol.CallReceived`: on a live connection, the CALL of an
  ``async def`` handler (or a plain one marked ``answers_later``), decoded, counted,
  logged and in hand, exactly the event ``Protocol.receive`` would have returned for
  it: the asyncio layer runs it within its bounds (``AsyncConnection._take_call``),
  without decoding it again. :meth:`~ocpp_fast.dispatch.OcppHandler.handle` (no
  connection, no loop) gets ``None`` for those, and runs them its own way as before;
- ``True``: on a live connection that writes its frames, the CALL of a gated action (a
  :class:`Gate`: the cluster gateway's store of a durable CALL) started within the
  connection's bounds; the path answers it itself once the gate's future is done. Or a
  SEND taken (below): nothing to write.

2.1's SEND (``[6, id, action, payload]``, never answered, not even with an error) of an
action that has no response (``NotifyPeriodicEventStream``) takes the same steps up to its
handler, as the protocol takes it: scan, strict decode, the frame log's ``<`` line, the
count ``metrics.frame("in", "send", action)`` keeps (in the action's cell, as a CALL's);
then its plain handler runs and, where it returned ``None``, the path ends with ``True``
(its time counted in the action's cell). An async
handler's SEND is a :class:`~ocpp_fast.protocol.SendReceived` for the asyncio layer; a
handler that raised or returned anything else is a :class:`HandlerRan` of the
:class:`~ocpp_fast.frames.Send` (logged, or awaited, by the general code); ``False`` and
``None`` as for a CALL. A SEND of an action with a response and a CALL of one without are
the general path's (which drops the first and refuses the second, as before).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Protocol

from ocpp_fast import codec
from ocpp_fast._outgoing import result_check
from ocpp_fast._protocol_version import ProtocolVersion, TypedDecoder
from ocpp_fast._response_plan import response_plan
from ocpp_fast.frames import SEND, Call
from ocpp_fast.protocol import CallReceived, SendReceived

if TYPE_CHECKING:

    class Dispatcher(Protocol):
        """What both twins' ``FastDispatch(handler, routes, context_type, peer, protocol,
        frames)`` is.

        ``protocol`` (the connection's sans-I/O :class:`~ocpp_fast.protocol.Protocol`, or
        ``None`` for :meth:`~ocpp_fast.dispatch.OcppHandler.handle`) is where metrics are
        read and the ids in hand are kept; ``peer`` and ``context_type`` make the
        :class:`~ocpp_fast.dispatch.CallContext` of handlers that take one; ``frames`` (the
        connection's, when its handler's class keeps frames) holds each CALL's frame while
        its plain handler runs, for ``frame_of``. (Declared for
        the type checker only: a ``typing.Protocol`` costs every import to make.)
        """

        def answer(
            self, data: bytes | str, identity: str
        ) -> bytes | HandlerRan | CallReceived | SendReceived | bool | None:
            """The CALLRESULT of ``data``; or the handler's outcome; or (on a live connection)
            the decoded CALL (or SEND) of an async handler; ``True``: a SEND taken (its plain
            handler ran and returned ``None``: never answered), or (on a live connection that
            writes its frames) the CALL of a gated action started, the path answers it later;
            ``None``: not done; ``False``: not done, the strict decode refused the payload of
            a handled action (the general path decodes it again, for the reference path and
            tolerance)."""


__all__ = [
    "Dispatcher",
    "FastRoute",
    "Gate",
    "FastRoutes",
    "HandlerRan",
    "compiled_twin",
    "fast_dispatch_class",
    "fast_routes",
    "install_compiled",
    "pure_twins",
]


class Gate(tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any], bool, bool, bool]):
    """A step a plain handler's CALL goes through before the handler runs, whose outcome comes
    later (the cluster gateway's store of a durable CALL: the stream's ack), so that the
    compiled path answers it with no task, no coroutine and no Python frame of its own:

    ``(start, check, calls, wants_context, first, keeps_frame)``: ``start(action, request, payload,
    context)`` starts the step and hands back an ``asyncio.Future`` (or an awaitable, made a
    task) of its outcome, ``payload`` being the station's bytes of the request; what it
    raises is the CALL's answer. Once that future is done, ``check(future, action, context)``
    raises the error to answer with unless the step went through; then ``calls`` (the user's
    function, unbound) runs as ``calls(handler, request[, context])`` (``wants_context``)
    and its response is answered as the compiled path answers any plain handler's. With
    ``first``, ``calls`` runs as soon as ``start`` has begun the step instead, its outcome
    (the answer built, or what it raised) kept until the step is through: the answer still
    waits for the step, and a step that fails is still answered with ``check``'s error, but
    the handler has run by then (a gateway's ``handler_first``). With ``keeps_frame``
    false the CALL's frame is not kept for ``frame_of`` while it waits (``start`` was handed
    the payload: a gateway's store has what it needs once begun, and a frame held through the
    stream's round trip, one per CALL in flight, was memory out of cache by the time the
    next ones were read); true when the handler's own class keeps frames. A handler class
    names its gates by action in ``_gates``; the action's route must be ``answers_later``
    (its method is what the general path runs, the same steps in Python).
    """

    __slots__ = ()


def drop_outcome(result: Any) -> None:
    """What a handler-first gate's handler returned, never to be answered (its step failed):
    a coroutine is closed, so that it is not reported as never awaited."""
    if isinstance(result, CoroutineType):
        result.close()


class FastRoute(
    tuple[
        str,
        bool,
        TypedDecoder,
        type[Any] | None,
        Callable[[bytes], Any],
        bool,
        Any,
        bool,
        Gate | None,
    ]
):
    """What the compiled path needs to answer one action, made once per class and action:

    ``(method, wants_context, request, response_type, check, empty_is_valid, plan,
    is_async, gate)``:
    the handler's name (looked up on the instance per CALL, as ``invoke_handler``
    does), whether it takes a context, the strict typed decoder of the request (with the
    checks of the constraints msgspec cannot check, where its type has some), the response
    type (``None`` for an action never answered: its SEND frames are taken, with no reply),
    the strict decoder of the response payload (the check of what we send), whether
    ``{}`` is a valid response (then such an answer needs no check), and the response type's
    plan
    (:mod:`ocpp_fast._response_plan`: a response it vouches for needs no decode; one it
    does not is decoded), and whether the asyncio layer runs the handler within its bounds
    (``async def``, or a plain one marked :func:`~ocpp_fast.dispatch.answers_later`: then the
    path only decodes the CALL, for the asyncio layer to run it in a task, or to call it and
    answer from its future's callback; a SEND's handler alike, never answered), and the
    action's :class:`Gate` or ``None`` (on a live
    connection that writes its frames, a gated CALL is started and later answered by the path
    itself, within the connection's bounds). A plain tuple to both
    twins (the compiled one reads it by index); the names are for the rest of us. (No
    ``NamedTuple``: making one compiles code, and every ``import ocpp_fast`` would pay
    for it.)
    """

    __slots__ = ()

    @property
    def request(self) -> TypedDecoder:
        """The strict typed decoder of the request payload."""
        return self[2]


def _never_answered(payload: bytes) -> None:
    """A SEND-only action's response check: there is no response (its route's ``response_type``
    is ``None``, which keeps its CALLs off the path: nothing ever reaches this)."""
    raise AssertionError("a SEND-only action has no response to check")


class FastRoutes(dict[str, "FastRoute | None"]):
    """``action -> FastRoute`` of one handler class, or ``None`` where the compiled path
    does not go (no handler); each filled on the first frame of its action, so decoders stay
    lazy. The route of an action never answered (2.1's ``NotifyPeriodicEventStream``) has no
    ``response_type``: the path takes its SEND frames only (a CALL of it is the general
    path's to refuse), and an action with a response is taken as a CALL only (a SEND of it
    is the general path's to drop)."""

    def __init__(
        self,
        version: ProtocolVersion,
        routes: dict[str, Any],
        gates: Mapping[str, Gate] | None = None,
    ) -> None:
        super().__init__()
        self._version = version
        self._routes = routes
        self._gates = gates or {}
        self.slots: object = None
        """The compiled twin's ``ActionSlots`` (action bytes to their name and route),
        made by its first dispatcher and shared by the table's others."""

    def __missing__(self, action: str) -> FastRoute | None:
        route = self._routes.get(action)
        if route is None:  # a name the peer made up is not kept: the table stays bounded
            return None
        entry: FastRoute | None = None
        version = self._version
        request = version.request_decoders[action]
        response_type = version.response_types.get(action)
        if response_type is not None:
            entry = FastRoute(
                (
                    route.calls,
                    route.wants_context,
                    request,
                    response_type,
                    version.response_decoders[action].decode,
                    result_check(response_type)[1],
                    response_plan(response_type),
                    route.is_async or route.answers_later,
                    self._gates.get(action) if route.answers_later else None,
                )
            )
        elif SEND in version.message_types:  # an action never answered: taken as a SEND only
            entry = FastRoute(
                (
                    route.calls,
                    route.wants_context,
                    request,
                    None,
                    _never_answered,
                    False,
                    None,
                    route.is_async or route.answers_later,
                    None,
                )
            )
        self[action] = entry
        return entry


_TAKES_NOTHING = FastRoutes(ProtocolVersion("", {}), {})
_tables: weakref.WeakKeyDictionary[type[Any], FastRoutes] = weakref.WeakKeyDictionary()


def fast_routes(handler_class: type[Any] | None) -> FastRoutes:
    """The :class:`FastRoutes` of a handler class (``Charger``/``ChargeSystem`` subclass);
    of ``None``: a table that takes nothing."""
    if handler_class is None:
        return _TAKES_NOTHING
    table = _tables.get(handler_class)
    if table is None:
        table = _tables[handler_class] = FastRoutes(
            handler_class.version, handler_class._routes, getattr(handler_class, "_gates", None)
        )
    return table


class HandlerRan:
    """The handler of ``call`` ran on the compiled path; its outcome is for the general code.

    ``result`` is what it returned (when ``error`` is ``None``), ``error`` what it raised;
    ``started`` is the ``perf_counter()`` before it ran where metrics are kept, else 0.0.
    """

    __slots__ = ("call", "error", "result", "started")

    def __init__(self, call: Call, result: Any, error: Exception | None, started: float) -> None:
        self.call: Call = call
        self.result: Any = result
        self.error: Exception | None = error
        self.started: float = started


def fast_dispatch_class() -> Callable[..., Dispatcher]:
    """The live implementation: compiled with the compiled codec, else the pure twin."""
    if codec.IMPLEMENTATION == "cython":
        try:
            from ocpp_fast._dispatch_c import FastDispatch as compiled
        except ImportError:  # built before the compiled dispatch path existed
            pass
        else:
            return compiled
    from ocpp_fast._dispatch_py import FastDispatch as pure

    return pure


def compiled_twin(name: str) -> Callable[..., Any] | None:
    """A function of ``_dispatch_c`` that does a Python method's steps in C (``handle``
    of ``OcppHandler``, ``feed`` of ``AsyncConnection``, ``on_ws_frame`` and ``write`` of
    the picows listener) where the compiled path is live, else ``None`` (the Python
    method is then its twin)."""
    if fast_dispatch_class().__module__ != "ocpp_fast._dispatch_c":
        return None
    from ocpp_fast import _dispatch_c

    twin: Callable[..., Any] = getattr(_dispatch_c, name)
    return twin


pure_twins: dict[tuple[type[Any], str], Callable[..., Any]] = {}
"""``(class, method name) -> the Python method`` of each method :func:`install_compiled`
replaced: the tests put it back to run the pure twin where the compiled one is built."""


def install_compiled(cls: type[Any], name: str, twin: str | None = None) -> None:
    """Put ``_dispatch_c``'s twin of ``cls.<name>`` (the function named ``twin``, by
    default ``name``) in its place, with the method's docstring, when the compiled path
    is built; the Python method stays the pure twin (kept in :data:`pure_twins`)."""
    compiled = compiled_twin(twin or name)
    if compiled is not None:
        method = getattr(cls, name)
        pure_twins[cls, name] = method
        compiled.__doc__ = method.__doc__
        setattr(cls, name, compiled)
