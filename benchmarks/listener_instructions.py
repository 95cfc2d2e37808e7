"""Instructions per message of the picows frame callback, ocpp_fast's and the echo floor's.

``python benchmarks/listener_instructions.py [--messages 5000] [--only ocpp_fast,echo]``

:mod:`cold_path` times the frame callback of the picows listener in one process;
this counts its instructions under ``valgrind --tool=callgrind``, a figure the
shared machine cannot blur (see :mod:`instructions`): the fleet mix, each frame
as often as its weight, in a fixed shuffled order, round-robin over 100
connections of ``DemoChargeSystem`` on :class:`OcppListener
<ocpp_fast.transport._picows_wire.OcppListener>` (and of the floor's
``echo_floor.Floor``). Each connection is picows' own ``WSProtocol``, upgraded
as the server hands a socket to picows, and each message a masked frame handed
to it in a read of its own (as at the fleet rate), so the count holds picows'
parser, its call of the listener and its send (to a loopback TCP peer, drained
after each round); not the event loop or the kernel. Instructions per message
are the run with ``--messages`` minus the run with none (start, imports and
warm-up cancel out). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import random
import shutil
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from instructions import callgrind_total

SELF = Path(__file__).resolve()
MIX = SELF.parent.parent / "src" / "ocpp_fast" / "data" / "mix-v201.jsonl"
KINDS = ("ocpp_fast", "echo")
CONNECTIONS = 100


class _Socket:
    """The asyncio transport under picows: what picows and the listener call on it. Bytes
    go to ``sock``'s peer (picows sends them itself while nothing waits to be written)."""

    get_write_buffer_size = staticmethod(int)  # 0, from C as uvloop's would be

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def get_extra_info(self, name: str) -> Any:
        return {"socket": self._sock, "peername": ("127.0.0.1", 1)}.get(name)

    def write(self, data: bytes) -> None:  # the 101 answer (messages go out by send())
        self._sock.sendall(data)


def _payloads() -> list[bytes]:
    """The fleet mix, each frame as often as its weight, in a fixed shuffled order."""
    payloads = []
    for line in MIX.read_bytes().splitlines():
        entry = msgspec.json.decode(line)
        payloads += [msgspec.json.encode(entry["frame"])] * entry["weight"]
    random.Random(1).shuffle(payloads)
    return payloads


def _masked(payload: bytes) -> bytes:
    """``payload`` as a station sends it: one masked text frame (payloads under 64 KiB)."""
    mask = b"\x11\x22\x33\x44"
    size = len(payload)
    head = bytes([0x81, 0x80 | size]) if size < 126 else bytes([0x81, 0xFE]) + size.to_bytes(2)
    body = bytes(byte ^ mask[i & 3] for i, byte in enumerate(payload))
    return head + mask + body


def _listener(kind: str, handler: Any, number: int) -> Any:
    if kind == "echo":
        from echo_floor import Floor  # benchmarks/ is no package: its modules import each other

        return Floor()
    from ocpp_fast.aio import AsyncConnection
    from ocpp_fast.transport._picows_wire import OcppListener

    listener = OcppListener(max_size=1 << 20, deflate=None, unread_output=1 << 20)
    listener.attach(AsyncConnection(handler, write=listener.write, identity=f"CS{number}"))
    return listener


def _protocol(listener: Any, sock: socket.socket) -> Any:
    """picows' protocol of one connection, upgraded, as the server hands a socket over."""
    from picows import WSAutoPingStrategy, WSUpgradeResponse, WSUpgradeResponseWithListener
    from picows.picows import WSProtocol  # type: ignore[attr-defined]

    def listener_for(request: Any) -> Any:
        return WSUpgradeResponseWithListener(WSUpgradeResponse.create_101_response(), listener)

    protocol = WSProtocol(
        None, None, False, listener_for, logging.getLogger("bench"), True, None,
        False, 20.0, 20.0, WSAutoPingStrategy.PING_WHEN_IDLE, False, 1 << 20, None, 2048,
    )  # fmt: skip
    protocol.connection_made(_Socket(sock))
    _receive(protocol, UPGRADE)
    return protocol


def _receive(protocol: Any, data: bytes) -> None:
    """``data`` read from the socket, as the event loop hands it to a buffered protocol:
    in as many reads as picows' buffer needs."""
    fed = 0
    while fed < len(data):
        buffer = protocol.get_buffer(-1)
        size = min(len(buffer), len(data) - fed)
        buffer[:size] = data[fed : fed + size]
        protocol.buffer_updated(size)
        fed += size


UPGRADE = (
    b"GET /CS HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def _tcp_pair() -> tuple[socket.socket, socket.socket]:
    """A connected TCP pair on 127.0.0.1 (picows sets TCP options on its socket)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        ours = socket.create_connection(server.getsockname())
        theirs, _ = server.accept()
    ours.setblocking(False)
    return ours, theirs


def workload(kind: str) -> tuple[Callable[[], None], int]:
    """One round of the mix, a message per read, round-robin over the connections, warmed
    up; and its message count."""
    from ocpp_fast.demo import DemoChargeSystem

    ours, theirs = _tcp_pair()
    theirs.setblocking(False)
    handler = DemoChargeSystem()
    protocols = [_protocol(_listener(kind, handler, n), ours) for n in range(CONNECTIONS)]
    frames = [_masked(p) for p in _payloads()]
    reads = [(protocols[n % CONNECTIONS], frame) for n, frame in enumerate(frames)]

    def run() -> None:
        for protocol, frame in reads:
            _receive(protocol, frame)
        while True:
            try:
                theirs.recv(1 << 20)
            except BlockingIOError:
                return

    for _ in range(CONNECTIONS // len(reads) + 2):  # warm-up: every connection, every action
        run()
    return run, len(reads)


async def child(kind: str, messages: int) -> None:
    """The measured process: set up, warm up, then ``messages`` messages (whole rounds)."""
    run, per_round = workload(kind)
    gc.collect()
    gc.disable()  # as the bench pauses it: a collection falls in one run and not another
    for _ in range(messages // per_round):
        run()


def _instructions(kind: str, messages: int, valgrind: str) -> int:
    return callgrind_total(SELF, ["--child", kind, "--messages", str(messages)], valgrind, kind)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000, help="messages measured")
    parser.add_argument("--only", default=",".join(KINDS), help="kinds, comma-separated")
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        asyncio.run(child(args.child, args.messages))
        return 0
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed")
    per_round = len(_payloads())
    rounds = max(1, args.messages // per_round)
    print(f"instructions per message under callgrind ({rounds * per_round} messages)")
    for kind in args.only.split(","):
        base = _instructions(kind, 0, valgrind)
        full = _instructions(kind, rounds * per_round, valgrind)
        each = (full - base) / (rounds * per_round)
        print(f"{kind:>9} on_ws_frame {each:>10,.0f} instructions/msg", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
