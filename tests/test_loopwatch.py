"""A blocked event loop is said (``Limits.loop_blocked``): a plain handler that sleeps holds
every station of the process, and the sweep of slow handlers, itself on the loop, cannot see
it. A thread beside the loop says where it is blocked (the handler, its action and station)
and for how long, once per block, counted in ``ocpp_loop_blocked_total``. Real sockets on
127.0.0.1 on both backends, and a real ``ocpp-fast serve``."""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import sched
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, cast

import pytest
from prometheus_client import generate_latest
from serve_proc import start
from test_hostile import until
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from ocpp_fast.dispatch import CallContext
from ocpp_fast.metrics import Metrics
from ocpp_fast.transport import Limits, serve
from ocpp_fast.transport._loopwatch import _watches, blocked_where, handler_codes, watch_loop
from ocpp_fast.v201 import ChargeSystem, datatypes, enums, messages

THREAD = "ocpp-fast loop watch"
NOON = datetime.datetime(2026, 12, 4, 12, tzinfo=datetime.UTC)
BLOCKED = "event loop blocked for more than"
RESUMED = "event loop runs again after"
OCPP201 = [Subprotocol("ocpp2.0.1")]


def watches() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == THREAD]


class Blocking(ChargeSystem):
    """Heartbeats of stations named ``block*`` sleep ``seconds`` in a plain handler."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def heartbeat(
        self, request: messages.HeartbeatRequest, context: CallContext
    ) -> messages.HeartbeatResponse:
        if context.identity.startswith("block"):
            time.sleep(self.seconds)  # a driver that is not asyncio
        return messages.HeartbeatResponse(current_time=NOON)


def lines(caplog: pytest.LogCaptureFixture, words: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if words in r.getMessage()]


def test_a_sync_handler_blocking_the_loop_is_named_then_timed(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ocpp_fast")
    metrics = Metrics()

    async def session() -> tuple[int, int]:
        limits = Limits(loop_blocked=0.5)
        server = await serve(Blocking(2.0), backend=backend, limits=limits, metrics=metrics)
        running = len(watches())
        try:
            url = f"ws://127.0.0.1:{server.port}/"
            async with ws_connect(url + "block1", subprotocols=OCPP201) as station:
                await station.send('[2,"b1","Heartbeat",{}]')
                assert json.loads(await station.recv())[1] == "b1"
                assert await until(lambda: bool(lines(caplog, RESUMED)))
        finally:
            await server.close()
        return running, len(watches())

    assert asyncio.run(asyncio.wait_for(session(), 20)) == (1, 0)  # one thread, gone at close
    (blocked,) = lines(caplog, BLOCKED)
    assert blocked.levelno == logging.WARNING
    text = blocked.getMessage()
    assert "in Blocking.heartbeat (" in text and "test_loopwatch.py:" in text, text
    assert text.endswith(", the handler of Heartbeat (b1) of block1"), text
    fields = blocked.__dict__
    assert (fields["action"], fields["identity"], fields["message_id"]) == (
        "Heartbeat",
        "block1",
        "b1",
    )
    assert (fields["function"], Path(fields["file"]).name) == (
        "Blocking.heartbeat",
        "test_loopwatch.py",
    )
    (resumed,) = lines(caplog, RESUMED)
    assert 1.6 <= resumed.__dict__["blocked_for"] <= 2.6, resumed.getMessage()
    assert metrics.loop_blocks == 1
    assert 1.6 <= metrics.loop_blocked_seconds <= 2.6
    exposed = generate_latest(metrics.registry).decode()
    assert "\nocpp_loop_blocked_total 1.0\n" in exposed


def test_a_handler_that_does_not_block_says_nothing(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ocpp_fast")
    metrics = Metrics()

    async def session() -> None:
        server = await serve(
            Blocking(2.0), backend=backend, limits=Limits(loop_blocked=0.5), metrics=metrics
        )
        try:
            url = f"ws://127.0.0.1:{server.port}/"
            async with ws_connect(url + "quick1", subprotocols=OCPP201) as station:
                for n in range(20):
                    await station.send(f'[2,"q{n}","Heartbeat",{{}}]')
                    assert json.loads(await station.recv())[1] == f"q{n}"
                    await asyncio.sleep(0.05)  # a second of serving, several checks
        finally:
            await server.close()

    asyncio.run(asyncio.wait_for(session(), 20))
    assert lines(caplog, "event loop") == []
    assert (metrics.loop_blocks, metrics.loop_blocked_seconds) == (0, 0.0)
    assert watches() == []


def test_one_watch_per_loop_and_none_when_disabled() -> None:
    """Two servers on one loop share one thread, kept until the last closes; ``None`` and 0
    start none."""

    async def session() -> list[int]:
        counts = []
        first = await serve(Blocking(0), limits=Limits(loop_blocked=1.0))
        second = await serve(Blocking(0), limits=Limits(loop_blocked=0.5))
        counts.append(len(watches()))
        await first.close()
        counts.append(len(watches()))
        await second.close()
        counts.append(len(watches()))
        for off in (None, 0.0):
            server = await serve(Blocking(0), limits=Limits(loop_blocked=off))
            counts.append(len(watches()))
            await server.close()
        return counts

    assert asyncio.run(session()) == [1, 1, 0, 0, 0]


def test_the_stop_is_prompt() -> None:
    """A server's close waits for the watch's thread, and that takes no longer than the thread
    needs to see the stop (it waits on an event, not a sleep)."""

    async def session() -> float:
        server = await serve(Blocking(0), limits=Limits(loop_blocked=30.0))  # looks every 3 s
        began = time.monotonic()
        await server.close()
        return time.monotonic() - began

    assert asyncio.run(session()) < 1.0
    assert watches() == []


def test_loop_blocked_is_checked() -> None:
    for wrong in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="loop_blocked"):
            Limits(loop_blocked=wrong)
    assert Limits(loop_blocked=None).loop_blocked is None


class Lookup(ChargeSystem):
    """A handler with no context, blocked in a helper of the user's."""

    def __init__(self, held: threading.Event, release: threading.Event) -> None:
        self.held, self.release = held, release

    def authorize(self, request: messages.AuthorizeRequest) -> messages.AuthorizeResponse:
        return self.query(request.id_token.id_token)

    def query(self, token: str) -> messages.AuthorizeResponse:
        self.held.set()
        self.release.wait(10)
        accepted = enums.AuthorizationStatusEnumType.ACCEPTED
        return messages.AuthorizeResponse(id_token_info=datatypes.IdTokenInfoType(status=accepted))


AUTHORIZE = messages.AuthorizeRequest(
    id_token=datatypes.IdTokenType(id_token="T", type=enums.IdTokenEnumType.ISO14443)
)


def where_blocked(
    handler: ChargeSystem,
    held: threading.Event,
    release: threading.Event,
    run: Callable[[], object],
) -> tuple[str, dict[str, Any]]:
    """``blocked_where`` of a thread running ``run`` while it waits in ``handler`` (which
    sets ``held`` then waits for ``release``), as the watch reads the loop's thread."""
    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert held.wait(10)
        frame = sys._current_frames()[thread.ident]  # type: ignore[index]
        where = blocked_where(frame, handler_codes([handler]))
        del frame
    finally:
        release.set()
        thread.join()
    return where


def test_the_frames_named_are_the_users_innermost_then_the_handler() -> None:
    """A handler blocked in a helper: the helper named first, then the handler, with its
    action (no context: no station); the innermost frame, in the standard library, first."""
    held, release = threading.Event(), threading.Event()
    handler = Lookup(held, release)
    text, fields = where_blocked(handler, held, release, lambda: handler.authorize(AUTHORIZE))
    innermost, helper, handler_frame = text.split(" called by ")
    assert innermost.startswith("Condition.wait (") and "threading.py:" in innermost
    assert helper.startswith("Lookup.query (")
    assert handler_frame.startswith("Lookup.authorize (")
    assert handler_frame.endswith(", the handler of Authorize")
    assert fields["function"] == "Lookup.query" and fields["action"] == "Authorize"
    assert "identity" not in fields


class Direct(ChargeSystem):
    """A handler blocked in its own body (no helper between it and the wait)."""

    def __init__(self, held: threading.Event, release: threading.Event) -> None:
        self.held, self.release = held, release

    def authorize(self, request: messages.AuthorizeRequest) -> messages.AuthorizeResponse:
        self.held.set()
        self.release.wait(10)
        accepted = enums.AuthorizationStatusEnumType.ACCEPTED
        return messages.AuthorizeResponse(id_token_info=datatypes.IdTokenInfoType(status=accepted))


def program(handler: Direct, request: messages.AuthorizeRequest) -> None:
    """How the program started: user code that called the standard library (here
    ``sched``, as a console script's ``<module>`` calls ``asyncio.run``), which calls the
    handler."""
    runs = sched.scheduler()
    runs.enter(0, 1, handler.authorize, (request,))
    runs.run()


def test_what_started_the_program_is_not_named_as_a_caller() -> None:
    """Only the user's frames inside the library's call are named: the ``program`` below
    ``sched`` is not (an installed ``ocpp-fast`` named its console script's ``<module>`` as
    the handler's caller)."""
    held, release = threading.Event(), threading.Event()
    handler = Direct(held, release)
    text, fields = where_blocked(handler, held, release, lambda: program(handler, AUTHORIZE))
    innermost, handler_frame = text.split(" called by ")
    assert innermost.startswith("Condition.wait (") and "threading.py:" in innermost
    assert handler_frame.startswith("Direct.authorize (")
    assert handler_frame.endswith(", the handler of Authorize"), text
    assert fields["function"] == "Direct.authorize"


APP = """
import time

from ocpp_fast.v201 import ChargeSystem, messages


class Csms(ChargeSystem):
    def heartbeat(self, request, context):
        time.sleep(1.5)
        return messages.HeartbeatResponse(current_time="2026-12-04T00:00:00Z")
"""


def test_serve_says_the_blocked_loop(tmp_path: Path) -> None:
    """``ocpp-fast serve --limit loop_blocked=0.5``: both lines in the command's log."""
    (tmp_path / "block_app.py").write_text(textwrap.dedent(APP))
    server = start("block_app:Csms", "--limit", "loop_blocked=0.5", cwd=tmp_path)
    try:
        assert "block_app:Csms on ws://" in server.line()

        async def visit() -> list[str]:
            async with ws_connect(
                f"ws://127.0.0.1:{server.port}/CS8", subprotocols=OCPP201
            ) as websocket:
                await websocket.send('[2,"z1","Heartbeat",{}]')
                seen: list[str] = []
                while not any(RESUMED in line for line in seen):
                    seen.append(await asyncio.to_thread(server.line))
                await asyncio.to_thread(server.stop)
                return seen

        seen = asyncio.run(asyncio.wait_for(visit(), 20))
    finally:
        if server.process.poll() is None:
            server.process.kill()
    (blocked,) = [line for line in seen if BLOCKED in line]
    assert " warning " in blocked and "in Csms.heartbeat (block_app.py:" in blocked, blocked
    assert blocked.rstrip().endswith("the handler of Heartbeat (z1) of CS8"), blocked
    assert len([line for line in seen if RESUMED in line]) == 1


def test_a_loop_closed_without_the_servers_close_ends_its_watch() -> None:
    """A server never closed (a script that ends without ``close()``; its part of the watch,
    here, never released): its loop closed, the thread ends at its next look and lets the
    loop go."""

    async def session() -> None:
        watch_loop(0.2, [Blocking(0)])
        assert len(watches()) == 1

    asyncio.run(session())
    deadline = time.monotonic() + 5
    while watches() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert watches() == []
    assert len(_watches) == 0


def test_blocks_are_said_once_each_and_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    """A loop blocked again and again: one line per block and one per its end, 10 blocks a
    minute per process (the limiter's share), the blocks past those counted all the same.

    The watch samples from a thread of its own: on a loaded machine that thread may not run
    during one of these short blocks, which then goes unseen (a fresh clone's run under load
    counted 11 of 12). So 14 blocks, and what is checked is the limiter's rule: 10 lines
    each, and more blocks counted than said."""
    caplog.set_level(logging.INFO, logger="ocpp_fast")
    metrics = Metrics()

    async def session() -> None:
        release = watch_loop(0.15, [], lambda: metrics)
        try:
            for _ in range(14):
                time.sleep(0.35)  # blocks the loop
                await asyncio.sleep(0.25)  # runs: the end is said
        finally:
            release()

    asyncio.run(session())
    assert len(lines(caplog, BLOCKED)) == 10
    assert len(lines(caplog, RESUMED)) == 10
    assert metrics.loop_blocks > 10, metrics.loop_blocks  # the lines are limited, not the count
    assert metrics.loop_blocked_seconds >= 10 * 0.3


def test_a_free_threaded_build_reads_no_locals(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the GIL nothing stops the loop's thread while the watch reads: the handler is
    named by its code alone there, its frame's locals never read; with it, its station and
    message id are read (the reading above)."""
    from ocpp_fast.transport import _loopwatch

    reads: list[int] = []

    class Frame:
        """A handler's frame as the watch sees it, counting the reads of its locals."""

        def __init__(self) -> None:
            self.f_code = Blocking.heartbeat.__code__
            self.f_lineno = self.f_code.co_firstlineno + 3
            self.f_back = None

        @property
        def f_locals(self) -> dict[str, Any]:
            reads.append(1)
            return {"context": CallContext("CS1", "m1")}

    codes = handler_codes([Blocking(0)])
    monkeypatch.setattr(_loopwatch, "LOCALS_READABLE", False)
    text, fields = blocked_where(cast(FrameType, Frame()), codes)
    assert text.endswith(", the handler of Heartbeat"), text
    assert "identity" not in fields and reads == []
    monkeypatch.setattr(_loopwatch, "LOCALS_READABLE", True)
    text, fields = blocked_where(cast(FrameType, Frame()), codes)
    assert text.endswith(", the handler of Heartbeat (m1) of CS1"), text
    assert (fields["identity"], fields["message_id"]) == ("CS1", "m1") and reads == [1]
