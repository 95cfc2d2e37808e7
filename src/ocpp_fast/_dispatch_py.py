"""The pure-Python twin of ``_dispatch_c``: the compiled dispatch path, step by step.

:mod:`ocpp_fast._fastpath` says what the path does and when it steps aside; this
module and ``_dispatch_c.pyx`` do the same steps in the same order, and the tests
feed both the same frames and compare every reply byte for byte. The envelope is
read by the pure codec's own pattern (``_codec_py._HEAD``), so the two twins
recognise exactly the frames their codecs do.
"""

from __future__ import annotations

import asyncio
import re
from array import array
from time import perf_counter
from typing import Any, Literal

import msgspec

from ocpp_fast._codec_py import _HEAD, _NOT_CONCLUDED, _typed
from ocpp_fast._fastpath import FastRoute, FastRoutes, Gate, HandlerRan, drop_outcome
from ocpp_fast._frame_log import debug_enabled, log_frame
from ocpp_fast._metric_cells import CALLS_IN, RESULTS_OUT, SENDS_IN, observe
from ocpp_fast._response_plan import surely_valid
from ocpp_fast.frames import Call, Send
from ocpp_fast.protocol import CallReceived, SendReceived

__all__ = ["IMPLEMENTATION", "FastDispatch", "use_clock"]

IMPLEMENTATION = "python"

_encode = msgspec.json.Encoder().encode
_EncodeFailure = (TypeError, ValueError, OverflowError)
_clock = perf_counter


def use_clock(clock: Any = None) -> None:
    """Read handler times from ``clock`` (``None``: ``time.perf_counter`` again): the tests
    make them the same in both twins."""
    global _clock
    _clock = perf_counter if clock is None else clock


class FastDispatch:
    """One handler's compiled path (``protocol``: a live connection's, or ``None``)."""

    __slots__ = (
        "_context_type",
        "_frames",
        "_handler",
        "_handling",
        "_peer",
        "_protocol",
        "_routes",
    )

    def __init__(
        self,
        handler: Any,
        routes: FastRoutes,
        context_type: type[Any],
        peer: Any = None,
        protocol: Any = None,
        frames: dict[str, bytes | str] | None = None,
    ) -> None:
        self._handler = handler
        self._routes = routes
        self._context_type = context_type
        self._peer = peer
        self._protocol = protocol
        self._handling: set[str] | None = None if protocol is None else protocol._handling
        if frames is not None and type(frames) is not dict:
            raise TypeError("frames must be a dict")
        self._frames = frames

    def answer(
        self, data: bytes | str, identity: str
    ) -> bytes | HandlerRan | CallReceived | SendReceived | bool | None:
        """The CALLRESULT of ``data``; or the handler's outcome; or an async handler's CALL
        (or SEND), decoded; or ``True``: a gated CALL started, answered later, or a SEND
        taken, never answered; or ``None``: not done."""
        if type(data) is bytes:
            buf = data
        elif type(data) is str:
            try:
                buf = data.encode("utf-8")
            except UnicodeEncodeError:
                return None
        else:
            return None
        head = _HEAD.match(buf)
        if head is None or buf[-1:] != b"]":
            return None
        kind = head.group(1)
        action = head.group(3)
        if kind == b"3" or action is None:
            return None
        name = action.decode("ascii")
        route = self._routes[name]
        if route is None:
            return None
        if kind != b"2":
            return self._sent(route, head, buf, data, name, identity)
        method, wants_context, decoder, response_type, _, _, _, is_async, gate = route
        if response_type is None:
            return None  # a CALL of an action never answered: the general path refuses it
        if is_async and self._protocol is None:
            return None  # handle() runs an async handler its own way, as it always did
        raw_id = head.group(2)
        message_id = raw_id.decode("ascii")
        handling = self._handling
        if handling and message_id in handling:
            return None
        payload = buf[head.end() : -1]  # made once: a durable CALL's store takes it too
        request = _typed(decoder, payload)
        if request is _NOT_CONCLUDED:
            return False  # refused by the strict decode: for the reference path and tolerance
        debug = debug_enabled()
        if debug:
            log_frame("<", identity, data)
        metrics = None if self._protocol is None else self._protocol.metrics
        started = 0.0
        cell: array[float] | None = None
        if metrics is not None:
            cell = metrics.cell(name)
            cell[CALLS_IN] += 1
        if is_async:  # for the asyncio layer's slots and task (its handler time is taken there)
            if gate is not None and _slot_free(self._peer):
                return self._gated(
                    route, message_id, raw_id, name, request, payload, data, identity, cell
                )
            return CallReceived(self._in_hand(message_id, name, request))
        frames = self._frames
        if frames is not None:  # kept while the handler runs, for connection.frame_of
            frames[message_id] = data
        if cell is not None:
            started = _clock()
        try:
            result = self._call(method, wants_context, request, identity, message_id)
        except Exception as exc:
            return self._ran(message_id, name, request, None, exc, started)
        reply = _reply(result, route, raw_id)
        if reply is None:
            return self._ran(message_id, name, request, result, None, started)
        _answered(frames, message_id, identity, reply, debug, cell, started)
        return reply

    def _call(
        self, method: str, wants_context: bool, request: Any, identity: str, message_id: str
    ) -> Any:
        """The user's plain handler of a CALL or a SEND, called as ``invoke_handler`` calls it
        (looked up on the instance each time; a context made only for one that takes it)."""
        handle = getattr(self._handler, method)
        if wants_context:
            return handle(request, self._context_type(identity, message_id, self._peer))
        return handle(request)

    def _sent(
        self,
        route: FastRoute,
        head: re.Match[bytes],
        buf: bytes,
        data: bytes | str,
        name: str,
        identity: str,
    ) -> Literal[True] | HandlerRan | SendReceived | bool | None:
        """A SEND (2.1) taken as the general path takes it (``Protocol.receive``, then its
        handler run as ``AsyncConnection`` or ``handle_async`` runs it): decoded strictly,
        logged, counted, its plain handler run, and never answered. ``True``: the handler
        returned ``None``, nothing is left to do; else as a CALL's outcomes (``False``,
        ``None``, :class:`HandlerRan` for what it raised or returned, the decoded event of an
        async handler's)."""
        method, wants_context, decoder, response_type, _, _, _, is_async, _ = route
        if response_type is not None:
            return None  # a SEND of a CALL's action: the general path drops it, with its warning
        if is_async and self._protocol is None:
            return None  # handle() runs an async handler its own way, as it always did
        request = _typed(decoder, buf[head.end() : -1])
        if request is _NOT_CONCLUDED:
            return False  # refused by the strict decode: for the reference path and tolerance
        if debug_enabled():
            log_frame("<", identity, data)
        metrics = None if self._protocol is None else self._protocol.metrics
        cell: array[float] | None = None
        if metrics is not None:  # the series Protocol.receive counts it in, by its cell
            cell = metrics.cell(name)
            cell[SENDS_IN] += 1
        message_id = head.group(2).decode("ascii")
        if is_async:  # for the asyncio layer's slots and task, as a CALL's
            return SendReceived(Send(message_id, name, request))
        started = _clock() if cell is not None else 0.0
        try:
            result = self._call(method, wants_context, request, identity, message_id)
        except Exception as exc:  # logged by the general code, never answered
            return HandlerRan(Send(message_id, name, request), None, exc, started)
        if result is not None:  # an awaitable, say: the general code's to run
            return HandlerRan(Send(message_id, name, request), result, None, started)
        if cell is not None:
            observe(cell, _clock() - started)
        return True

    def _ran(
        self,
        message_id: str,
        action: str,
        request: Any,
        result: Any,
        error: Exception | None,
        started: float,
    ) -> HandlerRan:
        """Hand the handler's outcome to the general code."""
        return HandlerRan(self._in_hand(message_id, action, request), result, error, started)

    def _gated(
        self,
        route: FastRoute,
        message_id: str,
        raw_id: bytes,
        action: str,
        request: Any,
        payload: bytes,
        data: bytes | str,
        identity: str,
        cell: array[float] | None,
    ) -> Literal[True] | HandlerRan:
        """Start the gate of a CALL on a live connection (its slots free): ``True``, the CALL
        is the path's until :class:`Gated` answers it; or what ``start`` raised, for the
        general code to answer. In hand until then, its frame kept (when the gate keeps frames)
        as the general path does for a handler that answers later; its handler time starts
        here, as there."""
        connection = self._peer
        started = _clock() if cell is not None else 0.0
        context = self._context_type(identity, message_id, connection)
        if self._handling is not None:
            self._handling.add(message_id)
        gate = route[8]
        assert gate is not None  # _answer came here for a gated route only
        frames = self._frames
        if frames is not None and gate[5]:  # keeps_frame
            frames[message_id] = data
        try:
            ack = gate[0](action, request, payload, context)  # start
            if not hasattr(ack, "add_done_callback"):  # a future, an Ack: taken as they are
                ack = asyncio.ensure_future(ack)
        except Exception as exc:
            return self._ran(message_id, action, request, None, exc, started)
        connection._free -= 1
        slots = connection._slots
        if slots is not None:
            slots.free -= 1  # Slots.take, its free slot seen by _slot_free
        gated = Gated(self, connection, context, action, request, raw_id, ack, started, route)
        connection._pending[gated] = 1
        ack.add_done_callback(gated)
        if gate[4]:  # first
            self._run_first(gated, route, gate)
        return True

    def _run_first(self, gated: Gated, route: FastRoute, gate: Gate) -> None:
        """A handler-first gate's handler, run as its step begins: its answer built now and
        kept on ``gated`` (or what it returned that the path does not vouch for, or what it
        raised) until the step is through, when :meth:`_conclude` writes it."""
        _, _, calls, wants_context, _, _ = gate
        try:
            if wants_context:
                result = calls(self._handler, gated.request, gated.context)
            else:
                result = calls(self._handler, gated.request)
        except Exception as exc:
            gated.error = exc
            return
        reply = _reply(result, route, gated.raw_id)
        if reply is None:
            gated.result = result
        else:
            gated.reply = reply
            gated.request = None  # let go while hot: a failed store's error needs only its id

    def _conclude(self, gated: Gated, ack: asyncio.Future[Any]) -> None:
        """The gate of ``gated`` is through (or failed): the user's handler run (a
        handler-first gate's ran as it began: its outcome is taken) and its response answered
        and written, as the path answers a plain handler's; anything else (an error, a result
        the path does not vouch for) handed to the general code."""
        connection, context, action = gated.connection, gated.context, gated.action
        request, started = gated.request, gated.started
        message_id = gated.message_id
        route = gated.route  # the route it started on (read again: a look-up)
        gate = route[8]
        assert gate is not None
        _, check, calls, wants_context, first, _ = gate
        try:
            check(ack, action, context)
            if not first:
                if wants_context:
                    result = calls(self._handler, request, context)
                else:
                    result = calls(self._handler, request)
        except Exception as exc:
            if first:
                drop_outcome(gated.result)
            return _hand_over(connection, message_id, action, request, None, exc, started)
        if first:  # the handler ran as the step began: its outcome was kept
            if gated.error is not None:
                return _hand_over(
                    connection, message_id, action, request, None, gated.error, started
                )
            reply, result = gated.reply, gated.result
        else:
            reply = _reply(result, route, gated.raw_id)
        if reply is None:
            return _hand_over(connection, message_id, action, request, result, None, started)
        if self._handling is not None:
            self._handling.discard(message_id)
        metrics = self._protocol.metrics
        cell = None if metrics is None else metrics.cell(action)
        debug = debug_enabled()
        _answered(self._frames, message_id, gated.identity, reply, debug, cell, started)
        outbox = self._protocol._outbox
        try:
            if outbox:
                outbox.append(reply)
                connection._write_out()
            else:
                connection._write(reply)
        except Exception as exc:  # the transport failing under it, as in AsyncConnection
            self._protocol.log.debug("could not send a reply: %r", exc)
        return None

    def _in_hand(self, message_id: str, action: str, request: Any) -> Call:
        """The CALL, left to the general code: its id is in hand until it is answered."""
        if self._handling is not None:
            self._handling.add(message_id)
        return Call(message_id, action, request)


def _slot_free(connection: Any) -> bool:
    """Whether a gated CALL can start on the compiled path: ``connection`` is a live one that
    writes its frames (not a sending transport's: those answer through a task) with a slot
    free of its own and of the shared ones (``AsyncConnection._take_slot`` would take it)."""
    if connection is None or connection._write is None or connection._free <= 0:
        return False
    slots = connection._slots
    return slots is None or slots.free > 0


def _reply(result: Any, route: FastRoute, raw_id: bytes) -> bytes | None:
    """``[3,"<id>",<payload>]`` of a handler's ``result``; ``None`` where the general code must
    judge it (not the response type, not encodable, refused by the check)."""
    _, _, _, response_type, check, empty_is_valid, plan, _, _ = route
    if type(result) is not response_type:
        return None
    try:
        body = _encode(result)
    except _EncodeFailure:
        return None
    if not (empty_is_valid and body == b"{}") and not (
        plan is not None and surely_valid(result, plan)
    ):
        try:
            check(body)
        except msgspec.ValidationError:
            return None
    return b'[3,"' + raw_id + b'",' + body + b"]"


def _answered(
    frames: dict[str, bytes | str] | None,
    message_id: str,
    identity: str,
    reply: bytes,
    debug: bool,
    cell: array[float] | None,
    started: float,
) -> None:
    """A CALL answered on the path: its frame let go, the reply logged, its metrics kept."""
    if frames is not None:  # answered: let go (the general code lets go of the others)
        frames.pop(message_id, None)
    if debug:
        log_frame(">", identity, reply)
    if cell is not None:
        cell[RESULTS_OUT] += 1
        observe(cell, _clock() - started)


def _hand_over(
    connection: Any,
    message_id: str,
    action: str,
    request: Any,
    result: Any,
    error: Exception | None,
    started: float,
) -> None:
    """A gated CALL whose outcome is the general code's (as the path hands over a plain
    handler's: ``AsyncConnection._handler_ran``), written out."""
    connection._handler_ran(HandlerRan(Call(message_id, action, request), result, error, started))
    try:
        connection._write_out()
    except Exception as exc:  # the transport failing under it, as in AsyncConnection
        connection.protocol.log.debug("could not send a reply: %r", exc)


class Gated:
    """A gated CALL waiting for its gate: the done callback of the gate's future, and what the
    connection holds in ``_pending`` meanwhile (``stop`` cancels it, ``drain`` waits for it),
    as it holds the future a plain handler hands back (``AsyncConnection._settled``)."""

    __slots__ = (
        "ack",
        "action",
        "connection",
        "context",
        "dispatch",
        "done",
        "error",
        "identity",
        "message_id",
        "raw_id",
        "reply",
        "request",
        "result",
        "route",
        "started",
    )

    def __init__(
        self,
        dispatch: FastDispatch,
        connection: Any,
        context: Any,
        action: str,
        request: Any,
        raw_id: bytes,
        ack: asyncio.Future[Any],
        started: float,
        route: FastRoute,
    ) -> None:
        self.dispatch = dispatch
        self.connection = connection
        self.context = context
        self.route = route
        """The CALL's route as it started (its gate's check and handler run from it)."""
        self.message_id: str = context.message_id
        self.identity: str = context.identity
        """The context's, read once (the compiled twin keeps them as C fields)."""
        self.action = action
        self.request = request
        self.raw_id = raw_id
        self.ack = ack
        self.started = started
        self.done = False
        self.reply: bytes | None = None
        """A handler-first gate's answer, built as the gate began (the compiled twin's too)."""
        self.result: Any = None
        """... or what its handler returned that the path does not vouch for."""
        self.error: Exception | None = None
        """... or what its handler raised."""

    def __call__(self, ack: asyncio.Future[Any]) -> None:
        """The gate's future is done: the CALL answered, unless it was cancelled or the
        connection stopped (then nothing is, and what the future raised is retrieved)."""
        if self.done:  # cancelled meanwhile
            if not ack.cancelled():
                ack.exception()
            return
        self._release()
        connection = self.connection
        if ack.cancelled() or connection._stopped:
            if not ack.cancelled():
                ack.exception()
            self._let_go()
        else:
            self.dispatch._conclude(self, ack)
        if connection._paused:
            connection._work_backlog()

    def cancel(self) -> bool:
        """Nobody wants the answer any more (``AsyncConnection.stop``): the gate's future
        cancelled, so the user's handler never runs; the slots given back now."""
        if self.done:
            return False
        self._release()
        self.ack.cancel()
        self._let_go()
        if self.connection._paused:
            self.connection._work_backlog()
        return True

    def _release(self) -> None:
        """No longer pending: the connection's slots back, ``drain`` told when none is left."""
        self.done = True
        connection = self.connection
        pending = connection._pending
        del pending[self]
        if not pending:  # drain is told (at saturation most releases leave others pending)
            drained = connection._drained
            if drained is not None and not drained.done():
                drained.set_result(None)
        slots = connection._slots
        if slots is not None:
            if slots._waiting:
                slots.give()
            else:
                slots.free += 1  # Slots.give, none waiting
        connection._free += 1

    def _let_go(self) -> None:
        """Unanswered for good (cancelled, the connection stopped): its kept frame dropped and
        its id no longer in hand (a store's ack cancelled elsewhere kept it for good)."""
        message_id = self.message_id
        dispatch = self.dispatch
        frames = dispatch._frames
        if frames:
            frames.pop(message_id, None)
        if dispatch._handling is not None:
            dispatch._handling.discard(message_id)
