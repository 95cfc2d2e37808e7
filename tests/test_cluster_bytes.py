"""The gateway stores and forwards the station's own bytes, and its acks come back in batches.

Against a real nats-server on 127.0.0.1, the gateway in this process, stations as raw
WebSocket clients (``websockets``) so that the exact bytes of each frame are the test's:
the stored event's payload is the slice of the frame the station sent (its spacing and
key order kept); a repaired payload (tolerance) is stored as the repaired request, which
decodes; a worker gets the station's bytes; many concurrent durable CALLs are all stored
and answered; stores that fail or get no ack are each answered InternalError.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec
import nats
import pytest
from cluster_procs import cluster_config as config
from cluster_procs import read_events, run, until_routed
from cluster_raw import EVENT, call, serving, station
from websockets.asyncio.client import ClientConnection

from ocpp_fast import v16
from ocpp_fast.cluster import Names
from ocpp_fast.cluster.wire import Outcome, WorkRequest
from ocpp_fast.demo import DemoChargeSystem
from ocpp_fast.tolerance import Tolerance
from ocpp_fast.v201 import messages


async def stored_payloads(nats_url: str, names: Names) -> list[bytes]:
    return [bytes(event.payload) for event in await read_events(nats_url, names)]


def test_the_stored_payload_is_byte_for_byte_what_the_station_sent(nats_url: str) -> None:
    """Spacing and key order kept; the stored event still decodes as the typed request; a
    resend of the same bytes under another message id is stored once."""
    cluster = config(nats_url)

    async def scenario() -> None:
        async with serving(cluster, DemoChargeSystem()) as (_, server):
            ws = await station(server.port, "RAW1")
            meter = (
                b'{"meterValue":[{"sampledValue":[{"value":1.5}],'
                b'"timestamp":"2026-11-30T12:00:00Z"}],"evseId":1}'
            )
            assert (await call(ws, "m1", "TransactionEvent", EVENT % (0, 1)))[0] == 3
            assert (await call(ws, "m2", "MeterValues", meter))[0] == 3
            assert (await call(ws, "m3", "TransactionEvent", EVENT % (0, 1)))[0] == 3  # resent
            assert await stored_payloads(nats_url, cluster.names) == [EVENT % (0, 1), meter]
            events = await read_events(nats_url, cluster.names)
            untyped = events[0].request()  # an OcppStruct: narrowed to read a field
            assert isinstance(untyped, messages.TransactionEventRequest)
            assert untyped.transaction_info.transaction_id == "T-1"
            assert isinstance(events[1].request(), messages.MeterValuesRequest)
            typed = events[0].request(messages.TransactionEventRequest)
            assert typed == events[0].request() and typed.seq_no == 0
            assert events[1].request(messages.MeterValuesRequest).evse_id == 1
            with pytest.raises(TypeError) as wrong:
                events[1].request(messages.TransactionEventRequest)
            assert str(wrong.value) == (
                "this event is MeterValues of OCPP 2.0.1 (ocpp_fast.v201.messages."
                "MeterValuesRequest), not ocpp_fast.v201.messages.TransactionEventRequest:"
                " read event.action and event.version first"
            )
            with pytest.raises(TypeError, match=r"of OCPP 2\.0\.1 .* not ocpp_fast\.v16\.messages"):
                events[0].request(v16.messages.StartTransactionRequest)
            await ws.close()

    run(scenario)


class Lenient(DemoChargeSystem):
    tolerance = Tolerance.NUMERIC_STRING


def test_a_repaired_payload_is_stored_as_the_request_it_was_repaired_into(
    nats_url: str,
) -> None:
    """``"seqNo":"4"`` is refused by the strict decode and repaired by the station's tolerance:
    its bytes would not decode when read back, so the repaired request is what is stored; a
    valid payload of the same tolerant station is still stored as sent."""
    cluster = config(nats_url)

    async def scenario() -> None:
        async with serving(cluster, Lenient()) as (_, server):
            ws = await station(server.port, "LENIENT")
            deviant = (EVENT % (0, 4)).replace(b'"seqNo":0', b'"seqNo":"4"')
            assert (await call(ws, "d1", "TransactionEvent", deviant))[0] == 3
            assert (await call(ws, "d2", "TransactionEvent", EVENT % (5, 4)))[0] == 3
            events = await read_events(nats_url, cluster.names)
            seq_nos = [event.request(messages.TransactionEventRequest).seq_no for event in events]
            assert seq_nos == [4, 5]
            assert bytes(events[0].payload) != deviant and b'"seqNo":4' in bytes(events[0].payload)
            assert bytes(events[1].payload) == EVENT % (5, 4)
            await ws.close()

    run(scenario)


def test_a_worker_gets_the_station_s_bytes(nats_url: str) -> None:
    """With handlers in workers, the WorkRequest's payload is the slice of the station's frame
    (a plain NATS subscriber in the workers' queue group stands in for the worker here)."""
    cluster = config(nats_url)
    names = cluster.names

    async def scenario() -> None:
        received: list[WorkRequest] = []
        nc = await nats.connect(nats_url)

        async def worker(msg: Any) -> None:
            work = msgspec.json.decode(msg.data, type=WorkRequest)
            received.append(work)
            answer = b'{"status":"Accepted","data":"ok"}'
            await msg.respond(msgspec.json.encode(Outcome(result=msgspec.Raw(answer))))

        await nc.subscribe(names.work_all("2.0.1"), queue=names.work_group("2.0.1"), cb=worker)
        await nc.flush()
        workers = {"handlers_in": "workers", "durable": {}}
        async with serving(cluster, DemoChargeSystem(), **workers) as (_, server):
            ws = await station(server.port, "W1")
            payload = b'{ "vendorId" : "acme",\n"data":"x" }'
            reply = await call(ws, "w1", "DataTransfer", payload)
            assert reply == [3, "w1", {"status": "Accepted", "data": "ok"}]
            assert [bytes(work.payload) for work in received] == [payload]
            assert (received[0].identity, received[0].message_id) == ("W1", "w1")
            await ws.close()
        await nc.close()

    run(scenario)


def test_many_concurrent_durable_calls_are_all_stored_and_answered(nats_url: str) -> None:
    """40 stations each send 5 TransactionEvents at once: 200 publishes in flight together,
    every one answered CALLRESULT and stored (and nothing left waiting for an ack)."""
    cluster = config(nats_url)

    async def scenario() -> None:
        async with serving(cluster, DemoChargeSystem()) as (gateway, server):
            sockets = await asyncio.gather(*(station(server.port, f"C{n}") for n in range(40)))

            async def burst(n: int, ws: ClientConnection) -> list[int]:
                for seq in range(5):
                    frame = b'[2,"%d","TransactionEvent",%s]' % (seq, EVENT % (seq, n))
                    await ws.send(frame.decode())
                replies = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(5)]
                return [reply[0] for reply in replies]

            kinds = await asyncio.gather(*(burst(n, ws) for n, ws in enumerate(sockets)))
            assert kinds == [[3] * 5] * 40
            stored = await stored_payloads(nats_url, cluster.names)
            assert sorted(stored) == sorted(EVENT % (seq, n) for n in range(40) for seq in range(5))
            assert gateway.relay.replies.waiting == 0
            for ws in sockets:
                await ws.close()

    run(scenario)


@pytest.mark.parametrize("timeout", [0.5, 1])
def test_stores_that_fail_or_get_no_ack_are_each_answered_internal_error(
    nats_url: str, timeout: float
) -> None:
    """The stream gone (NATS: no responders) and, after that, a subscriber on its subjects that
    never acks (the ack's timeout): each of several concurrent CALLs gets its InternalError.
    A whole number of seconds too: the compiled store keys the link's batch by its ``int``."""
    cluster = config(nats_url)

    async def scenario() -> None:
        async with serving(cluster, DemoChargeSystem(), store_timeout=timeout) as (gateway, server):
            sockets = [await station(server.port, f"F{n}") for n in range(5)]
            nc = await nats.connect(nats_url)
            await nc.jetstream().delete_stream(cluster.names.stream)

            async def answers() -> list[Any]:
                frames = [
                    call(ws, f"x{n}", "TransactionEvent", EVENT % (n, n))
                    for n, ws in enumerate(sockets)
                ]
                return [reply[:3] for reply in await asyncio.gather(*frames)]

            expected = [[4, f"x{n}", "InternalError"] for n in range(5)]
            assert await answers() == expected  # no responders: at once
            await nc.subscribe(cluster.names.events(), cb=None)  # takes them, never acks
            await nc.flush()
            await until_routed(gateway.relay.replies, cluster.names.events()[:-1] + "probe")
            started = asyncio.get_running_loop().time()
            assert await answers() == expected
            assert asyncio.get_running_loop().time() - started >= timeout
            assert gateway.relay.replies.waiting == 0
            for ws in sockets:
                await ws.close()
            await nc.close()

    run(scenario)
