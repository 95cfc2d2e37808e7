"""What ocpp_fast logs, and the settings of its logs (``docs/reference/logging-and-metrics.md``
lists every event).

Every record about a station carries ``identity`` (and, where they apply,
``action``, ``message_id``, ``code``, ``peer``, ``reason``) as attributes, for a
structured (JSON) handler; the message itself starts with the identity, for grep.
"""

from __future__ import annotations

from ocpp_fast._frame_log import (
    DEFAULT_FRAME_LOG_CHARS,
    FRAME_LOG_ENVIRONMENT,
    frame_log_limit,
    set_frame_log_limit,
)

__all__ = [
    "DEFAULT_FRAME_LOG_CHARS",
    "FRAME_LOG_ENVIRONMENT",
    "LOGGERS",
    "frame_log_limit",
    "set_frame_log_limit",
]

LOGGERS = {
    "ocpp_fast": "the protocol and dispatch: bad frames, handler failures, timeouts",
    "ocpp_fast.frames": "one DEBUG line per frame in and out",
    "ocpp_fast.transport": "connections: connected, disconnected, reconnecting, caps",
    "ocpp_fast.transport.refusals": "each refused handshake (WARNING)",
    "ocpp_fast.transport.picows": "picows' own lines (WARNING and up unless lowered)",
    "ocpp_fast.transport.websockets": "websockets' own lines (WARNING and up unless lowered)",
    "ocpp_fast.cluster": "gateways, workers and the registry",
    "ocpp_fast.demo": "serve --call-stations: the demo CSMS's calls to stations, and answers",
    "ocpp_fast.cli": "the ocpp-fast command's own lines: its start, its stop, restarts",
}
"""Every logger ocpp_fast writes to, and what it says."""
