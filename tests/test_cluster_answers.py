"""A gateway's durable CALL whose user handler is plain: stored, then answered from the
callback of the stream's ack, with no task (an ``async def`` user handler keeps its task).

Against a real nats-server: a gateway's relay attached to it, its handler served on an
``AsyncConnection`` fed directly (tasks counted by the loop's task factory), and a
station over a socket that goes away while its store waits for the ack.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable
from typing import Any

import pytest
from cluster_procs import cluster_config as config
from cluster_procs import run
from cluster_raw import EVENT
from test_cluster_acks import Recording, held, transaction_event

from ocpp_fast.aio import AsyncConnection
from ocpp_fast.cluster import Gateway
from ocpp_fast.v201 import ChargeSystem, messages


class Plain(ChargeSystem):
    def transaction_event(
        self, request: messages.TransactionEventRequest
    ) -> messages.TransactionEventResponse:
        return messages.TransactionEventResponse()


class Awaiting(ChargeSystem):
    async def transaction_event(
        self, request: messages.TransactionEventRequest
    ) -> messages.TransactionEventResponse:
        await asyncio.sleep(0)
        return messages.TransactionEventResponse()


class HandsBackACoroutine(ChargeSystem):
    """A plain handler that hands back an awaitable after all: awaited in a task of its own."""

    def transaction_event(
        self, request: messages.TransactionEventRequest
    ) -> Awaitable[messages.TransactionEventResponse]:
        return self._respond()

    async def _respond(self) -> messages.TransactionEventResponse:
        await asyncio.sleep(0)
        return messages.TransactionEventResponse()


async def tasks_made(nats_url: str, handler: ChargeSystem, calls: int) -> tuple[list[bytes], int]:
    """The answers of ``calls`` durable CALLs fed one after the other to a gateway's
    connection, and the tasks the loop made from the first feed to the last answer."""
    gateway = Gateway(config(nats_url))
    nc = await gateway.config.connect("answers")
    await gateway._ensure_stream(nc.jetstream())
    await gateway.relay.attach(nc, gateway.config, "answers")
    served = gateway.handlers_for({"ocpp2.0.1": handler})["ocpp2.0.1"]
    loop = asyncio.get_running_loop()
    made = [0]

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **options: Any) -> Any:
        made[0] += 1
        return asyncio.Task(coro, loop=loop, **options)

    answered: list[bytes] = []
    answer: list[asyncio.Future[None]] = []

    def write(frame: bytes) -> None:
        answered.append(frame)
        answer[0].set_result(None)

    connection = AsyncConnection(served, write=write, identity="S1")
    loop.set_task_factory(counting)
    try:
        for seq in range(calls):
            answer[:] = [loop.create_future()]
            connection.feed(transaction_event(seq).encode())
            await asyncio.wait_for(answer[0], 5)
    finally:
        loop.set_task_factory(None)
        await gateway.relay.close()
        await nc.close()
    return answered, made[0]


@pytest.mark.usefixtures("dispatch_twin")  # feed: both twins
@pytest.mark.parametrize(
    ("handler", "tasks"), [(Plain, 0), (Awaiting, 3), (HandsBackACoroutine, 3)]
)
def test_a_durable_call_of_a_plain_handler_makes_no_task(
    nats_url: str, handler: type[ChargeSystem], tasks: int
) -> None:
    """Over the gateway's NATS link the store, the ack, the user's handler and the answer
    take no task when the user's handler is plain; an ``async def`` one still runs in one
    per CALL, and so does the awaitable a plain one hands back."""
    answered, made = run(lambda: tasks_made(nats_url, handler(), 3))
    assert answered == [b'[3,"m%d",{}]' % seq for seq in range(3)]
    assert made == tasks


def test_a_station_gone_while_its_store_waits(nats_url: str) -> None:
    """The station closes while its durable CALL waits for the ack: the connection's
    handlers get their grace (``drain`` waits for the store as for a task), the ack comes,
    the user's handler runs, the answer to the closed socket is dropped, and nothing is
    left waiting or reported (no "exception was never retrieved", no failed callback)."""

    async def scenario() -> None:
        reported: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _, c: reported.append(c))
        handler = Recording()
        async with held(nats_url, handler, "G1") as (gateway, server, acks, ws):
            await ws.send(transaction_event(1))
            await acks.holding(1)
            (connection,) = server.connections.values()
            await ws.close()
            async with asyncio.timeout(5):
                while server.connections:
                    await asyncio.sleep(0.01)
            assert (connection.handling, handler.ran) == (1, [])  # within its grace
            assert await acks.release() == [EVENT % (1, 1)]
            async with asyncio.timeout(5):
                while connection.handling:
                    await asyncio.sleep(0.01)
            assert handler.ran == [1]
            assert gateway.relay.replies.waiting == 0
        gc.collect()
        assert reported == []

    run(scenario)
