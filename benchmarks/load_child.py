"""One simulator process of the load benchmark: ``ocpp_fast.simulator`` reporting typed windows.

``python benchmarks/load_child.py --url ws://... --stations N --interval S --duration S
[--offset K] [--backend NAME] [--loop auto|asyncio|uvloop] [--gc tuned|default]
[--queue off|memory|sqlite-memory]``

The harness (``load.py``) starts one or several of these (``--processes``),
each with its own range of station identities (``--offset``). Each prints a
``load_report.Progress`` line about once a second; SIGUSR1 marks the start of
the measured window and SIGUSR2 ends it: the process prints its
``load_report.Window`` and exits at once (its stations simply drop).

The stations run on the fast client stack: ``--backend`` goes to
``simulate()`` (default: the transport's default, picows where installed) and
the event loop is uvloop where installed (``--loop auto``). Latency is measured
on this process's clock, so its own pauses count: with ``--gc tuned`` (the
default) it collects, freezes what the ramp-up built (``gc.freeze()``: thousands
of connections' objects the collector would otherwise traverse again and again)
and raises the young-generation threshold, once all its stations are connected,
or at the latest when the window starts. The window reports the GC pauses it
still saw, and the event-loop lag of a 50 ms ticker.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import logging
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import load_report

from ocpp_fast import simulator
from ocpp_fast._machine import percentile
from ocpp_fast.transport import txqueue
from ocpp_fast.transport.backend import resolve

QUEUES = ("off", "memory", "sqlite-memory")
"""``--queue``: how each station's transaction messages go (``simulate(queue=)``, and the store)."""

GC_THRESHOLD = (20_000, 50, 100)
"""Young collections every 20,000 net allocations instead of 700, once start-up is frozen.

Why, measured at the fleet rate (5,000 stations on ocpp_fast-websockets, one
simulator process, 15 s window): without freeze or tuning its GC paused it
1,780 ms in total (longest 540 ms); frozen with the default thresholds, 156
young collections, 779 ms (longest 104); frozen with 5,000, 14 collections,
350 ms (longest 46); frozen with 20,000, one collection of 105 ms.
"""


class GcWatch:
    """The collector's pauses (via ``gc.callbacks``), and the freeze after the ramp-up."""

    def __init__(self, tuned: bool) -> None:
        self.tuned = tuned
        self.frozen = False
        self.pauses: list[float] = []
        self.generations: list[int] = []
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._started)
            self.generations.append(info["generation"])

    def freeze(self, collect: bool) -> None:
        """Move every live object to the permanent generation (once, and only when tuned)."""
        if not self.tuned or self.frozen:
            return
        if collect:
            gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLD)
        self.frozen = True


class Ticker:
    """How late a 50 ms sleep wakes up: this process's event-loop lag."""

    def __init__(self) -> None:
        self.lags: list[float] = []

    async def run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.05)
            self.lags.append(time.perf_counter() - before - 0.05)


def _emit(message: load_report.Message) -> None:
    sys.stdout.buffer.write(load_report.encode(message) + b"\n")
    sys.stdout.flush()


async def run(args: argparse.Namespace, loop_name: str) -> None:
    logging.getLogger("ocpp_fast").setLevel(logging.ERROR)
    backend = resolve(args.backend)
    watch = GcWatch(tuned=args.gc == "tuned")
    ticker = Ticker()
    latest: list[simulator.SimulationReport] = []
    mark: dict[str, Any] = {}

    def progress(report: simulator.SimulationReport, elapsed: float) -> None:
        latest[:] = [report]
        if report.connected >= args.stations:
            watch.freeze(collect=True)
        errors = sum(report.errors.values())
        _emit(load_report.Progress(report.connected, report.messages, errors, watch.frozen))

    def start_window() -> None:
        if not latest:
            return  # no progress yet: nothing to measure from
        watch.freeze(collect=False)  # stations still connecting: freeze now, without a full pass
        report = latest[0]
        mark.update(
            started=time.monotonic(),
            messages=report.messages,
            latencies=len(report.latencies),
            errors=Counter(report.errors),
            lags=len(ticker.lags),
            pauses=len(watch.pauses),
        )

    def end_window() -> None:
        if not latest or not mark:
            os._exit(3)  # the harness reports the missing window
        report = latest[0]
        lags = sorted(ticker.lags[mark["lags"] :]) or [0.0]
        pauses = watch.pauses[mark["pauses"] :]
        generations = watch.generations[mark["pauses"] :]
        _emit(
            load_report.Window(
                stations=args.stations,
                connected=report.connected,
                seconds=time.monotonic() - mark["started"],
                messages=report.messages - mark["messages"],
                latencies_us=[round(s * 1e6) for s in report.latencies[mark["latencies"] :]],
                errors=dict(report.errors - mark["errors"]),
                errors_total=dict(report.errors),
                loop_lag_ms=(
                    percentile(lags, 0.50) * 1e3,
                    percentile(lags, 0.99) * 1e3,
                    lags[-1] * 1e3,
                ),
                gc_pause_ms=(sum(pauses) * 1e3, max(pauses, default=0.0) * 1e3),
                gc_collections=(
                    generations.count(0),
                    generations.count(1),
                    generations.count(2),
                ),
                gc_frozen=watch.frozen,
                backend=backend,
                loop=loop_name,
            )
        )
        os._exit(0)

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, start_window)
    loop.add_signal_handler(signal.SIGUSR2, end_window)
    tick = asyncio.create_task(ticker.run())
    await simulator.simulate(
        args.url,
        args.stations,
        args.duration,
        interval=args.interval,
        seed=args.seed,
        first_station=args.offset,
        progress=progress,
        backend=backend,
        compression=args.deflate == "on",
        queue=args.queue != "off",  # off: the CSMS is measured, not the stations' queues
    )
    tick.cancel()


def runner(name: str) -> tuple[str, Callable[[Any], Any]]:
    """The event loop to run on: uvloop where installed (``auto``), else asyncio's own."""
    if name == "uvloop" or (name == "auto" and importlib.util.find_spec("uvloop") is not None):
        import uvloop

        return "uvloop", uvloop.run
    return "asyncio", asyncio.run


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--stations", type=int, required=True)
    parser.add_argument("--interval", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True, help="seconds at most")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--offset", type=int, default=0, help="first station number")
    parser.add_argument("--backend", help="WebSocket library (default: the transport's)")
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto")
    parser.add_argument("--gc", choices=("tuned", "default"), default="tuned")
    parser.add_argument(
        "--deflate", choices=("on", "off"), default="off", help="offer permessage-deflate"
    )
    parser.add_argument(
        "--queue",
        choices=QUEUES,
        default="off",
        help="each station's transaction queue: off (simulate(queue=False)), memory (the "
        "simulator's), sqlite-memory (SQLite's in-memory database, the simulator's store before)",
    )
    args = parser.parse_args(argv)
    if args.queue == "sqlite-memory":
        # the store ":memory:" had before the in-memory one: the same rules over SQLite
        txqueue._MemoryStore = lambda: txqueue._SqliteStore(":memory:")  # type: ignore[misc,assignment,return-value]
    loop_name, run_with = runner(args.loop)
    run_with(run(args, loop_name))


if __name__ == "__main__":
    main()
