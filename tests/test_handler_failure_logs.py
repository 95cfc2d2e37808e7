"""The ERROR lines of handlers that raised are bounded: a station can make a handler raise on
every CALL (so can a database down under thousands of stations), and each line carries a
traceback. At most ``LOG_BURST`` per action and exception class per ``LOG_INTERVAL`` in the
process, then one line saying how many more there were; every CALL is still answered.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging

import pytest

from ocpp_fast import dispatch, v16, v21
from ocpp_fast._ratelimit import LOG_BURST, LOG_INTERVAL
from ocpp_fast.errors import InternalError
from ocpp_fast.frames import Send
from ocpp_fast.transport import connect, serve


class Csms(v16.ChargeSystem):
    def authorize(self, request: v16.messages.AuthorizeRequest) -> v16.messages.AuthorizeResponse:
        if request.id_tag == "VALUE":
            raise ValueError("not this one")
        raise RuntimeError("the tag database is down")


def authorize(n: int, tag: str = "T1") -> bytes:
    return b'[2,"m%d","Authorize",{"idTag":"%s"}]' % (n, tag.encode())


STREAMED = v21.messages.NotifyPeriodicEventStreamRequest(
    data=[v21.datatypes.StreamDataElementType(t=0.0, v="1")],
    id=1,
    pending=0,
    basetime=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
)
"""The payload of the SENDs whose handler fails (only their action is logged)."""


def failure_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "ocpp_fast" and r.levelno == logging.ERROR]


def test_a_handler_failing_on_every_call_logs_a_burst_then_how_many_more(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(dispatch.handler_failures, "_clock", lambda: now[0])
    csms = Csms()
    with caplog.at_level(logging.INFO, logger="ocpp_fast"):
        answers = [csms.handle(authorize(n), "CS1") for n in range(3 * LOG_BURST)]
        logged = failure_lines(caplog)
        assert len(logged) == LOG_BURST
        assert all(r.exc_info is not None for r in logged)
        assert logged[0].getMessage() == "CS1: handler of Authorize (m0) raised"
        # another exception class of the same action is another kind: logged
        csms.handle(authorize(99, "VALUE"), "CS2")
        assert failure_lines(caplog)[-1].getMessage() == "CS2: handler of Authorize (m99) raised"
        now[0] += LOG_INTERVAL + 1
        csms.handle(authorize(100), "CS1")
    errors = [json.loads(answer or b"null")[2] for answer in answers]
    assert errors == ["InternalError"] * (3 * LOG_BURST)  # every CALL answered
    said = failure_lines(caplog)[-2:]
    assert said[0].getMessage() == (
        f"{2 * LOG_BURST} more 'handler of Authorize raised RuntimeError' messages "
        f"suppressed in {LOG_INTERVAL + 1:.0f} s"
    )
    assert said[1].getMessage() == "CS1: handler of Authorize (m100) raised"


def test_a_server_closing_says_how_many_failures_it_held_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The count of a storm that stopped is said when the server closes (no next failure
    of the kind need come)."""

    async def scenario() -> None:
        server = await serve(Csms(), "127.0.0.1", 0)
        station = await connect(v16.Charger(), f"ws://127.0.0.1:{server.port}/ocpp/CS9")
        try:
            for _ in range(LOG_BURST + 3):
                with pytest.raises(InternalError):
                    await station.call(v16.messages.AuthorizeRequest(id_tag="T1"), timeout=5)
        finally:
            await station.close()
            await server.close()

    with caplog.at_level(logging.INFO, logger="ocpp_fast"):
        asyncio.run(scenario())
    messages = [r.getMessage() for r in failure_lines(caplog)]
    assert len(messages) == LOG_BURST + 1
    assert messages[-1].startswith("3 more 'handler of Authorize raised RuntimeError' messages")


def test_a_send_handlers_failures_are_bounded_alike(caplog: pytest.LogCaptureFixture) -> None:
    """A 2.1 SEND's handler failing (never answered: only the log knows) counts alike."""
    with caplog.at_level(logging.INFO, logger="ocpp_fast"):
        for n in range(LOG_BURST + 5):
            dispatch.send_failed(
                Send(f"s{n}", "NotifyPeriodicEventStream", STREAMED), RuntimeError("down"), "CS3"
            )
    messages = [r.getMessage() for r in failure_lines(caplog)]
    assert messages == [
        f"CS3: handler of SEND NotifyPeriodicEventStream (s{n}) raised" for n in range(LOG_BURST)
    ]
