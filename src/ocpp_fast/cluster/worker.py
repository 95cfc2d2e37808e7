"""Handlers in a pool of processes: ``ocpp-fast worker --nats URL module:Class``.

A worker subscribes, in its version's queue group, to the CALLs the gateways
forward; NATS hands each to one worker of the group. It runs the same
``ChargeSystem`` class a gateway would (the request arrives validated by the
gateway: it is decoded typed, not checked again), with a :class:`CallContext`
whose ``connection.call(...)`` is routed through the cluster to the station,
checks the response against the schema and replies. Workers hold no socket
and no station state, so they scale and restart independently of the gateways:
one that dies mid-request leaves its gateway to answer that CALL InternalError
after its ``worker_timeout``; the next CALL goes to a worker still there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any

import msgspec
from nats.aio.msg import Msg

from ocpp_fast import errors
from ocpp_fast._log_text import escaped
from ocpp_fast._outgoing import encode_checked_payload
from ocpp_fast._ratelimit import ConnectionLog, FirstTimes
from ocpp_fast.cluster.client import ClusterClient, RoutedPeer
from ocpp_fast.cluster.config import ClusterConfig, node_name
from ocpp_fast.cluster.wire import Outcome, WorkRequest, error_outcome
from ocpp_fast.dispatch import (
    OcppHandler,
    Route,
    as_ocpp_error,
    handler_failures,
    is_awaitable,
)
from ocpp_fast.frames import Call
from ocpp_fast.transport._loopwatch import watch_loop
from ocpp_fast.transport._slow import named_calls, named_stations
from ocpp_fast.transport.limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from nats.aio.subscription import Subscription

    from ocpp_fast.cluster.subjects import Names
    from ocpp_fast.metrics import Metrics

__all__ = ["Worker"]

log: logging.Logger = logging.getLogger("ocpp_fast.cluster")

_encode = msgspec.json.Encoder().encode
_work_decoder = msgspec.json.Decoder(WorkRequest)
_EMPTY = Outcome()

CLOSE_GRACE = 5.0
"""Seconds :meth:`Worker.close` lets the CALLs being handled answer by default
(``ocpp-fast worker --shutdown-timeout``)."""
STOPPED = "the worker stopped before its handler answered"
"""The description of the InternalError a CALL cancelled by a worker's stop is answered."""
_CANCEL_GRACE = 1.0
"""Seconds the cancelled handlers get to end (and their answers to leave) before the close."""
_NAMED = 10
"""Stations named in the one line about the CALLs a stop cancelled (the rest counted)."""


class Worker:
    """Runs ``handlers`` (one ``ChargeSystem`` per version: two of one version are a
    ``ValueError``) for the CALLs of every station.

    ``concurrency`` bounds the ``async def`` handlers running at once (plain
    ones are answered inside the NATS callback, one after the other). With ``metrics``
    (:class:`~ocpp_fast.metrics.Metrics`, extra ``[metrics]``) the handlers' times are kept
    in its ``ocpp_handler_seconds``, and the worker's own figures (its CALLs, the handlers
    running, its NATS connection) are added to it (``ocpp-fast worker --metrics-port``).
    ``loop_blocked``: as ``Limits.loop_blocked`` of a server, from :meth:`start` to
    :meth:`close` (a plain handler blocking the loop holds every CALL of the worker).
    """

    def __init__(
        self,
        handlers: OcppHandler | Sequence[OcppHandler],
        config: ClusterConfig | None = None,
        *,
        concurrency: int = 256,
        metrics: Metrics | None = None,
        loop_blocked: float | None = DEFAULT_LIMITS.loop_blocked,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency is 1 or more, not {concurrency!r}")
        listed = [handlers] if isinstance(handlers, OcppHandler) else list(handlers)
        self.handlers: dict[str, OcppHandler] = {}
        for handler in listed:
            # each version's CALLs come through one queue group, to one handler: the later one
            # took the place of the earlier silently (``ocpp-fast worker a:Csms b:Csms``)
            label = handler.version.label
            if label in self.handlers:
                raise ValueError(
                    f"{_named(self.handlers[label])} and {_named(handler)} both handle OCPP "
                    f"{label}: a worker runs one handler per version; give one of them"
                )
            self.handlers[label] = handler
        self.config: ClusterConfig = config or ClusterConfig()
        self.names: Names = self.config.names
        self.node: str = node_name()
        """This worker's name: ``ocpp-worker <node>`` is its NATS connection's."""
        # the config's start_timeout, None included (a library's worker may wait for good)
        self.client: ClusterClient = ClusterClient(
            self.config, name=f"ocpp-worker {self.node}", start_timeout=self.config.start_timeout
        )
        self.concurrency = concurrency
        """``async def`` handlers that may run at once."""
        self._slots = asyncio.Semaphore(concurrency)
        self._subscriptions: list[Subscription] = []
        self._tasks: dict[asyncio.Task[None], tuple[str, Call, Msg, OcppHandler]] = {}
        """The ``async def`` handlers running, with the station, CALL, request and handler of
        each (what a stop names, and answers, when it cancels them)."""
        self._loop: asyncio.AbstractEventLoop  # set by start(), before any CALL comes
        self.handled: int = 0
        """CALLs answered so far (for the benchmarks and tests)."""
        self.calls: defaultdict[tuple[str, str], int] = defaultdict(int)
        """``(action, outcome)`` -> CALLs answered, ``outcome`` ``result`` or ``error`` (the
        actions are the versions' own: bounded)."""
        self.unreadable: int = 0
        """Work requests that could not be read (answered InternalError)."""
        self.reply_failures: int = 0
        """Answers that could not be sent back."""
        self.busy: int = 0
        """``async def`` handlers running now (each holds one of ``concurrency`` slots)."""
        self.metrics = metrics
        self.loop_blocked: float | None = Limits(
            loop_blocked=loop_blocked
        ).loop_blocked  # checked as there
        self._unwatch: Callable[[], None] = lambda: None
        self._started = False
        self._closing = False
        self._not_handled_logged = FirstTimes()
        if metrics is not None:
            from ocpp_fast.cluster._exposition import WorkerFigures

            metrics.registry.register(WorkerFigures(self))

    def not_ready(self) -> str | None:
        """Why this worker takes no CALLs now (``/readyz`` says it), or ``None``."""
        if self._closing:
            return "stopping: no new CALLs taken"
        nc = self.client.connection
        if nc is None or not self._started:
            return "not connected to NATS yet"
        if nc.is_connected:
            return None
        if nc.is_reconnecting:
            return "the NATS connection is lost, reconnecting"
        return "the NATS connection is closed"

    async def start(self) -> None:
        """Connect and join the queue group of each version served."""
        self._loop = asyncio.get_running_loop()
        self._unwatch()  # a second start: one part of the watch still
        self._unwatch = watch_loop(self.loop_blocked, self.handlers.values(), lambda: self.metrics)
        await self.client._join()
        nc = self.client.nats
        for label in self.handlers:
            self._subscriptions.append(
                await nc.subscribe(
                    self.names.work_all(label),
                    queue=self.names.work_group(label),
                    cb=self._received,
                )
            )
        await nc.flush()
        self._started = True
        log.info("worker %s serving OCPP %s", self.node, ", ".join(self.handlers))

    async def close(self, timeout: float = CLOSE_GRACE) -> None:
        """Stop taking CALLs, let those being handled answer (up to ``timeout`` seconds),
        disconnect.

        The handlers still running at the deadline are cancelled, said in one WARNING naming
        them, and each CALL is answered InternalError before the connection closes: its
        gateway answers the station at once, where it waited out its ``worker_timeout``
        (10 s) with nothing in this worker's log to say which CALLs the stop dropped."""
        self._closing = True
        for subscription in self._subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
        if self._tasks:
            await self._cancel_in_hand()
        await self.client.close()
        self._unwatch()
        self._unwatch = lambda: None
        handler_failures.flush(everything=True)  # the handlers' failures held back, said

    async def _cancel_in_hand(self) -> None:
        """Cancel the handlers still running at the stop's deadline, saying which, and answer
        each CALL InternalError here (a handler that swallows its cancel answers nothing),
        flushed before the close."""
        late = dict(self._tasks)
        per_station: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for identity, call, _, _ in late.values():
            per_station[identity].append((call.action, call.message_id))
        parts = [
            f"{escaped(identity)}: {len(calls)} ({named_calls(calls, limit=3)})"
            for identity, calls in list(per_station.items())[:_NAMED]
        ]
        log.warning(
            "stopping: cancelling %d CALL(s) still in hand at the deadline (%s); their "
            "gateways answer them InternalError",
            len(late),
            named_stations(parts, len(per_station)),
            extra={"cancelled": len(late), "stations": len(per_station)},
        )
        for task, (_, call, msg, handler) in late.items():
            task.cancel()
            self.calls[call.action, "error"] += 1
            await self._reply(msg, error_outcome(errors.InternalError(STOPPED), handler.version))
        await asyncio.wait(list(late), timeout=_CANCEL_GRACE)  # a handler may ignore it
        with contextlib.suppress(Exception):
            await self.client.nats.flush(timeout=1)

    async def _received(self, msg: Msg) -> None:
        try:
            work = _work_decoder.decode(msg.data)
            handler = self.handlers[work.version]
            request = handler.version.request_decoders[work.action].decode(work.payload)
        except Exception as exc:  # a gateway of another build, or not a gateway at all
            self.unreadable += 1
            log.error("worker: unreadable work request: %r", exc)
            with contextlib.suppress(Exception):
                await msg.respond(_encode(Outcome(code="InternalError", description="unreadable")))
            return
        call = Call(work.message_id, work.action, request)
        route = handler.handler_route(work.action)
        if route is None or not route.is_async:  # answered here, one after the other
            await self._answer(handler, route, call, work.identity, msg)
            return
        await self._slots.acquire()
        # the loop kept by start(): ensure_future looks it up (a getpid each on 3.11)
        task = self._loop.create_task(
            self._answer_in_slot(handler, route, call, work.identity, msg)
        )
        self._tasks[task] = (work.identity, call, msg, handler)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        del self._tasks[task]

    async def _answer_in_slot(
        self, handler: OcppHandler, route: Route, call: Call, identity: str, msg: Msg
    ) -> None:
        """An ``async def`` handler, in its task, holding one of the ``concurrency`` slots."""
        self.busy += 1
        try:
            await self._answer(handler, route, call, identity, msg)
        finally:
            self.busy -= 1
            self._slots.release()

    async def _answer(
        self, handler: OcppHandler, route: Route | None, call: Call, identity: str, msg: Msg
    ) -> None:
        """Run the handler (a plain one may hand back an awaitable) and reply its outcome."""
        metrics = self.metrics
        started = perf_counter() if metrics is not None else 0.0
        try:
            result = handler.invoke_handler(
                route, call, identity, RoutedPeer(self.client, identity, handler.version)
            )
            if is_awaitable(result):
                result = await result
        except Exception as exc:
            outcome = error_outcome(as_ocpp_error(call, exc, identity), handler.version)
            if route is None:  # the class has no method for the action: NotSupported
                outcome = self._not_handled(handler, call, outcome)
        else:
            outcome = self._outcome(handler, call, result, identity)
        if metrics is not None:
            metrics.handled(call.action, perf_counter() - started)
        self.calls[call.action, "error" if outcome.code else "result"] += 1
        await self._reply(msg, outcome)

    def _not_handled(self, handler: OcppHandler, call: Call, outcome: Outcome) -> Outcome:
        """The NotSupported of an action ``handler``'s class has no method for, marked so that
        the gateway logs it as one process does (a WARNING once, then DEBUG), and said here
        once per action: the worker is where the method is missing."""
        if self._not_handled_logged.first((handler.version.label, call.action)):
            log.warning(
                "worker: %s of OCPP %s is not handled by %s: answering NotSupported "
                "(logged once per action)",
                call.action,
                handler.version.label,
                type(handler).__qualname__,
                extra={"action": call.action},
            )
        return msgspec.structs.replace(outcome, not_handled=True)

    def _outcome(self, handler: OcppHandler, call: Call, result: Any, identity: str) -> Outcome:
        version = handler.version
        if version.actions[call.action].response is None:  # a SEND: never answered
            return _EMPTY
        try:
            payload = encode_checked_payload(result, call.action, version, response=True)
        except (TypeError, errors.OcppError) as exc:
            ConnectionLog(log, identity).error(
                "our %s response to %s is invalid: %s",
                call.action,
                call.message_id,
                exc,
                extra={"action": call.action, "message_id": call.message_id},
            )
            return error_outcome(errors.InternalError(f"invalid {call.action} response"), version)
        return Outcome(result=msgspec.Raw(payload))

    async def _reply(self, msg: Msg, outcome: Outcome) -> None:
        self.handled += 1
        try:
            await msg.respond(_encode(outcome))
        except Exception as exc:
            self.reply_failures += 1
            log.warning("worker: could not reply: %r", exc)

    async def run_until(self, stop: asyncio.Event) -> None:
        """Start, serve until ``stop`` is set, close."""
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.close()


def _named(handler: OcppHandler) -> str:
    """A handler as an error names it: its class, with its module."""
    kind = type(handler)
    return f"{kind.__module__}:{kind.__qualname__}"
