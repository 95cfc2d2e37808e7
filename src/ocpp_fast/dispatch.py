"""``Charger`` and ``ChargeSystem``: one method per action, dispatched from decoded frames.

Subclass the class of your side and version (``ocpp_fast.v201.ChargeSystem``,
``ocpp_fast.v201.Charger``) and write a method named after each action you
handle, in snake_case (``boot_notification``, ``transaction_event``...). It
takes the typed request Struct, and optionally a :class:`CallContext`, and
returns the response Struct, sync or ``async``. Raise an
:class:`~ocpp_fast.errors.OcppError` subclass to answer with its code.

The table from action to method is built once, when the class is created, and
the class is checked then: a method named after an action this side never
receives, a method named as the action is on the wire (``BootNotification``),
or a near miss of an action name (a typo), raises ``TypeError`` instead of
being silently ignored.

To type checkers the version's classes also declare a slot per action
(:data:`Handler`), so a handler whose request or response type is not its
action's is an error before anything runs (``docs/reference/typing.md``).
"""

from __future__ import annotations

import difflib
import inspect
import logging
import typing
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import CoroutineType, GeneratorType
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias, TypeGuard, TypeVar

import msgspec

from ocpp_fast import errors
from ocpp_fast._actions import Sender
from ocpp_fast._awaitless import (
    HandlerSuspended,
    awaitless_twin,
    finish_at_once,
    needed_a_loop,
    never_suspends,
)
from ocpp_fast._boot_line import logged_boot
from ocpp_fast._fastpath import HandlerRan, fast_dispatch_class, fast_routes, install_compiled
from ocpp_fast._frame_log import debug_enabled, log_frame
from ocpp_fast._model import Request, ResponseT, SendRequest
from ocpp_fast._outgoing import error_frame, result_frame
from ocpp_fast._protocol_version import LABELS, ProtocolVersion, by_label
from ocpp_fast._ratelimit import ConnectionLog, FirstTimes, LogLimiter
from ocpp_fast.codec import decode_frame
from ocpp_fast.frames import Call, Send
from ocpp_fast.protocol import (
    CallReceived,
    DeviationCallback,
    HandlerFailed,
    Protocol,
    SendReceived,
    log_error_answered,
)
from ocpp_fast.tolerance import Tolerance

if TYPE_CHECKING:
    from ocpp_fast._fastpath import Dispatcher
    from ocpp_fast.v16.messages import BootNotificationResponse as Boot16
    from ocpp_fast.v21.messages import BootNotificationResponse as Boot21
    from ocpp_fast.v201.messages import BootNotificationResponse as Boot201

__all__ = [
    "Answer",
    "CallContext",
    "ChargeSystem",
    "Charger",
    "Handler",
    "HandlerSuspended",
    "OcppHandler",
    "PeerConnection",
    "Route",
    "as_ocpp_error",
    "is_awaitable",
    "send_failed",
]

log: logging.Logger = logging.getLogger("ocpp_fast")


class PeerConnection(typing.Protocol):
    """What a handler may do with its connection: call the peer, or (2.1) send to it; and
    whom it talks to, in which version.

    :class:`~ocpp_fast.aio.AsyncConnection` is one, and so is a cluster worker's stand-in
    (:class:`~ocpp_fast.cluster.client.RoutedPeer`): only what both give truthfully is
    declared (a worker holds no socket, so no ``remote_address`` or ``connected_since``).
    Declared here so that dispatch needs nothing from the asyncio layer above it.
    """

    @property
    def identity(self) -> str:
        """The station's identity."""

    @property
    def version(self) -> ProtocolVersion:
        """The OCPP version spoken (``str()`` of it is the label: ``2.0.1``)."""

    async def call(self, request: Request[ResponseT], timeout: float = ...) -> ResponseT:
        """Send a CALL and return the peer's typed response."""

    async def send(self, request: SendRequest) -> None:
        """2.1: send a SEND frame (never answered)."""

    def set_tolerance(self, policy: Tolerance) -> None:
        """Accept and repair the deviations of ``policy`` from this station from now on."""


class CallContext(msgspec.Struct, frozen=True):
    """What a handler may want besides the request: who asked, and how to call back."""

    identity: str
    """The station identity of the connection."""
    message_id: str
    """The id of the CALL being handled."""
    connection: PeerConnection | None = None
    """The asyncio connection, to ``await context.connection.call(...)`` the peer from a
    handler; ``None`` where the CALL came with none (:meth:`OcppHandler.handle`). A handler
    that always runs on a connection reads :attr:`peer` instead, which needs no check."""

    @property
    def peer(self) -> PeerConnection:
        """:attr:`connection`, typed without ``None``: ``await context.peer.call(...)``.

        Every connection (``serve()``, ``connect()``, in memory, a cluster's worker) gives
        its handlers one, so a handler calling back would otherwise check ``None`` only for
        ``mypy --strict``, with an ``assert`` that says nothing when it fails. Raises
        ``RuntimeError`` naming the CALL when there is none: the frame was answered by
        :meth:`OcppHandler.handle` (or ``handle_async()``), with no peer to call, or the
        context was made by hand (a unit test gives it a ``connection=``).
        """
        connection = self.connection
        if connection is None:
            raise RuntimeError(
                f"CallContext.peer: the CALL {self.message_id!r} of {self.identity!r} came with"
                " no connection to call back on (handled by OcppHandler.handle() or"
                " handle_async(), or a CallContext made without connection=); a handler"
                " that may run so checks context.connection for None instead"
            )
        return connection


_RequestT = TypeVar("_RequestT")
_AnswerT = TypeVar("_AnswerT")

Answer: TypeAlias = _AnswerT | Awaitable[_AnswerT]
"""What a handler returns: the response Struct, or (``async def``) an awaitable of it."""

Handler: TypeAlias = (
    Callable[[_RequestT], Answer[_AnswerT]]
    | Callable[[_RequestT, CallContext], Answer[_AnswerT]]
    | Callable[[Any, _RequestT], Answer[_AnswerT]]
    | Callable[[Any, _RequestT, CallContext], Answer[_AnswerT]]
)
"""The type of a handler of an action whose request is ``_RequestT`` and whose response is
``_AnswerT``: the generated ``ChargeSystem``/``Charger`` of each version declare one per
action, to type checkers only, so a handler method with other types is an incompatible
override. Every form a handler takes is one of the union: ``(request)`` or
``(request, context)``, sync or ``async``. Each form is there twice, without and with
``self``: mypy compares an overriding method bound, pyright unbound."""


@dataclass(frozen=True, slots=True)
class Route:
    """One row of a handler class's table: the method of an action, and how to call it."""

    action: str
    method: str
    wants_context: bool
    is_async: bool
    """An ``async def`` handler runs as a task; a plain one is answered on the spot."""
    calls: str
    """The attribute dispatch calls: ``method`` itself, or, for an ``async def`` that never
    awaits, its plain twin (:mod:`ocpp_fast._awaitless`; ``is_async`` is then false)."""
    answers_later: bool = False
    """A plain handler marked :func:`answers_later`: it hands back a future of its response,
    so the asyncio layer runs it within its bounds on CALLs in flight, as an ``async def``
    one, but calls it in place and answers from the future's callback, with no task."""


_TYPO_CUTOFF = 0.85
ANSWERED_ELSEWHERE = "_ocpp_answered_elsewhere"
"""An attribute of a handler method that hands the CALL to another process, which runs the
user's handler and logs what it answered (a cluster gateway's forwarding to its workers): the
route does not log a BootNotification's answer again."""
_ANSWERS_LATER = "_ocpp_answers_later"

_F = TypeVar("_F", bound=Callable[..., Any])


def answers_later(method: _F) -> _F:
    """Mark a plain handler that always hands back a future of its response
    (``asyncio.Future``, or :class:`~ocpp_fast._deferred.Deferred`) instead of the response:
    its CALLs wait for a slot as an ``async def`` handler's do, and it is called in place,
    with no task (the cluster gateway's handlers of durable actions: the store started, the
    answer to come with the stream's ack). Without the mark such a handler is run at once,
    outside the bounds, as any plain handler."""
    setattr(method, _ANSWERS_LATER, True)
    return method


class OcppHandler:
    """Base of ``Charger`` and ``ChargeSystem``: the dispatch table and the calling of handlers."""

    version: ClassVar[ProtocolVersion]
    side: ClassVar[Sender]
    """The side this class plays: it handles the actions the other side sends."""
    _routes: ClassVar[dict[str, Route]] = {}
    _handled: ClassVar[frozenset[str]] = frozenset()
    tolerance: Tolerance = Tolerance.STRICT
    """The deviations every connection accepts and repairs (:mod:`ocpp_fast.tolerance`);
    strict by default. Per station: override :meth:`tolerance_for`, or call
    ``context.connection.set_tolerance(...)`` from a handler (the BootNotification's)."""
    on_deviation: DeviationCallback | None = None
    """Told ``(identity, action, deviations)`` of each frame accepted after repair."""
    keeps_frames: ClassVar[bool] = False
    """Whether each connection keeps the frame of a CALL while its handler runs, for
    ``context.connection.frame_of(message_id)`` (the cluster's gateway sets it on the classes it
    serves, to store and forward the station's own bytes); off, it costs nothing."""
    _frames_inline: ClassVar[bool | None] = None
    """Whether the compiled path keeps a CALL's frame while a plain handler runs inline
    (``None``: as :attr:`keeps_frames`). The gateway's classes keep frames for their store and
    forward methods, which the general code runs, and set this to the user's class's
    :attr:`keeps_frames`: the plain handlers the path runs inline there are the user's own, and
    a frame kept for each of them (its message id made, put in the connection's dict, taken
    out) was a few hundred instructions a CALL that nothing read."""
    _handle_path: tuple[type[OcppHandler], Dispatcher] | None = None
    """:meth:`handle`'s compiled path, made on its first frame, and the class it was made for
    (the cluster's gateway shares a user's instance ``__dict__`` with a derived class)."""

    if TYPE_CHECKING:

        def _version_boot_response(self) -> Boot16 | Boot201 | Boot21:
            """To type checkers only: the BootNotificationResponse of a station's version.
            Each version's ``Charger`` narrows it to its own, so ``connect(v201.Charger(),
            url)`` is a ``StationClient`` of 2.0.1's response with no ``boot=`` to say the
            version (``transport.client.VersionedCharger``); any other handler gives the
            union, as every handler was typed before."""
            ...

        _boot_versions: Boot16 | Boot201 | Boot21
        """To type checkers only, as ``_version_boot_response``, but an attribute: matched
        invariantly, so a handler of no one version (``transport.client.OfNoOneVersion``) takes
        a boot of any version, and a Charger of one version, which narrows it, is none."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if hasattr(cls, "version") and hasattr(cls, "side"):  # not the version-less bases
            cls._routes = _build_routes(cls)
            cls._handled = frozenset(cls._routes)

    @classmethod
    def receivable_actions(cls) -> frozenset[str]:
        """Every action whose request this side receives."""
        return cls.version.side_tables(cls.side)[1]

    @classmethod
    def unhandled_actions(cls) -> list[str]:
        """The actions this side receives that the class has no method for."""
        return sorted(cls.receivable_actions() - cls._routes.keys())

    def handler_route(self, action: str) -> Route | None:
        """The method handling ``action``, if the class has one (looked up once per CALL by
        the asyncio layer, which runs it with :meth:`invoke_handler`)."""
        return self._routes.get(action)

    @classmethod
    def handled_actions(cls) -> list[str]:
        """The actions the class has a method for."""
        return sorted(cls._routes)

    def protocol(self, identity: str = "") -> Protocol:
        """The sans-I/O protocol of one connection (:class:`~ocpp_fast.protocol.Protocol`)
        for this side and version.

        CALLs of actions the class has no method for are answered NotSupported
        by the protocol itself, before their payload is looked at.
        """
        return Protocol(
            self.version,
            self.side,
            identity=identity,
            handled=self._handled,
            tolerance=self.tolerance_for(identity),
            on_deviation=self.on_deviation,
            logged=self.__dict__.setdefault("_logged_deviations", FirstTimes()),
        )

    def connection(self, identity: str = "") -> Protocol:
        """:meth:`protocol` by its name in 0.1 (deprecated: it is not a connection)."""
        warnings.warn(
            "OcppHandler.connection() is now OcppHandler.protocol()", DeprecationWarning, 2
        )
        return self.protocol(identity)

    def tolerance_for(self, identity: str) -> Tolerance:
        """The policy of a station admitted as ``identity``: :attr:`tolerance` unless overridden,
        e.g. from a table of identities known to run a noisy firmware."""
        return self.tolerance

    # --- invoking handlers -----------------------------------------------------------------

    def _start(self, call: Call, identity: str, peer: PeerConnection | None) -> object:
        """Call the handler of ``call``; return its result, or a coroutine to await."""
        return self.invoke_handler(self._routes.get(call.action), call, identity, peer)

    def invoke_handler(
        self, route: Route | None, call: Call, identity: str, peer: PeerConnection | None
    ) -> object:
        """Call the handler ``route`` names with ``call``'s request; return its result, or a
        coroutine to await.

        Typed ``object``: whatever the handler returned, checked as the response only when the
        reply is written (anything but the action's response answers InternalError); an
        override wrapping it narrows with ``inspect.isawaitable`` before awaiting.

        Raises NotSupportedError when there is no route (the class has no method
        for the action). The context is built only for handlers that take one.
        """
        if route is None:
            raise errors.NotSupportedError(
                f"{call.action} is not handled here", {"action": call.action}
            )
        method = getattr(self, route.calls)
        if route.wants_context:
            return method(call.payload, CallContext(identity, call.message_id, peer))
        return method(call.payload)

    def handle(self, frame: bytes | str, identity: str = "") -> bytes | None:
        """Answer one received frame without any transport: the reply frame, or ``None``.

        ``None`` where the spec says no reply (a CALLRESULT or CALLERROR, an
        ignored message type). Async handlers work here as long as they do not
        really suspend; use :meth:`handle_async` for those that do, and for a
        handler marked :func:`answers_later` (a cluster gateway's durable actions):
        here they raise :class:`HandlerSuspended`, which says so (an ``async`` handler
        runs up to its first real suspension: whether it suspends is only known then, so
        what it did before stays done).

        A valid CALL of an action with a plain handler takes the compiled path
        (:mod:`ocpp_fast._fastpath`, the CSMS hot path); another handled valid CALL
        is answered straight away; everything else goes through a sans-I/O
        :class:`~ocpp_fast.protocol.Protocol`, which applies the error rules.
        """
        made = self._handle_path
        if made is not None and made[0] is type(self):
            dispatcher = made[1]
        else:
            dispatcher = self._handle_dispatcher()
        outcome = dispatcher.answer(frame, identity)
        if isinstance(outcome, bytes):
            return outcome
        if outcome is True:  # a SEND taken: never answered
            return None
        return self._handle_outcome(frame, identity, outcome)

    def _handle_dispatcher(self) -> Dispatcher:
        """:meth:`handle`'s compiled path, made on its first frame for this class (two
        classes may share one ``__dict__``: the cluster's gateway does)."""
        made = self._handle_path = (type(self), self.fast_dispatch())
        return made[1]

    def _handle_outcome(
        self,
        frame: bytes | str,
        identity: str,
        outcome: HandlerRan | CallReceived | SendReceived | bool | None,
    ) -> bytes | None:
        """The rest of :meth:`handle`, where the compiled path did not conclude with a reply
        (shared by the compiled ``handle`` of ``_dispatch_c``, which ends here too).

        (A :class:`CallReceived` or :class:`SendReceived`, an async handler's CALL or SEND
        decoded, and ``True`` for a gated CALL, are a live connection's outcomes: the path of
        ``handle``, made without a protocol, answers ``None`` there. ``True`` from it is a
        SEND taken, which :meth:`handle` answers with nothing before it comes here.)"""
        if outcome is True:
            return None
        if isinstance(outcome, CallReceived | SendReceived):
            outcome = None
        if outcome is None:  # not the compiled path's: decoded here if a handled CALL
            try:
                call = decode_frame(frame, self.version)
            except errors.OcppError:
                call = None
            if (
                type(call) is Call
                and (route := self._routes.get(call.action)) is not None
                and call.action not in self.version.send_only  # the Protocol refuses it
            ):
                if route.answers_later:  # before it starts what handle() could not wait for
                    raise _answers_later(call.action)
                if debug_enabled():
                    log_frame("<", identity, frame)
                try:
                    outcome = HandlerRan(
                        call, self.invoke_handler(route, call, identity, None), None, 0.0
                    )
                except Exception as exc:
                    outcome = HandlerRan(call, None, exc, 0.0)
        if not outcome:  # None, or False (the strict decode refused it): a Protocol's to judge
            answered: bytes | None = finish_at_once(self.handle_async(frame, identity))
            return answered
        return self._reply_to(outcome, identity)

    def fast_dispatch(
        self,
        peer: PeerConnection | None = None,
        protocol: Protocol | None = None,
        frames: dict[str, bytes | str] | None = None,
    ) -> Dispatcher:
        """The compiled path of this handler (:mod:`ocpp_fast._fastpath`): of a live
        connection when ``protocol`` is given (its metrics, its ids in hand; ``frames``: where
        it keeps each CALL's frame while the handler runs, when the class keeps frames),
        else of :meth:`handle`.

        A handler whose :meth:`invoke_handler` or :meth:`handler_route` is not the base's
        (overridden in its class, or set on the instance, to wrap or route every handler)
        gets a path that takes nothing: every CALL then goes through its own.
        """
        cls = type(self)
        own = (
            vars(self).keys() & {"invoke_handler", "handler_route"}
            if hasattr(self, "__dict__")
            else ()
        )
        if (
            own
            or cls.invoke_handler is not OcppHandler.invoke_handler
            or cls.handler_route is not OcppHandler.handler_route
        ):
            routes = fast_routes(None)
        else:
            routes = fast_routes(cls)
        inline = cls.keeps_frames if cls._frames_inline is None else cls._frames_inline
        if not inline:
            frames = None  # what the general code runs still has the connection's dict
        return fast_dispatch_class()(self, routes, CallContext, peer, protocol, frames)

    def _reply_to(self, ran: HandlerRan, identity: str) -> bytes | None:
        """The reply to a CALL whose handler ran, in :meth:`handle`: a coroutine is run to its
        end, a raise answers its error, anything else is checked as the response. A SEND's
        (2.1) has none: what its handler returned or raised is taken as :meth:`handle_async`
        takes it."""
        call, result, error = ran.call, ran.result, ran.error
        if type(call) is Send:  # never answered: what its handler raised is logged
            if error is not None:
                send_failed(call, error, identity)
            else:  # what it returned (an awaitable, say), as handle_async's SEND would
                finish_at_once(self._sent(call, result, identity))
            return None
        if error is None and type(result) is CoroutineType:
            try:
                result = finish_at_once(result)
            except HandlerSuspended:
                raise
            except Exception as exc:
                error = exc
        if isinstance(error, HandlerSuspended):
            raise error
        if needed_a_loop(error):
            raise _without_loop(call.action, error) from error
        if error is not None:
            refusal = as_ocpp_error(call, error, identity)
            answered = self.__dict__.get("_answered_log")
            if answered is None:  # one per handler: handle() has no connection to keep it
                answered = self.__dict__.setdefault("_answered_log", LogLimiter(log))
            log_error_answered(
                answered, self.version, call.action, call.message_id, refusal, identity
            )
            reply = error_frame(call.message_id, refusal, self.version)
        else:
            reply = result_frame(call.message_id, call.action, result, self.version, identity)
        if debug_enabled():
            log_frame(">", identity, reply)
        return reply

    async def handle_async(self, frame: bytes | str, identity: str = "") -> bytes | None:
        """:meth:`handle` for handlers that await real work.

        Every frame but a handled valid CALL takes this path in :meth:`handle`
        too (run there to its end at once): one place applies the protocol's
        error rules and runs the handlers of what it lets through.
        """
        protocol = self.protocol(identity)
        for event in protocol.receive(frame):
            if type(event) is CallReceived:
                await self._answer(protocol, event.call)
            elif type(event) is SendReceived:
                await self._take_send(event.send, identity)
        out = protocol.data_to_send()
        return out[0] if out else None

    async def _answer(self, protocol: Protocol, call: Call) -> None:
        """Run the handler of ``call`` (sync or async) and queue its reply on ``protocol``."""
        try:
            result = self._start(call, protocol.identity, None)
            if is_awaitable(result):
                result = await result
        except Exception as exc:
            if needed_a_loop(exc):
                raise _without_loop(call.action, exc) from exc
            error = as_ocpp_error(call, exc, protocol.identity)
            protocol.respond_error(call.message_id, error, call.action)
            return
        protocol.respond(call.message_id, call.action, result)

    async def _take_send(self, send: Send, identity: str) -> None:
        """Run the handler of a SEND frame (2.1): never answered, so errors are only logged."""
        try:
            result = self._start(send, identity, None)
        except Exception as exc:
            send_failed(send, exc, identity)
            return
        await self._sent(send, result, identity)

    async def _sent(self, send: Send, result: object, identity: str) -> None:
        """What the handler of a SEND returned (here, or on the compiled path, in
        :meth:`handle`): awaited if it is awaitable; what that raises is only logged."""
        try:
            if is_awaitable(result):
                await result
        except Exception as exc:
            send_failed(send, exc, identity)


def _without_loop(action: str, error: BaseException | None) -> HandlerSuspended:
    """What :meth:`OcppHandler.handle` raises for a handler that needed an event loop."""
    return HandlerSuspended(
        f"the handler of {action} needs an event loop ({error}), which handle() does not run: "
        "use await handle_async(frame)"
    )


def _answers_later(action: str) -> HandlerSuspended:
    """What :meth:`OcppHandler.handle` raises for a handler marked :func:`answers_later`
    (a cluster gateway's durable action: its answer waits for the stream's ack)."""
    return HandlerSuspended(
        f"the handler of {action} answers later (a cluster gateway's durable action waits for "
        "the stream's ack), which handle() cannot wait for: use await handle_async(frame)"
    )


class Charger(OcppHandler):
    """The station side: handles what the CSMS sends (``change_availability``, ``reset``...).

    ``connect()`` and ``StationClient`` also tell it when the connection to the CSMS opens
    and when it is gone: override :meth:`on_connect` and :meth:`on_disconnect` (each plain
    or ``async def``), e.g. to send StatusNotification again after an outage.
    """

    side = Sender.STATION

    def on_connect(self, connection: Any) -> Awaitable[None] | None:
        """Connected to the CSMS, the first time or again after a reconnect (``connection``:
        the :class:`~ocpp_fast.aio.AsyncConnection`, with ``version`` and ``identity``); with
        the client's own boot (``connect(..., boot=)``), once the CSMS accepted it.

        An ``async def`` override runs as a task of its own while the CSMS's frames are
        read, so it may ``await connection.call(...)`` (boot, then report each connector's
        status). Whatever it raises is logged; the connection stays.
        """
        return None

    def on_disconnect(self, connection: Any, reason: str) -> Awaitable[None] | None:
        """The connection to the CSMS is gone; ``reason`` says how (``"closed by the
        station (1000)"`` after ``close()``, ``"closed by the CSMS (1001)"``, ``"connection
        lost"`` without a close frame). Runs once :meth:`on_connect` has finished; the
        client reconnects after it, unless it was closed. Whatever it raises is logged."""
        return None


class ChargeSystem(OcppHandler):
    """The CSMS side: handles what stations send (``boot_notification``, ``heartbeat``...).

    ``serve()`` also tells it when it starts and stops serving and when a station connects
    and leaves: override :meth:`on_startup`, :meth:`on_shutdown`, :meth:`on_connect` and
    :meth:`on_disconnect` (each plain or ``async def``).
    """

    side = Sender.CSMS

    def on_startup(self, server: Any) -> Awaitable[None] | None:
        """The server is listening (``server``: the running ``CsmsServer``): start what lives
        beside it in its event loop, such as an admin HTTP API calling ``server.call``, and
        what the handlers need (a database pool): no station is admitted before every
        ``on_startup`` returned (one connecting meanwhile waits in its handshake, within
        ``Limits.handshake_timeout``). A raise stops the start: the stations waiting are
        refused, ``serve()`` closes the server and raises it.

        The hooks' parameters are ``Any`` here: dispatch sits below the asyncio layer and the
        transport, so it cannot name ``CsmsServer`` or ``AsyncConnection``, and a
        ``typing.Protocol`` of its own would be wider than ``AsyncConnection``, making every
        override typed ``connection: AsyncConnection`` an incompatible one. Each version's
        ``ChargeSystem`` (and ``Charger``) declares them ``CsmsServer`` and ``AsyncConnection``
        to type checkers (``docs/reference/typing.md``)."""
        return None

    def on_shutdown(self, server: Any) -> Awaitable[None] | None:
        """The server is closing (no new stations; those connected still are): stop what
        :meth:`on_startup` started. A raise is logged."""
        return None

    def on_connect(self, connection: Any) -> Awaitable[None] | None:
        """A station connected (``connection``: its :class:`~ocpp_fast.aio.AsyncConnection`,
        with ``identity``, ``version``, ``remote_address``, ``connected_since``).

        An ``async def`` override runs as a task of its own while the station's frames
        are read, so it may ``await connection.call(...)`` (send configuration at
        connect). Whatever it raises is logged with the identity; the station stays.
        """
        return None

    def on_disconnect(self, connection: Any, reason: str) -> Awaitable[None] | None:
        """The station's connection is gone; ``reason`` says how (``"closed by the station
        (1000)"``, ``"connection lost"``, ``"replaced by a newer connection"``, ``"the
        CSMS is shutting down"``...). Runs once its ``on_connect`` has finished; by then
        ``server.connections`` no longer lists this connection (a newer one of the same
        station may already be there). Whatever it raises is logged."""
        return None


# --- building the table ---------------------------------------------------------------------


_BASE_NAMES = frozenset(dir(OcppHandler)) | frozenset(dir(Charger)) | frozenset(dir(ChargeSystem))


install_compiled(OcppHandler, "handle")  # _dispatch_c.handle: the steps of handle, in C


def _build_routes(cls: type[OcppHandler]) -> dict[str, Route]:
    """The action -> method table of ``cls``, after checking every method name."""
    actions = cls.version.actions
    by_method = {a.method: a for a in actions.values()}
    receivable = cls.receivable_actions()
    routes: dict[str, Route] = {}
    for name in dir(cls):
        if name.startswith("_") or name in _BASE_NAMES:
            continue
        member = getattr(cls, name)
        if not callable(member):
            continue
        action = by_method.get(name)
        if action is None and name in actions:
            raise TypeError(
                f"{cls.__name__}.{name} is named as the action is on the wire: a handler is "
                f"named in snake_case, {actions[name].method}"
            )
        if action is None:
            near = difflib.get_close_matches(name, list(by_method), n=1, cutoff=_TYPO_CUTOFF)
            if near and not _named_after(name, near[0]):
                raise TypeError(_not_this_versions(cls, name, near[0]))
            if not near and _shaped_as_handler(member):
                elsewhere = _elsewhere(cls, name)
                if elsewhere:
                    raise TypeError(_of_other_versions(cls, name, elsewhere))
            continue  # a helper method of the user's own
        if action.name not in receivable:
            raise TypeError(
                f"{cls.__name__}.{name}: {action.name} is sent by the "
                f"{action.sender.value}, never received by the {cls.side.value}"
            )
        wants_context = _wants_context(member)
        calls, is_async = name, inspect.iscoroutinefunction(member)
        if never_suspends(member):
            calls, is_async = f"_ocpp_at_once_{name}", False
            setattr(cls, calls, awaitless_twin(member, wants_context, name))
        later = getattr(member, _ANSWERS_LATER, False) is True
        if (
            action.name == "BootNotification"
            and cls.side is Sender.CSMS
            and not getattr(member, ANSWERED_ELSEWHERE, False)
        ):
            logged = f"_ocpp_logged_{name}"  # the line of each boot answered, in the log
            setattr(cls, logged, logged_boot(calls, wants_context, is_async))
            calls, wants_context = logged, True
        routes[action.name] = Route(action.name, name, wants_context, is_async, calls, later)
    return routes


def _not_this_versions(cls: type[OcppHandler], name: str, near: str) -> str:
    """Why ``name``, close to this version's handler name ``near``, is refused: a misspelling,
    or the handler of an action another version has (``request_start_transaction``, 2.x's, on
    a 1.6 class), which a station or CSMS ported between versions carries over. That one is
    said so, with the versions it belongs to: "misspelt" would send its author looking for a
    typo where there is none.

    The other versions are loaded here, on the error path only: a class whose helper methods
    are far from every handler name never pays for importing them."""
    elsewhere = _elsewhere(cls, name, received=False)
    if not elsewhere:
        return f"{cls.__name__}.{name} looks like a misspelt handler: did you mean {near}?"
    closest = f"the {cls.version.label} handler name closest to it: {near}"
    return f"{_of_other_versions(cls, name, elsewhere)} ({closest})"


def _elsewhere(
    cls: type[OcppHandler], name: str, *, received: bool = True
) -> list[tuple[str, str]]:
    """``(version, action)`` of each other version whose handler of an action is named
    ``name`` (``received``: of an action ``cls``'s side receives there, what a handler of it
    on ``cls`` would be for). Loaded on the error path only (see :func:`_not_this_versions`)."""
    own = cls.version.label
    found: list[tuple[str, str]] = []
    for label in LABELS:
        if label == own:
            continue
        version = by_label(label)
        receivable = version.side_tables(cls.side)[1] if received else None
        found.extend(
            (label, action.name)
            for action in version.actions.values()
            if action.method == name and (receivable is None or action.name in receivable)
        )
    return found


def _of_other_versions(cls: type[OcppHandler], name: str, elsewhere: list[tuple[str, str]]) -> str:
    """That ``name`` handles an action of other versions (``elsewhere``, from
    :func:`_elsewhere`), not of ``cls``'s."""
    labels = " and ".join(label for label, _ in elsewhere)
    own = cls.version.label
    return (
        f"{cls.__name__}.{name} is the handler of {elsewhere[0][1]}, an action of OCPP "
        f"{labels}, not of OCPP {own}, the version of {cls.__name__}"
    )


def _shaped_as_handler(member: Callable[..., Any]) -> bool:
    """Whether ``member`` takes what a handler takes, ``(request)`` or ``(request,
    context)``: a name that only another version's handler has is refused when it is (a
    ``start_transaction`` handler kept by a CSMS ported from 1.6 to 2.0.1 would never run,
    without a word), and left alone as a helper of the user's own when it is not (a 1.6
    CSMS's ``get_variables(self)`` of its own)."""
    try:
        _wants_context(member)
    except (TypeError, ValueError):
        return False
    return True


def _named_after(name: str, handler: str) -> bool:
    """Whether ``name`` holds the handler name ``handler`` whole, between underscores
    (``default_boot_notification``, ``log_boot_notification``): a helper named after the
    action, not a misspelling of it, however close the two are.

    Only the closest handler name counts, so ``remot_start_transaction`` (closest:
    ``remote_start_transaction``) is still a misspelling, although it holds
    ``start_transaction``."""
    return name != handler and f"_{handler}_" in f"_{name}_"


def _wants_context(method: Callable[..., Any]) -> bool:
    """Whether a handler takes ``(request, context)`` rather than ``(request)``.

    Parameters with defaults do not count: ``def heartbeat(self, request, retries=3)``
    takes no context.
    """
    params = [
        p
        for p in inspect.signature(method).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    count = len(params) - 1  # self
    if count not in (1, 2):
        raise TypeError(f"handler {method.__qualname__} must take (request) or (request, context)")
    return count == 2


# --- running a handler to an outcome ----------------------------------------------------------


_AWAITABLE_TYPES_KEPT = 256
_awaitable_types: dict[type[Any], bool] = {}


def is_awaitable(value: object) -> TypeGuard[Awaitable[Any]]:
    """``inspect.isawaitable``, answered from the value's type after the first time (and, as
    it, a ``TypeGuard``: a checker reads ``value`` as an awaitable where it is true).

    Asked of every handler's result; ``inspect.isawaitable`` of a response Struct
    goes through the ``Awaitable`` ABC's ``isinstance`` (about 0.3 µs here, a tenth
    of a live connection's whole cost of a Heartbeat); a dict lookup is 0.06.
    Whether an object is awaitable depends on its type only, except for a
    generator (a ``types.coroutine`` one is, by its code's flags): asked each time.
    """
    kind = type(value)
    known = _awaitable_types.get(kind)
    if known is None:
        known = inspect.isawaitable(value)
        if kind is not GeneratorType and len(_awaitable_types) < _AWAITABLE_TYPES_KEPT:
            _awaitable_types[kind] = known
    return known


def as_ocpp_error(call: Call, exc: Exception, identity: str = "") -> errors.OcppError:
    """The error to answer with: the handler's OcppError, else InternalError (logged with
    the station's ``identity``)."""
    if isinstance(exc, errors.OcppError):
        return exc
    _handler_failed("", call.action, call.message_id, identity, exc)
    return HandlerFailed("the handler failed")


def send_failed(send: Send, exc: Exception, identity: str = "") -> None:
    """Log a SEND's handler failing (2.1): a SEND is never answered, so only the log knows."""
    _handler_failed("SEND ", send.action, send.message_id, identity, exc)


handler_failures: LogLimiter = LogLimiter(log)
"""The ERROR lines (with their tracebacks) of handlers that raised: at most ``LOG_BURST`` per
action and exception class per ``LOG_INTERVAL`` seconds in the process, then one line saying
how many more there were. A station can make a handler raise on every CALL it sends (so can
a database down under thousands of stations): a traceback each was log volume without
bound. Counted, not per connection: a thousand stations failing alike are one failure."""


def _handler_failed(kind: str, action: str, message_id: str, identity: str, exc: Exception) -> None:
    if not handler_failures.admits(
        logging.ERROR, f"'handler of {kind}{action} raised {type(exc).__name__}'"
    ):
        return
    ConnectionLog(log, identity).error(
        "handler of %s%s (%s) raised",
        kind,
        action,
        message_id,
        exc_info=exc,
        extra={"action": action, "message_id": message_id},
    )
