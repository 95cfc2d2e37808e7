"""What a simulation saw (for :mod:`.simulator`): :class:`SimulationReport`, its figures, the
table ``ocpp-fast simulate`` prints and the JSON ``--json`` prints. Apart from the run itself,
which fills it in."""

from __future__ import annotations

import math
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ocpp_fast._machine import percentile

__all__ = ["SimulationReport"]


@dataclass
class SimulationReport:
    """What a simulation saw; ``table()`` prints it."""

    stations: int
    connected: int = 0
    """Stations that connected at least once."""
    live: int = 0
    """Stations connected now (counted about once a second); in the final report, those still
    connected when their run ended, as the last progress call showed."""
    sessions: int = 0
    """Transactions the stations ended (those a remote stop ended included)."""
    sessions_running: int = 0
    """Transactions still running when their station's run ended (begun by its traffic or by a
    remote start, not ended): what a CSMS should still show open. (1.6: one whose
    StartTransaction was answered; one still waiting for its id is in :attr:`unanswered`.)"""
    messages: int = 0
    """The stations' calls the CSMS answered, the events of remote starts and stops, the
    NotifyReports of a base report and the :attr:`interval_heartbeats` included (the CSMS's own
    requests to the stations are not counted)."""
    interval_heartbeats: int = 0
    """Of :attr:`messages`, the Heartbeats the stations' clients sent by themselves, after
    ``HeartbeatInterval`` seconds without a message (once the CSMS set that interval): apart
    from the traffic's own heartbeats, which the mix sends at its pace. Those unanswered, or
    failed, are in :attr:`unanswered` and :attr:`errors` under ``Heartbeat`` as the others."""
    sends: int = 0
    """SEND frames the stations wrote (OCPP-J 2.1 ``[6, ...]``: a 2.1 station's
    NotifyPeriodicEventStream). A SEND is never answered, so it is in none of the rows of the
    calls: not in :attr:`messages` nor the latencies, never :attr:`unanswered` nor an error.
    The OpenPeriodicEventStream and ClosePeriodicEventStream around them are calls, counted
    as the others are."""
    streams_refused: int = 0
    """OpenPeriodicEventStream calls the CSMS answered but not ``Accepted`` (2.1): the stream
    was refused, so the station sent no SEND on it (OCPP lets a CSMS refuse one: no error)."""
    reboots: int = 0
    """Stations that rebooted on a Reset of the CSMS (each time): closed, reconnected, booted
    with reason ``RemoteReset`` (2.x). Their closes are not in :attr:`connections_lost`."""
    seconds: float = 0.0
    """The real duration of the run, stopped early or not."""
    stopped_early: bool = False
    """Stopped (``stop``, SIGINT, SIGTERM) before the end it was given."""
    duration: float = 0.0
    """The duration asked for (``inf``: until stopped); ``simulate()`` sets it."""
    versions: Counter[str] = field(default_factory=Counter)
    """Stations per OCPP version, as the fleet was planned (connected or not)."""
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    """Failed calls by action and OCPP error code (``TransactionEvent:
    PropertyConstraintViolation``, or ``Heartbeat: TimeoutError`` / ``...: ConnectionError``
    when no answer came), ``BootNotification: Rejected`` for each boot the CSMS answered
    Rejected, and stations that could not connect by cause: ``connect: HTTP 401
    Unauthorized (...)``, ``connect: connection refused``, ``connect: TLS: ...``
    (:func:`~ocpp_fast.simulator.connect_failure`). A NotSupported answer to a core action
    (:data:`~ocpp_fast.simulator.CORE_ACTIONS`) is an error too: ``StatusNotification:
    NotSupported``."""
    unanswered: Counter[str] = field(default_factory=Counter)
    """The stations' calls sent and still waiting for their answer when the run ended, by
    action: a CSMS that never answers (a handler that hangs) shows here, and fails the run.
    Calls in flight at the end, or at a stop, get :data:`~ocpp_fast.simulator.WIND_DOWN`
    seconds to be answered first; a call whose own timeout
    (:data:`~ocpp_fast.simulator.CALL_TIMEOUT`) passed during the run is in :attr:`errors`
    instead (``Heartbeat: TimeoutError``). Neither is in :attr:`latencies`, which are those of
    the calls answered."""
    not_sent: Counter[str] = field(default_factory=Counter)
    """The stations' calls that were never sent, by action: queued behind one of the
    station's own the CSMS left unanswered (OCPP-J: one CALL outstanding at a time), or
    waiting for a connection, when the run ended. The station meant to send them and the CSMS
    never got them, so they fail the run too; the CSMS never saw them, so they are not
    :attr:`unanswered`."""
    still_queued: Counter[str] = field(default_factory=Counter)
    """Transaction messages a station's queue still held at the end, sent before and waiting
    to go again (their sending failed and their retry was due after the end, or their
    connection was lost with the message on the wire and the station was not back), by
    action: the CSMS may have processed them, never answered them; a real station would send
    them again, the simulator's queue (in memory) ends with the run, so they are said here and
    fail the run. Those on the wire at the end are :attr:`unanswered`, those never sent
    :attr:`not_sent`: each message the queue held at the end counted once."""
    retried: Counter[str] = field(default_factory=Counter)
    """Of :attr:`messages`, the transaction messages answered on a sending after the first
    (the first failed, or its connection was lost), by action: the station's queue got them
    through. Their failed sendings the CSMS made are in :attr:`errors`; a lost connection is
    no error (:attr:`connections_lost`)."""
    not_supported: Counter[str] = field(default_factory=Counter)
    """Calls of an optional action (NotifyReport, SecurityEventNotification, DataTransfer...)
    the CSMS answered NotSupported, by action: OCPP lets a CSMS leave them out, so they are
    not :attr:`errors` (``actions=`` stops the stations sending them)."""
    connections_lost: int = 0
    """Connections that ended before the run did (the CSMS closed them or went away), those the
    stations opened again included. A station offline sends nothing, so a CSMS killed mid-run
    may fail no call: this is where it shows."""
    reconnects_failed: int = 0
    """Attempts to connect again, after a lost connection, that failed."""

    @property
    def not_back(self) -> int:
        """Stations that lost their connection and were not connected again at the end (in
        the final report; during the run, those offline now)."""
        return max(0, self.connected - self.live)

    @property
    def ok(self) -> bool:
        """Every station connected, no call failed (NotSupported answers to optional actions
        are no failures), none was left unanswered, not sent or still queued at the end
        (:attr:`unanswered`, :attr:`not_sent`, :attr:`still_queued`: what the stations meant to
        send, the CSMS got and answered), and every
        station was connected at the end (none lost its connection for good): what
        ``ocpp-fast simulate`` exits 0 for. Connections lost and
        reconnects that failed, once every station is back, are reported but no failure: a
        CSMS restarted, or a cluster's gateway that failed over, is what such a run tests."""
        answered = not (self.errors or self.unanswered or self.not_sent or self.still_queued)
        return answered and self.connected == self.stations and not self.not_back

    @property
    def held(self) -> int:
        """Deprecated: the final :attr:`live`, the same figure (removed in 0.3.0)."""
        warnings.warn(
            "SimulationReport.held is deprecated: read live (the same figure at the end)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.live

    def as_dict(self) -> dict[str, Any]:
        """The report's figures as JSON takes them (``ocpp-fast simulate --json`` prints them):
        those of :meth:`table` by name, each kind's counts by kind, the latencies as
        milliseconds at p50, p99 and max, and :attr:`ok`; a duration of no end is ``null``."""
        counts = {
            "not_supported": self.not_supported,
            "unanswered": self.unanswered,
            "not_sent": self.not_sent,
            "still_queued": self.still_queued,
            "retried": self.retried,
            "errors": self.errors,
        }
        return {
            "ok": self.ok,
            "stations": self.stations,
            "versions": dict(self.versions),
            "connected": self.connected,
            "live": self.live,
            "not_back": self.not_back,
            "connections_lost": self.connections_lost,
            "reconnects_failed": self.reconnects_failed,
            "reboots": self.reboots,
            "sessions": self.sessions,
            "sessions_running": self.sessions_running,
            "messages": self.messages,
            "interval_heartbeats": self.interval_heartbeats,
            "sends": self.sends,
            "streams_refused": self.streams_refused,
            "seconds": round(self.seconds, 3),
            "duration": None if math.isinf(self.duration) else self.duration,
            "stopped_early": self.stopped_early,
            "latency_ms": {
                "p50": round(self.percentile(0.50), 3),
                "p99": round(self.percentile(0.99), 3),
                "max": round(max(self.latencies, default=0.0) * 1000, 3),
            },
            **{name: dict(kinds.most_common()) for name, kinds in counts.items()},
        }

    def percentile(self, share: float) -> float:
        """Latency in milliseconds at ``share`` (0.5 = median); 0 without data."""
        if not self.latencies:
            return 0.0
        return percentile(sorted(self.latencies), share) * 1000

    def table(self) -> str:
        rate = self.messages / self.seconds if self.seconds else 0.0
        fleet = ", ".join(f"{label}: {count}" for label, count in sorted(self.versions.items()))
        lost = f"{self.connections_lost}, reconnects failed {self.reconnects_failed}"
        if self.not_back:  # what fails the run, said beside the figures it comes from
            lost += f" ({self.not_back} stations not back at the end: a failure)"
        rows = [
            ("stations connected", f"{self.connected} / {self.stations}"),
            ("fleet by version", fleet),  # planned: beside the count it read as connected
            ("stations connected at the end", f"{self.live}"),
            ("connections lost", lost),
            ("charging sessions", f"{self.sessions}"),
            ("sessions running at the end", f"{self.sessions_running}"),
            ("messages (calls answered)", f"{self.messages}"),
            ("of which interval heartbeats", f"{self.interval_heartbeats}"),
            ("of which sent again", f"{sum(self.retried.values())}"),
            *self._sends_row(),
            ("reboots (Reset)", f"{self.reboots}"),
            ("duration", f"{self.seconds:.1f} s{self._how_it_ended()}"),
            ("throughput", f"{rate:,.0f} msg/s"),
            ("latency p50", f"{self.percentile(0.50):.2f} ms"),
            ("latency p99", f"{self.percentile(0.99):.2f} ms"),
            ("latency max", f"{max(self.latencies, default=0.0) * 1000:.2f} ms"),
            ("answered NotSupported", f"{sum(self.not_supported.values())} (not errors)"),
            ("unanswered at the end", f"{sum(self.unanswered.values())}"),
            ("not sent (queued at the end)", f"{sum(self.not_sent.values())}"),
            ("still queued at the end", f"{sum(self.still_queued.values())}"),
            ("errors", f"{sum(self.errors.values())}"),
        ]
        kinds = [  # each by kind, below its row
            self.not_supported,
            self.unanswered,
            self.not_sent,
            self.still_queued,
            self.errors,
        ]
        width = max(len(label) for label, _ in rows)
        lines = [f"{label.ljust(width)}  {value}" for label, value in rows[: -len(kinds)]]
        for (label, value), counts in zip(rows[-len(kinds) :], kinds, strict=True):
            lines.append(f"{label.ljust(width)}  {value}")
            lines += _by_kind(counts)
        return "\n".join(lines)

    def _sends_row(self) -> list[tuple[str, str]]:
        """The row of the SENDs, in a fleet with 2.1 stations (the only ones that send any; the
        table of a 1.6 or 2.0.1 run stays as it was), with the streams the CSMS refused when it
        refused any (why fewer SENDs, or none, went out)."""
        if not self.versions.get("2.1") and not self.sends:
            return []
        refused = f" (streams refused {self.streams_refused})" if self.streams_refused else ""
        return [("SENDs (never answered)", f"{self.sends}{refused}")]

    def _how_it_ended(self) -> str:
        """The duration's note: a run of no end (``--duration inf``), stopped, ran until
        stopped, as it was asked to; ``stopped early`` there said it missed an end it never
        had."""
        if not self.stopped_early:
            return ""
        return (
            " (until stopped: no end was set)" if math.isinf(self.duration) else " (stopped early)"
        )


def _by_kind(counts: Counter[str]) -> list[str]:
    """One line per kind, most frequent first: a cause of many stations is seen at once."""
    kinds = counts.most_common()
    digits = max((len(str(count)) for _, count in kinds), default=0)
    return [f"  {count:>{digits}}  {kind}" for kind, count in kinds]
