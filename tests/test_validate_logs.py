"""``ocpp-fast validate`` reading the command's own frame log (``serve --log-frames``), in
both ``--log-format``s: real logs of a simulated fleet, and crafted frames through the same
formatters and the same cut."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from serve_proc import serving

from ocpp_fast._cli_log import command_log, log_to
from ocpp_fast._cli_validate import _IDENTITY_BYTES, _record, entries
from ocpp_fast._connected_line import connected_station, log_connected
from ocpp_fast._frame_log import frame_log_limit, log_frame, set_frame_log_limit
from ocpp_fast._protocol_version import LABELS, by_label
from ocpp_fast._ratelimit import ConnectionLog
from ocpp_fast.cli import main

SUMMARY = re.compile(
    r"(?P<frames>\d+) frames, (?P<invalid>\d+) invalid"
    r"(?:; skipped (?P<others>\d+) other log lines)?"
    r"(?:, (?P<elsewhere>\d+) frames of other stations)? \(OCPP 2\.0\.1\)"
)
TEXT_FRAME = re.compile(r".* debug (SIM\d+) ([<>]) (.*)\n?")


def framed(line: str, log_format: str) -> tuple[str, str, str] | None:
    """The identity, direction and frame of a frame's line, read as a person reading the log
    would (not as validate does); ``None`` for another line."""
    if log_format == "json":
        record = json.loads(line)
        if record["logger"] != "ocpp_fast.frames":
            return None
        return record["identity"], record["direction"], record["frame"]
    match = TEXT_FRAME.fullmatch(line)
    return None if match is None else (match[1], match[2], match[3])


def fleet_log(folder: Path, log_format: str, chars: str, *versions: str) -> tuple[Path, list[str]]:
    """The log of ``serve --log-frames`` (``OCPP_FAST_FRAME_LOG_CHARS=chars``) while
    ``ocpp-fast simulate`` ran 3 stations for 2 s (of ``versions``, in turn, if given), and its
    lines."""
    cut = {"OCPP_FAST_FRAME_LOG_CHARS": chars}
    with serving("--log-frames", "--log-format", log_format, env=cut) as server:
        lines = [server.line()]  # its start line: it listens
        server.keep_reading()  # its frames: a full pipe stopped it mid-run
        url = f"ws://127.0.0.1:{server.port}/ocpp"
        simulate = [sys.executable, "-m", "ocpp_fast.cli", "simulate", "--url", url]
        simulate += ["--chargers", "3", "--duration", "2", "--interval", "0.1", "--seed", "5"]
        if versions:
            simulate += ["--version", *versions]
        ran = subprocess.run(simulate, capture_output=True, text=True, timeout=60)
        assert ran.returncode == 0, (ran.stdout, ran.stderr)
    lines += server.out.splitlines(keepends=True)
    log = folder / f"serve.{log_format}.log"
    log.write_text("".join(lines))
    return log, lines


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_validate_reads_the_log_of_serve_log_frames(
    log_format: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A simulated fleet's frames, logged whole by ``serve --log-frames``: every one valid,
    every other line of the log skipped and counted, each station's frames alone on demand."""
    log, lines = fleet_log(tmp_path, log_format, "all")
    frames = [found for line in lines if (found := framed(line, log_format))]
    assert len(frames) > 50, lines  # sessions of 3 stations, both ways

    assert main(["validate", str(log)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{len(frames)} frames, 0 invalid; skipped {len(lines) - len(frames)} other log lines "
        "(OCPP 2.0.1)"
    ]

    assert main(["validate", str(log), "--identity", "SIM00001"]) == 0
    summary = SUMMARY.fullmatch(capsys.readouterr().out.strip())
    assert summary is not None
    own = sum(identity == "SIM00001" for identity, _, _ in frames)
    assert (int(summary["frames"]), int(summary["invalid"])) == (own, 0)
    assert int(summary["elsewhere"]) == len(frames) - own > 0


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_validate_checks_each_station_in_its_own_version(
    log_format: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo CSMS serves every version on one port: a fleet of 1.6, 2.0.1 and 2.1 stations
    in one log, each checked in the version its connection line says (the 1.6 frames were
    checked as 2.0.1 and failed), whatever ``--version`` says."""
    log, lines = fleet_log(tmp_path, log_format, "all", "1.6", "2.0.1", "2.1")
    frames = [found for line in lines if (found := framed(line, log_format))]
    connected = [line for line in lines if re.search(r"SIM\d+: connected \(ocpp", line)]
    assert len(connected) == 3, lines
    for version in ("2.0.1", "1.6"):
        assert main(["validate", str(log), "--version", version]) == 0
        assert capsys.readouterr().out.splitlines() == [
            f"{len(frames)} frames, 0 invalid; skipped {len(lines) - len(frames)} other log "
            "lines (OCPP 1.6: 1 station, 2.0.1: 1 station, 2.1: 1 station)"
        ]


@pytest.fixture
def cut_at_500() -> Iterator[None]:
    """The log's default cut, whatever the tests before set."""
    before = frame_log_limit()
    set_frame_log_limit(500)
    yield
    set_frame_log_limit(before)


def whole(frame: str) -> bool:
    try:
        json.loads(frame)
    except ValueError:
        return False
    return True


@pytest.mark.usefixtures("cut_at_500")
def test_validate_tells_the_frames_the_log_cut(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same fleet logged with the default cut: the frames cut at 500 characters (a
    TransactionEvent with its meter values...), which the log marks, are each said to be, none
    is invalid."""
    log, lines = fleet_log(tmp_path, "text", "500")
    cut = [
        f"{log}:{number}: {found[0]} {found[1]} truncated in the log "
        "(run with OCPP_FAST_FRAME_LOG_CHARS=all)"
        for number, line in enumerate(lines, 1)
        if (found := framed(line, "text")) and found[2].endswith(" [cut]")
    ]
    logged = [found[2] for line in lines if (found := framed(line, "text"))]
    marked = [frame.removesuffix(" [cut]") for frame in logged if frame.endswith(" [cut]")]
    assert all(len(frame) == 500 and not whole(frame) for frame in marked)
    frames = sum(framed(line, "text") is not None for line in lines)
    assert cut, lines
    assert main(["validate", str(log)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        *cut,
        f"{frames} frames, 0 invalid, {len(cut)} truncated in the log; "
        f"skipped {len(lines) - frames} other log lines (OCPP 2.0.1)",
    ]


NOW = '"currentTime":"2026-12-03T08:42:15Z"'
HEADER = b'[2,"5","DataTransfer",{"vendorId":"VV","data":"'  # 47 bytes: 2-byte chars split at 500
CRAFTED: list[tuple[str, str, bytes | str]] = [
    ("<", "CS001", b'[2,"1","Heartbeat",{}]'),
    (
        "<",
        "CS002",
        b'[2,"1","BootNotification",{"reason":"PowerUp","chargingStation":{"model":"M","vendorName":"V"}}]',
    ),
    ("<", "CS002", b'[3,"1",{}]'),  # no CALL of CS002's own "1" was sent: not judged
    # each station's answers judged against its own CALLs, and those of the other way
    ("<", "CS001", b'[3,"1",{}]'),
    (">", "CS002", b'[3,"1",{' + NOW.encode() + b',"interval":300,"status":"Accepted"}]'),
    (">", "CS001", b'[3,"1",{' + NOW.encode() + b"}]"),
    (">", "CS001", '[2,"r1","Reset",{"type":"Immediate"}]'),
    ("<", "CS001", b'[2,"r1","Heartbeat",{}]'),
    ("<", "CS001", b'[3,"r1",{"status":"Accepted"}]'),
    (">", "CS001", b'[3,"r1",{' + NOW.encode() + b"}]"),
    # bad frames (lines 12 to 14), and frames the log cut (15 to 17)
    (
        "<",
        "CS002",
        b'[2,"2","StatusNotification",{"timestamp":"2026-12-03T08:42:15","connectorStatus":"Available","evseId":1,"connectorId":1}]',
    ),
    ("<", "CS001", b'[2,"3","Heartbeat",{}'),
    ("<", "CS001", b'[2,"4","Heartbeat",{"x":"' + b"x" * 472 + b'"}]'),  # 500 bytes, whole
    ("<", "CS001", HEADER + b"x" * 600 + b'"}]'),
    ("<", "CS002", HEADER + "é".encode() * 300 + b'"}]'),
    (">", "CS001", '[3,"5",{"status":"Accepted","data":"' + "y" * 600 + '"}]'),
    # a frame with a line break in it, on two lines of a text log
    ("<", "CS002", b'[2,"6",\n"Heartbeat",{}]'),
]


def written(log_format: str, write: Callable[[], None]) -> str:
    """The lines ``serve --log-frames`` writes in ``log_format`` for what ``write`` logs."""
    stream = io.StringIO()
    undo = log_to(stream, "debug", log_format, frames=True)
    try:
        write()
    finally:
        undo()
    return stream.getvalue()


TRANSPORT = logging.getLogger("ocpp_fast.transport")
PEER = "10.0.0.7:51234"
"""Where the stations of these logs connect from (the connection line names it)."""


def crafted_log(log_format: str) -> str:
    """The lines ``serve --log-frames`` writes for :data:`CRAFTED`, by its own formatters: a
    line of the command first, an error with its traceback last."""

    def write() -> None:
        command_log.info("demo CSMS on ws://127.0.0.1:9000/<identity>")
        for direction, identity, frame in CRAFTED:
            log_frame(direction, identity, frame)
        try:
            raise RuntimeError("the clock is gone")
        except RuntimeError:
            logging.getLogger("ocpp_fast").exception("CS001: handler of Heartbeat (h1) raised")

    return written(log_format, write)


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.usefixtures("cut_at_500")
def test_validate_names_line_and_station_of_each_bad_frame(
    log_format: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / f"crafted.{log_format}.log"
    log.write_text(crafted_log(log_format))
    lines = log.read_text().splitlines()
    assert main(["validate", str(log)]) == 1
    cut = "truncated in the log (run with OCPP_FAST_FRAME_LOG_CHARS=all)"
    others = len(lines) - len(CRAFTED) - (log_format == "text")  # the frame on two lines
    assert capsys.readouterr().out.splitlines() == [
        f"{log}:12: CS002 < PropertyConstraintViolation $.timestamp Invalid RFC3339 encoded "
        "datetime at $.timestamp",
        f"{log}:13: CS001 < RpcFrameworkError  frame is not valid JSON: Input data was truncated",
        f"{log}:14: CS001 < FormatViolation $.x Object contains unknown field `x` at $.x",
        f"{log}:15: CS001 < {cut}",
        f"{log}:16: CS002 < {cut}",
        f"{log}:17: CS001 > {cut}",
        f"{len(CRAFTED)} frames, 3 invalid, 3 truncated in the log; "
        f"skipped {others} other log lines (OCPP 2.0.1)",
    ]

    assert main(["validate", str(log), "--identity", "CS002", "--tolerate", "all"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{log}:12: CS002 < repaired naive_datetime $.timestamp",
        f"{log}:16: CS002 < {cut}",
        "6 frames, 0 invalid, 1 accepted after repair, 1 truncated in the log; "
        f"skipped {others} other log lines, {len(CRAFTED) - 6} frames of other stations "
        "(OCPP 2.0.1)",
    ]

    # A station the log does not hold checked nothing: said, and a failure (it exited 0).
    assert main(["validate", str(log), "--identity", "CS0002"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"0 frames, 0 invalid; skipped {others} other log lines, {len(CRAFTED)} frames of other "
        "stations (OCPP 2.0.1)",
        f"no frame of station CS0002 in {log} (its stations: CS001, CS002)",
    ]


HEARTBEAT_16_ANSWER = '[3,"h",{' + NOW + "}]"
BOOT_16 = '[2,"b","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]'


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_validate_takes_the_version_of_the_latest_connection(
    log_format: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A station's frames are checked in the version of its latest connection line before
    them; a station with none (or a frame before it) in ``--version``."""

    def write() -> None:
        log_frame("<", "CS001", BOOT_16)  # line 1: before its connection, in --version
        log_connected(TRANSPORT, "CS001", "ocpp1.6", PEER)
        log_frame("<", "CS001", BOOT_16)
        log_connected(TRANSPORT, "CS002", "ocpp1.6", PEER)
        ConnectionLog(TRANSPORT, "CS002").info("disconnected: closed by the station (1000)")
        log_connected(TRANSPORT, "CS002", "ocpp2.0.1", PEER)
        log_frame("<", "CS002", BOOT_16)  # line 7: CS002 is 2.0.1 now
        log_frame("<", "CS003", BOOT_16)  # line 8: no connection line, in --version
        log_frame("<", "CS001", '[2,"h","Heartbeat",{}]')
        log_frame(">", "CS001", HEARTBEAT_16_ANSWER)

    log = tmp_path / f"versions.{log_format}.log"
    log.write_text(written(log_format, write))
    assert main(["validate", str(log)]) == 1
    unknown = "FormatViolation $.chargePointVendor Object contains unknown field"
    assert capsys.readouterr().out.splitlines() == [
        f"{log}:1: CS001 < {unknown} `chargePointVendor` at $.chargePointVendor",
        f"{log}:7: CS002 < {unknown} `chargePointVendor` at $.chargePointVendor",
        f"{log}:8: CS003 < {unknown} `chargePointVendor` at $.chargePointVendor",
        "6 frames, 3 invalid; skipped 4 other log lines (OCPP 1.6: 1 station, 2.0.1: 3 stations)",
    ]
    assert main(["validate", str(log), "--version", "1.6", "--identity", "CS003"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "1 frame, 0 invalid; skipped 4 other log lines, 5 frames of other stations (OCPP 1.6)"
    ]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_validate_takes_the_cut_the_log_marks(
    log_format: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A frame the log cut says so, so a log cut at 100 characters is read by a validate whose
    own limit is 500 (or all): the frame cut is reported as such, not as a station's broken
    frame; a whole one is checked, and one as long that is no JSON is invalid."""
    before = frame_log_limit()
    set_frame_log_limit(100)

    def write() -> None:
        log_frame("<", "CS001", HEADER + b"x" * 200 + b'"}]')  # cut
        log_frame("<", "CS001", b'[2,"6","Heartbeat",{"x":"' + b"x" * 72 + b'"}]')  # 100, whole
        log_frame("<", "CS001", b'[2,"7","Heartbeat",{"x":"' + b"x" * 69 + b" [cut]")  # sent so

    try:
        text = written(log_format, write)
    finally:
        set_frame_log_limit(before)
    lines = text.splitlines()
    marked = [json.loads(line).get("cut") if log_format == "json" else line for line in lines]
    if log_format == "json":
        assert marked == [True, None, None]
    else:
        assert lines[0].endswith('"data":"' + "x" * 53 + " [cut]")
        assert not lines[1].endswith(" [cut]")
        assert lines[2].endswith('"x' + "x" * 68 + " [cut] [whole]")
    log = tmp_path / f"cut.{log_format}.log"
    log.write_text(text)
    set_frame_log_limit(500)
    try:
        assert main(["validate", str(log)]) == 1
    finally:
        set_frame_log_limit(before)
    cut = "truncated in the log (run with OCPP_FAST_FRAME_LOG_CHARS=all)"
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{log}:1: CS001 < {cut}"
    assert out[1].startswith(f"{log}:2: CS001 < FormatViolation $.x ")
    # A station's own frame ending as the text mark does is the station's, in either format
    # (the text log marks it whole): it was read as cut there, and passed.
    assert out[2].startswith(f"{log}:3: CS001 < RpcFrameworkError ")
    assert out[3:] == ["3 frames, 2 invalid, 1 truncated in the log (OCPP 2.0.1)"]


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("label", list(LABELS))
def test_validate_reads_the_connection_line_the_servers_write(log_format: str, label: str) -> None:
    """Both servers log a station's connection through ``log_connected``, and validate reads it
    with ``connected_station``, side by side: the version of each station comes back."""
    subprotocol = by_label(label).subprotocol
    log = written(log_format, lambda: log_connected(TRANSPORT, "CS 1", subprotocol, PEER))
    message = json.loads(log)["message"] if log_format == "json" else log.split(" info ", 1)[1]
    assert connected_station(message.rstrip("\n")) == ("CS 1", label)
    assert message.rstrip("\n").endswith(f"from {PEER}")
    # a log written before the line named the peer reads the same
    assert connected_station(f"CS 1: connected ({subprotocol})") == ("CS 1", label)
    assert [entry.version for entry in entries(log.encode())] == [label]


FORGED = [
    "\n2026-12-03T08:42:15.291Z info CS999: connected (ocpp1.6)",
    '\r2026-12-03T08:42:15.292Z debug CS002 < [2,"x","Heartbeat",{}]',
    "\r\n"
    + json.dumps(
        {
            "time": "2026-12-03T08:42:15.293Z",
            "level": "debug",
            "logger": "ocpp_fast.frames",
            "message": "",
            "identity": "CS002",
            "direction": "<",
            "frame": '[2,"y","Heartbeat",{}]',
        }
    ),
]
"""What a station puts after line breaks in a frame, to be read as the log's own lines: a
connection of another station (then checked in 1.6), that station's frames, in each format."""


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_station_forges_no_line_of_the_log(
    log_format: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A frame's line breaks start lines that the text log begins with a tab (a record's
    begins with its time), so the station's frame is one record, read back whole, and none of
    its lines is a record of the log: no connection of CS999, no frame of CS002."""
    frame = '[2,"1","Heartbeat",{}]' + "".join(FORGED)

    def write() -> None:
        log_frame("<", "CS001", frame.encode())
        log_frame("<", "CS999", BOOT_16)

    log = tmp_path / f"forged.{log_format}.log"
    log.write_bytes(written(log_format, write).encode())
    lines = log.read_bytes().splitlines()
    if log_format == "text":
        assert len(lines) == 5 and all(line.startswith(b"\t2026-") for line in lines[1:3])
        assert lines[3].startswith(b'\t{"time"')
    else:
        assert len(lines) == 2
    assert [entry.frame for entry in entries(log.read_bytes())] == [
        frame.encode(),
        BOOT_16.encode(),
    ]
    assert main(["validate", str(log)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{log}:1: CS001 < RpcFrameworkError ")
    assert out[1].startswith(f"{log}:{len(lines)}: CS999 < FormatViolation $.chargePointVendor ")
    assert out[2:] == ["2 frames, 2 invalid (OCPP 2.0.1)"]


TRICKY = st.lists(
    st.sampled_from(["\r", "\n", "\t", " [cut]", " [whole]", "]", "x", "é", "\u2028", "\x0b"])
).map("".join)


@given(
    frame=st.one_of(TRICKY, st.text(st.characters(exclude_categories=["Cs"]))), cut=st.booleans()
)
def test_the_text_log_gives_each_frame_back_as_it_was(frame: str, cut: bool) -> None:
    """Whatever its line breaks, its tabs, its end (as the marks end): the frame validate
    reads from the text log is the one logged, cut where the log cut it and only there."""
    limit = frame_log_limit()
    set_frame_log_limit(max(len(frame) - 1, 1) if cut else None)
    try:
        log = written("text", lambda: log_frame("<", "CS001", frame))
    finally:
        set_frame_log_limit(limit)
    kept = frame[: max(len(frame) - 1, 1)] if cut else frame
    cut = cut and len(frame) > 1
    read = [(entry.frame, entry.cut) for entry in entries(log.encode())]
    assert read == [(kept.encode(), cut)]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_validate_forgets_the_calls_of_a_closed_connection(
    log_format: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CALL's id is its connection's: a CALLRESULT after the station connected again answers
    no CALL of the connection before (it was judged as Reset's answer here), while one on the
    same connection is judged."""

    def write() -> None:
        log_connected(TRANSPORT, "CS001", "ocpp2.0.1", PEER)
        log_frame(">", "CS001", '[2,"r1","Reset",{"type":"Immediate"}]')
        log_frame(">", "CS001", '[2,"r2","Reset",{"type":"Immediate"}]')
        log_frame("<", "CS001", b'[3,"r2",{' + NOW.encode() + b"}]")
        ConnectionLog(TRANSPORT, "CS001").info("disconnected: closed by the station (1000)")
        log_connected(TRANSPORT, "CS001", "ocpp2.0.1", PEER)
        log_frame("<", "CS001", b'[3,"r1",{' + NOW.encode() + b"}]")

    log = tmp_path / f"reconnected.{log_format}.log"
    log.write_text(written(log_format, write))
    assert main(["validate", str(log)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split(" ", 3)[:3] for line in out[:-1]] == [[f"{log}:4:", "CS001", "<"]]
    assert out[-1] == "4 frames, 1 invalid; skipped 3 other log lines (OCPP 2.0.1)"


def test_a_station_named_as_another_and_a_direction_keeps_its_frames(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An identity may hold `` < `` (a printable one: ``CS001 < x``), and its frame line then
    starts as CS001's would: the text log's identity is the longest a connection line named
    (its frames were CS001's, and invalid); a station with no such line, the shortest."""

    def write() -> None:
        for identity in ("CS001", "CS001 < x"):
            log_connected(TRANSPORT, identity, "ocpp2.0.1", PEER)
            log_frame("<", identity, '[2,"1","Heartbeat",{}]')

    log = tmp_path / "identities.log"
    log.write_text(written("text", write))
    assert [entry.identity for entry in entries(log.read_bytes())] == ["CS001", "CS001"] + [
        "CS001 < x"
    ] * 2
    assert main(["validate", str(log), "--identity", "CS001"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "1 frame, 0 invalid; skipped 2 other log lines, 1 frame of other stations (OCPP 2.0.1)"
    ]
    line = b"2026-12-03T08:42:15.291Z debug CS9 < x < [2]\n"
    assert next(entries(line)).identity == "CS9"
    # A frame of 400 KB, " < " all along: the identity is looked for in its first bytes only
    # (each " < " was tried, with the line up to it: 10 s here, growing as the square). The
    # identities tried are counted, not timed: those in an identity's most bytes at most.
    long_line = line.replace(b"x < ", b"x < " * 100_000)
    assert next(entries(long_line)).frame == long_line[37:-1]

    class Counting(set[str]):
        """The stations known, counting the identities looked up in them."""

        looked = 0

        def __contains__(self, identity: object) -> bool:
            self.looked += 1
            return super().__contains__(identity)

    known = Counting()
    assert _record(long_line, 1, known) is not None
    assert 0 < known.looked <= _IDENTITY_BYTES // len(b"x < ")


@pytest.mark.usefixtures("cut_at_500")
def test_a_long_broken_frame_logged_whole_is_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The recipe: serve with ``OCPP_FAST_FRAME_LOG_CHARS=all``, validate with none. A station's
    frame cut short by its own firmware, 600 bytes, logged whole (no mark), is the station's
    and invalid: it was taken as cut by the log for being longer than validate's own limit,
    and passed."""
    broken = HEADER + b"x" * 600  # no end: the station's
    set_frame_log_limit(None)
    try:
        log = written("text", lambda: log_frame("<", "CS001", broken))
    finally:
        set_frame_log_limit(500)
    path = tmp_path / "whole.log"
    path.write_text(log)
    assert main(["validate", str(path)]) == 1
    assert (
        capsys.readouterr()
        .out.splitlines()[0]
        .startswith(f"{path}:1: CS001 < RpcFrameworkError  frame is not valid JSON")
    )


def test_the_applications_own_lines_in_the_same_stdout_are_other_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``serve your app`` has the application log to stdout beside ocpp_fast's lines (its
    ``logging.basicConfig``): such a line before the first record was read as a frame, and
    one after a frame's line as the rest of that frame, and each such valid frame was
    reported invalid. A line the text log's tab does not start is the frame's only while the
    frame is no whole JSON yet: a log written before the tab."""
    boot = written("text", lambda: log_frame("<", "CS001", BOOT_16))
    answer = written("text", lambda: log_frame(">", "CS001", HEARTBEAT_16_ANSWER))
    connected = written("text", lambda: log_connected(TRANSPORT, "CS001", "ocpp1.6", PEER))
    older = boot.replace('{"chargePointVendor"', '{\n"chargePointVendor"')  # no tab: before it
    log = tmp_path / "app.log"
    log.write_text(
        "mycsms admin API on 127.0.0.1:8080\n"
        + connected
        + boot
        + "mycsms CS001 booted: M\n"
        + answer
        + "mycsms a line of the application\n"
        + older
    )
    assert sorted((e.number, e.frame) for e in entries(log.read_bytes())) == [
        (1, None),
        (2, None),
        (3, BOOT_16.encode()),
        (4, None),
        (5, HEARTBEAT_16_ANSWER.encode()),
        (6, None),
        (7, BOOT_16.replace('{"chargePointVendor"', '{\n"chargePointVendor"').encode()),
    ]
    assert main(["validate", str(log), "--version", "1.6"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "3 frames, 0 invalid; skipped 4 other log lines (OCPP 1.6)"
    ]
