"""Logs an operator can grep: the identity in every line about a station, type names qualified
by version, codes as sent on the wire, whole frames when asked, structured ``extra`` fields."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from my_test_charge_system import MyTestChargeSystem
from my_test_charger import MyTestCharger

from ocpp_fast import v16, v201
from ocpp_fast.logs import frame_log_limit, set_frame_log_limit
from ocpp_fast.transport import connect, serve

pytestmark = pytest.mark.usefixtures("dispatch_twin")  # handle and feed: both twins

STATUS_16 = (
    b'[2,"s1","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available"}]'
)


class Broken16(v16.ChargeSystem):
    def authorize(self, request: v16.messages.AuthorizeRequest) -> Any:
        raise RuntimeError("the tag database is down")

    def status_notification(self, request: v16.messages.StatusNotificationRequest) -> Any:
        return v201.messages.StatusNotificationResponse()  # the 2.0.1 Struct: a mistake


@pytest.fixture
def frame_limit() -> Iterator[None]:
    before = frame_log_limit()
    yield
    set_frame_log_limit(before)


def test_a_handler_error_names_the_station_and_carries_extras(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="ocpp_fast")
    reply = Broken16().handle(b'[2,"a1","Authorize",{"idTag":"T1"}]', "CS042")
    assert reply is not None and b"InternalError" in reply
    (record,) = [r for r in caplog.records if "raised" in r.getMessage()]
    assert record.getMessage() == "CS042: handler of Authorize (a1) raised"
    assert (record.identity, record.action, record.message_id) == ("CS042", "Authorize", "a1")  # type: ignore[attr-defined]
    assert record.exc_info is not None


def test_an_async_connection_handler_error_names_the_station(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The same through a real CSMS (the asyncio layer), on the server side."""

    class Failing(MyTestChargeSystem):
        def heartbeat(self, request: Any) -> Any:
            raise RuntimeError("boom")

    async def session() -> None:
        server = await serve(Failing())
        client = await connect(MyTestCharger(), f"ws://127.0.0.1:{server.port}/CS077")
        try:
            with pytest.raises(Exception, match="handler failed"):
                await client.call(v201.messages.HeartbeatRequest(), timeout=5)
        finally:
            await client.close()
            await server.close()

    caplog.set_level(logging.ERROR, logger="ocpp_fast")
    asyncio.run(asyncio.wait_for(session(), 20))
    (record,) = [r for r in caplog.records if "raised" in r.getMessage()]
    assert record.getMessage().startswith("CS077: handler of Heartbeat (")
    assert record.identity == "CS077"  # type: ignore[attr-defined]
    assert record.action == "Heartbeat"  # type: ignore[attr-defined]


def test_a_16_handler_returning_the_201_struct_is_named_with_its_version(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="ocpp_fast")
    reply = Broken16().handle(STATUS_16, "CS016")
    assert reply is not None and b"InternalError" in reply
    (record,) = [r for r in caplog.records if "invalid" in r.getMessage()]
    message = record.getMessage()
    assert message.startswith("CS016: our StatusNotification response to s1 is invalid")
    assert (
        "must be v16.messages.StatusNotificationResponse, "
        "got v201.messages.StatusNotificationResponse" in message
    )
    assert record.message_id == "s1"  # type: ignore[attr-defined]


def test_a_16_bad_frame_is_logged_with_the_code_the_station_received(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ocpp_fast")
    reply = Broken16().handle(b'[2,"h1","Authorize",{"idTag":"T","unknownField":1}]', "CS016")
    assert reply is not None and b'"FormationViolation"' in reply
    (record,) = [r for r in caplog.records if "bad frame" in r.getMessage()]
    assert "FormationViolation" in record.getMessage()
    assert "FormatViolation:" not in record.getMessage()
    assert record.code == "FormationViolation"  # type: ignore[attr-defined]
    assert (record.identity, record.message_id) == ("CS016", "h1")  # type: ignore[attr-defined]


def test_a_4_kib_frame_is_logged_whole_when_asked(
    caplog: pytest.LogCaptureFixture, frame_limit: None
) -> None:
    data = "x" * 4096
    frame = json.dumps([2, "d1", "DataTransfer", {"vendorId": "GA", "data": data}]).encode()
    caplog.set_level(logging.DEBUG, logger="ocpp_fast.frames")

    def logged_in() -> bytes:
        caplog.clear()
        MyTestChargeSystem().handle(frame, "CS4K")
        frames = [r for r in caplog.records if r.name == "ocpp_fast.frames"]
        (record,) = [r for r in frames if getattr(r, "direction", None) == "<"]
        assert record.identity == "CS4K"  # type: ignore[attr-defined]
        logged: bytes = record.frame  # type: ignore[attr-defined]
        return logged

    assert frame_log_limit() == 500  # the default: a busy log is not flooded
    assert logged_in() == frame[:500]
    set_frame_log_limit(None)
    assert logged_in() == frame
    set_frame_log_limit(1000)
    assert logged_in() == frame[:1000]


def test_the_frame_limit_is_read_from_the_environment() -> None:
    import subprocess
    import sys

    script = "from ocpp_fast.logs import frame_log_limit; print(frame_log_limit())"
    for value, expected in (("all", "None"), ("8192", "8192"), ("typo", "500")):
        env = {"OCPP_FAST_FRAME_LOG_CHARS": value, "PATH": ""}
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == expected


LEFT = "CS1: disconnected: closed by the station (1000)"


def test_the_websocket_libraries_add_no_info_line_per_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Our own lines say it ("CS1: connected"), with the identity; picows and websockets
    added two or three lines per connection without it."""

    async def session(backend: str) -> None:
        server = await serve(MyTestChargeSystem(), backend=backend)
        client = await connect(
            MyTestCharger(), f"ws://127.0.0.1:{server.port}/CS1", backend=backend
        )
        before = caplog.text.count(LEFT)
        await client.close()
        for _ in range(250):  # the server's line comes once its on_disconnect has run
            if caplog.text.count(LEFT) > before:
                break
            await asyncio.sleep(0.02)
        await server.close()

    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="ocpp_fast.transport")
    for backend in ("picows", "websockets"):
        asyncio.run(asyncio.wait_for(session(backend), 20))
    library = [
        r
        for r in caplog.records
        if r.name.startswith(("picows", "websockets", "ocpp_fast.transport.picows"))
        or r.name.startswith("ocpp_fast.transport.websockets")
    ]
    assert library == []
    ours = [r.getMessage() for r in caplog.records if r.name == "ocpp_fast.transport"]
    # the server's line names where the station dials from, as a refusal's does
    connected = [r for r in caplog.records if r.getMessage().startswith("CS1: connected (ocpp")]
    assert len(connected) == 2  # one per backend
    for record in connected:
        assert record.peer.startswith("127.0.0.1:")  # type: ignore[attr-defined]
        assert record.getMessage() == f"CS1: connected (ocpp2.0.1) from {record.peer}"  # type: ignore[attr-defined]
    # the server and the station's client each say how it left (what on_disconnect gets)
    assert ours.count(LEFT) == 4
    assert all(r.identity == "CS1" for r in caplog.records if r.name == "ocpp_fast.transport")  # type: ignore[attr-defined]


def test_how_a_connection_ended_is_said_bounded_and_escaped() -> None:
    """A peer's close reason is untrusted: cut at 123 characters (the most a close frame
    carries), its unprintable characters escaped (no forged line, no terminal escape), its
    accented letters kept; a connection lost without a close frame says the transport's error
    in the log line only (``on_disconnect`` gets "connection lost", as documented)."""
    from ocpp_fast.transport._lifecycle import close_reason, ending

    long = close_reason((4000, "x" * 500), None, True)
    assert long == f"closed by the station (4000: {'x' * 123})"
    hostile = close_reason((4000, "Wartung läuft\r\nCS9: connected\x1b[2J"), None, True)
    assert hostile == "closed by the station (4000: Wartung läuft\\r\\nCS9: connected\\x1b[2J)"
    lost = close_reason(None, None, False)
    assert lost == "connection lost"
    reset = ConnectionResetError(104, "Connection reset by peer")
    assert ending(lost, reset) == (
        "connection lost (ConnectionResetError: [Errno 104] Connection reset by peer)"
    )
    assert ending(lost, None) == ending(lost, "") == "connection lost"
    assert ending(long, reset) == long  # the close frame says it already


def test_the_server_says_the_transport_error_that_ended_a_station(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A station whose TCP connection is reset (no close frame): the websockets backend's
    "disconnected" line names the error; ``on_disconnect`` still gets "connection lost"."""
    import socket
    import struct

    from websockets.asyncio.client import connect as ws_connect
    from websockets.typing import Subprotocol

    told: list[str] = []

    class Csms(v201.ChargeSystem):
        def on_disconnect(self, connection: Any, reason: str) -> None:
            told.append(reason)

    async def session() -> None:
        server = await serve(Csms(), backend="websockets")
        url = f"ws://127.0.0.1:{server.port}/CS1"
        async with ws_connect(url, subprotocols=[Subprotocol("ocpp2.0.1")]) as station:
            for _ in range(250):  # until the server holds it
                if "CS1" in server.connections:
                    break
                await asyncio.sleep(0.02)
            raw = station.transport.get_extra_info("socket")
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            station.transport.abort()  # an RST, no close frame
            for _ in range(250):
                if told:
                    break
                await asyncio.sleep(0.02)
        await server.close()

    caplog.set_level(logging.INFO, logger="ocpp_fast.transport")
    asyncio.run(asyncio.wait_for(session(), 20))
    assert told == ["connection lost"]
    (line,) = [r.getMessage() for r in caplog.records if "disconnected" in r.getMessage()]
    assert line.startswith("CS1: disconnected: connection lost (ConnectionResetError: "), line


STATUS = (
    '[2,"{id}","StatusNotification",{{"timestamp":"2026-11-30T10:00:00Z",'
    '"connectorStatus":"Available","evseId":1,"connectorId":1}}]'
)


def test_an_action_not_handled_warns_once_and_each_error_answered_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An operator sees which actions the CSMS refuses: a WARNING the first time an action
    without a handler arrives (once per action, not per station or frame), and an INFO line
    per CALLERROR answered (a handler's refusal included), rate-limited per connection."""
    from ocpp_fast import errors
    from ocpp_fast.v201 import messages

    class Csms(v201.ChargeSystem):
        def data_transfer(
            self, request: messages.DataTransferRequest
        ) -> messages.DataTransferResponse:
            raise errors.NotSupportedError("only vendor GA here")

    csms = Csms()
    caplog.set_level(logging.DEBUG, logger="ocpp_fast")
    for number in range(3):
        csms.handle(STATUS.format(id=f"s{number}"), "CS001")
    csms.handle(STATUS.format(id="t0"), "CS002")
    csms.handle('[2,"d1","DataTransfer",{"vendorId":"X"}]', "CS002")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "CS001: StatusNotification of OCPP 2.0.1 is not handled here: answering NotSupported "
        "(logged once per action)"  # no metrics here: no counter to name
    ]
    answered = [r for r in caplog.records if "answering" in r.msg and r.levelno < logging.WARNING]
    # the actions not handled had their WARNING: each CALLERROR is DEBUG; a handler's is INFO
    assert [r.levelno for r in answered] == [logging.DEBUG] * 4 + [logging.INFO]
    assert [r.getMessage() for r in answered][-1] == (
        "CS002: answering DataTransfer d1 with NotSupported: only vendor GA here"
    )
    assert len(answered) == 5
    last = answered[-1]
    assert (last.identity, last.action, last.message_id, last.code) == (  # type: ignore[attr-defined]
        "CS002",
        "DataTransfer",
        "d1",
        "NotSupported",
    )


def test_the_warning_of_an_action_not_handled_names_the_counter_only_with_metrics(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Where metrics are kept, the WARNING points at the counter that counts every refusal
    (it is logged once); without them it names none (a counter nobody has would mislead)."""
    from ocpp_fast.metrics import Metrics

    protocol = v201.ChargeSystem().protocol("CS001")
    protocol.metrics = Metrics()
    caplog.set_level(logging.WARNING, logger="ocpp_fast")
    protocol.receive(STATUS.format(id="s1"))
    assert [r.getMessage() for r in caplog.records] == [
        "CS001: StatusNotification of OCPP 2.0.1 is not handled here: answering NotSupported "
        "(logged once per action; "
        'ocpp_messages_total{action="StatusNotification",direction="out",kind="error"} '
        "counts each)"
    ]
    from prometheus_client import generate_latest

    exposed = generate_latest(protocol.metrics.registry).decode()  # the series the line names
    assert 'ocpp_messages_total{action="StatusNotification",direction="out",kind="error"} 1.0' in (
        exposed.splitlines()
    )


def test_the_warning_of_an_action_not_handled_names_the_version(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server of several versions has a handler each, and each warns once per action: the
    same action unhandled in 1.6 and 2.0.1 made two lines alike but for the station, which an
    operator read as "once per action" broken (a walk of a cluster, DataTransfer twice on one
    gateway). Each line names its version."""
    from ocpp_fast import v16

    caplog.set_level(logging.WARNING, logger="ocpp_fast")
    v201.ChargeSystem().handle('[2,"d1","DataTransfer",{"vendorId":"X"}]', "CS201")
    v16.ChargeSystem().handle('[2,"d1","DataTransfer",{"vendorId":"X"}]', "CS016")
    assert [r.getMessage() for r in caplog.records] == [
        "CS201: DataTransfer of OCPP 2.0.1 is not handled here: answering NotSupported "
        "(logged once per action)",
        "CS016: DataTransfer of OCPP 1.6 is not handled here: answering NotSupported "
        "(logged once per action)",
    ]


def test_a_live_connection_logs_the_errors_it_answers(caplog: pytest.LogCaptureFixture) -> None:
    from ocpp_fast import errors
    from ocpp_fast.aio import connect_in_memory
    from ocpp_fast.v201 import messages

    class Csms(v201.ChargeSystem):
        async def data_transfer(
            self, request: messages.DataTransferRequest
        ) -> messages.DataTransferResponse:
            raise errors.NotSupportedError("vendor X is not known here")

    async def session() -> None:
        station, _ = connect_in_memory(v201.Charger(), Csms(), identity="CS009")
        with pytest.raises(errors.NotSupportedError):
            await station.call(messages.DataTransferRequest(vendor_id="X"), timeout=5)

    caplog.set_level(logging.INFO, logger="ocpp_fast")
    asyncio.run(session())
    assert "CS009: answering DataTransfer" in caplog.text
    assert "with NotSupported: vendor X is not known here" in caplog.text


@pytest.mark.parametrize(
    "frame",
    [
        b'[2,"1","Heartbeat",{"a\\nFAKE LINE":1}]',  # a field name quoted in the decode error
        b'[4,"zz","Internal\\nFAKE LINE","desc",{}]',  # a CALLERROR's code, unknown id
        b'[4,"z\\nFAKE LINE","InternalError","desc",{}]',  # its id
    ],
    ids=["field-name", "error-code", "message-id"],
)
def test_a_station_s_text_in_a_log_line_cannot_start_a_line_of_its_own(
    frame: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """What a station wrote and the library logs is escaped and cut: a line break in an error
    code or a field name started a line of the station's own in a text log (one that reads as
    the server's: ``validate`` and log collectors believe it)."""
    with caplog.at_level(logging.INFO, logger="ocpp_fast"):
        MyTestChargeSystem().handle(frame)
        MyTestChargeSystem().handle(b'[4,"y","' + b"I" * 5000 + b'","d",{}]')  # cut
    said = [record.getMessage() for record in caplog.records]
    assert any("FAKE LINE" in line for line in said), said
    assert all("\n" not in line and len(line) < 1000 for line in said), said
    assert any("\\nFAKE LINE" in line for line in said), said
