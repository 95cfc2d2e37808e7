"""What simulated stations send, and what a CI run counts as failed: a CSMS that handles only
the core actions (tests/core_csms.py) answers the others NotSupported, which OCPP allows, so
they are listed apart and the run passes; ``actions=`` / ``--actions`` keeps the stations to
the core; a core action answered NotSupported fails the run. Passwords per station, from a
mapping or ``--password-file``. The command's exit codes and its progress lines in a CI log."""

from __future__ import annotations

import argparse
import asyncio
import collections
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from core_csms import Core16, Core201, Core201WithoutStatus
from serve_proc import serving

from ocpp_fast._cli_types import seconds_above_0
from ocpp_fast.cli import main
from ocpp_fast.demo import DemoChargeSystem, DemoChargeSystem16, demo_handlers
from ocpp_fast.dispatch import CallContext, OcppHandler
from ocpp_fast.simulator import (
    CORE_ACTIONS,
    SimulationReport,
    check_passwords,
    chosen_actions,
    read_password_file,
    simulate,
)
from ocpp_fast.transport import Admission, StationRequest, serve
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v201 import messages

OPTIONAL = {"DataTransfer", "SecurityEventNotification", "NotifyReport"}
OPTIONAL_16 = {"DataTransfer", "SecurityEventNotification", "DiagnosticsStatusNotification"}


def run_against(
    handlers: dict[str, OcppHandler],
    actions: str = "all",
    chargers: int = 6,
    versions: tuple[str, ...] = ("1.6", "2.0.1"),
) -> SimulationReport:
    async def main() -> SimulationReport:
        server = await serve(handlers)
        try:
            return await simulate(
                f"ws://127.0.0.1:{server.port}/ocpp",
                chargers,
                2.0,
                interval=0.01,
                seed=7,
                versions=versions,
                actions=actions,
            )
        finally:
            await server.close()

    return asyncio.run(main())


def test_notsupported_of_optional_actions_is_listed_apart_and_no_failure() -> None:
    report = run_against({"ocpp2.0.1": Core201(), "ocpp1.6": Core16()})
    assert report.errors == {}, report.errors
    assert report.ok and report.connected == 6
    assert report.not_supported, "no optional action was sent"
    assert set(report.not_supported) <= OPTIONAL | OPTIONAL_16, report.not_supported
    table = report.table()
    assert f"answered NotSupported          {sum(report.not_supported.values())} (not errors)" in (
        table
    )
    assert table.splitlines()[-1].split() == ["errors", "0"]


def test_core_actions_only_sends_nothing_else() -> None:
    core201, core16 = Core201(), Core16()
    report = run_against({"ocpp2.0.1": core201, "ocpp1.6": core16}, actions="core")
    assert report.errors == {} and report.not_supported == {}, report
    assert report.messages > 300  # of which about 3 % would be optional in the whole mix
    assert set(core201.answered) == CORE_ACTIONS  # each of them, nothing else
    assert {"StartTransaction", "StopTransaction", "MeterValues"} <= set(core16.answered)


def test_a_core_action_answered_notsupported_fails_the_run_named_by_action() -> None:
    report = run_against(
        {"ocpp2.0.1": Core201WithoutStatus()}, actions="core", chargers=2, versions=("2.0.1",)
    )
    assert not report.ok
    assert set(report.errors) == {"StatusNotification: NotSupported"}, report.errors
    assert report.table().splitlines()[-1].endswith("StatusNotification: NotSupported")


def test_named_actions_without_boot_boot_once_per_connection() -> None:
    """A station boots when it connects whatever the choice, but a BootNotification mid-run is
    part of the mix only when chosen (the presets choose it): named without it, the others keep
    their shares among themselves, as the docs say. The mix had it always, so a station reported
    a PowerUp boot in the middle of its transaction with no way to turn it off."""
    core201, core16 = Core201(), Core16()
    actions = "Heartbeat,StatusNotification,TransactionEvent"
    report = run_against({"ocpp2.0.1": core201, "ocpp1.6": core16}, actions=actions)
    assert report.ok and report.messages > 300, report.table()
    assert core201.answered["BootNotification"] == 3, core201.answered  # one per station
    assert core16.answered["BootNotification"] == 3, core16.answered
    assert core201.answered["Heartbeat"] and core201.answered["TransactionEvent"]


Events = collections.defaultdict[str, list[tuple[str, ...]]]
"""Per station, its boots and its transactions' events, in order."""


class Restarts201(DemoChargeSystem):
    """The demo, noting per station its boots and its transactions' events."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: Events = collections.defaultdict(list)

    def boot_notification(
        self, request: messages.BootNotificationRequest, context: CallContext
    ) -> messages.BootNotificationResponse:
        self.seen[context.identity].append(("boot",))
        return self.default_boot_notification(request)

    def transaction_event(
        self, request: messages.TransactionEventRequest, context: CallContext
    ) -> messages.TransactionEventResponse:
        info = request.transaction_info
        event = (str(request.event_type), str(request.trigger_reason), str(info.stopped_reason))
        self.seen[context.identity].append(event)
        return self.default_transaction_event(request)


class Restarts16(DemoChargeSystem16):
    """The same in 1.6: StartTransaction and StopTransaction are the transaction's events."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: Events = collections.defaultdict(list)

    def boot_notification(
        self, request: messages16.BootNotificationRequest, context: CallContext
    ) -> messages16.BootNotificationResponse:
        self.seen[context.identity].append(("boot",))
        return self.default_boot_notification(request)

    def start_transaction(
        self, request: messages16.StartTransactionRequest, context: CallContext
    ) -> messages16.StartTransactionResponse:
        self.seen[context.identity].append(("Started",))
        return self.default_start_transaction(request)

    def stop_transaction(
        self, request: messages16.StopTransactionRequest, context: CallContext
    ) -> messages16.StopTransactionResponse:
        self.seen[context.identity].append(("Ended", str(request.reason)))
        return self.default_stop_transaction(request)


def restarts_mid_transaction(seen: Events) -> list[tuple[str, ...]]:
    """For each boot after a station's first (a restart in the mix) while one of its
    transactions was open, the transaction event that came next."""
    after = []
    for events in seen.values():
        open_, booted = False, False
        for number, event in enumerate(events):
            if event[0] == "boot":
                if booted and open_ and number + 1 < len(events):
                    after.append(events[number + 1])
                booted = True
            elif event[0] == "Started":
                open_ = True
            elif event[0] == "Ended":
                open_ = False
    return after


def test_a_restart_mid_run_ends_the_transaction_the_power_cut() -> None:
    """A BootNotification PowerUp mid-run is a station that lost power: once booted it ends
    the transaction that was running (2.x: Ended, trigger AbnormalCondition, stopped reason
    PowerLoss; 1.6: StopTransaction reason PowerLoss), where it went on with it as if nothing
    had happened (its next event an Updated of the same transaction)."""
    csms201, csms16 = Restarts201(), Restarts16()
    report = run_against({"ocpp2.0.1": csms201, "ocpp1.6": csms16}, chargers=8)
    assert report.connected == 8 and not report.errors, report.table()
    after201 = restarts_mid_transaction(csms201.seen)
    after16 = restarts_mid_transaction(csms16.seen)
    assert after201 and after16, (csms201.seen, csms16.seen)  # the mix restarted some
    assert set(after201) == {("Ended", "AbnormalCondition", "PowerLoss")}, after201
    assert set(after16) == {("Ended", "PowerLoss")}, after16


def test_actions_are_presets_names_or_both() -> None:
    assert chosen_actions("all") == chosen_actions(["core", *sorted(OPTIONAL)])
    assert chosen_actions("Heartbeat") == {"BootNotification", "Heartbeat"}  # a station boots
    assert chosen_actions("core,DataTransfer") == chosen_actions("core") | {"DataTransfer"}
    assert chosen_actions(["StopTransaction", "DiagnosticsStatusNotification"]) == {
        "BootNotification",
        "TransactionEvent",
        "NotifyReport",
    }
    with pytest.raises(ValueError, match="not Reset"):
        chosen_actions("core,Reset")
    with pytest.raises(ValueError):
        chosen_actions("")


def test_each_station_logs_in_with_its_own_password(tmp_path: Path) -> None:
    passwords = {f"SIM{n:05d}": f"password-of-station-{n}" for n in range(10, 13)}

    def authorize(station: StationRequest) -> Admission:
        ok = station.password == passwords.get(station.identity)
        return Admission.ACCEPT if ok else Admission.UNAUTHORIZED

    async def main() -> SimulationReport:
        server = await serve(demo_handlers(), authorize=authorize, security_profile=1)
        try:
            url = f"ws://127.0.0.1:{server.port}/ocpp"
            with pytest.raises(ValueError, match="no password for SIM00013"):
                await simulate(url, 4, 0.5, first_station=10, password=passwords)
            return await simulate(url, 3, 0.5, first_station=10, password=passwords)
        finally:
            await server.close()

    report = asyncio.run(main())
    assert report.ok and report.errors == {}, report.errors
    listed = tmp_path / "passwords.txt"
    listed.write_text(
        "# identity password\n\n"
        + "".join(f"{identity}  {password} \n" for identity, password in passwords.items())
    )
    assert read_password_file(listed) == passwords
    check_passwords(read_password_file(listed), 3, 10)
    listed.write_text("SIM00010\n")
    with pytest.raises(ValueError, match=r"passwords\.txt:1: expected IDENTITY PASSWORD"):
        read_password_file(listed)


@pytest.fixture
def core_csms() -> Iterator[int]:
    """``ocpp-fast serve core_csms:app`` (2.0.1 and 1.6, core actions only); its port."""
    with serving("core_csms:app", "--quiet", "--app-dir", str(Path(__file__).parent)) as server:
        assert "core_csms:app on" in server.line()
        yield server.port


def test_the_command_passes_a_core_csms_and_says_so_in_plain_lines(
    core_csms: int, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"ws://127.0.0.1:{core_csms}/ocpp"
    common = ["simulate", "--url", url, "--chargers", "4", "--interval", "0.01", "--seed", "3"]
    assert main([*common, "--duration", "1.5", "--version", "1.6", "2.0.1"]) == 0
    out, err = capsys.readouterr()
    assert "errors                         0" in out and "answered NotSupported" in out
    assert "\r" not in err and err.startswith("    1 s  stations")  # not a terminal
    assert main([*common, "--duration", "0.5", "--actions", "core"]) == 0
    out, _ = capsys.readouterr()
    assert "answered NotSupported          0 (not errors)" in out


def test_the_command_refuses_wrong_actions_and_passwords_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = ["--url", "ws://127.0.0.1:9/ocpp"]  # never reached
    with pytest.raises(SystemExit) as exited:
        main(["simulate", *url, "--actions", "core", "Reset"])
    assert exited.value.code == 2
    assert "not Reset" in capsys.readouterr().err
    listed = tmp_path / "passwords.txt"
    listed.write_text("SIM00000 first-station-password\n")
    with pytest.raises(SystemExit) as exited:
        main(["simulate", *url, "--chargers", "2", "--password-file", str(listed)])
    assert exited.value.code == 2
    assert "no password for SIM00001 (the stations are SIM00000 to SIM00001)" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--url", "127.0.0.1:9/ocpp"], "--url: 127.0.0.1:9/ocpp is no ws:// or wss:// URL"),
        (["--url", "ws://127.0.0.1:9", "http://127.0.0.1:9"], "--url: http://127.0.0.1:9 is no"),
        (["--url", "ws://127.0.0.1:9", "--chargers", "0"], "--chargers: 0 is not 1 or more"),
        (["--url", "ws://127.0.0.1:9", "--duration", "-1"], "--duration: -1 is no number of sec"),
        (["--url", "ws://127.0.0.1:9", "--duration", "nan"], "--duration: nan is no number of"),
        (["--url", "ws://127.0.0.1:9", "--interval", "0"], "--interval: 0 is no number of sec"),
        (["--url", "ws://127.0.0.1:9", "--first-station", "-2"], "--first-station: -2 is not 0"),
    ],
)
def test_the_command_refuses_a_fleet_that_tests_nothing_before_starting(
    flags: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A URL without a WebSocket scheme, no stations, no time: a usage error (2) said once,
    not a station-by-station connect failure, nor a CI job passing with nothing sent. Worded
    and checked as serve's numbers are, by the flag's type (``argument --chargers: ...``)."""
    with pytest.raises(SystemExit) as exited:
        main(["simulate", *flags])
    assert exited.value.code == 2
    *usage, error = capsys.readouterr().err.splitlines()
    assert usage[0].startswith("usage: ocpp-fast simulate ")
    assert error.startswith("ocpp-fast simulate: error: argument ") and said in error, error


def test_a_fleet_may_run_until_it_is_stopped() -> None:
    """``--duration inf``: a soak run until Ctrl-C or SIGTERM, which the check of "above 0"
    keeps accepting (NaN, which compares false with everything, it refuses)."""
    assert seconds_above_0("inf") == math.inf
    with pytest.raises(argparse.ArgumentTypeError):
        seconds_above_0("nan")
