"""``ocpp-fast serve --call-stations``: the demo CSMS calls each station whose boot it accepted,
a short script of its version, and says in one line per call what the station answered; real
``serve`` processes, and as stations the library's own (``connect()``), ``ocpp-fast simulate``
processes, and raw WebSocket clients for answers the library would never send."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from serve_proc import Served, start
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from ocpp_fast._demo_calls import SCRIPTS
from ocpp_fast.cli import main
from ocpp_fast.simulator import SimulatedStation
from ocpp_fast.transport import connect
from ocpp_fast.v201 import datatypes, enums, messages

BOOT = messages.BootNotificationRequest(
    reason=enums.BootReasonEnumType.POWER_UP,
    charging_station=datatypes.ChargingStationType(model="M1", vendor_name="Acme"),
)
RAW_BOOT = json.dumps(
    [
        2,
        "b1",
        "BootNotification",
        {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}},
    ]
)
CALL_LINE = re.compile(r" (?:info|warning) (?P<identity>\S+): called (?P<action>\w+) \(")


class Followed:
    """A ``serve`` process whose stdout a thread reads as it comes, so a test waits for a line
    with a deadline (a bare ``readline()`` waits for ever on a line that never comes)."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.port = served.port
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while line := self.served.line():
            self._queue.put(line)
        self._queue.put("")

    def until(self, done: Callable[[str], bool], timeout: float = 30) -> list[str]:
        """Every line read so far, once one is ``done`` (an AssertionError showing them if
        none came within ``timeout`` seconds, or serve exited).

        The lines an earlier wait read count: two stations' lines come in either order, so
        waiting for one station's line and then the other's missed the second when it came
        first (read, and passed over, by the first wait)."""
        if any(done(line) for line in self.lines):
            return self.lines
        while True:
            try:
                line = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no such line within {timeout} s: {self.lines}") from None
            if not line:
                raise AssertionError(f"serve exited: {self.lines}")
            self.lines.append(line)
            if done(line):
                return self.lines

    def calls_of(self, identity: str) -> list[str]:
        """The actions the CSMS called ``identity`` with, in order, from its lines so far."""
        return [
            m["action"]
            for m in map(CALL_LINE.search, self.lines)
            if m is not None and m["identity"] == identity
        ]


@contextlib.contextmanager
def serving(*flags: str) -> Iterator[Followed]:
    """``ocpp-fast serve FLAGS``, its first line read; stopped (and its last lines read) after."""
    served = start(*flags)
    followed = Followed(served)
    try:
        followed.until(lambda line: "demo CSMS on" in line)
        yield followed
    finally:
        served.process.terminate()
        try:
            served.process.wait(15)
        finally:
            served.process.kill()
        followed._reader.join(5)
        while not followed._queue.empty():
            followed.lines.append(followed._queue.get())


def ended(identity: str) -> Callable[[str], bool]:
    return lambda line: f"{identity}: calls done" in line or f"{identity}: calls stopped" in line


def line_of(lines: list[str], text: str) -> str:
    found = [line for line in lines if text in line]
    assert len(found) == 1, (text, lines)
    return found[0]


class Cooperative(SimulatedStation):
    """A 2.0.1 station answering every request of the script (the simulated station itself
    answers GetVariables and GetBaseReport from its device model, and the remote start and
    stop, which it carries out)."""

    def trigger_message(
        self, request: messages.TriggerMessageRequest
    ) -> messages.TriggerMessageResponse:
        return messages.TriggerMessageResponse(status=enums.TriggerMessageStatusEnumType.ACCEPTED)


def test_a_201_station_is_called_once_booted_after_the_boots_answer() -> None:
    with serving("--call-stations", "--log-frames") as server:

        async def station() -> None:
            url = f"ws://127.0.0.1:{server.port}/ocpp/CS001"
            client = await connect(Cooperative(), url, boot=BOOT)
            try:
                await asyncio.to_thread(server.until, ended("CS001"))
            finally:
                await client.close()

        asyncio.run(station())
        lines = server.lines
    assert server.calls_of("CS001") == list(SCRIPTS["2.x"])
    assert " 30 s per call at most (" in line_of(lines, "calling each station")
    assert ": called GetVariables (OCPPCommCtrlr HeartbeatInterval): Accepted, value 300" in (
        line_of(lines, "called GetVariables")
    )
    assert line_of(lines, "called TriggerMessage").endswith(
        "info CS001: called TriggerMessage (StatusNotification, EVSE 1 connector 1): Accepted\n"
    )
    assert line_of(lines, "called GetBaseReport").endswith("(ConfigurationInventory): Accepted\n")
    start = line_of(lines, "called RequestStartTransaction")
    assert re.search(r"\(remoteStartId \d+, EVSE 1\): Accepted$", start), start
    assert re.search(
        r"RequestStopTransaction \(transaction [\w-]+\): Accepted$",
        line_of(lines, "called RequestStopTransaction"),
    )
    assert line_of(lines, "CS001: calls done").endswith("info CS001: calls done: 5 answered\n")
    # the boot's answer went out before the CSMS's first CALL, as OCPP wants
    frames = [line for line in lines if " CS001 > " in line]
    assert frames[0].split(" CS001 > ")[1].startswith("[3,"), frames[:2]
    assert '"GetVariables"' in frames[1], frames[:2]


PROCESS = re.compile(r"\[(process \d+ of \d+), pid \d+\] ")


def process_of(line: str) -> str:
    """The process of ``serve --workers N`` that wrote ``line`` (``process 0 of 2``)."""
    found = PROCESS.search(line)
    assert found is not None, line
    return found[1]


def connected(identity: str) -> Callable[[str], bool]:
    return lambda line: f" {identity}: connected (" in line


def test_under_workers_each_process_calls_the_stations_it_accepted() -> None:
    """``serve --workers 2 --call-stations``: each process is a demo CSMS of its own on the
    port (SO_REUSEPORT), so it calls the stations whose boots it accepted, each once, the whole
    script, every line of a station naming the process holding it; each process says what it
    will call. Stations are connected until both processes hold one (the kernel spreads them)."""
    with serving("--call-stations", "--call-timeout", "5", "--workers", "2") as server:
        announced: list[str] = []

        def both_announced(line: str) -> bool:
            if "calling each station once its boot is accepted, 5 s per call" in line:
                announced.append(line)
            return len(announced) == 2

        server.until(both_announced)

        async def stations() -> dict[str, str]:
            held: dict[str, str] = {}  # identity: the process its connected line names
            clients = []
            try:
                while len(held) < 4 or (len(set(held.values())) < 2 and len(held) < 16):
                    identity = f"CS{len(held):03d}"
                    url = f"ws://127.0.0.1:{server.port}/ocpp/{identity}"
                    clients.append(await connect(Cooperative(), url, boot=BOOT))
                    lines = await asyncio.to_thread(server.until, connected(identity))
                    held[identity] = process_of(lines[-1])
                for identity in held:
                    if not any(map(ended(identity), server.lines)):
                        await asyncio.to_thread(server.until, ended(identity))
            finally:
                for client in clients:
                    await client.close()
            return held

        held = asyncio.run(stations())
        lines = server.lines
    assert {process_of(line) for line in announced} == {"process 0 of 2", "process 1 of 2"}
    assert set(held.values()) == {"process 0 of 2", "process 1 of 2"}, held
    for identity, process in held.items():
        assert server.calls_of(identity) == list(SCRIPTS["2.x"]), (identity, lines)
        said = [line for line in lines if f" {identity}: " in line]
        assert {process_of(line) for line in said} == {process}, said
        assert line_of(lines, f"{identity}: calls done").endswith(": calls done: 5 answered\n")


def test_16_and_21_stations_of_ocpp_fast_simulate_are_called_in_their_versions() -> None:
    """Each in its version's script; the simulated station answers its configuration from its
    model (the boot's interval, 300 s, is its HeartbeatInterval), accepts the TriggerMessage of
    its connector's StatusNotification, and carries out the remote start and stop: every call
    answered."""
    with serving("--call-stations") as server:
        simulate = subprocess.Popen(
            [
                sys.executable, "-m", "ocpp_fast.cli", "simulate",
                "--url", f"ws://127.0.0.1:{server.port}/ocpp",
                "--chargers", "2", "--version", "1.6", "2.1", "--actions", "Heartbeat",
                "--interval", "5", "--duration", "30",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            server.until(ended("SIM00000"))
            server.until(ended("SIM00001"))
        finally:
            simulate.terminate()
            simulate.wait(15)
        lines = server.lines
    assert server.calls_of("SIM00000") == list(SCRIPTS["1.6"])
    assert server.calls_of("SIM00001") == list(SCRIPTS["2.x"])
    assert line_of(lines, "SIM00000: called GetConfiguration").endswith(
        "info SIM00000: called GetConfiguration (HeartbeatInterval): value 300\n"
    )
    assert line_of(lines, "SIM00000: called TriggerMessage").endswith(
        "info SIM00000: called TriggerMessage (StatusNotification, connector 1): Accepted\n"
    )
    assert "(idTag OCPP-FAST-DEMO, connector 1): Accepted\n" in line_of(
        lines, "SIM00000: called RemoteStartTransaction"
    )
    # the transaction the demo's StartTransaction answer numbered
    assert re.search(
        r"SIM00000: called RemoteStopTransaction \(transaction \d+\): Accepted$",
        line_of(lines, "SIM00000: called RemoteStopTransaction"),
    )
    assert line_of(lines, "SIM00000: calls done").endswith(
        "info SIM00000: calls done: 4 answered\n"
    )
    assert line_of(lines, "SIM00001: called GetVariables").endswith(
        "info SIM00001: called GetVariables (OCPPCommCtrlr HeartbeatInterval): "
        "Accepted, value 300\n"
    )
    assert line_of(lines, "SIM00001: called GetBaseReport").endswith(
        "(ConfigurationInventory): Accepted\n"
    )
    assert "SIM00001: called RequestStopTransaction (transaction " in "".join(lines)
    assert line_of(lines, "SIM00001: called TriggerMessage").endswith(
        "(StatusNotification, EVSE 1 connector 1): Accepted\n"
    )
    assert line_of(lines, "SIM00001: calls done").endswith(
        "info SIM00001: calls done: 5 answered\n"
    )


async def answering(websocket: ClientConnection, answers: dict[str, Any], until: str) -> list[str]:
    """Answer the CSMS's CALLs (by action: a frame to send, or ``None``: silence) until one of
    action ``until`` came and was answered; the actions called, in order."""
    called = []
    while True:
        frame = json.loads(await asyncio.wait_for(websocket.recv(), 30))
        if frame[0] != 2:
            continue
        called.append(frame[2])
        answer = answers.get(frame[2])
        if answer is not None:
            await websocket.send(json.dumps([answer[0], frame[1], *answer[1:]]))
        if frame[2] == until:
            return called


def test_an_invalid_answer_a_callerror_and_silence_are_each_said() -> None:
    """The invalid answer with the library's error and path, the CALLERROR with its code, the
    call unanswered with the timeout, the stop skipped when no transaction came; a boot again
    on the same connection is not called again (one script per connection)."""
    invalid = {
        "getVariableResult": [
            {
                "attributeStatus": "Maybe",
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
            }
        ]
    }
    answers = {
        "GetVariables": (3, invalid),
        "TriggerMessage": (4, "NotImplemented", "not in this build", {}),
        "RequestStartTransaction": (3, {"status": "Accepted"}),
    }
    with serving("--call-stations", "--call-timeout", "1") as server:

        async def station() -> list[str]:
            async with ws_connect(
                f"ws://127.0.0.1:{server.port}/RAW1", subprotocols=[Subprotocol("ocpp2.0.1")]
            ) as websocket:
                await websocket.send(RAW_BOOT)
                called = await answering(websocket, answers, "RequestStartTransaction")
                await asyncio.to_thread(server.until, ended("RAW1"))
                await websocket.send(RAW_BOOT.replace("b1", "b2"))
                assert json.loads(await websocket.recv())[:2] == [3, "b2"]
                with pytest.raises(TimeoutError):  # no second script
                    await asyncio.wait_for(websocket.recv(), 1.5)
                return called

        called = asyncio.run(station())
        lines = server.lines
    assert called == list(SCRIPTS["2.x"][:4])
    # the timeout the calls waited is the one announced
    assert " 1 s per call at most (" in line_of(lines, "calling each station")
    assert line_of(lines, "RAW1: called GetVariables").endswith(
        "warning RAW1: called GetVariables (OCPPCommCtrlr HeartbeatInterval): invalid answer: "
        "PropertyConstraintViolation $.getVariableResult[0].attributeStatus Invalid enum value "
        "'Maybe' at $.getVariableResult[0].attributeStatus\n"
    )
    assert line_of(lines, "RAW1: called TriggerMessage").endswith(
        ": CALLERROR NotImplemented: not in this build\n"
    )
    assert line_of(lines, "RAW1: called GetBaseReport").endswith(
        "warning RAW1: called GetBaseReport (ConfigurationInventory): no answer within 1 s\n"
    )
    assert re.search(
        r"info RAW1: skipped RequestStopTransaction: no TransactionEvent with remoteStartId \d+ "
        r"within 1 s$",
        line_of(lines, "RAW1: skipped"),
    )
    assert line_of(lines, "RAW1: calls done").endswith(
        "warning RAW1: calls done: 1 answered, 1 CALLERROR, 1 invalid answer, 1 unanswered, "
        "1 skipped\n"
    )


@pytest.mark.parametrize("leaving", ["GetVariables", "RequestStartTransaction"])
def test_a_station_leaving_stops_its_script(leaving: str) -> None:
    """Leaving during a call (it fails at once) or while the script waits for the remote
    start's transaction (cancelled as the station is seen off): one line says so, before the
    station's `disconnected` line, and the call after is never made."""
    answers = {
        "GetVariables": (4, "NotSupported", "", {}),
        "TriggerMessage": (3, {"status": "Rejected"}),
        "GetBaseReport": (3, {"status": "NotSupported"}),
        "RequestStartTransaction": (3, {"status": "Accepted"}),
    }
    if leaving == "GetVariables":
        del answers["GetVariables"]
    with serving("--call-stations") as server:

        async def station() -> list[str]:
            async with ws_connect(
                f"ws://127.0.0.1:{server.port}/RAW2", subprotocols=[Subprotocol("ocpp2.0.1")]
            ) as websocket:
                await websocket.send(RAW_BOOT)
                called = await answering(websocket, answers, leaving)
                if leaving == "RequestStartTransaction":  # leave once the script waits
                    await asyncio.to_thread(server.until, lambda line: f"called {leaving}" in line)
                return called

        called = asyncio.run(station())
        server.until(lambda line: "RAW2: disconnected" in line)
        lines = server.lines
    assert called[-1] == leaving
    stopped = line_of(lines, "RAW2: calls stopped")
    assert lines.index(stopped) < lines.index(line_of(lines, "RAW2: disconnected"))
    counted = "0 answered" if leaving == "GetVariables" else "3 answered, 1 CALLERROR"
    assert stopped.endswith(f"RAW2: calls stopped (closed by the station (1000)): {counted}\n")
    assert "called RequestStopTransaction" not in "".join(lines)


def test_without_the_flag_the_demo_calls_no_station() -> None:
    with serving() as server:

        async def station() -> None:
            async with ws_connect(
                f"ws://127.0.0.1:{server.port}/RAW3", subprotocols=[Subprotocol("ocpp2.0.1")]
            ) as websocket:
                await websocket.send(RAW_BOOT)
                assert json.loads(await websocket.recv())[0] == 3
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(websocket.recv(), 1.5)

        asyncio.run(station())
    assert "calling each station" not in "".join(server.lines)


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["app:App", "--call-stations"], "--call-stations is the demo's (no APP)"),
        (["--call-timeout", "5"], "--call-timeout needs --call-stations"),
        (["--call-stations", "--call-timeout", "0"], "0 is no timeout"),
        (["--call-stations", "--call-timeout", "inf"], "inf is no timeout"),
        (["--call-stations", "--nats", "nats://127.0.0.1:4222"], "not with --nats"),
    ],
)
def test_call_flags_out_of_place_are_usage_errors(
    flags: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", *flags])
    assert exited.value.code == 2
    assert said in capsys.readouterr().err


def test_a_fault_of_the_script_is_said_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """Not left to asyncio's "Task exception was never retrieved", nor summed up as done; and
    the station, left, gets no second line."""
    from ocpp_fast._demo_calls import CallingDemo, _Script
    from ocpp_fast.transport import serve

    class Broken(CallingDemo):
        async def _steps(self, script: _Script) -> None:
            raise RuntimeError("a bug of the script")

    async def run() -> None:
        server = await serve(Broken())
        try:
            url = f"ws://127.0.0.1:{server.port}/ocpp/CS009"
            station = await connect(Cooperative(), url, boot=BOOT)
            await station.booted()
            for _ in range(100):
                if any("calls failed" in r.getMessage() for r in caplog.records):
                    break
                await asyncio.sleep(0.02)
            await station.close()
        finally:
            await server.close()

    with caplog.at_level(logging.INFO, logger="ocpp_fast"):
        asyncio.run(run())
    said = [r for r in caplog.records if r.name == "ocpp_fast.demo"]
    assert [r.getMessage() for r in said] == ["CS009: calls failed"], said
    assert said[0].exc_info is not None and "a bug of the script" in str(said[0].exc_info[1])
