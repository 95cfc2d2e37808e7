"""Metrics an operator can scrape (extra ``ocpp-fast[metrics]``: prometheus-client).

``serve(..., metrics_port=9100)`` (or ``ocpp-fast serve --metrics-port 9100``)
serves them over HTTP; a station's :class:`~ocpp_fast.transport.StationClient`
can take the same object for its queue. Each series is cheap to update: a
connection without metrics pays one ``is None`` check per frame.

- ``ocpp_stations_connected{version}``: stations connected now;
- ``ocpp_connections_total{version}``: stations admitted, each connection once (a station
  reconnecting again and again shows here, not in the gauge above);
- ``ocpp_disconnections_total{cause}``: connections ended, by cause (station, csms, lost,
  replaced, shutdown: :func:`ocpp_fast.transport._lifecycle.disconnect_cause`);
- ``ocpp_messages_total{direction, kind, action}``: frames in and out (kind: call,
  result, error, send);
- ``ocpp_errors_total{direction, code}``: CALLERRORs sent (out) and received (in);
- ``ocpp_deviations_total{kind}``: deviations repaired under a tolerance policy;
- ``ocpp_handler_seconds{action}``: how long handlers take (histogram; on a cluster's gateway
  forwarding every CALL to workers, ``ocpp_cluster_forward_seconds{action}``: the round trip);
- ``ocpp_queued_messages``: transaction messages waiting in a station's queue (a station
  with a queue only);
- ``ocpp_handshakes_refused_total{reason}``: stations turned away at the handshake (reason:
  one of :class:`ocpp_fast.transport._refusals.Reason`, e.g. ``unauthorized``);
- ``ocpp_slow_handlers_total{action}``: handlers still running after ``Limits.slow_handler``;
- ``ocpp_loop_blocked_total`` and ``ocpp_loop_blocked_seconds_total``: times the event loop
  was blocked longer than ``Limits.loop_blocked`` (:mod:`ocpp_fast.transport._loopwatch`),
  and for how long in all (added as each block ends).

The series live in a registry of their own (not prometheus-client's global
one), so two servers in one process, or a test, never collide; it serves the process's
standard series too (``process_*``, ``python_gc_*``, ``python_info``), as the global one
does. Counting is plain Python arithmetic in the loop's thread; prometheus-client only reads the
figures when ``/metrics`` is scraped (a custom collector): its own counters
take a lock per increment, which cost about 2.5 µs per message here. The counts are
``defaultdict(int)`` (a C type; ``Counter``'s ``+=`` costs a third more), but for what
the dispatch path counts per CALL it answers (the CALL in, the CALLRESULT out, the
handler's time) and per SEND it takes (the SEND in, the handler's time): those go to a
per-action cell (:mod:`ocpp_fast._metric_cells`) that the compiled path writes in C,
without a Python call, and are added in when read.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ocpp_fast._extras import require
from ocpp_fast._metric_cells import (
    BINS,
    BUCKETS,
    CALLS_IN,
    RESULTS_OUT,
    SENDS_IN,
    SUM,
    new_cell,
    observe,
)

if TYPE_CHECKING:
    from ocpp_fast.transport._health import Health

require("prometheus_client", "ocpp_fast.metrics")

from prometheus_client import (  # noqa: E402
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    make_wsgi_app,
)
from prometheus_client.core import (  # noqa: E402
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector  # noqa: E402

__all__ = ["BUCKETS", "HANDLER_SERIES", "Metrics"]

HANDLER_SERIES = ("ocpp_handler_seconds", "Time handlers take to answer")
"""The name and help of the histogram of handler times (:attr:`Metrics.handler_series`)."""


_STANDARD_COLLECTORS = (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR)
"""What prometheus-client's global registry serves and an operator's dashboards expect of any
process (``process_open_fds`` against ``process_max_fds``, the limit a fleet's sockets run
into; ``process_resident_memory_bytes``, ``process_cpu_seconds_total``; ``python_gc_*``;
``python_info``): in the registry of our own too, which would otherwise serve only our series.
A registry passed in is the caller's, left as it is (the global one has them already)."""


class Metrics:
    """The figures of one server (or station), in one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        if registry is None:
            registry = CollectorRegistry()
            for standard in _STANDARD_COLLECTORS:
                registry.register(standard)
        self.registry = registry
        self._frames: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        """``(direction, kind, action)`` -> frames, but for the cells' (see :attr:`frames`)."""
        self.errors: defaultdict[tuple[str, str], int] = defaultdict(int)
        """``(direction, code)`` -> CALLERRORs."""
        self.deviations: defaultdict[str, int] = defaultdict(int)
        self.refusals: defaultdict[str, int] = defaultdict(int)
        """reason -> handshakes refused."""
        self.stations: defaultdict[str, int] = defaultdict(int)
        """OCPP version -> stations connected now."""
        self.connections: defaultdict[str, int] = defaultdict(int)
        """OCPP version -> connections admitted."""
        self.disconnections: defaultdict[str, int] = defaultdict(int)
        """cause -> connections ended."""
        self.slow_handlers: defaultdict[str, int] = defaultdict(int)
        """action -> handlers still running after ``Limits.slow_handler`` seconds."""
        self.loop_blocks: int = 0
        """Times the event loop was blocked past ``Limits.loop_blocked`` (counted by the
        watch's thread, the only writer)."""
        self.loop_blocked_seconds: float = 0.0
        """Seconds those blocks lasted, each added once it ended."""
        self.zeros: dict[str, tuple[str, ...]] = {}
        """series -> the label values shown at 0 until counted (:meth:`expect`)."""
        self.queued: int | None = None
        """Transaction messages waiting in a station's queue (set by its owner); ``None``
        where no queue is watched (a CSMS), and the series is then not exposed."""
        self.handler_series = HANDLER_SERIES
        """The name and help under which the handler times are exposed. What is timed is from
        a CALL's dispatch to its answer: a cluster's gateway whose every CALL is forwarded to
        the workers times the round trip to them, and exposes it under a name of its own
        (:meth:`ocpp_fast.cluster.Gateway.measure`), so that ``ocpp_handler_seconds`` is
        always a handler's own time (the worker's, there)."""
        self.cells: dict[str, array[float]] = {}
        """action -> its cell (:mod:`ocpp_fast._metric_cells`): handler times, and the CALLs
        the dispatch path answered and the SENDs it took; made by :meth:`cell`, written in
        place."""
        self._server: Any = None
        self.registry.register(_Exposition(self))
        self._exposition = make_wsgi_app(self.registry)
        """prometheus-client's answer to a scrape (text or OpenMetrics, gzip when asked)."""

    def serve_http(self, port: int, host: str = "127.0.0.1", health: Health | None = None) -> int:
        """Serve ``/metrics`` on ``port`` (0: any free one) in a thread; return the port.

        With ``health`` (as ``serve(metrics_port=...)`` passes), the same port answers the
        probes ``/healthz`` and ``/readyz`` too (:mod:`ocpp_fast.transport._health`).
        """
        from ocpp_fast.transport._health import operations_app, serve_operations

        self.stop_http()
        self._server = serve_operations(host, port, operations_app(health, self._exposition))
        bound: int = self._server.server_address[1]
        return bound

    def stop_http(self) -> None:
        """Stop serving ``/metrics``."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    # --- what the protocol, the asyncio layer and the transport report ---------------------

    @property
    def frames(self) -> defaultdict[tuple[str, str, str], int]:
        """``(direction, kind, action)`` -> frames, the cells' counts added in: a copy."""
        counts = defaultdict(int, self._frames)
        for action, cell in list(self.cells.items()):
            calls, results, sends = cell[CALLS_IN], cell[RESULTS_OUT], cell[SENDS_IN]
            if calls:
                counts["in", "call", action] += int(calls)
            if results:
                counts["out", "result", action] += int(results)
            if sends:
                counts["in", "send", action] += int(sends)
        return counts

    def frame(self, direction: str, kind: str, action: str) -> None:
        self._frames[direction, kind, action] += 1

    def error(self, direction: str, code: str, action: str = "") -> None:
        """A CALLERROR; ``action`` is the CALL's it answers, "" when unknown (callers pass
        only actions of the version, so a peer cannot grow the series)."""
        self._frames[direction, "error", action] += 1
        self.errors[direction, code] += 1

    def deviation(self, kind: str) -> None:
        self.deviations[kind] += 1

    def refused(self, reason: str) -> None:
        self.refusals[reason] += 1

    def cell(self, action: str) -> array[float]:
        """The cell of ``action``, made at its first use (one per action of the version, as
        callers pass no other: bounded)."""
        cell = self.cells.get(action)
        if cell is None:
            cell = self.cells[action] = new_cell()
        return cell

    def handled(self, action: str, seconds: float) -> None:
        observe(self.cell(action), seconds)

    def expect(self, series: str, values: Iterable[str]) -> None:
        """Show ``series`` (``ocpp_stations_connected``, whose versions
        ``ocpp_connections_total`` shares, ``ocpp_disconnections_total``,
        ``ocpp_handshakes_refused_total``)
        at 0 for each of ``values`` until they are counted: a server's versions and refusal
        reasons are known at its start, and a series born at its first count hides that count
        from ``rate()`` and ``increase()`` (the first bad password, alerted on), and leaves
        a fresh CSMS's panel of stations online empty where it should read 0."""
        self.zeros[series] = tuple(values)

    def with_zeros(self, series: str, counts: dict[str, int]) -> dict[str, int]:
        return dict.fromkeys(self.zeros.get(series, ()), 0) | counts

    def connected(self, version: str) -> None:
        self.stations[version] += 1
        self.connections[version] += 1

    def disconnected(self, version: str, cause: str) -> None:
        self.stations[version] -= 1
        self.disconnections[cause] += 1

    def slow_handler(self, action: str) -> None:
        """A handler of ``action`` still running after ``Limits.slow_handler`` seconds (an
        action of the version: its CALL was dispatched, so the series stays bounded)."""
        self.slow_handlers[action] += 1

    def loop_blocked(self) -> None:
        """The event loop has been blocked past ``Limits.loop_blocked`` (one episode)."""
        self.loop_blocks += 1

    def loop_resumed(self, seconds: float) -> None:
        """A block counted by :meth:`loop_blocked` ended after ``seconds``."""
        self.loop_blocked_seconds += seconds

    def handler_times(self) -> dict[str, tuple[list[float], float]]:
        """action -> (per-bucket counts, +Inf last; sum of seconds): a copy, of the actions
        whose handlers ran."""
        times = {}
        for action, cell in list(self.cells.items()):
            figures = cell.tolist()
            if any(figures[:BINS]):
                times[action] = (figures[:BINS], figures[SUM])
        return times


class _Exposition(Collector):
    """Reads the figures when ``/metrics`` is scraped (from prometheus-client's thread:
    each copy of a dict is one C call under the GIL)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Any]:
        m = self._metrics
        stations = GaugeMetricFamily(
            "ocpp_stations_connected", "Stations connected now", labels=["version"]
        )
        for version, count in m.with_zeros("ocpp_stations_connected", m.stations).items():
            stations.add_metric([version], count)
        yield stations
        yield _counter(
            "ocpp_connections",
            "Station connections admitted, by OCPP version",
            "version",
            m.with_zeros("ocpp_stations_connected", m.connections),
        )
        yield _counter(
            "ocpp_disconnections",
            "Station connections ended, by cause",
            "cause",
            m.with_zeros("ocpp_disconnections_total", m.disconnections),
        )
        frames = CounterMetricFamily(
            "ocpp_messages",
            "OCPP-J frames received (in) and sent (out)",
            labels=["action", "direction", "kind"],
        )
        for (direction, kind, action), count in list(m.frames.items()):
            frames.add_metric([action, direction, kind], count)
        yield frames
        errors = CounterMetricFamily(
            "ocpp_errors",
            "CALLERRORs sent (out) and received (in), by code",
            labels=["code", "direction"],
        )
        for (direction, code), count in list(m.errors.items()):
            errors.add_metric([code, direction], count)
        yield errors
        yield _counter(
            "ocpp_deviations",
            "Deviations accepted and repaired under a tolerance policy",
            "kind",
            m.deviations,
        )
        yield _counter(
            "ocpp_handshakes_refused",
            "Stations turned away at the WebSocket handshake, by reason",
            "reason",
            m.with_zeros("ocpp_handshakes_refused_total", m.refusals),
        )
        yield _counter(
            "ocpp_slow_handlers",
            "Handlers still running after Limits.slow_handler seconds, by action",
            "action",
            m.slow_handlers,
        )
        yield CounterMetricFamily(
            "ocpp_loop_blocked",
            "Times the event loop was blocked longer than Limits.loop_blocked",
            m.loop_blocks,
        )
        yield CounterMetricFamily(
            "ocpp_loop_blocked_seconds",
            "Seconds the event loop was blocked, in the blocks longer than Limits.loop_blocked",
            m.loop_blocked_seconds,
        )
        name, documentation = m.handler_series
        times = HistogramMetricFamily(name, documentation, labels=["action"])
        for action, (counts, total) in m.handler_times().items():
            cumulative, buckets = 0.0, []
            for bound, in_bucket in zip((*BUCKETS, float("inf")), counts, strict=True):
                cumulative += in_bucket
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            times.add_metric([action], buckets, total)
        yield times
        if m.queued is not None:
            yield GaugeMetricFamily(
                "ocpp_queued_messages",
                "Transaction messages waiting in a station's queue",
                m.queued,
            )


def _counter(name: str, documentation: str, label: str, counts: dict[str, int]) -> Any:
    """A counter family with one label, from ``label value -> count``."""
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, count in list(counts.items()):
        family.add_metric([value], count)
    return family
