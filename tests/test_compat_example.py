"""examples/ocpp_package_backend.py: an ``ocpp`` backend switched by one line, on a real socket.

The example runs as its own process (its ``install()`` must precede its ``ocpp``
imports, as in a user's entry point); ocpp_fast's simulator drives real
WebSocket sessions against its versioned backend, a raw client checks that the
wire now follows the spec table, and raw 1.6, 2.0.1 and 2.1 stations talk to its
generic-class backend (version chosen from the subprotocol after construction).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from ocpp_fast._machine import free_port
from ocpp_fast.simulator import SimulationReport, simulate

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "ocpp_package_backend.py"


@contextlib.contextmanager
def running_example() -> Iterator[tuple[int, str]]:
    """The example as its own process on a free port: ``(port, the banner it printed)``."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--port", str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        yield port, server.stdout.readline()
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_ocpp_package_backend_runs_on_ocpp_fast_with_one_line() -> None:
    with running_example() as (port, banner):
        assert "bases: ocpp_fast.compat.v201, ocpp_fast.compat._charge_point" in banner, banner

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
    assert report.errors == {}, report.errors
    assert report.connected == 20
    assert report.messages > 200 and report.sessions > 0
    assert reply.startswith(b'[4,"t1","NotImplemented",')  # ocpp itself says NotSupported


BOOTS = {
    "ocpp1.6": {"chargePointVendor": "V", "chargePointModel": "M"},
    "ocpp2.0.1": {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}},
}
BOOTS["ocpp2.1"] = BOOTS["ocpp2.0.1"]


async def station_of_the_generic_backend(port: int, subprotocol: str) -> list[list[Any]]:
    """Boot, answer the backend's TriggerMessage, send a Heartbeat: what came back."""
    url = f"ws://127.0.0.1:{port}/multi/{subprotocol.upper()}"
    async with ws_connect(url, subprotocols=[Subprotocol(subprotocol)]) as websocket:
        assert websocket.subprotocol == subprotocol
        await websocket.send(json.dumps([2, "b1", "BootNotification", BOOTS[subprotocol]]))
        received = [json.loads(await websocket.recv()) for _ in range(2)]
        trigger = next(frame for frame in received if frame[0] == 2)
        await websocket.send(json.dumps([3, trigger[1], {"status": "Accepted"}]))
        await websocket.send('[2,"h1","Heartbeat",{}]')
        received.append(json.loads(await websocket.recv()))
        return received


def test_the_generic_class_backend_serves_every_version_on_ocpp_fast() -> None:
    with running_example() as (port, _):

        async def run() -> dict[str, list[list[Any]]]:
            return {
                subprotocol: await station_of_the_generic_backend(port, subprotocol)
                for subprotocol in BOOTS
            }

        conversations = asyncio.run(run())
    for subprotocol, frames in conversations.items():
        boot_reply = next(frame for frame in frames if frame[:2] == [3, "b1"])
        assert boot_reply[2]["status"] == "Accepted", subprotocol
        trigger = next(frame for frame in frames if frame[0] == 2)
        assert trigger[2:] == ["TriggerMessage", {"requestedMessage": "Heartbeat"}], subprotocol
        assert frames[-1][:2] == [3, "h1"] and "currentTime" in frames[-1][2], subprotocol
