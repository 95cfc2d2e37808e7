"""examples/ocpp_package_backend.py: an ``ocpp`` backend switched by one line, on a real socket.

The example runs as its own process (its ``install()`` must precede its ``ocpp``
imports, as in a user's entry point); ocpp_fast's simulator drives real
WebSocket sessions against it, and a raw client checks that the wire now
follows the spec table.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from demo_load import free_port
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from ocpp_fast.simulator import SimulationReport, simulate

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "ocpp_package_backend.py"


def test_the_ocpp_package_backend_runs_on_ocpp_fast_with_one_line() -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--port", str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        assert "ChargePoint base: ocpp_fast.compat.v201" in banner, banner

        async def run() -> tuple[SimulationReport, bytes]:
            report = await simulate(f"ws://127.0.0.1:{port}/ocpp", 20, 3.0, interval=0.05, seed=5)
            async with ws_connect(
                f"ws://127.0.0.1:{port}/ocpp/RAW1", subprotocols=[Subprotocol("ocpp2.0.1")]
            ) as websocket:
                await websocket.send('[2,"t1","Teleport",{}]')
                reply = await websocket.recv(decode=False)
                assert isinstance(reply, bytes)
            return report, reply

        report, reply = asyncio.run(run())
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert report.errors == {}, report.errors
    assert report.connected == 20
    assert report.messages > 200 and report.sessions > 0
    assert reply.startswith(b'[4,"t1","NotImplemented",')  # ocpp itself says NotSupported
