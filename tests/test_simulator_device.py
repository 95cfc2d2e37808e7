"""What a simulated station answers about its configuration, from a real CSMS (the library's own,
over real sockets, on both backends): 2.x GetVariables / SetVariables / GetBaseReport with its
NotifyReports, 1.6 GetConfiguration / ChangeConfiguration; a HeartbeatInterval set is applied
to the station's heartbeat, and an accepted boot's interval is the station's HeartbeatInterval.
The model's data itself is checked too: each default fits its own data type and limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import msgspec
import pytest
from test_simulator_remote import Seen, boot_of, station_of

from ocpp_fast import errors
from ocpp_fast._sim_device import (
    CONFIGURATION_16,
    MODEL_2X,
    REPORT_ITEMS,
    Setting,
)
from ocpp_fast.demo import DemoChargeSystem, DemoChargeSystem16, DemoChargeSystem21
from ocpp_fast.dispatch import OcppHandler
from ocpp_fast.simulator import SimulationReport, simulate
from ocpp_fast.transport import CsmsServer, connect, serve
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v21 import datatypes as datatypes21
from ocpp_fast.v21 import messages as messages21
from ocpp_fast.v201 import datatypes, messages

pytestmark = pytest.mark.usefixtures("backend")  # every test on both backends

INTERVAL = 123
"""The heartbeat interval the CSMS's boot answers give (not the model's default, 300)."""


class Booting(DemoChargeSystem):
    def boot_notification(
        self, request: messages.BootNotificationRequest
    ) -> messages.BootNotificationResponse:
        return msgspec.structs.replace(self.default_boot_notification(request), interval=INTERVAL)


class Booting21(DemoChargeSystem21):
    def boot_notification(
        self, request: messages21.BootNotificationRequest
    ) -> messages21.BootNotificationResponse:
        return msgspec.structs.replace(self.default_boot_notification(request), interval=INTERVAL)


class Booting16(DemoChargeSystem16):
    def boot_notification(
        self, request: messages16.BootNotificationRequest
    ) -> messages16.BootNotificationResponse:
        return msgspec.structs.replace(self.default_boot_notification(request), interval=INTERVAL)


def csms_of(label: str) -> OcppHandler:
    if label == "1.6":
        return Booting16()
    return Booting21() if label == "2.1" else Booting()


@asynccontextmanager
async def station_at(
    label: str, own_boot: bool = True
) -> AsyncIterator[tuple[Seen, CsmsServer, Any]]:
    """A CSMS of ``label`` (its boots answered with :data:`INTERVAL`) and station ``CS001``,
    connected and its boot accepted, its client known to it: the CSMS, its server, the client.
    ``own_boot``: the station boots by itself (its boot seen by its connection), not by the
    client's ``boot=``."""
    seen = Seen(label, csms_of(label))
    server = await serve(seen.handler)
    station = station_of(label)
    url = f"ws://127.0.0.1:{server.port}/ocpp/CS001"
    client = await connect(station, url, boot=None if own_boot else boot_of(label))
    station.client = client  # type: ignore[attr-defined]
    try:
        if own_boot:
            await client.call(boot_of(label), timeout=5)
        else:
            await client.booted()
        yield seen, server, client
    finally:
        await client.close()
        await server.close()


def types_of(label: str) -> Any:
    return datatypes21 if label == "2.1" else datatypes


def messages_of(label: str) -> Any:
    return messages21 if label == "2.1" else messages


def item(label: str, component: str, variable: str, **more: Any) -> dict[str, Any]:
    """The component and variable of a GetVariableData / SetVariableData (``evse``,
    ``instance`` of the variable, ``attribute_type`` / ``attribute_value`` in ``more``)."""
    types = types_of(label)
    evse = more.pop("evse", msgspec.UNSET)
    instance = more.pop("instance", msgspec.UNSET)
    return {
        "component": types.ComponentType(
            name=component, evse=msgspec.UNSET if evse is msgspec.UNSET else types.EVSEType(id=evse)
        ),
        "variable": types.VariableType(name=variable, instance=instance),
        **more,
    }


def got(label: str, *items: dict[str, Any]) -> Any:
    types = types_of(label)
    data = [types.GetVariableDataType(**each) for each in items]
    return messages_of(label).GetVariablesRequest(get_variable_data=data)


def setting(label: str, *items: dict[str, Any]) -> Any:
    types = types_of(label)
    data = [types.SetVariableDataType(**each) for each in items]
    return messages_of(label).SetVariablesRequest(set_variable_data=data)


def heartbeats(seen: Seen, label: str) -> int:
    kind = messages16.HeartbeatRequest if label == "1.6" else messages_of(label).HeartbeatRequest
    return len(seen.of(kind))


@pytest.mark.parametrize("label", ["2.0.1", "2.1"])
def test_get_variables_answers_each_item_as_ocpp_says(label: str) -> None:
    """Accepted with the value (the boot's interval for HeartbeatInterval, the connection's
    identity, an instance's, a component's of EVSE 1, names case-insensitive);
    UnknownComponent (no such component, or not on that EVSE); UnknownVariable;
    NotSupportedAttributeType (only Actual is modelled)."""

    async def main() -> list[tuple[str, Any]]:
        async with station_at(label) as (_, server, _client):
            request = got(
                label,
                item(label, "OCPPCommCtrlr", "HeartbeatInterval"),
                item(label, "SecurityCtrlr", "Identity"),
                item(label, "DeviceDataCtrlr", "ItemsPerMessage", instance="GetVariables"),
                item(label, "EVSE", "Power", evse=1),
                item(label, "txctrlr", "evconnectiontimeout"),
                item(label, "EVSE", "Power", evse=2),
                item(label, "NoSuchCtrlr", "HeartbeatInterval"),
                item(label, "TxCtrlr", "NoSuchVariable"),
                item(label, "DeviceDataCtrlr", "ItemsPerMessage"),  # an instance is named
                item(label, "OCPPCommCtrlr", "HeartbeatInterval", attribute_type="MaxSet"),
            )
            response = await server.call("CS001", request, timeout=5)
        return [
            (str(result.attribute_status), result.attribute_value)
            for result in response.get_variable_result
        ]

    assert asyncio.run(main()) == [
        ("Accepted", str(INTERVAL)),
        ("Accepted", "CS001"),
        ("Accepted", "16"),
        ("Accepted", "7200"),
        ("Accepted", "60"),
        ("UnknownComponent", msgspec.UNSET),
        ("UnknownComponent", msgspec.UNSET),
        ("UnknownVariable", msgspec.UNSET),
        ("UnknownVariable", msgspec.UNSET),
        ("NotSupportedAttributeType", msgspec.UNSET),
    ]


@pytest.mark.parametrize("label", ["2.0.1", "2.1"])
def test_set_variables_sets_what_may_be_set_and_heartbeats_follow(label: str) -> None:
    """Accepted for a writable variable and a value that fits (read back after); Rejected for a
    read-only one, a value of the wrong type, out of range, or not in the list; Unknown... as
    GetVariables. The HeartbeatInterval set is the client's heartbeat: a silent station sends
    one within it."""

    async def main() -> tuple[list[tuple[str, Any]], Any, float | None, int]:
        async with station_at(label) as (seen, server, client):
            request = setting(
                label,
                item(label, "OCPPCommCtrlr", "HeartbeatInterval", attribute_value="1"),
                item(label, "TxCtrlr", "TxStopPoint", attribute_value="EVConnected"),
                item(label, "SecurityCtrlr", "Identity", attribute_value="CS002"),
                item(label, "TxCtrlr", "EVConnectionTimeOut", attribute_value="soon"),
                item(label, "TxCtrlr", "EVConnectionTimeOut", attribute_value="-1"),
                item(label, "TxCtrlr", "TxStopPoint", attribute_value="EVConnected,Never"),
                item(label, "TxCtrlr", "StopTxOnInvalidId", attribute_value="yes"),
                item(label, "NoSuchCtrlr", "HeartbeatInterval", attribute_value="1"),
                item(label, "TxCtrlr", "NoSuchVariable", attribute_value="1"),
            )
            before = heartbeats(seen, label)
            response = await server.call("CS001", request, timeout=5)
            read = await server.call(
                "CS001",
                got(
                    label,
                    item(label, "OCPPCommCtrlr", "HeartbeatInterval"),
                    item(label, "TxCtrlr", "TxStopPoint"),
                    item(label, "SecurityCtrlr", "Identity"),
                    item(label, "TxCtrlr", "EVConnectionTimeOut"),
                ),
                timeout=5,
            )
            await asyncio.sleep(2.5)
            beats = heartbeats(seen, label) - before
        results = [
            (
                str(result.attribute_status),
                None
                if result.attribute_status_info is msgspec.UNSET
                else result.attribute_status_info.reason_code,
            )
            for result in response.set_variable_result
        ]
        values = [result.attribute_value for result in read.get_variable_result]
        return results, values, client.heartbeat_interval, beats

    results, values, interval, beats = asyncio.run(main())
    assert results == [
        ("Accepted", None),
        ("Accepted", None),
        ("Rejected", "ReadOnly"),
        ("Rejected", "InvalidValue"),
        ("Rejected", "ValueOutOfRange"),
        ("Rejected", "InvalidValue"),
        ("Rejected", "InvalidValue"),
        ("UnknownComponent", None),
        ("UnknownVariable", None),
    ]
    assert values == ["1", "EVConnected", "CS001", "60"]
    assert interval == 1.0
    assert beats >= 1  # silent for 2.5 s with a heartbeat of 1 s


@pytest.mark.parametrize("label", ["2.0.1", "2.1"])
def test_more_items_than_items_per_message_is_a_callerror(label: str) -> None:
    """DeviceDataCtrlr ItemsPerMessage (16 for GetVariables and SetVariables): beyond it,
    OccurrenceConstraintViolation, as OCPP lets a station answer."""

    async def main() -> list[str]:
        codes = []
        async with station_at(label) as (_, server, _client):
            many = [item(label, "OCPPCommCtrlr", "HeartbeatInterval")] * 17
            settings = [{**many[0], "attribute_value": "60"}] * 17
            for request in (got(label, *many), setting(label, *settings)):
                with pytest.raises(errors.OcppError) as raised:
                    await server.call("CS001", request, timeout=5)
                codes.append(raised.value.code)
            assert (
                await server.call("CS001", got(label, *many[:16]), timeout=5)
            ).get_variable_result
        return codes

    assert asyncio.run(main()) == ["OccurrenceConstraintViolation"] * 2


@pytest.mark.parametrize("label", ["2.0.1", "2.1"])
def test_get_base_report_is_followed_by_the_report_in_parts(label: str) -> None:
    """Accepted, then NotifyReports of the request's requestId, seqNo 0, 1, ... and tbc on every
    one but the last, :data:`REPORT_ITEMS` variables each: FullInventory the whole model (the
    values as they are now), ConfigurationInventory the writable variables only;
    SummaryInventory NotSupported, and no report."""
    kind = messages_of(label).NotifyReportRequest

    async def main() -> tuple[list[str], list[Any]]:
        statuses = []
        async with station_at(label) as (seen, server, _client):
            for request_id, base in ((7, "FullInventory"), (8, "ConfigurationInventory")):
                request = messages_of(label).GetBaseReportRequest(
                    request_id=request_id, report_base=base
                )
                statuses.append(str((await server.call("CS001", request, timeout=5)).status))
                while not any(r.request_id == request_id and not r.tbc for r in seen.of(kind)):
                    await asyncio.sleep(0.01)
            summary = messages_of(label).GetBaseReportRequest(
                request_id=9, report_base="SummaryInventory"
            )
            statuses.append(str((await server.call("CS001", summary, timeout=5)).status))
            await asyncio.sleep(0.3)
            return statuses, seen.of(kind)

    statuses, reports = asyncio.run(main())
    assert statuses == ["Accepted", "Accepted", "NotSupported"]
    for request_id, settings in ((7, MODEL_2X), (8, [s for s in MODEL_2X if s.writable])):
        parts = [report for report in reports if report.request_id == request_id]
        parts_wanted = -(-len(settings) // REPORT_ITEMS)
        assert [part.seq_no for part in parts] == list(range(parts_wanted))
        assert [part.tbc for part in parts] == [True] * (parts_wanted - 1) + [False]
        data = [data for part in parts for data in part.report_data]
        assert [(d.component.name, d.variable.name) for d in data] == [
            (s.component, s.variable) for s in settings
        ]
    assert not [report for report in reports if report.request_id == 9]
    full = [data for report in reports if report.request_id == 7 for data in report.report_data]
    values = {(d.component.name, d.variable.name): d.variable_attribute[0].value for d in full}
    assert values["OCPPCommCtrlr", "HeartbeatInterval"] == str(INTERVAL)
    assert values["SecurityCtrlr", "Identity"] == "CS001"
    power = next(d for d in full if d.variable.name == "Power")
    assert (power.component.evse.id, power.variable_characteristics.unit) == (1, "W")
    assert str(power.variable_attribute[0].mutability) == "ReadOnly"


def test_16_get_configuration_and_change_configuration() -> None:
    """GetConfiguration: the keys asked for, unknown ones in unknownKey; every key when none is
    asked for. ChangeConfiguration: Accepted (read back after), Rejected for a read-only key or
    a bad value, NotSupported for an unknown key; HeartbeatInterval applied to the heartbeat."""

    async def main() -> tuple[Any, Any, list[str], Any, float | None, int]:
        async with station_at("1.6") as (seen, server, client):
            asked = messages16.GetConfigurationRequest(key=["HeartbeatInterval", "NoSuchKey"])
            some = await server.call("CS001", asked, timeout=5)
            every = await server.call("CS001", messages16.GetConfigurationRequest(), timeout=5)
            statuses = []
            before = heartbeats(seen, "1.6")
            for key, value in (
                ("HeartbeatInterval", "1"),
                ("MeterValuesSampledData", "Energy.Active.Import.Register"),
                ("NumberOfConnectors", "2"),
                ("ConnectionTimeOut", "a minute"),
                ("LocalPreAuthorize", "maybe"),
                ("NoSuchKey", "1"),
            ):
                change = messages16.ChangeConfigurationRequest(key=key, value=value)
                statuses.append(str((await server.call("CS001", change, timeout=5)).status))
            read = await server.call(
                "CS001",
                messages16.GetConfigurationRequest(
                    key=["HeartbeatInterval", "MeterValuesSampledData", "NumberOfConnectors"]
                ),
                timeout=5,
            )
            await asyncio.sleep(2.5)
            beats = heartbeats(seen, "1.6") - before
        return some, every, statuses, read, client.heartbeat_interval, beats

    some, every, statuses, read, interval, beats = asyncio.run(main())
    assert [(k.key, k.readonly, k.value) for k in some.configuration_key] == [
        ("HeartbeatInterval", False, str(INTERVAL))
    ]
    assert some.unknown_key == ["NoSuchKey"]
    assert [k.key for k in every.configuration_key] == [s.variable for s in CONFIGURATION_16]
    assert every.unknown_key is msgspec.UNSET
    assert statuses == ["Accepted", "Accepted", "Rejected", "Rejected", "Rejected", "NotSupported"]
    assert [k.value for k in read.configuration_key] == [
        "1",
        "Energy.Active.Import.Register",
        "1",
    ]
    assert interval == 1.0
    assert beats >= 1


@pytest.mark.parametrize("label", ["1.6", "2.0.1", "2.1"])
def test_a_boot_by_the_client_gives_the_station_its_interval(label: str) -> None:
    """With ``connect(boot=)`` the client boots before the station's ``on_connect``: the
    station takes that accepted boot's interval from its client (``boot_response``) there, as
    it takes its own boot's."""

    async def main() -> str:
        async with station_at(label, own_boot=False) as (_, server, _client):
            if label == "1.6":
                asked = messages16.GetConfigurationRequest(key=["HeartbeatInterval"])
                keys: Any = (await server.call("CS001", asked, timeout=5)).configuration_key
                return str(keys[0].value)
            request = got(label, item(label, "OCPPCommCtrlr", "HeartbeatInterval"))
            results: Any = (await server.call("CS001", request, timeout=5)).get_variable_result
            return str(results[0].attribute_value)

    assert asyncio.run(main()) == str(INTERVAL)


def test_a_simulated_runs_station_applies_a_heartbeat_interval_set_by_the_csms() -> None:
    """Inside ``simulate()`` the station knows its client: a ChangeConfiguration of
    HeartbeatInterval gives it heartbeats of its own at that interval while its traffic is
    sparse (one message in 20 s on average here)."""

    async def main() -> int:
        seen = Seen("1.6")
        async with one_station_run(seen, "1.6", 20.0, ["Authorize"]) as (server, _ended):
            change = messages16.ChangeConfigurationRequest(key="HeartbeatInterval", value="1")
            while str((await server.call("SIM00000", change, timeout=5)).status) != "Accepted":
                await asyncio.sleep(0.01)
            before = heartbeats(seen, "1.6")
            await asyncio.sleep(2.5)
            return heartbeats(seen, "1.6") - before

    assert asyncio.run(main()) >= 1


@asynccontextmanager
async def one_station_run(
    seen: Seen, label: str, interval: float, actions: list[str]
) -> AsyncIterator[tuple[CsmsServer, Callable[[], Awaitable[SimulationReport]]]]:
    """A ``simulate()`` run of one station of ``label`` (up to 60 s) against the CSMS ``seen``,
    its boot come: the server, and ``ended()``, which stops the run and gives its report (the
    run is stopped on leaving anyway)."""
    server = await serve(seen.handler)
    url = f"ws://127.0.0.1:{server.port}/ocpp"
    stop = asyncio.Event()
    running = asyncio.create_task(
        simulate(url, 1, 60.0, interval=interval, versions=label, actions=actions, stop=stop)
    )

    async def ended() -> SimulationReport:
        stop.set()
        return await asyncio.wait_for(running, 20)

    try:
        boot = (
            messages16.BootNotificationRequest
            if label == "1.6"
            else messages.BootNotificationRequest
        )
        await asyncio.wait_for(seen.until(boot), 10)
        yield server, ended
    finally:
        if not running.done():
            await ended()
        await server.close()


def every_setting() -> Iterator[Setting]:
    yield from MODEL_2X
    yield from CONFIGURATION_16


def test_each_default_fits_its_own_data_type_and_limits() -> None:
    """The data is read as OCPP would check a value set: a default its own checks would refuse
    (a typo in the data) fails here; names fit the schemas' 50 characters, and no variable is
    there twice."""
    for each in every_setting():
        if each.variable != "Identity":  # the connection's identity, filled in when connected
            assert replace(each, mutability="ReadWrite").problem(each.value) is None, each
        assert max(len(each.component), len(each.variable)) <= 50, each
    named = {(s.component, s.evse, s.connector, s.variable, s.variable_instance) for s in MODEL_2X}
    assert len(named) == len(MODEL_2X)


@pytest.mark.parametrize(
    ("data_type", "value", "problem"),
    [
        ("integer", "60", None),
        ("integer", "-1", "ValueOutOfRange"),
        ("integer", " 60", "InvalidValue"),
        ("integer", "1_000", "InvalidValue"),
        ("integer", "6.0", "InvalidValue"),
        ("decimal", "7.5", None),
        ("decimal", "1e3", "InvalidValue"),
        ("boolean", "True", "InvalidValue"),
        ("OptionList", "B", None),
        ("OptionList", "A,B", "InvalidValue"),
        ("MemberList", "A,B", None),
        ("MemberList", "", "InvalidValue"),
        ("string", "x" * 101, "ValueTooLong"),
    ],
)
def test_a_value_is_checked_as_written_on_the_wire(
    data_type: str, value: str, problem: str | None
) -> None:
    """Numbers are plain digits (Python's ``int()`` would take `` 60`` and ``1_000``, stored and
    read back as set), booleans ``true`` / ``false``, list members among the values list."""
    checked = Setting(
        "V",
        "",
        data_type,
        min_limit=0,
        max_limit=100,
        values_list="A,B" if "List" in data_type else None,
    )
    assert checked.problem(value) == problem
