"""The simulator against real servers on 127.0.0.1, on both backends: every version and a
mixed fleet running whole sessions, Basic auth, TLS, the live count of stations, the real
duration, and a run stopped early returning its partial report."""

from __future__ import annotations

import asyncio
import datetime
import logging
import math
import ssl
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_transport import Pki

from ocpp_fast import errors
from ocpp_fast.demo import DemoChargeSystem, DemoChargeSystem16, demo_handlers
from ocpp_fast.dispatch import OcppHandler
from ocpp_fast.simulator import FAILURES_SHOWN, STILL_CONNECTING, SimulationReport, simulate
from ocpp_fast.transport import Admission, CsmsServer, StationRequest, serve
from ocpp_fast.transport.client import CONNECTION_FAILED, StationClient
from ocpp_fast.v16 import enums as enums16
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v201 import datatypes, enums, messages

pytestmark = pytest.mark.usefixtures("backend")  # every test on both backends

NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)


class Counting:
    """The demo's handlers, counting the actions each answered, per version."""

    def __init__(self) -> None:
        self.actions: Counter[tuple[str, str]] = Counter()
        self.handlers: dict[str, OcppHandler] = {}
        for subprotocol, handler in demo_handlers().items():
            self.handlers[subprotocol] = self._counted(handler)

    def _counted(self, handler: OcppHandler) -> OcppHandler:
        actions, label, invoke = self.actions, handler.version.label, handler.invoke_handler

        def counted(route: Any, call: Any, identity: str, peer: Any) -> Any:
            actions[(label, call.action)] += 1
            return invoke(route, call, identity, peer)

        handler.invoke_handler = counted  # type: ignore[method-assign]
        return handler


def test_a_mixed_fleet_runs_whole_sessions_in_every_version() -> None:
    async def main() -> tuple[SimulationReport, Counter[tuple[str, str]]]:
        counting = Counting()
        server = await serve(counting.handlers)
        try:
            report = await simulate(
                f"ws://127.0.0.1:{server.port}/ocpp",
                12,
                2.5,
                interval=0.02,
                seed=5,
                versions=["1.6", "2.0.1", "2.1"],
                progress=lambda report, elapsed: seen.append(report.live),
            )
        finally:
            await server.close()
        return report, counting.actions

    seen: list[int] = []
    # a bound on a hang only: the run ends at 2.5 s and its calls get WIND_DOWN more
    report, actions = asyncio.run(asyncio.wait_for(main(), 30))
    assert report.errors == {}, report.errors
    assert report.connected == 12 and report.live == 12
    assert seen[-1] == 12  # the last progress line says what the report says
    with pytest.warns(DeprecationWarning):
        assert report.held == 12
    assert report.versions == {"1.6": 4, "2.0.1": 4, "2.1": 4}
    assert report.sessions > 0
    for label in ("2.0.1", "2.1"):
        for action in ("BootNotification", "Authorize", "TransactionEvent", "MeterValues"):
            assert actions[(label, action)] > 0, (label, action)
    for action in ("BootNotification", "Authorize", "StartTransaction", "MeterValues"):
        assert actions[("1.6", action)] > 0, action
    assert actions[("1.6", "StopTransaction")] > 0
    assert report.seconds >= 2.5  # its duration (a lower bound: a load only makes it later)
    assert not report.stopped_early


def test_basic_auth_and_tls_with_a_password(tmp_path: Path) -> None:
    """Security profile 2: TLS with the test CA, and the stations' password checked.

    Each run lasts until what it proves is seen, not a fixed time (on a loaded machine a
    second of traffic was once 7 messages): the good fleet until every station is connected
    and more than 10 calls were answered, the refused ones until their stations gave up."""

    def authorize(station: StationRequest) -> Admission:
        ok = station.password == "s3cret-password!"
        return Admission.ACCEPT if ok else Admission.UNAUTHORIZED

    async def main(pki: Pki) -> tuple[SimulationReport, SimulationReport, SimulationReport]:
        server = await serve(
            demo_handlers(),
            authorize=authorize,
            security_profile=2,
            ssl=pki.server_context(mutual=False),
        )
        url = f"wss://127.0.0.1:{server.port}/ocpp"
        client_context = ssl.create_default_context(cafile=str(pki.ca))
        try:
            seen = asyncio.Event()

            def progress(report: SimulationReport, elapsed: float) -> None:
                if report.live == 4 and report.messages > 10:
                    seen.set()

            good = await simulate(
                url,
                4,
                60.0,  # the most it may take: it ends once `seen`
                interval=0.05,
                versions=["1.6", "2.0.1"],
                password="s3cret-password!",
                ssl=client_context,
                progress=progress,
                stop=seen,
            )
            # a run ends as soon as every station gave up connecting
            bad = await simulate(
                url, 2, 60.0, versions="1.6", password="wrong-password!!", ssl=client_context
            )
            untrusted = await simulate(url, 2, 60.0, ssl=ssl.create_default_context())
        finally:
            await server.close()
        return good, bad, untrusted

    good, bad, untrusted = asyncio.run(main(Pki(tmp_path)))
    assert good.stopped_early, "the stations did not get through within 60 s"
    assert good.errors == {} and good.connected == 4 and good.messages > 10
    assert bad.connected == 0
    assert bad.errors == {"connect: HTTP 401 Unauthorized (unauthorized)": 2}, bad.errors
    assert untrusted.connected == 0 and len(untrusted.errors) == 1, untrusted.errors
    assert next(iter(untrusted.errors)).startswith("connect: TLS: certificate verify failed")


def test_a_mixed_fleet_on_several_urls_puts_every_version_on_every_url() -> None:
    """Two versions on two gateways: station ``i`` took URL ``i % 2`` and version ``i % 2``,
    so each gateway got one version only (all 1.6 stations on the first). Now the ``k``-th
    station of each version takes URL ``k % 2``."""

    async def main() -> list[set[str]]:
        servers = [await serve(demo_handlers()) for _ in range(2)]
        seen: list[set[str]] = [set(), set()]

        def versions_of(server: CsmsServer, versions: set[str]) -> Callable[[str], None]:
            def told(identity: str) -> None:
                versions.update(c.version.label for c in server.connections.values())

            return told

        for server, versions in zip(servers, seen, strict=True):
            server.on_station.append(versions_of(server, versions))
        urls = [f"ws://127.0.0.1:{server.port}/ocpp" for server in servers]
        try:
            await simulate(urls, 4, 0.3, versions=["1.6", "2.0.1"], actions="core")
        finally:
            for server in servers:
                await server.close()
        return seen

    assert asyncio.run(main()) == [{"1.6", "2.0.1"}, {"1.6", "2.0.1"}]


def test_a_gateway_down_at_the_start_sends_its_stations_to_the_others() -> None:
    """``--url A B`` with A down when the run starts (a gateway restarting): the stations of A
    failed to connect and stayed out of the run (3 of 6 connected, `connect: connection
    refused`), though B answered. They fail over to B at once."""
    import socket

    async def main() -> SimulationReport:
        server = await serve(demo_handlers())
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            down = f"ws://127.0.0.1:{probe.getsockname()[1]}/ocpp"
        try:
            return await simulate(
                [down, f"ws://127.0.0.1:{server.port}/ocpp"], 4, 0.5, actions="core"
            )
        finally:
            await server.close()

    report = asyncio.run(main())
    assert (report.connected, report.errors) == (4, Counter()), report.errors


def test_stations_that_could_not_connect_are_counted_by_cause() -> None:
    """Unknown stations (404), a version the CSMS does not serve, a port nobody listens on:
    each cause on a line of its own in the report and its table, with how many stations."""

    def authorize(station: StationRequest) -> Admission:
        return (
            Admission.UNKNOWN if station.identity in ("SIM00000", "SIM00002") else Admission.ACCEPT
        )

    async def main() -> tuple[SimulationReport, SimulationReport]:
        server = await serve(demo_handlers()["ocpp1.6"], authorize=authorize)
        url = f"ws://127.0.0.1:{server.port}/ocpp"
        try:
            # stations 0 and 2 speak 1.6 but are unknown; 1, 3 and 5 speak 2.0.1; 4 gets in
            mixed = await simulate(url, 6, 0.5, versions=["1.6", "2.0.1"])
        finally:
            await server.close()
        nobody = await simulate(url, 2, 0.3)  # the CSMS is gone
        return mixed, nobody

    async def silent() -> SimulationReport:
        """A port that accepts TCP and never answers: stations still connecting at the end."""
        listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        try:
            return await simulate(f"ws://127.0.0.1:{port}/ocpp", 2, 0.1, stop=stop_soon())
        finally:
            listener.close()

    def stop_soon() -> asyncio.Event:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.5, stop.set)  # not the 2 s wind-down
        return stop

    mixed, nobody = asyncio.run(main())
    assert mixed.connected == 1
    assert mixed.errors == {
        "connect: HTTP 404 Not Found (unknown station)": 2,
        "connect: no common OCPP version: the CSMS accepted none of ocpp2.0.1": 3,
    }, mixed.errors
    table = mixed.table().splitlines()
    assert table[0].split() == ["stations", "connected", "1", "/", "6"]
    assert table[1].split() == ["fleet", "by", "version", "1.6:", "3,", "2.0.1:", "3"]
    assert table[-3].split() == ["errors", "5"]
    assert table[-2] == "  3  connect: no common OCPP version: the CSMS accepted none of ocpp2.0.1"
    assert table[-1] == "  2  connect: HTTP 404 Not Found (unknown station)"
    assert nobody.errors == {"connect: connection refused": 2}, nobody.errors
    unanswered = asyncio.run(silent())
    assert unanswered.errors == {f"connect: {STILL_CONNECTING}": 2}, unanswered.errors


def test_the_live_count_shows_a_lost_csms_and_a_stop_returns_the_partial_report() -> None:
    async def main() -> tuple[SimulationReport, list[int], float]:
        server = await serve(demo_handlers())
        seen: list[int] = []
        stop = asyncio.Event()

        def progress(report: SimulationReport, elapsed: float) -> None:
            seen.append(report.live)

        async def lose_the_csms_then_stop() -> None:
            while not seen or seen[-1] < 6:
                await asyncio.sleep(0.05)
            await server.close(1)
            while seen[-1] != 0:
                await asyncio.sleep(0.05)
            stop.set()

        started = time.monotonic()
        stopper = asyncio.create_task(lose_the_csms_then_stop())
        report = await simulate(
            f"ws://127.0.0.1:{server.port}/ocpp",
            6,
            60.0,
            interval=0.05,
            versions=["2.1", "1.6"],
            progress=progress,
            stop=stop,
        )
        await stopper
        return report, seen, time.monotonic() - started

    report, seen, took = asyncio.run(main())
    assert 6 in seen and seen[-1] == 0
    assert report.stopped_early and report.connected == 6 and report.live == 0
    assert report.messages > 0
    # the time it ran until the stop (inside the test's own), not the planned 60 s
    assert 0 < report.seconds <= took and report.seconds < 60
    assert "(stopped early)" in report.table()


def test_a_run_without_end_stopped_does_not_say_it_stopped_early() -> None:
    """``simulate --duration inf`` ended by Ctrl-C said ``(stopped early)``: there is no end
    to stop early from. A run of a finite duration stopped still says it."""

    async def main() -> tuple[SimulationReport, SimulationReport]:
        server = await serve(DemoChargeSystem())
        url = f"ws://127.0.0.1:{server.port}/ocpp"
        reports = []
        try:
            for duration in (math.inf, 60.0):
                stop = asyncio.Event()
                asyncio.get_running_loop().call_later(0.5, stop.set)
                reports.append(await simulate(url, 1, duration, stop=stop))
        finally:
            await server.close()
        return reports[0], reports[1]

    endless, finite = asyncio.run(main())
    assert endless.stopped_early and endless.duration == math.inf
    duration_line = [line for line in endless.table().splitlines() if "duration" in line]
    assert "(until stopped: no end was set)" in duration_line[0], duration_line
    assert "early" not in endless.table()
    assert "(stopped early)" in finite.table()


def test_a_stop_ends_a_station_whose_cancel_was_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python 3.11's ``asyncio.wait_for`` returns an answer that came as its task was
    cancelled, and drops the cancel: a station waiting for an answer when the run was stopped
    then ran on to the planned end (CI: a stopped 60 s run never returned within 20 s). Here
    every call loses its cancel so, as the race does now and then: the stop still ends the
    run at once."""
    real_call = StationClient.call

    async def losing_cancels(self: StationClient, request: Any, timeout: float = 30.0) -> Any:
        try:
            await asyncio.sleep(0.2)  # a slow answer: the stop comes during a call
            return await real_call(self, request, timeout)
        except asyncio.CancelledError:
            return None  # as wait_for in 3.11 when the answer came with the cancel

    monkeypatch.setattr(StationClient, "call", losing_cancels)

    async def main() -> float:
        server = await serve(demo_handlers())
        stop = asyncio.Event()
        try:
            running = asyncio.create_task(
                simulate(f"ws://127.0.0.1:{server.port}/ocpp", 3, 60.0, interval=0.01, stop=stop)
            )
            await asyncio.sleep(1.0)
            stop.set()
            stopped = time.monotonic()
            report = await asyncio.wait_for(running, 30)
            assert report.stopped_early and report.messages > 0, report.table()
            return time.monotonic() - stopped
        finally:
            await server.close()

    # the stop ended it, within wait_for's 30 s, not at the planned end (60 s)
    print(f"\nended {asyncio.run(main()):.2f} s after the stop")


def test_a_rejected_boot_is_an_error_of_the_run() -> None:
    """A CSMS that answers every call but rejects the stations' boots: each rejection is in
    the errors, by action and status, and the run is not ok (the command exits 1)."""

    class Rejecting(DemoChargeSystem):
        def boot_notification(
            self, request: messages.BootNotificationRequest
        ) -> messages.BootNotificationResponse:
            return messages.BootNotificationResponse(
                current_time=NOW, interval=60, status=enums.RegistrationStatusEnumType.REJECTED
            )

    class Rejecting16(DemoChargeSystem16):
        def boot_notification(
            self, request: messages16.BootNotificationRequest
        ) -> messages16.BootNotificationResponse:
            return messages16.BootNotificationResponse(
                current_time=NOW,
                interval=60,
                status=enums16.BootNotificationResponseStatusEnum.REJECTED,
            )

    async def main() -> SimulationReport:
        server = await serve({"ocpp2.0.1": Rejecting(), "ocpp1.6": Rejecting16()})
        try:  # actions: the boot only, so the errors count the rejections and nothing else
            return await simulate(
                f"ws://127.0.0.1:{server.port}/ocpp",
                4,
                0.3,
                versions=["1.6", "2.0.1"],
                actions=["BootNotification"],
            )
        finally:
            await server.close()

    report = asyncio.run(main())
    assert report.connected == 4
    assert report.errors["BootNotification: Rejected"] >= 4, report.errors
    assert set(report.errors) == {"BootNotification: Rejected"}
    assert not report.ok


class BootGate:
    """A CSMS's bookkeeping: each station's first boot Rejected (boot again in 1 s), the second
    held until :attr:`may_accept` is set, then Accepted; every other request recorded in
    :attr:`early` when it comes before that, counted in :attr:`later` after."""

    def __init__(self) -> None:
        self.boots = 0
        self.accepted = False
        self.may_accept = asyncio.Event()
        self.early: list[str] = []
        self.later = 0

    async def boot(self) -> bool:
        self.boots += 1
        if self.boots == 1:
            return False
        await self.may_accept.wait()
        self.accepted = True
        return True

    def watch(self, handler: OcppHandler) -> OcppHandler:
        invoke = handler.invoke_handler

        def watched(route: Any, call: Any, identity: str, peer: Any) -> Any:
            if call.action != "BootNotification":
                if self.accepted:
                    self.later += 1
                else:
                    self.early.append(call.action)
            return invoke(route, call, identity, peer)

        handler.invoke_handler = watched  # type: ignore[method-assign]
        return handler


class RejectingOnce(DemoChargeSystem):
    def __init__(self, gate: BootGate) -> None:
        self.gate = gate

    async def boot_notification(
        self, request: messages.BootNotificationRequest
    ) -> messages.BootNotificationResponse:
        accepted = await self.gate.boot()
        status = enums.RegistrationStatusEnumType
        return messages.BootNotificationResponse(
            current_time=NOW,
            interval=300 if accepted else 1,
            status=status.ACCEPTED if accepted else status.REJECTED,
        )


class RejectingOnce16(DemoChargeSystem16):
    def __init__(self, gate: BootGate) -> None:
        super().__init__()
        self.gate = gate

    async def boot_notification(
        self, request: messages16.BootNotificationRequest
    ) -> messages16.BootNotificationResponse:
        accepted = await self.gate.boot()
        status = enums16.BootNotificationResponseStatusEnum
        return messages16.BootNotificationResponse(
            current_time=NOW,
            interval=300 if accepted else 1,
            status=status.ACCEPTED if accepted else status.REJECTED,
        )


def remote_start(label: str) -> Any:
    if label == "1.6":
        return messages16.RemoteStartTransactionRequest(id_tag="TAG")
    token = datatypes.IdTokenType(id_token="TAG", type=enums.IdTokenEnumType.ISO14443)
    return messages.RequestStartTransactionRequest(id_token=token, remote_start_id=1)


async def until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("label", ["1.6", "2.0.1"])
def test_a_rejected_station_boots_again_after_the_interval_and_then_works(label: str) -> None:
    """Rejected, the station sends nothing else, answers nothing (a remote start neither, in
    every version), boots again after the CSMS's interval; accepted, it runs its traffic
    and takes a remote start. The rejection is an error of the run, as before."""

    async def main() -> tuple[BootGate, str, str, SimulationReport]:
        gate = BootGate()
        csms = RejectingOnce16(gate) if label == "1.6" else RejectingOnce(gate)
        server = await serve(gate.watch(csms))
        url = f"ws://127.0.0.1:{server.port}/ocpp"
        try:
            running = asyncio.create_task(
                simulate(url, 1, 3.0, interval=0.05, versions=label, actions="core")
            )
            await asyncio.wait_for(until(lambda: gate.boots == 2), 10)  # its answer held
            try:
                answer = await server.call("SIM00000", remote_start(label), timeout=0.5)
                before = str(answer.status)
            except TimeoutError:
                before = "no answer"
            except errors.OcppError as exc:
                before = exc.code
            gate.may_accept.set()
            await asyncio.wait_for(until(lambda: gate.later > 0), 10)
            after = await server.call("SIM00000", remote_start(label), timeout=5)
            report = await asyncio.wait_for(running, 20)
        finally:
            await server.close()
        return gate, before, str(after.status), report

    gate, before, after, report = asyncio.run(main())
    assert gate.early == []  # nothing but the boot until it was accepted
    assert (before, after) == ("no answer", "Accepted")
    assert report.errors == Counter({"BootNotification: Rejected": 1})
    assert report.connected == 1 and report.messages > 2  # two boots and traffic
    assert "BootNotification: Rejected" in report.table()


class Registrar:
    """Demo handlers that accept every boot and record each other request as early (before
    the station's first boot to this server) or later."""

    def __init__(self) -> None:
        self.boots = 0
        self.early: list[str] = []
        self.later = 0
        self.handler = self._watched(DemoChargeSystem())

    def _watched(self, handler: OcppHandler) -> OcppHandler:
        invoke = handler.invoke_handler

        def watched(route: Any, call: Any, identity: str, peer: Any) -> Any:
            if call.action == "BootNotification":
                self.boots += 1
            elif self.boots:
                self.later += 1
            else:
                self.early.append(call.action)
            return invoke(route, call, identity, peer)

        handler.invoke_handler = watched  # type: ignore[method-assign]
        return handler


def test_a_station_boots_again_on_a_new_connection_before_anything_else() -> None:
    """The CSMS restarts mid-run: the station's first message to the new one is its boot."""

    async def main() -> tuple[Registrar, Registrar, SimulationReport]:
        first, second = Registrar(), Registrar()
        server = await serve(first.handler)
        port = server.port
        url = f"ws://127.0.0.1:{port}/ocpp"
        running = asyncio.create_task(simulate(url, 1, 3.0, interval=0.05, actions="core"))
        try:
            await asyncio.wait_for(until(lambda: first.later > 0), 10)
            await server.close()
            server = await serve(second.handler, port=port)
            await asyncio.wait_for(until(lambda: second.later > 0), 10)
            report = await asyncio.wait_for(running, 20)
        finally:
            await server.close()
        return first, second, report

    first, second, report = asyncio.run(main())
    assert first.boots == 1 and first.early == []
    assert second.boots >= 1 and second.early == []  # booted again before its traffic
    assert report.live == 1


def test_a_fleets_failed_reconnects_are_summarized_not_logged_one_by_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A CSMS gone: every station logged ``connection failed`` at each reconnect, thousands of
    WARNINGs for a fleet. The first FAILURES_SHOWN of a cause are let through, the others
    counted in one line; the report counts them all."""

    async def main() -> SimulationReport:
        server = await serve(demo_handlers())
        seen: list[int] = []

        async def lose_the_csms() -> None:
            while not seen or seen[-1] < 20:
                await asyncio.sleep(0.05)
            await server.close(0)

        closer = asyncio.create_task(lose_the_csms())
        report = await simulate(
            f"ws://127.0.0.1:{server.port}/ocpp",
            20,
            4.0,
            interval=0.2,
            progress=lambda report, elapsed: seen.append(report.live),
        )
        await closer
        return report

    with caplog.at_level(logging.WARNING, logger="ocpp_fast"):
        report = asyncio.run(main())
    transport = [r for r in caplog.records if r.name == "ocpp_fast.transport"]
    failed = [r for r in transport if r.msg.endswith(CONNECTION_FAILED)]
    summaries = [r for r in transport if "suppressed" in r.getMessage()]
    assert report.connections_lost == 20 and report.not_back == 20 and not report.ok
    assert report.reconnects_failed > FAILURES_SHOWN, report.table()
    assert 0 < len(failed) <= FAILURES_SHOWN, [r.getMessage() for r in failed]
    held_back = sum(r.__dict__["suppressed"] for r in summaries)
    assert summaries[-1].getMessage().startswith(f"{held_back} more connection failed (")
    assert len(failed) + held_back == report.reconnects_failed
    assert logging.getLogger("ocpp_fast.transport").filters == []  # the run's filter is gone
