"""What a cluster holds is said too: a gateway's durable CALL whose stream's ack does not
come (nats-server paused) is named by the sweep of slow handlers, on both twins of the
compiled path and of the link's bytes; a worker whose plain handler blocks its event loop
says so (``ocpp-fast worker --loop-blocked``). Against real nats-servers."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal

import pytest
from cluster_procs import cluster_processes
from test_cluster_gated import Csms
from test_hostile import until
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from ocpp_fast.cluster import ClusterConfig, Gateway, NatsServer
from ocpp_fast.metrics import Metrics
from ocpp_fast.transport import Limits, serve

pytestmark = pytest.mark.usefixtures("link_bytes_twin")

EVENT = (
    '[2,"e%d","TransactionEvent",{"eventType":"Updated","timestamp":"2026-12-04T12:00:00Z",'
    '"triggerReason":"MeterValuePeriodic","seqNo":%d,"transactionInfo":{"transactionId":"T"}}]'
)
OCPP201 = [Subprotocol("ocpp2.0.1")]


def test_a_durable_call_held_for_its_ack_is_said_by_the_sweep(
    dispatch_twin: str, caplog: pytest.LogCaptureFixture
) -> None:
    """nats-server stopped (SIGSTOP) while a CALL's store waits: the sweep names the CALL
    (action, id, station) once, counts it; continued, the ack comes and the CALL is answered."""
    caplog.set_level(logging.INFO, logger="ocpp_fast")
    metrics = Metrics()

    def said() -> list[str]:
        return [r.getMessage() for r in caplog.records if "still running after" in r.getMessage()]

    async def scenario(nats: NatsServer) -> tuple[str, list[object]]:
        gateway = Gateway(ClusterConfig(nats.url))
        server = await serve(
            Csms(),
            backend="picows",  # its connections write their frames: the gated route
            cluster=gateway,
            limits=Limits(slow_handler=0.3),
            metrics=metrics,
        )
        try:
            url = f"ws://127.0.0.1:{server.port}/G.1"
            async with ws_connect(url, subprotocols=OCPP201) as station:
                await gateway.holds("G.1", 5)
                await station.send(EVENT % (1, 1))
                assert json.loads(await station.recv())[:2] == [3, "e1"]  # stored: quick
                os.kill(nats.pid, signal.SIGSTOP)
                try:
                    await station.send(EVENT % (2, 2))
                    assert await until(lambda: bool(said()), 5)
                    held: list[object] = list(server.connections["G.1"]._pending)
                finally:
                    os.kill(nats.pid, signal.SIGCONT)
                answer = json.loads(await asyncio.wait_for(station.recv(), 10))
        finally:
            await server.close()
            await gateway.close()
        return answer[1], held

    with NatsServer() as nats:
        answered, held = asyncio.run(asyncio.wait_for(scenario(nats), 30))
    assert answered == "e2"
    (line,) = said()
    assert line.startswith("G.1: handler of TransactionEvent (e2) still running after 0.3"), line
    assert dict(metrics.slow_handlers) == {"TransactionEvent": 1}
    (gated,) = held  # the gated route's own waiter, of the twin under test
    twin = "_dispatch_c" if dispatch_twin == "compiled" else "_dispatch_py"
    assert (type(gated).__name__, type(gated).__module__) == ("Gated", f"ocpp_fast.{twin}")


def test_a_worker_says_its_blocked_loop(nats_url: str) -> None:
    """``ocpp-fast worker --loop-blocked 0.5``, its plain handler sleeping 1.5 s: the lines
    name the handler, its action and station, then the time; the gateway, in this process,
    does not watch (``loop_blocked=None``), so the lines are the worker's."""

    async def scenario() -> list[object]:
        gateway = Gateway(ClusterConfig(nats_url), handlers_in="workers", worker_timeout=10)
        server = await serve(Csms(), cluster=gateway, limits=Limits(loop_blocked=None))
        try:
            url = f"ws://127.0.0.1:{server.port}/W.1"
            async with ws_connect(url, subprotocols=OCPP201) as station:
                await station.send('[2,"w1","Heartbeat",{}]')
                return list(json.loads(await asyncio.wait_for(station.recv(), 15)))
        finally:
            await server.close()
            await gateway.close()

    with cluster_processes(nats_url) as procs:
        worker = procs.worker("--loop-blocked", "0.5", "cluster_handlers:BlockingCsms")
        answer = asyncio.run(asyncio.wait_for(scenario(), 30))
        blocked = worker.wait_for("event loop blocked for more than")
        resumed = worker.wait_for("event loop runs again after")
    assert answer[:2] == [3, "w1"]
    assert "in BlockingCsms.heartbeat (" in blocked, blocked
    assert blocked.rstrip().endswith("the handler of Heartbeat (w1) of W.1"), blocked
    seconds = float(resumed.rsplit("blocked for ", 1)[1].split()[0])
    # the handler's 1.5 s sleep, or more on a loaded machine: only a lower bound is sure
    assert seconds >= 1.0, resumed
