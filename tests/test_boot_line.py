"""The CSMS logs each BootNotification it answers, with the answer and the station's words:
the boot is a step of a station's life an operator reads in the log, beside its connect and
its disconnect (a station answered Rejected stays connected, booting again every interval)."""

from __future__ import annotations

import asyncio
import datetime
import logging
from typing import Any

import pytest

from ocpp_fast import CallContext, v16, v201
from ocpp_fast.transport import connect, serve
from ocpp_fast.v16 import enums as enums16
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v201 import datatypes, enums, messages

pytestmark = pytest.mark.usefixtures("dispatch_twin")  # a route's calls: both twins

KNOWN = {"CS001"}


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Csms201(v201.ChargeSystem):
    async def boot_notification(  # awaits: a task of its own
        self, request: messages.BootNotificationRequest, context: CallContext
    ) -> messages.BootNotificationResponse:
        await asyncio.sleep(0)
        known = context.identity in KNOWN
        return messages.BootNotificationResponse(
            current_time=now(),
            interval=300,
            status=enums.RegistrationStatusEnumType.ACCEPTED
            if known
            else enums.RegistrationStatusEnumType.REJECTED,
        )


class Csms16(v16.ChargeSystem):
    def boot_notification(  # plain, and no context: the line still names the station
        self, request: messages16.BootNotificationRequest
    ) -> messages16.BootNotificationResponse:
        return messages16.BootNotificationResponse(
            current_time=now(),
            interval=300,
            status=enums16.BootNotificationResponseStatusEnum.PENDING,
        )


def boot_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [
        (getattr(r, "identity", ""), r.getMessage())
        for r in caplog.records
        if r.name == "ocpp_fast" and "BootNotification answered" in r.getMessage()
    ]


def test_each_boot_answered_is_logged_with_its_status_and_station(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def session() -> None:
        server = await serve({"ocpp2.0.1": Csms201(), "ocpp1.6": Csms16()})
        url = f"ws://127.0.0.1:{server.port}/ocpp"
        new = await connect(v201.Charger(), f"{url}/CS001")
        stranger = await connect(v201.Charger(), f"{url}/STRANGER")
        old = await connect(v16.Charger(), f"{url}/OLD1")
        try:
            station = datatypes.ChargingStationType(
                model="M1", vendor_name="Acme", firmware_version="1.2"
            )
            boot = messages.BootNotificationRequest(
                reason=enums.BootReasonEnumType.POWER_UP, charging_station=station
            )
            await new.call(boot, timeout=5)
            unknown = datatypes.ChargingStationType(model="M2", vendor_name="Evil\nCorp")
            await stranger.call(
                messages.BootNotificationRequest(
                    reason=enums.BootReasonEnumType.POWER_UP, charging_station=unknown
                ),
                timeout=5,
            )
            await old.call(
                messages16.BootNotificationRequest(
                    charge_point_vendor="Old", charge_point_model="Box"
                ),
                timeout=5,
            )
        finally:
            for client in (new, stranger, old):
                await client.close()
            await server.close()

    caplog.set_level(logging.INFO, logger="ocpp_fast")
    asyncio.run(asyncio.wait_for(session(), 20))
    assert boot_lines(caplog) == [
        ("CS001", "CS001: BootNotification answered Accepted: Acme M1, firmware 1.2"),
        ("STRANGER", "STRANGER: BootNotification answered Rejected: Evil\\nCorp M2"),
        ("OLD1", "OLD1: BootNotification answered Pending: Old Box"),
    ]


def test_a_station_booting_in_a_loop_is_logged_a_limited_number_of_times(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its words are the peer's: a station flooding BootNotifications floods no log."""

    async def session() -> None:
        server = await serve(Csms16())
        old = await connect(v16.Charger(), f"ws://127.0.0.1:{server.port}/ocpp/OLD1")
        try:
            boot = messages16.BootNotificationRequest(
                charge_point_vendor="Old", charge_point_model="Box"
            )
            for _ in range(30):
                await old.call(boot, timeout=5)
        finally:
            await old.close()
            await server.close()

    caplog.set_level(logging.INFO, logger="ocpp_fast")
    asyncio.run(asyncio.wait_for(session(), 20))
    assert 1 <= len(boot_lines(caplog)) <= 10


def test_a_handler_run_without_a_live_connection_logs_the_boot_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A cluster's worker runs the handler through ``invoke_handler`` with a peer that holds
    no connection of its own (the gateway does): the line is written there, unlimited by a
    connection it does not have."""
    from ocpp_fast.frames import Call

    csms = Csms16()
    boot = messages16.BootNotificationRequest(charge_point_vendor="Old", charge_point_model="Box")
    caplog.set_level(logging.INFO, logger="ocpp_fast")
    peers: list[Any] = [None, object()]  # no peer; a routed one, holding no protocol
    for peer in peers:
        answer = csms.invoke_handler(
            csms.handler_route("BootNotification"), Call("1", "BootNotification", boot), "W1", peer
        )
        assert isinstance(answer, messages16.BootNotificationResponse)
        assert answer.status == "Pending"
    assert boot_lines(caplog) == [("W1", "W1: BootNotification answered Pending: Old Box")] * 2


def test_a_station_booting_in_a_loop_through_a_worker_floods_no_log(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker holds no connection to limit its lines: its boot lines are limited per
    station all the same (10 a minute, as a connection's), another station's unaffected."""
    from collections import OrderedDict

    from ocpp_fast import _boot_line
    from ocpp_fast.frames import Call

    monkeypatch.setattr(_boot_line, "_limiters", OrderedDict())  # each twin's run afresh
    routed: Any = object()  # a worker's peer: no connection of its own
    csms = Csms16()
    boot = messages16.BootNotificationRequest(charge_point_vendor="Old", charge_point_model="Box")
    caplog.set_level(logging.INFO, logger="ocpp_fast")
    route = csms.handler_route("BootNotification")
    for n in range(30):
        csms.invoke_handler(route, Call(str(n), "BootNotification", boot), "LOOPY", routed)
    csms.invoke_handler(route, Call("x", "BootNotification", boot), "CALM", routed)
    said = [who for who, _ in boot_lines(caplog)]
    assert said == ["LOOPY"] * 10 + ["CALM"], said
