"""TriggerMessage to a simulated station, from a real CSMS (the library's own, over real sockets,
on both backends): Accepted and the message sent after the answer for what the station sends
(BootNotification, Heartbeat, StatusNotification, MeterValues; 2.x TransactionEvent and
LogStatusNotification, FirmwareStatusNotification, 1.6 DiagnosticsStatusNotification), of the
EVSE or connector asked for where the message is of one (ignored elsewhere); Rejected for
another EVSE or connector, a 2.x boot once registered, a TransactionEvent with no transaction;
NotImplemented for the rest. Alone (``connect()``) and inside a ``simulate()`` run, whose
report counts the triggered messages. A boot triggered while Pending ends the wait for the next
boot; while Rejected, a station of any version answers nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest
from test_simulator_remote import LABELS, Seen, boot_of, start_of, station_of

from ocpp_fast import errors
from ocpp_fast.demo import DemoChargeSystem, DemoChargeSystem16, DemoChargeSystem21
from ocpp_fast.simulator import simulate
from ocpp_fast.transport import StationClient, connect, serve
from ocpp_fast.v16 import enums as enums16
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v21 import datatypes as datatypes21
from ocpp_fast.v21 import enums as enums21
from ocpp_fast.v21 import messages as messages21
from ocpp_fast.v201 import datatypes, enums, messages

pytestmark = pytest.mark.usefixtures("backend")  # every test on both backends


def trigger_of(
    label: str, message: str, evse: int | None = None, connector: int | None = None
) -> Any:
    """A TriggerMessage of ``message`` (1.6: ``connector`` is its connectorId; 2.x: ``evse`` and
    ``connector`` its EVSEType)."""
    if label == "1.6":
        given = msgspec.UNSET if connector is None else connector
        requested = enums16.RequestedMessageEnum(message)
        return messages16.TriggerMessageRequest(requested_message=requested, connector_id=given)
    types, module = (datatypes21, messages21) if label == "2.1" else (datatypes, messages)
    where: Any = msgspec.UNSET
    if evse is not None:
        where = types.EVSEType(
            id=evse, connector_id=msgspec.UNSET if connector is None else connector
        )
    return module.TriggerMessageRequest(requested_message=message, evse=where)


def kind_of(label: str, action: str) -> type:
    module: Any = messages16 if label == "1.6" else messages21 if label == "2.1" else messages
    kind: type = getattr(module, f"{action}Request")
    return kind


async def triggered(server: Any, seen: Seen, label: str, message: str, **where: Any) -> str:
    """Trigger ``message``; its status, once the message an Accepted one asks for came."""
    module: Any = messages16 if label == "1.6" else messages21 if label == "2.1" else messages
    kind = getattr(module, f"{message}Request", None)  # (the certificates' have other names)
    before = 0 if kind is None else len(seen.of(kind))
    answer = await server.call("CS001", trigger_of(label, message, **where), timeout=5)
    if str(answer.status) == "Accepted":
        assert kind is not None
        await asyncio.wait_for(seen.until(kind, before + 1), 10)
    return str(answer.status)


@pytest.mark.parametrize("label", ["2.0.1", "2.1"])
def test_a_2x_station_sends_what_is_triggered_of_its_evse(label: str) -> None:
    async def main() -> tuple[list[str], Seen]:
        seen = Seen(label)
        server = await serve(seen.handler)
        url = f"ws://127.0.0.1:{server.port}/ocpp/CS001"
        station = await connect(station_of(label), url, boot=boot_of(label))
        try:
            await station.booted()
            said = [
                await triggered(server, seen, label, "StatusNotification", evse=1, connector=1),
                await triggered(server, seen, label, "StatusNotification"),
                await triggered(server, seen, label, "Heartbeat"),
                await triggered(server, seen, label, "MeterValues", evse=1),
                await triggered(server, seen, label, "StatusNotification", evse=2),
                await triggered(server, seen, label, "StatusNotification", evse=1, connector=2),
                await triggered(server, seen, label, "BootNotification"),  # registered already
                await triggered(server, seen, label, "TransactionEvent"),  # none runs
                await triggered(server, seen, label, "SignChargingStationCertificate"),
                await triggered(server, seen, label, "FirmwareStatusNotification"),
                await triggered(server, seen, label, "LogStatusNotification"),
                await triggered(server, seen, label, "Heartbeat", evse=2),  # evse ignored
            ]
            await server.call("CS001", start_of(label), timeout=5)
            await asyncio.wait_for(seen.until(kind_of(label, "TransactionEvent")), 10)
            said.append(await triggered(server, seen, label, "TransactionEvent", evse=1))
        finally:
            await station.close()
            await server.close()
        return said, seen

    said, seen = asyncio.run(main())
    assert said == [
        "Accepted",
        "Accepted",
        "Accepted",
        "Accepted",
        "Rejected",
        "Rejected",
        "Rejected",
        "Rejected",
        "NotImplemented",
        "Accepted",
        "Accepted",
        "Accepted",
        "Accepted",
    ]
    statuses = seen.of(kind_of(label, "StatusNotification"))
    assert [(s.evse_id, s.connector_id, str(s.connector_status)) for s in statuses] == [
        (1, 1, "Available"),
        (1, 1, "Available"),
    ]
    (metered,) = seen.of(kind_of(label, "MeterValues"))
    assert metered.evse_id == 1
    assert str(metered.meter_value[0].sampled_value[0].context) == "Trigger"
    assert len(seen.of(kind_of(label, "BootNotification"))) == 1
    (firmware,) = seen.of(kind_of(label, "FirmwareStatusNotification"))
    (log,) = seen.of(kind_of(label, "LogStatusNotification"))
    for idle in (firmware, log):  # no update, no upload: Idle, without a requestId
        assert (str(idle.status), idle.request_id) == ("Idle", msgspec.UNSET)
    assert len(seen.of(kind_of(label, "Heartbeat"))) == 2
    started, updated = seen.of(kind_of(label, "TransactionEvent"))
    assert (str(updated.event_type), str(updated.trigger_reason)) == ("Updated", "Trigger")
    assert updated.transaction_info.transaction_id == started.transaction_info.transaction_id


def test_a_16_station_sends_what_is_triggered_of_its_connectors() -> None:
    async def main() -> tuple[list[str], Seen]:
        seen = Seen("1.6")
        server = await serve(seen.handler)
        url = f"ws://127.0.0.1:{server.port}/ocpp/CS001"
        station = await connect(station_of("1.6"), url, boot=boot_of("1.6"))
        try:
            await station.booted()
            said = [
                await triggered(server, seen, "1.6", "StatusNotification", connector=1),
                await triggered(server, seen, "1.6", "StatusNotification", connector=0),
                await triggered(server, seen, "1.6", "StatusNotification"),
                await triggered(server, seen, "1.6", "Heartbeat"),
                await triggered(server, seen, "1.6", "MeterValues"),
                await triggered(server, seen, "1.6", "DiagnosticsStatusNotification"),
                await triggered(server, seen, "1.6", "BootNotification"),
                await triggered(server, seen, "1.6", "StatusNotification", connector=2),
                await triggered(server, seen, "1.6", "MeterValues", connector=0),
                await triggered(server, seen, "1.6", "FirmwareStatusNotification"),
                await triggered(server, seen, "1.6", "Heartbeat", connector=2),  # ignored
            ]
            statuses = seen.of(messages16.StatusNotificationRequest)
            if len(statuses) < 4:  # the second of the trigger without connectorId
                await asyncio.wait_for(seen.until(messages16.StatusNotificationRequest, 4), 10)
        finally:
            await station.close()
            await server.close()
        return said, seen

    said, seen = asyncio.run(main())
    assert said == ["Accepted"] * 7 + ["Rejected", "Rejected", "Accepted", "Accepted"]
    (firmware,) = seen.of(messages16.FirmwareStatusNotificationRequest)
    assert str(firmware.status) == "Idle"  # no update runs
    assert len(seen.of(messages16.HeartbeatRequest)) == 2
    statuses = seen.of(messages16.StatusNotificationRequest)
    assert [s.connector_id for s in statuses] == [1, 0, 0, 1]
    (metered,) = seen.of(messages16.MeterValuesRequest)
    assert metered.connector_id == 1
    assert str(metered.meter_value[0].sampled_value[0].context) == "Trigger"
    assert len(seen.of(messages16.DiagnosticsStatusNotificationRequest)) == 1
    assert len(seen.of(messages16.BootNotificationRequest)) == 2


@pytest.mark.parametrize("label", ["1.6", "2.0.1"])
def test_a_triggered_message_in_a_run_is_counted_in_its_report(label: str) -> None:
    """Inside ``simulate()`` (rare heartbeats only): the triggered StatusNotification goes out
    by the run's sender, so the report's messages are every call the CSMS answered."""

    async def main() -> tuple[Seen, Any]:
        seen = Seen(label)
        server = await serve(seen.handler)
        url = f"ws://127.0.0.1:{server.port}/ocpp"
        status = kind_of(label, "StatusNotification")
        try:
            running = asyncio.create_task(
                simulate(url, 1, 3.0, interval=10.0, versions=label, actions=["Heartbeat"])
            )
            await asyncio.wait_for(seen.until(kind_of(label, "BootNotification")), 10)
            trigger = trigger_of(label, "StatusNotification", evse=1, connector=1)
            while str((await server.call("SIM00000", trigger, timeout=5)).status) != "Accepted":
                await asyncio.sleep(0.01)  # (1.6) until the station read the boot's answer
            await asyncio.wait_for(seen.until(status), 10)
            report = await asyncio.wait_for(running, 20)
        finally:
            await server.close()
        return seen, report

    seen, report = asyncio.run(main())
    assert report.errors == {}, report.errors
    assert len(seen.of(kind_of(label, "StatusNotification"))) == 1
    assert report.messages == len(seen.requests)  # the triggered one counted


def boot_held(label: str, first: str) -> Any:
    """A demo CSMS of ``label`` that answers each station's first boot ``first`` (``Pending``
    or ``Rejected``) with an interval of 60 s, longer than any test waits, and every later
    boot Accepted; :attr:`boots` counts them."""
    base: Any = DemoChargeSystem16 if label == "1.6" else DemoChargeSystem21
    if label == "2.0.1":
        base = DemoChargeSystem
    status: Any = enums16.BootNotificationResponseStatusEnum
    if label != "1.6":
        status = (enums21 if label == "2.1" else enums).RegistrationStatusEnumType

    class FirstBootHeld(base):  # type: ignore[misc]
        boots = 0

        def boot_notification(self, request: Any) -> Any:
            answer = self.default_boot_notification(request)
            type(self).boots += 1
            if type(self).boots > 1:
                return answer
            return msgspec.structs.replace(answer, status=status(first), interval=60)

    return FirstBootHeld()


@pytest.mark.parametrize("label", LABELS)
def test_a_boot_triggered_while_pending_is_sent_and_ends_the_wait(label: str) -> None:
    """Alone, booted by its client (``connect(boot=)``), Pending for 60 s: the CSMS triggers a
    BootNotification, the station answers Accepted, sends it on the connection (its client
    holds its other requests until accepted), and the CSMS's Accepted ends the client's wait:
    ``booted()`` returns, and no third boot follows. (The triggered one could not go out: the
    station had no connection before ``on_connect``, which waits for the accepted boot.)"""

    async def main() -> tuple[str, Any, Seen]:
        seen = Seen(label, boot_held(label, "Pending"))
        server = await serve(seen.handler)
        url = f"ws://127.0.0.1:{server.port}/ocpp/CS001"
        station = await connect(station_of(label), url, boot=boot_of(label))
        try:
            await asyncio.wait_for(seen.until(kind_of(label, "BootNotification")), 5)
            said = await triggered(server, seen, label, "BootNotification")
            booted = await station.booted(timeout=5)
            await asyncio.sleep(0.2)  # a needless boot again would come now
        finally:
            await station.close()
            await server.close()
        return said, booted, seen

    said, booted, seen = asyncio.run(main())
    assert said == "Accepted"
    assert str(booted.status) == "Accepted"
    _first, again = seen.of(kind_of(label, "BootNotification"))  # two boots, no third
    if label != "1.6":
        assert str(again.reason) == "Triggered"


@pytest.mark.parametrize("label", ["1.6", "2.0.1"])
def test_a_boot_triggered_while_pending_in_a_run_ends_the_wait(label: str) -> None:
    """Inside ``simulate()``: Pending for 60 s, the CSMS triggers the boot and accepts it; the
    station goes on with its traffic at once (heartbeats here) instead of waiting the interval
    out and booting a third time."""

    async def main() -> tuple[Seen, Any]:
        seen = Seen(label, boot_held(label, "Pending"))
        server = await serve(seen.handler)
        url = f"ws://127.0.0.1:{server.port}/ocpp"
        boot = kind_of(label, "BootNotification")
        try:
            running = asyncio.create_task(
                simulate(url, 1, 2.0, interval=0.1, versions=label, actions=["Heartbeat"])
            )
            await asyncio.wait_for(seen.until(boot), 10)
            trigger = trigger_of(label, "BootNotification")
            assert str((await server.call("SIM00000", trigger, timeout=5)).status) == "Accepted"
            await asyncio.wait_for(seen.until(kind_of(label, "Heartbeat")), 5)
            report = await asyncio.wait_for(running, 20)
        finally:
            await server.close()
        return seen, report

    seen, report = asyncio.run(main())
    assert len(seen.of(kind_of(label, "BootNotification"))) == 2
    assert report.errors == {}, report.errors
    assert report.messages == len(seen.requests)  # the triggered boot counted


def boot_failed_once(label: str) -> Any:
    """A demo CSMS of ``label`` whose handler fails the first boot (the station gets
    InternalError: no answer says where it stands) and accepts every later one."""
    base: Any = DemoChargeSystem16 if label == "1.6" else DemoChargeSystem21
    if label == "2.0.1":
        base = DemoChargeSystem

    class FirstBootFails(base):  # type: ignore[misc]
        boots = 0

        def boot_notification(self, request: Any) -> Any:
            type(self).boots += 1
            if type(self).boots == 1:
                raise RuntimeError("the database is not there yet")
            return self.default_boot_notification(request)

    return FirstBootFails()


@pytest.mark.parametrize("label", ["1.6", "2.0.1"])
def test_a_boot_triggered_after_a_failed_boot_in_a_run_ends_the_wait(label: str) -> None:
    """Inside ``simulate()``: the first boot fails (InternalError), so the station waits
    ``BOOT_RETRY_FLOOR`` (10 s) before booting again; the CSMS triggers a boot meanwhile and
    accepts it: the station goes on at once, as after a Pending boot (and as a
    ``StationClient``'s own boot does), instead of waiting the 10 s out for a third boot."""

    async def main() -> tuple[Seen, Any]:
        csms = boot_failed_once(label)
        seen = Seen(label, csms)
        server = await serve(seen.handler)
        url = f"ws://127.0.0.1:{server.port}/ocpp"
        try:
            running = asyncio.create_task(
                simulate(url, 1, 4.0, interval=0.1, versions=label, actions=["Heartbeat"])
            )
            while not type(csms).boots:  # (Seen records no request that raised)
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # the station reads the failure
            trigger = trigger_of(label, "BootNotification")
            assert str((await server.call("SIM00000", trigger, timeout=5)).status) == "Accepted"
            await asyncio.wait_for(seen.until(kind_of(label, "Heartbeat")), 3)
            report = await asyncio.wait_for(running, 20)
        finally:
            await server.close()
        return seen, report

    seen, report = asyncio.run(main())
    assert len(seen.of(kind_of(label, "BootNotification"))) == 1  # the triggered one, no third
    assert report.errors == {"BootNotification: InternalError": 1}, report.errors


async def answer_of(server: Any, request: Any) -> str:
    """The station's answer to ``request``: its status, its CALLERROR's code, or ``no answer``
    within half a second."""
    try:
        answer = await server.call("CS001", request, timeout=0.5)
    except TimeoutError:
        return "no answer"
    except errors.OcppError as exc:
        return exc.code
    return str(getattr(answer, "status", "answered"))


@pytest.mark.parametrize("label", LABELS)
def test_a_rejected_station_answers_nothing_in_every_version(label: str) -> None:
    """Its boot Rejected (for 60 s): a station of any version answers nothing at all, no
    CALLRESULT and no CALLERROR, not even a TriggerMessage of BootNotification, and sends
    nothing but its boot (one rule for 1.6 and 2.x; a 2.x station answered SecurityError, and
    a boot's trigger Accepted, where a 1.6 one was silent)."""

    async def main() -> tuple[list[str], Seen, StationClient]:
        seen = Seen(label, boot_held(label, "Rejected"))
        server = await serve(seen.handler)
        url = f"ws://127.0.0.1:{server.port}/ocpp/CS001"
        station = await connect(station_of(label), url, boot=boot_of(label))
        try:
            await asyncio.wait_for(seen.until(kind_of(label, "BootNotification")), 5)
            said = [
                await answer_of(server, start_of(label)),
                await answer_of(server, trigger_of(label, "Heartbeat")),
                await answer_of(server, trigger_of(label, "BootNotification")),
            ]
            await asyncio.sleep(0.3)  # a boot the trigger would have sent
        finally:
            await station.close()
            await server.close()
        return said, seen, station

    said, seen, station = asyncio.run(main())
    assert said == ["no answer"] * 3
    assert seen.requests == seen.of(kind_of(label, "BootNotification"))  # its boot only
    assert len(seen.requests) == 1
    assert str(station.boot_response.status) == "Rejected"  # type: ignore[union-attr]
