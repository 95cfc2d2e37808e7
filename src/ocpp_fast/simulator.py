"""Simulated OCPP stations, for load-testing a CSMS (``ocpp-fast simulate``).

Each station connects over WebSockets (with a password and TLS where the CSMS asks for
them), boots, and then runs charging sessions whose traffic follows the shape of a real
fleet (:data:`MIX_SHARES`), in OCPP 1.6, 2.0.1 or 2.1: a mixed fleet gives each station
one of several versions in turn. Every call's latency, every error (by OCPP error code)
and every call left unanswered at the end is recorded; the report counts the stations
connected *now* (a CSMS that went away shows at once), the connections lost and the
reconnects that failed, the real duration, and is returned in part when the run is stopped
early (SIGINT / SIGTERM, or the ``stop`` event).

A CSMS that goes away makes every station log a WARNING per failed reconnect (thousands of
lines for a fleet): during a run those lines are summarized, the first
:data:`FAILURES_SHOWN` of each cause per :data:`FAILURES_WINDOW` seconds let through, then one
line counting the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import signal
import socket
import ssl as ssl_module
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from ocpp_fast import errors
from ocpp_fast._protocol_version import LABELS
from ocpp_fast._ratelimit import ConnectionLog, LogLimiter
from ocpp_fast._sim_calls import InFlight, StationCalls
from ocpp_fast._sim_reboot import REBOOT_DOWNTIME
from ocpp_fast._sim_report import SimulationReport
from ocpp_fast._sim_stations import (
    AnyStation,
    SimulatedStation,
    SimulatedStation16,
    SimulatedStation21,
    station_handler,
)
from ocpp_fast._sim_traffic import (
    ACTION_PRESETS,
    CORE_ACTIONS,
    MIX_SHARES,
    STREAM,
    STREAM_SENDS,
    chosen_actions,
    is_core,
    mix_of,
)
from ocpp_fast._sim_traffic16 import traffic_for
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.transport import (
    Backoff,
    HandshakeFailed,
    MessageRetry,
    Queued,
    StationClient,
    StillQueued,
    connect,
)
from ocpp_fast.transport._sender import ATTEMPT_FAILED, DROPPED, FINAL_ERRORS, REFUSED_FOR_GOOD
from ocpp_fast.transport.client import (
    CONNECTION_FAILED,
    boot_accepted_within,
    boot_retry_delay,
)
from ocpp_fast.transport.txqueue import QueuedMessage, TransactionQueue, classify

__all__ = [
    "ACTION_PRESETS",
    "CORE_ACTIONS",
    "FAILURES_SHOWN",
    "FAILURES_WINDOW",
    "MIX_SHARES",
    "REBOOT_DOWNTIME",
    "RECONNECT_BACKOFF",
    "SIMULATOR_QUEUE",
    "STILL_CONNECTING",
    "STREAM_SENDS",
    "TRANSACTION_RETRY",
    "WIND_DOWN",
    "SimulatedStation",
    "SimulatedStation16",
    "SimulatedStation21",
    "Passwords",
    "SimulationReport",
    "check_passwords",
    "chosen_actions",
    "connect_failure",
    "identity_of",
    "read_password_file",
    "simulate",
]

CALL_TIMEOUT = 30.0
"""Seconds a simulated station waits for each answer."""
STILL_CONNECTING = "no answer to the handshake before the run ended"
"""The cause of a station still connecting at the end: a CSMS that accepts TCP but does not
answer (overloaded, or ``wss://`` to a port without TLS, which waits for an HTTP request)."""
WIND_DOWN = 2.0
"""Seconds the calls still waiting for an answer get after the end, or after a stop, before they
are cut off (counted in :attr:`SimulationReport.unanswered`): each station, busy or idle at the
end, waits for its own (its queue's included) before it closes its client."""
RECONNECT_BACKOFF = Backoff(minimum=0.5, random_range=1.0, repeat_times=3)
"""How a simulated station that lost its CSMS tries again: retry ``n`` waits ``0.5 * 2**min(n,
3)`` s (0.5, 1, 2, then 4) plus up to 1 s at random. Shorter than :class:`~ocpp_fast.transport.
Backoff`'s default, OCPP's (3 s doubling to 96 s, plus up to 10 s): a load test lasts seconds
or minutes, and a CSMS restarted during one should see its stations back within it, not after
it. Still randomized, so that a fleet does not come back in one instant."""
TRANSACTION_RETRY = MessageRetry(attempts=3, interval=1.0, timeout=CALL_TIMEOUT)
"""How a simulated station sends again a transaction message (2.x TransactionEvent; 1.6
StartTransaction, StopTransaction, MeterValues of a transaction) the CSMS failed (a CALLERROR
bar NotImplemented and NotSupported, no answer), as OCPP's ``MessageAttempts`` asks: 3
sendings, the ``n``-th failure followed by ``interval * n`` s; 1 s, not OCPP's minute, as a
load test lasts seconds (``simulate(retry=...)``, ``--retry-attempts`` / ``--retry-interval``
change it). The station's own transaction queue does it (:data:`SIMULATOR_QUEUE`), as it does
for a real station's firmware: a lost connection is no attempt, the message goes out again
once reconnected, in order."""
SIMULATOR_QUEUE = ":memory:"
"""Where each simulated station's transaction queue lives: in memory (the queue's in-memory
store, no SQLite: the same rules as a file's, without its statements), so that a run of
thousands of stations needs no directory and leaves no file behind; a queue that outlives the
process is a real station's business, not a load test's."""
FAILURES_SHOWN = 5
"""``connection failed`` WARNINGs of the run's stations let through per cause (``connection
refused``...: :func:`connect_failure`) per :data:`FAILURES_WINDOW`; the others are counted in
one line per cause and window (``37 more connection failed (connection refused) messages
suppressed in 10 s``), so a dead CSMS makes a bounded log however big the fleet."""
FAILURES_WINDOW = 10.0
"""Seconds per window of :data:`FAILURES_SHOWN`."""


def identity_of(index: int) -> str:
    """The identity of simulated station ``index``: ``SIM00042``."""
    return f"SIM{index:05d}"


Passwords: TypeAlias = str | Mapping[str, str] | None
"""``simulate(password=...)``: one password for every station, or each station's by identity
(:func:`read_password_file`), or none."""


def _password_of(passwords: Passwords, identity: str) -> str | None:
    return passwords if passwords is None or isinstance(passwords, str) else passwords[identity]


def check_passwords(passwords: Passwords, chargers: int, first_station: int = 0) -> None:
    """Raise ``ValueError`` naming the stations a mapping of passwords leaves out (before the
    run: a station without one would only show as refused)."""
    if passwords is None or isinstance(passwords, str):
        return
    stations = [identity_of(i) for i in range(first_station, first_station + chargers)]
    missing = [identity for identity in stations if identity not in passwords]
    if missing:
        more = f" and {len(missing) - 1} more" if missing[1:] else ""
        raise ValueError(
            f"no password for {missing[0]}{more} (the stations are {stations[0]} to {stations[-1]})"
        )


@dataclass(frozen=True)
class _Fleet:
    """What every station of a run shares."""

    urls: Sequence[str]
    deadline: float
    interval: float
    report: SimulationReport
    gate: asyncio.Semaphore
    backend: str | None
    compression: bool
    passwords: Passwords
    ssl: ssl_module.SSLContext | None
    mixes: dict[str, tuple[list[str], list[int]]]
    """By version, the kinds of :data:`MIX_SHARES` its stations send (``actions=``; a 2.1
    station's include its stream's, :func:`~._sim_traffic.mix_of`), and their weights."""
    clients: dict[str, StationClient]
    """The stations' clients by identity, for the live count."""
    ended: dict[str, bool]
    """Whether each station whose run ended was connected then (it closes its client after)."""
    retry: MessageRetry
    """How each station's transaction queue sends a failed transaction message again."""
    queued: bool = True
    """Whether transaction messages go through each station's queue (``simulate(queue=)``)."""
    stations: dict[str, AnyStation] = field(default_factory=dict)
    """The stations' handlers by identity, for their reboots."""
    sent_cut_off: set[tuple[str, str]] = field(default_factory=set)
    """The CALLs on the wire the end cut off (station, message id), each counted unanswered
    once (:func:`_on_wire`)."""
    unsent: dict[str, set[int]] = field(default_factory=dict)
    """Each station's queued messages not sent yet (their positions): the first sending of a
    message put before the end goes out after it too (the queue takes it a moment later), a
    sending again does not (:func:`_sending`); one still here at the end is not sent."""
    cut: dict[str, int] = field(default_factory=dict)
    """Each station's queued message whose sending its client's close cut off on the wire (its
    position): unanswered at the end (:func:`_left_in_queue`)."""
    calls: InFlight = field(default_factory=InFlight)
    """The stations' calls waiting for their answer: the end waits for them, then cuts them off
    (counted in :attr:`SimulationReport.unanswered`)."""
    station_calls: dict[str, StationCalls] = field(default_factory=dict)
    """Each station's calls waiting for their answer, by identity: at the end a station waits
    for its own before it closes its client (:func:`_wound_down`)."""
    over: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the run ends or is stopped, before the stations' tasks are cancelled: a
    station whose cancel was lost (Python 3.11's ``asyncio.wait_for`` returns an answer that
    came as it was cancelled, and drops the cancel) stops at its next pause all the same,
    where it ran on to the planned end (a stopped 60 s run took its whole minute)."""

    def live(self) -> int:
        """Stations connected now, a station whose run ended counted as it ended."""
        ended = self.ended
        return sum(
            ended.get(identity, client.connection is not None)
            for identity, client in self.clients.items()
        )

    def lost(self, live: int) -> int:
        """Connections that ended before their station's run did: every one opened but those
        ``live`` now (each station's count of connections made goes on after its end: it
        closes its client then, which opens none) and those its station closed to reboot."""
        opened = sum(client.connects for client in self.clients.values())
        return max(0, opened - live - self.reboots())  # (a reboot counts as it begins to close)

    def reboots(self) -> int:
        """The stations' reboots on a Reset so far."""
        return sum(station.reboots for station in self.stations.values())

    def reconnects_failed(self) -> int:
        """The stations' failed attempts to connect again so far."""
        return sum(client.failed_reconnects for client in self.clients.values())


class _FailureLines(logging.Filter):
    """The ``connection failed`` WARNING of each reconnect of the run's stations (by identity:
    another run in the process keeps its own), let through :data:`FAILURES_SHOWN` per cause
    per :data:`FAILURES_WINDOW` seconds, then counted (:class:`~ocpp_fast._ratelimit.
    LogLimiter`, the count said on the transport's log, as the lines were); so are the lines of
    their transaction queues, a WARNING per failed sending and an ERROR per message dropped
    (per action), which a CSMS that fails makes by the thousand too."""

    def __init__(self, logger: logging.Logger, clients: Mapping[str, StationClient]) -> None:
        super().__init__()
        self._clients = clients
        self._limiter = LogLimiter(logger, FAILURES_SHOWN, FAILURES_WINDOW)

    def filter(self, record: logging.LogRecord) -> bool:
        identity = getattr(record, "identity", None)
        if not isinstance(identity, str) or identity not in self._clients:
            return True
        first = record.args[0] if isinstance(record.args, tuple) and record.args else None
        if record.msg == ConnectionLog.message_of(identity, CONNECTION_FAILED):
            cause = connect_failure(first) if isinstance(first, BaseException) else str(first)
            return self._limiter.admits(record.levelno, f"connection failed ({cause})")
        for message, kind in (
            (ATTEMPT_FAILED, "failed"),
            (DROPPED, "dropped"),
            (REFUSED_FOR_GOOD, "dropped"),
        ):
            if record.msg == ConnectionLog.message_of(identity, message):
                return self._limiter.admits(record.levelno, f"{first} {kind}")  # first: action
        return True

    def flush(self, *, everything: bool = False) -> None:
        """Say the count of the lines held back in windows that ended (``everything``: all)."""
        self._limiter.flush(everything=everything)  # each kind at its records' level


@contextlib.contextmanager
def _failures_summarized(clients: Mapping[str, StationClient]) -> Iterator[_FailureLines]:
    """:class:`_FailureLines` on the transport's log for the run; what it held back is
    counted at the end."""
    logger = logging.getLogger("ocpp_fast.transport")
    lines = _FailureLines(logger, clients)
    logger.addFilter(lines)
    try:
        yield lines
    finally:
        logger.removeFilter(lines)
        lines.flush(everything=True)


def read_password_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Each station's password from a file of ``IDENTITY PASSWORD`` lines (the password is the
    rest of the line, without the spaces around it; blank lines and ``#`` comments skipped)."""
    passwords: dict[str, str] = {}
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            identity, _, password = line.strip().partition(" ")
            if not password.strip():
                raise ValueError(f"{path}:{number}: expected IDENTITY PASSWORD")
            passwords[identity] = password.strip()
    return passwords


async def _station(fleet: _Fleet, index: int, label: str, first: int, rng: random.Random) -> None:
    """Station ``index``, of version ``label``, connected to ``fleet.urls[first]`` and failing
    over to the next URLs in turn."""
    identity = identity_of(index)
    report = fleet.report
    state = traffic_for(label, identity)
    station = station_handler(label, state)  # its remote starts run the traffic's transaction
    async with fleet.gate:  # ramp up: a bounded number of handshakes at once
        try:
            mine = [f"{url.rstrip('/')}/{identity}" for url in fleet.urls]
            mine = mine[first:] + mine[:first]
            client: StationClient = await connect(
                station,
                mine[0],
                failover=mine[1:],
                password=_password_of(fleet.passwords, identity),
                ssl=fleet.ssl,
                backoff=RECONNECT_BACKOFF,
                backend=fleet.backend,
                compression=fleet.compression,
                queue=SIMULATOR_QUEUE if fleet.queued else None,
                retry=fleet.retry,
            )
        except Exception as exc:
            report.errors[f"connect: {connect_failure(exc)}"] += 1
            return
        except asyncio.CancelledError:  # the run ended (or was stopped) during the handshake
            report.errors[f"connect: {STILL_CONNECTING}"] += 1
            raise
    fleet.clients[identity] = client
    fleet.stations[identity] = station
    calls = fleet.station_calls[identity] = StationCalls()
    report.connected += 1
    station.sender = functools.partial(_send, fleet, client, state)
    station.client = client  # its heartbeat follows the HeartbeatInterval the CSMS sets
    client.heartbeat_call = functools.partial(_heartbeat, fleet, client, state)
    queue = client.queue
    if queue is not None:  # connect(queue=...): simulate(queue=True)
        unsent: set[int] = set()
        fleet.unsent[identity] = unsent
        client.queue_call = functools.partial(_sending, fleet, unsent, calls)
    kinds, weights = fleet.mixes[label]
    try:
        accepted = await _booted(fleet, client, state)
        while accepted:
            pause = fleet.interval * rng.uniform(0.5, 1.5)
            if not await _slept(fleet, pause, station):
                break
            connection = client.connection
            if connection is None or station.rebooting:
                continue  # offline (or closing to reboot): a message now would wait or be cut
            if connection.registration != "Accepted":  # a new connection: it boots anew
                accepted = await _booted(fleet, client, state)
                continue
            kind = rng.choices(kinds, weights)[0]
            if kind == STREAM:  # (2.1 only) a SEND, and the CALLs of the stream's lifecycle
                await _streamed(fleet, client, state, connection)
                continue
            answer = await _call(fleet, client, state, kind)
            if kind != "BootNotification":
                continue
            # a restart (PowerUp): once booted, the transaction the power cut is ended
            if not _accepting(answer):
                accepted = await _booted(fleet, client, state, answer)
            ended = state.power_lost() if accepted else None
            if ended is not None:
                await _send(fleet, client, state, ended)
        await _wound_down(fleet, calls)
    finally:
        report.sessions += state.sessions
        report.sessions_running += state.transaction is not None
        fleet.ended[identity] = client.connection is not None
        await client.close()
        if queue is not None:
            _left_in_queue(fleet, identity, queue)


async def _streamed(
    fleet: _Fleet, client: StationClient, state: Any, connection: AsyncConnection
) -> None:
    """A 2.1 station's pick of NotifyPeriodicEventStream: the next sample of its periodic event
    stream, sent as a SEND (OCPP-J 2.1: ``[6, ...]``, never answered), on the stream's
    lifecycle as 2.1 has it: with no stream the CSMS accepted open on ``connection`` the station
    opens one first (OpenPeriodicEventStream, a CALL), and sends nothing on a stream the CSMS
    did not accept (refused: :attr:`SimulationReport.streams_refused`; NotSupported, failed:
    counted as any call is); after :data:`STREAM_SENDS` SENDs it closes it
    (ClosePeriodicEventStream, a CALL). A SEND written is counted in
    :attr:`SimulationReport.sends`, and in none of the rows of the calls: no answer comes, so
    none is missed (not unanswered, not an error, no latency). One whose connection dropped as
    it was written is not counted, a lost connection being no error (its loss is in
    :attr:`SimulationReport.connections_lost`); after the run's end nothing is sent."""
    if state.stream_on is not connection:
        answer = await _send(fleet, client, state, state.open_stream())
        if answer is None:  # failed, or NotSupported: counted as such
            return
        if str(answer.status) != "Accepted":
            fleet.report.streams_refused += 1
            return
        state.stream_opened(connection)
    if _ended(fleet) or client.connection is not connection:
        return
    try:
        await connection.send(state.stream_sample())
    except ConnectionError:
        return
    fleet.report.sends += 1
    close = state.close_stream()
    if close is not None and not _ended(fleet):
        await _send(fleet, client, state, close)


def _ended(fleet: _Fleet) -> bool:
    """Whether the run is over (its end passed, or it was stopped): a station sends no more."""
    return fleet.over.is_set() or time.monotonic() >= fleet.deadline


async def _wound_down(fleet: _Fleet, mine: StationCalls) -> None:
    """The station's traffic ended (the run's end, or a stop): it starts nothing new, and the
    calls it has on the wire or in its queue (``mine``, its traffic's and those of other tasks:
    a remote start's event, a sample, a heartbeat of its client) get the :data:`WIND_DOWN` a
    busy station's call gets, from the end, before it closes its client; what is left then is
    counted as the close cuts it off. A station idle at the end closed at once, and counted
    unanswered a message its queue had on the wire that the CSMS was about to answer."""
    now = time.monotonic()
    await mine.answered(min(fleet.deadline, now) + WIND_DOWN - now)


_FIRST: Any = object()
"""The boot has not been sent yet (see :func:`_booted`)."""


async def _booted(fleet: _Fleet, client: StationClient, state: Any, answer: Any = _FIRST) -> bool:
    """Boot until the CSMS accepts, as OCPP asks: after a Pending or Rejected ``answer`` (or a
    failed boot, ``None``) wait the interval the CSMS gave (:func:`boot_retry_delay`:
    :data:`~ocpp_fast.transport.client.BOOT_RETRY_FLOOR` s for 0 or a failure) and boot
    again, sending nothing else meanwhile; a boot the CSMS triggered during the wait
    (TriggerMessage, sent by the station's handler) that it accepts ends it, with no second
    boot, after a failed boot as after a Pending one (the wait after a failure, a plain
    sleep, went on to its 10 s and a needless boot; ``StationClient``'s own boot loop
    watched both). ``True`` once accepted; ``False`` when the run would end first."""
    while answer is _FIRST or not _accepting(answer):
        if answer is not _FIRST:
            # failed (None): no answer says where the station stands, the floor's wait
            interval = 0 if answer is None else answer.interval
            if (waited := await _boot_waited(fleet, client, interval)) is not None:
                return waited
        answer = await _call(fleet, client, state, "BootNotification")
    return True


async def _boot_waited(fleet: _Fleet, client: StationClient, interval: float) -> bool | None:
    """Wait the ``interval`` of a Pending or Rejected boot (0 after a failed one) before
    booting again (as
    :func:`_slept`): ``None`` when the time passed, ``True`` when a boot was accepted on the
    station's connection meanwhile (the CSMS triggered it), ``False`` when the run ends first."""
    seconds = boot_retry_delay(interval)
    connection = client.connection
    if connection is None or fleet.over.is_set():
        return None if await _slept(fleet, seconds) else False
    left = fleet.deadline - time.monotonic()
    if await boot_accepted_within(connection, max(0.0, min(seconds, left))):
        return True
    return None if left >= seconds else False


def _accepting(answer: Any) -> bool:
    """Whether ``answer`` (a BootNotificationResponse, or ``None``) accepted the station."""
    return answer is not None and str(answer.status) == "Accepted"


async def _slept(fleet: _Fleet, seconds: float, station: AnyStation | None = None) -> bool:
    """Wait ``seconds``; ``False`` (having waited for the end instead) when the run ends first,
    or was stopped meanwhile (a station then sends no call after the stop). A new connection
    of ``station`` ends the wait at once (``True``): it boots there now, not at its next
    message's time (with a long ``interval``, after the run)."""
    if fleet.over.is_set():
        return False
    left = fleet.deadline - time.monotonic()
    ending = left < seconds  # the next message would come after the end
    wait = max(0.0, left) if ending else seconds
    if station is None:
        await asyncio.sleep(wait)
    elif await _woken(station, wait):
        return not fleet.over.is_set()
    return not ending and not fleet.over.is_set()  # stopped meanwhile: no new call


async def _woken(station: AnyStation, seconds: float) -> bool:
    """Whether a new connection of ``station`` came within ``seconds`` (one future and one
    timer, as ``asyncio.sleep`` has)."""
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[bool] = loop.create_future()
    station.woken = woken
    timer = loop.call_later(seconds, _settle, woken)
    try:
        return await woken
    finally:
        timer.cancel()
        station.woken = None


def _settle(woken: asyncio.Future[bool]) -> None:
    if not woken.done():
        woken.set_result(False)


_PLAIN_CAUSES: tuple[tuple[type[BaseException], str], ...] = (
    (ConnectionRefusedError, "connection refused"),
    (ConnectionResetError, "connection reset during the handshake (TLS to a port without it?)"),
    (TimeoutError, "timed out"),
)


def connect_failure(exc: BaseException) -> str:
    """Why a station could not connect, short and without what differs between stations
    (the port of a refused connection, the identity), so that a run's failures group by cause."""
    if isinstance(exc, HandshakeFailed):
        return exc.cause()
    if isinstance(exc, ssl_module.SSLCertVerificationError):
        return f"TLS: certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl_module.SSLError):
        return f"TLS: {exc.reason or exc}"
    for kind, cause in _PLAIN_CAUSES:
        if isinstance(exc, kind):
            return cause
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _call(fleet: _Fleet, client: StationClient, state: Any, kind: str) -> Any:
    """Send the next request of ``kind``, counted in the report; the response, or ``None`` when
    the call failed."""
    return await _send(fleet, client, state, state.request(kind))


async def _send(
    fleet: _Fleet,
    client: StationClient,
    state: Any,
    request: Any,
    on: AsyncConnection | None = None,
    timeout: float = 0.0,
) -> Any:
    """Send ``request`` (the traffic's, or the event of a remote start or stop), counted in
    the fleet's report, and tell ``state`` its answer or its failure; the response, or
    ``None`` when the call failed. Cut off by the run's end, it is counted unanswered, or not
    sent when it waited behind another (and the cancel goes on). ``on`` and its ``timeout``:
    the connection of a Heartbeat the client sends by itself (:func:`_heartbeat`), which raises
    its failure instead, for the client's heartbeat loop, and which the client cancels as it
    drops the connection (at the station's end, or mid-run when it was lost: a
    ``ConnectionError`` then, as a call of the traffic on it gets). One coroutine for both:
    this is every call's way, and a coroutine wrapping another cost each call more. A
    transaction message goes through the station's transaction queue (``client.put``), which
    sends it again as the run's :class:`~ocpp_fast.transport.MessageRetry` says; each of its
    sendings is counted by :func:`_sending`, and only its outcome here."""
    action = type(request).__name__.removesuffix("Request")  # in the station's version
    report = fleet.report
    queues = on is None and fleet.queued and classify(action, request) is not None
    calling = fleet.calls.begin()
    mine = fleet.station_calls[client.identity]
    mine.begin(queues)
    started = time.perf_counter()
    queued: Queued[Any] | None = None
    try:
        if on is not None:
            response = await on.call(request, timeout=timeout)
        elif not queues:
            response = await client.call(request, timeout=CALL_TIMEOUT)
        else:  # no timeout: the queue's retries (and the run's end) bound the wait
            queued = client.put(request)
            fleet.unsent[client.identity].add(queued.message.position)
            response = await queued
    except asyncio.CancelledError:
        if queued is not None:  # what the queue still holds is counted at the station's end
            raise
        if _ended(fleet):  # cut off by the end
            connection = client.connection if on is None else on
            cut = report.unanswered if _on_wire(fleet, connection, action) else report.not_sent
            cut[action] += 1  # said, not dropped
        else:  # mid-run, only a client's heartbeat: cancelled as its connection was lost
            state.failed(request)
            report.errors[f"{action}: ConnectionError"] += 1
        raise
    except (errors.OcppError, TimeoutError, ConnectionError) as exc:
        state.failed(request)
        if queued is not None:
            _given_up(fleet, action, exc)
            return None
        _count_failure(report, action, exc)
        if on is not None:
            raise
        return None
    finally:
        fleet.calls.end(calling)
        mine.end(queues)
    if queued is None:  # (a queued one was counted as its sending was answered)
        _count_answer(report, action, started, response)
        report.interval_heartbeats += on is not None
    state.answered(request, response)
    return response


def _count_answer(report: SimulationReport, action: str, started: float, response: Any) -> None:
    """A call of ``action`` sent at ``started`` (``perf_counter``) was answered ``response``."""
    report.latencies.append(time.perf_counter() - started)
    report.messages += 1
    if action == "BootNotification" and str(response.status) == "Rejected":
        # answered, yet the CSMS refused the station: a run where it happens is no success
        report.errors["BootNotification: Rejected"] += 1


def _count_failure(report: SimulationReport, action: str, exc: Exception) -> None:
    """A call (a sending) of ``action`` failed with ``exc``: an error of the run, or an action
    the CSMS does not support, apart when it is not a core one."""
    if isinstance(exc, errors.NotSupportedError) and not is_core(action):
        report.not_supported[action] += 1
    else:
        report.errors[f"{action}: {_code(exc)}"] += 1


def _code(exc: Exception) -> str:
    """How the report names a failure: the OCPP error code, or the exception's class."""
    return exc.code if isinstance(exc, errors.OcppError) else type(exc).__name__


async def _sending(
    fleet: _Fleet,
    unsent: set[int],
    mine: StationCalls,
    connection: AsyncConnection,
    message: QueuedMessage,
    timeout: float,
) -> Any:
    """One sending of a transaction message (``message``) by its station's queue (the client's
    ``queue_call``), counted as the station's other calls are: its latency once answered (and,
    sent again, in :attr:`SimulationReport.retried`), a failure the CSMS made (an error, no
    answer in time) in :attr:`SimulationReport.errors`, each, retried or not (the last one of a
    message the queue gave up on is said so by :func:`_given_up`). A lost connection is no
    error of the message: the queue sends it again once reconnected (the loss is in
    :attr:`SimulationReport.connections_lost`). It raises as ``connection.call`` does, for the
    queue to retry. Once the run ended, the queue sends nothing again (a message put before
    the end, in ``unsent``, still goes out once): the sending waits until the station's client
    closes, and the message is counted with what its queue still holds (:func:`_left_in_queue`);
    the station's end (``mine``, :func:`_wound_down`) waits no longer for its queue."""
    position = message.position
    again = position not in unsent
    if not again:
        unsent.discard(position)
    elif _ended(fleet):
        mine.hold()
        await asyncio.get_running_loop().create_future()  # until the client's close cancels it
    action = message.action
    started = time.perf_counter()
    try:
        response = await message.send(connection, timeout)
    except ConnectionError:
        raise  # sent again once reconnected: not an error, nor an attempt
    except (errors.OcppError, TimeoutError) as exc:
        _count_failure(fleet.report, action, exc)
        raise
    except asyncio.CancelledError:  # the client closed, the message on the wire
        fleet.cut[connection.identity] = position
        raise
    _count_answer(fleet.report, action, started, response)
    if again:
        fleet.report.retried[action] += 1
    return response


def _left_in_queue(fleet: _Fleet, identity: str, queue: TransactionQueue) -> None:
    """Count what the station's ``queue`` still holds once its client closed at the end, each
    message once, by what the CSMS saw of it: never sent, :attr:`SimulationReport.not_sent`;
    on the wire when the close cut it off, :attr:`SimulationReport.unanswered`; sent before
    (its sending failed, or its connection was lost) and waiting to go again,
    :attr:`SimulationReport.still_queued`. A real station's queue would send those after the
    end; the simulator's (in memory) ends with the run, so here they are said, not dropped."""
    report, unsent, cut = fleet.report, fleet.unsent[identity], fleet.cut.pop(identity, None)
    for message in queue.messages():
        if message.position in unsent:
            report.not_sent[message.action] += 1
        elif message.position == cut:
            report.unanswered[message.action] += 1
        else:
            report.still_queued[message.action] += 1


def _given_up(fleet: _Fleet, action: str, exc: Exception) -> None:
    """The station's queue did not deliver a message of ``action`` (``exc``). Dropped after
    its sendings, the last failure (counted by :func:`_sending`) now says so, as data the CSMS
    never got, apart from the failures it got over; refused for good (NotImplemented,
    NotSupported, too big) it was counted as such. Still queued as the station's client
    closed, it is counted with what its queue still holds (:func:`_left_in_queue`)."""
    report = fleet.report
    if isinstance(exc, StillQueued):
        return
    if isinstance(exc, (*FINAL_ERRORS, errors.TooBigForCsms)):
        return
    last = f"{action}: {_code(exc)}"
    report.errors[last] -= 1
    if report.errors[last] <= 0:
        del report.errors[last]
    report.errors[f"{last}, dropped after {fleet.retry.attempts} sendings"] += 1


async def _heartbeat(
    fleet: _Fleet,
    client: StationClient,
    state: Any,
    connection: AsyncConnection,
    request: Any,
    timeout: float,
) -> Any:
    """A Heartbeat the station's client sends by itself (its ``heartbeat_call``), counted as
    the station's other calls and in :attr:`SimulationReport.interval_heartbeats`; it raises
    as ``connection.call`` does, for the client's heartbeat loop to see a lost connection."""
    return await _send(fleet, client, state, request, connection, timeout)


def _on_wire(fleet: _Fleet, connection: AsyncConnection | None, action: str) -> bool:
    """Whether a call of ``action`` the run's end cut off was sent: the CALL of that action
    on the wire on its station's ``connection``, awaiting its answer, and not claimed yet by
    another call cut off (OCPP-J: one CALL outstanding; those behind it were never sent, nor
    those that waited for a connection, ``None``)."""
    on_wire = None if connection is None else connection.protocol.outstanding_call
    if connection is None or on_wire is None or on_wire[1] != action:
        return False
    claimed = (connection.identity, on_wire[0])
    if claimed in fleet.sent_cut_off:
        return False
    fleet.sent_cut_off.add(claimed)
    return True


@contextlib.contextmanager
def _stopped_by_signals(stop: asyncio.Event, enabled: bool) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` during the run (where the loop can take signals: the
    main thread, not Windows); afterwards they do what they did before."""
    loop = asyncio.get_running_loop()
    taken: list[tuple[signal.Signals, Any]] = []
    if enabled:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(sig)
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            taken.append((sig, previous))
    try:
        yield
    finally:
        for sig, previous in taken:
            loop.remove_signal_handler(sig)
            signal.signal(sig, previous)


def _labels(versions: str | Sequence[str]) -> list[str]:
    labels = [versions] if isinstance(versions, str) else list(versions)
    unknown = [label for label in labels if label not in LABELS]
    if unknown or not labels:
        raise ValueError(f"versions must be among {', '.join(LABELS)}, not {unknown or labels}")
    return labels


async def simulate(
    url: str | Sequence[str],
    chargers: int,
    duration: float,
    *,
    interval: float = 1.0,
    seed: int = 0,
    first_station: int = 0,
    ramp_concurrency: int = 100,
    progress: Callable[[SimulationReport, float], None] | None = None,
    backend: str | None = None,
    compression: bool = True,
    versions: str | Sequence[str] = "2.0.1",
    password: Passwords = None,
    ssl: ssl_module.SSLContext | None = None,
    actions: str | Sequence[str] = "all",
    stop: asyncio.Event | None = None,
    handle_signals: bool = True,
    retry: MessageRetry = TRANSACTION_RETRY,
    queue: bool = True,
) -> SimulationReport:
    """Run ``chargers`` stations against the CSMS at ``url`` for ``duration`` seconds.

    Each station sends a message every ``interval`` seconds on average. Stations
    are named ``SIM<number>`` from ``first_station`` on (give each simulator
    process its own range). ``versions``: the OCPP version of the fleet, or several for a
    mixed one (station ``i`` speaks ``versions[i % len(versions)]``). ``actions``: what the
    stations send, ``"all"`` of the fleet's mix, ``"core"`` (:data:`CORE_ACTIONS`), or action
    names (:func:`chosen_actions`; each station boots on connecting whatever they are, and
    boots again mid-run, a restart, only when they name BootNotification: ``"all"`` and
    ``"core"`` do). A 2.1 station's ``"all"`` includes its periodic event stream
    (NotifyPeriodicEventStream as SEND frames, between an OpenPeriodicEventStream and a
    ClosePeriodicEventStream; counted in :attr:`SimulationReport.sends`), which
    ``"NotifyPeriodicEventStream"`` names alone; ``ValueError`` when the stations of a version
    would have nothing to send. ``password``: HTTP Basic (security profiles 1 and 2), one
    for every station or a mapping of identity to password; ``ssl``: the TLS context for
    ``wss://`` (with a client certificate for profile 3). ``progress(report, elapsed)`` is
    called about once a second with the report so far and the seconds elapsed.
    ``backend`` picks the WebSocket library (:mod:`ocpp_fast.transport.backend`);
    ``compression`` offers permessage-deflate. Several URLs (a cluster's gateways): the
    ``k``-th station of each version (station ``i`` is the ``i // len(versions)``-th of its
    own) connects to URL ``k`` modulo their number, so that every version reaches every URL,
    and fails over to the next ones when it loses it. Setting ``stop``, or SIGINT / SIGTERM while
    ``handle_signals``, ends the run early with the report so far. At the end, or the stop, the
    stations send nothing more, and the calls on their way get :data:`WIND_DOWN` seconds to be
    answered (each station, idle or busy, waits for its own and its queue's before it closes);
    those still waiting then are :attr:`SimulationReport.unanswered`. ``retry``: how
    each station's transaction queue (in memory, :data:`SIMULATOR_QUEUE`) sends a failed
    transaction message again (:data:`TRANSACTION_RETRY` by default). ``queue=False``: each
    transaction message is sent once, as the others are, and a failed one only counted: a load
    generator's choice, where the queue's work (its in-memory store and bookkeeping, the hop
    to its sender and back: about 21 µs of CPU per transaction message sent by ``call()``,
    ``benchmarks/sim_queue_cost.py``, 25 before a message was classified once and woke the
    sender without an ``asyncio.Event``, 41 when each sending checked and encoded the message
    again; 98 when it was SQLite's in-memory database) lowers the rate a simulator process
    whose CPU is the limit reaches.
    """
    labels = _labels(versions)
    mixes = {label: mix_of(actions, label) for label in labels}
    check_passwords(password, chargers, first_station)
    urls = [url] if isinstance(url, str) else list(url)
    report = SimulationReport(stations=chargers, duration=duration)
    stop = stop or asyncio.Event()
    rng = random.Random(seed)
    start = time.monotonic()
    fleet = _Fleet(
        urls,
        start + duration,
        interval,
        report,
        asyncio.Semaphore(ramp_concurrency),
        backend,
        compression,
        password,
        ssl,
        mixes,
        {},
        {},
        retry,
        queue,
    )
    tasks: dict[str, asyncio.Task[None]] = {}  # by the station's identity
    for i in range(first_station, first_station + chargers):
        label = labels[i % len(labels)]
        report.versions[label] += 1
        # The k-th station of each version connects to URL k modulo their number: each
        # version spread over every URL (with i modulo their number, 2 versions on 2
        # gateways put each version on one gateway only).
        first = i // len(labels) % len(urls)
        station = _station(fleet, i, label, first, random.Random(rng.random()))
        tasks[identity_of(i)] = asyncio.create_task(station)
    stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    finished: asyncio.Future[Any] = asyncio.gather(*tasks.values(), return_exceptions=True)

    def count() -> None:
        report.seconds = time.monotonic() - start
        report.reboots = fleet.reboots()
        report.live = fleet.live()
        report.connections_lost = fleet.lost(report.live)
        report.reconnects_failed = fleet.reconnects_failed()

    summarized = _failures_summarized(fleet.clients)
    with _stopped_by_signals(stop, handle_signals), summarized as failure_lines:
        while not finished.done() and not stop.is_set():
            left = start + duration + WIND_DOWN - time.monotonic()
            if left <= 0:
                break
            await asyncio.wait(
                [finished, stopping], timeout=min(1.0, left), return_when=asyncio.FIRST_COMPLETED
            )
            count()
            failure_lines.flush()
            if progress is not None:
                progress(report, report.seconds)
        report.stopped_early = stop.is_set()
        fleet.over.set()  # no new call
        # the calls in flight get the wind-down from the end to be answered (from a stop, or
        # stations that all ended before it, the whole of it; never endless with no end set)
        wound_down = min(start + duration, time.monotonic()) + WIND_DOWN
        await fleet.calls.answered(wound_down - time.monotonic())
        stopping.cancel()
        cut_off = fleet.calls.cut_off()  # each counted unanswered (a call after an answer too)
        for identity, task in tasks.items():
            # a station still waiting for an answer past the end, or stopped; not one closing
            # its client after its wind-down (its close is bounded, and counts what its queue
            # still holds once done: cancelled midway, it counted nothing)
            if identity not in fleet.ended:
                task.cancel()
        await asyncio.wait([finished, *cut_off])
    for task in tasks.values():
        if not task.cancelled() and task.exception() is not None:
            report.errors[f"station: {type(task.exception()).__name__}"] += 1
    count()
    if progress is not None:  # the last progress line shows what the report says
        progress(report, report.seconds)
    return report
