"""examples/fleet_csms.py served as a team serves it, ``ocpp-fast serve examples.fleet_csms:app``
(from the repository's root), against the simulator with passwords, and its admin API
(examples/admin_api.py) starting charges on 1.6 and 2.0.1 stations while they run."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from fleet_csms import NOISY_VENDOR, FleetDb
from serve_proc import start
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from ocpp_fast._machine import free_port
from ocpp_fast.simulator import SimulationReport, simulate
from ocpp_fast.transport.backend import BACKENDS
from ocpp_fast.transport.identity import basic_header

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "a-station-password-1"


class Fleet:
    """The example in its own process, its database in ``folder``."""

    def __init__(self, folder: Path, backend: str) -> None:
        self.db_path = folder / "fleet.sqlite3"
        db = FleetDb(str(self.db_path))
        for number in range(6):
            db.add(f"SIM{number:05d}", PASSWORD)
        db.add("NOISY1", PASSWORD)
        db.add("PLAIN1", PASSWORD)
        self.port, self.api_port, self.metrics_port = free_port(), free_port(), free_port()
        self.served = start(
            "examples.fleet_csms:app",
            *("--security-profile", "1", "--authorize", "examples.fleet_csms:authorize"),
            *("--metrics-port", str(self.metrics_port), "--backend", backend, "--quiet"),
            port=self.port,
            cwd=ROOT,
            env={"FLEET_DB": str(self.db_path), "FLEET_ADMIN_PORT": str(self.api_port)},
        )
        self.banner = [self.served.line(), self.served.line()]

    def stop(self) -> str:
        return self.served.stop()


async def api(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(method, url, json=body) as r:
        return r.status, await r.json()


async def boot(fleet: Fleet, identity: str, vendor: str) -> list[Any]:
    """A raw 2.0.1 station: a boot as ``vendor``, then a StatusNotification whose timestamp has
    no offset (what NOISY_VENDOR's firmware sends)."""
    url = f"ws://127.0.0.1:{fleet.port}/{identity}"
    headers = {"Authorization": basic_header(identity, PASSWORD)}
    async with ws_connect(
        url, subprotocols=[Subprotocol("ocpp2.0.1")], additional_headers=headers
    ) as websocket:
        station = {"model": "M", "vendorName": vendor}
        boot = [2, "b", "BootNotification", {"reason": "PowerUp", "chargingStation": station}]
        await websocket.send(msgspec.json.encode(boot).decode())
        await websocket.recv()
        status = {
            "timestamp": "2026-11-30T10:00:00",
            "connectorStatus": "Available",
            "evseId": 1,
            "connectorId": 1,
        }
        await websocket.send(msgspec.json.encode([2, "s", "StatusNotification", status]).decode())
        answers: list[Any] = [msgspec.json.decode(await websocket.recv())]
    return answers


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_fleet_csms_serves_both_versions_with_passwords_and_its_admin_api(
    tmp_path: Path, backend: str
) -> None:
    fleet = Fleet(tmp_path, backend)
    try:
        assert "examples.fleet_csms:app on ws://" in "".join(fleet.banner), fleet.banner
        assert f"admin API on http://127.0.0.1:{fleet.api_port}" in "".join(fleet.banner)
        api_url = f"http://127.0.0.1:{fleet.api_port}"

        async def scenario() -> tuple[SimulationReport, SimulationReport, dict[str, Any]]:
            url = f"ws://127.0.0.1:{fleet.port}/ocpp"
            # SIM00000 and SIM00001 only beat, so that they are free for the API's remote start
            # (a station charging already answers Rejected); the others run whole sessions
            runs = [
                simulate(
                    url,
                    count,
                    2.5,
                    interval=0.05,
                    versions=["1.6", "2.0.1"],
                    password=PASSWORD,
                    first_station=first,
                    actions=actions,
                    handle_signals=False,
                )
                for first, count, actions in ((0, 2, ["Heartbeat"]), (2, 4, ["all"]))
            ]
            running = asyncio.gather(*runs)
            seen: dict[str, Any] = {}
            for _ in range(100):
                _, seen["stations"] = await api("GET", f"{api_url}/stations")
                if len(seen["stations"]) == 6:
                    break
                await asyncio.sleep(0.05)
            for identity in ("SIM00000", "SIM00001"):  # a 1.6 and a 2.0.1 station
                seen[identity] = await api(
                    "POST", f"{api_url}/stations/{identity}/start", {"id_token": "04A1B2C3"}
                )
            seen["absent"] = await api(
                "POST", f"{api_url}/stations/NOBODY/start", {"id_token": "x"}
            )
            seen["online"] = await api("GET", f"{api_url}/fleet")
            idle, busy = await running
            report = busy  # the two runs' stations and errors, as one run of 6 would count
            report.connected += idle.connected
            report.errors += idle.errors
            seen["noisy"] = await boot(fleet, "NOISY1", NOISY_VENDOR)
            seen["plain"] = await boot(fleet, "PLAIN1", "Conformant")
            wrong = await simulate(
                url, 1, 0.5, versions="1.6", password="not-the-password", handle_signals=False
            )
            async with aiohttp.ClientSession() as session:
                metrics = f"http://127.0.0.1:{fleet.metrics_port}/metrics"
                async with session.get(metrics) as response:
                    seen["metrics"] = await response.text()
            seen["offline"] = await api("GET", f"{api_url}/fleet")
            return report, wrong, seen

        report, wrong, seen = asyncio.run(asyncio.wait_for(scenario(), 30))
    finally:
        out = fleet.stop()
    assert out.strip().endswith("stopped")
    assert report.errors == {} and report.connected == 6, report.errors
    assert wrong.connected == 0  # the wrong password is refused
    stations = seen["stations"]
    assert {stations[f"SIM{i:05d}"]["version"] for i in range(6)} == {"1.6", "2.0.1"}
    assert stations["SIM00000"]["version"] == "1.6"
    assert seen["SIM00000"] == (200, {"identity": "SIM00000", "status": "Accepted"})
    assert seen["SIM00001"] == (200, {"identity": "SIM00001", "status": "Accepted"})
    assert seen["absent"][0] == 404
    online = seen["online"][1]
    assert all(online[f"SIM{i:05d}"]["online"] for i in range(6))
    offline = seen["offline"][1]
    assert not any(entry["online"] for entry in offline.values())
    assert offline["SIM00000"]["version"] == "1.6" and offline["NOISY1"]["vendor"] == NOISY_VENDOR
    # the vendor's tolerance: its offset-less timestamp accepted, a conformant station's refused
    assert seen["noisy"][0][0] == 3, seen["noisy"]
    assert seen["plain"][0][0] == 4 and seen["plain"][0][2] == "PropertyConstraintViolation"
    assert 'ocpp_stations_connected{version="1.6"}' in seen["metrics"]
    with sqlite3.connect(fleet.db_path) as db:
        stopped = db.execute("SELECT COUNT(*) FROM transactions WHERE stopped IS NOT NULL")
        assert stopped.fetchone()[0] > 0


def test_the_admin_api_example_starts_charges_in_every_version() -> None:
    """``python examples/admin_api.py``: the demo CSMS and the API in one loop; a 1.6, a 2.0.1
    and a 2.1 simulated station each accept the start the API sends in its version."""
    port, api_port = free_port(), free_port()
    example = ROOT / "examples" / "admin_api.py"
    command = [sys.executable, str(example), "--port", str(port), "--api-port", str(api_port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert f"API on http://127.0.0.1:{api_port}" in process.stdout.readline()
        api_url = f"http://127.0.0.1:{api_port}"

        async def scenario() -> tuple[SimulationReport, dict[str, Any]]:
            running = asyncio.create_task(
                simulate(
                    f"ws://127.0.0.1:{port}/ocpp",
                    3,
                    1.5,
                    interval=0.1,
                    versions=["1.6", "2.0.1", "2.1"],
                    handle_signals=False,
                )
            )
            listed: dict[str, Any] = {}
            for _ in range(100):
                _, listed = await api("GET", f"{api_url}/stations")
                if len(listed) == 3:
                    break
                await asyncio.sleep(0.05)
            started = {
                identity: await api(
                    "POST", f"{api_url}/stations/{identity}/start", {"id_token": "T1", "evse_id": 1}
                )
                for identity in listed
            }
            started["bad body"] = await api("POST", f"{api_url}/stations/SIM00000/start", {})
            return await running, {"listed": listed, "started": started}

        report, seen = asyncio.run(asyncio.wait_for(scenario(), 20))
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert report.errors == {}, report.errors
    versions = {identity: entry["version"] for identity, entry in seen["listed"].items()}
    assert versions == {"SIM00000": "1.6", "SIM00001": "2.0.1", "SIM00002": "2.1"}
    for identity in versions:
        assert seen["started"][identity] == (200, {"identity": identity, "status": "Accepted"})
    assert seen["started"]["bad body"][0] == 400
