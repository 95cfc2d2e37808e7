"""A CALL whose ``call()`` was cancelled: never sent if it was still queued, and, if it was on
the wire, the next CALL waits for its answer only until its own deadline.

Before: a cancelled ``call()`` left its CALL in the protocol's queue, so it went out later
(the peer acted on what the caller had given up, its answer discarded); and one cancelled
while on the wire held the one-at-a-time slot until the peer answered, so a peer that never
did blocked every later CALL of the connection for good.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from ocpp_fast import v201
from ocpp_fast.aio import connect_in_memory
from ocpp_fast.transport import connect, serve
from ocpp_fast.v201 import enums, messages

RESET = messages.ResetRequest(type=enums.ResetEnumType.IMMEDIATE)
UNLOCK = messages.UnlockConnectorRequest(evse_id=1, connector_id=1)


class Station(v201.Charger):
    """Answers Reset only once ``gate`` is set; records every CALL it gets."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.seen: list[str] = []

    async def reset(self, request: messages.ResetRequest) -> messages.ResetResponse:
        self.seen.append("Reset")
        await self.gate.wait()
        return messages.ResetResponse(status=enums.ResetStatusEnumType.ACCEPTED)

    def clear_cache(self, request: messages.ClearCacheRequest) -> messages.ClearCacheResponse:
        self.seen.append("ClearCache")
        return messages.ClearCacheResponse(status=enums.ClearCacheStatusEnumType.ACCEPTED)

    def unlock_connector(
        self, request: messages.UnlockConnectorRequest
    ) -> messages.UnlockConnectorResponse:
        self.seen.append("UnlockConnector")
        return messages.UnlockConnectorResponse(status=enums.UnlockStatusEnumType.UNLOCKED)


async def cancelled(task: asyncio.Task[object]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_a_queued_call_that_was_cancelled_is_never_sent() -> None:
    async def scenario() -> None:
        station = Station()
        pair = connect_in_memory(station, v201.ChargeSystem())
        csms = pair[1]
        first = asyncio.create_task(csms.call(RESET, timeout=5))
        await asyncio.sleep(0.02)  # on the wire, its handler waiting for the gate
        second = asyncio.create_task(csms.call(messages.ClearCacheRequest(), timeout=5))
        await asyncio.sleep(0.02)  # queued behind it
        await cancelled(second)
        station.gate.set()
        assert (await first).status == enums.ResetStatusEnumType.ACCEPTED
        unlocked = await csms.call(UNLOCK, timeout=5)
        assert unlocked.status == enums.UnlockStatusEnumType.UNLOCKED
        assert station.seen == ["Reset", "UnlockConnector"]
        await pair.close()

    asyncio.run(scenario())


def test_a_call_cancelled_on_the_wire_holds_the_next_one_until_its_deadline_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The peer never answers the cancelled CALL: the next CALL goes out once the cancelled
    one's deadline passed (not before: one CALL outstanding at a time), said as a timeout."""

    async def scenario() -> None:
        station = Station()
        pair = connect_in_memory(station, v201.ChargeSystem())
        csms = pair[1]
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = asyncio.create_task(csms.call(RESET, timeout=0.4))
        await asyncio.sleep(0.02)
        await cancelled(first)
        answer = await csms.call(messages.ClearCacheRequest(), timeout=3)
        waited = loop.time() - started
        assert answer.status == enums.ClearCacheStatusEnumType.ACCEPTED
        assert station.seen == ["Reset", "ClearCache"]
        assert 0.35 <= waited < 2.5
        station.gate.set()  # its answer now comes late: discarded, nothing else moves
        await asyncio.sleep(0.05)
        unlocked = await csms.call(UNLOCK, timeout=3)
        assert unlocked.status == enums.UnlockStatusEnumType.UNLOCKED
        await pair.close()

    with caplog.at_level(logging.WARNING):
        asyncio.run(scenario())
    said = [r.getMessage() for r in caplog.records]
    timed_out = [r for r in caplog.records if "Reset timed out (" in r.getMessage()]
    assert len(timed_out) == 1 and getattr(timed_out[0], "action", None) == "Reset"
    assert sum("discarding the CALLRESULT of Reset" in line for line in said) == 1, said


def test_a_call_cancelled_on_the_wire_and_answered_lets_the_next_go_at_once() -> None:
    async def scenario() -> None:
        station = Station()
        pair = connect_in_memory(station, v201.ChargeSystem())
        csms = pair[1]
        loop = asyncio.get_running_loop()
        first = asyncio.create_task(csms.call(RESET, timeout=30))
        await asyncio.sleep(0.02)
        await cancelled(first)
        second = asyncio.create_task(csms.call(messages.ClearCacheRequest(), timeout=30))
        await asyncio.sleep(0.05)
        assert station.seen == ["Reset"]  # one CALL outstanding: the cancelled one's
        started = loop.time()
        station.gate.set()
        assert (await second).status == enums.ClearCacheStatusEnumType.ACCEPTED
        assert loop.time() - started < 1
        assert station.seen == ["Reset", "ClearCache"]
        await pair.close()

    asyncio.run(scenario())


@pytest.mark.usefixtures("backend")
def test_over_a_socket_a_cancelled_call_is_dropped_or_expires() -> None:
    """The same through ``serve()`` and ``connect()`` on each backend (websockets sends
    through a task, picows writes at once): a queued CALL cancelled is never sent, and the
    cancelled one on the wire lets the next go at its deadline."""

    async def scenario() -> None:
        station = Station()
        server = await serve(v201.ChargeSystem())
        client = await connect(station, f"ws://127.0.0.1:{server.port}/CS001")
        try:
            for _ in range(200):
                if "CS001" in server.connections:
                    break
                await asyncio.sleep(0.01)
            csms = server.connections["CS001"]
            loop = asyncio.get_running_loop()
            started = loop.time()
            first = asyncio.create_task(csms.call(RESET, timeout=0.4))
            await asyncio.sleep(0.05)
            queued = asyncio.create_task(csms.call(messages.ClearCacheRequest(), timeout=5))
            await asyncio.sleep(0.02)
            await cancelled(queued)
            await cancelled(first)
            unlocked = await csms.call(UNLOCK, timeout=3)
            assert unlocked.status == enums.UnlockStatusEnumType.UNLOCKED
            assert 0.35 <= loop.time() - started < 2.5
            assert station.seen == ["Reset", "UnlockConnector"]
        finally:
            station.gate.set()
            await client.close()
            await server.close()

    asyncio.run(scenario())
