"""What a station's transaction queue costs per TransactionEvent: ``ocpp-fast simulate`` sends
its stations' transaction messages through it (``StationClient.put``, an in-memory queue).

``python benchmarks/sim_queue_cost.py [--messages 2000] [--rounds 5]``

One station and a demo CSMS in one process on 127.0.0.1: a round sends ``--messages``
TransactionEvents Updated one after the other, each awaited, either by ``call()`` on a client
without a queue or by ``put()`` on one with ``queue=":memory:"``, the two in alternate rounds.
Prints the median wall time and process CPU time (the CSMS's included, the same both ways) per
message each way and their difference: the queue's SQLite writes (put, head, acknowledged)
and its sender's hop. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from ocpp_fast import v201
from ocpp_fast._sim_traffic16 import traffic_for
from ocpp_fast.demo import DemoChargeSystem
from ocpp_fast.transport import connect, serve


async def _round(port: int, queue: str | None, messages: int) -> tuple[float, float]:
    """Seconds of wall and of CPU per message of one round."""
    traffic = traffic_for("2.0.1", "SIM00000")
    client = await connect(v201.Charger(), f"ws://127.0.0.1:{port}/ocpp/SIM00000", queue=queue)
    requests = [traffic.request("TransactionEvent.Updated") for _ in range(messages)]
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        for request in requests:
            if queue is None:
                await client.call(request)
            else:
                await client.put(request)
        return (time.perf_counter() - wall) / messages, (time.process_time() - cpu) / messages
    finally:
        await client.close()


async def main(messages: int, rounds: int) -> None:
    server = await serve(DemoChargeSystem())
    try:
        figures: dict[str, list[tuple[float, float]]] = {"call": [], "put": []}
        for _ in range(rounds):
            figures["call"].append(await _round(server.port, None, messages))
            figures["put"].append(await _round(server.port, ":memory:", messages))
    finally:
        await server.close()
    medians = {
        way: (statistics.median(w for w, _ in rows), statistics.median(c for _, c in rows))
        for way, rows in figures.items()
    }
    for way, (wall, cpu) in medians.items():
        print(f"{way:5} {wall * 1e6:7.1f} us wall/msg  {cpu * 1e6:7.1f} us CPU/msg")
    extra_wall = medians["put"][0] - medians["call"][0]
    extra_cpu = medians["put"][1] - medians["call"][1]
    print(f"queue {extra_wall * 1e6:+7.1f} us wall/msg  {extra_cpu * 1e6:+7.1f} us CPU/msg")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.rounds))
