"""``make demo-cluster``: a CSMS on several processes over NATS, on loopback, for ~20 s.

Starts a ``nats-server -js`` (temporary store), 2 gateways (``ocpp-fast serve --nats ...
--handlers workers``), 2 workers (``ocpp-fast worker ... ocpp_fast.demo:DemoChargeSystem``)
and 300 simulated stations spread over the gateways (``ocpp-fast simulate --url A B``).
While they charge, a ``ClusterClient`` here lists them (``stations()``) and unlocks a
connector on a few of them, wherever they are; at the end it counts the durable
actions stored in the stream. Exits non-zero when a call failed.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections import Counter

from ocpp_fast._machine import free_port
from ocpp_fast.cluster import ClusterClient, Names, NatsServer
from ocpp_fast.v201 import messages


def start(argv: list[str], ready: str) -> subprocess.Popen[str]:
    """A child process of the demo, once it printed ``ready``."""
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    for line in child.stdout:
        print("  " + line.rstrip())
        if ready in line:
            return child
    raise RuntimeError(f"{argv[3]} did not start")


async def look(nats_url: str, chargers: int) -> int:
    """List the stations, call a few of them through the cluster; the failures."""
    async with ClusterClient(nats_url) as client:
        deadline = time.monotonic() + 20
        listed = await client.stations()
        while len(listed) < chargers and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            listed = await client.stations()
        by_node = Counter(entry.node for entry in listed.values())
        print(f"stations(): {len(listed)} connected, by gateway {dict(by_node)}")
        failed = 0
        for identity in sorted(listed)[:5]:
            started = time.perf_counter()
            try:
                answer = await client.call(
                    identity, messages.UnlockConnectorRequest(evse_id=1, connector_id=1), timeout=5
                )
            except Exception as exc:
                failed += 1
                print(f"routed UnlockConnector to {identity}: {exc!r}")
                continue
            took = (time.perf_counter() - started) * 1000
            print(
                f"routed UnlockConnector to {identity} ({listed[identity].node}): "
                f"{answer.status} in {took:.1f} ms"
            )
        return failed


async def stored(nats_url: str) -> int:
    async with ClusterClient(nats_url) as client:
        info = await client.nats.jetstream().stream_info(Names().stream)
        return info.state.messages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chargers", type=int, default=300)
    parser.add_argument("--duration", type=float, default=20.0)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "ocpp_fast.cli"]
    children: list[subprocess.Popen[str]] = []
    with NatsServer() as nats:
        print(f"nats-server -js on {nats.url}")
        try:
            ports = [free_port() for _ in range(2)]
            for port in ports:
                argv = [*cli, "serve", "--quiet", "--port", str(port), "--nats", nats.url]
                children.append(start([*argv, "--handlers", "workers"], "gateway "))
            for _ in range(2):
                argv = [*cli, "worker", "--nats", nats.url, "ocpp_fast.demo:DemoChargeSystem"]
                children.append(start(argv, "worker serving"))
            urls = [f"ws://127.0.0.1:{port}/ocpp" for port in ports]
            print(
                f"simulating {args.chargers} stations over {len(urls)} gateways "
                f"for {args.duration:.0f} s"
            )
            simulate = subprocess.Popen(
                [
                    *cli,
                    "simulate",
                    "--url",
                    *urls,
                    "--chargers",
                    str(args.chargers),
                    "--duration",
                    str(args.duration),
                    "--interval",
                    "1",
                ]
            )
            children.append(simulate)  # type: ignore[arg-type]
            time.sleep(min(5.0, args.duration / 3))
            failed = asyncio.run(look(nats.url, args.chargers))
            code = simulate.wait(args.duration + 60)
            print(f"durable actions in the stream: {asyncio.run(stored(nats.url))}")
            return 1 if failed or code else 0
        finally:
            for child in children:
                child.terminate()
            for child in children:
                child.wait(15)


if __name__ == "__main__":
    sys.exit(main())
