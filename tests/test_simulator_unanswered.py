"""The calls a run leaves unanswered, against real servers on 127.0.0.1 on both backends: a CSMS
whose handler never returns shows in ``report.unanswered`` (by action), in the table, in the
command's last progress line and its exit status, where it said ``errors 0`` and passed; calls
that time out stay errors; a stop lets the calls in flight be answered first. And the
reconnect back-off the simulator page describes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ocpp_fast import simulator
from ocpp_fast.cli import main
from ocpp_fast.simulator import SimulationReport, simulate
from ocpp_fast.transport import CsmsServer, serve
from ocpp_fast.v201 import ChargeSystem, datatypes, enums, messages

pytestmark = pytest.mark.usefixtures("backend")  # every test on both backends


class Hanging(ChargeSystem):
    """A CSMS that accepts every boot and answers the actions named in ``hangs`` never (their
    handler awaits forever), or after ``slow`` seconds; every other Heartbeat at once."""

    def __init__(self, hangs: frozenset[str] = frozenset(), slow: float = 0.0) -> None:
        super().__init__()
        self.hangs, self.slow = hangs, slow

    def boot_notification(
        self, request: messages.BootNotificationRequest
    ) -> messages.BootNotificationResponse:
        return messages.BootNotificationResponse(
            current_time=datetime.datetime.now(datetime.UTC),
            interval=300,
            status=enums.RegistrationStatusEnumType.ACCEPTED,
        )

    async def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        await self._answering("Heartbeat")
        return messages.HeartbeatResponse(current_time=datetime.datetime.now(datetime.UTC))

    async def transaction_event(
        self, request: messages.TransactionEventRequest
    ) -> messages.TransactionEventResponse:
        await self._answering("TransactionEvent")
        return messages.TransactionEventResponse()

    async def _answering(self, action: str) -> None:
        if action in self.hangs:
            await asyncio.Event().wait()
        await asyncio.sleep(self.slow)


async def _run(csms: Hanging, chargers: int, duration: float, **options: Any) -> SimulationReport:
    server = await serve(csms)
    try:
        url = f"ws://127.0.0.1:{server.port}/ocpp"
        return await simulate(url, chargers, duration, actions=["Heartbeat"], **options)
    finally:
        await server.close(0.1)  # the hung handlers: cancelled at once


def test_calls_a_hung_csms_never_answers_are_unanswered_and_fail_the_run() -> None:
    report = asyncio.run(_run(Hanging(frozenset({"Heartbeat"})), 3, 1.0, interval=0.2))
    assert report.unanswered == {"Heartbeat": 3}, report.table()  # one call each, hung
    assert report.errors == {} and not report.ok
    # the latencies are the answered calls' (the boots), none of the hung ones
    assert report.messages == 3 and len(report.latencies) == 3
    lines = report.table().splitlines()
    row = lines.index("unanswered at the end          3")
    assert lines[row + 1] == "  3  Heartbeat"
    assert lines[row + 2] == "not sent (queued at the end)   0"  # each one was on the wire
    assert lines[row + 3] == "still queued at the end        0"
    assert lines[row + 4] == "errors                         0"


def test_calls_that_time_out_during_the_run_stay_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulator, "CALL_TIMEOUT", 0.2)  # below the wind-down: none left
    report = asyncio.run(_run(Hanging(frozenset({"Heartbeat"})), 2, 1.0, interval=0.1))
    assert report.errors["Heartbeat: TimeoutError"] >= 2, report.table()
    assert set(report.errors) == {"Heartbeat: TimeoutError"}
    assert report.unanswered == {}, report.table()  # not counted twice


def test_a_call_after_an_answer_left_unanswered_is_counted() -> None:
    """The TransactionEvent a remote start makes the station send, after its answer, in a task
    of its own (not the station's): the end cuts it off and counts it too (it vanished, or
    ended as a ``ConnectionError`` once the station closed its client)."""

    async def main() -> SimulationReport:
        server = await serve(Hanging(frozenset({"TransactionEvent"})))
        started = asyncio.Event()

        async def start_remotely() -> None:
            while "SIM00000" not in server.connections:
                await asyncio.sleep(0.02)
            token = datatypes.IdTokenType(id_token="04A1", type=enums.IdTokenEnumType.ISO14443)
            request = messages.RequestStartTransactionRequest(id_token=token, remote_start_id=1)
            for _ in range(50):  # until the station's boot was accepted
                answer = await server.call("SIM00000", request, timeout=5)
                if answer.status == "Accepted":
                    started.set()
                    return
                await asyncio.sleep(0.02)

        try:
            starting = asyncio.create_task(start_remotely())
            url = f"ws://127.0.0.1:{server.port}/ocpp"
            report = await simulate(url, 1, 1.0, interval=0.1, actions=["Heartbeat"])
            await starting
        finally:
            await server.close(0.1)
        assert started.is_set()
        return report

    report = asyncio.run(main())
    # the station's next Heartbeat queued behind it (one CALL outstanding at a time) was never
    # sent: not sent, where it was counted unanswered with the TransactionEvent on the wire
    assert report.unanswered == {"TransactionEvent": 1}, report.table()
    assert report.not_sent == {"Heartbeat": 1}, report.table()
    assert report.errors == {} and not report.ok
    lines = report.table().splitlines()
    row = lines.index("not sent (queued at the end)   1")
    assert lines[row + 1] == "  1  Heartbeat"


def test_a_stop_lets_the_calls_in_flight_be_answered() -> None:
    """A slow CSMS (0.3 s an answer) stopped mid-run: its answers still on their way come
    within the wind-down, so none is unanswered and the run is ok (cut at the stop, each was)."""

    async def main() -> SimulationReport:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(1.0, stop.set)
        return await _run(Hanging(slow=0.3), 2, 60.0, interval=0.05, stop=stop)

    report = asyncio.run(main())
    assert report.stopped_early and report.messages > 2
    assert report.unanswered == {} and report.ok, report.table()


@contextlib.contextmanager
def _hanging_csms_in_a_thread() -> Iterator[int]:
    """A :class:`Hanging` CSMS whose Heartbeats hang, served by a loop of its own (the command
    runs its own); its port."""
    loop = asyncio.new_event_loop()
    ready: list[CsmsServer] = []
    served = threading.Event()

    async def run() -> None:
        ready.append(await serve(Hanging(frozenset({"Heartbeat"}))))
        served.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(run(), loop).result(10)
    try:
        assert served.wait(10)
        yield ready[0].port
    finally:
        asyncio.run_coroutine_threadsafe(ready[0].close(0.1), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_the_command_says_the_unanswered_calls_and_exits_1(
    backend: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # the progress line in place
    with _hanging_csms_in_a_thread() as port:
        url = f"ws://127.0.0.1:{port}/ocpp"
        arguments = ["--url", url, "--chargers", "2", "--duration", "0.5", "--interval", "0.1"]
        code = main(["simulate", *arguments, "--actions", "Heartbeat", "--backend", backend])
    out, err = capsys.readouterr()
    assert code == 1, out
    table = (
        "unanswered at the end          2\n  2  Heartbeat\n"
        "not sent (queued at the end)   0\nstill queued at the end        0\n"
        "errors                         0"
    )
    assert table in out
    last_progress = err.rstrip("\n").split("\r")[-1]  # the final report's
    assert last_progress.endswith("errors 0  unanswered 2"), err


def test_stations_reconnect_with_the_simulators_short_back_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The simulator page: a station that lost its CSMS tries again after 0.5 s doubling, plus
    up to 1 s at random (where ``connect()``'s default, OCPP's, waits 3 s doubling plus up to
    10 s): the first two waits its client logs are those."""
    waits: list[float] = []

    class Waits(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            wait = record.args[0] if isinstance(record.args, tuple) and record.args else None
            if "SIM00000: reconnecting in" in str(record.msg) and isinstance(wait, float):
                waits.append(wait)

    async def main() -> None:
        server = await serve(Hanging())
        stop = asyncio.Event()

        async def lose_the_csms() -> None:
            while "SIM00000" not in server.connections:
                await asyncio.sleep(0.02)
            await server.close(0.1)
            while len(waits) < 2:
                await asyncio.sleep(0.05)
            stop.set()

        losing = asyncio.create_task(lose_the_csms())
        url = f"ws://127.0.0.1:{server.port}/ocpp"
        await simulate(url, 1, 30.0, interval=0.1, actions=["Heartbeat"], stop=stop)
        await asyncio.wait_for(losing, 1)

    handler = Waits(logging.INFO)
    logger = logging.getLogger("ocpp_fast.transport")
    logger.addHandler(handler)
    caplog.set_level(logging.INFO, "ocpp_fast.transport")
    try:
        asyncio.run(main())
    finally:
        logger.removeHandler(handler)
    first, second = waits[:2]
    assert 0.5 <= first <= 1.5 and 1.0 <= second <= 2.0, waits
