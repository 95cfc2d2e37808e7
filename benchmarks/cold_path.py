"""One message's path through the CSMS, warm and with cold caches: ocpp_fast's against the floor's.

``python benchmarks/cold_path.py [--connections 5000]``

At the load benchmark's fleet rate each message wakes the CSMS on its own, and
between two messages the simulator (on the same two cores) evicts the caches: a
message pays its path's code and data footprint, not only its instructions.
This times, in one process, the frame callback of the picows listener
(:class:`~ocpp_fast.transport._picows_wire.OcppListener` feeding
``DemoChargeSystem``) and of the echo floor (``echo_floor.Floor``) over the
fleet mix, three ways: all on one connection (warm), round-robin over
``--connections`` connections, and round-robin with 8 MiB of memory touched
before each message (cold). The socket is a stand-in that drops what is sent,
so the kernel's share is left out. Figures to read, not assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import time
from pathlib import Path
from typing import Any, cast

import msgspec
from echo_floor import Floor
from picows import WSMsgType

from ocpp_fast.aio import AsyncConnection
from ocpp_fast.demo import DemoChargeSystem
from ocpp_fast.transport._picows_wire import OcppListener

MIX = Path(__file__).resolve().parent.parent / "src" / "ocpp_fast" / "data" / "mix-v201.jsonl"
EVICT = bytearray(8 << 20)
"""Touched one byte per 64-byte line before a cold message: more than this machine's caches."""


class _Socket:
    def get_write_buffer_size(self) -> int:
        return 0


class _Transport:
    """What the listeners use of picows' WSTransport; what they send is dropped."""

    underlying_transport = _Socket()
    is_disconnected = False

    def send(self, kind: WSMsgType, data: bytes, *flags: bool) -> None:
        pass


class _Frame:
    """One whole, uncompressed text frame, as picows hands it over."""

    msg_type = WSMsgType.TEXT
    fin = True
    rsv1 = False

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def get_payload_as_bytes(self) -> bytes:
        return self.payload


def _frames() -> list[_Frame]:
    """The fleet mix, each frame as often as its weight, in a fixed shuffled order."""
    frames = []
    for line in MIX.read_bytes().splitlines():
        entry = msgspec.json.decode(line)
        frames += [_Frame(msgspec.json.encode(entry["frame"]))] * entry["weight"]
    random.Random(1).shuffle(frames)
    return frames


def _evict() -> None:
    EVICT[::64] = b"\x01" * (len(EVICT) // 64)


def _listeners(kind: str, count: int, transport: _Transport) -> list[Any]:
    if kind == "echo":
        return [Floor() for _ in range(count)]
    handler = DemoChargeSystem()
    listeners = []
    for number in range(count):
        listener = OcppListener(max_size=1 << 20, deflate=None, unread_output=1 << 20)
        listener.transport = cast(Any, transport)
        listener.connection = AsyncConnection(handler, write=listener.write, identity=f"CS{number}")
        listeners.append(listener)
    return listeners


async def measure(kind: str, count: int) -> dict[str, float]:
    """µs per message of ``kind`` ("echo" or "ocpp_fast"), warm, spread and cold."""
    transport = _Transport()
    listeners = _listeners(kind, count, transport)
    frames = _frames()
    gc.collect()
    gc.freeze()
    figures = {}
    for way, rounds in (("warm", 4000), ("spread", 4000), ("cold", 1500)):
        spent = 0.0
        for number in range(rounds):
            listener = listeners[0] if way == "warm" else listeners[number * 7919 % count]
            frame = frames[number % len(frames)]
            if way == "cold":
                _evict()
            started = time.perf_counter()
            listener.on_ws_frame(transport, frame)
            spent += time.perf_counter() - started
        figures[way] = spent / rounds * 1e6
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=5000)
    args = parser.parse_args()
    print("| path | warm, one connection | round-robin | round-robin, caches evicted |")
    print("|:---|---:|---:|---:|")
    for kind in ("echo", "ocpp_fast"):
        figures = asyncio.run(measure(kind, args.connections))
        cells = " | ".join(f"{figures[way]:.2f} µs" for way in ("warm", "spread", "cold"))
        print(f"| {kind} | {cells} |")


if __name__ == "__main__":
    main()
