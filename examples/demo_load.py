"""``make demo``: the demo CSMS and 1,000 simulated stations on loopback, then the summary.

The CSMS runs in its own process (``ocpp-fast serve``, no app: the demo of 1.6, 2.0.1 and
2.1 on one port), as a real backend would; the stations run here, a mixed fleet of the
three versions in turn, each a real WebSocket connection charging on the traffic shape of
a real fleet. Exits non-zero if any station failed to connect or any call failed.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys

from ocpp_fast.cli import main as cli


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chargers", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between messages")
    parser.add_argument(
        "--version", nargs="+", default=["1.6", "2.0.1", "2.1"], help="the fleet's versions"
    )
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ocpp_fast.cli", "serve", "--port", str(port), "--quiet"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        print(server.stdout.readline().strip())  # "demo CSMS on ws://..."
        print(
            f"simulating {args.chargers} stations for {args.duration:.0f} s "
            f"of OCPP {', '.join(args.version)} (a message every {args.interval:g} s each)"
        )
        return cli(
            [
                "simulate",
                "--url",
                f"ws://127.0.0.1:{port}/ocpp",
                "--chargers",
                str(args.chargers),
                "--duration",
                str(args.duration),
                "--interval",
                str(args.interval),
                "--version",
                *args.version,
            ]
        )
    finally:
        server.terminate()
        server.wait(timeout=15)


if __name__ == "__main__":
    sys.exit(main())
