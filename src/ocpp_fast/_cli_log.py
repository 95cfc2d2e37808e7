"""The log lines of ``ocpp-fast serve`` and ``ocpp-fast worker``: the command's own (its start,
its stop) and ocpp_fast's, in one format chosen by ``--log-format``.

An operator ships these lines to a collector (journald, a container runtime, Loki...), which
needs to know when each was written and how grave it is, whichever process of ``serve
--workers N`` wrote it; the command's own lines were bare prints, without either.

- ``text`` (the default, for a person): ``2026-12-03T08:41:07.215Z info CS42: connected
  (ocpp2.0.1)``: the time in UTC (ISO 8601, milliseconds), the level, the message; a traceback
  follows on lines of its own, each begun with a tab, as is every other line a record's text
  breaks into (a frame's, a message's): only a record's first line begins with its time.
- ``json`` (for a collector): one object per line, ``{"time": ..., "level": "info", "logger":
  "ocpp_fast.transport", "message": ..., "pid": 4242, "identity": "CS42"}``: the record's
  structured fields (``identity``, ``action``, ``message_id``, ``code``, ``reason``... the
  ``extra=`` of each of ocpp_fast's records) as keys, a traceback as ``traceback``.

A failure to start (a port in use, an APP that does not load, an ``on_startup`` that raised) is
one line in the same format on stderr, at ERROR, and the command exits with code 2: a collector
reading JSON got a bare ``ocpp-fast serve: error: ...`` it could not parse, naming no process.
``ocpp-fast simulate`` writes ocpp_fast's warnings and errors to stderr in the same format too,
above its progress line (:func:`log_to`'s ``above_progress``). The warnings and errors of a
logger nobody set up (an APP's that configures no logging), which Python writes bare on stderr,
are written there in the format as well.

Under ``serve --workers N`` each line names its process: ``[process 1 of 4, pid 4242]`` after
the time (``"process": "process 1 of 4"`` in JSON), and the supervisor's own lines
``[supervisor, pid 4240]``. The slot (0 to N - 1) is the one the supervisor names when it
restarts a process, and the one added to ``--metrics-port``; the pid tells two lives of one
slot apart.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from ocpp_fast._frame_log import frame_text
from ocpp_fast._log_text import continued

__all__ = [
    "LOG_FORMATS",
    "SUPERVISOR",
    "add_log_format_argument",
    "command_log",
    "failed_before_logging",
    "log_to",
    "process_name",
    "startup_failed",
]

LOG_FORMATS = ("text", "json")

command_log = logging.getLogger("ocpp_fast.cli")
"""The command's own lines (its start, its stop, the supervisor's restarts): INFO and up
whatever ``--log-level`` says, as an operator needs them even with ``--quiet``."""

_ON_STDERR = "_ocpp_fast_on_stderr"
"""The mark of a record :func:`startup_failed` wrote: on stderr, whatever stream the others use."""

_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    _ON_STDERR,
}
"""What every record has (and the mark above); the rest of a record's attributes are the
``extra=`` of its call."""


def add_log_format_argument(parser: argparse.ArgumentParser) -> None:
    """``--log-format text|json``, for ``serve``, ``worker`` and ``simulate`` alike."""
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="text: a line per record, with its UTC time and level; json: one object per "
        "line, with the record's fields (identity, action...) as keys",
    )


def _utc(record: logging.LogRecord) -> str:
    """The record's time in UTC, ISO 8601 to the millisecond: ``2026-12-03T08:41:07.215Z``."""
    moment = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{moment}.{int(record.msecs):03d}Z"


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _plain(value: Any) -> Any:
    """``value`` if JSON holds it as it is (a string, a number, a bool, null), else its text."""
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def _frame_message(record: logging.LogRecord) -> str | None:
    """A frame's record's message as ``CS42 < [2,"1","Heartbeat",{}]``, readable (the message
    of ``ocpp_fast.frames`` shows the frame's ``repr``, ``b'...'``), in the form
    :func:`~ocpp_fast._frame_log.frame_text` gives: no line of it reads as a record. ``None``
    for a record of no frame."""
    frame = getattr(record, "frame", None)
    if record.name != "ocpp_fast.frames" or frame is None:
        return None
    fields = record.__dict__
    text = frame_text(_text(frame), bool(fields.get("cut")))
    return f"{fields['identity']} {fields['direction']} {text}"


def _message(record: logging.LogRecord) -> str:
    """The record's message; a frame's as :func:`_frame_message` writes it."""
    framed = _frame_message(record)
    return record.getMessage() if framed is None else framed


class _TextLines(logging.Formatter):
    """``<time> [<process>] <level> <message>``, the process only when one is named; the lines
    of a traceback, and any other line a record's text breaks into, begin with
    :data:`~ocpp_fast._log_text.LINE_CONTINUED` (a frame's in :func:`_frame_message`): an
    exception quoting a station's field (``ValueError: unknown vendor <the station's text>``)
    wrote a line break and then a line of the station's own, read as the server's record."""

    def __init__(self, process: str | None) -> None:
        super().__init__()
        self._process = process

    def format(self, record: logging.LogRecord) -> str:
        who = f" [{self._process}, pid {record.process}]" if self._process else ""
        message = _frame_message(record)
        if message is None:
            message = continued(record.getMessage())
        below = ""
        if record.exc_info:
            below += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            below += "\n" + self.formatStack(record.stack_info)
        return f"{_utc(record)}{who} {record.levelname.lower()} {message}{continued(below)}"


class _JsonLines(logging.Formatter):
    """One JSON object per record: the time, level, logger and message, the pid (and the
    process of ``--workers N``), then the record's own fields (never over those)."""

    def __init__(self, process: str | None) -> None:
        super().__init__()
        self._process = process

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _message(record),
            "pid": record.process,
        }
        if self._process:
            line["process"] = self._process
        for name, value in record.__dict__.items():
            if name not in _RECORD_ATTRIBUTES and name not in line:
                line[name] = _text(value) if isinstance(value, bytes) else value
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # default=str: a field no JSON type holds (an enum, a path) is written as its text;
        # one that still fails (a mapping with keys no JSON key takes, a cycle) is written as
        # its text too, rather than the whole line being lost to an error inside logging
        try:
            return json.dumps(line, default=str)
        except (TypeError, ValueError):
            return json.dumps({name: _plain(value) for name, value in line.items()})


class _AboveProgress(logging.StreamHandler[TextIO]):
    """A handler writing each line over a terminal's progress line (``simulate``'s, drawn with
    ``\\r`` and no newline, on the same stream): the line is cleared first, else the record
    would start in the middle of it. The next progress tick draws it again below."""

    def format(self, record: logging.LogRecord) -> str:
        return "\r\x1b[K" + super().format(record)


def _on_stderr(record: logging.LogRecord) -> bool:
    return bool(getattr(record, _ON_STDERR, False))


def _elsewhere(record: logging.LogRecord) -> bool:
    return not _on_stderr(record)


def log_to(
    stream: TextIO,
    level: str,
    log_format: str,
    *,
    process: str | None = None,
    frames: bool = False,
    above_progress: bool = False,
) -> Callable[[], None]:
    """ocpp_fast's lines and the command's on ``stream``, in ``log_format``, ``process`` named
    in each; a failure to start (:func:`startup_failed`) on stderr in the same format.

    The warnings and errors of a logger nobody set up (an APP's that configures no logging,
    asyncio's), which Python writes bare on stderr (``logging.lastResort``), are written in
    the format too, on stderr, from WARNING up as Python does: a bare ``app started`` had no
    time or level, broke a collector parsing ``--log-format json``, and under ``--workers N``
    the same line from N processes could not be told apart. An APP that configures its
    logging keeps its format: Python's last resort, and so this, only writes a record no
    handler took. ocpp_fast's lines stop there: an APP that configures logging for its own
    lines (``logging.basicConfig`` at import) would otherwise print each of them twice, once
    here and once more through its root handler. ``above_progress``: ``stream`` is a terminal
    showing a progress line.

    Returns what undoes it all, for a command run by :func:`ocpp_fast.cli.main` in a process
    that goes on (a test, a script): its handlers stayed, writing each later line once more
    per run, to streams since closed, and with propagation off nothing reached the root's."""
    formatter = _JsonLines(process) if log_format == "json" else _TextLines(process)
    handler = _AboveProgress(stream) if above_progress else logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(_elsewhere)
    failures = logging.StreamHandler(sys.stderr)
    failures.setFormatter(formatter)
    failures.addFilter(_on_stderr)
    root = logging.getLogger("ocpp_fast")
    frames_log = logging.getLogger("ocpp_fast.frames")
    levels = [(logger, logger.level) for logger in (root, command_log, frames_log)]
    propagated = root.propagate
    last_resort = logging.lastResort
    # on stderr, as Python's; over simulate's progress line there, as ocpp_fast's lines are
    kind = _AboveProgress if above_progress else logging.StreamHandler
    unconfigured = kind(sys.stderr)
    unconfigured.setLevel(logging.WARNING)  # lastResort's: what Python shows of them
    unconfigured.setFormatter(formatter)
    logging.lastResort = unconfigured
    root.addHandler(handler)
    root.addHandler(failures)
    root.setLevel(level.upper())
    root.propagate = False
    command_log.setLevel(logging.INFO)
    frames_log.setLevel(logging.DEBUG if frames else logging.WARNING)

    def undo() -> None:
        logging.lastResort = last_resort
        root.removeHandler(handler)
        root.removeHandler(failures)
        root.propagate = propagated
        for logger, was in levels:
            logger.setLevel(was)

    return undo


def startup_failed(error: object) -> int:
    """Say that the command failed to start (why: ``error``) as one line on stderr, in the
    format :func:`log_to` set, at ERROR; the exit code to return, 2. The traceback, if any, is
    the caller's to log at DEBUG: a failure to start is a line an operator reads at once."""
    command_log.error("%s", error, extra={_ON_STDERR: True})
    return 2


def failed_before_logging(error: object, log_format: str) -> int:
    """:func:`startup_failed` for a command that failed before it set its logging up (an
    optional extra missing as its module was imported: ``worker`` without ``[cluster]``): the
    same line, in ``log_format``, where a bare ``ocpp-fast: ...`` print went out whatever the
    format. The logging is undone after (``main()`` may run in a process that goes on)."""
    undo = log_to(sys.stderr, "error", log_format)
    try:
        return startup_failed(error)
    finally:
        undo()


def process_name(slot: int, count: int) -> str:
    """How each line of process ``slot`` of ``serve --workers count`` names it: as the
    supervisor's line about its restart does (``process 1 of 4 (pid 4242) exited...``), so
    that one grep finds both, in either format."""
    return f"process {slot} of {count}"


SUPERVISOR = "supervisor"
"""How the lines of ``serve --workers N``'s parent process name it."""
