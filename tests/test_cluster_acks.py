"""A durable CALL in the gateway: stored, then handled, then answered, in that order.

Against a real nats-server on 127.0.0.1, the gateway in this process. The events stream
is deleted once the gateway has started and a NATS subscriber of the test takes its
subjects instead (:class:`HeldAcks`): it holds each store's request until the test
releases it, then answers as JetStream does (a ``PubAck``, or an error). So the order
of things is the test's to see: nothing reaches the station, and the user's handler
does not run, before the ack; an error ack or a handler that raises is answered with
the right CALLERROR; the connection's bound on CALLs in flight holds for these CALLs;
a shutdown answers what is acked in time and cancels the rest cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from cluster_procs import cluster_config as config
from cluster_procs import run
from cluster_raw import EVENT, serving, station
from nats.aio.client import Client as Nats
from nats.aio.msg import Msg
from websockets.asyncio.client import ClientConnection

from ocpp_fast.aio import CALLS_IN_FLIGHT
from ocpp_fast.cluster import ClusterConfig, Gateway
from ocpp_fast.cluster.wire import decode_event
from ocpp_fast.demo import DemoChargeSystem
from ocpp_fast.transport import CsmsServer
from ocpp_fast.v201 import ChargeSystem, messages


class Recording(DemoChargeSystem):
    """The demo's answers, with the seqNo of each TransactionEvent its handler ran for;
    seqNo 13 raises."""

    def __init__(self) -> None:
        self.ran: list[int] = []

    def transaction_event(self, request: Any) -> Any:
        self.ran.append(request.seq_no)
        if request.seq_no == 13:
            raise ValueError("unlucky")
        return messages.TransactionEventResponse()


class HeldAcks:
    """Stands for the events stream: takes every store's request and holds it."""

    def __init__(self) -> None:
        self.held: list[Msg] = []
        self.acked = 0
        self.nc: Nats | None = None

    async def start(self, nats_url: str, cluster: ClusterConfig) -> None:
        self.nc = await nats.connect(nats_url)
        # Subscribed before the stream goes: subscribed after, nats-server 2.15 sometimes still
        # answers a publish "no responders" (see cluster_procs.until_routed).
        await self.nc.subscribe(cluster.names.events(), cb=self._take)
        await self.nc.flush()
        await self.nc.jetstream().delete_stream(cluster.names.stream)

    async def _take(self, msg: Msg) -> None:
        self.held.append(msg)

    async def holding(self, count: int) -> None:
        """Wait until ``count`` requests are held."""
        async with asyncio.timeout(15):  # only a hang
            while len(self.held) < count:
                await asyncio.sleep(0.01)

    async def release(self, error: bool = False) -> list[bytes]:
        """Ack (or refuse) every request held; their events' payloads."""
        held, self.held = self.held, []
        for msg in held:
            self.acked += 1
            ack: dict[str, object] = {"stream": "S", "seq": self.acked}
            if error:
                ack = {"error": {"code": 503, "description": "no"}}
            await msg.respond(json.dumps(ack).encode())
        return [bytes(decode_event(msg.data).payload) for msg in held]

    async def close(self) -> None:
        assert self.nc is not None
        await self.nc.close()


@contextlib.asynccontextmanager
async def held(
    nats_url: str, handler: ChargeSystem, identity: str, **options: Any
) -> AsyncIterator[tuple[Gateway, CsmsServer, HeldAcks, ClientConnection]]:
    """``handler`` served through a gateway whose stores wait for the test's acks
    (``options``: the gateway's), and one station connected to it; all closed on the way
    out."""
    cluster = config(nats_url)
    async with serving(cluster, handler, **options) as (gateway, server):
        acks = HeldAcks()
        await acks.start(nats_url, cluster)
        ws = await station(server.port, identity)
        try:
            yield gateway, server, acks, ws
        finally:
            await ws.close()
            await acks.close()


def transaction_event(seq: int) -> str:
    return (b'[2,"m%d","TransactionEvent",%s]' % (seq, EVENT % (seq, 1))).decode()


async def nothing_within(ws: ClientConnection, seconds: float) -> bool:
    """Whether the station got no frame within ``seconds``."""
    try:
        await asyncio.wait_for(ws.recv(), seconds)
    except TimeoutError:
        return True
    return False


async def reply(ws: ClientConnection) -> list[Any]:
    answer: list[Any] = json.loads(await asyncio.wait_for(ws.recv(), 15))  # only a hang
    return answer


def test_the_answer_and_the_handler_come_after_the_ack_never_before(nats_url: str) -> None:
    """Held acks: no CALLRESULT and no handler call until the stream acks; then both. An
    error ack answers InternalError, and the handler never ran."""

    async def scenario() -> None:
        handler = Recording()
        async with held(nats_url, handler, "A1") as (_, _, acks, ws):
            await ws.send(transaction_event(1))
            await acks.holding(1)
            assert await nothing_within(ws, 0.3)
            assert handler.ran == []
            assert await acks.release() == [EVENT % (1, 1)]
            assert (await reply(ws))[:2] == [3, "m1"]
            assert handler.ran == [1]

            await ws.send(transaction_event(2))
            await acks.holding(1)
            await acks.release(error=True)
            assert (await reply(ws))[:3] == [4, "m2", "InternalError"]
            assert handler.ran == [1]  # not stored: not handled

    run(scenario)


def test_a_handler_that_raises_after_the_store_is_answered_its_error(nats_url: str) -> None:
    """The CALL is in the stream (acked) when the handler raises: the station gets the
    handler's CALLERROR, and the next CALL is answered as usual."""

    async def scenario() -> None:
        handler = Recording()
        async with held(nats_url, handler, "A2") as (_, _, acks, ws):
            await ws.send(transaction_event(13))
            await acks.holding(1)
            assert await acks.release() == [EVENT % (13, 1)]
            assert (await reply(ws))[:3] == [4, "m13", "InternalError"]
            await ws.send(transaction_event(14))
            await acks.holding(1)
            await acks.release()
            assert (await reply(ws))[:2] == [3, "m14"]
            assert handler.ran == [13, 14]

    run(scenario)


def test_calls_in_flight_are_bounded_for_durable_calls(nats_url: str) -> None:
    """A station that sends 2 x CALLS_IN_FLIGHT durable CALLs at once: CALLS_IN_FLIGHT
    stores are asked for at a time (the rest wait, reading paused), and every CALL is
    answered CALLRESULT, in the order sent."""

    async def scenario() -> None:
        async with held(nats_url, Recording(), "A3") as (gateway, _, acks, ws):
            for seq in range(2 * CALLS_IN_FLIGHT):
                await ws.send(transaction_event(seq))
            for turn in range(2):
                await acks.holding(CALLS_IN_FLIGHT)
                await asyncio.sleep(0.3)  # time for more to come, were the bound not kept
                assert len(acks.held) == CALLS_IN_FLIGHT
                await acks.release()
                for n in range(CALLS_IN_FLIGHT):
                    seq = turn * CALLS_IN_FLIGHT + n
                    assert (await reply(ws))[:2] == [3, f"m{seq}"]
            assert gateway.relay.replies.waiting == 0

    run(scenario)


@pytest.mark.parametrize("acked", [True, False])
def test_shutdown_with_stores_in_flight(nats_url: str, acked: bool) -> None:
    """The server closes while stores wait for their acks: acked within the grace, they are
    answered before the sockets close; never acked, they are cancelled at the deadline (the
    handler never runs, nothing is answered, nothing is left waiting on the connection)."""

    async def scenario() -> None:
        handler = Recording()
        async with held(nats_url, handler, "S0") as (_, server, acks, first):
            sockets = [first] + [await station(server.port, f"S{n}") for n in (1, 2)]
            for n, ws in enumerate(sockets):
                await ws.send(transaction_event(n))
            await acks.holding(3)
            connections = list(server.connections.values())
            # acked: a grace that only a hang runs out (close() returns once all is answered);
            # the 0.5 s it had raced the acks' round trip through nats-server under load
            closing = asyncio.ensure_future(server.close(timeout=30 if acked else 0.5))
            if acked:
                async with asyncio.timeout(15):  # the close has begun: the acks come during it
                    while server.not_serving() != "shutting down":
                        await asyncio.sleep(0.01)
                await acks.release()
                for n, ws in enumerate(sockets):
                    assert (await reply(ws))[:2] == [3, f"m{n}"]
                assert sorted(handler.ran) == [0, 1, 2]
            await closing
            if not acked:
                assert handler.ran == []
                await acks.release()  # too late: nobody to answer, and nothing breaks
                await asyncio.sleep(0.1)
                assert handler.ran == []
            assert all(c.handling == 0 for c in connections)

    run(scenario)
