"""A stop under steady traffic: the CALLs in hand when it begins are answered, the ones a
station sends afterwards are read but not dispatched, and the stop ends when the in-hand
ones are done rather than at ``--shutdown-timeout``.

Before ``AsyncConnection.finish``, ``drain`` waited for every running handler, and each
answer let the station send its next CALL, which started another handler: a station that
keeps sending kept every stop waiting until its deadline, then had its newest CALL cancelled
and said as "still in hand at the deadline".
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from typing import Any

import pytest
from my_test_charge_system import MyTestChargeSystem
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from ocpp_fast import v201
from ocpp_fast.aio import NAMED_UNANSWERED, AsyncConnection
from ocpp_fast.dispatch import CallContext
from ocpp_fast.transport import connect, serve, serve_in_memory
from ocpp_fast.transport.backend import BACKENDS
from ocpp_fast.v201 import datatypes, messages

pytestmark = pytest.mark.usefixtures("dispatch_twin")

HEARTBEAT = '[2,"{}","Heartbeat",{{}}]'
NOW = datetime.datetime(2026, 12, 5, 12, 0, tzinfo=datetime.UTC)


class Plain(MyTestChargeSystem):
    """Heartbeats answered at once (the compiled path's kind of handler)."""

    def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        return messages.HeartbeatResponse(current_time=NOW)


class Awaiting(MyTestChargeSystem):
    """Heartbeats that await ``delay`` seconds (a database write), counted as they start."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.started: list[str] = []
        self.cancelled = 0

    async def heartbeat(  # type: ignore[override]
        self, request: messages.HeartbeatRequest, context: CallContext
    ) -> messages.HeartbeatResponse:
        self.started.append(context.message_id)
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return messages.HeartbeatResponse(current_time=NOW)


def test_a_finished_connection_reads_but_dispatches_no_new_call() -> None:
    """After ``finish`` a CALL is counted, not answered (on either twin of ``feed``); the
    answer to a call of ours is still read; the named ones are bounded."""

    async def main() -> tuple[list[bytes], list[tuple[str, str]], int, Any]:
        written: list[bytes] = []
        connection = AsyncConnection(Plain(), write=written.append, identity="CS1")
        connection.feed(HEARTBEAT.format("before"))
        ours = asyncio.ensure_future(connection.call(messages.ClearCacheRequest(), timeout=5))
        await asyncio.sleep(0)
        sent = msgspec_id(written[-1])
        connection.finish()
        for n in range(NAMED_UNANSWERED + 3):
            connection.feed(HEARTBEAT.format(f"after{n}"))
        connection.feed(f'[3,"{sent}",{{"status":"Accepted"}}]')
        answer = await asyncio.wait_for(ours, 2)
        return written, connection.unanswered, connection.unanswered_count, answer

    written, named, count, answer = asyncio.run(main())
    assert written[0].startswith(b'[3,"before",')
    assert len(written) == 2  # the answer to "before" and our ClearCache CALL: nothing else
    assert count == NAMED_UNANSWERED + 3
    assert named == [("Heartbeat", f"after{n}") for n in range(NAMED_UNANSWERED)]
    assert isinstance(answer, messages.ClearCacheResponse)


def msgspec_id(frame: bytes) -> str:
    """The message id of a frame we wrote."""
    import msgspec

    message_id: str = msgspec.json.decode(frame)[1]
    return message_id


def test_the_calls_in_hand_at_finish_are_drained() -> None:
    """``finish`` cancels nothing: the handler running when it came answers, and ``drain``
    returns once it did."""

    async def main() -> tuple[bool, list[bytes], int]:
        written: list[bytes] = []
        handler = Awaiting(0.05)
        connection = AsyncConnection(handler, write=written.append, identity="CS1")
        connection.feed(HEARTBEAT.format("h1"))
        await asyncio.sleep(0)
        connection.finish()
        connection.feed(HEARTBEAT.format("h2"))
        drained = await connection.drain(2)
        return drained, written, len(handler.started)

    drained, written, started = asyncio.run(main())
    assert drained
    assert [frame[:8] for frame in written] == [b'[3,"h1",']
    assert started == 1


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_a_stop_under_traffic_ends_when_the_calls_in_hand_are_answered(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A station that keeps two Heartbeats in flight (the next sent as each is answered), to
    a handler that awaits 0.1 s: ``close(timeout=60)`` returns once the two in hand are
    answered (it waited until 59 s before, the deadline less its last second, each answer
    starting a handler for the next: past the test's 20 s bound, which fails it), cancels
    nothing, and the station's line names what it sent during the stop. How long the close
    took is printed, not checked."""
    caplog.set_level(logging.INFO, logger="ocpp_fast.transport")

    async def session() -> tuple[float, int, list[str], list[str], int]:
        handler = Awaiting(0.1)
        server = await serve(handler, "127.0.0.1", 0, backend=backend)
        answered: list[str] = []
        async with ws_connect(
            f"ws://127.0.0.1:{server.port}/ocpp/CS7",
            subprotocols=[Subprotocol("ocpp2.0.1")],
            ping_interval=None,
        ) as station:

            async def keep_sending() -> None:
                """Two CALLs in flight: the next sent as each answer arrives."""
                n = 2
                try:
                    await station.send(HEARTBEAT.format(0))
                    await asyncio.sleep(0.05)  # staggered: one always running
                    await station.send(HEARTBEAT.format(1))
                    while True:
                        answered.append(str(await station.recv()))
                        await station.send(HEARTBEAT.format(n))
                        n += 1
                except ConnectionClosed:
                    return

            traffic = asyncio.create_task(keep_sending())
            while len(answered) < 3:
                await asyncio.sleep(0.01)
            began = time.monotonic()
            await server.close(timeout=60)
            took = time.monotonic() - began
            await asyncio.wait_for(traffic, 10)
        return took, handler.cancelled, handler.started, answered, server.unanswered_at_stop

    took, cancelled, started, answered, unanswered = asyncio.run(asyncio.wait_for(session(), 20))
    print(f"\nclose(timeout=60) under back-to-back CALLs: {took:.2f} s")
    assert cancelled == 0
    assert len(answered) == len(started)  # every CALL dispatched was answered
    assert unanswered == 2  # the ones the last two answers let the station send
    said = [r.getMessage() for r in caplog.records]
    assert not [line for line in said if "cancelling" in line]
    left = [line for line in said if "disconnected" in line]
    assert left == [
        "CS7: disconnected: the CSMS is shutting down; received while it stopped, "
        f"unanswered: Heartbeat {len(started)}, Heartbeat {len(started) + 1}"
    ]


class Hanging(v201.Charger):
    """A station whose GetVariables handler awaits what never comes."""

    def __init__(self) -> None:
        self.started = 0
        self.cancelled = 0

    async def get_variables(
        self, request: messages.GetVariablesRequest
    ) -> messages.GetVariablesResponse:
        self.started += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        raise AssertionError("never set")


def test_a_station_closes_within_its_timeout_with_a_handler_hanging(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``StationClient.close(timeout)`` cancels a handler still running at ``timeout`` and
    names it (it waited for ever), and a CALL the CSMS sends during the close is not
    dispatched."""
    caplog.set_level(logging.INFO, logger="ocpp_fast.transport")
    asked = messages.GetVariablesRequest(
        get_variable_data=[
            datatypes.GetVariableDataType(
                component=datatypes.ComponentType(name="OCPPCommCtrlr"),
                variable=datatypes.VariableType(name="HeartbeatInterval"),
            )
        ]
    )

    async def session() -> tuple[float, int, int, list[str]]:
        server = await serve_in_memory(MyTestChargeSystem())
        firmware = Hanging()
        station = await connect(firmware, "ws://csms.test/ocpp/CS9", via=server)
        while "CS9" not in server.connections:
            await asyncio.sleep(0.01)
        first = asyncio.ensure_future(server.call("CS9", asked, timeout=5))
        while not firmware.started:
            await asyncio.sleep(0.01)
        began = time.monotonic()
        closing = asyncio.ensure_future(station.close(timeout=0.3))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(server.call("CS9", asked, timeout=5))
        await asyncio.wait_for(closing, 15)  # only a hang: it waited for ever
        took = time.monotonic() - began
        for call in (first, second):
            with contextlib.suppress(Exception):
                await call
        await server.close()
        said = [r.getMessage() for r in caplog.records if "cancelling" in r.getMessage()]
        return took, firmware.started, firmware.cancelled, said

    took, started, cancelled, said = asyncio.run(asyncio.wait_for(session(), 20))
    assert took >= 0.3  # not before its timeout (a lower bound: a load only makes it later)
    assert (started, cancelled) == (1, 1)  # the second CALL was not dispatched
    assert len(said) == 1
    assert said[0].startswith("CS9: closing: cancelling handlers still running after 0.3 s: ")
    assert said[0].split(": ")[-1].startswith("GetVariables ")
