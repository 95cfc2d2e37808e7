"""What the watch of a blocked loop (``Limits.loop_blocked``) costs a server that is not blocked.

``python benchmarks/loopwatch_cost.py [--messages 4000] [--rounds 7] [--backend picows]``

The dispatch path does not know the watch: it is a timer on the loop every 0.25 s and a
thread waking ten times per threshold (:mod:`ocpp_fast.transport._loopwatch`). This serves
one station's Heartbeats (``--messages`` per round, sent in batches of 100 and answered) from a
server with the watch (``loop_blocked=1.0``, the default) and from one without
(``loop_blocked=None``), in alternate rounds of one process, and prints for each the median
wall time and process CPU time (the watch's thread included) per message, and their ratio:
watched over unwatched, the baseline measured in the same run. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import statistics
import time

from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from ocpp_fast.transport import Limits, serve
from ocpp_fast.v201 import ChargeSystem, messages

BATCH = 100
NOW = datetime.datetime(2026, 12, 4, tzinfo=datetime.UTC)


class Csms(ChargeSystem):
    def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        return messages.HeartbeatResponse(current_time=NOW)


async def one_round(watched: bool, count: int, backend: str) -> tuple[float, float]:
    """Seconds of wall time and of process CPU time per message, one server's round."""
    limits = Limits(loop_blocked=1.0 if watched else None)
    server = await serve(Csms(), backend=backend, limits=limits)
    try:
        url = f"ws://127.0.0.1:{server.port}/bench"
        async with connect(url, subprotocols=[Subprotocol("ocpp2.0.1")]) as station:
            frames = [f'[2,"m{n}","Heartbeat",{{}}]' for n in range(BATCH)]
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(count // BATCH):
                for frame in frames:
                    await station.send(frame)
                for _ in frames:
                    await station.recv()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        await server.close()
    sent = count // BATCH * BATCH
    return wall / sent, cpu / sent


async def measure(count: int, rounds: int, backend: str) -> dict[bool, list[tuple[float, float]]]:
    figures: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    await one_round(False, BATCH * 5, backend)  # warm-up, not counted
    for n in range(rounds):
        for watched in (n % 2 == 0, n % 2 == 1):  # alternate which goes first
            figures[watched].append(await one_round(watched, count, backend))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--backend", default="picows")
    args = parser.parse_args()
    figures = asyncio.run(measure(args.messages, args.rounds, args.backend))
    medians = {
        watched: tuple(statistics.median(f[i] for f in runs) for i in (0, 1))
        for watched, runs in figures.items()
    }
    print(f"{args.backend}, {args.messages} Heartbeats per round, {args.rounds} rounds each")
    for watched, name in ((False, "loop_blocked=None"), (True, "loop_blocked=1.0 ")):
        wall, cpu = medians[watched]
        print(f"  {name}: {wall * 1e6:7.2f} us wall, {cpu * 1e6:7.2f} us CPU per message")
    print(
        f"  watched / unwatched: wall {medians[True][0] / medians[False][0]:.3f},"
        f" CPU {medians[True][1] / medians[False][1]:.3f}"
    )


if __name__ == "__main__":
    main()
