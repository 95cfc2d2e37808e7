"""A handler that hangs is visible to the operator: a WARNING names it while it runs
(``Limits.slow_handler``), once per CALL, rate-limited, counted in
``ocpp_slow_handlers_total``; the station's ``disconnected`` line and the shutdown line name the
handlers cancelled. Before, nothing was said until the station left and ``handler_grace`` ran
out, and then without the action or the message id. Real sockets on 127.0.0.1 on both
backends, and a real ``ocpp-fast serve``."""

from __future__ import annotations

import asyncio
import json
import logging
import textwrap
from pathlib import Path
from typing import Any

import pytest
from serve_proc import start
from test_hostile import Slow, until
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from ocpp_fast import v201
from ocpp_fast._ratelimit import LogLimiter
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.metrics import Metrics
from ocpp_fast.transport import Limits, serve
from ocpp_fast.transport._slow import SlowHandlers, in_hand, named_calls, named_stations
from ocpp_fast.v201 import messages

HUNG = 3600.0
"""A handler's ``delay``: one that never ends within a test (a database down)."""


def test_a_hung_handler_is_said_while_it_runs_then_named_as_cancelled(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ocpp_fast.transport")
    metrics = Metrics()

    def lines(words: str) -> list[logging.LogRecord]:
        return [r for r in caplog.records if words in r.getMessage()]

    def said_slow() -> list[logging.LogRecord]:
        return lines("Heartbeat (h1) still running after")

    async def session() -> int:
        handler = Slow(HUNG)
        limits = Limits(slow_handler=0.3, handler_grace=0.3)
        server = await serve(handler, backend=backend, limits=limits, metrics=metrics)
        url = f"ws://127.0.0.1:{server.port}/"
        try:
            async with (
                ws_connect(url + "slow1", subprotocols=[Subprotocol("ocpp2.0.1")]) as hung,
                ws_connect(url + "quick1", subprotocols=[Subprotocol("ocpp2.0.1")]) as quick,
            ):
                await hung.send('[2,"h1","Heartbeat",{}]')
                await quick.send('[2,"q1","Heartbeat",{}]')
                assert json.loads(await quick.recv())[1] == "q1"  # answered: never said
                assert await until(lambda: bool(said_slow()))
                await asyncio.sleep(0.6)  # several sweeps more: still said once
            assert await until(lambda: bool(lines("slow1: disconnected")))
        finally:
            await server.close()
        return handler.cancelled

    assert asyncio.run(asyncio.wait_for(session(), 20)) == 1  # by the grace's end, as before
    slow = said_slow()
    assert len(slow) == 1, [r.getMessage() for r in slow]
    assert slow[0].getMessage().startswith("slow1: handler of Heartbeat (h1) still running")
    assert slow[0].levelno == logging.WARNING
    said = slow[0].__dict__
    assert (said["identity"], said["action"], said["message_id"]) == ("slow1", "Heartbeat", "h1")
    assert dict(metrics.slow_handlers) == {"Heartbeat": 1}
    assert [r.getMessage() for r in lines("cancelling handlers")] == [
        "slow1: cancelling handlers still running after it left: Heartbeat h1"
    ]
    assert [r.getMessage() for r in lines("slow1: disconnected")] == [
        "slow1: disconnected: closed by the station (1000); handlers cancelled: Heartbeat h1"
    ]
    assert [r.getMessage() for r in lines("quick1: disconnected")] == [
        "quick1: disconnected: closed by the station (1000)"
    ]


def test_slow_handlers_are_said_once_each_and_rate_limited() -> None:
    """A database down under many stations: 10 lines a minute and a count of the rest, while
    the metric counts every one; each handler said once, however many sweeps see it."""
    logger = logging.getLogger("test_slow_handlers.limited")
    logger.setLevel(logging.WARNING)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger.addHandler(Keep())
    metrics = Metrics()
    clock = [0.0]
    limiter = LogLimiter(logger, clock=lambda: clock[0])
    slow = SlowHandlers(10.0, limiter, lambda: metrics)

    async def session() -> list[int]:
        handler = Slow(HUNG)
        connections = [
            (f"slow{i}", AsyncConnection(handler, write=lambda frame: None, identity=f"slow{i}"))
            for i in range(30)
        ]
        for i, (_, connection) in enumerate(connections):
            connection.feed(f'[2,"m{i}","Heartbeat",{{}}]'.encode())
        assert await until(lambda: handler.started == 30)
        counts = [slow.sweep(connections, now) for now in (0.0, 2.5, 9.9, 10.0, 12.5, 20.0)]
        for _, connection in connections:
            connection.stop()
        await asyncio.sleep(0)
        counts.append(slow.sweep(connections, 22.5))  # gone: forgotten
        return counts

    assert asyncio.run(asyncio.wait_for(session(), 10)) == [0, 0, 0, 30, 0, 0, 0]
    assert len(records) == 10
    assert records[0].getMessage() == "slow0: handler of Heartbeat (m0) still running after 10 s"
    assert metrics.slow_handlers == {"Heartbeat": 30}
    clock[0] = 61.0
    limiter.flush()
    assert records[-1].getMessage() == "20 more slow handler messages suppressed in 61 s"


class HandsBack(v201.ChargeSystem):
    """A plain handler handing back a future that nobody completes (answered later)."""

    def heartbeat(self, request: messages.HeartbeatRequest) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()


def test_a_future_handed_back_is_said_and_named_when_cancelled(
    dispatch_twin: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The handler that answers through a future it handed back is said and named as an
    ``async def`` one is (``AsyncConnection.running``), on the compiled path and the other."""
    caplog.set_level(logging.WARNING, logger="test_slow_handlers.future")
    slow = SlowHandlers(10.0, LogLimiter(logging.getLogger("test_slow_handlers.future")))

    async def session() -> tuple[int, str, list[tuple[str, str]]]:
        connection = AsyncConnection(HandsBack(), write=lambda frame: None, identity="CS5")
        connection.feed(b'[2,"f1","Heartbeat",{}]')
        said = slow.sweep([("CS5", connection)], 0.0) + slow.sweep([("CS5", connection)], 10.0)
        named = in_hand(connection)
        connection.stop()
        await asyncio.sleep(0)
        return said, named, connection.cancelled

    assert asyncio.run(session()) == (1, "Heartbeat f1", [("Heartbeat", "f1")])
    assert [r.getMessage() for r in caplog.records] == [
        "CS5: handler of Heartbeat (f1) still running after 10 s"
    ]


def test_named_calls_are_bounded() -> None:
    calls = [("Authorize", f"a{i}") for i in range(7)]
    assert named_calls(calls[:2]) == "Authorize a0, Authorize a1"
    assert named_calls(calls) == (
        "Authorize a0, Authorize a1, Authorize a2, Authorize a3, Authorize a4 and 2 more"
    )
    assert named_calls(calls[:1], total=3) == "Authorize a0 and 2 more"  # some unnamed
    assert named_calls([], total=2) == "2 unnamed"
    assert named_calls([("Heartbeat", "x\ny")]) == "Heartbeat x\\ny"  # the peer's id, escaped


def test_a_stops_line_names_its_first_stations_and_counts_the_rest() -> None:
    """The server's and the worker's line about the CALLs a stop cancels, one helper."""
    parts = ["CS1: 2 (Authorize a0, Heartbeat a1)", "CS2: 1 (Reset r0)"]
    assert named_stations(parts, 2) == "CS1: 2 (Authorize a0, Heartbeat a1), CS2: 1 (Reset r0)"
    assert (
        named_stations(parts[:1], 12) == "CS1: 2 (Authorize a0, Heartbeat a1) and 11 more stations"
    )


def test_slow_handler_must_be_positive() -> None:
    with pytest.raises(ValueError, match="slow_handler"):
        Limits(slow_handler=0)
    assert not SlowHandlers(float("inf"), LogLimiter(logging.getLogger("x"))).enabled


APP = """
import asyncio

from ocpp_fast.v201 import ChargeSystem, messages


class Csms(ChargeSystem):
    async def heartbeat(self, request, context):
        await asyncio.Event().wait()  # the database that never answers
"""


def test_serve_says_the_hung_handler_and_names_it_at_shutdown(tmp_path: Path) -> None:
    """``ocpp-fast serve`` with ``--limit slow_handler=...``: the WARNING while it hangs, and
    the shutdown and ``disconnected`` lines naming it once ``--shutdown-timeout`` ran out."""
    (tmp_path / "slow_app.py").write_text(textwrap.dedent(APP))
    flags = ("slow_app:Csms", "--limit", "slow_handler=0.4", "--shutdown-timeout", "0.5")
    server = start(*flags, cwd=tmp_path)
    try:
        assert "slow_app:Csms on ws://" in server.line()

        async def visit() -> list[str]:
            async with ws_connect(
                f"ws://127.0.0.1:{server.port}/CS7", subprotocols=[Subprotocol("ocpp2.0.1")]
            ) as websocket:
                await websocket.send('[2,"db1","Heartbeat",{}]')
                seen: list[str] = []
                while not any("still running after" in line for line in seen):
                    seen.append(await asyncio.to_thread(server.line))
                await asyncio.to_thread(server.stop)  # the station still connected
                return seen

        seen = asyncio.run(asyncio.wait_for(visit(), 20))
    finally:
        if server.process.poll() is None:
            server.process.kill()
    slow = [line for line in seen if "still running after" in line]
    assert len(slow) == 1 and " warning CS7: handler of Heartbeat (db1) still running" in slow[0]
    assert "(CS7: 1 (Heartbeat db1))" in server.out, server.out
    assert "CS7: disconnected: the CSMS is shutting down; handlers cancelled: Heartbeat db1" in (
        server.out
    )
