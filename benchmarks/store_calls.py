"""Python calls per durable store: a gateway's ``Relay.store`` over its NATS link, and over
nats-py (``Replies``, what the gateway falls back to).

``python benchmarks/store_calls.py`` starts a ``nats-server -js``, attaches a relay each way
and stores a TransactionEvent ``--stores`` times, one after the other (as at a moderate rate,
where no two share a write), with cProfile on; it prints the calls per store by origin and the
most frequent ones. A count, not a time: it does not move with the machine's other work.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
from collections.abc import Sequence
from typing import Any

from ocpp_fast.cluster import ClusterConfig, Gateway, NatsServer
from ocpp_fast.dispatch import CallContext
from ocpp_fast.transport.runtime import run
from ocpp_fast.v201 import ChargeSystem

PAYLOAD = (
    b'{"eventType":"Updated","timestamp":"2026-11-30T12:00:00Z",'
    b'"triggerReason":"MeterValuePeriodic","seqNo":%d,"transactionInfo":{"transactionId":"T"}}'
)

ORIGINS = (("/nats/", "nats-py"), ("asyncio", "asyncio"), ("ocpp_fast", "ocpp_fast"))


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=int, default=2000)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    profiler = cProfile.Profile()
    with NatsServer() as nats:
        # tls_handshake_first=False changes nothing on a nats:// URL but the link does not
        # speak it: the relay keeps nats-py, as it would for a .creds file.
        for options in ({}, {"tls_handshake_first": False}):
            profiler.enable()  # before the loop runs: Python 3.11 traces frames entered after
            carrier, diff = run(calls_per_store(nats.url, options, args.stores, profiler))
            profiler.disable()
            by_origin: collections.Counter[str] = collections.Counter()
            for key, n in diff.items():
                by_origin[origin(key)] += n
            total = sum(by_origin.values()) / args.stores
            shares = ", ".join(f"{name} {n / args.stores:.1f}" for name, n in by_origin.items())
            print(f"{carrier}: {total:.1f} Python calls per store ({shares})")
            for key, n in sorted(diff.items(), key=lambda item: -item[1])[: args.top]:
                print(f"   {n / args.stores:6.2f} {key[-90:]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
