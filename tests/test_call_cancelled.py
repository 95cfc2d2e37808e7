"""A CALL whose ``call()`` was cancelled: never sent if it was still queued, and, if it was on
the wire, the next CALL waits for its answer only until its own deadline.

Before: a cancelled ``call()`` left its CALL in the protocol's queue, so it went out later
(the peer acted on what the caller had given up, its answer discarded); and one cancelled
while on the wire held the one-at-a-time slot until the peer answered, so a peer that never
did blocked every later CALL of the connection for good.

The order of things is what these tests look at, never the time taken (the machine may be
loaded): the station and the library's log lines write into one list, so "the next CALL went
out only once the cancelled one timed out" is which entry comes first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from ocpp_fast import v201
from ocpp_fast.aio import connect_in_memory
from ocpp_fast.transport import connect, serve
from ocpp_fast.v201 import enums, messages

RESET = messages.ResetRequest(type=enums.ResetEnumType.IMMEDIATE)
UNLOCK = messages.UnlockConnectorRequest(evse_id=1, connector_id=1)


class Station(v201.Charger):
    """Answers Reset only once ``gate`` is set; records every CALL it gets in ``seen``, and
    each in ``events`` too, where :func:`said` adds the library's lines in the order they
    came, and the loop's time it came at in ``at``."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.seen: list[str] = []
        self.events: list[str] = []
        self.at: dict[str, float] = {}

    def got(self, action: str) -> None:
        self.seen.append(action)
        self.events.append(action)
        self.at[action] = asyncio.get_running_loop().time()

    async def reset(self, request: messages.ResetRequest) -> messages.ResetResponse:
        self.got("Reset")
        await self.gate.wait()
        return messages.ResetResponse(status=enums.ResetStatusEnumType.ACCEPTED)

    def clear_cache(self, request: messages.ClearCacheRequest) -> messages.ClearCacheResponse:
        self.got("ClearCache")
        return messages.ClearCacheResponse(status=enums.ClearCacheStatusEnumType.ACCEPTED)

    def unlock_connector(
        self, request: messages.UnlockConnectorRequest
    ) -> messages.UnlockConnectorResponse:
        self.got("UnlockConnector")
        return messages.UnlockConnectorResponse(status=enums.UnlockStatusEnumType.UNLOCKED)


class Said(logging.Handler):
    """Adds ``timed out`` / ``discarded`` to ``events`` when the library says a CALL timed
    out or that its late answer was discarded."""

    def __init__(self, events: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage()
        if " timed out (" in line:
            self.events.append("timed out")
        elif "discarding the CALLRESULT" in line:
            self.events.append("discarded")


@contextmanager
def said(events: list[str]) -> Iterator[None]:
    """The library's lines of timeouts and discarded answers, in ``events`` as they come."""
    handler = Said(events)
    logger = logging.getLogger("ocpp_fast")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


async def cancelled(task: asyncio.Task[object]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def handling(station: Station, *actions: str) -> None:
    """Wait until the station has got ``actions``: a CALL is on the wire once its handler
    runs (the bound only stops a hang)."""
    async with asyncio.timeout(20):
        while station.seen != list(actions):
            await asyncio.sleep(0.005)


DEADLINE = 1.0
"""The timeout of the CALL cancelled on the wire: it must still be running when the test
cancels it, a few loop turns after it was sent (a loaded machine may stall a while)."""

HANG = 20.0
"""The timeout of every other CALL: only a hang ends it (a CALL held for good)."""


def test_a_queued_call_that_was_cancelled_is_never_sent() -> None:
    async def scenario() -> None:
        station = Station()
        pair = connect_in_memory(station, v201.ChargeSystem())
        csms = pair[1]
        first = asyncio.create_task(csms.call(RESET, timeout=HANG))
        await handling(station, "Reset")  # on the wire, its handler waiting for the gate
        second = asyncio.create_task(csms.call(messages.ClearCacheRequest(), timeout=HANG))
        await asyncio.sleep(0.02)  # queued behind it
        await cancelled(second)
        station.gate.set()
        assert (await first).status == enums.ResetStatusEnumType.ACCEPTED
        unlocked = await csms.call(UNLOCK, timeout=HANG)
        assert unlocked.status == enums.UnlockStatusEnumType.UNLOCKED
        assert station.seen == ["Reset", "UnlockConnector"]
        await pair.close()

    asyncio.run(scenario())


def test_a_call_cancelled_on_the_wire_holds_the_next_one_until_its_deadline_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The peer never answers the cancelled CALL: the next CALL goes out once the cancelled
    one's deadline passed (not before: one CALL outstanding at a time), said as a timeout.

    Seen as an order: the station gets ClearCache after the line of Reset's timeout, and
    while Reset's handler still waits (it is let go only after). Were the next CALL held
    until the peer answered, it would time out instead; sent at once, it would come before
    the timeout's line; timed out early, it would come before Reset's deadline on the loop's
    clock (a lower bound: a loaded machine only makes it come later)."""

    async def scenario() -> None:
        station = Station()
        pair = connect_in_memory(station, v201.ChargeSystem())
        csms = pair[1]
        with said(station.events):
            deadline = asyncio.get_running_loop().time() + DEADLINE  # or a little later
            first = asyncio.create_task(csms.call(RESET, timeout=DEADLINE))
            await handling(station, "Reset")
            await cancelled(first)
            answer = await csms.call(messages.ClearCacheRequest(), timeout=HANG)
            assert answer.status == enums.ClearCacheStatusEnumType.ACCEPTED
            assert station.events == ["Reset", "timed out", "ClearCache"]
            assert station.at["ClearCache"] >= deadline  # a load can only make it later
            station.gate.set()  # its answer now comes late: discarded, nothing else moves
            await asyncio.sleep(0.05)
            unlocked = await csms.call(UNLOCK, timeout=HANG)
            assert unlocked.status == enums.UnlockStatusEnumType.UNLOCKED
            assert station.events == [
                "Reset",
                "timed out",
                "ClearCache",
                "discarded",
                "UnlockConnector",
            ]
        await pair.close()

    with caplog.at_level(logging.WARNING):
        asyncio.run(scenario())
    timed_out = [r for r in caplog.records if "Reset timed out (" in r.getMessage()]
    assert len(timed_out) == 1 and getattr(timed_out[0], "action", None) == "Reset"


def test_a_call_cancelled_on_the_wire_and_answered_lets_the_next_go_at_once() -> None:
    """The cancelled CALL's answer frees the slot: the next CALL goes out on it, not at the
    cancelled one's deadline (an hour away: a test waiting for it ends at the hang bound),
    and nothing is said timed out (nor discarded: nobody awaited that answer)."""

    async def scenario() -> None:
        station = Station()
        pair = connect_in_memory(station, v201.ChargeSystem())
        csms = pair[1]
        with said(station.events):
            first = asyncio.create_task(csms.call(RESET, timeout=3600))
            await handling(station, "Reset")
            await cancelled(first)
            second = asyncio.create_task(csms.call(messages.ClearCacheRequest(), timeout=3600))
            await asyncio.sleep(0.05)
            assert station.seen == ["Reset"]  # one CALL outstanding: the cancelled one's
            station.gate.set()
            answer = await asyncio.wait_for(second, HANG)
            assert answer.status == enums.ClearCacheStatusEnumType.ACCEPTED
            assert station.events == ["Reset", "ClearCache"]  # nothing timed out
        await pair.close()

    asyncio.run(scenario())


@pytest.mark.usefixtures("backend")
def test_over_a_socket_a_cancelled_call_is_dropped_or_expires() -> None:
    """The same through ``serve()`` and ``connect()`` on each backend (websockets sends
    through a task, picows writes at once): a queued CALL cancelled is never sent, and the
    cancelled one on the wire lets the next go at its deadline (after the line of its
    timeout, its handler still waiting)."""

    async def scenario() -> None:
        station = Station()
        server = await serve(v201.ChargeSystem())
        client = await connect(station, f"ws://127.0.0.1:{server.port}/CS001")
        try:
            async with asyncio.timeout(HANG):
                while "CS001" not in server.connections:
                    await asyncio.sleep(0.01)
            csms = server.connections["CS001"]
            with said(station.events):
                deadline = asyncio.get_running_loop().time() + DEADLINE  # or a little later
                first = asyncio.create_task(csms.call(RESET, timeout=DEADLINE))
                await handling(station, "Reset")
                queued = asyncio.create_task(csms.call(messages.ClearCacheRequest(), timeout=HANG))
                await asyncio.sleep(0.02)
                await cancelled(queued)
                await cancelled(first)
                unlocked = await csms.call(UNLOCK, timeout=HANG)
            assert unlocked.status == enums.UnlockStatusEnumType.UNLOCKED
            assert station.events == ["Reset", "timed out", "UnlockConnector"]
            assert station.at["UnlockConnector"] >= deadline  # one loop: the same clock
        finally:
            station.gate.set()
            await client.close()
            await server.close()

    asyncio.run(scenario())
