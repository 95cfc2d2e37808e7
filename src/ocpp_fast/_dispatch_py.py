"""The pure-Python twin of ``_dispatch_c``: the compiled dispatch path, step by step.

:mod:`ocpp_fast._fastpath` says what the path does and when it steps aside; this
module and ``_dispatch_c.pyx`` do the same steps in the same order, and the tests
feed both the same frames and compare every reply byte for byte. The envelope is
read by the pure codec's own pattern (``_codec_py._HEAD``), so the two twins
recognise exactly the frames their codecs do.
"""

from __future__ import annotations

from array import array
from time import perf_counter
from typing import Any, Literal

import msgspec

from ocpp_fast._codec_py import _HEAD, _NOT_CONCLUDED, _typed
from ocpp_fast._fastpath import FastRoutes, HandlerRan
from ocpp_fast._frame_log import debug_enabled, log_frame
from ocpp_fast._metric_cells import CALLS_IN, RESULTS_OUT, observe
from ocpp_fast._response_plan import surely_valid
from ocpp_fast.frames import Call
from ocpp_fast.protocol import CallReceived

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
    ) -> bytes | HandlerRan | CallReceived | Literal[False] | None:
        """The CALLRESULT of ``data``; or the handler's outcome; or an async handler's CALL,
        decoded; or ``None``: not done."""
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
        if head is None or buf[-1:] != b"]" or head.group(1) != b"2":
            return None
        action = head.group(3)
        if action is None:
            return None
        name = action.decode("ascii")
        route = self._routes[name]
        if route is None:
            return None
        method, wants_context, decoder, response_type, check, empty_is_valid, plan, is_async = route
        if is_async and self._protocol is None:
            return None  # handle() runs an async handler its own way, as it always did
        raw_id = head.group(2)
        message_id = raw_id.decode("ascii")
        handling = self._handling
        if handling and message_id in handling:
            return None
        request = _typed(decoder, buf[head.end() : -1])
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
            return CallReceived(self._in_hand(message_id, name, request))
        frames = self._frames
        if frames is not None:  # kept while the handler runs, for connection.frame_of
            frames[message_id] = data
        if cell is not None:
            started = _clock()
        try:
            handle = getattr(self._handler, method)
            if wants_context:
                result = handle(request, self._context_type(identity, message_id, self._peer))
            else:
                result = handle(request)
        except Exception as exc:
            return self._ran(message_id, name, request, None, exc, started)
        if type(result) is not response_type:
            return self._ran(message_id, name, request, result, None, started)
        try:
            body = _encode(result)
        except _EncodeFailure:
            return self._ran(message_id, name, request, result, None, started)
        if not (empty_is_valid and body == b"{}") and not (
            plan is not None and surely_valid(result, plan)
        ):
            try:
                check(body)
            except msgspec.ValidationError:
                return self._ran(message_id, name, request, result, None, started)
        reply = b'[3,"' + raw_id + b'",' + body + b"]"
        if frames is not None:  # answered: let go (the general code lets go of the others)
            frames.pop(message_id, None)
        if debug:
            log_frame(">", identity, reply)
        if cell is not None:
            cell[RESULTS_OUT] += 1
            observe(cell, _clock() - started)
        return reply

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

    def _in_hand(self, message_id: str, action: str, request: Any) -> Call:
        """The CALL, left to the general code: its id is in hand until it is answered."""
        if self._handling is not None:
            self._handling.add(message_id)
        return Call(message_id, action, request)
