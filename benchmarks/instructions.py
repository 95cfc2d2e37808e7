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
- ``feed``: ``AsyncConnection.feed``, a live connection's path (i);
- ``metrics``: the same with Prometheus metrics counting (j);
- ``tolerant``: (e) with ``Tolerance.ALL`` on the conformant mix (g);
- ``deviating``: the same on the deviating mix, every frame repaired (h);
- ``compat``: the drop-in, ``ocpp_fast.compat``'s ``route_message`` (f).

Each runs the bench's own batches (:mod:`ocpp_fast.bench`), and also on
Heartbeats alone, the message where fixed costs show most.

Run: ``python benchmarks/instructions.py [--rounds 200] [--only handle,feed]``
(valgrind must be installed). Prints figures; asserts nothing. Instructions are
not time (a cache miss costs more than an add), but what Python glue costs is
mostly instructions, and this count moves only when the code does.
"""

from __future__ import annotations

import argparse
import datetime
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

import msgspec

VARIANTS = ("floor", "codec", "handle", "feed", "metrics", "tolerant", "deviating", "compat")
SELF = Path(__file__).resolve()
FIXED_TIME = datetime.datetime(2026, 12, 1, 12, 34, 56, 789012, tzinfo=datetime.UTC)


KEYS = {
    "floor": "d",
    "handle": "e",
    "feed": "i",
    "metrics": "j",
    "tolerant": "g",
    "deviating": "h",
    "compat": "f",
}
"""The bench's variant of each name (``codec`` is ``a`` or ``b``, whichever codec is live)."""


def _batches(variant: str, frames: list[Any]) -> list[Any]:
    """The bench's own batches of ``variant``, one per frame, built as the history's probe
    builds them (:func:`track_probe.build`: :mod:`ocpp_fast.bench`'s variant records)."""
    import asyncio

    import track_probe  # benchmarks/ is no package: its modules import each other

    from ocpp_fast import bench, codec

    # One instant for every run: the time's digits change what encoding and checking cost
    responses = {
        action: msgspec.structs.replace(response, current_time=FIXED_TIME)
        if hasattr(response, "current_time")
        else response
        for action, response in bench.fast_responses().items()
    }
    compiled = codec.implementation() is bench.compiled_codec()
    key = KEYS.get(variant) or ("a" if compiled else "b")
    return track_probe.build(bench, key, frames, responses, asyncio.new_event_loop())


def _workload(variant: str, heartbeat_only: bool) -> tuple[Callable[[], None], int]:
    """One round of ``variant`` over the mix (each frame as many times as its weight),
    warmed up once; and its message count."""
    from ocpp_fast import bench

    frames = bench.load_mix(bench.DEFAULT_MIX)
    if heartbeat_only:
        frames = [f for f in frames if f.action == "Heartbeat"]
    counts = [max(1, round(f.weight)) for f in frames]
    batches = _batches(variant, frames)

    def run() -> None:
        for batch, count in zip(batches, counts, strict=True):
            batch(count)

    run()  # warm-up: decoders compiled, tables filled, caches made
    return run, sum(counts)


def child(variant: str, rounds: int, heartbeat_only: bool) -> None:
    """The measured process: set up, warm up, then ``rounds`` rounds."""
    run, _ = _workload(variant, heartbeat_only)
    gc.collect()
    gc.disable()  # as the bench pauses it: a collection's millions of instructions fall
    # in one run and not in another, however the code changed
    for _ in range(rounds):
        run()


def callgrind_total(script: Path, arguments: list[str], valgrind: str, what: str) -> int:
    """Instructions ``python script *arguments`` runs under callgrind (hash seed fixed, so that
    dict layouts and thus the count repeat from run to run)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        command = [valgrind, "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(
            [*command, str(script), *arguments], check=True, capture_output=True, env=env
        )
        text = out.read_text(encoding="utf-8", errors="replace")
    found = re.search(r"^(?:summary|totals): (\d+)", text, re.MULTILINE)
    if found is None:
        raise SystemExit(f"no instruction total in callgrind's output for {what}")
    return int(found.group(1))


def _instructions(variant: str, rounds: int, heartbeat_only: bool, valgrind: str) -> int:
    arguments = ["--child", variant, "--rounds", str(rounds)]
    if heartbeat_only:
        arguments.append("--heartbeat")
    return callgrind_total(SELF, arguments, valgrind, variant)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds", type=int, default=100, help="rounds of the mix (100 msgs; Heartbeats alike)"
    )
    parser.add_argument("--only", default=",".join(VARIANTS), help="variants, comma-separated")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--heartbeat", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--no-heartbeat", dest="heartbeat_too", action="store_false", help="the mix only"
    )
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
    for heartbeat_only in (False, True) if args.heartbeat_too else (False,):
        for variant in variants:
            _, per_round = _workload(variant, heartbeat_only)
            rounds = max(1, args.rounds * 100 // per_round)  # as many messages either way
            base = _instructions(variant, 0, heartbeat_only, valgrind)
            full = _instructions(variant, rounds, heartbeat_only, valgrind)
            each = (full - base) / (rounds * per_round)
            mix = "Heartbeat only" if heartbeat_only else "weighted mix"
            print(f"{variant:>7} {mix:<15} {each:>10,.0f} instructions/msg", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
