"""Instructions per message under callgrind: a figure a busy machine cannot blur.

Wall time on a shared machine moves by tens of percent from run to run; the
count of instructions a message costs does not. This runs the packaged mix
(each frame repeated by its weight, so a round is the mix's 100 messages)
through each variant under ``valgrind --tool=callgrind`` and prints
instructions per message: the run with ``--rounds`` rounds minus the run with
none (the interpreter's start, the imports and the warm-up cancel out):

- ``floor``: untyped msgspec decode + encode, no validation (the bench's d);
- ``codec``: the live codec's ``decode_frame`` + ``encode_call_result`` (a);
- ``handle``: ``ChargeSystem.handle`` (e);
- ``feed``: ``AsyncConnection.feed``, a live connection's path (i).

Each also on Heartbeats alone, the message where fixed costs show most.

Run: ``python benchmarks/instructions.py [--rounds 200] [--only handle,feed]``
(valgrind must be installed). Prints figures; asserts nothing. Instructions are
not time (a cache miss costs more than an add), but what Python glue costs is
mostly instructions, and this count moves only when the code does.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

VARIANTS = ("floor", "codec", "handle", "feed")
SELF = Path(__file__).resolve()


def _workload(variant: str, heartbeat_only: bool) -> tuple[Callable[[], None], int]:
    """One round of ``variant`` over the mix, warmed up once; and its message count."""
    import msgspec

    from ocpp_fast import bench, codec, v201
    from ocpp_fast.aio import AsyncConnection

    frames = bench.load_mix(bench.DEFAULT_MIX)
    if heartbeat_only:
        frames = [f for f in frames if f.action == "Heartbeat"]
    responses = bench.fast_responses()
    schedule = [f for f in frames for _ in range(max(1, round(f.weight)))]
    data = [f.data for f in schedule]
    handlers: dict[str, Any] = {
        v201.actions.ACTIONS[action].method: (lambda self, request, r=response: r)
        for action, response in responses.items()
    }
    csms = type("CountedChargeSystem", (v201.ChargeSystem,), handlers)()
    version = v201.VERSION
    answers = [responses[f.action] for f in schedule]
    run: Callable[[], None]
    if variant == "floor":
        decode, encode = msgspec.json.Decoder().decode, msgspec.json.Encoder().encode

        def run() -> None:
            for frame, answer in zip(data, answers, strict=True):
                encode((3, decode(frame)[1], answer))

    elif variant == "codec":
        decode_frame: Callable[..., Any] = codec.decode_frame
        encode_result = codec.encode_call_result

        def run() -> None:
            for frame, answer in zip(data, answers, strict=True):
                encode_result(decode_frame(frame, version).message_id, answer)

    elif variant == "handle":
        handle = csms.handle

        def run() -> None:
            for frame in data:
                handle(frame)

    else:
        written: list[bytes] = []
        connection = AsyncConnection(csms, write=written.append, identity="COUNTED")
        feed = connection.feed

        def run() -> None:
            for frame in data:
                feed(frame)
            written.clear()

    run()  # warm-up: decoders compiled, tables filled, caches made
    return run, len(data)


def child(variant: str, rounds: int, heartbeat_only: bool) -> None:
    """The measured process: set up, warm up, then ``rounds`` rounds."""
    run, _ = _workload(variant, heartbeat_only)
    gc.collect()
    gc.disable()  # as the bench pauses it: a collection's millions of instructions fall
    # in one run and not in another, however the code changed
    for _ in range(rounds):
        run()


def _instructions(variant: str, rounds: int, heartbeat_only: bool, valgrind: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        command = [
            valgrind,
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            str(SELF),
            "--child",
            variant,
            "--rounds",
            str(rounds),
        ]
        if heartbeat_only:
            command.append("--heartbeat")
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(command, check=True, capture_output=True, env=env)
        text = out.read_text(encoding="utf-8", errors="replace")
    found = re.search(r"^(?:summary|totals): (\d+)", text, re.MULTILINE)
    if found is None:
        raise SystemExit(f"no instruction total in callgrind's output for {variant}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=100, help="rounds of the mix (100 msgs)")
    parser.add_argument("--only", default=",".join(VARIANTS), help="variants, comma-separated")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--heartbeat", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.rounds, args.heartbeat)
        return 0
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed")
    from ocpp_fast import codec

    variants = [v for v in args.only.split(",") if v]
    print(
        f"instructions per message under callgrind ({args.rounds} rounds; codec: "
        f"{codec.IMPLEMENTATION}; python {sys.version.split()[0]})"
    )
    for heartbeat_only in (False, True):
        for variant in variants:
            _, per_round = _workload(variant, heartbeat_only)
            base = _instructions(variant, 0, heartbeat_only, valgrind)
            full = _instructions(variant, args.rounds, heartbeat_only, valgrind)
            each = (full - base) / (args.rounds * per_round)
            mix = "Heartbeat only" if heartbeat_only else "weighted mix"
            print(f"{variant:>7} {mix:<15} {each:>10,.0f} instructions/msg", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
