"""Python calls per durable store: a gateway's ``Relay.store`` over its NATS link, and over
nats-py (``Replies``, what the gateway falls back to); then a whole durable CALL on a
gateway's connection, from ``feed`` to the answer written.

``python benchmarks/store_calls.py`` starts a ``nats-server -js``, attaches a relay each way
and stores a TransactionEvent ``--stores`` times, one after the other (as at a moderate rate,
where no two share a write), with cProfile on; it prints the calls per store by origin and the
most frequent ones. Then it feeds as many TransactionEvent CALLs, one after the other, to an
``AsyncConnection`` serving a gateway's handler (a plain user handler, the durable store
before it) and prints the calls and the tasks made per CALL, and (a pass without the
profiler) the event loop's turns from the ack read to the answer written. Counts, not times:
they do not move with the machine's other work.

``--instructions`` runs the durable CALLs alone (no profiler) under ``valgrind --tool=callgrind``,
1,200 and 200 of them, and prints the instructions per durable CALL (the difference over
1,000: the start, the imports and nats-server's handshake cancel out; nats-server itself is
another process, not counted), then the same for the CALL not stored (the gateway serving no
durable action: what a single process's path costs in the same harness).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import dataclasses
import shutil
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from instructions import callgrind_total

from ocpp_fast.aio import AsyncConnection
from ocpp_fast.cluster import ClusterConfig, Gateway, NatsServer
from ocpp_fast.cluster.config import DEFAULT_DURABLE
from ocpp_fast.cluster.gateway import WRITE_WINDOW
from ocpp_fast.dispatch import CallContext
from ocpp_fast.transport.runtime import run
from ocpp_fast.v201 import ChargeSystem, messages

PAYLOAD = (
    b'{"eventType":"Updated","timestamp":"2026-11-30T12:00:00Z",'
    b'"triggerReason":"MeterValuePeriodic","seqNo":%d,"transactionInfo":{"transactionId":"T"}}'
)

ORIGINS = (("/nats/", "nats-py"), ("asyncio", "asyncio"), ("ocpp_fast", "ocpp_fast"))


ON_WRITE: list[Callable[[], None]] = []
"""Called as a CALL's answer is written (:func:`turns_to_answer` reads its turn there)."""

ON_FED: list[Callable[[], None]] = []
"""Called once a CALL was fed, its store sent (:func:`turns_to_answer` marks its ack)."""

Feed = Callable[[Sequence[bytes]], Awaitable[None]]
"""Feeds a batch of CALLs, one per connection in one turn, and returns once all are answered."""


def counts(profiler: cProfile.Profile) -> dict[str, int]:
    """Calls so far per function (``getstats`` reads them without stopping the profiler)."""
    out: dict[str, int] = {}
    for entry in profiler.getstats():
        code = entry.code
        key = code if isinstance(code, str) else f"{code.co_filename}:{code.co_name}"
        out[key] = out.get(key, 0) + entry.callcount
    return out


def origin(key: str) -> str:
    return next((name for part, name in ORIGINS if part in key), "builtins and C")


async def calls_per_store(
    url: str, options: dict[str, Any], stores: int, profiler: cProfile.Profile
) -> tuple[str, dict[str, int]]:
    gateway = Gateway(ClusterConfig(url, options=options))
    nc = await gateway.config.connect("store-calls")
    await gateway._ensure_stream(nc.jetstream())
    await gateway.relay.attach(nc, gateway.config, "store-calls")
    version = ChargeSystem.version
    contexts = [CallContext(identity="S1", message_id=f"m{n}") for n in range(stores + 50)]
    for n in range(50):  # warm
        await gateway.relay.store(version, "TransactionEvent", None, PAYLOAD % n, contexts[n])
    before = counts(profiler)
    for n in range(50, stores + 50):
        await gateway.relay.store(version, "TransactionEvent", None, PAYLOAD % n, contexts[n])
    after = counts(profiler)
    await gateway.relay.close()
    await nc.close()
    carrier = type(gateway.relay.replies).__name__
    diff = {key: n - before.get(key, 0) for key, n in after.items()}
    return carrier, {key: n for key, n in diff.items() if n}


class Csms(ChargeSystem):
    """A plain handler of the durable action, as the demo's and most users' are."""

    def transaction_event(
        self, request: messages.TransactionEventRequest
    ) -> messages.TransactionEventResponse:
        return messages.TransactionEventResponse()


async def on_a_gateway(
    url: str,
    work: Callable[[Gateway, Feed], Awaitable[Any]],
    durable: bool = True,
    write_window: float = 0.0,
    handler_first: bool = False,
    stations: int = 1,
) -> Any:
    """``work(gateway, feed)`` where ``feed(batch)`` feeds ``batch[k]``, a durable CALL, to
    the ``k``-th of ``stations`` connections of a gateway (stored nowhere, ``durable``
    false), all in one turn of the loop, and returns once each is answered, after 50 CALLs
    per connection to warm (a batch of one: one CALL at a time); its result."""
    gateway = Gateway(
        ClusterConfig(url),
        durable=DEFAULT_DURABLE if durable else {},
        write_window=write_window,
        handler_first=handler_first,
    )
    nc = await gateway.config.connect("store-calls")
    await gateway._ensure_stream(nc.jetstream())
    await gateway.relay.attach(nc, gateway.config, "store-calls")
    handler = gateway.handlers_for({"ocpp2.0.1": Csms()})["ocpp2.0.1"]
    loop = asyncio.get_running_loop()
    answered: list[asyncio.Future[None]] = []
    left = [0]

    def write(frame: bytes) -> None:
        for hook in ON_WRITE:
            hook()
        assert frame.startswith(b"[3,"), frame
        left[0] -= 1
        if not left[0]:  # the batch's last answer (its waiter wakes a turn later)
            answered[0].set_result(None)

    connections = [
        AsyncConnection(handler, write=write, identity=f"S{k + 1}") for k in range(stations)
    ]

    async def feed(batch: Sequence[bytes]) -> None:
        answered[:] = [loop.create_future()]
        left[0] = len(batch)
        for connection, frame in zip(connections, batch, strict=False):
            connection.feed(frame)
        for hook in ON_FED:
            hook()
        await answered[0]

    for frame in frames(50):  # warm
        await feed([frame] * stations)
    result = await work(gateway, feed)
    await gateway.relay.close()
    await nc.close()
    return result


def frames(calls: int, first: int = 0) -> list[bytes]:
    """``calls`` TransactionEvent CALLs, their message ids and seqNos from ``first`` on (the
    warm-up's are 0-49: those after it are new to the stream's duplicate window)."""
    return [
        b'[2,"m%d","TransactionEvent",%b]' % (n, PAYLOAD % n) for n in range(first, first + calls)
    ]


async def calls_per_call(
    url: str, calls: int, profiler: cProfile.Profile
) -> tuple[dict[str, int], int, float]:
    """The calls of ``calls`` durable CALLs on a gateway's connection, each fed once the last
    was answered; the tasks made meanwhile; then, profiler off, the loop's turns from the
    stream's ack read to the answer written, per CALL."""

    async def work(gateway: Gateway, feed: Feed) -> tuple[dict[str, int], int, float]:
        loop = asyncio.get_running_loop()
        tasks = [0]
        default_factory = loop.get_task_factory()

        def counting_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
            tasks[0] += 1
            if default_factory is not None:
                return default_factory(loop, coro, **kwargs)
            return asyncio.Task(coro, loop=loop, **kwargs)

        loop.set_task_factory(counting_factory)
        before = counts(profiler)
        for frame in frames(calls, 50):
            await feed([frame])
        after = counts(profiler)
        loop.set_task_factory(default_factory)
        profiler.disable()
        turns = await turns_to_answer(gateway.relay._link, feed, frames(calls))
        diff = {key: n - before.get(key, 0) for key, n in after.items()}
        return {key: n for key, n in diff.items() if n}, tasks[0], turns

    result: tuple[dict[str, int], int, float] = await on_a_gateway(url, work)
    return result


async def fed(url: str, calls: int, path: Counted, stations: int) -> None:
    """``calls`` durable CALLs on each of ``stations`` gateway's connections, a batch of one
    per connection at a time, nothing else (under callgrind)."""

    async def work(gateway: Gateway, feed: Feed) -> None:
        for frame in frames(calls, 50):
            await feed([frame] * stations)

    await on_a_gateway(url, work, path.durable, path.write_window, path.handler_first, stations)


@dataclasses.dataclass(frozen=True)
class Counted:
    """What a count runs: stored or not, over what write window, which gate."""

    durable: bool = True
    write_window: float = 0.0
    handler_first: bool = False

    def argv(self) -> list[str]:
        return [
            f"--write-window={self.write_window}",
            *([] if self.durable else ["--not-stored"]),
            *(["--handler-first"] if self.handler_first else []),
        ]


def instructions(valgrind: str, path: Counted, stations: int = 1) -> float:
    """Instructions per CALL under callgrind (not stored, ``path.durable`` false: the same
    harness and handler, the single process's path). One station: 1,200 CALLs less 200, over
    1,000. ``stations`` of them, their CALLs fed in one turn as at saturation: 60 batches less
    10, over 50 times ``stations`` CALLs."""
    script = Path(__file__).resolve()
    many, few = (1200, 200) if stations == 1 else (60, 10)
    runs = [
        callgrind_total(
            script,
            ["--child-calls", str(calls), f"--stations={stations}", *path.argv()],
            valgrind,
            f"{calls} CALLs",
        )
        for calls in (many, few)
    ]
    return (runs[0] - runs[1]) / ((many - few) * stations)


def batched(valgrind: str, stations: int, write_window: float) -> dict[str, float]:
    """Instructions per CALL of ``stations`` connections fed a durable CALL each in one turn
    (their publishes share the link's writes, their acks its reads, as at saturation), by
    the default gate and handler first, and not stored: what a single process's path costs
    in the same harness and batches."""
    return {
        "default gate": instructions(valgrind, Counted(True, write_window), stations),
        "handler first": instructions(valgrind, Counted(True, write_window, True), stations),
        "not stored": instructions(valgrind, Counted(False, write_window), stations),
    }


async def turns_to_answer(link: Any, feed: Feed, frames: list[bytes]) -> float:
    """Loop turns between the link reading a reply and the answer's write, per CALL: a
    callback that schedules itself again counts the turns meanwhile. The read is marked by a
    done callback of each store's ack: an ``Ack``'s run as the reader reads the reply (the
    reader completes plain replies itself, no Python method of the link is called for one);
    over nats-py, where the ack is an asyncio future, the mark comes a turn late. (The store
    is sent by the relay's ``Stores`` in one C call: the mark is added to what waits on the
    link once the CALL was fed.)"""
    loop = asyncio.get_running_loop()
    ticks, at_ack, total = [0], [0], [0]
    at_write = [0]

    def wrote() -> None:
        at_write[0] = ticks[0]

    def tick() -> None:
        ticks[0] += 1
        loop.call_soon(tick)

    def mark(_: Any) -> None:
        at_ack[0] = ticks[0]

    def marked() -> None:
        for ack in link._waiting.values():
            ack.add_done_callback(mark)

    ON_FED.append(marked)
    ON_WRITE.append(wrote)
    loop.call_soon(tick)
    for frame in frames:
        at_ack[0] = -1
        await feed([frame])
        if at_ack[0] < 0:
            raise RuntimeError("no store's ack was read for a durable CALL")
        total[0] += at_write[0] - at_ack[0]
    ON_FED.remove(marked)
    ON_WRITE.remove(wrote)
    return total[0] / len(frames)


def report(title: str, diff: dict[str, int], count: int, top: int) -> None:
    by_origin: collections.Counter[str] = collections.Counter()
    for key, n in diff.items():
        by_origin[origin(key)] += n
    total = sum(by_origin.values()) / count
    shares = ", ".join(f"{name} {n / count:.1f}" for name, n in by_origin.items())
    print(f"{title}: {total:.1f} Python calls ({shares})")
    for key, n in sorted(diff.items(), key=lambda item: -item[1])[:top]:
        print(f"   {n / count:6.2f} {key[-90:]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=int, default=2000)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--instructions", action="store_true", help="callgrind per durable CALL")
    parser.add_argument(
        "--write-window",
        type=float,
        default=0.0,
        help="the gateway's write window, s (default 0: one CALL at a time shares no write, "
        "a window would add only its timer to each store)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=32,
        help="with --instructions, also count batches: this many connections fed a CALL each "
        "in one turn (default 32, as many publishes as share a write at saturation; 0: none)",
    )
    parser.add_argument(
        "--batch-window",
        type=float,
        default=WRITE_WINDOW,
        help=f"the batches' write window, s (default the gateway's, {WRITE_WINDOW})",
    )
    parser.add_argument("--batched-only", action="store_true", help="no one-at-a-time count")
    parser.add_argument("--child-calls", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--stations", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--not-stored", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--handler-first", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_calls is not None:
        path = Counted(not args.not_stored, args.write_window, args.handler_first)
        with NatsServer() as nats:
            run(fed(nats.url, args.child_calls, path, args.stations))
        return 0
    if args.instructions:
        valgrind = shutil.which("valgrind")
        if valgrind is None:
            raise SystemExit("valgrind is not installed")
        if not args.batched_only:
            stored = instructions(valgrind, Counted(True, args.write_window))
            print(
                f"instructions per durable CALL (callgrind, window {args.write_window} s):"
                f" {stored:,.0f}"
            )
            print(f"   the same CALL not stored: {instructions(valgrind, Counted(False)):,.0f}")
        if args.batch > 0:
            figures = batched(valgrind, args.batch, args.batch_window)
            plain = figures.pop("not stored")
            print(
                f"instructions per durable CALL, {args.batch} connections' CALLs fed in one"
                f" turn (callgrind, window {args.batch_window} s):"
            )
            for gate, count in figures.items():
                print(
                    f"   {gate}: {count:,.0f} (the gateway's extra {count - plain:,.0f},"
                    f" {count / plain:.3f}x)"
                )
            print(f"   the same CALLs not stored: {plain:,.0f}")
        return 0
    profiler = cProfile.Profile()
    with NatsServer() as nats:
        # tls_handshake_first=False changes nothing on a nats:// URL but the link does not
        # speak it: the relay keeps nats-py, as it would for a .creds file.
        for options in ({}, {"tls_handshake_first": False}):
            profiler.enable()  # before the loop runs: Python 3.11 traces frames entered after
            carrier, diff = run(calls_per_store(nats.url, options, args.stores, profiler))
            profiler.disable()
            report(f"{carrier}, per store", diff, args.stores, args.top)
        profiler.enable()
        diff, tasks, turns = run(calls_per_call(nats.url, args.stores, profiler))
        report("a durable CALL on a gateway's connection (NatsLink)", diff, args.stores, args.top)
        print(
            f"   tasks made per CALL {tasks / args.stores:.2f}; "
            f"loop turns from the ack read to the answer written {turns:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
