"""What an ``async def`` handler costs against a plain ``def`` one, per message.

A live connection's path (``AsyncConnection.feed``, as ``ocpp-fast bench`` row (i) times it):
a plain handler is answered inside the call that fed the frame, with no task; so is an
``async def`` one with no ``await`` in its body (run through its plain twin,
``ocpp_fast._awaitless``); one that awaits runs as a task of its own, so each CALL also
pays the task's creation and one turn of the event loop. All return a prebuilt response,
so the differences are the price of the task, not of any work: the one awaiting a
coroutine that never suspends pays the task alone, the one awaiting ``asyncio.sleep(0)``
adds what a handler that really awaits (a database driver) adds at the least.

Prints figures (best of several rounds, ns per message); asserts nothing.
``python benchmarks/async_handler_cost.py [--messages 20000] [--rounds 7]``
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import time
from collections.abc import Awaitable, Callable

from ocpp_fast import v201
from ocpp_fast._machine import describe
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.v201 import messages

FRAME = b'[2,"1","Heartbeat",{}]'
ANSWER = messages.HeartbeatResponse(
    current_time=datetime.datetime(2026, 12, 2, 12, 0, tzinfo=datetime.UTC)
)


class Plain(v201.ChargeSystem):
    def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        return ANSWER


class Async(v201.ChargeSystem):
    async def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        return ANSWER


async def ready() -> messages.HeartbeatResponse:
    return ANSWER


class AwaitingReady(v201.ChargeSystem):
    async def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        return await ready()  # an await: a task per CALL, though it never suspends


class Awaiting(v201.ChargeSystem):
    async def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        await asyncio.sleep(0)
        return ANSWER


async def per_message(handler: v201.ChargeSystem, count: int) -> float:
    """ns per message: ``count`` CALLs fed one after the other, each answered before the next
    (the spec's one outstanding CALL per station)."""
    written: list[bytes] = []
    answered = asyncio.Event()

    def write(frame: bytes) -> None:
        written.append(frame)
        answered.set()

    connection = AsyncConnection(handler, write=write, identity="BENCH")
    wait: Callable[[], Awaitable[bool]] = answered.wait
    started = time.perf_counter_ns()
    for _ in range(count):
        connection.feed(FRAME)
        if not written:  # a task answers it: let the loop run it
            await wait()
        answered.clear()
        written.clear()
    return (time.perf_counter_ns() - started) / count


async def main(count: int, rounds: int) -> None:
    kinds: dict[str, v201.ChargeSystem] = {
        "plain def handler (answered on the spot)": Plain(),
        "async def handler, no await (run at once)": Async(),
        "async def handler awaiting (a task per CALL)": AwaitingReady(),
        "async def handler awaiting sleep(0)": Awaiting(),
    }
    best = dict.fromkeys(kinds, float("inf"))
    for _ in range(rounds):  # interleaved, so that a noisy moment hits every kind alike
        for name, handler in kinds.items():
            best[name] = min(best[name], await per_message(handler, count))
    plain = best["plain def handler (answered on the spot)"]
    for name, ns in best.items():
        print(f"{name:45} {ns / 1000:6.2f} µs/msg  ({ns / plain:4.2f}x plain)")
    print(f"best of {rounds} rounds of {count:,} Heartbeats each, AsyncConnection.feed")
    for line in describe(["msgspec"]):
        print(line)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.rounds))
