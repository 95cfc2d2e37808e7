"""A gateway's close ends its loops, however nats-py handled the cancel, against a real
nats-server: the gateway here on the nats-py path (an option its own link does not speak),
where nats-py carries the command subscriptions and the registry lines too."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cluster_procs import cluster_config as config
from cluster_procs import run
from cluster_raw import serving, station

from ocpp_fast.cluster import ClusterConfig, gateway
from ocpp_fast.demo import DemoChargeSystem


def swallowing_once(nc: Any, loop_task: asyncio.Task[None]) -> asyncio.Event:
    """Make nats-py's flush queue look full to ``loop_task``'s first put into it: that put
    waits (the returned event is set once it does), and the cancel that reaches it there is
    swallowed by nats-py's own ``_flush_pending`` (its ``except CancelledError: pass``), as
    it is on a full queue with thousands of stations connecting. The other puts pass."""
    queue = nc._flush_queue
    put = queue.put
    waiting = asyncio.Event()

    async def held_put(item: Any) -> None:
        if asyncio.current_task() is loop_task and not waiting.is_set():
            waiting.set()
            await asyncio.get_running_loop().create_future()  # room never comes: cancelled
        await put(item)

    queue.put = held_put
    return waiting


@pytest.mark.parametrize("loop", ["reconcile", "refresh"])
def test_close_ends_the_loops_when_nats_py_swallows_the_cancel(
    nats_url: str, loop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``close()`` cancels the loop following the stations (``reconcile``: a station came,
    its subscription was being made) and the one rewriting the registry (``refresh``: NATS
    came back, the stream and the bucket were being made again). The cancel landed in a
    wait of nats-py's that dropped it, and the loop went on after the close: the first
    waited on its wake-up for good, the second rewrote the registry on a closed connection
    every few seconds. Both end now, before ``close()`` returns."""
    monkeypatch.setattr(gateway, "SETTLE_AT_CLOSE", 0.2)  # the held round never settles

    async def scenario() -> None:
        names = config(nats_url).names
        cluster = ClusterConfig(nats_url, names, {"tls_handshake_first": False})
        async with serving(cluster, DemoChargeSystem()) as (held, server):
            assert held._link is None and held._nc is not None  # all of it over nats-py
            reconcile, refresh = held._loops
            task = reconcile if loop == "reconcile" else refresh
            waiting = swallowing_once(held._nc, task)
            if loop == "reconcile":
                ws = await station(server.port, "C1")  # its subscription's flush waits
            else:
                held._back.set()  # NATS is back: the stream and the bucket made again
            await asyncio.wait_for(waiting.wait(), 5)
            await held.close()
            assert reconcile.done() and refresh.done()
            if loop == "reconcile":
                await ws.close()

    run(scenario)
