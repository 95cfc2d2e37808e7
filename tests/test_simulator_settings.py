"""The settings of a simulated station that act beyond its heartbeat and periodic meter values,
from a real CSMS (the library's own, over real sockets, on both backends), in each version:
``AuthorizeRemoteStart`` (1.6 ``AuthorizeRemoteTxRequests``) authorizes a remote start's token
first, ``TxEndedMeasurands`` (1.6 ``StopTxnSampledData``) chooses the readings of the
transaction's end, ``AlignedDataCtrlr.Interval`` / ``Measurands`` (1.6
``ClockAlignedDataInterval`` / ``MeterValuesAlignedData``) send clock-aligned meter values,
``OfflineThreshold`` (2.x) sends the connector's status back from a long time offline, and
``WebSocketPingInterval`` sets the client's pings. (All five were stored and read back only.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import pytest
from test_simulator_device import item, one_station_run, setting, station_at
from test_simulator_remote import (
    LABELS,
    Seen,
    boot_of,
    ended_kind,
    start_of,
    started_kind,
    station_of,
    stop_of,
)
from test_simulator_sampling import set_status

from ocpp_fast.demo import DemoChargeSystem, DemoChargeSystem16, DemoChargeSystem21
from ocpp_fast.dispatch import OcppHandler
from ocpp_fast.simulator import SimulationReport
from ocpp_fast.transport import Backoff, CsmsServer, StationClient, connect, serve
from ocpp_fast.v16 import datatypes as datatypes16
from ocpp_fast.v16 import enums as enums16
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v21 import datatypes as datatypes21
from ocpp_fast.v21 import enums as enums21
from ocpp_fast.v21 import messages as messages21
from ocpp_fast.v201 import datatypes, enums, messages

pytestmark = pytest.mark.usefixtures("backend")  # every test on both backends

KEYS_16 = {
    ("AuthCtrlr", "AuthorizeRemoteStart"): "AuthorizeRemoteTxRequests",
    ("SampledDataCtrlr", "TxEndedMeasurands"): "StopTxnSampledData",
    ("AlignedDataCtrlr", "Interval"): "ClockAlignedDataInterval",
    ("AlignedDataCtrlr", "Measurands"): "MeterValuesAlignedData",
    ("OCPPCommCtrlr", "OfflineThreshold"): "OfflineThreshold",  # (1.6 has no such key)
    ("OCPPCommCtrlr", "WebSocketPingInterval"): "WebSocketPingInterval",
}
"""Each 2.x setting of these tests, and its 1.6 key."""


def set_to(label: str, component: str, variable: str, value: str) -> Any:
    """The CSMS's request that sets a 2.x ``component``'s ``variable`` (1.6: its key)."""
    if label == "1.6":
        key = KEYS_16[component, variable]
        return messages16.ChangeConfigurationRequest(key=key, value=value)
    return setting(label, item(label, component, variable, attribute_value=value))


async def set_all(server: CsmsServer, label: str, *settings: tuple[str, str, str]) -> list[str]:
    """Set each ``(component, variable, value)`` on ``CS001``: each answer's status."""
    said = []
    for each in settings:
        said.append(set_status(label, await server.call("CS001", set_to(label, *each), 5)))
    return said


# --- AuthorizeRemoteStart ------------------------------------------------------------------


def refusing(label: str) -> OcppHandler:
    """A demo CSMS of ``label`` that answers the Authorize of token ``BLOCKED`` Invalid."""

    class Refusing(DemoChargeSystem):
        def authorize(self, request: messages.AuthorizeRequest) -> messages.AuthorizeResponse:
            if request.id_token.id_token != "BLOCKED":
                return self.default_authorize(request)
            invalid = datatypes.IdTokenInfoType(status=enums.AuthorizationStatusEnumType.INVALID)
            return messages.AuthorizeResponse(id_token_info=invalid)

    class Refusing21(DemoChargeSystem21):
        def authorize(self, request: messages21.AuthorizeRequest) -> messages21.AuthorizeResponse:
            if request.id_token.id_token != "BLOCKED":
                return self.default_authorize(request)
            invalid = datatypes21.IdTokenInfoType(
                status=enums21.AuthorizationStatusEnumType.INVALID
            )
            return messages21.AuthorizeResponse(id_token_info=invalid)

    class Refusing16(DemoChargeSystem16):
        def authorize(self, request: messages16.AuthorizeRequest) -> messages16.AuthorizeResponse:
            if request.id_tag != "BLOCKED":
                return self.default_authorize(request)
            return messages16.AuthorizeResponse(
                id_tag_info=datatypes16.IdTagInfoType(status=enums16.IdTagInfoStatusEnum.INVALID)
            )

    if label == "1.6":
        return Refusing16()
    return Refusing21() if label == "2.1" else Refusing()


def blocked_start(label: str) -> Any:
    """A remote start of the token ``BLOCKED``, which :func:`refusing` does not authorize."""
    start = start_of(label)
    if label == "1.6":
        return msgspec.structs.replace(start, id_tag="BLOCKED")
    token = msgspec.structs.replace(start.id_token, id_token="BLOCKED")
    return msgspec.structs.replace(start, id_token=token)


def authorized_tokens(seen: Seen, label: str) -> list[str]:
    if label == "1.6":
        return [each.id_tag for each in seen.of(messages16.AuthorizeRequest)]
    kind = messages21.AuthorizeRequest if label == "2.1" else messages.AuthorizeRequest
    return [each.id_token.id_token for each in seen.of(kind)]


@pytest.mark.parametrize("label", LABELS)
def test_a_remote_start_is_authorized_first_when_the_csms_asks_for_it(label: str) -> None:
    """AuthorizeRemoteStart true: a remote start is Accepted, its token authorized
    (Authorize), and the transaction starts only when the CSMS accepts the token: none for a
    token answered Invalid (the station free again), one after the Authorize of a good one.
    (The station started at once, authorizing nothing.)"""

    async def main() -> tuple[list[str], list[str], int, list[Any]]:
        seen = Seen(label, refusing(label))
        server = await serve(seen.handler)
        url = f"ws://127.0.0.1:{server.port}/ocpp/CS001"
        client = await connect(station_of(label), url, boot=boot_of(label))
        authorize = type(authorize_of(label))
        try:
            await client.booted()
            said = await set_all(server, label, ("AuthCtrlr", "AuthorizeRemoteStart", "true"))
            blocked = await server.call("CS001", blocked_start(label), timeout=5)
            said.append(str(blocked.status))
            await asyncio.wait_for(seen.until(authorize), 5)
            await asyncio.sleep(0.3)  # (a start after the refused token would come by now)
            started_after_refusal = len(seen.of(started_kind(label)))
            said.append(str((await server.call("CS001", start_of(label), timeout=5)).status))
            await asyncio.wait_for(seen.until(started_kind(label)), 5)
        finally:
            await client.close()
            await server.close()
        return said, authorized_tokens(seen, label), started_after_refusal, seen.requests

    said, tokens, started_after_refusal, requests = asyncio.run(main())
    assert said == ["Accepted", "Accepted", "Accepted"]
    assert tokens == ["BLOCKED", "REMOTE1"]
    assert started_after_refusal == 0
    kinds = [type(each) for each in requests]
    last_authorize = max(i for i, kind in enumerate(kinds) if kind is type(authorize_of(label)))
    assert kinds.index(started_kind(label)) > last_authorize  # started once authorized


def authorize_of(label: str) -> Any:
    """An Authorize of ``label`` (its type is what the tests look for)."""
    if label == "1.6":
        return messages16.AuthorizeRequest(id_tag="X")
    if label == "2.1":
        return messages21.AuthorizeRequest(
            id_token=datatypes21.IdTokenType(id_token="X", type="ISO14443")
        )
    return messages.AuthorizeRequest(
        id_token=datatypes.IdTokenType(id_token="X", type=enums.IdTokenEnumType.LOCAL)
    )


# --- TxEndedMeasurands -------------------------------------------------------------------


def readings(label: str, meter: list[Any]) -> list[tuple[str, str, str]]:
    """Each sampled value's measurand, context and unit."""
    values = meter[0].sampled_value
    if label == "1.6":
        return [(str(v.measurand), str(v.context), str(v.unit)) for v in values]
    return [(str(v.measurand), str(v.context), v.unit_of_measure.unit) for v in values]


@pytest.mark.parametrize("label", LABELS)
def test_the_transactions_end_carries_the_measurands_the_csms_chose(label: str) -> None:
    """TxEndedMeasurands (1.6 StopTxnSampledData) set to the state of charge and the energy:
    the Ended event's meter values (1.6 StopTransaction's transactionData) carry those, in that
    order, context Transaction.End (they carried the usual energy, power and voltage, 1.6
    none)."""

    async def main() -> tuple[list[str], Any]:
        async with station_at(label) as (seen, server, _client):
            chosen = "SoC,Energy.Active.Import.Register"
            said = await set_all(server, label, ("SampledDataCtrlr", "TxEndedMeasurands", chosen))
            await server.call("CS001", start_of(label), timeout=5)
            started = await asyncio.wait_for(seen.until(started_kind(label)), 5)
            transaction = 1 if label == "1.6" else started.transaction_info.transaction_id
            await server.call("CS001", stop_of(label, transaction), timeout=5)
            ended = await asyncio.wait_for(seen.until(ended_kind(label), 1 + (label != "1.6")), 5)
        return said, ended

    said, ended = asyncio.run(main())
    assert said == ["Accepted"]
    meter = ended.transaction_data if label == "1.6" else ended.meter_value
    assert readings(label, meter) == [
        ("SoC", "Transaction.End", "Percent"),
        ("Energy.Active.Import.Register", "Transaction.End", "Wh"),
    ]


# --- AlignedDataCtrlr.Interval, ClockAlignedDataInterval --------------------------------


def aligned(seen: Seen, label: str) -> list[Any]:
    """The clock-aligned meter values the station sent: MeterValues of context Sample.Clock,
    and (2.x) TransactionEvent Updated with trigger MeterValueClock."""
    sent = []
    for request in seen.requests:
        meter = getattr(request, "meter_value", msgspec.UNSET)
        if meter is not msgspec.UNSET and str(meter[0].sampled_value[0].context) == "Sample.Clock":
            sent.append(request)
    return sent


async def aligned_sent(seen: Seen, label: str, count: int) -> None:
    while len(aligned(seen, label)) < count:
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("label", LABELS)
def test_clock_aligned_meter_values_come_on_the_clocks_whole_intervals(label: str) -> None:
    """AlignedDataCtrlr.Interval (1.6 ClockAlignedDataInterval) 1 and Measurands
    (MeterValuesAlignedData) the voltage: meter values of context Sample.Clock come at each whole
    second, idle in MeterValues; during a transaction 2.x sends them in TransactionEvent
    Updated, trigger MeterValueClock, 1.6 in MeterValues of the transaction; set to 0 they
    stop. (None came.)"""

    async def main() -> tuple[list[str], list[Any], int]:
        async with station_at(label) as (seen, server, _client):
            said = await set_all(
                server,
                label,
                ("AlignedDataCtrlr", "Measurands", "Voltage"),
                ("AlignedDataCtrlr", "Interval", "1"),
            )
            await asyncio.wait_for(aligned_sent(seen, label, 1), 5)
            await server.call("CS001", start_of(label), timeout=5)
            await asyncio.wait_for(seen.until(started_kind(label)), 5)
            before = len(aligned(seen, label))
            await asyncio.wait_for(aligned_sent(seen, label, before + 1), 5)
            said += await set_all(server, label, ("AlignedDataCtrlr", "Interval", "0"))
            await asyncio.sleep(0.1)  # (one sent as the interval was set, let in)
            stopped_at = len(aligned(seen, label))
            await asyncio.sleep(1.5)
            after = len(aligned(seen, label)) - stopped_at
        return said, aligned(seen, label), after

    said, sent, after = asyncio.run(main())
    assert said == ["Accepted", "Accepted", "Accepted"]
    assert after == 0
    idle, charging = sent[0], sent[-1]
    for each in sent:
        assert readings(label, each.meter_value)[0] == ("Voltage", "Sample.Clock", "V")
        assert each.meter_value[0].timestamp.microsecond < 500_000  # just past a whole second
    if label == "1.6":
        assert idle.transaction_id is msgspec.UNSET
        assert charging.transaction_id == 1
    else:
        assert isinstance(
            idle, messages21.MeterValuesRequest if label == "2.1" else messages.MeterValuesRequest
        )
        assert (str(charging.event_type), str(charging.trigger_reason)) == (
            "Updated",
            "MeterValueClock",
        )


@pytest.mark.parametrize("label", ["1.6", "2.0.1"])
def test_a_runs_station_sends_clock_aligned_meter_values_once_the_csms_sets_the_interval(
    label: str,
) -> None:
    """Inside ``simulate()`` (heartbeats only): none at the default interval 0 (the run's traffic
    is what it was), then, the interval set to 1, aligned meter values come, counted in the
    report with the run's other calls."""

    async def main() -> tuple[int, Seen, SimulationReport]:
        seen = Seen(label)
        async with one_station_run(seen, label, 5.0, ["Heartbeat"]) as (server, ended):
            await asyncio.sleep(1.2)
            before = len(aligned(seen, label))
            interval = set_to(label, "AlignedDataCtrlr", "Interval", "1")
            answer = await server.call("SIM00000", interval, timeout=5)
            assert set_status(label, answer) == "Accepted"
            await asyncio.wait_for(aligned_sent(seen, label, 2), 5)
            return before, seen, await ended()

    before, seen, report = asyncio.run(main())
    assert before == 0
    assert report.errors == {}, report.errors
    assert report.messages == len(seen.requests)  # the aligned values counted as the run's


# --- OfflineThreshold --------------------------------------------------------------------


@asynccontextmanager
async def reconnecting(label: str) -> AsyncIterator[tuple[Seen, CsmsServer, StationClient[Any]]]:
    """Station ``CS001`` connected to a demo CSMS of ``label`` by a client that boots on each
    connection and connects again at once when the CSMS closes it."""
    seen = Seen(label)
    server = await serve(seen.handler)
    station = station_of(label)
    url = f"ws://127.0.0.1:{server.port}/ocpp/CS001"
    client = await connect(
        station, url, boot=boot_of(label), backoff=Backoff(minimum=0.05, random_range=0.0)
    )
    station.client = client  # type: ignore[attr-defined]
    try:
        await client.booted()
        yield seen, server, client
    finally:
        await client.close()
        await server.close()


def status_kind(label: str) -> type:
    if label == "1.6":
        return messages16.StatusNotificationRequest
    return (
        messages21.StatusNotificationRequest
        if label == "2.1"
        else messages.StatusNotificationRequest
    )


def boot_kind(label: str) -> type:
    return type(boot_of(label))


@pytest.mark.parametrize("label", ["2.0.1", "2.1"])
def test_back_from_longer_than_the_offline_threshold_the_station_sends_its_status(
    label: str,
) -> None:
    """OfflineThreshold 0: after the CSMS closed its connection, the station's next accepted
    boot is followed by the StatusNotification of its connector; OfflineThreshold 3600: a
    short time offline sends none. (None was sent either way.)"""

    async def main() -> tuple[list[str], list[int]]:
        async with reconnecting(label) as (seen, server, _client):
            counts = []
            said = await set_all(server, label, ("OCPPCommCtrlr", "OfflineThreshold", "0"))
            await server.disconnect("CS001")
            await asyncio.wait_for(seen.until(boot_kind(label), 2), 10)
            await asyncio.wait_for(seen.until(status_kind(label), 1), 5)
            counts.append(len(seen.of(status_kind(label))))
            said += await set_all(server, label, ("OCPPCommCtrlr", "OfflineThreshold", "3600"))
            await server.disconnect("CS001")
            await asyncio.wait_for(seen.until(boot_kind(label), 3), 10)
            await asyncio.sleep(0.5)
            counts.append(len(seen.of(status_kind(label))))
        return said, counts

    said, counts = asyncio.run(main())
    assert said == ["Accepted", "Accepted"]
    assert counts == [1, 1]


def test_a_runs_station_back_from_longer_than_the_threshold_sends_its_status() -> None:
    """Inside ``simulate()`` (heartbeats only: the mix sends no status of its own), the same:
    OfflineThreshold 0, the CSMS closes the connection, and the StatusNotification follows the
    boot on the new one, counted in the report."""

    async def main() -> tuple[Seen, SimulationReport]:
        seen = Seen("2.0.1")
        async with one_station_run(seen, "2.0.1", 5.0, ["Heartbeat"]) as (server, ended):
            threshold = set_to("2.0.1", "OCPPCommCtrlr", "OfflineThreshold", "0")
            answer = await server.call("SIM00000", threshold, timeout=5)
            assert set_status("2.0.1", answer) == "Accepted"
            await server.disconnect("SIM00000")
            await asyncio.wait_for(seen.until(status_kind("2.0.1")), 10)
            return seen, await ended()

    seen, report = asyncio.run(main())
    assert len(seen.of(boot_kind("2.0.1"))) == 2
    assert report.errors == {}, report.errors
    assert report.messages == len(seen.requests)


def test_a_16_station_has_no_offline_threshold() -> None:
    """1.6 has no OfflineThreshold key: NotSupported, and a reconnect sends no status."""

    async def main() -> tuple[str, int]:
        async with reconnecting("1.6") as (seen, server, _client):
            [said] = await set_all(server, "1.6", ("OCPPCommCtrlr", "OfflineThreshold", "0"))
            await server.disconnect("CS001")
            await asyncio.wait_for(seen.until(boot_kind("1.6"), 2), 10)
            await asyncio.sleep(0.5)
        return said, len(seen.of(status_kind("1.6")))

    assert asyncio.run(main()) == ("NotSupported", 0)


# --- WebSocketPingInterval ---------------------------------------------------------------


@pytest.mark.parametrize("label", LABELS)
def test_the_websocket_ping_interval_set_is_the_next_connections_keepalive(label: str) -> None:
    """WebSocketPingInterval 1: the station's client pings every second on the connections it
    opens from then on (a WebSocket's keepalive is set as it opens); 0: no pings. (The client
    kept its 20 s.)"""

    async def main() -> tuple[list[str], list[float | None]]:
        async with reconnecting(label) as (seen, server, client):
            opened: list[float | None] = []
            open_link = client._open

            async def recorded(url: str, options: Any) -> Any:
                opened.append(options.ping_interval)
                return await open_link(url, options)

            client._open = recorded
            said = []
            for value in ("1", "0"):
                ping = ("OCPPCommCtrlr", "WebSocketPingInterval", value)
                said += await set_all(server, label, ping)
                boots = len(seen.of(boot_kind(label)))
                await server.disconnect("CS001")
                await asyncio.wait_for(seen.until(boot_kind(label), boots + 1), 10)
        return said, opened

    said, opened = asyncio.run(main())
    assert said == ["Accepted", "Accepted"]
    assert opened == [1.0, None]
