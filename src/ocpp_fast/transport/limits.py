"""What one station may cost the CSMS: the limits of :func:`~ocpp_fast.transport.serve`.

A CSMS faces the internet, so every resource a station can make the server
hold is capped: handler tasks, connections, handshakes in progress, bytes
buffered for a peer that does not read. (Log lines caused by a peer are capped too,
by :mod:`ocpp_fast._ratelimit`: ``LOG_BURST`` per kind per ``LOG_INTERVAL``.) These limits are the
backend's contract: each transport backend applies the same :class:`Limits`.
The docs' "Limits and defaults" reference and "Hostile stations" explanation list
what a station gets beyond each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ocpp_fast.aio import CALLS_IN_FLIGHT

__all__ = ["DEFAULT_LIMITS", "DEFAULT_MAX_SIZE", "REPLACED_CLOSE_CODE", "Limits"]

DEFAULT_MAX_SIZE = 2**20
"""The largest message, in bytes (1 MiB), taken by default on either side: a station's by
:func:`~ocpp_fast.transport.serve` (``ocpp-fast serve --max-size``) and
:func:`~ocpp_fast.transport.memory.serve_in_memory`, the CSMS's by a station's
:func:`~ocpp_fast.transport.connect` and :class:`~ocpp_fast.transport.StationClient`. A
larger one closes the connection with 1009 (message too big). One constant, so that the two
sides and every carrier keep agreeing on what fits."""

REPLACED_CLOSE_CODE = 1008
"""Close code of a connection replaced by a newer one of the same station (policy violation:
one connection per identity)."""


@dataclass(frozen=True)
class Limits:
    """The caps of one server; the defaults suit a CSMS of some thousands of stations."""

    calls_in_flight: int = CALLS_IN_FLIGHT
    """Handlers running at once for one connection (OCPP-J allows one outstanding CALL;
    the rest is allowance). Beyond it the server stops reading that connection until one
    finishes."""
    handler_tasks: int = 10_000
    """Handlers running at once on the whole server; beyond it, connections wait likewise."""
    handler_grace: float = 10.0
    """Seconds the handlers of a station that disconnected may still run (in the
    background, the station already out of ``connections``) before they are cancelled."""
    slow_handler: float = 10.0
    """Seconds a handler may run before a WARNING names it (station, action, message id),
    once per CALL, while it still runs: a handler awaiting what never answers (a database
    down) is seen before the station gives up on its CALL (stations time out after tens of
    seconds) and long before ``handler_grace``. Found by one sweep per server every quarter
    of it, so said between this and one and a half times this; ``inf``: never."""
    loop_blocked: float | None = 1.0
    """Seconds the event loop may go without running anything else (a plain handler that
    blocks it: a driver that is not asyncio, a ``time.sleep``, heavy computing) before a
    WARNING says where it is blocked (the handler's function, file and line, its action,
    and its station when it takes a ``CallContext``), and another how long it lasted once it
    runs again; counted in ``ocpp_loop_blocked_total``. Watched from a thread of its own,
    one per loop (:mod:`~ocpp_fast.transport._loopwatch`), so nothing is added per CALL:
    said between this and this plus a tenth after the block began. ``None`` or 0: no
    watch."""
    max_connections: int = 10_000
    """Open connections (keep it below the process's file-descriptor limit); beyond it,
    HTTP 503."""
    spare_fds: int = 128
    """File descriptors kept free for the rest of the process (log files, NATS, the health
    and metrics endpoints, a handler's database): a connection accepted when the process's
    fd limit is closer than this is closed at once, before the next accept (each socket is
    counted as it is accepted, on asyncio's loop and on uvloop), so the server holds at most
    the limit less this and never runs into EMFILE while the rest of the process holds
    fewer (at EMFILE asyncio stops accepting for a second at a time)."""
    pending_handshakes: int = 256
    """TCP connections still in the opening handshake; beyond it, closed at once."""
    handshake_bytes: int = 16 * 1024
    """Bytes a station may send before its handshake is done (request line and headers);
    beyond it, closed at once."""
    handshake_timeout: float = 10.0
    """Seconds to finish the opening handshake (and the TLS one); then closed."""
    unread_output: int = 1 << 20
    """Bytes buffered for a station that sends but does not read (pongs of its pings, our
    answers); once over it, the next data it sends closes the connection."""
    routed_calls: int = 10_000
    """Calls to its stations that the cluster's clients (``ClusterClient.call``) have waiting
    at once on a gateway (each a task, queued behind the station's outstanding CALL until it
    answers or its timeout ends); beyond it, a routed call is refused at once and its caller
    gets :class:`~ocpp_fast.errors.TooManyRoutedCalls`."""

    def __post_init__(self) -> None:
        for name in (
            "calls_in_flight",
            "handler_tasks",
            "max_connections",
            "pending_handshakes",
            "handshake_bytes",
            "unread_output",
            "routed_calls",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"Limits.{name} must be at least 1")
        # A handshake_timeout of 0 (or -1, or nan) was taken: every station was logged refused
        # (handshake_timeout) and then connected, and its connection lost; a handler_grace or
        # spare_fds below 0 meant nothing either.
        if not 0 < self.handshake_timeout < math.inf:
            raise ValueError("Limits.handshake_timeout must be a number of seconds above 0")
        if not self.handler_grace >= 0:
            raise ValueError("Limits.handler_grace must be 0 or more (0: cancelled at once)")
        if self.spare_fds < 0:
            raise ValueError("Limits.spare_fds must be 0 or more")
        if not self.slow_handler > 0:
            raise ValueError("Limits.slow_handler must be above 0 (inf: never said)")
        if self.loop_blocked is not None and not self.loop_blocked >= 0:
            raise ValueError("Limits.loop_blocked must be 0 or more (None or 0: not watched)")


DEFAULT_LIMITS = Limits()
