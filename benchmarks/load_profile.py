"""Where the CSMS's CPU goes: a py-spy profile of the load window, attributed by module.

``load.py --profile RAW`` attaches ``py-spy record --native --idle`` to the
ocpp_fast CSMS during one extra window (not in the table) and prints the share
of its busy samples spent in the codec, dispatch, our asyncio glue, the
WebSocket library, the event loop and kernel, and the garbage collector: the
figures say which part of a message's cost is ours to cut.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from load_proc import register

CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    (
        "codec (ocpp_fast._codec_c / _codec_py / _reference / codec, msgspec)",
        (
            "ocpp_fast/_codec_c",
            "ocpp_fast/_codec_py",
            "ocpp_fast/_reference",
            "ocpp_fast/codec.py",
            "ocpp_fast/frames.py",
            "msgspec/",
        ),
    ),
    (
        "dispatch (ocpp_fast dispatch / protocol / _outgoing, demo handlers)",
        (
            "ocpp_fast/dispatch.py",
            "ocpp_fast/protocol.py",
            "ocpp_fast/_outgoing.py",
            "ocpp_fast/demo.py",
        ),
    ),
    ("ocpp_fast asyncio glue (aio.py, transport/)", ("ocpp_fast/aio.py", "ocpp_fast/transport/")),
    ("websockets (framing, permessage-deflate / zlib)", ("websockets/",)),
    ("picows / uvloop (framing, event loop in C)", ("picows/", "uvloop/")),
    (
        "event loop / asyncio / kernel (socket send/recv)",
        ("asyncio/", "selectors.py", "socket.py"),
    ),
]
GC = "garbage collector (gc_collect_main, any caller)"
IDLE = "idle (epoll_wait / epoll_pwait with nothing ready)"
OTHER = "other (no category anywhere on the stack)"


def start_profiler(pid: int, seconds: float, path: Path) -> subprocess.Popen[str] | None:
    """``py-spy record`` of ``pid`` for ``seconds`` into ``path`` (None without py-spy)."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        print("profile: py-spy not found (pip install py-spy); skipped", file=sys.stderr)
        return None
    argv = [spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds) - 2))]
    argv += ["--rate", "100", "--native", "--idle", "--format", "raw", "-o", str(path)]
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True
    )
    register(process)
    return process


def classify(frames: Sequence[str]) -> str:
    """The category of one sample: that of the innermost frame that has one."""
    leaf = frames[-1] if frames else ""
    if leaf.startswith(("epoll_wait ", "epoll_pwait ", "select_epoll_poll ")) or (
        "EpollSelector.select" in leaf
    ):  # uvloop (libuv) waits in epoll_pwait
        return IDLE
    if any(frame.startswith(("gc_collect", "collect_with_callback")) for frame in frames):
        return GC
    for frame in reversed(frames):
        for name, markers in CATEGORIES:
            if any(marker in frame for marker in markers):
                return name
    return OTHER


_SYSCALLS = ("send ", "recv ", "shutdown ", "close ", "epoll_ctl ", "write ", "read ")
_ALLOCATOR = ("malloc ", "realloc ", "free ", "mmap64 ", "munmap ", "mremap ", "0x")
WEBSOCKETS = CATEGORIES[3][0]
EVENT_LOOP = CATEGORIES[5][0]


def detail(category: str, frames: Sequence[str]) -> str | None:
    """A finer label inside the websockets and event-loop categories, or ``None``."""
    if category == WEBSOCKETS and any("zlib" in f.lower() or "libz" in f for f in frames):
        return f"{WEBSOCKETS}|zlib (permessage-deflate)"
    if category == EVENT_LOOP:
        leaf = frames[-1]
        if leaf.startswith(_SYSCALLS):
            return f"{EVENT_LOOP}|syscalls (send, recv, ...)"
        if any(f.startswith("sock_recv ") for f in frames) and leaf.startswith(_ALLOCATOR):
            return f"{EVENT_LOOP}|the 256 KiB buffer of each sock.recv (malloc/mmap/munmap)"
    return None


def attribute(path: Path) -> tuple[Counter[str], Counter[str], int]:
    """(samples by category and detail, samples by innermost frame, total) of a py-spy profile."""
    categories: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        samples = int(count)
        total += samples
        category = classify(frames)
        categories[category] += samples
        finer = detail(category, frames)
        if finer is not None:
            categories[finer] += samples
        leaves[frames[-1]] += samples
    return categories, leaves, total


def profile_lines(path: Path, title: str, rate: float, cpu_pct: float) -> list[str]:
    """The attribution of a raw py-spy profile, as a markdown table and the top leaves."""
    if not path.exists():
        return [f"profile: no samples ({path} missing)"]
    categories, leaves, total = attribute(path)
    busy = max(1, total - categories[IDLE])
    lines = [
        f"profile of {title} (py-spy record --native --idle, 100 Hz, {path}): "
        f"{total} samples in the window, {rate:,.0f} msg/s, "
        f"CSMS CPU {cpu_pct:.0f} %, idle (epoll_wait) "
        f"{100 * categories[IDLE] / max(1, total):.0f} % of samples",
        "",
        f"| where the CSMS is busy ({busy} samples) | % |",
        "|:---|---:|",
    ]
    for name, _ in [*CATEGORIES, (GC, ()), (OTHER, ())]:
        lines.append(f"| {name} | {100 * categories[name] / busy:.1f} |")
        for finer in sorted(categories):
            if finer.startswith(f"{name}|"):
                share = 100 * categories[finer] / busy
                lines.append(f"| &nbsp;&nbsp;of which {finer.split('|', 1)[1]} | {share:.1f} |")
    lines += ["", "top innermost frames (busy):"]
    shown = [(leaf, n) for leaf, n in leaves.most_common(14) if classify([leaf]) != IDLE]
    for leaf, samples in shown[:12]:
        lines.append(f"  {100 * samples / busy:5.1f} %  {leaf}")
    return lines
