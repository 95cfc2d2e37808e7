"""Calling the station: ``call()``, and the response matched to it by id.

The calling side of the drop-in ChargePoint (:class:`Calling`): the request validated before
it leaves, the answer validated and handed back as ``ocpp``'s ``call_result`` dataclass.
"""

from __future__ import annotations

import asyncio
from typing import Any

import ocpp.exceptions
from ocpp.messages import MessageType

from ocpp_fast import _reference, errors
from ocpp_fast._awaited import within
from ocpp_fast._protocol_version import ProtocolVersion
from ocpp_fast._reference import integers_as_read
from ocpp_fast.compat._naming import (
    NonFiniteNumber,
    floats_as_decimals,
    shape_of,
    to_snake,
    to_wire,
    written,
)
from ocpp_fast.compat._ocpp_exceptions import ocpp_validation_exception
from ocpp_fast.compat._responses import Responses as _Responses
from ocpp_fast.compat._routing import Routing
from ocpp_fast.compat._state import _DECIMAL_PAYLOADS, _encode, _usable_id
from ocpp_fast.frames import CALLRESULTERROR

__all__ = ["Calling"]

_UNKNOWN_ID_LOGGED = 5
"""Unknown-id responses logged one by one before only every thousandth is."""


class Calling(Routing):
    """The calling side: ``call()`` and the responses it waits for."""

    async def call(
        self,
        payload: Any,
        suppress: bool = True,
        unique_id: Any = None,
        skip_schema_validation: bool = False,
    ) -> Any:
        """Send a CALL and return ``ocpp``'s ``call_result`` dataclass for its response.

        As in ``ocpp``: the request is validated before it leaves (``ocpp``'s
        exception of the spec code if not), one call is outstanding at a time
        (``_call_lock``), a CALLERROR returns None (``suppress=True``) or raises
        ``ocpp``'s exception of its code, and no response in time raises
        ``asyncio.TimeoutError``. The response is matched by id. A ``unique_id`` that is
        no ``str`` or ``int`` raises ``TypeError`` before anything is sent, as ``ocpp``'s
        ``json.dumps`` raises (sent, it was never matched: the answer's id is a string);
        text UTF-8 cannot encode (a lone surrogate, which ``ocpp`` writes as a ``\\ud800``
        escape) raises ``FormatViolationError``, as an invalid request does. A payload that
        is no dataclass instance (a dict) raises ``ocpp``'s ``TypeError`` first, nothing
        sent (unvalidated, it went out as an action named ``dict``); then the id is made,
        then ``_ocpp_version`` read (unset on the generic class: its AttributeError), in
        ``ocpp``'s order.
        """
        if not hasattr(type(payload), "__dataclass_fields__"):  # ocpp's asdict refuses it
            raise TypeError("asdict() should be called on dataclass instances")
        action = payload.__class__.__name__
        if unique_id is None:
            unique_id = str(self._unique_id_generator())
        elif not isinstance(unique_id, (str, int)):  # ocpp's json.dumps refuses it so
            raise TypeError(f"Object of type {type(unique_id).__name__} is not JSON serializable")
        if skip_schema_validation:  # ocpp reads no version then: a generic class may have none
            version: ProtocolVersion | None = self._fast_version_if_set
        else:
            version = self._fast_version
        request_type = None if version is None else version.request_types.get(action)
        try:
            body = written(to_wire(payload, shape_of(request_type)))
        except NonFiniteNumber as error:  # refused with or without validation: no JSON
            raise ocpp.exceptions.TypeConstraintViolationError(
                description=f"{action} request holds {error}",
                details={"cause": str(error), "path": error.path},
            ) from None
        except UnicodeEncodeError as error:  # a lone surrogate: no UTF-8, so no frame
            raise ocpp.exceptions.FormatViolationError(
                description=f"{action} request holds text UTF-8 cannot encode: {error}",
                details={"cause": str(error)},
            ) from None
        if version is not None and not skip_schema_validation:
            if request_type is None:
                raise ocpp.exceptions.NotImplementedError(
                    details={"cause": f"{action} is not an action of OCPP {version.label}"}
                )
            try:
                self._fast_check(
                    b'[2,"0",' + _encode(action) + b"," + body + b"]", action, None, version
                )
            except errors.OcppError as error:
                raise ocpp_validation_exception(error, version) from None
        text = f"[2,{_encode(unique_id).decode()},{_encode(action).decode()},{body.decode()}]"
        self._fast_check_loop()
        self._fast_expect(unique_id)
        try:
            async with self._call_lock:
                await self._send(text)
                try:
                    response = await self._get_specific_response(unique_id, self._response_timeout)
                except TimeoutError:
                    raise TimeoutError(
                        f"Waited {self._response_timeout}s for response on {text}."
                    ) from None
        finally:
            self._fast_waiting.pop(unique_id, None)
        if response.message_type_id == MessageType.CallError:
            self.logger.warning("Received a CALLError: %s'", response)
            if suppress:
                return None
            raise response.to_exception()
        payload = response.payload
        if not skip_schema_validation:
            version = self._fast_version  # read again, as ocpp validates the response
            as_framed = getattr(self._get_specific_response, "__func__", None) is _GET_RESPONSE
            read = _reference.integral_floats_read
            await self._fast_check_result(response, action, version, as_framed)
            if _reference.integral_floats_read != read:  # 1.0 for an integer: an int, as read
                payload = integers_as_read(payload, version.response_types[action], version)
            if (version.label, 3, action) in _DECIMAL_PAYLOADS:
                payload = floats_as_decimals(payload)
        result_class = getattr(self._call_result, action)
        return result_class(**to_snake(payload))

    async def _fast_check_result(
        self, response: Any, action: str, version: ProtocolVersion, as_framed: bool
    ) -> None:
        """Validate the CALLRESULT answering our ``call()``: its frame's text if
        ``as_framed`` (``_get_specific_response`` is ours, so the response is as decoded),
        else its payload as an override of ``_get_specific_response`` left it (a quirky
        station's answer repaired there is validated repaired, as ``ocpp`` validates it)."""
        raw = getattr(response, "raw", None) if as_framed else None
        if raw is None or type(response.unique_id) is not str or not _usable_id(response.unique_id):
            raw = b'[3,"0",' + _encode(response.payload) + b"]"
            result_of = "0"
        else:
            result_of = response.unique_id
        try:
            self._fast_check(raw, action, result_of, version)
        except errors.OcppError as error:
            self.logger.warning(
                "%s: invalid %s result %s: %s", self.id, action, response.unique_id, error
            )
            if version.answers_bad_results:
                await self._send(self._fast_error_text(response.unique_id, error, CALLRESULTERROR))
            raise ocpp_validation_exception(error, version) from None

    def _fast_check_loop(self) -> None:
        """Refuse a ``call()`` from another event loop than the one ``start()`` reads in: its
        answer would resolve a future of the other loop from this one, unseen, and the call
        hang until its timeout (with ``ocpp`` too). Nothing is sent."""
        run = self._fast_run
        reader = None if run is None else run.reader
        if reader is not None and reader.get_loop() is not asyncio.get_running_loop():
            raise RuntimeError(
                f"{self.id}: call() from another event loop than the one start() reads in: "
                "the answer could never reach it. Await call() in start()'s loop (from another "
                "thread: asyncio.run_coroutine_threadsafe(cp.call(...), loop))."
            )

    def _fast_expect(self, unique_id: Any) -> asyncio.Future[Any]:
        """Register the future a response with ``unique_id`` resolves (``call()`` does before
        it sends, so a malformed answer or one of an over-long id is known for its own)."""
        waiter = self._fast_waiting.get(unique_id)
        if waiter is None:
            waiter = asyncio.get_running_loop().create_future()
            self._fast_waiting[unique_id] = waiter
        return waiter

    async def _get_specific_response(self, unique_id: Any, timeout: float) -> Any:
        """The response with ``unique_id``, or ``asyncio.TimeoutError`` after ``timeout`` s;
        ``CancelledError`` when cancelled, even as the response came (``ocpp``'s
        ``asyncio.wait_for`` returns it on 3.11, and the cancelled task went on); that
        response is then left in the queue, of no call now (logged), as ``ocpp``'s ``get()``
        leaves it on 3.12."""
        queue = self._response_queue
        if type(queue) is not _Responses:
            return await self._fast_read_queue(queue, unique_id, timeout)
        waiter = self._fast_expect(unique_id)
        if not waiter.done():  # an answer that came before this read is kept in the queue
            early = queue.take(unique_id)
            if early is not None:
                waiter.set_result(early)
        self._fast_reading.add(unique_id)
        try:
            return await within(waiter, timeout, queue.put_nowait)
        finally:
            self._fast_reading.discard(unique_id)
            if self._fast_waiting.get(unique_id) is waiter and waiter.done():
                del self._fast_waiting[unique_id]

    async def _fast_read_queue(self, queue: Any, unique_id: Any, timeout: float) -> Any:
        """The response with ``unique_id`` from a ``_response_queue`` the backend set itself,
        read as ``ocpp`` reads its own: responses of another id are taken off and dropped
        (logged), ``asyncio.TimeoutError`` once ``timeout`` s passed in all.

        The backend may read that queue too, or put in it what it routed itself: the
        drop-in fills it (:meth:`route_message`) and reads it as ``ocpp`` does, so both
        see every response, each once, where responses bypassed it and the backend's
        reader waited forever. Cancelled in the turn its response came, the call raises
        ``CancelledError`` (as every wait of the drop-in) and puts the response back, for
        the next ``call()`` or reader to find, where it was lost (``ocpp`` on Python 3.11
        returns it, the cancel dropped; on 3.12 its ``get()`` leaves it in the queue)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            response = await within(queue.get(), timeout, queue.put_nowait)
            if response.unique_id == unique_id:
                return response
            self.logger.error(  # as ocpp logs it: see _fast_deliver
                "%s: ignoring a response with unknown unique id %.40r while waiting for %.40r",
                self.id,
                response.unique_id,
                unique_id,
            )
            timeout = deadline - loop.time()
            if timeout < 0:
                raise TimeoutError

    def _fast_deliver(self, response: Any) -> bool:
        """Hand a CALLRESULT or CALLERROR to the call waiting on its id; False if it is to
        be kept in the queue instead: no call waits on it (logged), or the call's reader is
        not waiting yet (ours, or an override of ``_get_specific_response`` reading the queue
        as ``ocpp``'s does)."""
        waiter = self._fast_waiting.get(response.unique_id)
        if waiter is not None and not waiter.done():
            if response.unique_id not in self._fast_reading:
                # its reader is yet to come: ours takes it from the queue, and an override
                # of _get_specific_response reading the queue finds it there, as with ocpp
                return False
            waiter.set_result(response)
            return True
        self._fast_unknown_ids += 1
        count = self._fast_unknown_ids
        if count <= _UNKNOWN_ID_LOGGED or count % 1000 == 0:
            # ERROR, on the backend's logger, naming the "unknown unique id", as ocpp logs it
            # (when its next call() takes it off): alerts on ocpp's line keep firing
            self.logger.error(
                "%s: ignoring a response with unknown unique id %.40r, no call waits for it "
                "(%d so far)",
                self.id,
                response.unique_id,
                count,
            )
        return False


_GET_RESPONSE = Calling._get_specific_response
"""The drop-in's own ``_get_specific_response``: an override may change the response."""
