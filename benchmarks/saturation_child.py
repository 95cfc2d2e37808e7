"""The load generator of ``saturation.py``: stations that cost the generator little.

``python benchmarks/saturation_child.py --url ws://127.0.0.1:P/ocpp --stations N``

Each station is one picows connection (uvloop) that boots, then sends the next CALL of the
2.0.1 fleet mix (``mix-v201.jsonl``, in its weights' shares, in an order of its own) as
soon as its last one is answered: the server under test is never waiting for work. The
frames are made from templates built once (a message id and, in a TransactionEvent, the
``seqNo`` counted up, the transaction id the station's own; in a MeterValues, its first
sampled value counted up: so that no two stores share a deduplication key, and the stream
stores every one, as it does a real station's); an answer is only told apart by its type
(CALLRESULT or CALLERROR), never decoded: ``load_child.py``'s typed simulator costs more
per message than the server it drives, which is why ``cluster.py``'s saturation is the
simulator's.

SIGUSR1 starts the window (the count of answers so far is noted), SIGUSR2 ends it: the
process prints ``window <answers> <errors> <seconds>`` and exits. A CALLERROR's first
text is printed once (``error <frame>``): a saturated row with errors measures nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
import time
from typing import Any

import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from ocpp_fast.bench import DEFAULT_MIX, load_mix

ID_MARK = "@@id@@"
SEQ_MARK = 987654321
TEXT = WSMsgType.TEXT


def mix() -> list[tuple[int, list[Any]]]:
    """(weight, frame) of every CALL of the packaged 2.0.1 mix (read as ``make bench`` reads it)."""
    return [(int(frame.weight), json.loads(frame.data)) for frame in load_mix(DEFAULT_MIX)]


def template(frame: list[Any], identity: str) -> tuple[bytes, bool]:
    """``frame`` as a ``%``-template of its message id (and of a number counted up, when it
    has one: a TransactionEvent's ``seqNo``, a MeterValues' first sampled value), its
    transaction id the station's. (A MeterValues sent again as it was has the dedup key of
    the one before: the stream answered it as a duplicate and stored nothing, a tenth of the
    mix's stores.)"""
    payload = dict(frame[3])
    counted = "seqNo" in payload or "meterValue" in payload
    if "seqNo" in payload:
        payload["seqNo"] = SEQ_MARK
    elif counted:
        first = dict(payload["meterValue"][0])
        first["sampledValue"] = [dict(first["sampledValue"][0], value=SEQ_MARK)]
        first["sampledValue"] += payload["meterValue"][0]["sampledValue"][1:]
        payload["meterValue"] = [first, *payload["meterValue"][1:]]
    if "transactionInfo" in payload:
        info = dict(payload["transactionInfo"])
        info["transactionId"] = f"{identity}-tx"
        payload["transactionInfo"] = info
    text = json.dumps([2, ID_MARK, frame[2], payload], separators=(",", ":")).encode()
    text = text.replace(b"%", b"%%").replace(f'"{ID_MARK}"'.encode(), b'"%d"')
    return text.replace(str(SEQ_MARK).encode(), b"%d"), counted


class Generator:
    """What every station of this process counts."""

    def __init__(self) -> None:
        self.answered = 0
        self.errors = 0
        self.first_error: bytes | None = None
        self.connected = 0


class Station(WSListener):
    """One connection: a boot, then the mix, each CALL once the last is answered."""

    def __init__(self, generator: Generator, identity: str, schedule: list[tuple[bytes, bool]]):
        self.generator = generator
        self.identity = identity
        self.schedule = schedule
        self.at = 0
        self.number = 0
        self.seq = 0
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.generator.connected += 1
        self.send_next()

    def send_next(self) -> None:
        text, counted = self.schedule[self.at]
        self.at = (self.at + 1) % len(self.schedule)
        self.number += 1
        if counted:
            self.seq += 1
            frame = text % (self.number, self.seq)
        else:
            frame = text % (self.number,)
        assert self.transport is not None
        self.transport.send(TEXT, frame)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type != TEXT:
            return
        data = frame.get_payload_as_bytes()
        generator = self.generator
        if data[1:2] == b"3":
            generator.answered += 1
        else:
            generator.errors += 1
            if generator.first_error is None:
                generator.first_error = data[:300]
                print("error", data[:300].decode(errors="replace"), flush=True)
        self.send_next()


def schedules(identity: str, seed: int) -> list[tuple[bytes, bool]]:
    """A station's cycle of 100 frames in the mix's shares, its order shuffled by ``seed``;
    the first one is the mix's BootNotification."""
    entries = mix()
    boot = next(frame for _, frame in entries if frame[2] == "BootNotification")
    cycle = [template(frame, identity) for weight, frame in entries for _ in range(weight)]
    random.Random(seed).shuffle(cycle)
    return [template(boot, identity), *cycle]


async def run(args: argparse.Namespace) -> None:
    generator = Generator()
    loop = asyncio.get_running_loop()
    ended = asyncio.Event()
    marks: dict[str, tuple[int, int, float]] = {}

    def start_window() -> None:
        marks["start"] = (generator.answered, generator.errors, time.monotonic())

    def end_window() -> None:
        answered, errors, started = marks.get("start", (0, 0, time.monotonic()))
        seconds = time.monotonic() - started
        print(
            f"window {generator.answered - answered} {generator.errors - errors} {seconds:.4f}",
            flush=True,
        )
        ended.set()

    loop.add_signal_handler(signal.SIGUSR1, start_window)
    loop.add_signal_handler(signal.SIGUSR2, end_window)
    headers = {"Sec-WebSocket-Protocol": "ocpp2.0.1"}
    for number in range(args.stations):
        identity = f"SAT{args.offset + number:05d}"
        schedule = schedules(identity, args.offset + number)
        station = Station(generator, identity, schedule)
        await ws_connect(
            lambda *_, station=station: station,  # picows hands the handshake's request in
            f"{args.url}/{identity}",
            extra_headers=headers,
            enable_auto_ping=False,
        )
    print(f"connected {generator.connected}", flush=True)
    await ended.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--offset", type=int, default=0)
    args = parser.parse_args()
    uvloop.run(run(args))
    sys.exit(0)


if __name__ == "__main__":
    main()
