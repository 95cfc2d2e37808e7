"""Handling a CALL: validate it, call the backend's ``@on`` handler, answer, run ``@after``.

The handler side of the drop-in ChargePoint (:class:`Handling`); what hands it the CALL is
:mod:`._routing`, the backend's own ``_handle_call`` override in between when it has one.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from typing import Any

import ocpp.exceptions
from ocpp.messages import CallResult

from ocpp_fast import _reference, codec, errors
from ocpp_fast._protocol_version import ProtocolVersion
from ocpp_fast._reference import decode_payload, integers_as_read
from ocpp_fast.compat._naming import floats_as_decimals, shape_of, to_snake, to_wire, written
from ocpp_fast.compat._ocpp_exceptions import ocpp_exception
from ocpp_fast.compat._state import (
    _DECIMAL_PAYLOADS,
    State,
    _cached_version,
    _competing_recv,
    _decode,
    _encode,
)

__all__ = ["Handling"]


@functools.lru_cache(maxsize=1024)
def _takes_call_unique_id(function: Any) -> bool:
    """Whether a handler names ``call_unique_id`` (``ocpp`` passes it only then)."""
    return "call_unique_id" in inspect.signature(function).parameters


def _wants_id(handler: Any) -> bool:
    target = getattr(handler, "__func__", handler)
    try:
        return _takes_call_unique_id(target)
    except TypeError:  # unhashable callable
        return "call_unique_id" in inspect.signature(handler).parameters


def _sent_result(unique_id: Any, action: str, text: str) -> Any:
    """The CALLRESULT answered to a CALL, as ``ocpp``'s ``_handle_call`` returns it: its
    own ``CallResult`` holding the camelCase dict sent (built only for a backend that
    overrides ``_handle_call``, the one reader)."""
    return CallResult(unique_id, _decode(text)[2], action)


def _vendor_route(handlers: dict[str, Any] | None) -> bool:
    """A handler the backend registered with ``skip_schema_validation=True``: ``ocpp``
    routes any action it finds in ``route_map``, so an action of a vendor's own (outside
    the version's schemas) is handled, unvalidated, rather than refused as unknown."""
    return (
        handlers is not None
        and "_on_action" in handlers
        and bool(handlers.get("_skip_schema_validation", False))
    )


class Handling(State):
    """The handler side: ``_handle_call`` and what it answers with."""

    async def _handle_call(self, msg: Any) -> Any:
        """Validate, call the ``@on`` handler, answer, then run the ``@after`` hook.

        Raises ``ocpp``'s exception of the spec code for what the caller must
        answer with a CALLERROR (as ``ocpp``'s ``_handle_call`` raises its own).
        Returns what ``ocpp``'s returns, for overrides that read it: the CALLRESULT
        sent, None after a handler's failure was answered, or the ``@after`` hook's
        return value.
        """
        if self._fast_turn is not None or self._fast_turns:  # route_message written whole
            await self._fast_take_turn()
        return await self._fast_handle_call(msg, False)

    async def _fast_take_turn(self) -> None:
        """A CALL ``start()`` did not read as one (``route_message`` repaired it) waits for
        the CALL read before it, as ``ocpp`` handles them one at a time in the order read
        (:meth:`~ocpp_fast.compat._reading.Reading.route_read`): the run whose frame it is
        (several may route one at once: a reconnect's old run still reads)."""
        run = self._fast_turn
        if run is None:  # route_read's routing was awaited: the one routed in this task
            task = asyncio.current_task()
            run = next((each for each in self._fast_turns if each.routing_in is task), None)
            if run is None:  # a CALL start() read, routed while route_read's routing waits
                return
            self._fast_turns.remove(run)
        self._fast_turn = None
        await run.take_turn()

    async def _fast_handle_call(self, msg: Any, plain: bool) -> Any:
        """:meth:`_handle_call`'s work.

        ``plain``: called by :meth:`route_message` itself, ``_handle_call`` not being
        overridden. Then nobody reads what it returns, so no ``CallResult`` of the answer
        is built (that decodes the answer sent again), and the message is as decoded, so
        its frame's own text is validated. Otherwise an override may have repaired the
        payload before ``super()._handle_call(msg)`` (a quirky station's value cut to its
        maxLength): the payload is validated as it is then, as ``ocpp`` validates it.
        """
        action = msg.action
        handlers = self.route_map.get(action)
        try:
            version = _cached_version(self._ocpp_version) or self._fast_version
        except AttributeError:  # no version: ocpp reads none for an unvalidated handler
            if not _vendor_route(handlers):
                raise
            version = None
        if (
            version is not None
            and action not in version.request_types
            and not _vendor_route(handlers)
        ):
            raise ocpp.exceptions.NotImplementedError(
                description=f"{action[:64]!r} is not an action of OCPP {version.label}",
                details={"cause": f"{action[:64]} is not an action of OCPP {version.label}"},
            )
        if version is not None and action in version.send_only:  # as the native API refuses it
            why = version.send_only_refusal(action)
            raise ocpp.exceptions.NotSupportedError(description=why, details={"cause": why})
        if handlers is None or "_on_action" not in handlers:
            raise ocpp.exceptions.NotSupportedError(
                description=f"no handler for {action}",
                details={"cause": f"No handler for {action} registered."},
            )
        payload = msg.payload
        if version is not None and not handlers.get("_skip_schema_validation", False):
            read = _reference.integral_floats_read
            self._fast_check_request(msg, version, plain)
            if _reference.integral_floats_read != read:  # 1.0 for an integer: an int, as read
                payload = integers_as_read(payload, version.request_types[action], version)
            if (version.label, 2, action) in _DECIMAL_PAYLOADS:
                payload = floats_as_decimals(payload)
        payload = to_snake(payload)
        handler = handlers["_on_action"]
        wants_id = _wants_id(handler)
        try:
            if wants_id:
                response = handler(**payload, call_unique_id=msg.unique_id)
            else:
                response = handler(**payload)
            if inspect.isawaitable(response):
                response = await response
        except Exception as error:
            if self._fast_run is not None and _competing_recv(error):
                self.logger.error(
                    "%s: the %s handler read the connection itself (self._connection.recv()) "
                    "while start() reads it: the drop-in's start() reads on while handlers run "
                    "(so their call() gets its answer), so a handler that awaited anything "
                    "before it cannot take the next frame itself; handle that frame with its own "
                    "@on handler instead",
                    self.id,
                    action[:64],
                )
            self.logger.exception("Error while handling request '%s'", msg)
            await self._send(self._fast_error_text(msg.unique_id, error))
            return None
        text = self._fast_result_text(msg, response, handlers, version)
        await self._send(text)
        sent = None if plain else _sent_result(msg.unique_id, action, text)
        after = handlers.get("_after_action")
        if after is None:
            return sent
        return self._fast_run_after(after, payload, msg.unique_id, sent)

    def _fast_check_request(self, msg: Any, version: ProtocolVersion, as_framed: bool) -> None:
        """Validate a CALL's payload: its frame's text if ``as_framed`` (the message is
        as decoded from it), else the payload as it is now."""
        raw = getattr(msg, "raw", None) if as_framed else None
        if raw is None or type(msg.unique_id) is not str:
            raw = b'[2,"0",' + _encode(msg.action) + b"," + _encode(msg.payload) + b"]"
        try:
            self._fast_check(raw, msg.action, None, version)
        except errors.OcppError as error:
            exception: Any = ocpp_exception(error, version)
            if isinstance(error, errors.RpcFrameworkError):
                # A frame route_message read, refused here as nested too deeply: msgspec's
                # bound is the stack left, less this deeper down. Answered with the code the
                # codec names for it (route_message's own refusal of a deeper one), not that
                # of the class ocpp raises for the fault (FormatViolationError, kept).
                exception.code = version.code_of(error)
            raise exception from None

    def _fast_check(
        self, frame: str | bytes, action: str, result_of: Any, version: ProtocolVersion
    ) -> None:
        """Validate a frame's payload; raise the spec's OcppError.

        ``result_of`` is the id of the call a CALLRESULT answers (None for a
        CALL). Formats are judged again without a format checker unless
        ``strict_formats``: a format failure is PropertyConstraintViolation, so
        only that one is looked at twice. ``version`` is the one read by the caller
        when ``ocpp`` would read it (the request's, then again the response's).
        """
        try:
            codec.decode_frame(frame, version, {} if result_of is None else {result_of: action})
        except errors.PropertyConstraintViolationError:
            if self.strict_formats:
                raise
            if result_of is None:
                tp, payload = version.request_types[action], _decode(frame)[3]
            else:
                tp, payload = version.response_types[action], _decode(frame)[2]
            decode_payload(payload, tp, version, formats=False)

    def _fast_result_text(
        self, msg: Any, response: Any, handlers: dict[str, Any], version: ProtocolVersion | None
    ) -> str:
        """The CALLRESULT text of a handler's return value.

        One that is no dataclass or breaks the schema is our fault: logged, and
        ``ocpp``'s InternalError raised, which the caller answers (``ocpp`` raises its
        validation error there, so the ``@after`` hook does not run either way). ``version``
        None: no version set, the route unvalidated; written by ``ocpp``'s names.
        """
        action = msg.action
        try:
            if not hasattr(type(response), "__dataclass_fields__"):
                raise TypeError(f"a handler must return a call_result dataclass, not {response!r}")
            shape = None if version is None else shape_of(version.response_types.get(action))
            body = written(to_wire(response, shape))
            if version is not None and not handlers.get("_skip_schema_validation", False):
                self._fast_check(b'[3,"0",' + body + b"]", action, "0", version)
        except (TypeError, ValueError, OverflowError, RecursionError, errors.OcppError) as error:
            self.logger.error(
                "%s: our %s response to %s is invalid, answering InternalError: %s",
                self.id,
                action,
                msg.unique_id,
                error,
            )
            raise ocpp.exceptions.InternalError(description=f"invalid {action} response") from None
        return f"[3,{_encode(msg.unique_id).decode()},{body.decode()}]"

    def _fast_error_text(self, unique_id: Any, error: BaseException, kind: int = 4) -> str:
        """A CALLERROR (or 2.1 CALLRESULTERROR) for any exception, in the version's spelling
        (with no version set, a code of the spec's table as raised, as ``ocpp`` sends it)."""
        version = self._fast_version_if_set
        if isinstance(error, errors.OcppError):
            ours = error
        elif isinstance(error, ocpp.exceptions.OCPPError):
            cls = errors.error_class(str(error.code))
            details = error.details if isinstance(error.details, dict) else {}
            ours = cls(str(error.description or ""), details)
        else:
            ours = errors.InternalError("An unexpected error occurred.")  # ocpp's words
        if version is not None:
            code = version.code_of(ours)
        else:
            raised = str(getattr(error, "code", ""))
            code = raised if raised in (ours.code, ours.code_16) else ours.code
        frame = (kind, unique_id, code, ours.description, ours.details)
        try:
            # written(): a float NaN or infinity, which msgspec writes as a null nobody wrote
            # (ocpp writes NaN, no JSON), is refused too
            return written(frame).decode()
        except (TypeError, ValueError, OverflowError, RecursionError):  # unwritable details
            return _encode((*frame[:4], {})).decode()

    def _fast_run_after(
        self, after: Any, payload: dict[str, Any], unique_id: Any, sent: Any
    ) -> Any:
        """The ``@after`` hook as ``ocpp`` runs it: a coroutine is scheduled, not awaited
        (its failure is logged); a KeyError inside a plain one is swallowed; any other
        exception of a plain one goes on out of ``_handle_call``, so ``start()`` ends with
        it, the CALL being answered already (a bug in the backend's hook, as with ``ocpp``).

        Returns what ``ocpp``'s ``_handle_call`` returns then: the hook's return value
        (the coroutine, for one scheduled), or ``sent`` when the hook raised KeyError."""
        try:
            if _wants_id(after):
                result = after(**payload, call_unique_id=unique_id)
            else:
                result = after(**payload)
        except KeyError:
            return sent
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._fast_hooks.add(task)
            task.add_done_callback(self._fast_after_done)
        return result

    def _fast_after_done(self, task: asyncio.Task[Any]) -> None:
        self._fast_hooks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.logger.error("%s: @after hook failed: %r", self.id, task.exception())


_HANDLE_CALL = Handling._handle_call
"""The drop-in's own ``_handle_call``: a subclass that overrides it gets it called."""
