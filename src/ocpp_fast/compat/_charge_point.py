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

One class at run time, written by side, a module each (each part derives from the one
before, so each is typed against what it uses): :mod:`._state` (the drop-in's own state,
the version ``_ocpp_version`` names), :mod:`._handling` (a CALL validated, handed to its
handler and answered), :mod:`._routing` (``route_message``: each frame to its handler or its
``call()``, or answered as the spec says), :mod:`._calling` (``call()`` and the response
matched to it), with :mod:`._ocpp_exceptions` (the ``ocpp`` exception raised for each error)
and :mod:`._responses` (the ``_response_queue``). Here: ``start()``, the reading turn, whose
runs :mod:`._reading` keeps.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, ClassVar, Self

from ocpp_fast.compat._calling import Calling
from ocpp_fast.compat._ocpp_exceptions import ocpp_exception, ocpp_validation_exception
from ocpp_fast.compat._reading import Reading
from ocpp_fast.compat._responses import Responses as _Responses
from ocpp_fast.compat._routing import _ROUTE_MESSAGE
from ocpp_fast.compat._state import LOGGER, _competing_recv

__all__ = [
    "ChargePoint",
    "ocpp_exception",
    "ocpp_validation_exception",
]

_CALL_START = re.compile(r"[ \t\n\r]*\[[ \t\n\r]*2[ \t\n\r]*,")
_CALL_START_BYTES = re.compile(_CALL_START.pattern.encode())
"""A CALL in a binary frame (some firmware sends its frames so)."""


class ChargePoint(Calling):
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
    ``handler_grace`` (seconds, 10) bounds how long an ending :meth:`start` waits for its
    handlers, those it cancels when cancelled and those running when the connection failed,
    and for a ``route_message`` override that caught its cancel: one that awaits on is left
    running (a WARNING naming its CALL), and ``start()`` ends all the same.
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
        every handler, or after ``handler_grace`` seconds if one awaits on (left running,
        logged; ``ocpp``'s ``start()``, in that handler, never ends); cancelled meanwhile,
        it cancels them and raises at once. Cancelled, it cancels them, as ``ocpp``'s
        handler is, and raises once they ended, or after ``handler_grace`` seconds if one
        caught the cancel and awaits on (``ocpp``'s ``start()`` then never ends); cancelled
        inside a ``route_message`` override that catches the cancel and returns, it stops all
        the same (:meth:`_fast_stop_held`), and one that awaits on is given ``handler_grace``
        seconds, then left running (:meth:`~ocpp_fast.compat._reading.Reading._outlive`).
        Each run keeps its own (:class:`~ocpp_fast.compat._reading.Reading`): a backend that
        reuses the ChargePoint on reconnect, ``start()`` awaited for the new connection before
        it cancels the old run, keeps the new run's CALLs answered.

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
                        if run.cancel_requested():
                            self._fast_stop_held()
                else:
                    await self.route_message(message)
        except asyncio.CancelledError:
            self._fast_keep_unread(run, left)
            self._fast_stopped_reading(run)
            await self._fast_end_handlers(handling, run.named)
            # cancelled by call_done alone (not also by the backend): its failure
            if run.failure is None or reader is None or reader.uncancel() > 0:
                raise
        except Exception:
            self._fast_stopped_reading(run)
            await self._fast_end_handlers(handling, run.named, cancel=False)
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
