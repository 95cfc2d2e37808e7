"""What the drop-in's ``start()`` costs per CALL, against ``ocpp`` 2.1.0's, in the same run.

``ocpp_fast.compat``'s ``start()`` reads on while a handler runs (so a handler's own
``call()`` is answered), routing each CALL in a task of its own, and lets that task begin
before it reads the next frame (so frames reach ``route_message`` in the order read). This
times a 1.6 Heartbeat CALL through ``start()`` on both classes, the same plain handler, over
an in-memory connection: frames all waiting to be read (a busy station; ``recv()`` never
suspends), and one at a time (each ``recv()`` suspends until the frame is put). Validation is
inline on ``ocpp`` (``ASYNC_VALIDATION = False``), as in ``ocpp-fast bench``'s row (c). The
last rows time a frame that is no CALL (a CALLRESULT of no call, all waiting to be read), with
the classes as they are and with a ``route_message`` override that passes each frame on: the
drop-in's ``start()`` routes such a frame, for an override, as one it may make a CALL (a
repaired frame then takes its turn).

Prints figures (best of several rounds, µs per CALL, and the drop-in / ``ocpp`` ratio);
asserts nothing. ``python benchmarks/compat_start_cost.py [--messages 5000] [--rounds 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import ocpp.messages
import ocpp.v16
from ocpp.routing import on
from ocpp.v16 import call_result

from ocpp_fast._machine import describe
from ocpp_fast.compat import v16

FRAME = '[2,"1","Heartbeat",{}]'
RESULT = '[3,"x",{}]'
ANSWER = call_result.Heartbeat(current_time="2026-12-04T15:00:00Z")


class Connection:
    """Frames put in a queue and answers counted; ``done`` is set at the last answer."""

    def __init__(self, expected: int) -> None:
        self.frames: asyncio.Queue[str] = asyncio.Queue()
        self.expected = expected
        self.answered = 0
        self.done = asyncio.Event()

    async def recv(self) -> str:
        return await self.frames.get()

    async def send(self, text: str) -> None:
        self.answered += 1
        if self.answered == self.expected:
            self.done.set()


class Responses(Connection):
    """CALLRESULTs all put before ``start()`` reads: ``done`` is set when it asks for the
    frame after the last (every one of them routed)."""

    async def recv(self) -> str:
        if self.frames.empty():
            self.done.set()
        return await self.frames.get()


def backend(base: type[Any]) -> type[Any]:
    class Csms(base):  # type: ignore[misc]
        @on("Heartbeat")  # type: ignore[untyped-decorator]
        def on_heartbeat(self) -> Any:
            return ANSWER

    return Csms


def passing_on(base: type[Any]) -> type[Any]:
    """``base`` with a ``route_message`` override that passes each frame on (where a backend
    repairs broken ones): the drop-in routes a frame that is no CALL as one it may make a CALL."""

    class Overriding(base):  # type: ignore[misc]
        async def route_message(self, raw_msg: str) -> None:
            await super().route_message(raw_msg)

    return Overriding


async def per_call(cls: type[Any], messages: int, buffered: bool) -> float:
    """µs per CALL answered through ``start()``."""
    connection = Connection(messages)

    async def feed() -> None:
        for _ in range(messages):
            connection.frames.put_nowait(FRAME)
            if not buffered:
                answered = connection.answered
                while connection.answered == answered:
                    await asyncio.sleep(0)

    return await through_start(cls, connection, messages, feed)


async def per_response(cls: type[Any], messages: int) -> float:
    """µs per CALLRESULT of no call routed through ``start()``."""
    connection = Responses(messages)
    for _ in range(messages):
        connection.frames.put_nowait(RESULT)

    async def feed() -> None:
        """Put already: ``start()`` reads them all once it runs."""

    return await through_start(cls, connection, messages, feed)


async def through_start(
    cls: type[Any], connection: Connection, messages: int, feed: Callable[[], Awaitable[None]]
) -> float:
    """µs per message through ``start()`` of a ``cls`` on ``connection``, from its first
    read (``feed`` puts the frames) until ``connection.done``."""
    station = cls("CP", connection)
    station.logger.disabled = True  # the INFO lines of each frame, off in both
    reading = asyncio.ensure_future(station.start())
    began = time.perf_counter_ns()
    await feed()
    await connection.done.wait()
    elapsed = time.perf_counter_ns() - began
    reading.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reading
    station.logger.disabled = False
    return elapsed / messages / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    ocpp.messages.ASYNC_VALIDATION = False
    classes = {"ocpp 2.1.0": backend(ocpp.v16.ChargePoint), "drop-in": backend(v16.ChargePoint)}
    print("\n".join(describe()))
    for buffered in (True, False):
        best = dict.fromkeys(classes, float("inf"))
        for _ in range(args.rounds):  # interleaved, best kept
            for name, cls in classes.items():
                best[name] = min(best[name], asyncio.run(per_call(cls, args.messages, buffered)))
        how = "frames waiting" if buffered else "one at a time"
        figures = ", ".join(f"{name} {us:.1f} µs" for name, us in best.items())
        ratio = best["drop-in"] / best["ocpp 2.1.0"]
        print(f"{how}: {figures} per CALL; drop-in / ocpp = {ratio:.2f}")
    overriding = {name: passing_on(cls) for name, cls in classes.items()}
    for how, kinds in (("", classes), (", route_message overridden", overriding)):
        best = dict.fromkeys(kinds, float("inf"))
        for _ in range(args.rounds):
            for name, cls in kinds.items():
                best[name] = min(best[name], asyncio.run(per_response(cls, args.messages)))
        figures = ", ".join(f"{name} {us:.1f} µs" for name, us in best.items())
        ratio = best["drop-in"] / best["ocpp 2.1.0"]
        print(f"responses{how}: {figures} per frame; drop-in / ocpp = {ratio:.2f}")


if __name__ == "__main__":
    main()
