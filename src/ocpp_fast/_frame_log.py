"""One DEBUG line per frame, on a logger of its own: ``ocpp_fast.frames``.

An application (or ``ocpp-fast serve``) turns frame logging on by that name
without turning on everything else ocpp_fast logs; the record carries
``identity``, ``direction`` ("<" in, ">" out) and ``frame`` as attributes. The
check is made once per frame, so a busy backend with frames off pays one call.
"""

from __future__ import annotations

import functools
import logging

__all__ = ["debug_enabled", "frames_log", "log_frame"]

frames_log = logging.getLogger("ocpp_fast.frames")
debug_enabled = functools.partial(frames_log.isEnabledFor, logging.DEBUG)
"""Whether frames are logged now."""


def log_frame(direction: str, identity: str, frame: bytes | str) -> None:
    """Log one frame (call it only when :func:`debug_enabled`); at most 500 characters."""
    frames_log.debug(
        "%s %s %r",
        identity,
        direction,
        frame[:500],
        extra={"identity": identity, "direction": direction, "frame": frame[:500]},
    )
