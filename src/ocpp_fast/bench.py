"""Side by side: the CSMS codec round trip of ocpp_fast, the ``ocpp`` package and msgspec.

The operation measured is what a CSMS does with every request it receives,
short of the business logic: request frame bytes -> validated typed request ->
the prebuilt response -> CALLRESULT frame bytes. Four variants run it over the
frames of one traffic mix (the packaged ``ocpp_fast/data/mix-v201.jsonl`` by default; with
``--version 1.6``, ``mix-v16.jsonl`` on the 1.6 model, its drop-in and ``ocpp.v16``; with
``--version 2.1``, ``mix-v21.jsonl`` on the 2.1 model and its drop-in). A 2.1 mix also holds
SEND frames (``NotifyPeriodicEventStream``), never answered: for those the operation ends
with the handler run (the codec variants: with the validated request), no reply written.

a. ``ocpp_fast._codec_c`` (the compiled codec): ``decode_frame`` then
   ``encode_call_result``;
b. ``ocpp_fast._codec_py``, the same calls in pure Python;
c. the ``ocpp`` package (2.1.0) as a CSMS: a ``ChargePoint`` with one ``@on``
   handler per action, fed the frame text through ``route_message``, with
   ``ASYNC_VALIDATION = False`` (its fastest mode: the jsonschema validation runs
   inline instead of in a thread pool);
d. the floor: untyped ``msgspec`` decode and encode, no validation at all, i.e.
   what no validating codec built on msgspec can beat;
e. the full CSMS round trip through dispatch: ``ChargeSystem.handle(frame)`` on a
   subclass whose handlers return the prebuilt responses (live codec; the
   response is checked against its schema before it is sent);
f. the drop-in: (c)'s very class and handlers, on ``ocpp_fast.compat.v201.ChargePoint``
   instead of ``ocpp.v201.ChargePoint`` (what ``ocpp_fast.compat.install()`` changes; 1.6:
   ``ocpp_fast.compat.v16`` instead of ``ocpp.v16``);
g. (e) with every tolerance on (``Tolerance.ALL``), on the same conformant frames: the
   tolerance runs only where the strict decode failed, so this should cost what (e) costs;
h. (g) on the deviating mix: each frame of the mix broken in every way the tolerances repair
   (``ocpp_fast._deviate``), so each one takes the strict decode, the repair and the re-decode.

(a), (b) and (d) are fed the frame as ``bytes``; (c) as ``str``, which is what
``ocpp`` takes (and what a websocket library hands over for a text frame).

Run: ``ocpp-fast bench [MIX] [--version 1.6|2.1] [--markdown]`` (or ``make bench``: every
version). Variants (c) and (f) need the ``ocpp`` package (a dev dependency); without it its
column reads n/a. (c) reads n/a on a mix holding a SEND too: the ``ocpp`` package (2.1.0)
parses no SEND frame (type 6) and has no ``NotifyPeriodicEventStream`` action, so it would
time a parse error, not the work; the drop-in (f) handles the SEND, with ``ocpp``'s ``@on``.

Timings are figures to read, never assertions: the whole run takes well under a
minute, variants are interleaved so a noisy neighbour hits them alike, and each
figure is the best of several repeats of calibrated batches.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import importlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
from msgspec import inspect as mi

from ocpp_fast import _codec_py
from ocpp_fast._bench_table import table
from ocpp_fast._bench_versions import BENCH_VERSIONS, V201, BenchVersion
from ocpp_fast._deviate import deviate
from ocpp_fast._machine import describe
from ocpp_fast.frames import Call, CallResult, Send
from ocpp_fast.tolerance import Tolerance

__all__ = [
    "BENCH_VERSIONS",
    "DEFAULT_MIX",
    "VARIANTS",
    "MixFrame",
    "Variant",
    "bench_charge_system",
    "compiled_codec",
    "deviating_mix",
    "fast_responses",
    "load_mix",
    "main",
]

DEFAULT_MIX = V201.mix
"""The realistic weighted 2.0.1 mix, shipped as package data so ``ocpp-fast bench`` runs
after ``pip install`` and from a bare clone (the team's shared copy is its source); 1.6's
is ``BENCH_VERSIONS["1.6"].mix``."""

Batch = Callable[[int], None]
"""Runs the operation ``n`` times; timed from outside so every variant pays the same."""


@dataclass(frozen=True)
class MixFrame:
    """One frame of the mix, with the exact bytes and text every variant is fed."""

    action: str
    message_id: str
    weight: float
    label: str
    key: str
    data: bytes
    text: str
    send: bool = False
    """A SEND frame (2.1, type 6): never answered, its handler's run is the whole operation."""


def load_mix(path: Path) -> list[MixFrame]:
    """Read the JSON-lines mix, re-encoding each frame compactly as a peer would send it
    (a CALL, or a 2.1 SEND: the station's two kinds of request)."""
    raw: list[tuple[float, str | None, list[Any]]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        entry = json.loads(line)
        frame = entry["frame"]
        if not (isinstance(frame, list) and len(frame) == 4 and frame[0] in (2, 6)):
            raise ValueError(f"{path}:{number}: not a CALL or SEND frame: {frame!r}")
        raw.append((float(entry["weight"]), entry.get("detail"), frame))
    seen: dict[str, int] = {}
    for _, _, frame in raw:
        seen[frame[2]] = seen.get(frame[2], 0) + 1
    frames = []
    for weight, named, frame in raw:
        _, message_id, action, payload = frame
        label = key = action
        if seen[action] > 1:  # e.g. TransactionEvent Started / Updated / Ended
            # a line's own "detail" (1.6 MeterValues in a transaction or on the clock), else
            # 2.0.1's eventType, else the message id
            detail = named or payload.get("eventType", message_id)
            label, key = f"{action} ({detail})", f"{action}-{detail}"
        data = msgspec.json.encode(frame)
        text = data.decode("utf-8")
        frames.append(MixFrame(action, message_id, weight, label, key, data, text, frame[0] == 6))
    return frames


def fast_responses(version: str = V201.label) -> dict[str, Any]:
    """A valid response Struct per action of the version's mix, built once, outside any
    timing."""
    return BENCH_VERSIONS[version].responses()


def compiled_codec() -> ModuleType | None:
    """``ocpp_fast._codec_c`` if it was built, else ``None`` (its column then reads n/a)."""
    try:
        return importlib.import_module("ocpp_fast._codec_c")
    except ImportError:
        return None


# --- the variants: each builds one batch per frame and checks it once, untimed ---------------


def codec_batches(
    codec: ModuleType,
    frames: Sequence[MixFrame],
    responses: dict[str, Any],
    target: BenchVersion = V201,
) -> list[Batch]:
    """(a)/(b): decode the request, encode the CALLRESULT; verified to round-trip first."""
    version = target.model.VERSION
    decode: Callable[..., Any] = codec.decode_frame
    encode: Callable[[str, Any], bytes] = codec.encode_call_result
    pending: dict[str, str] = {}  # no CALL of ours outstanding, as in a CSMS's steady state
    batches: list[Batch] = []
    for frame in frames:
        data, response = frame.data, responses[frame.action]

        call = decode(data, version, pending)
        expected = version.request_types[frame.action]
        if not (
            type(call) is (Send if frame.send else Call)
            and call.action == frame.action
            and call.message_id == frame.message_id
            and type(call.payload) is expected
        ):
            kind = "SEND" if frame.send else "CALL"
            raise SystemExit(f"{codec.__name__} did not decode {frame.label} as a {kind}: {call!r}")
        if frame.send:  # never answered: the validated request is all a CSMS makes of it

            def taken(n: int, data: bytes = data) -> None:
                for _ in range(n):
                    decode(data, version, pending)

            batches.append(taken)
            continue
        reply = encode(call.message_id, response)
        back = _codec_py.decode_frame(reply, version, {frame.message_id: frame.action})
        if not (isinstance(back, CallResult) and back.payload == response):
            raise SystemExit(f"{codec.__name__}: invalid CALLRESULT for {frame.label}: {reply!r}")

        def batch(n: int, data: bytes = data, response: Any = response) -> None:
            for _ in range(n):
                call = decode(data, version, pending)
                encode(call.message_id, response)

        batches.append(batch)
    return batches


def floor_batches(frames: Sequence[MixFrame], responses: dict[str, Any]) -> list[Batch]:
    """(d): untyped decode of the whole frame, then encode ``[3, id, response]``.

    Like the codec it encodes a tuple with a reused ``Encoder``, so the gap to (a)
    is exactly the cost of the typed, validating decode and of the envelope scan.
    """
    decode = msgspec.json.Decoder().decode
    encode = msgspec.json.Encoder().encode
    batches: list[Batch] = []
    for frame in frames:
        response = responses[frame.action]
        if decode(frame.data)[1] != frame.message_id:
            raise SystemExit(f"floor: bad decode of {frame.label}")
        if frame.send:  # never answered: the decode is all

            def taken(n: int, data: bytes = frame.data) -> None:
                for _ in range(n):
                    decode(data)

            batches.append(taken)
            continue

        def batch(n: int, data: bytes = frame.data, response: Any = response) -> None:
            for _ in range(n):
                msg = decode(data)
                encode((3, msg[1], response))

        batches.append(batch)
    return batches


def deviating_mix(frames: Sequence[MixFrame], target: BenchVersion = V201) -> list[MixFrame]:
    """The mix with every payload broken in every way ``Tolerance.ALL`` repairs."""
    request_types = target.model.VERSION.request_types
    out = []
    for frame in frames:
        decoded = msgspec.json.decode(frame.data)
        info = mi.type_info(request_types[frame.action])
        decoded[3] = deviate(decoded[3], info)
        data = msgspec.json.encode(decoded)
        out.append(dataclasses.replace(frame, data=data, text=data.decode("utf-8")))
    return out


def bench_charge_system(
    target: BenchVersion, responses: dict[str, Any], tolerance: Tolerance = Tolerance.STRICT
) -> Any:
    """The version's ``ChargeSystem``, each plain handler returning its prebuilt response; a
    SEND's (response ``None``) keeps the request it was handed as ``last_sent``, which the
    bench reads once, untimed, to know the handler ran (no reply says it)."""
    model = target.model

    def took(self: Any, request: Any) -> None:
        self.last_sent = request

    handlers: dict[str, Any] = {
        model.actions.ACTIONS[action].method: (
            took if response is None else (lambda self, request, r=response: r)
        )
        for action, response in responses.items()
    }
    handlers["tolerance"] = tolerance
    return type("BenchChargeSystem", (model.ChargeSystem,), handlers)()


def dispatch_batches(
    frames: Sequence[MixFrame],
    responses: dict[str, Any],
    tolerance: Tolerance = Tolerance.STRICT,
    target: BenchVersion = V201,
) -> list[Batch]:
    """(e), (g), (h): ``ChargeSystem.handle``, handlers returning the prebuilt responses."""
    csms = bench_charge_system(target, responses, tolerance)
    batches: list[Batch] = []
    for frame in frames:
        csms.last_sent = None
        reply = csms.handle(frame.data)
        if frame.send:
            _check_sent(csms, frame, reply, target)
        elif reply is None or msgspec.json.decode(reply)[:2] != [3, frame.message_id]:
            raise SystemExit(f"dispatch: no CALLRESULT for {frame.label}: {reply!r}")

        def batch(n: int, data: bytes = frame.data) -> None:
            handle = csms.handle
            for _ in range(n):
                handle(data)

        batches.append(batch)
    return batches


def _check_sent(csms: Any, frame: MixFrame, reply: Any, target: BenchVersion) -> None:
    """A SEND was taken as the bench means it: nothing answered, its handler handed the
    request (``last_sent``, kept by :func:`bench_charge_system`'s handler)."""
    expected = target.model.VERSION.request_types[frame.action]
    if reply or type(csms.last_sent) is not expected:
        handed = csms.last_sent
        raise SystemExit(f"{frame.label}: SEND not handled ({handed!r}) or answered {reply!r}")


class _Connection:
    """The websocket stand-in ``ocpp`` talks to: ``send`` keeps the last reply, nothing else."""

    def __init__(self) -> None:
        self.last: str | None = None

    async def send(self, message: str) -> None:
        """Capture the reply (CALLRESULT or CALLERROR) for the one-off check."""
        self.last = message

    async def recv(self) -> str:
        """Never called: frames are fed straight to ``route_message``."""
        raise RuntimeError("the benchmark feeds frames through route_message")


def ocpp_batches(
    frames: Sequence[MixFrame],
    loop: asyncio.AbstractEventLoop,
    *,
    drop_in: bool = False,
    target: BenchVersion = V201,
) -> tuple[list[Batch], str]:
    """(c), or (f) with ``drop_in``: the ``ocpp`` package as a CSMS, or the same class on
    ``ocpp_fast.compat``; verified to answer every frame with a CALLRESULT.

    Each action gets an ``@on`` handler returning a prebuilt ``call_result``
    dataclass, as an application would. A batch is one ``run_until_complete`` of
    ``n`` awaited ``route_message`` calls; with inline validation ``route_message``
    never suspends (checked below), so the event loop costs once per batch, not
    per message.
    """
    import ocpp.messages
    from ocpp.routing import on

    if not drop_in and any(frame.send for frame in frames):
        raise NotRun(
            f"the ocpp package {metadata.version('ocpp')} reads no SEND frame (type 6), and has "
            "no NotifyPeriodicEventStream: it would time a parse error"
        )
    ocpp.messages.ASYNC_VALIDATION = False
    action_of = importlib.import_module(f"ocpp.{target.package}.enums").Action
    base: Any = target.ocpp_module(drop_in).ChargePoint
    responses = target.ocpp_responses()
    version = target.model.VERSION

    sent: dict[str, Any] = {}  # a SEND's handler keeps its payload, read once below

    def handler_for(action: str) -> Callable[..., Any]:
        def handler(self: Any, **payload: Any) -> Any:
            return responses[action]

        def took(self: Any, **payload: Any) -> None:
            sent[action] = payload

        chosen = took if responses[action] is None else handler
        # ocpp routes by function name (a global list), so each handler needs its own.
        chosen.__name__ = chosen.__qualname__ = f"on_{action}"
        # an action ocpp's enum lacks (2.1's SEND) is routed by its name, as ocpp allows
        known = action in action_of._value2member_map_
        return on(action_of(action) if known else action)(chosen)  # type: ignore[no-any-return]

    actions = sorted({frame.action for frame in frames})
    csms_class = type("BenchCsms", (base,), {f"on_{a}": handler_for(a) for a in actions})
    connection = _Connection()
    csms = csms_class("bench-cp", connection)
    route: Callable[[str], Any] = csms.route_message

    batches: list[Batch] = []
    for frame in frames:
        connection.last = None
        coroutine = route(frame.text)  # the first call also compiles and caches the schemas
        try:
            coroutine.send(None)
        except StopIteration:
            pass
        else:
            coroutine.close()
            raise SystemExit(f"{base.__module__}: route_message suspended on {frame.label}")
        reply = connection.last
        if frame.send:
            if reply is not None or frame.action not in sent:
                raise SystemExit(f"{base.__module__}: SEND {frame.label} not handled: {reply!r}")
        else:
            _check_answered(frame, reply, version)

        async def run(n: int, text: str = frame.text) -> None:
            for _ in range(n):
                await route(text)

        def batch(n: int, run: Callable[[int], Any] = run) -> None:
            loop.run_until_complete(run(n))

        batches.append(batch)
    return batches, metadata.version("ocpp")


def _check_answered(frame: MixFrame, reply: str | None, version: Any) -> None:
    """(c)/(f) answered ``frame`` with a CALLRESULT ocpp_fast's typed decoder accepts."""
    parsed = json.loads(reply) if reply is not None else None
    if reply is None or not (isinstance(parsed, list) and parsed[:2] == [3, frame.message_id]):
        raise SystemExit(f"ocpp answered {frame.label} with {reply!r}, not a CALLRESULT")
    # The cross-check: ocpp_fast's typed decoder accepts ocpp's reply too.
    back = _codec_py.decode_frame(reply, version, {frame.message_id: frame.action})
    if not isinstance(back, CallResult):
        raise SystemExit(f"ocpp's reply to {frame.label} is not a valid response: {reply!r}")


# --- the variants, as records ------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """What every variant is built from."""

    frames: Sequence[MixFrame]
    responses: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    target: BenchVersion = V201


class NotRun(Exception):
    """A variant that cannot run here; its message says why (its column reads n/a)."""


@dataclass(frozen=True)
class Variant:
    """One column of the table: its letter, what it is, its share of each frame's time
    slot, and how to build its batches (verified once, untimed) and say what ran."""

    key: str
    title: str
    share: float
    build: Callable[[Setup], tuple[list[Batch], str]]


def _compiled(setup: Setup) -> tuple[list[Batch], str]:
    compiled = compiled_codec()
    if compiled is None:
        raise NotRun("ocpp_fast._codec_c is not built")
    return codec_batches(
        compiled, setup.frames, setup.responses, setup.target
    ), f"ran ({compiled.IMPLEMENTATION})"


def _pure(setup: Setup) -> tuple[list[Batch], str]:
    return codec_batches(
        _codec_py, setup.frames, setup.responses, setup.target
    ), f"ran ({_codec_py.IMPLEMENTATION})"


def _ocpp_package(drop_in: bool) -> Callable[[Setup], tuple[list[Batch], str]]:
    def build(setup: Setup) -> tuple[list[Batch], str]:
        try:
            batches, version = ocpp_batches(
                setup.frames, setup.loop, drop_in=drop_in, target=setup.target
            )
        except ImportError as error:
            raise NotRun(str(error)) from None
        if drop_in:
            return batches, f"ran (ocpp_fast.compat on ocpp {version}, live codec)"
        return batches, f"ran (ocpp {version})"

    return build


VARIANTS: tuple[Variant, ...] = (
    Variant("a", "ocpp_fast compiled (_codec_c)", 0.14, _compiled),
    Variant("b", "ocpp_fast pure Python (_codec_py)", 0.14, _pure),
    # ocpp gets a larger share: it needs it to run even a few operations per slot
    Variant(
        "c",
        "ocpp 2.1.0 ChargePoint.route_message, ASYNC_VALIDATION=False",
        0.35,
        _ocpp_package(drop_in=False),
    ),
    Variant(
        "d",
        "floor: untyped msgspec decode + encode, no validation",
        0.14,
        lambda setup: (floor_batches(setup.frames, setup.responses), "ran"),
    ),
    Variant(
        "e",
        "ocpp_fast ChargeSystem.handle (dispatch + response check, live codec)",
        0.13,
        lambda setup: (
            dispatch_batches(setup.frames, setup.responses, target=setup.target),
            "ran",
        ),
    ),
    Variant(
        "f",
        "ocpp_fast.compat ChargePoint.route_message (the drop-in, same handlers as c)",
        0.10,
        _ocpp_package(drop_in=True),
    ),
    Variant(
        "g",
        "(e) with Tolerance.ALL, conformant mix",
        0.13,
        lambda setup: (
            dispatch_batches(setup.frames, setup.responses, Tolerance.ALL, setup.target),
            "ran",
        ),
    ),
    Variant(
        "h",
        "(e) with Tolerance.ALL, deviating mix (every frame repaired)",
        0.13,
        lambda setup: (
            dispatch_batches(
                deviating_mix(setup.frames, setup.target),
                setup.responses,
                Tolerance.ALL,
                setup.target,
            ),
            "ran",
        ),
    ),
)


def feed_batches(
    frames: Sequence[MixFrame],
    responses: dict[str, Any],
    *,
    with_metrics: bool,
    target: BenchVersion = V201,
) -> tuple[list[Batch], str]:
    """(i), (j): a live connection's path, ``AsyncConnection.feed`` (plain handlers answered
    on the spot, the reply written), without and with Prometheus metrics counting."""
    from ocpp_fast.aio import AsyncConnection

    csms = bench_charge_system(target, responses)
    written: list[bytes] = []
    connection = AsyncConnection(csms, write=written.append, identity="BENCH")
    note = "ran"
    if with_metrics:
        try:
            from ocpp_fast.metrics import Metrics
        except ImportError as error:
            raise NotRun(str(error)) from None
        connection.protocol.metrics = Metrics()
        note = "ran (prometheus-client)"
    batches: list[Batch] = []
    for frame in frames:
        written.clear()
        csms.last_sent = None
        connection.feed(frame.data)
        if frame.send:
            _check_sent(csms, frame, b"".join(written), target)
        elif not written or msgspec.json.decode(written[0])[:2] != [3, frame.message_id]:
            raise SystemExit(f"feed: no CALLRESULT for {frame.label}: {written!r}")

        def batch(n: int, data: bytes = frame.data) -> None:
            feed = connection.feed
            for _ in range(n):
                feed(data)
            written.clear()

        batches.append(batch)
    return batches, note


VARIANTS = (
    *VARIANTS,
    Variant(
        "i",
        "AsyncConnection.feed: a live connection's path (plain handlers, reply written)",
        0.08,
        lambda setup: feed_batches(
            setup.frames, setup.responses, with_metrics=False, target=setup.target
        ),
    ),
    Variant(
        "j",
        "(i) with Prometheus metrics counting",
        0.08,
        lambda setup: feed_batches(
            setup.frames, setup.responses, with_metrics=True, target=setup.target
        ),
    ),
)
BY_KEY = {variant.key: variant for variant in VARIANTS}


# --- timing -------------------------------------------------------------------------------------


def time_batch(batch: Batch, n: int) -> int:
    """Nanoseconds for ``n`` operations, with the cyclic GC paused as ``timeit`` does."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        batch(n)
        return time.perf_counter_ns() - start
    finally:
        if enabled:
            gc.enable()


def calibrate(batch: Batch, target_ns: float, probe_ns: int = 5_000_000) -> int:
    """How many operations fill ``target_ns``, estimated from a probe batch of ~5 ms."""
    n = 1
    while True:
        elapsed = max(time_batch(batch, n), 1)
        if elapsed >= probe_ns or n * target_ns / elapsed < 2:
            return max(1, round(n * target_ns / elapsed))
        n = max(n * 2, int(n * 1.2 * probe_ns / elapsed))


def measure(
    batches: dict[str, list[Batch]], frames: int, repeats: int, budget_s: float
) -> dict[str, list[float]]:
    """Best ns/op per variant and frame, over ``repeats`` interleaved rounds.

    Each round visits every frame and, per frame, every variant in a rotating
    order, so slow drift and bursts of noise spread over all variants alike.
    """
    slot_ns = budget_s * 1e9 / (repeats * frames)
    sizes = {
        v: [calibrate(b, slot_ns * BY_KEY[v].share) for b in per_frame]
        for v, per_frame in batches.items()
    }
    best = {v: [float("inf")] * frames for v in batches}
    names = list(batches)
    for r in range(repeats):
        for i in range(frames):
            shift = (r + i) % len(names)
            for v in names[shift:] + names[:shift]:
                n = sizes[v][i]
                best[v][i] = min(best[v][i], time_batch(batches[v][i], n) / n)
    return best


# --- report -------------------------------------------------------------------------------------


def machine(ran: dict[str, str], notes: Sequence[str]) -> list[str]:
    """Where the figures come from: they mean little without it."""
    lines = describe(["msgspec"])
    lines += [f"({v.key}) {v.title}: {ran[v.key]}" for v in VARIANTS]
    return lines + list(notes)


def report(
    frames: Sequence[MixFrame],
    best: dict[str, list[float]],
    ran: dict[str, str],
    notes: Sequence[str],
    markdown: bool,
) -> str:
    """The table (one row per frame, then the weighted row), the ratios and the machine."""
    keys = [v.key for v in VARIANTS if v.key in best]
    return table(frames, best, keys, machine(ran, notes), markdown)


def main(argv: Sequence[str] | None = None) -> int:
    """Verify every variant on every frame, time them, print the comparison."""
    # Named as it is run, ``ocpp-fast bench`` (``ocpp-fast`` hands it the rest of its arguments),
    # so ``--help`` and usage errors show the command to type.
    parser = argparse.ArgumentParser(
        prog="ocpp-fast bench", description=__doc__.split("\n\n")[0].replace("``", "")
    )
    parser.add_argument(
        "mix", nargs="?", type=Path, help="JSON-lines mix (default: the version's packaged mix)"
    )
    parser.add_argument(
        "--version",
        choices=list(BENCH_VERSIONS),
        default=V201.label,
        help="the OCPP version of the mix, the model, the drop-in and the ocpp package's class",
    )
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds (best kept)")
    parser.add_argument(
        "--budget", type=float, default=35.0, help="seconds of timed batches, roughly"
    )
    parser.add_argument(
        "--quick", action="store_true", help="one round of about 1 s: checks it runs, no figures"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.budget = 1, 1.0

    target = BENCH_VERSIONS[args.version]
    args.mix = args.mix or target.mix
    frames = load_mix(args.mix)
    responses = target.responses()
    missing = sorted({f.action for f in frames} - responses.keys())
    if missing:
        raise SystemExit(f"no prebuilt response for {', '.join(missing)}")

    started = time.perf_counter()
    batches: dict[str, list[Batch]] = {}
    ran: dict[str, str] = {}
    loop = asyncio.new_event_loop()
    try:
        setup = Setup(frames, responses, loop, target)
        for variant in VARIANTS:
            try:
                batches[variant.key], ran[variant.key] = variant.build(setup)
            except NotRun as reason:
                ran[variant.key] = f"not run: {reason}"
        print(
            f"mix: {args.mix} ({len(frames)} frames, OCPP {target.label}); all variants verified; "
            f"timing best of {args.repeats} interleaved rounds...",
            file=sys.stderr,
        )
        best = measure(batches, len(frames), args.repeats, args.budget)
    finally:
        loop.close()
    notes = [
        f"timing: time.perf_counter_ns, best of {args.repeats} interleaved rounds of calibrated "
        f"batches, GC paused during batches; whole run {time.perf_counter() - started:.0f} s",
        f"mix: {args.mix} ({len(frames)} frames, OCPP {target.label}); "
        "weighted = sum(weight * ns) / sum(weight)",
    ]
    print(report(frames, best, ran, notes, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
