"""What counting each socket at accept costs a server on asyncio's own loop.

On asyncio's selector loop ``serve()`` listens on sockets of its own whose ``accept()``
counts each socket and closes one over the fd budget (``ocpp_fast.transport._accept``).
This times a server making a burst of ``--connections`` TCP connections (at most the listen
backlog, 100: they queue while the loop stands still, as in the hostile test) with that gate,
against the same run's baseline: the loop's own accept on sockets it bound itself, as before
the gate.

Prints figures (best of several rounds); asserts nothing.
``python benchmarks/accept_burst.py [--connections 100] [--rounds 21] [--backend picows]``
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import time
from collections.abc import Callable

from ocpp_fast.demo import demo_handlers
from ocpp_fast.transport import Limits, _accept, serve


async def one_round(backend: str, count: int) -> float:
    """Seconds the server takes to make ``count`` connections queued in its backlog while
    its loop stood still (the connects are done before this coroutine yields)."""
    caps = Limits(pending_handshakes=count + 10, max_connections=count + 10, spare_fds=64)
    server = await serve(demo_handlers(), "127.0.0.1", 0, limits=caps, backend=backend)
    clients = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(count)]
    try:
        began = time.perf_counter()
        while server.sockets < count:
            await asyncio.sleep(0)
        return time.perf_counter() - began
    finally:
        for client in clients:
            client.close()
        await server.close(timeout=1)


def best(rounds: int, work: Callable[[], float]) -> float:
    return min(work() for _ in range(rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--backend", default="picows", choices=["picows", "websockets"])
    options = parser.parse_args()
    count = options.connections

    def gated() -> float:
        return asyncio.run(one_round(options.backend, count))

    own = _accept.gated

    def ungated() -> float:
        _accept.gated = lambda loop: False
        try:
            return asyncio.run(one_round(options.backend, count))
        finally:
            _accept.gated = own

    baseline = best(options.rounds, ungated)
    counted = best(options.rounds, gated)
    print(f"{count} connections on asyncio's loop, {options.backend}, best of {options.rounds}:")
    print(f"  the loop's own accept (baseline): {baseline * 1e3:8.1f} ms")
    print(f"  counted at accept (the gate):     {counted * 1e3:8.1f} ms")
    print(f"  ratio gate / baseline:            {counted / baseline:8.2f}")


if __name__ == "__main__":
    main()
