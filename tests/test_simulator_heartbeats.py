"""The Heartbeats a simulated station's client sends by itself, once the CSMS set its
``HeartbeatInterval``, counted in the report with the station's other calls (answered, or left
unanswered at the end), shown in its table and its JSON (``--json``), against real servers on
both backends; they were counted nowhere, and one a hung CSMS never answered vanished."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from test_simulator_remote import Seen
from test_simulator_unanswered import Hanging, _hanging_csms_in_a_thread

from ocpp_fast.cli import main
from ocpp_fast.simulator import SimulationReport, simulate
from ocpp_fast.transport import serve
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v201 import datatypes, messages

pytestmark = pytest.mark.usefixtures("backend")  # every test on both backends


def every(label: str, seconds: str) -> Any:
    """The CSMS's request that sets the station's HeartbeatInterval to ``seconds``."""
    if label == "1.6":
        return messages16.ChangeConfigurationRequest(key="HeartbeatInterval", value=seconds)
    setting = datatypes.SetVariableDataType(
        component=datatypes.ComponentType(name="OCPPCommCtrlr"),
        variable=datatypes.VariableType(name="HeartbeatInterval"),
        attribute_value=seconds,
    )
    return messages.SetVariablesRequest(set_variable_data=[setting])


async def booted(seen: Seen, label: str) -> None:
    """Until the CSMS answered the station's boot. The HeartbeatInterval is set after it: an
    accepted boot's interval (300 s) becomes the client's, so a boot answered after the
    setting (on a loaded machine) undid it."""
    boot = (
        messages16.BootNotificationRequest if label == "1.6" else messages.BootNotificationRequest
    )
    await asyncio.wait_for(seen.until(boot), 10)


async def _quiet_run(
    seen: Seen, label: str, duration: float, seconds: str = "1"
) -> SimulationReport:
    """One station of ``label`` that sends nothing after its boot (its first message would come
    after the end), whose HeartbeatInterval the CSMS sets to ``seconds`` once booted."""
    server = await serve(seen.handler)
    try:
        url = f"ws://127.0.0.1:{server.port}/ocpp"
        running = asyncio.create_task(
            simulate(url, 1, duration, interval=60.0, versions=label, actions=["Heartbeat"])
        )
        await booted(seen, label)
        await server.call("SIM00000", every(label, seconds), timeout=5)
        return await asyncio.wait_for(running, 20)
    finally:
        await server.close(0.1)  # a hung handler: cancelled at once


@pytest.mark.parametrize("label", ["1.6", "2.0.1"])
def test_the_clients_interval_heartbeats_are_counted_with_the_other_calls(label: str) -> None:
    seen = Seen(label)
    report = asyncio.run(_quiet_run(seen, label, 3.5))
    heartbeat = messages16.HeartbeatRequest if label == "1.6" else messages.HeartbeatRequest
    beats = len(seen.of(heartbeat))  # the traffic sent none: every one is the client's
    assert beats >= 2, seen.requests
    assert report.interval_heartbeats == beats, report.table()
    assert report.messages == len(seen.requests)  # the boot and the heartbeats, no more
    assert f"of which interval heartbeats   {beats}" in report.table().splitlines()
    assert report.as_dict()["interval_heartbeats"] == beats
    assert report.ok, report.table()


def test_an_interval_heartbeat_the_csms_never_answers_is_unanswered() -> None:
    """Sent about 4 s in, its own timeout 4 s (the interval), cut at 7 s, when the wind-down
    after the end at 5 s is over (the station waits for it, as for any call on the wire, before
    it closes): it was on the wire (not sent it is not), and it vanished. (Ended 1.5 s after it
    was sent, the station closed at once then, its timeout counted nothing: with the wind-down
    it would be an error, ``Heartbeat: TimeoutError``, as any call whose timeout passed.)"""
    hung = Seen("2.0.1", Hanging(frozenset({"Heartbeat"})))
    report = asyncio.run(_quiet_run(hung, "2.0.1", 5.0, "4"))
    assert report.unanswered == {"Heartbeat": 1}, report.table()
    assert report.interval_heartbeats == 0 and report.not_sent == {} and report.errors == {}
    assert not report.ok


class SlowBeats(Hanging):
    """A CSMS that answers heartbeats after 0.5 s, and says when one came."""

    def __init__(self) -> None:
        super().__init__(slow=0.5)
        self.beating = asyncio.Event()

    async def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        self.beating.set()
        return await super().heartbeat(request)


def test_an_interval_heartbeat_cut_by_a_lost_connection_is_an_error_not_unanswered() -> None:
    """Mid-run, the CSMS closes the station's connection while its client's heartbeat waits for
    the answer: the client drops it with the connection (a cancel, not the run's end), so it is
    a ``ConnectionError`` as a call of the traffic would be, and nothing is left unanswered."""

    async def main() -> SimulationReport:
        csms = SlowBeats()
        seen = Seen("2.0.1", csms)
        server = await serve(seen.handler)
        try:
            url = f"ws://127.0.0.1:{server.port}/ocpp"
            running = asyncio.create_task(
                simulate(url, 1, 6.0, interval=60.0, actions=["Heartbeat"])
            )
            await booted(seen, "2.0.1")
            # its timeout the interval, 2 s: well after the answer, even on a loaded machine
            await server.call("SIM00000", every("2.0.1", "2"), timeout=5)
            await asyncio.wait_for(csms.beating.wait(), 5)  # in flight for 0.5 s
            await server.disconnect("SIM00000")
            while "SIM00000" not in server.connections:  # back after its back-off
                await asyncio.sleep(0.01)
            await server.call("SIM00000", every("2.0.1", "600"), timeout=5)  # no more
            return await asyncio.wait_for(running, 20)
        finally:
            await server.close(0.1)

    report = asyncio.run(main())
    assert report.errors == {"Heartbeat: ConnectionError": 1}, report.table()
    assert report.unanswered == {} and report.not_sent == {}, report.table()
    assert report.connections_lost == 1


def test_the_command_prints_the_report_as_json(
    backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--json``: one object, the table's figures by name (its counts by kind), and ``ok``,
    what the exit status says."""
    with _hanging_csms_in_a_thread() as port:
        url = f"ws://127.0.0.1:{port}/ocpp"
        arguments = ["--url", url, "--chargers", "2", "--duration", "0.5", "--interval", "0.1"]
        code = main(
            ["simulate", *arguments, "--actions", "Heartbeat", "--backend", backend, "--json"]
        )
    out, _ = capsys.readouterr()
    report = json.loads(out)
    assert code == 1
    assert report["ok"] is False
    assert (report["stations"], report["connected"], report["live"]) == (2, 2, 2)
    assert report["unanswered"] == {"Heartbeat": 2} and report["not_sent"] == {}
    assert report["messages"] == 2 and report["interval_heartbeats"] == 0  # the boots
    assert report["reboots"] == 0 and report["errors"] == {}
    assert set(report["latency_ms"]) == {"p50", "p99", "max"}
    assert report["duration"] == 0.5 and report["versions"] == {"2.0.1": 2}
