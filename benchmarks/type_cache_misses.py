"""Which attribute look-ups miss CPython's type cache in a saturated server, a message at a time.

``python benchmarks/type_cache_misses.py`` (a gateway with its share of the fleet, 67
stations, against a nats-server); ``--single`` for one process with 200 stations.

Every attribute look-up of an object first looks its name up on the object's type, through
the type cache: a table of 4,096 entries indexed by the type's version tag and the name's
address (CPython 3.11). Two hot look-ups that share an entry evict each other, and each
then walks the type's MRO (``find_name_in_mro``) on every message: a few hundred
instructions each, decided by where the interpreter happened to put the names, so a process
can have such pairs where another of the same code has none. A
gateway's process had four pairs, about 640 instructions a message (see the cluster's cost
page); callgrind shows the walk, not which names, and runs at another memory layout than the
real process, whose collisions can differ.

This starts the server as ``saturation.py`` does (``serve`` or ``serve --nats ... --handlers
gateway``, the demo handlers), drives it with ``saturation_child.py``, and attaches ``gdb`` to
the running server for ``--seconds`` with a breakpoint on ``find_name_in_mro`` that prints the
type's and the name's (the interpreter's symbols are needed: pyenv's builds have them; a
distribution's Python needs its debug symbols). The breakpoint makes the server far slower, so
the window's answers are counted too: printed are the misses per (type, name) and per message.
A pair missing about once a message or more is a collision on the live path; a few per
window are timers. Figures to read, never assertions.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from load_proc import Child, kill_children, wait_line
from saturation import end_window, ready_line, server_argv, start_generator

from ocpp_fast._machine import free_port
from ocpp_fast.cluster._server import NatsServer

GDB_SCRIPT = """set pagination off
break find_name_in_mro
commands
silent
printf "miss %s %s\\n", ((PyTypeObject*)type)->tp_name, (char*)PyUnicode_AsUTF8(name)
continue
end
continue
"""
"""The breakpoint's commands: the type's name and the looked-up name of each miss."""


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", action="store_true", help="one process, no NATS")
    parser.add_argument("--stations", type=int, help="default 67 (a gateway), 200 (--single)")
    parser.add_argument("--seconds", type=float, default=15.0, help="gdb attached this long")
    parser.add_argument("--top", type=int, default=15, help="pairs printed")
    return parser.parse_args(argv)


GDB_FAILURES = {
    "ptrace: Operation not permitted": "gdb may not attach here (ptrace not permitted)",
    "Could not attach": "gdb could not attach to the server",
    'Function "find_name_in_mro" not defined': "the interpreter has no symbols for gdb",
}
"""What gdb says when it cannot watch, and what this harness says then (exit status 3)."""


ATTACH_TIMEOUT = 120.0
"""Seconds gdb may take to attach and set its breakpoint (reading the interpreter's symbols
takes a few on a busy machine, the server stopped meanwhile)."""


def watching(gdb: subprocess.Popen[bytes], out: Path, timeout: float) -> None:
    """Wait until ``gdb``, writing into ``out``, has set its breakpoint (and continued the
    server), has said why it cannot, or has ended, for ``timeout`` s at most: a window opened
    while gdb still attaches would count the answers of a stopped server (none)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and gdb.poll() is None:
        said = out.read_text()
        if "Breakpoint 1 at" in said or any(text in said for text in GDB_FAILURES):
            break
        time.sleep(0.1)
    time.sleep(0.5)  # its continue, after the breakpoint's line


def count_misses(
    server_pid: int, generator: Child, seconds: float
) -> tuple[list[str], int, str | None]:
    """The misses ``gdb`` saw in ``server_pid`` over ``seconds``, the answers meanwhile, and
    why gdb could not watch (``None`` when it did)."""
    with tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "misses.gdb"
        script.write_text(GDB_SCRIPT)
        out = Path(scratch) / "gdb.out"
        with out.open("w") as sink:
            gdb = subprocess.Popen(
                ["gdb", "-q", "-batch", "-p", str(server_pid), "-x", str(script)],
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
            watching(gdb, out, ATTACH_TIMEOUT)  # the window opens once gdb watches
            generator.process.send_signal(signal.SIGUSR1)
            time.sleep(seconds)
            window = end_window(generator, 10)
            gdb.send_signal(signal.SIGINT)  # the attached process is left running on detach
            try:
                gdb.wait(timeout=20)
            except subprocess.TimeoutExpired:
                gdb.kill()
        said = out.read_text()
    failure = next((why for text, why in GDB_FAILURES.items() if text in said), None)
    lines = [line for line in said.splitlines() if line.startswith("miss ")]
    return lines, 0 if window is None else window[0], failure


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if shutil.which("gdb") is None:
        print("type_cache_misses.py needs gdb (apt-get install gdb)")
        return 2
    stations = args.stations or (200 if args.single else 67)
    nats = None if args.single else NatsServer()
    try:
        if nats is not None:
            nats.__enter__()
        port = free_port()
        url = None if nats is None else nats.url
        server = Child(server_argv(port, url))
        if not wait_line(server, ready_line(url), 30):
            print(f"the server did not start: {server.lines[-5:]}")
            return 1
        generator, failed = start_generator(port, stations, 30)
        if failed is not None:
            print(failed)
            return 1
        time.sleep(2)
        misses, answered, failure = count_misses(server.pid, generator, args.seconds)
    finally:
        kill_children()
        if nats is not None:
            nats.__exit__(None, None, None)
    if failure is not None:
        print(f"not measured: {failure}")
        return 3
    layout = "one process" if args.single else "a gateway"
    print(f"{layout}, {stations} stations: {answered} answers while gdb watched")
    print(f"{len(misses)} type-cache misses, {len(misses) / max(answered, 1):.3f} a message")
    pairs = collections.Counter(line[5:] for line in misses)
    for pair, count in pairs.most_common(args.top):
        print(f"  {count / max(answered, 1):7.3f} a message  {count:6d}  {pair}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
