"""What the watch of a blocked loop (``Limits.loop_blocked``) costs a server that is not blocked.

``python benchmarks/loopwatch_cost.py [--messages 4000] [--rounds 7] [--backend picows]
[--instructions]``

The dispatch path does not know the watch: it is a timer on the loop every 0.25 s and a
thread waking ten times per threshold (:mod:`ocpp_fast.transport._loopwatch`). This serves
one station's Heartbeats (``--messages`` per round, sent in batches of 100 and answered) from a
server with the watch (``loop_blocked=1.0``, the default) and from one without
(``loop_blocked=None``), in alternate rounds of one process, and prints for each the median
wall time and process CPU time (the watch's thread included) per message, and their ratio:
watched over unwatched, the baseline measured in the same run. The shared machine blurs
times by several percent either way; ``--instructions`` counts instead, under
``valgrind --tool=callgrind``, the instructions per message of the whole process (the watch's
timer and thread included) each way: a round of 2,200 messages less one of 200, over 2,000.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import shutil
import statistics
import time
from pathlib import Path

from instructions import callgrind_total
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


def instructions(valgrind: str, watched: bool, backend: str) -> float:
    """Instructions per message under callgrind: 2,200 messages less 200, over 2,000."""
    script = Path(__file__).resolve()
    flags = ["--backend", backend, *(["--watched"] if watched else [])]
    runs = [
        callgrind_total(script, ["--child", str(count), *flags], valgrind, f"{count} messages")
        for count in (2200, 200)
    ]
    return (runs[0] - runs[1]) / 2000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--backend", default="picows")
    parser.add_argument("--instructions", action="store_true", help="callgrind per message")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--watched", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:  # one round under callgrind
        asyncio.run(one_round(args.watched, args.child, args.backend))
        return
    if args.instructions:
        valgrind = shutil.which("valgrind")
        if valgrind is None:
            raise SystemExit("--instructions needs valgrind")
        counted = {w: instructions(valgrind, w, args.backend) for w in (False, True)}
        print(f"{args.backend}, instructions per message (callgrind, whole process):")
        print(f"  loop_blocked=None: {counted[False]:,.0f}")
        print(f"  loop_blocked=1.0 : {counted[True]:,.0f}")
        print(f"  watched / unwatched: {counted[True] / counted[False]:.4f}")
        return
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
