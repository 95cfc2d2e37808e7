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

The text log writes a frame as the station sent it, for a person to read, yet a station must
not be able to write log lines of its own with it: :func:`frame_text` starts each line the
frame's own line breaks open with :data:`FRAME_LINE_CONTINUED` (so none reads as a record of
the log: a ``connected (ocpp1.6)`` line, another station's frame), and writes
:data:`FRAME_WHOLE_MARK` after a whole frame that ends as if marked, so that no frame reads as
cut but one the log cut; :func:`read_frame_text` undoes both, to the frame's exact text.
"""

from __future__ import annotations

import functools
import logging
import os
import re

from ocpp_fast._log_text import LINE_CONTINUED, continued

__all__ = [
    "DEFAULT_FRAME_LOG_CHARS",
    "FRAME_CUT_MARK",
    "FRAME_LINE_CONTINUED",
    "FRAME_LOG_ENVIRONMENT",
    "FRAME_WHOLE_MARK",
    "debug_enabled",
    "frame_log_limit",
    "frame_text",
    "frames_log",
    "log_frame",
    "read_frame_text",
    "set_frame_log_limit",
]

frames_log = logging.getLogger("ocpp_fast.frames")
debug_enabled = functools.partial(frames_log.isEnabledFor, logging.DEBUG)
"""Whether frames are logged now."""

DEFAULT_FRAME_LOG_CHARS = 500
FRAME_LOG_ENVIRONMENT = "OCPP_FAST_FRAME_LOG_CHARS"
FRAME_CUT_MARK = " [cut]"
"""What the command's text log writes after a frame the log cut."""
FRAME_WHOLE_MARK = " [whole]"
"""What the text log writes after a whole frame that ends with a mark (a station's broken
frame can: no JSON does), as a string escapes its quote: read as cut, such a frame passed
``validate``."""
FRAME_LINE_CONTINUED = LINE_CONTINUED
"""What the text log writes after each line break of a frame (CR, LF, CR LF), as after those
of any record (:func:`~ocpp_fast._log_text.continued`)."""

_LINE_CONTINUED = re.compile(rb"(\r\n?|\n)" + re.escape(FRAME_LINE_CONTINUED.encode()))
_MARKS = (FRAME_CUT_MARK, FRAME_WHOLE_MARK)
_CUT, _WHOLE = (mark.encode() for mark in _MARKS)


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


def frame_text(frame: str, cut: bool) -> str:
    """``frame`` as the command's text log writes it (``cut``: the log cut it), so that it
    stays within its record: see the module's docstring."""
    text = continued(frame)
    if cut:
        return text + FRAME_CUT_MARK
    return text + FRAME_WHOLE_MARK if text.endswith(_MARKS) else text


def read_frame_text(text: bytes) -> tuple[bytes, bool]:
    """The frame :func:`frame_text` wrote as ``text`` (the lines of its record joined, the last
    one's end removed), and whether the log cut it. A log written before the marks and the
    continuation reads as it is, but for a tab after a line break in a frame: in a string, a
    line break is no JSON anyway, and whitespace elsewhere changes nothing."""
    cut = text.endswith(_CUT)
    text = text.removesuffix(_CUT if cut else _WHOLE)
    return _LINE_CONTINUED.sub(rb"\1", text), cut
