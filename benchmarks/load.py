"""Load benchmark: one CSMS process, thousands of simulated stations in another, on loopback.

``python benchmarks/load.py`` (``make load``) runs, for each CSMS and each
interval, ``--stations`` simulated OCPP 2.0.1 stations (``ocpp_fast.simulator``,
the fleet traffic mix) against

- ``ocpp_fast``: ``ocpp-fast serve --quiet`` (``DemoChargeSystem`` over our
  ``websockets`` transport), and
- ``ocpp``: ``benchmarks/ocpp_pkg_csms.py``, the same answers written with the
  ``ocpp`` package 2.1.0 over the same ``websockets`` server,

and prints one table with both side by side. These are figures to read, never
assertions: nothing here fails on a number.

One run: start the CSMS and read its idle RSS; start the simulator process(es);
wait until every station is connected (the ramp-up, at most ``--ramp`` s, not
measured); let it settle; then over a ``--window`` of steady state count the
calls answered and their latencies (the simulator's clock, send to answer),
the CSMS's CPU time (``/proc/PID/stat`` utime + stime, before and after) and its
RSS with every station connected (``/proc/PID/status`` VmRSS, highest of the
per-second samples). Derived:

- msg/s: calls answered in the window / window length;
- CPU µs/msg: CSMS CPU seconds in the window / calls answered;
- RSS KiB/conn: (RSS loaded - RSS idle) / stations connected.

Each simulated station keeps one call outstanding and waits ``interval`` x
U(0.5, 1.5) between calls, so the offered load is at most stations / interval
msg/s; when something saturates, throughput flattens and latency grows instead.
The CPU columns (CSMS, simulator, every other process on the machine, in % of
one core) say which process it was. Before each run the script waits (at most
``--quiet-wait`` s) for the machine to be nearly idle. The simulator processes
also report their own event-loop lag and GC pauses in the window: latency is
measured on their clock, so a saturated simulator inflates it.

``--profile`` adds one more ``ocpp_fast`` run, not in the table, with py-spy
(``py-spy record --native --idle``) attached to the CSMS during the window, and
attributes its samples to codec, dispatch, asyncio glue, websockets, the event
loop / kernel, and idle.

5,000 connections on loopback take ~10,000 file descriptors across the two
processes (one socket at each end), ~5,000 in each: the script raises its
``RLIMIT_NOFILE`` soft limit (to the hard limit, or higher as root) and the
children inherit it. Every child process is killed on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import gc
import json
import logging
import math
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocpp_fast._machine import describe, percentile, version_of

HERE = Path(__file__).resolve().parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
CSMS_KINDS = ("ocpp_fast", "ocpp")
DEFAULT_INTERVALS = (4.0, 2.0)

_children: list[subprocess.Popen[str]] = []


# --- processes --------------------------------------------------------------------------------


def _kill_children() -> None:
    for child in _children:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
    for child in _children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=10)
    _children.clear()


def _on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


class Child:
    """A child process whose stdout is read line by line by a thread (so it never blocks)."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.process = subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        _children.append(self.process)
        self.pid = self.process.pid
        self.lines: list[str] = []
        self.first_line = threading.Event()
        self.progress: dict[str, Any] = {}
        self.window: dict[str, Any] | None = None
        self.got_window = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            line = line.rstrip("\n")
            self.first_line.set()
            if line.startswith("{"):
                try:
                    message = json.loads(line)
                except ValueError:
                    message = None
                if isinstance(message, dict):
                    if "window" in message:
                        self.window = message["window"]
                        self.got_window.set()
                    else:
                        self.progress = message
                    continue
            self.lines.append(line)
            del self.lines[:-50]  # keep the tail only
        self.first_line.set()
        self.got_window.set()

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process in _children:
            _children.remove(self.process)


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads), in seconds; NaN once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return math.nan
    fields = text[text.rindex(")") + 2 :].split()  # fields[0] is field 3 (state)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # user nice system idle iowait irq softirq steal
    return total - idle, total


def wait_for_quiet(limit: float, busy_max: float = 15.0) -> float:
    """Wait (at most ``limit`` s) until the machine is nearly idle over 2 s; % busy then."""
    started = time.monotonic()
    while True:
        busy0, total0 = machine_ticks()
        time.sleep(2.0)
        busy1, total1 = machine_ticks()
        busy = (busy1 - busy0) / max(1, total1 - total0) * 100
        if busy <= busy_max or time.monotonic() - started >= limit:
            return busy


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def raise_fd_limit(needed: int) -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, needed)
    if hard != resource.RLIM_INFINITY and target > hard:
        try:  # root may raise the hard limit too
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, target))
            hard = target
        except (ValueError, OSError):
            target = hard
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    enough = "enough" if soft >= needed else "NOT enough"
    return f"RLIMIT_NOFILE soft {soft} / hard {hard} per process ({enough} for ~{needed})"


# --- the simulator process --------------------------------------------------------------------


def simulator_main(argv: Sequence[str]) -> None:
    """``load.py _simulator ...``: run ``ocpp_fast.simulator.simulate`` and report windows.

    Prints a JSON progress line about once a second. SIGUSR1 marks the start of
    the measured window; SIGUSR2 ends it: the window's figures are printed as one
    JSON line and the process exits at once (its stations simply drop).
    """
    parser = argparse.ArgumentParser(prog="load.py _simulator")
    parser.add_argument("--url", required=True)
    parser.add_argument("--stations", type=int, required=True)
    parser.add_argument("--interval", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--offset", type=int, default=0, help="first station number")
    args = parser.parse_args(argv)
    asyncio.run(_simulate(args))


async def _simulate(args: argparse.Namespace) -> None:
    from ocpp_fast import simulator

    logging.getLogger("ocpp_fast").setLevel(logging.ERROR)
    state: dict[str, Any] = {}
    lags: list[float] = []  # event-loop lag of this process, sampled every 50 ms
    pauses: list[float] = []  # its garbage-collector pauses
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            pauses.append(time.perf_counter() - gc_started[0])

    gc.callbacks.append(on_gc)

    async def ticker() -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.05)
            lags.append(time.perf_counter() - before - 0.05)

    def emit(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    def progress(report: simulator.SimulationReport, elapsed: float) -> None:
        state["report"] = report
        errors = sum(report.errors.values())
        emit({"connected": report.connected, "messages": report.messages, "errors": errors})

    def mark() -> None:
        report: simulator.SimulationReport = state["report"]
        state["mark"] = (
            time.monotonic(),
            report.messages,
            len(report.latencies),
            Counter(report.errors),
            len(lags),
            len(pauses),
        )

    def finish() -> None:
        report: simulator.SimulationReport = state["report"]
        started, messages, latencies, errors, lag0, pause0 = state["mark"]
        lag = sorted(lags[lag0:]) or [0.0]
        window = {
            "loop_lag_ms": [
                lag[len(lag) // 2] * 1e3,
                lag[int(len(lag) * 0.99)] * 1e3,
                lag[-1] * 1e3,
            ],
            "gc_pause_ms": [sum(pauses[pause0:]) * 1e3, max(pauses[pause0:], default=0.0) * 1e3],
            "seconds": time.monotonic() - started,
            "messages": report.messages - messages,
            "latencies_us": [round(s * 1e6) for s in report.latencies[latencies:]],
            "errors": dict(report.errors - errors),
            "errors_total": dict(report.errors),
            "connected": report.connected,
        }
        emit({"window": window})
        os._exit(0)

    loop = asyncio.get_running_loop()
    tick = asyncio.create_task(ticker())
    loop.add_signal_handler(signal.SIGUSR1, mark)
    loop.add_signal_handler(signal.SIGUSR2, finish)
    report = await simulator.simulate(
        args.url,
        args.stations,
        args.duration,
        interval=args.interval,
        seed=args.seed,
        first_station=args.offset,  # distinct identities across simulator processes
        progress=progress,
    )
    tick.cancel()
    emit({"done": True, "messages": report.messages, "errors": dict(report.errors)})


# --- one run ----------------------------------------------------------------------------------


@dataclass
class Result:
    csms: str
    stations: int
    interval: float
    simulators: int
    connected: int = 0
    ramp_s: float = math.nan
    window_s: float = math.nan
    messages: int = 0
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    csms_cpu_s: float = math.nan
    rss_idle_kib: int = 0
    rss_loaded_kib: int = 0
    simulator_cpu_pct: list[float] = field(default_factory=list)
    simulator_lag_ms: list[list[float]] = field(default_factory=list)
    """Per simulator process: its event-loop lag p50, p99, max in the window."""
    simulator_gc_ms: list[list[float]] = field(default_factory=list)
    """Per simulator process: its GC pauses in the window, total and longest."""
    machine_busy_pct: float = math.nan
    errors: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.messages / self.window_s if self.window_s > 0 else math.nan

    @property
    def cpu_us_per_msg(self) -> float:
        return self.csms_cpu_s / self.messages * 1e6 if self.messages else math.nan

    @property
    def csms_cpu_pct(self) -> float:
        return self.csms_cpu_s / self.window_s * 100 if self.window_s > 0 else math.nan

    @property
    def others_cpu_pct(self) -> float:
        """CPU of every other process on the machine during the window (100 = one core)."""
        ours = self.csms_cpu_pct + sum(self.simulator_cpu_pct)
        return max(0.0, self.machine_busy_pct * (os.cpu_count() or 1) - ours)

    @property
    def rss_kib_per_connection(self) -> float:
        loaded = self.rss_loaded_kib - self.rss_idle_kib
        return loaded / self.connected if self.connected else math.nan


def csms_argv(kind: str, port: int, async_validation: bool) -> list[str]:
    if kind == "ocpp_fast":
        return [sys.executable, "-m", "ocpp_fast.cli", "serve", "--port", str(port), "--quiet"]
    argv = [sys.executable, str(HERE / "ocpp_pkg_csms.py"), "--port", str(port)]
    return [*argv, "--async-validation"] if async_validation else argv


def percentile_ms(ordered: Sequence[int], share: float) -> float:
    """Milliseconds at ``share`` of the sorted microsecond latencies."""
    return percentile(ordered, share) / 1000


def run_once(
    kind: str,
    stations: int,
    interval: float,
    args: argparse.Namespace,
    profile: Path | None = None,
) -> Result:
    result = Result(kind, stations, interval, args.simulators)
    busy = wait_for_quiet(args.quiet_wait)
    if busy > 15:
        result.notes.append(f"other processes kept the machine {busy:.0f} % busy before the run")
    port = free_port()
    csms = Child(csms_argv(kind, port, args.ocpp_async_validation))
    simulators: list[Child] = []
    try:
        if not csms.first_line.wait(30) or not csms.alive():
            result.notes.append(f"CSMS did not start: {csms.lines[-5:]}")
            return result
        time.sleep(1.0)
        result.rss_idle_kib = rss_kib(csms.pid)
        duration = args.ramp + args.settle + args.window + 60  # the window ends it before
        share = -(-stations // args.simulators)
        for number in range(args.simulators):
            count = min(share, stations - number * share)
            simulators.append(
                Child(
                    [
                        sys.executable,
                        str(Path(__file__).resolve()),
                        "_simulator",
                        f"--url=ws://127.0.0.1:{port}/ocpp",
                        f"--stations={count}",
                        f"--interval={interval}",
                        f"--duration={duration}",
                        f"--seed={number}",
                        f"--offset={number * share}",
                    ]
                )
            )

        def connected() -> int:
            return sum(int(s.progress.get("connected", 0)) for s in simulators)

        started = time.monotonic()
        while time.monotonic() - started < args.ramp:
            if connected() >= stations or not csms.alive():
                break
            if not all(s.alive() for s in simulators):
                break
            time.sleep(0.25)
        result.ramp_s = time.monotonic() - started
        if connected() < stations:
            result.notes.append(
                f"ramp-up: {connected()} of {stations} connected after {result.ramp_s:.0f} s"
            )
        if not csms.alive() or not all(s.alive() for s in simulators):
            result.notes.append("a process died during the ramp-up")
            return result
        time.sleep(args.settle)

        spy: subprocess.Popen[str] | None = None
        if profile is not None:
            spy = start_profiler(csms.pid, args.window, profile)
        busy0, total0 = machine_ticks()
        csms0 = cpu_seconds(csms.pid)
        sims0 = [cpu_seconds(s.pid) for s in simulators]
        t0 = time.monotonic()
        for sim in simulators:
            with contextlib.suppress(ProcessLookupError):
                os.kill(sim.pid, signal.SIGUSR1)
        result.rss_loaded_kib = rss_kib(csms.pid)
        deadline = t0 + args.window
        while time.monotonic() < deadline:
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            if csms.alive():
                result.rss_loaded_kib = max(result.rss_loaded_kib, rss_kib(csms.pid))
        elapsed = time.monotonic() - t0
        csms1 = cpu_seconds(csms.pid)
        sims1 = [cpu_seconds(s.pid) for s in simulators]
        busy1, total1 = machine_ticks()
        for sim in simulators:
            with contextlib.suppress(ProcessLookupError):
                os.kill(sim.pid, signal.SIGUSR2)
        if not csms.alive():
            result.notes.append(f"the CSMS died during the window: {csms.lines[-3:]}")
        result.csms_cpu_s = csms1 - csms0
        result.simulator_cpu_pct = [
            (b - a) / elapsed * 100 for a, b in zip(sims0, sims1, strict=True)
        ]
        result.machine_busy_pct = (busy1 - busy0) / max(1, total1 - total0) * 100
        latencies: list[int] = []
        seconds: list[float] = []
        for sim in simulators:
            sim.got_window.wait(30)
            if sim.window is None:
                result.notes.append(f"simulator {sim.pid} reported no window: {sim.lines[-3:]}")
                continue
            window = sim.window
            result.messages += int(window["messages"])
            result.connected += int(window["connected"])
            latencies.extend(window["latencies_us"])
            seconds.append(float(window["seconds"]))
            result.simulator_lag_ms.append(window["loop_lag_ms"])
            result.simulator_gc_ms.append(window["gc_pause_ms"])
            result.errors.update(window["errors_total"])
        result.window_s = max(seconds, default=elapsed)
        latencies.sort()
        result.p50_ms = percentile_ms(latencies, 0.50)
        result.p99_ms = percentile_ms(latencies, 0.99)
        if spy is not None:
            try:
                spy.wait(timeout=args.window + 60)
            except subprocess.TimeoutExpired:
                spy.kill()
        return result
    finally:
        for sim in simulators:
            sim.stop(timeout=10)
        csms.stop(timeout=20)


# --- the profile ------------------------------------------------------------------------------


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
    (
        "event loop / asyncio / kernel (socket send/recv)",
        ("asyncio/", "selectors.py", "socket.py"),
    ),
]
GC = "garbage collector (gc_collect_main, any caller)"
IDLE = "idle (epoll_wait with nothing ready)"
OTHER = "other (no category anywhere on the stack)"


def start_profiler(pid: int, seconds: float, path: Path) -> subprocess.Popen[str] | None:
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        print("profile: py-spy not found (pip install py-spy); skipped", file=sys.stderr)
        return None
    argv = [spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds) - 2))]
    argv += ["--rate", "100", "--native", "--idle", "--format", "raw", "-o", str(path)]
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True
    )
    _children.append(process)
    return process


def classify(frames: Sequence[str]) -> str:
    """The category of one sample: that of the innermost frame that has one."""
    leaf = frames[-1] if frames else ""
    if leaf.startswith(("epoll_wait ", "select_epoll_poll ")) or "EpollSelector.select" in leaf:
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
EVENT_LOOP = CATEGORIES[4][0]


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


def profile_lines(path: Path, result: Result) -> list[str]:
    if not path.exists():
        return [f"profile: no samples ({path} missing)"]
    categories, leaves, total = attribute(path)
    busy = max(1, total - categories[IDLE])
    lines = [
        f"profile of the ocpp_fast CSMS (py-spy record --native --idle, 100 Hz, {path}): "
        f"{total} samples in the window, {result.rate:,.0f} msg/s, "
        f"CSMS CPU {result.csms_cpu_pct:.0f} %, idle (epoll_wait) "
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


# --- the table --------------------------------------------------------------------------------


def label(kind: str, async_validation: bool) -> str:
    if kind == "ocpp_fast":
        return "ocpp_fast DemoChargeSystem"
    validation = "async" if async_validation else "inline"
    return f"ocpp {version_of('ocpp')} ({validation} validation)"


def _fmt(value: float, spec: str) -> str:
    return "n/a" if math.isnan(value) else format(value, spec)


def table(results: Sequence[Result], async_validation: bool) -> list[str]:
    header = (
        "| CSMS | stations | interval s | msg/s | p50 ms | p99 ms | CPU µs/msg "
        "| RSS KiB/conn | errors | CSMS CPU % | simulator CPU % | other procs CPU % | ramp s |"
    )
    lines = [header, "|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        errors = sum(r.errors.values())
        lines.append(
            f"| {label(r.csms, async_validation)} | {r.connected:,} / {r.stations:,} "
            f"| {r.interval:g} | {_fmt(r.rate, ',.0f')} | {_fmt(r.p50_ms, ',.1f')} "
            f"| {_fmt(r.p99_ms, ',.1f')} | {_fmt(r.cpu_us_per_msg, ',.0f')} "
            f"| {_fmt(r.rss_kib_per_connection, ',.1f')} | {errors:,} "
            f"| {_fmt(r.csms_cpu_pct, '.0f')} "
            f"| {' + '.join(format(p, '.0f') for p in r.simulator_cpu_pct) or 'n/a'} "
            f"| {_fmt(r.others_cpu_pct, '.0f')} | {_fmt(r.ramp_s, '.0f')} |"
        )
    return lines


def machine_lines(fds: str) -> list[str]:
    return [*describe(["websockets", "msgspec", "ocpp"]), f"fds: {fds}"]


# --- main -------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_simulator"]:
        simulator_main(argv[1:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=5000)
    parser.add_argument(
        "--interval",
        type=float,
        nargs="+",
        default=list(DEFAULT_INTERVALS),
        help="mean seconds between a station's messages; several values: one run each",
    )
    parser.add_argument("--csms", nargs="+", choices=CSMS_KINDS, default=list(CSMS_KINDS))
    parser.add_argument("--simulators", type=int, default=1, help="simulator processes")
    parser.add_argument("--ramp", type=float, default=60.0, help="max seconds to connect all")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before the window")
    parser.add_argument("--window", type=float, default=25.0, help="measured seconds")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=120.0,
        help="before each run, wait at most this long for other processes to go quiet",
    )
    parser.add_argument(
        "--ocpp-stations", type=int, help="stations for the ocpp CSMS (default: --stations)"
    )
    parser.add_argument(
        "--ocpp-async-validation",
        action="store_true",
        help="leave ocpp's ASYNC_VALIDATION at its default True (thread pool)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="RAW",
        help="also profile the ocpp_fast CSMS with py-spy (first interval) into this raw file",
    )
    args = parser.parse_args(argv)

    atexit.register(_kill_children)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    per_process = max(args.stations, args.ocpp_stations or 0) + 1000
    fds = raise_fd_limit(per_process)
    started = time.monotonic()
    results: list[Result] = []
    for kind in args.csms:
        stations = args.ocpp_stations if kind == "ocpp" and args.ocpp_stations else args.stations
        for interval in args.interval:
            print(
                f"{label(kind, args.ocpp_async_validation)}: {stations} stations, "
                f"interval {interval:g} s ...",
                file=sys.stderr,
                flush=True,
            )
            result = run_once(kind, stations, interval, args)
            results.append(result)
            print("  " + table([result], args.ocpp_async_validation)[-1], file=sys.stderr)
            for note in result.notes:
                print(f"  note: {note}", file=sys.stderr)
    profiled: list[str] = []
    if args.profile is not None:
        interval = args.interval[0]
        print(f"profiling ocpp_fast at interval {interval:g} s ...", file=sys.stderr, flush=True)
        result = run_once("ocpp_fast", args.stations, interval, args, profile=args.profile)
        profiled = profile_lines(args.profile, result)

    print()
    print("\n".join(table(results, args.ocpp_async_validation)))
    print()
    for r in results:
        if r.errors:
            detail = ", ".join(f"{k}: {v}" for k, v in sorted(r.errors.items()))
            print(f"- errors, {label(r.csms, args.ocpp_async_validation)}: {detail}")
        for note in r.notes:
            print(f"- {label(r.csms, args.ocpp_async_validation)} @ {r.interval:g} s: {note}")
    for r in results:
        lag = "; ".join("/".join(f"{v:.0f}" for v in lags) for lags in r.simulator_lag_ms)
        pauses = "; ".join("/".join(f"{v:.0f}" for v in p) for p in r.simulator_gc_ms)
        print(
            f"- simulator side, {label(r.csms, args.ocpp_async_validation)} @ {r.interval:g} s: "
            f"event-loop lag p50/p99/max {lag} ms; GC pauses total/longest {pauses} ms"
        )
    for line in machine_lines(fds):
        print(f"- {line}")
    print(
        f"- simulator: ocpp_fast.simulator in {args.simulators} process(es); ramp-up "
        f"excluded, settle {args.settle:g} s, window {args.window:g} s; whole run "
        f"{time.monotonic() - started:.0f} s"
    )
    if profiled:
        print()
        print("\n".join(profiled))
    return 0


if __name__ == "__main__":
    sys.exit(main())
