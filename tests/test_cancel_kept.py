"""A task cancelled while it awaits ``call()`` is cancelled, even when the answer came in the
same turn of the loop: Python 3.11's ``asyncio.wait_for`` returned that answer and dropped
the cancel (the task went on as if never cancelled)."""

from __future__ import annotations

import asyncio

import msgspec

from ocpp_fast import v201
from ocpp_fast._awaited import within
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.v201 import messages


def test_a_call_cancelled_as_its_answer_comes_raises_cancelled() -> None:
    async def main() -> list[str]:
        sent: list[bytes] = []
        connection = AsyncConnection(v201.Charger(), write=sent.append, identity="CS1")
        seen = []
        for turns in range(3):  # the cancel 0, 1 or 2 turns after the answer was read
            sent.clear()
            task = asyncio.create_task(connection.call(messages.HeartbeatRequest(), timeout=5))
            while not sent:
                await asyncio.sleep(0)
            message_id = msgspec.json.decode(sent[-1])[1]
            answer = b'[3,"%b",{"currentTime":"2026-01-01T00:00:00Z"}]'
            connection.feed(answer % message_id.encode())
            for _ in range(turns):
                await asyncio.sleep(0)
            assert task.cancel(), "the task had ended already: the case is not the race"
            try:
                await task
                seen.append("returned")
            except asyncio.CancelledError:
                seen.append("cancelled")
        return seen

    assert asyncio.run(main()) == ["cancelled"] * 3


def test_an_answer_without_a_cancel_is_returned_and_a_timeout_raised() -> None:
    async def main() -> None:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.01, future.set_result, 7)
        assert await within(asyncio.shield(future), 1.0) == 7
        never: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        try:
            await within(asyncio.shield(never), 0.01)
        except TimeoutError:
            assert not never.cancelled()  # shielded: left to its owner
        else:
            raise AssertionError("no TimeoutError")

    asyncio.run(main())


def test_a_wait_for_an_event_cancelled_as_it_is_set_raises_cancelled() -> None:
    """The other wait of a call, for the accepted connection (``StationClient._live``,
    ``booted``): an ``asyncio.Event`` set in the turn its waiter was cancelled."""

    async def main() -> list[str]:
        seen = []
        for waits in (within, asyncio.wait_for):  # ours, and 3.11's own for comparison
            ready = asyncio.Event()
            task = asyncio.create_task(waits(ready.wait(), 5))
            await asyncio.sleep(0)  # waiting now
            ready.set()
            assert task.cancel()
            try:
                await task
                seen.append("returned")
            except asyncio.CancelledError:
                seen.append("cancelled")
        return seen

    seen = asyncio.run(main())
    assert seen[0] == "cancelled", seen  # whatever 3.11's wait_for did (seen[1])
