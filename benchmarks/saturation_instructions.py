"""Instructions per message of a saturated gateway (or one process), counted under callgrind.

``python benchmarks/saturation_instructions.py [--stations 67] [--window 20] [--single]``

``saturation.py`` reads issue 25's target (3 gateways >= 2.5x one process) from CPU per
message, which this shared machine blurs by more than what is left to the target; this
counts what the same server spends per message under ``valgrind --tool=callgrind``, a
figure that moves only when the code does (about 0.5 % from run to run: the gateway's
batches of stores follow timing). The server is the one ``saturation.py`` measures:
``ocpp-fast serve --nats URL --handlers gateway`` against a nats-server with JetStream
(``--single``: ``serve`` without NATS, 200 stations by default), under callgrind,
driven by ``saturation_child.py``'s stations (67 by default: a gateway's share of 200).
Under callgrind the server is tens of times slower than the generator, so it is
saturated whatever the machine does.

Once the generator is connected and ``--settle`` seconds have passed, the counters are
zeroed (``callgrind_control -z``) and the generator's window opened (SIGUSR1); after
``--window`` seconds the counters are dumped (``callgrind_control -d``) and the window
closed (SIGUSR2). Printed: the dump's instructions over the window's answers, and with
``--top N`` the N functions of most self instructions, per message
(``callgrind_annotate``). ``--keep DIR`` keeps the dump; ``--cache-sim`` adds callgrind's
cache model and prints last-level misses per message too. Prints figures; asserts
nothing.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from load_proc import Child, exit_on_signal, kill_children, raise_fd_limit, wait_line
from saturation import end_window, ready_line, server_argv, start_generator

from ocpp_fast._machine import free_port
from ocpp_fast.cluster._server import NatsServer

HERE = Path(__file__).resolve().parent
START_TIMEOUT = 600.0
"""Seconds a server under callgrind may take to listen (imports run tens of times slower)."""


@dataclass
class Count:
    """One window's dump: every event's total, and the answers the generator counted."""

    events: dict[str, int]
    answered: int
    errors: int
    seconds: float
    dump: Path

    def per_message(self, event: str) -> float:
        return self.events.get(event, 0) / max(self.answered, 1)


def read_totals(dump: Path) -> dict[str, int]:
    """Each event's total in a callgrind dump (``events:`` names them, ``summary:`` or
    ``totals:`` counts them, in that order)."""
    text = dump.read_text(encoding="utf-8", errors="replace")
    names = re.search(r"^events: (.+)$", text, re.MULTILINE)
    totals = re.search(r"^(?:summary|totals): (.+)$", text, re.MULTILINE)
    if names is None or totals is None:
        raise SystemExit(f"no totals in callgrind's dump {dump}")
    return dict(zip(names.group(1).split(), map(int, totals.group(1).split()), strict=False))


def control(option: str, pid: int) -> None:
    """``callgrind_control option pid``: the running server's counters zeroed or dumped."""
    subprocess.run(["callgrind_control", option, str(pid)], check=True, capture_output=True)


def count(args: argparse.Namespace, out: Path, nats_url: str | None) -> Count:
    """One window of the server under callgrind, its dump written into ``out``."""
    port = free_port()
    valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/callgrind.%p"]
    if args.cache_sim:
        valgrind.append("--cache-sim=yes")
    server = Child([*valgrind, *server_argv(port, nats_url)])
    generator: Child | None = None
    try:
        if not wait_line(server, ready_line(nats_url), START_TIMEOUT):
            raise SystemExit(f"the server did not start: {server.lines[-5:]}")
        generator, failed = start_generator(port, args.stations, START_TIMEOUT)
        if failed is not None:
            raise SystemExit(failed)
        time.sleep(args.settle)
        control("-z", server.pid)
        generator.process.send_signal(signal.SIGUSR1)
        time.sleep(args.window)
        control("-d", server.pid)
        window = end_window(generator, 30)
        if window is None:
            raise SystemExit(f"the generator reported no window: {generator.lines[-3:]}")
        answered, errors, seconds = window
        dumps = sorted(out.glob(f"callgrind.{server.pid}.*"))
        if not dumps:
            raise SystemExit(f"callgrind wrote no dump into {out}")
        return Count(read_totals(dumps[-1]), answered, errors, seconds, dumps[-1])
    finally:
        if generator is not None:
            generator.stop(timeout=5)
        server.stop(timeout=60)


def top(dump: Path, answered: int, limit: int) -> list[str]:
    """The ``limit`` functions of most self instructions in ``dump``, per message."""
    annotated = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--auto=no", "--threshold=100", str(dump)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    lines = []
    for line in annotated.splitlines():
        found = re.match(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(\S.*)$", line)
        if found is None or "PROGRAM TOTALS" in line or float(found.group(2)) > 50:
            continue  # (above half: a frame on the stack when zeroed, its self not its own)
        instructions = int(found.group(1).replace(",", ""))
        lines.append(f"{instructions / max(answered, 1):>9,.0f}  {found.group(3)[:110]}")
        if len(lines) == limit:
            break
    return lines


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", action="store_true", help="one process, no NATS")
    parser.add_argument("--stations", type=int, help="67 (a gateway's share), 200 --single")
    parser.add_argument("--window", type=float, default=20.0, help="s counted")
    parser.add_argument("--settle", type=float, default=5.0, help="s before the window")
    parser.add_argument("--top", type=int, default=0, metavar="N", help="N functions' self")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the dump there")
    parser.add_argument("--cache-sim", action="store_true", help="also last-level misses")
    args = parser.parse_args(argv)
    if args.stations is None:
        args.stations = 200 if args.single else 67
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("saturation_instructions.py needs valgrind (callgrind_control)")
        return 2
    atexit.register(kill_children)
    signal.signal(signal.SIGTERM, exit_on_signal)
    print(raise_fd_limit(args.stations * 2 + 256))
    layout = "one process" if args.single else "a gateway"
    os.environ["PYTHONHASHSEED"] = "0"  # the server's dict layouts the same from run to run
    with contextlib.ExitStack() as stack:
        out = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        out.mkdir(parents=True, exist_ok=True)
        nats = None if args.single else stack.enter_context(NatsServer())
        result = count(args, out, None if nats is None else nats.url)
        misses = result.per_message("DLmr") + result.per_message("DLmw")
        print(
            f"{layout}, {args.stations} stations, {result.seconds:.1f} s window: "
            f"{result.answered:,} answers, {result.errors} errors; "
            f"{result.per_message('Ir'):,.0f} instructions a message"
            + (f", {misses:.1f} last-level data misses" if args.cache_sim else "")
        )
        if args.keep is not None:
            print(f"dump: {result.dump}")
        if args.top:
            print(f"self instructions a message (callgrind_annotate, top {args.top}):")
            for line in top(result.dump, result.answered, args.top):
                print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
