"""Routing a frame: a CALL to its handler, a response to the ``call()`` waiting on its id,
anything else to the codec's verdict and the spec's answer.

The routing side of the drop-in ChargePoint (:class:`Routing`): ``route_message``, which
``start()`` (:mod:`._charge_point`) calls per frame and a backend may override or call itself.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable
from typing import Any

import ocpp.exceptions
from ocpp.messages import Call, CallError, CallResult

from ocpp_fast import _reference, codec, errors
from ocpp_fast._protocol_version import ProtocolVersion
from ocpp_fast._reference import MESSAGE_ID_MAX_LENGTH, frame_head, integers_as_read
from ocpp_fast.compat._handling import _HANDLE_CALL, Handling
from ocpp_fast.compat._naming import to_snake
from ocpp_fast.compat._ocpp_exceptions import ocpp_validation_exception
from ocpp_fast.compat._responses import Responses as _Responses
from ocpp_fast.compat._state import _decode, _usable_id
from ocpp_fast.frames import CALLERROR, CALLRESULTERROR, CallResultError, Send

__all__ = ["Routing"]


def _received(kind: type[Any], unique_id: Any, action: Any, payload: Any, raw: str | bytes) -> Any:
    """A received CALL or CALLRESULT as ``ocpp``'s own ``Call`` or ``CallResult`` (``kind``;
    its exact type: ``ocpp``'s ``validate_payload`` refuses any other, subclasses included,
    and backends call it on what they are handed), with its frame text so our validation
    decodes the original bytes. Its attributes are set as ``__init__`` sets them, without
    calling it: its one other step turns a dataclass payload into a dict, which a decoded
    frame never holds, and skipping it makes the object a third as costly (it is built per
    message). A CALLRESULT's ``action`` is ``None``, as ``ocpp`` leaves it."""
    msg = _new_message(kind)
    msg.unique_id = unique_id
    msg.action = action
    msg.payload = payload
    msg.raw = raw
    return msg


_new_message = object.__new__


def _is_error_body(frame: list[Any]) -> bool:
    """``[4, id, code, description, details]``; details may be ``null`` or absent."""
    size = len(frame)
    return (
        (size == 5 or size == 4)
        and type(frame[2]) is str
        and type(frame[3]) is str
        and (size == 4 or frame[4] is None or type(frame[4]) is dict)
    )


class Routing(Handling):
    """The routing side: ``route_message`` and the frames it does not hand to a handler."""

    async def route_message(self, raw_msg: str | bytes) -> None:
        """Route one frame: a CALL to its handler (answered), a response to its ``call()``."""
        try:
            frame = _decode(raw_msg)
        except (ValueError, RecursionError):
            frame = None
        if type(frame) is list and len(frame) >= 3:
            kind, unique_id = frame[0], frame[1]
            # _usable_id, inlined: this runs on every frame (the bench's f counts it)
            id_kind = type(unique_id)
            usable = (id_kind is str and len(unique_id) <= MESSAGE_ID_MAX_LENGTH) or id_kind is int
            if not (usable or self._fast_ours(frame)):
                await self._fast_route_other(raw_msg)
                return
            if kind == 2 and len(frame) == 4 and type(frame[2]) is str and usable:
                await self._fast_route_call(_received(Call, unique_id, frame[2], frame[3], raw_msg))
                return
            if kind == 3 and len(frame) == 3:
                self._response_queue.put_nowait(
                    _received(CallResult, unique_id, None, frame[2], raw_msg)
                )
                return
            if kind == 4 and (_is_error_body(frame) or self._fast_awaited_error(frame)):
                self._response_queue.put_nowait(
                    CallError(unique_id, frame[2], frame[3], self._fast_details_of(frame))
                )
                return
        await self._fast_route_other(raw_msg)

    def _fast_ours(self, frame: list[Any]) -> bool:
        """A response whose id is over the spec's 36 characters, to a ``call()`` made with
        that id (``unique_id=``, as ``ocpp`` allows): our own id coming back, matched as
        ``ocpp`` matches it, where a station's own over-long id is refused."""
        unique_id = frame[1]
        return frame[0] != 2 and type(unique_id) is str and unique_id in self._fast_waiting

    def _fast_awaited_error(self, frame: list[Any]) -> bool:
        """A malformed CALLERROR of 4 or 5 elements (a description or code that is no
        string, ErrorDetails that are no object) to a ``call()`` waiting on its id: handed
        to that call as ``ocpp`` hands it (``suppress`` returns None, else ``ocpp``'s
        exception of the code holding what was sent), logged. Never answered: nothing is
        answered to an error frame, and the call does not wait out its timeout. With a
        ``_response_queue`` the backend set itself, one of no call is put in it too, as
        ``ocpp`` puts it (the next ``call()`` drops it, a backend reading the queue sees it)."""
        if (len(frame) != 5 and len(frame) != 4) or not (
            self._fast_awaits(frame[1]) or type(self._response_queue) is not _Responses
        ):
            return False
        self.logger.warning("%s: malformed error frame %.200r, handed to its call", self.id, frame)
        return True

    async def _fast_route_call(self, msg: Call) -> None:
        if self._fast_turn is not None or self._fast_turns:
            await self._fast_take_turn()
        try:
            handle: Any = self._handle_call
            try:
                plain = handle.__func__ is _HANDLE_CALL
            except AttributeError:  # a plain function patched on the instance
                plain = False
            if plain:
                # not overridden (nor patched on the instance): nobody reads what it
                # returns, and nobody changed the message
                await self._fast_handle_call(msg, True)
            else:
                await handle(msg)
        except ocpp.exceptions.OCPPError as error:
            self.logger.warning(
                "%s: answering %s %s with %s: %s",
                self.id,
                msg.action[:64],
                msg.unique_id,
                error.code,
                error.description,
            )
            await self._send(self._fast_error_text(msg.unique_id, error))

    async def _fast_route_other(self, raw_msg: str | bytes) -> None:
        """Everything but a well-formed CALL, CALLRESULT or CALLERROR: the codec's verdict.

        With no ``_ocpp_version`` set (a generic class serving unvalidated routes), no version
        says how to read or answer it: logged and dropped, as ``ocpp``'s ``unpack`` drops what
        it cannot parse without reading the version."""
        version = self._fast_version_if_set
        if version is None:
            self.logger.warning(
                "%s: malformed frame %.200r, not answered: no _ocpp_version set", self.id, raw_msg
            )
            return
        read = _reference.integral_floats_read
        try:
            frame = codec.decode_frame(raw_msg, version)
        except errors.OcppError as error:
            self.logger.warning("%s: malformed frame %.200r: %s", self.id, raw_msg, error)
            kind: int | None = CALLERROR
            unique_id = error.message_id or errors.UNREADABLE_MESSAGE_ID
            if error.message_type == 3:  # never answered with a CALLERROR
                if unique_id == errors.UNREADABLE_MESSAGE_ID:  # to the spec; ours, maybe
                    unique_id = self._fast_result_id(raw_msg)
                kind = self._fast_fail_waiting(unique_id, error, version, raw_msg)
            elif error.message_type == 6 or (
                error.message_type in (CALLERROR, CALLRESULTERROR)
                and not isinstance(error, errors.MessageTypeNotSupportedError)
            ):
                kind = None  # a SEND is never answered, nor is an error frame
            elif error.message_type is None:  # no JSON to the spec: is it to ocpp's reading?
                kind, unique_id = self._fast_read_leniently(raw_msg, error, version)
            if kind is not None:
                await self._send(self._fast_error_text(unique_id, error, kind))
            return
        if frame is None:  # a message type this version ignores
            self.logger.debug("%s: ignored frame %.200r", self.id, raw_msg)
            return
        if isinstance(frame, Send):  # 2.1: handled, never answered
            integers = _reference.integral_floats_read != read  # 1.0 for an integer read
            await self._fast_route_send(frame.message_id, frame.action, raw_msg, integers)
        elif isinstance(frame, CallResultError):
            if frame.details_missing:
                self._fast_details_of([])
            self.logger.warning("%s: the station rejected our result: %s", self.id, frame)

    def _fast_read_leniently(
        self, raw_msg: str | bytes, error: errors.OcppError, version: ProtocolVersion
    ) -> tuple[int | None, Any]:
        """How to answer a frame that is no JSON to the spec, read as ``ocpp`` reads frames
        (Python's ``json``): ``(message type of the answer or None for no answer, its id)``.

        What ``ocpp``'s encoder writes for a float NaN or infinity (``NaN``, ``Infinity``)
        and a lone surrogate escape (``\\ud800``) are no JSON, yet an ``ocpp`` peer reads
        them. The frame is still refused, but its own id is used where it can be read, so
        the peer's ``call()`` gets its error at once instead of waiting out its timeout
        for an answer to "-1" (with ``ocpp`` its call lock held all along); an error frame
        is never answered (it was, to "-1"), and one to our ``call()`` is handed to that
        call as ``ocpp`` hands it (None with ``suppress``, else the exception of its
        code, holding the details as read), where the call waited out its timeout; a CALLRESULT
        to our ``call()`` fails that call at once (it waited for its timeout) with
        ``FormatViolationError`` (:meth:`_fast_fail_waiting`): as an invalid CALLRESULT
        does, answered with CALLRESULTERROR in 2.1 only; one of no call is discarded, never
        answered (as ``ocpp`` discards it; the spec's rule for a CALLRESULT of an unknown id).
        Only read on this error path.
        """
        unreadable = (CALLERROR, errors.UNREADABLE_MESSAGE_ID)
        try:
            frame = json.loads(raw_msg)
        except (ValueError, RecursionError):  # the codec read a deep frame's head if any
            return unreadable
        if type(frame) is not list or len(frame) < 3 or type(frame[0]) is not int:
            return unreadable
        kind, unique_id = frame[0], frame[1]
        if kind == 2 and len(frame) == 4 and _usable_id(unique_id):
            return CALLERROR, unique_id
        if (
            kind == 3
            and len(frame) == 3
            and (_usable_id(unique_id) or self._fast_awaits(unique_id))
        ):
            # fails the call waiting on it; one of no call is discarded, as ocpp does
            return self._fast_fail_waiting(unique_id, error, version, raw_msg), unique_id
        if kind == CALLERROR or (kind == CALLRESULTERROR and version.answers_bad_results):
            # never answered, as no error frame is; one of 4 or 5 elements to a call waiting
            # on its id is handed to it as ocpp hands it (its details as json read them)
            if (_usable_id(unique_id) or self._fast_awaits(unique_id)) and (
                kind == CALLERROR and self._fast_awaited_error(frame)
            ):
                details = self._fast_details_of(frame)
                self._response_queue.put_nowait(CallError(unique_id, frame[2], frame[3], details))
            return None, unique_id
        return unreadable

    def _fast_result_id(self, raw_msg: str | bytes) -> Any:
        """The id of a CALLRESULT whose id the codec cannot take (no string, over 36
        characters), read from its head (``[3,<id>,``) as ``ocpp`` reads ids, for a
        ``call()`` made with such an id (``unique_id=``, as ``ocpp`` allows): one of 4
        elements or nested too deeply to read fails that call at once, as one with a string
        id does. ``None`` when the head is unreadable."""
        head = frame_head(raw_msg, json.loads)
        return head[1] if head is not None and head[0] == 3 else None

    def _fast_awaits(self, unique_id: Any) -> bool:
        """A ``call()`` waits on ``unique_id`` (of any JSON type a peer sends)."""
        if type(unique_id) is not str and type(unique_id) is not int:
            return False  # a list or object id is no key, and no call of ours has one
        waiter = self._fast_waiting.get(unique_id)
        return waiter is not None and not waiter.done()

    def _fast_fail_waiting(
        self, unique_id: Any, error: errors.OcppError, version: ProtocolVersion, raw_msg: Any
    ) -> int | None:
        """A CALLRESULT that is no frame to the spec (2 or 4 elements, ``NaN`` in it, nested
        too deeply to read): the ``call()`` waiting on its id fails at once, as an invalid
        CALLRESULT fails it
        (``ocpp``'s class of the fault, :func:`ocpp_validation_exception`), where it waited
        out its timeout. Returns how it is answered: CALLRESULTERROR in 2.1 if a call
        waited, else nothing (a CALLRESULT is never answered with a CALLERROR; one of an
        unknown id is discarded, as the native API discards it). With a ``_response_queue``
        the backend set itself, the call reads that: see :meth:`_fast_queue_as_read`."""
        queue = self._response_queue
        if type(queue) is not _Responses:
            self._fast_queue_as_read(queue, raw_msg)
            return None  # call() answers in 2.1 as it refuses it
        if not self._fast_awaits(unique_id):
            return None
        self._fast_waiting[unique_id].set_exception(ocpp_validation_exception(error, version))
        return CALLRESULTERROR if version.answers_bad_results else None

    def _fast_queue_as_read(self, queue: Any, raw_msg: Any) -> None:
        """A CALLRESULT the codec refuses, put in the backend's own ``_response_queue`` as
        ``ocpp`` puts it (read by Python's ``json``; 4 elements taken as 3, as its
        ``CallResult`` takes them): ``call()`` refuses it at once, as without that queue, and
        returns it unvalidated (``skip_schema_validation``) as ``ocpp`` does; a backend
        reading the queue gets it as from ``ocpp``. One ``json`` cannot read (nested too
        deeply) or of 2 elements is discarded, as ``ocpp`` discards it (its call waits),
        and so is one whose id is no string or is over-long (of no call)."""
        try:
            frame = json.loads(raw_msg)
        except (ValueError, RecursionError):
            return
        if (
            type(frame) is list
            and (len(frame) == 3 or len(frame) == 4)
            and type(frame[0]) is int
            and frame[0] == 3
            and (_usable_id(frame[1]) or self._fast_awaits(frame[1]))
        ):
            queue.put_nowait(_received(CallResult, frame[1], None, frame[2], raw_msg))

    def _fast_details_of(self, frame: list[Any]) -> Any:
        """An error frame's ErrorDetails; ``null`` or absent is ``{}``, logged once (INFO).

        ``ocpp``'s own ``CallError`` writes ``null`` when given no details, and some
        firmware sends it so: the spec asks the sender for ``{}``, and nothing is ever
        answered to an error frame, so the waiting ``call()`` gets its error.
        """
        details = frame[4] if len(frame) == 5 else None
        if details is not None:
            return details
        if not self._fast_details_missing_logged:
            self._fast_details_missing_logged = True
            self.logger.info(
                "%s: accepted an error frame without ErrorDetails (null or absent, read "
                "as {}): a deviation, logged once per connection",
                self.id,
            )
        return {}

    async def _fast_route_send(
        self, unique_id: str, action: str, raw_msg: str | bytes, integers: bool
    ) -> None:
        """Hand a 2.1 SEND to its handler, never answered; ``integers``: the codec read an
        integral float as an integer in it, made an int in what the handler is handed."""
        handlers = self.route_map.get(action) or {}
        handler = handlers.get("_on_action")
        if handler is None:
            self.logger.warning("%s: no handler for the SEND %s %s", self.id, action, unique_id)
            return
        payload = _decode(raw_msg)[3]
        if integers:
            version = self._fast_version
            payload = integers_as_read(payload, version.request_types[action], version)
        try:
            result = handler(**to_snake(payload))
            if inspect.isawaitable(result):
                await self._fast_await_send(result, action, unique_id)
        except Exception:
            self.logger.exception("%s: handling the SEND %s %s failed", self.id, action, unique_id)

    async def _fast_await_send(self, result: Awaitable[Any], action: str, unique_id: str) -> None:
        """Await a SEND handler's coroutine in a task of its own, so cancelling the routing
        (``start()`` cancelled: the server closing the connection) ends it whatever the
        handler does. Awaited inline, a handler that caught the ``CancelledError`` and
        returned made ``route_message`` return and ``start()`` read on, its cancel lost; one
        that awaited on kept ``start()`` waiting forever. Here the cancel reaches the routing
        itself: the handler is cancelled and given ``handler_grace`` seconds to end
        (:meth:`_fast_end_handlers`), then the ``CancelledError`` leaves. Its own exception
        (a ``CancelledError`` it raised too) leaves as when awaited inline."""
        task = asyncio.ensure_future(result)
        if not task.done():
            try:
                await asyncio.wait((task,))
            except asyncio.CancelledError:
                await self._fast_end_handlers((task,), lambda _: [(action, unique_id)])
                raise
        task.result()


_ROUTE_MESSAGE = Routing.route_message
"""The drop-in's own ``route_message``: an override may make a CALL of any frame."""
