"""``ocpp-fast validate``: check a log of frames, as a station sent them or a CSMS answered.

Testers replay what a real station sent, and the log that holds it is most often the command's
own: ``ocpp-fast serve --log-frames``. So the file is read line by line, each line told apart
by its own form (no flag):

- a frame line of the command's log, ``--log-format text`` (``<time> [<process>] debug CS42 <
  [2,...]``) or ``json`` (an object of the logger ``ocpp_fast.frames``): its frame is checked,
  with the station's identity and the direction (``<`` received, ``>`` sent) read from the line;
- a station's connection line (``CS42: connected (ocpp1.6)``): the version its frames after it
  are checked in, until it connects again (the demo CSMS serves every version on one port, so
  one log holds stations of several; ``--version`` is for a station with no such line); it is
  skipped and counted as the line below;
- another line of that log (the command's start, a station leaving): skipped, and counted;
  and a line that is no record, in a file that holds one, is skipped and counted too (a
  traceback's lines; the application's own lines, which it prints to the same stdout), but
  for the rest of a frame with a line break in it, in the text format: a line the log starts
  with a tab after the break, joined to the frame without it
  (:func:`~ocpp_fast._frame_log.read_frame_text`);
- any other line, in a file that holds no record: a frame on its own, one JSON array per
  line, as a proxy writes them.

The log cuts each frame at :func:`~ocpp_fast._frame_log.frame_log_limit` (500 characters unless
``OCPP_FAST_FRAME_LOG_CHARS`` says otherwise), and says so (``"cut": true``, or
:data:`~ocpp_fast._frame_log.FRAME_CUT_MARK` after the frame in text): such a frame is reported
as cut, not as a station's ``FormatViolation`` it never sent. A frame without the mark is the
station's whole frame, however long: the cut is not guessed from its length (as it was for the
logs written before the mark, by this process's own limit, a frame the station itself cut short
and logged whole passed as the log's cut).
"""

from __future__ import annotations

import json
import re
from collections.abc import Container, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from ocpp_fast import errors
from ocpp_fast._connected_line import connected_station
from ocpp_fast._frame_log import (
    FRAME_CUT_MARK,
    FRAME_LINE_CONTINUED,
    FRAME_LOG_ENVIRONMENT,
    FRAME_WHOLE_MARK,
    frames_log,
    read_frame_text,
)
from ocpp_fast._protocol_version import LABELS, ProtocolVersion, by_label
from ocpp_fast.tolerance import Tolerance
from ocpp_fast.transport.identity import IDENTITY_MAX_LENGTH

__all__ = ["validate"]

_TEXT_RECORD = re.compile(
    rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z(?: \[[^\]\n]*\])? ([a-z]+) ", re.ASCII
)
"""The start of a line of ``--log-format text``: the UTC time, the process (under ``--workers
N``), the level (:class:`ocpp_fast._cli_log._TextLines`)."""

_TEXT_DIRECTION = re.compile(rb"(?= ([<>]) )")
"""Where the identity may end, on a frame's line (``debug CS42 < ...``): before the direction
and the space after it (each place, those that overlap included)."""

_NO_IDENTITY = re.compile(rb"[:\r\n]")
"""What no identity holds (:func:`~ocpp_fast.transport.identity.parse_identity`)."""

_IDENTITY_BYTES = IDENTITY_MAX_LENGTH * 4
"""The most bytes an identity takes in UTF-8."""

_JSON_RECORD_KEYS = frozenset({"time", "level", "logger", "message"})
"""What every line of ``--log-format json`` holds (:class:`ocpp_fast._cli_log._JsonLines`)."""

TRUNCATED = "truncated in the log"
"""What is said of a frame the log cut (and, in the summary, how many)."""


class Entry(NamedTuple):
    """One frame of the file, or one log line that is none (``frame`` ``None``)."""

    number: int
    """The line it starts on (1 for the first)."""
    frame: bytes | None = None
    identity: str | None = None
    """The station's, for a frame of the command's log; ``None`` on a plain line."""
    direction: str | None = None
    """``<`` received from the station, ``>`` sent to it; ``None`` on a plain line."""
    version: str | None = None
    """On a station's connection line (no frame), the label of the version it negotiated."""
    cut: bool = False
    """Whether the log says it cut the frame."""


def _record(line: bytes, number: int, known: Container[str] = ()) -> Entry | None:
    """The log record ``line`` is (a frame's or another's), or ``None`` if it is no record;
    ``known``: the identities of the stations connected before (see :func:`_frame_line`)."""
    if line.startswith(b"{"):
        try:
            fields: Any = json.loads(line)
        except ValueError:
            return None
        if not isinstance(fields, dict) or not fields.keys() >= _JSON_RECORD_KEYS:
            return None
        identity, direction, frame = (fields.get(k) for k in ("identity", "direction", "frame"))
        if fields["logger"] == frames_log.name and direction in ("<", ">") and frame is not None:
            cut = fields.get("cut") is True
            return Entry(number, str(frame).encode(), str(identity), direction, cut=cut)
        return _connection(str(fields["message"]), number)
    text = _TEXT_RECORD.match(line)
    if text is None:
        return None
    if text.group(1) == b"info":
        return _connection(line[text.end() :].rstrip(b"\r\n").decode("utf-8", "replace"), number)
    on_frame = _frame_line(line, text.end(), known) if text.group(1) == b"debug" else None
    if on_frame is None:
        return Entry(number)
    identity, direction, start = on_frame
    return Entry(number, line[start:], identity, direction)


def _frame_line(line: bytes, start: int, known: Container[str]) -> tuple[str, str, int] | None:
    """The identity, the direction and where the frame starts, of a text frame line whose
    message starts at ``start``; ``None`` if it is no frame's. An identity holds no ``:`` (so
    no other debug line of ocpp_fast reads as a frame's), but may hold `` < `` or `` > ``
    (``CS001 < x`` is printable), so the line's first direction may be in the identity:
    the identity is the longest that a connection line named (in ``known``), else the shortest
    (the line of ``CS001 < x`` read as CS001's frame ``x < [2,...]`` was CS001's, invalid)."""
    longest = start + _IDENTITY_BYTES  # the search stops there: a frame's " < " are many
    stop = _NO_IDENTITY.search(line, start, longest)
    found = None
    for end in _TEXT_DIRECTION.finditer(line, start + 1, (stop.start() if stop else longest) + 3):
        identity = line[start : end.start()].decode("utf-8", "replace")
        if found is None or identity in known:
            found = identity, end.group(1).decode(), end.start() + 3
    return found


def _connection(message: str, number: int) -> Entry:
    """The entry of a log line that holds no frame: with the station and its version if
    ``message`` says a station connected."""
    connected = connected_station(message)
    if connected is None:
        return Entry(number)
    return Entry(number, identity=connected[0], version=connected[1])


def entries(data: bytes) -> Iterator[Entry]:
    """The frames and other log lines of ``data``, in order (blank lines skipped)."""
    record: Entry | None = None  # the last record of the log, yielded once its lines are read
    joins = False  # whether a line that is no record goes on with record's frame (text format)
    known: set[str] = set()  # the stations connected, whose identities a frame line may hold
    lines = data.splitlines(keepends=True)
    a_log: bool | None = None  # whether ``data`` is a log (holds a record), once asked
    for number, line in enumerate(lines, 1):
        new = _record(line, number, known)
        if new is not None and new.version is not None and new.identity is not None:
            known.add(new.identity)
        if new is None and record is not None:  # a line of the record above
            if joins and _goes_on(record.frame or b"", line):
                record = record._replace(frame=(record.frame or b"") + line)
            elif line.strip():
                yield Entry(number)
            continue
        if record is not None:
            yield _ended(record, joins)
        record = new
        joins = new is not None and new.frame is not None and not line.startswith(b"{")
        if new is None and line.strip():
            if a_log is None:
                a_log = any(_record(later, 0) is not None for later in lines[number:])
            # before the log's first record, a line of the application's own (printed to
            # the same stdout) is one of its other lines; in a file of frames, a frame
            yield Entry(number) if a_log else Entry(number, line.rstrip(b"\r\n"))
    if record is not None:
        yield _ended(record, joins)


def _goes_on(frame: bytes, line: bytes) -> bool:
    """Whether ``line``, no record, is the rest of the text log's ``frame`` above it: it starts
    with the tab the log writes after a frame's line break. Without it, it is a line of
    another writer to the same stdout (the application's own log), unless ``frame`` is no
    whole JSON yet, unmarked: a log written before the tab, whose frame went on bare."""
    if line.startswith(FRAME_LINE_CONTINUED.encode()):
        return True
    frame = frame.rstrip(b"\r\n")
    if frame.endswith((FRAME_CUT_MARK.encode(), FRAME_WHOLE_MARK.encode())):
        return False
    try:
        json.loads(frame)
    except ValueError:
        return True
    return False


def _ended(record: Entry, text: bool) -> Entry:
    """``record`` with its frame as the station sent it: in text, without the end of the line
    it was read from, nor what the log writes around it (the mark of a frame it cut, which a
    JSON frame may hold: it is the station's)."""
    if record.frame is None or not text:
        return record
    frame, cut = read_frame_text(record.frame.removesuffix(b"\n").removesuffix(b"\r"))
    return record._replace(frame=frame, cut=cut)


_ANSWERED_BY = {"<": ">", ">": "<", None: None}
"""The direction of the answers to a CALL sent in each (on a plain line, one file-wide)."""


def validate(path: Path, label: str, policy: Tolerance, identity: str | None = None) -> int:
    """Check the frames of ``path`` (``identity``: only that station's), each reported on its
    line, in the version of its station's latest connection line before it (``label`` for a
    station the log holds none of, and for plain lines); CALLRESULTs are judged against the
    action of the CALL with the same id earlier in the log, from the same station the other
    way since its latest connection line (the ids are a connection's). With ``policy``, a frame
    it accepts is reported with each deviation it would repair. Exit code 1 if a frame is
    invalid, or if ``identity`` has no frame in the log (a misspelt station checked nothing, and
    a CI job would have passed); a frame the log cut is reported but is none: what the station
    sent is unknown."""
    from ocpp_fast import codec
    from ocpp_fast.tolerance import retry

    default = by_label(label)
    connected: dict[str | None, ProtocolVersion] = {}  # each station's, by its latest connection
    checked: dict[str, set[str | None]] = {}  # the stations of each version's frames checked
    calls: dict[tuple[str | None, str | None], dict[str, str]] = {}
    bad = total = repaired = truncated = others = elsewhere = 0
    stations: set[str] = set()
    for entry in entries(path.read_bytes()):
        line = entry.frame
        if line is None:
            others += 1
            if entry.version is not None:
                connected[entry.identity] = by_label(entry.version)
                for direction in ("<", ">"):  # its CALLs were the closed connection's
                    calls.pop((entry.identity, direction), None)
            continue
        if identity is not None and entry.identity != identity:
            elsewhere += 1
            if entry.identity is not None:
                stations.add(entry.identity)
            continue
        total += 1
        version = connected.get(entry.identity, default)
        checked.setdefault(version.label, set()).add(entry.identity)
        where = f"{path}:{entry.number}:"
        if entry.identity is not None:
            where += f" {entry.identity} {entry.direction}"
        pending = calls.setdefault((entry.identity, _ANSWERED_BY[entry.direction]), {})
        try:
            frame = codec.decode_frame(line, version, pending)
        except errors.OcppError as exc:
            if entry.cut:
                truncated += 1
                print(f"{where} {TRUNCATED} (run with {FRAME_LOG_ENVIRONMENT}=all)")
                continue
            accepted = retry(line, exc, version, pending, policy)
            if accepted is None:
                bad += 1
                at = exc.details.get("path", "")
                print(f"{where} {version.code_of(exc)} {at} {exc.description}")
                continue
            repaired += 1
            frame = accepted.frame
            for deviation in accepted.deviations:
                print(f"{where} repaired {deviation.kind.label} {deviation.path}")
        message_id = getattr(frame, "message_id", None)
        action = getattr(frame, "action", None)
        if message_id is not None and action is not None and type(frame).__name__ == "Call":
            if action in version.send_only:  # its receiver refuses it; no result is judged
                bad += 1
                refused = errors.NotSupportedError(version.send_only_refusal(action))
                print(f"{where} {version.code_of(refused)}  {refused.description}")
                continue
            calls.setdefault((entry.identity, entry.direction), {})[message_id] = action
    summary = f"{_counted(total, 'frame')}, {bad} invalid"
    if policy:
        summary += f", {repaired} accepted after repair"
    if truncated:
        summary += f", {truncated} {TRUNCATED}"
    skipped = [_counted(others, "other log line")] if others else []
    if elsewhere:
        skipped.append(f"{_counted(elsewhere, 'frame')} of other stations")
    if skipped:
        summary += f"; skipped {', '.join(skipped)}"
    print(f"{summary} (OCPP {_versions(checked, default)})")
    if identity is not None and total == 0:
        seen = sorted(stations)
        named = ", ".join(seen[:_STATIONS_NAMED]) + (", ..." if len(seen) > _STATIONS_NAMED else "")
        print(f"no frame of station {identity} in {path} (its stations: {named or 'none'})")
        return 1
    return 1 if bad else 0


def _versions(checked: dict[str, set[str | None]], default: ProtocolVersion) -> str:
    """The versions the frames were checked in, for the summary: the one label when there is
    one (as before a log said its stations' versions), else each with its stations
    (``1.6: 2 stations, 2.0.1: 3 stations``), in the order of the versions."""
    if len(checked) <= 1:
        return next(iter(checked), default.label)
    return ", ".join(
        f"{label}: {_counted(len(checked[label]), 'station')}"
        for label in LABELS
        if label in checked
    )


def _counted(count: int, thing: str) -> str:
    """``1 frame``, ``2 frames``: the summary said ``1 frames``."""
    return f"{count} {thing}{'' if count == 1 else 's'}"


_STATIONS_NAMED = 10
"""Stations a refused ``--identity`` names from the log, at most."""
