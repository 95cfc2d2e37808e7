"""A cancelled ``start()`` ends whatever its ``@on`` handler does with the ``CancelledError``.

A backend cancels ``start()`` when the station's connection is closed (the server's handler
ending). A handler that catches the cancel, inside a CALL's or a 2.1 SEND's handling, either
returns (it had a ``try/except asyncio.CancelledError: pass`` around its await) or awaits on
(a retry loop). The drop-in's ``start()`` ends all the same, cancelled: a handler that returns
is done, one that awaits on is left running after ``handler_grace`` seconds, a WARNING naming
its CALL (or SEND) by action and message id [cancelled_start_ends_whatever_the_handler_does].
The SEND's handler was awaited inside ``start()``'s own task: one that returned made
``start()`` read the next frame, its cancel lost, one that awaited on kept it waiting forever.

``ocpp`` 2.1.0, the oracle for what a drop-in user expects, keeps its ``start()`` running in
both CALL cases (it awaits the handler inline: the cancel is lost, or waited on forever)
and reads no SEND at all (MessageTypeId 6 is not valid to it: the frame is logged and dropped,
the handler never runs) [ocpps_start_outlives_its_cancel]: the drop-in's bound is a
documented difference (docs/explanation/compat-differences.md).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ocpp.v21
import pytest
from ocpp.routing import on
from ocpp.v21 import call_result

from ocpp_fast.compat import v21

SEND = (
    '[6,"s1","NotifyPeriodicEventStream",{"id":1,"pending":0,'
    '"basetime":"2026-11-30T10:00:00Z","data":[{"t":0,"v":"1"}]}]'
)
CALL = '[2,"c1","Heartbeat",{}]'
FRAMES = {"CALL": CALL, "SEND": SEND}
NAMED = {"CALL": "Heartbeat c1", "SEND": "NotifyPeriodicEventStream s1"}
"""How the WARNING names the handler left running: its action and message id."""
GUARD = 5.0
"""Seconds waited for start() to end: a guard against a hang, not a speed figure."""


class Connection:
    """An in-memory connection: frames put in ``incoming``, the reads counted, sends kept."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[str] = asyncio.Queue()
        self.reads = 0
        self.sent: list[str] = []

    async def recv(self) -> str:
        self.reads += 1
        return await self.incoming.get()

    async def send(self, text: str) -> None:
        self.sent.append(text)


def backend(base: type[Any], after_cancel: str) -> Any:
    """A 2.1 backend whose Heartbeat (CALL) and NotifyPeriodicEventStream (SEND) handlers
    await something that never comes, catching the cancel: then they return
    (``after_cancel="returns"``) or await on (``"awaits on"``, until cancelled twice)."""

    class Backend(base):  # type: ignore[misc]
        handler_grace = 0.05
        entered: asyncio.Event
        cancels_caught: int

        async def hold(self) -> None:
            self.entered.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancels_caught += 1
                if after_cancel == "awaits on":
                    await asyncio.Event().wait()

        @on("NotifyPeriodicEventStream")  # type: ignore[untyped-decorator]
        async def on_stream(self, **_: Any) -> None:
            await self.hold()

        @on("Heartbeat")  # type: ignore[untyped-decorator]
        async def on_heartbeat(self, **_: Any) -> Any:
            await self.hold()
            return call_result.Heartbeat(current_time="2026-12-05T06:00:00Z")

    made = Backend("CP1", Connection())
    made.entered = asyncio.Event()
    made.cancels_caught = 0
    return made


async def cancel_in_the_handler(made: Any, frame: str, wait: float = GUARD) -> asyncio.Task[None]:
    """``start()`` cancelled while the handler of ``frame`` awaits; a CALL queued after it;
    ``wait``: seconds given to ``start()`` to end."""
    reading = asyncio.create_task(made.start())
    made._connection.incoming.put_nowait(frame)
    await asyncio.wait_for(made.entered.wait(), GUARD)
    reading.cancel()
    made._connection.incoming.put_nowait('[2,"c2","Heartbeat",{}]')
    await asyncio.wait({reading}, timeout=wait)
    return reading


async def end(reading: asyncio.Task[None]) -> None:
    """Cancel what the scenario left running (the ocpp oracle's start(), handlers left)."""
    reading.cancel()
    for task in asyncio.all_tasks() - {asyncio.current_task()}:
        task.cancel()
    await asyncio.sleep(0)


@pytest.mark.parametrize("after_cancel", ["returns", "awaits on"])
@pytest.mark.parametrize("kind", ["CALL", "SEND"])
def test_cancelled_start_ends_whatever_the_handler_does(
    kind: str, after_cancel: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def run() -> None:
        made = backend(v21.ChargePoint, after_cancel)
        with caplog.at_level(logging.WARNING, logger="ocpp"):
            reading = await cancel_in_the_handler(made, FRAMES[kind])
        try:
            assert reading.done(), f"start() still runs after its cancel ({kind} {after_cancel})"
            assert reading.cancelled()
            assert made.cancels_caught == 1  # the handler got the cancel
            # the frame after it is never read: start() did not read on
            assert made._connection.reads == (2 if kind == "CALL" else 1)
            assert '"c2"' not in "".join(made._connection.sent)
            warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            assert warnings == (
                [
                    "CP1: 1 handler(s) still running 0.05 s after start() was cancelled (they "
                    f"caught CancelledError): {NAMED[kind]}; start() stops anyway, leaving them "
                    "running; let CancelledError leave the handler (and route_message)"
                ]
                if after_cancel == "awaits on"
                else []
            )
        finally:
            await end(reading)

    asyncio.run(run())


@pytest.mark.parametrize("after_cancel", ["returns", "awaits on"])
def test_ocpps_start_outlives_its_cancel(after_cancel: str) -> None:
    async def run() -> None:
        made = backend(ocpp.v21.ChargePoint, after_cancel)
        reading = await cancel_in_the_handler(made, CALL, wait=0.3)  # it would not end later
        try:
            assert not reading.done()
            assert made.cancels_caught == 1
            if after_cancel == "returns":  # c1 answered, c2 read and handled: read on
                assert made._connection.reads == 2
                assert '"c1"' in "".join(made._connection.sent)
            else:  # waits for c1's handler forever
                assert made._connection.reads == 1
        finally:
            await end(reading)
        # a SEND is no frame to ocpp 2.1.0: its handler never runs
        made = backend(ocpp.v21.ChargePoint, after_cancel)
        reading = asyncio.create_task(made.start())
        made._connection.incoming.put_nowait(SEND)
        made._connection.incoming.put_nowait('[2,"c2","Heartbeat",{}]')
        await asyncio.wait_for(made.entered.wait(), GUARD)  # c2's handler, not the SEND's
        assert made._connection.reads == 2
        await end(reading)

    asyncio.run(run())
