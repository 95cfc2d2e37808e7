"""What a station's transaction queue costs per TransactionEvent: ``ocpp-fast simulate`` sends
its stations' transaction messages through it (``StationClient.put``, an in-memory queue).

``python benchmarks/sim_queue_cost.py [--messages 2000] [--rounds 5]``

One station and a demo CSMS in one process on 127.0.0.1: a round sends ``--messages``
TransactionEvents Updated one after the other, each awaited, by ``call()`` on a client without
a queue, or by ``put()`` on one with a queue in each store: ``memory`` (``queue=":memory:"``,
the simulator's; ``memory-call``: the same queue, each message sent by ``call()`` as the
simulator's stations do, which puts it and waits for the answer), ``sqlite-memory``
(SQLite's own ``":memory:"`` database, what that queue was before), ``sqlite-file`` (a file
in a temporary directory, WAL and ``synchronous=FULL``: a real station's, an fsync per
write); the ways in turn in each round. Prints the median wall time and
process CPU time (the CSMS's included, the same every way) per message each way and each
queue's difference from ``call()``: its store's writes (put, head, acknowledged) and its
sender's hop. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable

from ocpp_fast import v201
from ocpp_fast._sim_traffic16 import traffic_for
from ocpp_fast.demo import DemoChargeSystem
from ocpp_fast.transport import connect, serve
from ocpp_fast.transport.txqueue import MEMORY, TransactionQueue, _SqliteStore


def _sqlite_memory() -> TransactionQueue:
    """A queue on SQLite's in-memory database: the store ``":memory:"`` meant until the
    in-memory store (the same statements, WAL and FULL asked for; no file)."""
    queue = TransactionQueue(MEMORY)
    queue._store = _SqliteStore(":memory:")
    return queue


async def _round(
    port: int, queue: Callable[[], TransactionQueue] | None, messages: int, put: bool = True
) -> tuple[float, float]:
    """Seconds of wall and of CPU per message of one round (``put`` false: by ``call()``,
    queued or not)."""
    traffic = traffic_for("2.0.1", "SIM00000")
    url = f"ws://127.0.0.1:{port}/ocpp/SIM00000"
    client = await connect(v201.Charger(), url, queue=None if queue is None else queue())
    requests = [traffic.request("TransactionEvent.Updated") for _ in range(messages)]
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        for request in requests:
            if queue is None or not put:
                await client.call(request)
            else:
                await client.put(request)
        return (time.perf_counter() - wall) / messages, (time.process_time() - cpu) / messages
    finally:
        await client.close()


async def main(messages: int, rounds: int) -> None:
    server = await serve(DemoChargeSystem())
    with tempfile.TemporaryDirectory() as folder:
        files = iter(range(rounds))
        ways: dict[str, Callable[[], TransactionQueue] | None] = {
            "call": None,
            "memory": lambda: TransactionQueue(MEMORY),
            "memory-call": lambda: TransactionQueue(MEMORY),
            "sqlite-memory": _sqlite_memory,
            "sqlite-file": lambda: TransactionQueue(os.path.join(folder, f"{next(files)}.sqlite")),
        }
        figures: dict[str, list[tuple[float, float]]] = {way: [] for way in ways}
        try:
            for _ in range(rounds):
                for way, queue in ways.items():
                    put = way != "memory-call"
                    figures[way].append(await _round(server.port, queue, messages, put))
        finally:
            await server.close()
    medians = {
        way: (statistics.median(w for w, _ in rows), statistics.median(c for _, c in rows))
        for way, rows in figures.items()
    }
    call_wall, call_cpu = medians["call"]
    print(f"{'way':13} {'us wall/msg':>12} {'us CPU/msg':>11} {'vs call wall':>13} {'CPU':>8}")
    for way, (wall, cpu) in medians.items():
        extra = (
            ""
            if way == "call"
            else f" {(wall - call_wall) * 1e6:+13.1f} {(cpu - call_cpu) * 1e6:+8.1f}"
        )
        print(f"{way:13} {wall * 1e6:12.1f} {cpu * 1e6:11.1f}{extra}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.rounds))
