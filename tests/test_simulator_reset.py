"""A CSMS's Reset against a simulated station, from a real CSMS (the library's own, over real
sockets, on both backends): the station accepts it, ends the transaction the reset cuts (2.x
ImmediateReset, 1.6 HardReset / SoftReset), closes its connection, comes back after
``REBOOT_DOWNTIME``, boots with reason RemoteReset (2.x) and sends its connectors' status; an
OnIdle reset while charging is Scheduled and carried out at the transaction's end; a reset of
one EVSE is Rejected. Alone (``connect()``) and inside a ``simulate()`` run, whose report
counts the reboot and no lost connection. (Reset was answered NotSupported.)"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from test_simulator_remote import (
    Seen,
    boot_of,
    ended_kind,
    heartbeating,
    start_of,
    started_kind,
    station_of,
    stop_of,
    transaction_of,
)

from ocpp_fast import _sim_reboot
from ocpp_fast.aio import connect_in_memory
from ocpp_fast.simulator import REBOOT_DOWNTIME, SimulationReport, simulate
from ocpp_fast.transport import Backoff, CsmsServer, StationClient, connect, serve
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v21 import messages as messages21
from ocpp_fast.v201 import messages

pytestmark = pytest.mark.usefixtures("backend")  # every test on both backends


def reset_of(label: str, kind: str, evse: int | None = None) -> Any:
    if label == "1.6":
        return messages16.ResetRequest(type=kind)  # type: ignore[arg-type]
    module: Any = messages21 if label == "2.1" else messages
    if evse is None:
        return module.ResetRequest(type=kind)
    return module.ResetRequest(type=kind, evse_id=evse)


def boot_kind(label: str) -> type:
    return _kind(label, "BootNotificationRequest")


def status_kind(label: str) -> type:
    return _kind(label, "StatusNotificationRequest")


def _kind(label: str, name: str) -> type:
    """The request class ``name`` of OCPP ``label``."""
    module: Any = messages16 if label == "1.6" else messages21 if label == "2.1" else messages
    kind: type = getattr(module, name)
    return kind


@contextlib.asynccontextmanager
async def alone(
    label: str, backoff: Backoff | None = None
) -> AsyncIterator[tuple[Seen, CsmsServer, Any, StationClient]]:
    """A station of ``label`` alone, as ``CS001``, booted by its client (``boot=``, reconnecting
    with ``backoff``), against a demo CSMS that records what it is sent: the CSMS, its server,
    the station and its client."""
    seen = Seen(label)
    server = await serve(seen.handler)
    url = f"ws://127.0.0.1:{server.port}/ocpp/CS001"
    station = station_of(label)
    client = await connect(station, url, boot=boot_of(label), backoff=backoff or Backoff())
    try:
        await client.booted()
        yield seen, server, station, client
    finally:
        await client.close()
        await server.close()


def stopped_reason(label: str, ended: Any) -> str:
    return str(ended.reason if label == "1.6" else ended.transaction_info.stopped_reason)


async def rebooted(seen: Seen, label: str, boots: int) -> list[Any]:
    """The requests from the ``boots``-th boot on, once the status of the station's connectors
    (1.6: 0 and 1; 2.x: EVSE 1 connector 1) came after it."""
    await seen.until(boot_kind(label), boots)
    statuses = 2 if label == "1.6" else 1
    while True:
        booted = [i for i, r in enumerate(seen.requests) if isinstance(r, boot_kind(label))]
        after = seen.requests[booted[boots - 1] :]
        if sum(isinstance(r, status_kind(label)) for r in after) >= statuses:
            return after
        await asyncio.sleep(0.01)


def check_rebooted(label: str, after: list[Any]) -> None:
    """The boot again, with reason RemoteReset (2.x), then the connectors' status."""
    boot = after[0]
    if label != "1.6":
        assert str(boot.reason) == "RemoteReset"
    statuses: list[Any] = [r for r in after if isinstance(r, status_kind(label))]
    if label == "1.6":
        assert sorted(s.connector_id for s in statuses) == [0, 1]
        assert {str(s.status) for s in statuses} == {"Available"}
    else:
        assert [(s.evse_id, s.connector_id, str(s.connector_status)) for s in statuses] == [
            (1, 1, "Available")
        ]


@pytest.mark.parametrize(
    ("label", "kind", "reason"),
    [
        ("1.6", "Hard", "HardReset"),
        ("1.6", "Soft", "SoftReset"),
        ("2.0.1", "Immediate", "ImmediateReset"),
        ("2.1", "Immediate", "ImmediateReset"),
    ],
)
def test_a_reset_ends_the_transaction_and_reboots_the_station(
    label: str, kind: str, reason: str
) -> None:
    """A station alone, booted by its client (``boot=``), charging: the reset is Accepted, the
    transaction ended with the reset's reason, the connection closed and opened again after the
    downtime, the boot sent again (reason RemoteReset in 2.x, though the client's own says
    PowerUp), then the connectors' status.

    The client's own back-off is an hour here: back within the test's bound, the station came
    back by its reboot's downtime, not by a reconnection of the client."""

    async def main() -> tuple[str, Any, list[Any], float, int, int]:
        hour = Backoff(minimum=3600, random_range=0)
        async with alone(label, hour) as (seen, server, station, client):
            await server.call("CS001", start_of(label), timeout=5)
            await asyncio.wait_for(seen.until(started_kind(label)), 10)
            answer = await server.call("CS001", reset_of(label, kind), timeout=5)
            count = 2 - (label == "1.6")  # 2.x: the Started event was one
            ended = await asyncio.wait_for(seen.until(ended_kind(label), count), 10)
            while "CS001" in server.connections:  # closed by the station
                await asyncio.sleep(0.01)
            closed = time.monotonic()
            after = await asyncio.wait_for(rebooted(seen, label, 2), 10)
            downtime = time.monotonic() - closed
        return str(answer.status), ended, after, downtime, client.connects, station.reboots

    status, ended, after, downtime, connects, reboots = asyncio.run(main())
    assert status == "Accepted"
    assert stopped_reason(label, ended) == reason
    if label != "1.6":
        assert (str(ended.event_type), str(ended.trigger_reason)) == ("Ended", "ResetCommand")
    check_rebooted(label, after)
    # back after the downtime, not at once (a lower bound: a load only makes it later)
    assert downtime >= REBOOT_DOWNTIME * 0.9, downtime
    assert (connects, reboots) == (2, 1)


@pytest.mark.parametrize("label", ["2.0.1", "2.1"])
def test_an_on_idle_reset_waits_for_the_transaction_to_end(label: str) -> None:
    """OnIdle while charging is Scheduled (and a second reset meanwhile Rejected): the station
    goes on charging, and reboots once the transaction ended (a remote stop here: reason
    Remote, not a reset's); idle, OnIdle is Accepted at once."""

    async def main() -> tuple[list[str], list[Any], int]:
        answers = []
        async with alone(label) as (seen, server, station, _):
            await server.call("CS001", start_of(label), timeout=5)
            started = await asyncio.wait_for(seen.until(started_kind(label)), 10)
            reset = reset_of(label, "OnIdle")
            answers.append(str((await server.call("CS001", reset, timeout=5)).status))
            # one on its way already: a second is Rejected
            answers.append(str((await server.call("CS001", reset, timeout=5)).status))
            await asyncio.sleep(REBOOT_DOWNTIME)
            assert len(seen.of(boot_kind(label))) == 1  # no reboot while charging
            assert "CS001" in server.connections
            stop = stop_of(label, transaction_of(label, seen, started))
            answers.append(str((await server.call("CS001", stop, timeout=5)).status))
            after = await asyncio.wait_for(rebooted(seen, label, 2), 10)
            # idle now: OnIdle is carried out at once
            answers.append(str((await server.call("CS001", reset, timeout=5)).status))
            await asyncio.wait_for(rebooted(seen, label, 3), 10)
        return answers, after, station.reboots

    answers, after, reboots = asyncio.run(main())
    assert answers == ["Scheduled", "Rejected", "Accepted", "Accepted"]
    check_rebooted(label, after)
    assert reboots == 2


@pytest.mark.parametrize(
    ("label", "request_of"),
    [
        ("2.0.1", lambda: reset_of("2.0.1", "Immediate", evse=1)),
        ("2.1", lambda: reset_of("2.1", "OnIdle", evse=1)),
        ("2.1", lambda: reset_of("2.1", "ImmediateAndResume")),
    ],
)
def test_a_reset_of_one_evse_or_with_resume_is_rejected(label: str, request_of: Any) -> None:
    """The simulator resets no EVSE alone and resumes no transaction after a reboot: Rejected,
    and the station stays connected, with no boot again."""

    async def main() -> tuple[str, int]:
        async with alone(label) as (seen, server, station, _):
            answer = await server.call("CS001", request_of(), timeout=5)
            await asyncio.sleep(REBOOT_DOWNTIME + 0.2)
            assert "CS001" in server.connections and len(seen.of(boot_kind(label))) == 1
        return str(answer.status), station.reboots

    assert asyncio.run(main()) == ("Rejected", 0)


@pytest.mark.parametrize(("label", "kind"), [("1.6", "Soft"), ("2.0.1", "Immediate")])
def test_a_reset_in_a_run_is_counted_as_a_reboot_not_a_lost_connection(
    label: str, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside ``simulate()``: the CSMS resets the station mid-run, sees it boot again
    (RemoteReset in 2.x, where the run's own boots say PowerUp) and send its status; the report
    counts one reboot, no connection lost, and the run is ok (the station's calls paused while
    it closed, so none was cut)."""
    monkeypatch.setattr(_sim_reboot, "REBOOT_DOWNTIME", 0.3)

    async def main() -> tuple[Seen, str, list[Any], SimulationReport]:
        async with heartbeating(label) as (seen, server, running):
            answer = await server.call("SIM00000", reset_of(label, kind), timeout=5)
            after = await asyncio.wait_for(rebooted(seen, label, 2), 10)
            report = await asyncio.wait_for(running, 20)
        return seen, str(answer.status), after, report

    seen, status, after, report = asyncio.run(main())
    assert status == "Accepted"
    if label != "1.6":
        assert str(seen.of(boot_kind(label))[0].reason) == "PowerUp"
    check_rebooted(label, after)
    assert report.reboots == 1 and report.connections_lost == 0, report.table()
    assert report.ok, report.table()
    assert "reboots (Reset)                1" in report.table().splitlines()
    assert report.messages == len(seen.requests)  # the boot again and statuses counted too


@pytest.mark.parametrize("label", ["1.6", "2.0.1"])
def test_a_station_with_no_client_to_reconnect_with_rejects_a_reset(label: str) -> None:
    """``connect_in_memory``'s bare ends: nothing would open the connection again, so the
    station does not close it: Rejected."""

    async def main() -> str:
        pair = connect_in_memory(station_of(label), Seen(label).handler)
        try:
            return str(
                (
                    await pair.csms.call(
                        reset_of(label, "Immediate" if label != "1.6" else "Soft"), timeout=5
                    )
                ).status
            )
        finally:
            await pair.close()

    assert asyncio.run(main()) == "Rejected"


@pytest.mark.parametrize("label", ["1.6", "2.0.1"])
@pytest.mark.parametrize("how", ["reset", "dropped"])
def test_a_station_back_on_a_new_connection_boots_at_once_not_at_its_next_message(
    label: str, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``simulate()`` with a long ``interval`` (30 s: the station's next message would come
    after the 5 s run): reset, or its connection dropped by the CSMS, the station boots again
    as soon as it is back. It waited for its next message's time before, and did not boot
    again within the run."""
    monkeypatch.setattr(_sim_reboot, "REBOOT_DOWNTIME", 0.3)

    async def main() -> tuple[Seen, float, SimulationReport]:
        seen = Seen(label)
        server = await serve(seen.handler)
        try:
            url = f"ws://127.0.0.1:{server.port}/ocpp"
            running = asyncio.create_task(
                simulate(url, 1, 5.0, interval=30, versions=label, actions=["Heartbeat"])
            )
            await asyncio.wait_for(seen.until(boot_kind(label)), 10)
            started = time.monotonic()
            if how == "reset":
                kind = "Immediate" if label != "1.6" else "Soft"
                await server.call("SIM00000", reset_of(label, kind), timeout=5)
            else:
                await server.disconnect("SIM00000", code=1001)
            # within the 5 s run (its next message's time, 30 s, would be past this bound)
            await asyncio.wait_for(seen.until(boot_kind(label), 2), 15)
            back = time.monotonic() - started
            report = await asyncio.wait_for(running, 20)
        finally:
            await server.close()
        return seen, back, report

    seen, back, report = asyncio.run(main())
    print(f"\nback {back:.2f} s after the {how}")
    assert len(seen.of(boot_kind(label))) == 2  # and no message besides: its time never came
    assert report.connections_lost == (1 if how == "dropped" else 0), report.table()
    assert report.reboots == (1 if how == "reset" else 0), report.table()
