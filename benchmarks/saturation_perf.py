"""Where a gateway's extra CPU per message goes: ``perf`` profiles of the saturated rows, compared.

``saturation.py --perf DIR`` records each server during its window (``perf record
--call-graph dwarf``: C frames of the interpreter, msgspec, uvloop, picows, the kernel and
our compiled modules; Python frames show as the interpreter's) and then prints, per round,
the frames whose share differs most between the gateway and the single process, in µs per
message (a frame's share of the samples times the row's CPU per message):

- *inclusive*: the time spent in a frame and below it (``Stores.start``, the ack's
  ``Reader.feed``, the answer's ``listener_write``...), to see which step costs what;
- *self*: the time spent in a frame itself, an inlined function counted in the frame it
  was inlined into (``_PyObject_Malloc``, ``subtype_dealloc``, a dict's look-up...), with
  the frame that called it, to see what kind of work the extra is.

Profiling costs the server some CPU of its own (the samples' stacks copied by the kernel):
the rows' msg/s are then lower and are marked as profiled. Needs ``perf`` and a kernel
that lets this user record another process (``/proc/sys/kernel/perf_event_paranoid``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from load_proc import register

FRAME = re.compile(r"\s+[0-9a-f]+ (.*?) \((.*)\)\s*$")
INLINED = "inlined"


def available() -> str | None:
    """Why ``perf`` cannot record here, or None when it can."""
    if shutil.which("perf") is None:
        return "no perf on PATH (Debian: apt-get install linux-perf)"
    return None


def record(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """Start recording ``pid`` for ``seconds`` into ``out`` (wait on the process returned)."""
    argv = ["perf", "record", "-F", "999", "--call-graph", "dwarf,16384", "-o", str(out)]
    argv += ["-p", str(pid), "--", "sleep", f"{seconds:g}"]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    register(process)
    return process


Stack = list[tuple[str, str]]
"""A sample's frames, leaf first: (symbol, the file it is in, or ``inlined``)."""


def stacks(data: Path) -> Iterator[Stack]:
    """The samples of a ``perf.data`` file, each its stack."""
    text = subprocess.run(
        ["perf", "script", "-i", str(data), "-F", "comm,tid,ip,sym,dso"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return parse(text)


def parse(text: str) -> Iterator[Stack]:
    """The stacks of ``perf script``'s text: a sample's line, then its frames indented (an
    inlined function's ``(inlined)`` in place of its file), a blank line between samples."""
    stack: Stack = []
    for line in text.splitlines():
        if not line.strip() or not line[0].isspace():
            if stack:
                yield stack
            stack = []
            continue
        found = FRAME.match(line)
        if found is not None:
            where = found[2].rsplit("/", 1)[-1]
            stack.append((found[1].split("+")[0], where))
    if stack:
        yield stack


def _name(frame: tuple[str, str]) -> str:
    symbol, where = frame
    short = where.split(".cpython")[0].split(".so")[0]
    return f"{short}: {symbol}"


def shares(samples: Iterable[Stack]) -> tuple[Counter[str], Counter[str], int]:
    """Per frame, the samples it is on (inclusive) and at the top of (self, an inlined leaf
    counted in its caller, named with the frame below it); and the number of samples."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    count = 0
    for stack in samples:
        count += 1
        real = [frame for frame in stack if frame[1] != INLINED]
        inclusive.update({_name(frame) for frame in real})
        if real:
            caller = f" < {real[1][0]}" if len(real) > 1 else ""
            own[_name(real[0]) + caller] += 1
    return inclusive, own, count


def compare(single: Path, single_us: float, gateway: Path, gateway_us: float) -> list[str]:
    """The frames whose µs per message differ most, gateway against single process."""
    s_incl, s_own, s_count = shares(stacks(single))
    g_incl, g_own, g_count = shares(stacks(gateway))
    if not s_count or not g_count:
        return ["   perf: no samples (is perf allowed to record here?)"]
    lines = [
        f"   perf: µs per message, gateway ({g_count} samples, {gateway_us:.1f} µs/msg) against "
        f"single process ({s_count} samples, {single_us:.1f} µs/msg)"
    ]
    for title, s_table, g_table, limit in (
        ("inclusive (a step and what it calls)", s_incl, g_incl, 25),
        ("self (the work itself, with its caller)", s_own, g_own, 25),
    ):
        lines.append(f"   {title}: gateway - single = extra | gateway | single")
        rows = _differences(s_table, s_count, single_us, g_table, g_count, gateway_us)
        lines += [
            f"     {d:+6.2f} | {g:6.2f} | {s:6.2f}  {name[:110]}" for d, g, s, name in rows[:limit]
        ]
    return lines


def _differences(
    single: Counter[str],
    single_count: int,
    single_us: float,
    gateway: Counter[str],
    gateway_count: int,
    gateway_us: float,
) -> Sequence[tuple[float, float, float, str]]:
    rows = []
    for name in single.keys() | gateway.keys():
        g = gateway[name] / gateway_count * gateway_us
        s = single[name] / single_count * single_us
        rows.append((g - s, g, s, name))
    rows.sort(reverse=True)
    return rows
