"""One DEBUG line per frame, on a logger of its own: ``ocpp_fast.frames``.

An application (or ``ocpp-fast serve``) turns frame logging on by that name
without turning on everything else ocpp_fast logs; the record carries
``identity``, ``direction`` ("<" in, ">" out) and ``frame`` as attributes. The
check is made once per frame, so a busy backend with frames off pays one call.

Frames are cut at :func:`frame_log_limit` characters (500 unless set): a busy log
must not hold every 200 KB NotifyReport, but a GetConfiguration answer being
debugged must be seen whole, so the limit is a setting
(:func:`ocpp_fast.logs.set_frame_log_limit`, or ``OCPP_FAST_FRAME_LOG_CHARS`` in the
environment: a number, or ``all``). A frame cut says so: the record carries ``cut=True``
(``"cut": true`` in the JSON log of the command, :data:`FRAME_CUT_MARK` after the frame in its
text log), so a reader of the log (``ocpp-fast validate``) tells it from a station's broken
frame whatever limit the log was written with.
"""

from __future__ import annotations

import functools
import logging
import os

__all__ = [
    "DEFAULT_FRAME_LOG_CHARS",
    "FRAME_CUT_MARK",
    "FRAME_LOG_ENVIRONMENT",
    "debug_enabled",
    "frame_log_limit",
    "frames_log",
    "log_frame",
    "set_frame_log_limit",
]

frames_log = logging.getLogger("ocpp_fast.frames")
debug_enabled = functools.partial(frames_log.isEnabledFor, logging.DEBUG)
"""Whether frames are logged now."""

DEFAULT_FRAME_LOG_CHARS = 500
FRAME_LOG_ENVIRONMENT = "OCPP_FAST_FRAME_LOG_CHARS"
FRAME_CUT_MARK = " [cut]"
"""What the command's text log writes after a frame the log cut."""


def _limit_from(text: str | None) -> int | None:
    if text is None or not text.strip():
        return DEFAULT_FRAME_LOG_CHARS
    text = text.strip().lower()
    if text in ("all", "none", "0"):
        return None
    try:
        value = int(text)
    except ValueError:  # a typo in the environment must not stop the CSMS
        frames_log.warning("%s=%r is no number nor 'all': ignored", FRAME_LOG_ENVIRONMENT, text)
        return DEFAULT_FRAME_LOG_CHARS
    return value if value > 0 else None


_limit: int | None = _limit_from(os.environ.get(FRAME_LOG_ENVIRONMENT))


def set_frame_log_limit(chars: int | None) -> None:
    """Cut logged frames at ``chars`` characters; ``None`` (or 0) logs every frame whole."""
    global _limit
    if chars is not None and chars < 0:
        raise ValueError("chars must be positive, 0 or None")
    _limit = chars or None


def frame_log_limit() -> int | None:
    """Characters a logged frame is cut at (``None``: whole frames)."""
    return _limit


def log_frame(direction: str, identity: str, frame: bytes | str) -> None:
    """Log one frame (call it only when :func:`debug_enabled`), cut at the limit (the record
    then says ``cut=True``)."""
    extra: dict[str, object] = {"identity": identity, "direction": direction}
    if _limit is not None and len(frame) > _limit:
        frame = frame[:_limit]
        extra["cut"] = True
    extra["frame"] = frame
    frames_log.debug("%s %s %r", identity, direction, frame, extra=extra)
