"""The measuring child of the benchmark history: runs the variants of one commit's own
``ocpp_fast.bench`` over a fixed number of messages, each region inside a ctypes callback.

Why a callback: ``valgrind --tool=callgrind --collect-atstart=no
--toggle-collect=_CallPythonObject --dump-after=_CallPythonObject`` then counts the
instructions of exactly those regions (the interpreter's start, the imports and the
building and checking of the variants are not counted) and writes one profile part per
region, in the order this script writes its plan. Nothing else in the process calls a
ctypes callback. Run natively, the same script checks that every region runs.

It is started by ``benchmarks/track.py`` with ``PYTHONPATH`` naming the ``src`` of the
commit measured, so it imports that commit's ``ocpp_fast.bench`` (its builders, checked
once per frame as that commit checks them) and must run against every version of it since
the bench landed: it touches only what they all have, and falls back to the builders of the
versions that had no variant records (before ``Variant``). It is no module of the package
and imports nothing of this tree.

``--version 1.6`` measures the 1.6 mix on the 1.6 model, its drop-in and ``ocpp.v16``
(the bench's ``BENCH_VERSIONS``), ``--version 2.1`` the 2.1 mix alike: a commit whose bench
cannot measure that version records every variant asked for as an error, and the history
line then has no figures of it.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Batch = Callable[[int], None]

VARIANTS = ("a", "b", "c", "d", "e", "f", "i", "j")
"""Compiled and pure round trip, the ocpp package, the floor, ``handle``, the drop-in, the
live path without and with metrics (what operators run): the columns the history keeps (the
others are the same paths with options on). A version whose bench has no (j) records it as
an error."""

REGION = ctypes.CFUNCTYPE(None)
"""The callback type whose C entry (``_CallPythonObject``) callgrind toggles on."""


def _legacy(bench: Any, key: str, frames: list[Any], responses: Any, loop: Any) -> list[Batch]:
    """Builders of the versions before variant records (``VARIANTS`` was a tuple of letters)."""
    if key == "a":
        compiled = bench.compiled_codec()
        if compiled is None:
            raise RuntimeError("ocpp_fast._codec_c is not built")
        return list(bench.codec_batches(compiled, frames, responses))
    if key == "b":
        return list(bench.codec_batches(bench._codec_py, frames, responses))
    if key == "c":
        return list(bench.ocpp_batches(frames, loop)[0])
    if key == "d":
        return list(bench.floor_batches(frames, responses))
    if key == "e":
        return list(bench.dispatch_batches(frames, responses))
    if key == "f":
        return list(bench.ocpp_batches(frames, loop, drop_in=True)[0])
    raise RuntimeError(f"this version's bench has no variant ({key})")


def _live_path(frames: list[Any], responses: Any) -> list[Batch]:
    """(i) for the versions whose bench predates it but whose ``AsyncConnection`` has
    ``feed``: what the bench's ``feed_batches`` does without metrics, checked the same way."""
    from ocpp_fast import v201
    from ocpp_fast.aio import AsyncConnection

    if not hasattr(AsyncConnection, "feed"):
        raise RuntimeError("this version has no AsyncConnection.feed (no live path to time)")
    handlers = {
        v201.actions.ACTIONS[action].method: (lambda self, request, r=response: r)
        for action, response in responses.items()
    }
    csms = type("BenchChargeSystem", (v201.ChargeSystem,), handlers)()
    written: list[bytes] = []
    connection = AsyncConnection(csms, write=written.append, identity="BENCH")
    batches: list[Batch] = []
    for frame in frames:
        written.clear()
        connection.feed(frame.data)
        if not written or json.loads(written[0])[:2] != [3, frame.message_id]:
            raise RuntimeError(f"feed: no CALLRESULT for {frame.label}: {written!r}")

        def batch(n: int, data: bytes = frame.data) -> None:
            feed = connection.feed
            for _ in range(n):
                feed(data)
            written.clear()

        batches.append(batch)
    return batches


def build(
    bench: Any, key: str, frames: list[Any], responses: Any, loop: Any, target: Any = None
) -> list[Batch]:
    """One variant's batches, one per frame, from the commit's own bench (the live path
    from this probe where the bench had no variant (i) yet). ``target``: the bench's
    ``BenchVersion`` other than 2.0.1 (its records take it; the fallbacks are 2.0.1's)."""
    by_key = getattr(bench, "BY_KEY", None)
    if target is not None:
        if by_key is None or key not in by_key:
            raise RuntimeError(f"this version's bench has no variant ({key})")
        return list(by_key[key].build(bench.Setup(frames, responses, loop, target))[0])
    if key == "i" and (by_key is None or key not in by_key):
        return _live_path(frames, responses)
    if by_key is None:
        return _legacy(bench, key, frames, responses, loop)
    if key not in by_key:
        raise RuntimeError(f"this version's bench has no variant ({key})")
    setup = bench.Setup(frames, responses, loop)
    return list(by_key[key].build(setup)[0])


def run_region(batch: Batch, n: int) -> None:
    """``n`` operations inside one ctypes callback, the cyclic GC collected first and paused."""
    region = REGION(lambda: batch(n))
    gc.collect()
    gc.disable()
    try:
        region()
    finally:
        gc.enable()


def main(argv: list[str] | None = None) -> int:
    """Build the variants asked for, warm each frame up, then run one region per frame."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mix", type=Path, help="the JSON-lines mix (the same for every commit)")
    parser.add_argument("plan", type=Path, help="where to write the regions' order (JSON)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--per-frame", type=int, default=10, help="messages per region")
    parser.add_argument(
        "--fewer", default="", help="variants with their own count, e.g. c=1 (slow under valgrind)"
    )
    parser.add_argument("--warmup", type=int, default=3, help="untimed messages per frame first")
    parser.add_argument("--version", help="the OCPP version of the mix (default: 2.0.1)")
    args = parser.parse_args(argv)

    from ocpp_fast import bench  # the commit's, through PYTHONPATH

    counts = {k: int(n) for k, _, n in (p.partition("=") for p in args.fewer.split(",") if p)}

    frames = list(bench.load_mix(args.mix))
    loop = asyncio.new_event_loop()
    built: dict[str, list[Batch]] = {}
    errors: dict[str, str] = {}
    keys = args.variants.split(",")
    target = None
    try:
        if args.version is None:
            responses = bench.fast_responses()
        else:
            target = bench.BENCH_VERSIONS[args.version]
            responses = target.responses()
    except (AttributeError, KeyError) as error:  # a bench from before that version
        refused = f"this version's bench cannot measure OCPP {args.version}: {error!r}"
        errors = {key: refused for key in keys}
        keys = []
    for key in keys:
        try:
            built[key] = build(bench, key, frames, responses, loop, target)
        except (Exception, SystemExit) as error:  # an old bench may lack it or refuse it
            errors[key] = f"{type(error).__name__}: {error}"
    regions = []
    for key, batches in built.items():
        for frame, batch in zip(frames, batches, strict=True):
            batch(args.warmup)
            count = counts.get(key, args.per_frame)
            regions.append(
                {"variant": key, "frame": frame.key, "weight": frame.weight, "count": count}
            )
    plan = {
        "bench_file": str(Path(bench.__file__).resolve()),
        "regions": regions,
        "errors": errors,
    }
    args.plan.write_text(json.dumps(plan), encoding="utf-8")
    for key, batches in built.items():
        for batch in batches:
            run_region(batch, counts.get(key, args.per_frame))
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
