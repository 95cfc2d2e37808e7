"""The drop-in ChargePoint: the ``ocpp`` package's API, ocpp_fast's codec on the hot path.

It subclasses ``ocpp``'s own class, so a backend's ``@on``/``@after`` handlers,
``route_map``, ``call(call.Reset(...))``, its dataclasses and its exceptions all
keep working, and ``isinstance`` checks hold. What changes is underneath:

- an incoming CALL is validated by the generated Structs of ocpp_fast (one typed
  decode, no jsonschema), then handed to the handler as ``ocpp`` hands it: the
  raw payload with ``ocpp``'s snake_case names (see :mod:`._naming`);
- the wire follows the OCPP-J spec table: NotImplemented for an unknown action,
  NotSupported for a known one without a handler, the version's spelling of each
  code, the table's code for each schema failure, an answer to a malformed frame;
- responses to our calls are matched by id, so a handler may ``await self.call()``
  to its own station without the deadlock ``ocpp`` has (``start()`` reads on while
  CALLs are handled), and a response never lands on the wrong call;
- ``format`` (date-time, uri) is not checked by default, as ``ocpp`` 2.1.0 does
  not check it and real fleets send naive timestamps; ``strict_formats = True``
  on the class checks RFC 3339/3986 as the native API does.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import re
from collections import deque
from typing import Any, ClassVar, Self

import msgspec
import ocpp.charge_point
import ocpp.exceptions
from ocpp.messages import Call, CallError, CallResult, MessageType

from ocpp_fast import _reference, codec, errors
from ocpp_fast._awaited import within
from ocpp_fast._protocol_version import ProtocolVersion, by_label
from ocpp_fast._reference import (
    MESSAGE_ID_MAX_LENGTH,
    decode_payload,
    frame_head,
    integers_as_read,
)
from ocpp_fast.compat._naming import (
    NonFiniteNumber,
    floats_as_decimals,
    shape_of,
    to_snake,
    to_wire,
    written,
)
from ocpp_fast.compat._reading import Reading, cancel_and_wait
from ocpp_fast.frames import CALLERROR, CALLRESULTERROR, CallResultError, Send

__all__ = [
    "ChargePoint",
    "ocpp_exception",
    "ocpp_validation_exception",
]

LOGGER = ocpp.charge_point.LOGGER
"""``ocpp``'s default logger (named ``ocpp``): logs go where they went before."""

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode
_CALL_START = re.compile(r"[ \t\n\r]*\[[ \t\n\r]*2[ \t\n\r]*,")
_CALL_START_BYTES = re.compile(_CALL_START.pattern.encode())
"""A CALL in a binary frame (some firmware sends its frames so)."""
_UNMATCHED_KEPT = 16
"""Responses with no call waiting that are kept for a ``call()`` about to wait on their id."""
_DECIMAL_PAYLOADS = frozenset(
    {("1.6", 2, "SetChargingProfile"), ("1.6", 2, "RemoteStartTransaction")}
    | {("1.6", 3, "GetCompositeSchedule")}
)
"""Payloads whose floats ``ocpp`` hands over as ``Decimal`` once it validated them
(its ``multipleOf: 0.1`` check parses them so); a handler may rely on it."""
_UNKNOWN_ID_LOGGED = 5
"""Unknown-id responses logged one by one before only every thousandth is."""


_OCPP_EXCEPTIONS: dict[str, type[Exception]] = {
    cls.code: cls
    for cls in (
        ocpp.exceptions.NotImplementedError,
        ocpp.exceptions.NotSupportedError,
        ocpp.exceptions.InternalError,
        ocpp.exceptions.ProtocolError,
        ocpp.exceptions.SecurityError,
        ocpp.exceptions.FormatViolationError,
        ocpp.exceptions.FormationViolationError,
        ocpp.exceptions.PropertyConstraintViolationError,
        ocpp.exceptions.OccurenceConstraintViolationError,
        ocpp.exceptions.OccurrenceConstraintViolationError,
        ocpp.exceptions.TypeConstraintViolationError,
        ocpp.exceptions.GenericError,
    )
}


_OCPP_CLASS_OF_FAULT: tuple[tuple[type[errors.OcppError], type[Exception]], ...] = (
    (errors.RpcFrameworkError, ocpp.exceptions.FormatViolationError),
    (errors.MessageTypeNotSupportedError, ocpp.exceptions.PropertyConstraintViolationError),
)
"""The faults whose code ``ocpp`` has no class for (2.x's RpcFrameworkError and
MessageTypeNotSupported), by the class ``ocpp`` raises for the same fault: its ``unpack``
raises FormatViolationError for a frame that is not JSON and PropertyConstraintViolationError
for a MessageTypeId it does not know, on every version (1.6's spellings of these codes,
FormationViolation and GenericError, name other faults). They stood in as GenericError."""


def _ocpp_class(error: errors.OcppError, version: ProtocolVersion) -> Any:
    """``ocpp``'s class of ``error``'s code as the version spells it; for a code ``ocpp``
    has no class for, the class it raises for the same fault."""
    cls: Any = next((c for fault, c in _OCPP_CLASS_OF_FAULT if isinstance(error, fault)), None)
    if cls is None:
        cls = _OCPP_EXCEPTIONS[version.code_of(error)]  # every other code of the spec has one
    return cls


def ocpp_exception(error: errors.OcppError, version: ProtocolVersion) -> Exception:
    """The ``ocpp`` exception of ``error``'s code, spelt as the version spells it,
    so the ``except`` clauses of a backend written for ``ocpp`` catch it; for a code
    ``ocpp`` has no class for, the class it raises for the same fault."""
    exception: Exception = _ocpp_class(error, version)(
        description=error.description, details=dict(error.details)
    )
    return exception


_OCPP_CLASS_OF_KEYWORD: dict[str, type[Exception]] = {
    "type": ocpp.exceptions.TypeConstraintViolationError,
    "additionalProperties": ocpp.exceptions.FormatViolationError,
    "required": ocpp.exceptions.ProtocolError,
    "maxLength": ocpp.exceptions.TypeConstraintViolationError,
}
"""How ``ocpp`` 2.1.0 names a schema failure, by the keyword broken; every other
keyword (enum, format, pattern, minimum, minItems ...) is its FormatViolationError."""


def ocpp_validation_exception(error: errors.OcppError, version: ProtocolVersion) -> Exception:
    """The exception ``ocpp`` raises in the user's process when a payload it validates
    (a ``call()``'s request, the CALLRESULT answering it) breaks its schema, or when the
    answer to a ``call()`` is no frame to the spec at all.

    The spec's code is what goes on the wire; the class raised to Python code is
    ``ocpp``'s, chosen by the schema keyword as ``ocpp`` chooses it, for every version,
    so ``except FormatViolationError`` written against ``ocpp`` still catches. An error of
    no keyword gets the class of :func:`ocpp_exception`: an answer that is no JSON to the
    spec though Python's ``json`` reads it (``NaN``, as an ``ocpp`` peer writes a float NaN)
    or that is no frame (a CALLRESULT of 2 elements) is a RpcFrameworkError (1.6:
    FormationViolation), raised as ``FormatViolationError`` on every version, the class
    ``ocpp``'s ``unpack`` raises for a frame that is not JSON (``ocpp`` has no class of
    RpcFrameworkError, and a class by code would raise ``FormationViolationError`` on 1.6
    and a stand-in on 2.x).
    """
    keyword = error.schema_keyword
    if keyword is None:
        cls = _ocpp_class(error, version)
    else:
        cls = _OCPP_CLASS_OF_KEYWORD.get(keyword, ocpp.exceptions.FormatViolationError)
    exception: Exception = cls(
        description=error.description, details={"cause": error.description, **error.details}
    )
    return exception


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


def _sent_result(unique_id: Any, action: str, text: str) -> Any:
    """The CALLRESULT answered to a CALL, as ``ocpp``'s ``_handle_call`` returns it: its
    own ``CallResult`` holding the camelCase dict sent (built only for a backend that
    overrides ``_handle_call``, the one reader)."""
    return CallResult(unique_id, _decode(text)[2], action)


def _usable_id(unique_id: Any) -> bool:
    """A string id the spec allows, or an integer one as ``ocpp`` tolerates (echoed as sent)."""
    kind = type(unique_id)
    return (kind is str and len(unique_id) <= MESSAGE_ID_MAX_LENGTH) or kind is int


class _Responses(asyncio.Queue[Any]):
    """The drop-in's own ``_response_queue``, for backends that route frames themselves.

    A ``route_message`` written whole (``unpack``, then ``_handle_call`` for a CALL
    and ``self._response_queue.put_nowait(msg)`` for a response, as ``ocpp``'s own
    does) puts responses here; each goes to the ``call()`` waiting on its id, as
    the drop-in's own routing hands them, instead of waiting in a queue nobody reads.
    A backend may read it too, as ``ocpp``'s ``_get_specific_response`` does (an override
    of its own that calls no ``super()``): while one awaits :meth:`get`, responses are put
    here for it instead, as ``ocpp`` puts them. A response no call of ours takes (of an
    unknown id, or read by such an override) stays here, as in ``ocpp``'s queue, so
    ``qsize()`` and ``get_nowait()`` find it; only the last :data:`_UNMATCHED_KEPT` are
    kept (``ocpp``'s grows while no call reads it). A queue the backend put in
    ``_response_queue`` itself (any other object) is used as ``ocpp`` uses it instead.
    """

    def __init__(self, deliver: Any) -> None:
        super().__init__()
        self._deliver_to = deliver
        self._readers = 0

    def _init(self, maxsize: int) -> None:
        # asyncio.Queue's own storage, by the name its qsize() and empty() read, typed here
        self._queue: deque[Any] = deque()

    def _put(self, item: Any) -> None:
        self._queue.append(item)

    def _get(self) -> Any:
        return self._queue.popleft()

    def put_nowait(self, item: Any) -> None:
        if self._readers or not self._deliver_to(item):
            super().put_nowait(item)
            if not self._readers and len(self._queue) > _UNMATCHED_KEPT:
                self._queue.popleft()

    def take(self, unique_id: Any) -> Any:
        """The first response kept of ``unique_id``, taken out; None if none is."""
        for response in self._queue:
            if response.unique_id == unique_id:
                self._queue.remove(response)
                return response
        return None

    async def get(self) -> Any:
        self._readers += 1
        try:
            return await super().get()
        finally:
            self._readers -= 1


class ChargePoint(ocpp.charge_point.ChargePoint):  # type: ignore[misc]
    """``ocpp.charge_point.ChargePoint`` on ocpp_fast: same constructor, attributes and methods.

    The version comes from ``_ocpp_version`` ("1.6", "2.0.1" or "2.1"), read each
    time ``ocpp`` reads it: :mod:`ocpp_fast.compat.v201` and its siblings set it on
    the class, a backend on this generic class sets it after ``super().__init__()``
    (and may change it between messages), as it does ``_call_result``. Set
    ``strict_formats = True`` on a subclass to refuse date-times without an offset
    and invalid URIs (the spec's rule; ``ocpp`` checks neither).
    ``max_concurrent_calls`` bounds the station's CALLs :meth:`start` holds at
    once: the one being handled and those read while it runs, which wait their
    turn (reading pauses beyond the bound; the spec allows one).
    """

    strict_formats: ClassVar[bool] = False
    max_concurrent_calls: ClassVar[int] = 4

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        """A new instance, the drop-in's own state (:meth:`_fast_init_state`) made already.

        Made here, not only in ``__init__``: a backend whose ``__init__`` sets ``ocpp``'s
        attributes itself (``id``, ``_connection``, ``route_map``, ``_call_lock``,
        ``_response_queue``...) and calls no ``super().__init__()``, as ``ocpp``'s class
        allows and some backends do, raised AttributeError on its first response and in
        ``start()``. ``__new__`` runs for every instance, whatever ``__init__`` does, once,
        and costs nothing per message (a ``__getattr__`` making the state on first use
        would slow every attribute read of the instance: CPython does not specialise
        them on a class that has one).
        """
        make = super().__new__
        instance: Self = make(cls) if make is object.__new__ else make(cls, *args, **kwargs)
        instance._fast_init_state()
        return instance

    def __init__(
        self, id: str, connection: Any, response_timeout: float = 30, logger: Any = LOGGER
    ) -> None:
        super().__init__(id, connection, response_timeout, logger)
        self._fast_init_state()  # anew, for a backend calling __init__ again on reconnect
        self._response_queue = _Responses(self._fast_deliver)

    def _fast_init_state(self) -> None:
        """Make the drop-in's own per-connection state (``_fast_...``), by :meth:`__new__`
        and ``__init__``."""
        self._fast_details_missing_logged = False
        self._fast_waiting: dict[Any, asyncio.Future[Any]] = {}
        self._fast_reading: set[Any] = set()  # ids our _get_specific_response awaits
        self._fast_unknown_ids = 0
        self._fast_hooks: set[asyncio.Task[Any]] = set()  # @after coroutines running
        self._fast_run: Reading | None = None  # the latest start() while it reads
        # CALLs a start() read and did not route, for the next start() on that connection
        self._fast_unread: tuple[Any, list[str | bytes]] | None = None
        # the run whose route_read steps through a frame start() took for no CALL, and the
        # runs awaiting one's routing (a reconnect's old run may route one meanwhile)
        self._fast_turn: Reading | None = None
        self._fast_turns: list[Reading] = []

    @property
    def _fast_version(self) -> ProtocolVersion:
        """The version ``_ocpp_version`` names *now*, read where ``ocpp`` reads it.

        Backends built on the generic class set ``_ocpp_version`` after
        ``super().__init__()`` (from the negotiated subprotocol), and may change it
        between messages; the version's tables are cached per label, so reading it
        costs a dict lookup (the per-message path inlines it as
        ``_VERSIONS.get(self._ocpp_version) or self._fast_version``, saving the call).
        Unset, it raises the AttributeError ``ocpp`` raises.
        """
        return _version_of(self._ocpp_version)

    @property
    def _fast_version_if_set(self) -> ProtocolVersion | None:
        """The version, or None while ``_ocpp_version`` is unset: for the paths ``ocpp`` walks
        without reading it (a route of ``skip_schema_validation=True``, a ``call()`` with it,
        a frame it cannot parse), which a generic class without a version still serves."""
        try:
            label = self._ocpp_version
        except AttributeError:
            return None
        return _version_of(label)

    # --- reading ------------------------------------------------------------------------

    async def start(self) -> None:
        """Read frames until the connection fails (its exception ends the loop, as in ``ocpp``).

        Reading goes on while a handler runs, so a response reaches the ``call()``
        a handler awaits (with ``ocpp`` that call times out). CALLs are still
        handled as ``ocpp`` handles them: one at a time, in the order they came,
        each answered before the next handler starts, so a station that sends
        StartTransaction and MeterValues without waiting never has the second
        handled before the first is done. A CALL with none before it is let begin
        (its handler run up to its first await) before the next frame is read, so frames
        reach ``route_message`` in the order read, as with ``ocpp``, and its handler may
        read the next frame itself (:meth:`_fast_reader_waits`).
        A frame read as no CALL that ``route_message`` makes one (an override repairing
        a broken frame before ``super().route_message(...)``) is handled in its turn too,
        after the CALL read before it, reading going on meanwhile
        (:meth:`~ocpp_fast.compat._reading.Reading.route_read`).

        When reading fails, the CALLs already read are handled (and answered, or
        their answer fails) before the exception leaves, as with ``ocpp``, whose
        ``start()`` reads nothing while a handler runs: what the backend does once
        ``start()`` ended (forget the station, replace ``_connection``) comes after
        every handler. Cancelled, it cancels them, as ``ocpp``'s handler is, and raises once
        they ended; cancelled inside a ``route_message`` override that catches the cancel and
        returns, it stops all the same (:meth:`_fast_stop_held`). Each run
        keeps its own (:class:`~ocpp_fast.compat._reading.Reading`): a backend that
        reuses the ChargePoint on reconnect, ``start()`` awaited for the new connection
        before it cancels the old run, keeps the new run's CALLs answered.

        A CALL whose routing raised (an overridden ``_handle_call`` or
        ``route_message`` failing with something else than ``ocpp``'s errors, which
        are answered; a handler raising ``asyncio.CancelledError``, which no
        ``except Exception`` answers) ends ``start()`` with that exception, as it
        leaves ``ocpp``'s ``start()``: reading stops, the CALLs read after it are not
        handled by this run, and the backend's ``except`` around ``start()`` sees it.

        Cancelled or so failed, the CALLs it read and had not routed are kept for the next
        ``start()`` on the same connection, which routes them first, in order: ``ocpp``'s
        would have left them in the socket for it to read. A ``start()`` begun while another
        still reads waits for it if it was cancelled, and is refused if it reads the same
        connection (:meth:`~ocpp_fast.compat._reading.Reading.another_start`).
        """
        loop = asyncio.get_running_loop()  # kept: ensure_future looks it up (a getpid on 3.11)
        reader = asyncio.current_task()
        # the cancels its task had before this run: one more is a stop (see _fast_stop_held)
        cancels = 0 if reader is None else reader.cancelling()
        connection = self._connection
        if self._fast_run is not None:  # another start() still reads
            await self._fast_run.another_start(reader, connection)
        run = self._fast_run = Reading(self, reader, self.max_concurrent_calls, connection)
        handling, queued = run.handling, run.queued
        left = self._fast_unread_of(connection)
        # only a route_message of the backend's own makes a CALL of a frame read as none (ours
        # refuses a MessageTypeId such as 2.0): a response costs it nothing more otherwise
        repairs = getattr(self.route_message, "__func__", None) is not _ROUTE_MESSAGE
        message: Any
        try:
            while True:
                if left:  # read by a start() that ended before it routed them
                    message = left.pop(0)
                else:
                    try:
                        message = await self._connection.recv()
                    except RuntimeError as error:
                        if not (handling and _competing_recv(error)):
                            raise
                        await self._fast_reader_waits(run)
                        continue
                    self.logger.info("%s: receive message %s", self.id, message)
                kind = type(message)
                if (kind is str and _CALL_START.match(message)) or (
                    kind is bytes and _CALL_START_BYTES.match(message)
                ):
                    try:
                        await run.slots.acquire()
                    except asyncio.CancelledError:
                        run.held = message  # read, and now neither routed nor dropped
                        raise
                    before = run.last_call
                    queued.append(message)  # first: an eager task factory routes it at once
                    task = loop.create_task(run.route_in_turn(message, before))
                    run.last_call = task
                    handling.add(task)
                    task.add_done_callback(run.call_done)
                    if before is None or before.done():
                        # first in line: let it route (its handler run up to its first
                        # await) before the next frame is, as ocpp routes frames in the
                        # order read; a response read next went first (a frame recorder
                        # in route_message saw it before the CALL it followed)
                        await asyncio.sleep(0)
                elif repairs:  # route_message may repair it into a CALL: handled in turn then
                    rest = run.route_read(message)
                    if rest is not None:
                        await rest
                        if reader is not None and reader.cancelling() > cancels:
                            self._fast_stop_held()
                else:
                    await self.route_message(message)
        except asyncio.CancelledError:
            self._fast_keep_unread(run, left)
            self._fast_stopped_reading(run)
            await cancel_and_wait(handling)
            # cancelled by call_done alone (not also by the backend): its failure
            if run.failure is None or reader is None or reader.uncancel() > 0:
                raise
        except Exception:
            self._fast_stopped_reading(run)
            pending = [task for task in handling if not task.done()]
            if pending:
                await asyncio.wait(pending)
            if run.failure is None:
                raise
        # raised outside the except clauses, so its own context and traceback are kept
        failure, run.failure = run.failure, None
        raise failure

    def _fast_stop_held(self) -> None:
        """``start()`` was cancelled while the backend's ``route_message`` routed a frame, and
        that override returned instead of raising ``CancelledError`` (an ``except BaseException``
        or bare ``except`` around its awaits): the cancel is raised here, so ``start()`` stops as
        it was told, where it read on (as ``ocpp``'s does), its cancel lost; the task's cancel
        count says a cancel came even when its exception was swallowed."""
        self.logger.warning(
            "%s: route_message returned after start() was cancelled (it caught CancelledError): "
            "start() stops anyway; let CancelledError leave route_message",
            self.id,
        )
        raise asyncio.CancelledError

    async def _fast_reader_waits(self, run: Reading) -> None:
        """The connection refused ``start()``'s read: a handler reads it itself (``await
        self._connection.recv()``, begun before ``start()`` read again). ``start()`` reads
        again once the CALLs it holds are handled, so the handler gets the frame, as with
        ``ocpp``, whose ``start()`` reads nothing while a handler runs (it ended with the
        refusal, ``ConcurrencyError``, the frame then read by the handler)."""
        self.logger.debug(
            "%s: a handler reads the connection itself: start() reads once it is done", self.id
        )
        await asyncio.wait(list(run.handling))

    def _fast_unread_of(self, connection: Any) -> list[str | bytes]:
        """The CALLs an earlier ``start()`` on ``connection`` read and did not route (taken:
        this run routes them first), none for another connection."""
        kept, self._fast_unread = self._fast_unread, None
        if kept is None or kept[0] is not connection:
            return []
        return kept[1]

    def _fast_keep_unread(self, run: Reading, left: list[str | bytes]) -> None:
        """``run`` ended (cancelled, or a CALL's routing failed) with CALLs read and not
        routed: kept, in order, for the next ``start()`` on its connection, which ``ocpp``'s
        would have read them from (its ``start()`` reads a frame only once the one before it
        is handled)."""
        calls = run.unrouted_calls() + left
        self._fast_unread = (run.connection, calls) if calls else None

    def _fast_stopped_reading(self, run: Reading) -> None:
        """``run`` reads no more: it is no longer the reader, unless a later ``start()``
        (the backend's reconnect, the same ChargePoint) took its place already."""
        if self._fast_run is run:
            self._fast_run = None
        run.stopped_reading()  # a CALL failing now does not cancel it: it waits for them

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
                await result
        except Exception:
            self.logger.exception("%s: handling the SEND %s %s failed", self.id, action, unique_id)

    # --- handling a CALL ----------------------------------------------------------------

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
            version = _VERSIONS.get(self._ocpp_version) or self._fast_version
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

    # --- calling the station ------------------------------------------------------------

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


_HANDLE_CALL = ChargePoint._handle_call
"""The drop-in's own ``_handle_call``: a subclass that overrides it gets it called."""
_GET_RESPONSE = ChargePoint._get_specific_response
"""The drop-in's own ``_get_specific_response``: an override may change the response."""
_ROUTE_MESSAGE = ChargePoint.route_message
"""The drop-in's own ``route_message``: an override may make a CALL of any frame."""


def _vendor_route(handlers: dict[str, Any] | None) -> bool:
    """A handler the backend registered with ``skip_schema_validation=True``: ``ocpp``
    routes any action it finds in ``route_map``, so an action of a vendor's own (outside
    the version's schemas) is handled, unvalidated, rather than refused as unknown."""
    return (
        handlers is not None
        and "_on_action" in handlers
        and bool(handlers.get("_skip_schema_validation", False))
    )


def _competing_recv(error: BaseException) -> bool:
    """A connection refusing a second concurrent ``recv()``: ``websockets`` raises
    RuntimeError (its ConcurrencyError, a subclass, since version 14) naming ``recv``."""
    return isinstance(error, RuntimeError) and "recv" in str(error)


def _is_error_body(frame: list[Any]) -> bool:
    """``[4, id, code, description, details]``; details may be ``null`` or absent."""
    size = len(frame)
    return (
        (size == 5 or size == 4)
        and type(frame[2]) is str
        and type(frame[3]) is str
        and (size == 4 or frame[4] is None or type(frame[4]) is dict)
    )


_VERSIONS: dict[str, ProtocolVersion] = {}
"""The ProtocolVersion of each ``_ocpp_version`` label seen: its tables are built once."""


def _version_of(label: str) -> ProtocolVersion:
    version = _VERSIONS.get(label)
    if version is None:
        version = _VERSIONS[label] = by_label(label)
    return version
