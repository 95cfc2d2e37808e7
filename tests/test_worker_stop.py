"""A worker stopped (SIGTERM) while a handler is in hand: ``ocpp-fast worker
--shutdown-timeout`` bounds the wait, and the CALLs cancelled at its end are named in the
worker's log and answered InternalError at once, not left to the gateway's worker_timeout.
Against a real nats-server and a real worker process."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

from cluster_procs import cluster_processes
from test_cluster_gated import Csms
from test_hostile import until
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from ocpp_fast.cluster import ClusterConfig, Gateway, Worker
from ocpp_fast.cluster.worker import STOPPED
from ocpp_fast.transport import serve
from ocpp_fast.v201 import messages

OCPP201 = [Subprotocol("ocpp2.0.1")]


def test_a_stopped_worker_answers_and_names_the_calls_it_cancels(
    nats_url: str, tmp_path: Path
) -> None:
    """The handler sleeps 60 s; SIGTERM with ``--shutdown-timeout 0.5``: the station gets the
    worker's InternalError (the gateway would say it got no answer, after 20 s here), the
    worker's stop line says 0.5 s, and one WARNING names the station and the CALL."""
    marker = tmp_path / "pid"

    with cluster_processes(nats_url) as procs:
        worker = procs.worker("--shutdown-timeout", "0.5", "cluster_handlers:WorkerCsms")

        async def scenario() -> list[object]:
            gateway = Gateway(ClusterConfig(nats_url), handlers_in="workers", worker_timeout=20)
            server = await serve(Csms(), cluster=gateway)
            try:
                url = f"ws://127.0.0.1:{server.port}/W.2"
                async with ws_connect(url, subprotocols=OCPP201) as station:
                    sleep = {"vendorId": "sleep", "data": str(marker)}
                    await station.send(json.dumps([2, "s1", "DataTransfer", sleep]))
                    assert await until(marker.exists, 10)
                    worker.popen.send_signal(signal.SIGTERM)
                    return list(json.loads(await asyncio.wait_for(station.recv(), 10)))
            finally:
                await server.close()
                await gateway.close()

        answer = asyncio.run(asyncio.wait_for(scenario(), 30))
        stopping = worker.wait_for("stopping on SIGTERM")
        cancelled = worker.wait_for("still in hand at the deadline")
        worker.wait_for("stopped after")
    assert answer[:4] == [4, "s1", "InternalError", STOPPED], answer
    assert "those in hand get up to 0.5 s" in stopping, stopping
    assert "warning stopping: cancelling 1 CALL(s) still in hand at the deadline " in cancelled
    assert "(W.2: 1 (DataTransfer s1)); their gateways answer them InternalError" in cancelled


class Stubborn(Csms):
    """A Heartbeat handler that swallows the cancel of a stop and goes on waiting."""

    async def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        self.started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await asyncio.sleep(60)
        raise AssertionError("never answers")

    started = asyncio.Event()


def test_a_handler_that_swallows_the_cancel_does_not_hold_the_close(nats_url: str) -> None:
    """``Worker.close(0.2)``: the handler is cancelled at 0.2 s, ignores it, and the close
    still ends (within the 10 s this test allows; it waited for the handler's minute), the
    station answered InternalError."""

    async def scenario() -> list[object]:
        config = ClusterConfig(nats_url)
        gateway = Gateway(config, handlers_in="workers", worker_timeout=20)
        server = await serve(Csms(), cluster=gateway)
        worker = Worker(Stubborn(), config)
        await worker.start()
        try:
            url = f"ws://127.0.0.1:{server.port}/W.3"
            async with ws_connect(url, subprotocols=OCPP201) as station:
                await station.send('[2,"h1","Heartbeat",{}]')
                await asyncio.wait_for(Stubborn.started.wait(), 10)
                await asyncio.wait_for(worker.close(0.2), 10)
                return list(json.loads(await asyncio.wait_for(station.recv(), 10)))
        finally:
            await server.close()
            await gateway.close()

    Stubborn.started = asyncio.Event()
    answer = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert answer[:4] == [4, "h1", "InternalError", STOPPED], answer
