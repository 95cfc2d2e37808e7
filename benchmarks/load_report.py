"""What a simulator process of the load benchmark tells the harness: typed lines, and their merge.

A simulator child (``load_child.py``) prints one JSON line per message on its
stdout: a :class:`Progress` about once a second, one :class:`Window` when the
measured window ends. Both are msgspec Structs tagged by ``kind``, so the harness
(``load.py``) decodes each line into its type (``decode``) instead of reading
keys out of a dict. With ``--processes N`` the harness merges the N windows
(``merge``): counts are summed, latencies pooled before taking percentiles.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import msgspec

from ocpp_fast._machine import percentile

__all__ = ["Merged", "Progress", "Window", "decode", "encode", "merge"]


class Progress(msgspec.Struct, tag_field="kind", tag="progress"):
    """About once a second, while the stations run."""

    connected: int
    messages: int
    errors: int
    gc_frozen: bool
    """Whether this process has frozen its start-up objects (after its ramp-up)."""


class Window(msgspec.Struct, tag_field="kind", tag="window"):
    """One simulator process's figures over the measured window (SIGUSR1 to SIGUSR2)."""

    stations: int
    connected: int
    seconds: float
    messages: int
    latencies_us: list[int]
    """Send-to-answer latency of each call answered in the window, on this process's clock."""
    errors: dict[str, int]
    """Errors in the window, by OCPP error code or exception name."""
    errors_total: dict[str, int]
    """Errors since the process started (the ramp-up included)."""
    loop_lag_ms: tuple[float, float, float]
    """This process's event-loop lag in the window: p50, p99, max (a 50 ms ticker's lateness)."""
    gc_pause_ms: tuple[float, float]
    """Its garbage-collector pauses in the window: total and longest."""
    gc_collections: tuple[int, int, int]
    """Its collections in the window, by generation (0, 1, 2)."""
    gc_frozen: bool
    backend: str
    loop: str


Message = Progress | Window
_decoder = msgspec.json.Decoder(Message)
_encoder = msgspec.json.Encoder()


def encode(message: Message) -> bytes:
    return _encoder.encode(message)


def decode(line: str | bytes) -> Message:
    """The message of one stdout line; msgspec.DecodeError if it is none."""
    return _decoder.decode(line)


class Merged(msgspec.Struct):
    """The windows of all simulator processes of one run, as one."""

    processes: int
    connected: int
    messages: int
    seconds: float
    """The longest window (they start and end within a few ms of each other)."""
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    errors_total: dict[str, int]
    loop_lag_ms: list[tuple[float, float, float]]
    gc_pause_ms: list[tuple[float, float]]
    gc_collections: list[tuple[int, int, int]]
    gc_frozen: bool
    backends: list[str]


def merge(windows: Sequence[Window]) -> Merged:
    """Counts summed, latencies pooled (a p99 of p99s would mean nothing), per-process lists."""
    latencies = sorted(us for window in windows for us in window.latencies_us)
    errors: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for window in windows:
        errors.update(window.errors)
        total.update(window.errors_total)
    return Merged(
        processes=len(windows),
        connected=sum(w.connected for w in windows),
        messages=sum(w.messages for w in windows),
        seconds=max((w.seconds for w in windows), default=0.0),
        p50_ms=percentile(latencies, 0.50) / 1000,
        p99_ms=percentile(latencies, 0.99) / 1000,
        errors=dict(errors),
        errors_total=dict(total),
        loop_lag_ms=[w.loop_lag_ms for w in windows],
        gc_pause_ms=[w.gc_pause_ms for w in windows],
        gc_collections=[w.gc_collections for w in windows],
        gc_frozen=all(w.gc_frozen for w in windows) and bool(windows),
        backends=sorted({f"{w.backend} on {w.loop}" for w in windows}),
    )
