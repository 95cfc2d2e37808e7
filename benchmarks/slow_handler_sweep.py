"""What the sweep of slow handlers (``Limits.slow_handler``) costs a server, per sweep.

One sweep per server every quarter of ``slow_handler`` (2.5 s by default) looks at every
session's connection; this times one over ``--stations`` live connections, with none of their
handlers running (the usual case: its cost is the look at each connection) and with one
``async def`` handler hung on each (a database down: each is named and kept until it ends),
against the same run's baseline, a loop that only visits the connections. The lines go to a
logger that writes nothing (the rate limiter lets 10 through a minute anyway).

Prints figures (best of several rounds); asserts nothing.
``python benchmarks/slow_handler_sweep.py [--stations 10000] [--rounds 7]``
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Callable

from ocpp_fast import v201
from ocpp_fast._machine import describe
from ocpp_fast._ratelimit import LogLimiter
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.transport._slow import SlowHandlers
from ocpp_fast.v201 import messages


class Hung(v201.ChargeSystem):
    async def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        await asyncio.Event().wait()
        raise AssertionError("never")


def best_ms(work: Callable[[], object], rounds: int) -> float:
    """The fastest of ``rounds`` runs of ``work``, in ms."""
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return min(times) * 1000


async def main(stations: int, rounds: int) -> None:
    quiet = logging.getLogger("slow_handler_sweep")
    quiet.propagate = False
    quiet.addHandler(logging.NullHandler())
    handler = Hung()
    sessions = [
        (f"CS{i}", AsyncConnection(handler, write=lambda frame: None, identity=f"CS{i}"))
        for i in range(stations)
    ]
    sweeper = SlowHandlers(10.0, LogLimiter(quiet))

    def visit() -> None:  # the baseline: the same list, each connection looked at
        for _, connection in sessions:
            if connection.handling:
                raise AssertionError("none runs yet")

    clock = iter(range(1_000_000))
    idle_base = best_ms(visit, rounds)
    idle = best_ms(lambda: sweeper.sweep(sessions, float(next(clock))), rounds)
    for i, (_, connection) in enumerate(sessions):
        connection.feed(f'[2,"m{i}","Heartbeat",{{}}]'.encode())
    await asyncio.sleep(0)  # every handler started, and hung
    hung = best_ms(lambda: sweeper.sweep(sessions, float(next(clock) * 20)), rounds)
    print("\n".join(describe()))
    print(f"{stations} connections, best of {rounds}:")
    print(f"  visiting them (baseline)          {idle_base:8.3f} ms")
    print(f"  one sweep, no handler running     {idle:8.3f} ms ({idle / idle_base:.2f}x)")
    print(f"  one sweep, one hung handler each  {hung:8.3f} ms ({hung / idle_base:.2f}x)")
    print(
        f"  a sweep per 2.5 s (the default): {idle / 25:.3f} % of a core idle, "
        f"{hung / 25:.3f} % hung"
    )
    for _, connection in sessions:
        connection.stop()
    await asyncio.sleep(0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main(args.stations, args.rounds))
