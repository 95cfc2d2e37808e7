"""What a simulated station does by itself (for :mod:`._sim_stations`): the CALLs it makes after
an answer or on a clock of its own, and the settings of its configuration that drive them
(:data:`~._sim_device.ACTING`).

The settings act as OCPP names them where the shared OCPP-J summary or the JSON schemas say so,
and otherwise by their plain reading, which the simulator page labels as the simulator's: a
periodic clock (``TxUpdatedInterval``), a clock-aligned one (``AlignedDataCtrlr.Interval``),
the measurands each reading carries, an Authorize before a remote start
(``AuthorizeRemoteStart``), the status sent back after a long time offline
(``OfflineThreshold``), the WebSocket pings (``WebSocketPingInterval``). Each is one timer or
one check at a rare moment (a start, a boot, a setting changed): a run's traffic pays nothing
per message for them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeAlias, cast

from ocpp_fast._sim_traffic import Traffic, TxIdT
from ocpp_fast._sim_traffic16 import traffic_for
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.transport import StationClient

__all__ = ["Sender"]

Sender: TypeAlias = Callable[[Any], Awaitable[Any]]
"""Sends a station's request and gives the CSMS's response, or ``None`` when the call failed,
having told the station's :class:`Traffic` either way (``answered`` / ``failed``)."""

log = logging.getLogger("ocpp_fast.simulator")


class _Registered:
    """Whether the CSMS accepted the boot of the station's connection (:attr:`accepted`): a
    station it has not accepted (Pending, Rejected, or no boot yet) starts no transaction, so
    it answers a remote start Rejected. Read from the connection's ``registration`` (the
    status of the last boot answered on it, whoever sent it); the station keeps the connection
    it is on from ``on_connect`` to ``on_disconnect``, so an override of either calls
    ``super()``'s to keep it. (With the client's own boot, ``connect(..., boot=)``,
    ``on_connect`` comes once the boot is accepted: a CALL of the CSMS before it, while
    Pending, gives the station its connection then.)"""

    _connection: Any = None

    @property
    def accepted(self) -> bool:
        """Whether the CSMS accepted the boot of the connection the station is on."""
        return getattr(self._connection, "registration", None) == "Accepted"

    def on_connect(self, connection: AsyncConnection) -> Awaitable[None] | None:
        self._connection = connection
        return None

    def on_disconnect(self, connection: AsyncConnection, reason: str) -> Awaitable[None] | None:
        if self._connection is connection:
            self._connection = None
        return None


def _listed(value: str) -> tuple[str, ...]:
    """The members of a list setting (its checks let through only known ones)."""
    return tuple(value.split(","))


class _Acting(_Registered, Generic[TxIdT]):
    """A station that sends by itself: what it carries out after an answer (a remote start's
    event, triggered messages, a report), by :attr:`sender` or on its connection, and what its
    settings ask of it, on its clocks."""

    _label = "2.0.1"
    _traffic: Traffic[TxIdT] | None = None
    sender: Sender | None = None
    """How the station's CALLs go out (``None``: on its connection, counted nowhere)."""
    client: StationClient | None = None
    """The client the station is connected by, whose heartbeat (its
    :attr:`~ocpp_fast.transport.StationClient.heartbeat_interval`) follows the
    ``HeartbeatInterval`` the CSMS sets (SetVariables, ChangeConfiguration), and its WebSocket
    pings (:attr:`~ocpp_fast.transport.StationClient.ping_interval`) the
    ``WebSocketPingInterval``; ``simulate()`` sets it, a station connected by your own code may
    (``station.client = await connect(...)``)."""

    @property
    def traffic(self) -> Traffic[TxIdT]:
        """The station's charging state (a fresh one, idle, the first time it is read): its
        ``transaction`` is the running transaction's id, a ``str`` in 2.x, an ``int`` in 1.6."""
        traffic = self._traffic
        if traffic is None:
            # the version's own (its label and its TxIdT go together, class by class)
            traffic = self.traffic = cast("Traffic[TxIdT]", traffic_for(self._label, "SIM"))
        return traffic

    @traffic.setter
    def traffic(self, traffic: Traffic[TxIdT]) -> None:
        self._traffic = traffic
        traffic.began = self._schedule_sample  # its transactions' meter values, on a clock

    def _setting(self, name: str) -> str | None:
        """The station's value of the setting ``name`` of :data:`~._sim_device.ACTING`, from its
        version's model (``None``: its version has no such setting)."""
        return None

    def _heartbeat_is(self, seconds: str) -> None:
        """The station's ``HeartbeatInterval`` is ``seconds`` now (each version's model)."""

    def _settings_set(self, changed: dict[str, str]) -> None:
        """The CSMS set ``changed``, the settings that act by their name in
        :data:`~._sim_device.ACTING` (values its checks let through): the client's heartbeat
        and pings follow (when the station knows its client), the clocks start again at their
        new interval, the readings carry the measurands chosen."""
        client = self.client
        if "heartbeat" in changed and client is not None:
            client.heartbeat_interval = float(changed["heartbeat"])
        if "ping" in changed and client is not None:
            client.ping_interval = float(changed["ping"]) or None  # 0: no pings
        if "sample_interval" in changed:
            self._sampling_set = True
            self._schedule_sample()
        if "sampled" in changed:
            self.traffic.measurands = _listed(changed["sampled"])
        if "ended" in changed:
            self.traffic.ended_measurands = _listed(changed["ended"])
        if "aligned_interval" in changed:
            self._schedule_aligned()

    # --- the transaction's periodic meter values (TxUpdatedInterval, MeterValueSampleInterval)

    _sampling: asyncio.TimerHandle | None = None
    samples_by_default: bool = True
    """Whether the station keeps the clock of its periodic meter values at its default interval
    before the CSMS sets one. A ``simulate()`` station's traffic mix already carries its
    transactions' meter values at the run's pace: a clock of its own at the default (60 s)
    would add messages to every run (about 7 % at the fleet rate) and move the load
    benchmarks' figures, so :func:`~._sim_stations.station_handler` turns it off for a station
    given its traffic, until the CSMS sets the interval."""
    _sampling_set: bool = False

    def _schedule_sample(self) -> None:
        """(Re)start the clock of the running transaction's periodic meter values at the
        station's interval now (2.x ``TxUpdatedInterval``: TransactionEvent ``Updated``, trigger
        MeterValuePeriodic; 1.6 ``MeterValueSampleInterval``: MeterValues of the transaction):
        called when a transaction begins, the interval is set, or a boot is accepted. One timer
        per running transaction, not per message: the traffic of a run pays nothing for it."""
        if self._sampling is not None:
            self._sampling.cancel()
            self._sampling = None
        traffic = self.traffic
        asked = self.samples_by_default or self._sampling_set
        seconds = float(self._setting("sample_interval") or 0) if asked else 0.0
        if traffic.transaction is not None and seconds > 0:
            which = (traffic.transaction, traffic.sessions)
            loop = asyncio.get_running_loop()
            self._sampling = loop.call_later(seconds, self._sample, which)

    def _sample(self, which: tuple[Any, int]) -> None:
        """A tick of the clock of transaction ``which`` (its id, and the sessions ended before
        it: a 1.6 CSMS may give an id twice): its meter values sent, and the next tick set;
        nothing when it ended, or when the station is not on an accepted connection (offline,
        booting again: its next accepted boot starts the clock again)."""
        self._sampling = None
        traffic = self.traffic
        if (traffic.transaction, traffic.sessions) != which or not self.accepted:
            return
        self._carry_out(traffic.request("TransactionEvent.Updated"))
        self._schedule_sample()

    # --- the clock-aligned meter values (AlignedDataCtrlr.Interval, ClockAlignedDataInterval) --

    _aligned: asyncio.TimerHandle | None = None

    def _schedule_aligned(self, ticked: bool = False) -> None:
        """(Re)start the clock of the clock-aligned meter values: the next reading at the next
        whole multiple of the interval since midnight UTC (an interval of 900: at :00, :15,
        :30 and :45 past each hour); none while the interval is 0. Called when the interval is
        set, a boot is accepted, and after each reading (``ticked``: the multiple just read is
        skipped, should the timer have fired a hair early)."""
        if self._aligned is not None:
            self._aligned.cancel()
            self._aligned = None
        seconds = float(self._setting("aligned_interval") or 0)
        if seconds <= 0:
            return
        now = time.time()
        after = now + seconds / 2 if ticked else now
        due = (math.floor(after / seconds) + 1) * seconds
        self._aligned = asyncio.get_running_loop().call_later(due - now, self._align)

    def _align(self) -> None:
        """A tick of the aligned clock: the readings of the chosen measurands
        (``AlignedDataCtrlr.Measurands``, 1.6 ``MeterValuesAlignedData``), context
        ``Sample.Clock`` (:meth:`~._sim_traffic.Traffic.aligned`), and the next tick set; none
        off an accepted connection (its next accepted boot starts the clock again)."""
        self._aligned = None
        if not self.accepted:
            return
        self._carry_out(self.traffic.aligned(_listed(self._setting("aligned") or "")))
        self._schedule_aligned(ticked=True)

    # --- back from offline (OfflineThreshold) ---------------------------------------------------

    _offline_since: float | None = None

    def on_disconnect(self, connection: AsyncConnection, reason: str) -> Awaitable[None] | None:
        if connection is not None and self._connection is connection:
            self._offline_since = time.monotonic()
        return super().on_disconnect(connection, reason)

    def _back_online(self) -> None:
        """A boot accepted after the station lost its connection: offline longer than
        ``OfflineThreshold`` seconds, it sends the StatusNotification of its connector (EVSE 1,
        connector 1), as the CSMS may have missed its changes meanwhile. 1.6 has no such key:
        a 1.6 station sends none."""
        since, self._offline_since = self._offline_since, None
        if since is None:
            return
        threshold = self._setting("offline_threshold")
        if threshold is None:
            return
        if time.monotonic() - since > float(threshold):
            self._carry_out(self.traffic.request("StatusNotification"))

    # --- a remote start, authorized first (AuthorizeRemoteStart, AuthorizeRemoteTxRequests) ----

    def _start_remote(self, request: Any) -> bool:
        """Carry out a remote start ``request`` (RequestStartTransaction,
        RemoteStartTransaction) after the answer; whether it is Accepted: once the CSMS accepted
        the boot, while the station can start it (:meth:`~._sim_traffic.Traffic.startable`).
        With ``AuthorizeRemoteStart`` true the station first sends an Authorize of the request's
        token and starts the transaction only when the CSMS accepts it (its EVSE taken
        meanwhile); false (the default), it starts at once."""
        if not self.accepted:
            return False
        traffic = self.traffic
        if self._setting("authorize_remote") != "true":
            return self._carry_out(traffic.remote_start(request))
        if not traffic.startable(request):
            return False
        traffic.authorizing = True
        self._after_answer(self._authorized_start(request))
        return True

    async def _authorized_start(self, request: Any) -> None:
        traffic = self.traffic
        try:
            response = await self._send(traffic.authorize(request))
        finally:
            traffic.authorizing = False
        if response is None or not traffic.authorized(response):
            log.info("remote start not carried out: the CSMS did not authorize its token")
            return
        start = traffic.remote_start(request)
        if start is not None:  # (the traffic may have started one meanwhile)
            await self._send(start)

    # --- sending ----------------------------------------------------------------------------

    def _carry_out(self, request: Any) -> bool:
        """Send ``request`` (an event of the traffic's transaction, or ``None``: nothing to do)
        after the answer being made; whether there was one."""
        if request is None:
            return False
        self._after_answer(self._send(request))
        return True

    def _carry_out_each(self, requests: list[Any]) -> None:
        """Send ``requests`` (a report's parts) after the answer being made, one after the
        other (one CALL outstanding, as OCPP-J asks), stopping at the first that fails."""
        if requests:
            self._after_answer(self._send_each(requests))

    async def _send_each(self, requests: list[Any]) -> None:
        for request in requests:
            if await self._send(request) is None:
                return

    @staticmethod
    def _after_answer(work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` once the handler returned (its answer written first)."""
        task = asyncio.get_running_loop().create_task(work)
        _pending.add(task)
        task.add_done_callback(_sent)

    async def _send(self, request: Any) -> Any:
        if self.sender is not None:
            return await self.sender(request)
        traffic, connection = self.traffic, self._connection
        try:
            if connection is None:
                raise ConnectionError("the station is not connected")
            response = await connection.call(request, timeout=_CALL_TIMEOUT)
        except Exception as exc:
            traffic.failed(request)
            log.warning("%s after an answer failed: %r", type(request).__name__, exc)
            return None
        traffic.answered(request, response)
        return response


def _sent(task: asyncio.Task[Any]) -> None:
    """A call made after an answer (a remote start's or stop's event, a report) is done: what
    it raised unexpectedly is logged."""
    _pending.discard(task)
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("a call after an answer failed", exc_info=error)


_pending: set[asyncio.Task[Any]] = set()
"""The calls made after an answer on their way (a task nobody holds may be collected)."""
_CALL_TIMEOUT = 30.0
"""Seconds a station alone waits for the answer to a call it makes after an answer."""
