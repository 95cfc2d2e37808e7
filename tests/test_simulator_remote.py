"""Remote start and stop against a simulated station, from a real CSMS (the library's own, over
real sockets, on both backends): the station answers Accepted and then carries it out, the
transaction shows at the CSMS with its remoteStartId (2.x) or idTag and the CSMS's transaction
id (1.6), and the stop ends it; a start while charging, or a stop of another transaction, is
Rejected. Alone (``connect()``) and inside a ``simulate()`` run, whose report counts it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from ocpp_fast import CallContext
from ocpp_fast._sim_traffic16 import traffic_for
from ocpp_fast.demo import (
    DemoChargeSystem,
    DemoChargeSystem16,
    DemoChargeSystem21,
    _TransactionIds,
)
from ocpp_fast.dispatch import OcppHandler
from ocpp_fast.simulator import (
    SimulatedStation,
    SimulatedStation16,
    SimulatedStation21,
    SimulationReport,
    simulate,
)
from ocpp_fast.transport import CsmsServer, connect, serve
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v21 import datatypes as datatypes21
from ocpp_fast.v21 import enums as enums21
from ocpp_fast.v21 import messages as messages21
from ocpp_fast.v201 import datatypes, enums, messages

pytestmark = pytest.mark.usefixtures("backend")  # every test on both backends

LABELS = ["1.6", "2.0.1", "2.1"]


class Seen:
    """A demo CSMS of one version that records every request it answers, in order."""

    def __init__(self, label: str, csms: OcppHandler | None = None) -> None:
        """``csms``: a demo of ``label`` of the test's own (the demo itself by default)."""
        self.requests: list[Any] = []
        if csms is None and label == "1.6":
            csms = DemoChargeSystem16()
        elif csms is None:
            csms = DemoChargeSystem21() if label == "2.1" else DemoChargeSystem()
        if isinstance(csms, DemoChargeSystem16):  # its ids from 1, for the tests to know them
            csms._transaction_ids = _TransactionIds(1)
        invoke = csms.invoke_handler

        def recorded(route: Any, call: Any, identity: str, peer: Any) -> Any:
            answer = invoke(route, call, identity, peer)
            self.requests.append(call.payload)
            return answer

        csms.invoke_handler = recorded  # type: ignore[method-assign]
        self.handler = csms

    def of(self, kind: type) -> list[Any]:
        return [request for request in self.requests if isinstance(request, kind)]

    async def until(self, kind: type, count: int = 1) -> Any:
        """The ``count``-th request of ``kind``, once it came."""
        while len(self.of(kind)) < count:
            await asyncio.sleep(0.01)
        return self.of(kind)[count - 1]


def start_of(label: str, on: int | msgspec.UnsetType = msgspec.UNSET) -> Any:
    """A remote start of the token ``REMOTE1`` (2.x: remoteStartId 42), on connector / EVSE
    ``on`` when given."""
    if label == "1.6":
        return messages16.RemoteStartTransactionRequest(id_tag="REMOTE1", connector_id=on)
    if label == "2.1":
        token21 = datatypes21.IdTokenType(id_token="REMOTE1", type="ISO14443")
        return messages21.RequestStartTransactionRequest(
            id_token=token21, remote_start_id=42, evse_id=on
        )
    token = datatypes.IdTokenType(id_token="REMOTE1", type=enums.IdTokenEnumType.ISO14443)
    return messages.RequestStartTransactionRequest(id_token=token, remote_start_id=42, evse_id=on)


def stop_of(label: str, transaction: Any) -> Any:
    if label == "1.6":
        return messages16.RemoteStopTransactionRequest(transaction_id=transaction)
    if label == "2.1":
        return messages21.RequestStopTransactionRequest(transaction_id=transaction)
    return messages.RequestStopTransactionRequest(transaction_id=transaction)


def started_kind(label: str) -> type:
    if label == "1.6":
        return messages16.StartTransactionRequest
    return (
        messages21.TransactionEventRequest if label == "2.1" else messages.TransactionEventRequest
    )


def ended_kind(label: str) -> type:
    return messages16.StopTransactionRequest if label == "1.6" else started_kind(label)


def boot_of(label: str) -> Any:
    if label == "1.6":
        return messages16.BootNotificationRequest(charge_point_vendor="V", charge_point_model="M")
    if label == "2.1":
        return messages21.BootNotificationRequest(
            reason=enums21.BootReasonEnumType.POWER_UP,
            charging_station=datatypes21.ChargingStationType(model="M", vendor_name="V"),
        )
    return messages.BootNotificationRequest(
        reason=enums.BootReasonEnumType.POWER_UP,
        charging_station=datatypes.ChargingStationType(model="M", vendor_name="V"),
    )


def station_of(label: str) -> OcppHandler:
    if label == "1.6":
        return SimulatedStation16()
    return SimulatedStation21() if label == "2.1" else SimulatedStation()


def transaction_of(label: str, seen: Seen, started: Any) -> Any:
    """The id the CSMS stops the transaction by: its own (1.6, the demo numbers them from 1),
    the station's (2.x)."""
    if label == "1.6":
        return 1
    return started.transaction_info.transaction_id


def check_started(label: str, started: Any) -> None:
    if label == "1.6":
        assert (started.id_tag, started.connector_id) == ("REMOTE1", 1)
        return
    assert str(started.event_type) == "Started"
    assert str(started.trigger_reason) == "RemoteStart"
    assert started.transaction_info.remote_start_id == 42
    assert started.id_token.id_token == "REMOTE1"
    assert started.evse.id == 1


def check_ended(label: str, ended: Any, transaction: Any) -> None:
    assert ended.transaction_id == transaction if label == "1.6" else True
    assert str(ended.reason if label == "1.6" else ended.transaction_info.stopped_reason) == (
        "Remote"
    )
    if label != "1.6":
        assert str(ended.event_type) == "Ended"
        assert str(ended.trigger_reason) == "RemoteStop"
        assert ended.transaction_info.transaction_id == transaction


@pytest.mark.parametrize("label", LABELS)
def test_a_remote_start_runs_a_transaction_that_a_remote_stop_ends(label: str) -> None:
    """A station alone, booted: the start is Accepted and the transaction starts; a second
    start (charging), a start on another EVSE and a stop of another transaction are Rejected;
    the stop ends it with reason Remote, and the station is free for the next start."""

    async def main() -> None:
        seen = Seen(label)
        server = await serve(seen.handler)
        url = f"ws://127.0.0.1:{server.port}/ocpp/CS001"
        station = await connect(station_of(label), url, boot=boot_of(label))
        try:
            await station.booted()
            answers = [str((await server.call("CS001", start_of(label), timeout=5)).status)]
            started = await asyncio.wait_for(seen.until(started_kind(label)), 10)
            check_started(label, started)
            transaction = transaction_of(label, seen, started)
            answers.append(str((await server.call("CS001", start_of(label), timeout=5)).status))
            unknown = 999 if label == "1.6" else "not-a-transaction"
            stop = stop_of(label, unknown)
            answers.append(str((await server.call("CS001", stop, timeout=5)).status))
            stop = stop_of(label, transaction)
            answers.append(str((await server.call("CS001", stop, timeout=5)).status))
            ended = await asyncio.wait_for(seen.until(ended_kind(label), 2 - (label == "1.6")), 10)
            check_ended(label, ended, transaction)
            answers.append(str((await server.call("CS001", stop, timeout=5)).status))
            elsewhere = start_of(label, on=2)
            answers.append(str((await server.call("CS001", elsewhere, timeout=5)).status))
            answers.append(str((await server.call("CS001", start_of(label), timeout=5)).status))
            await asyncio.wait_for(seen.until(started_kind(label), 3 - (label == "1.6")), 10)
        finally:
            await station.close()
            await server.close()
        assert answers == [
            "Accepted",  # started
            "Rejected",  # charging already
            "Rejected",  # not its transaction
            "Accepted",  # stopped
            "Rejected",  # stopped already
            "Rejected",  # no EVSE / connector 2
            "Accepted",  # free again
        ]

    asyncio.run(main())


@contextlib.asynccontextmanager
async def heartbeating(
    label: str,
) -> AsyncIterator[tuple[Seen, CsmsServer, asyncio.Task[SimulationReport]]]:
    """A 3 s ``simulate()`` run of one station of ``label`` (``SIM00000``) that sends heartbeats
    only, every 0.05 s (so its traffic leaves a transaction alone), against a demo CSMS that
    records what it is sent, once the CSMS saw its first heartbeat (its boot accepted): the
    CSMS, its server and the run's task."""
    seen = Seen(label)
    server = await serve(seen.handler)
    url = f"ws://127.0.0.1:{server.port}/ocpp"
    try:
        running = asyncio.create_task(
            simulate(url, 1, 3.0, interval=0.05, versions=label, actions=["Heartbeat"])
        )
        heartbeat = messages16.HeartbeatRequest if label == "1.6" else messages.HeartbeatRequest
        await asyncio.wait_for(seen.until(heartbeat), 10)  # booted and accepted
        yield seen, server, running
    finally:
        await server.close()


@pytest.mark.parametrize("label", ["1.6", "2.0.1"])
def test_a_remote_transaction_in_a_run_is_counted_in_its_report(label: str) -> None:
    """Inside ``simulate()`` (heartbeats only, so the traffic leaves the transaction alone):
    the start and the stop show at the CSMS as alone, and the report counts their calls in its
    messages and the ended transaction in its sessions, as it counts the traffic's."""

    async def main() -> tuple[Seen, SimulationReport]:
        async with heartbeating(label) as (seen, server, running):
            start = await server.call("SIM00000", start_of(label), timeout=5)
            started = await asyncio.wait_for(seen.until(started_kind(label)), 10)
            check_started(label, started)
            transaction = transaction_of(label, seen, started)
            stop = await server.call("SIM00000", stop_of(label, transaction), timeout=5)
            ended = await asyncio.wait_for(seen.until(ended_kind(label), 2 - (label == "1.6")), 10)
            check_ended(label, ended, transaction)
            report = await asyncio.wait_for(running, 20)
        assert (str(start.status), str(stop.status)) == ("Accepted", "Accepted")
        return seen, report

    seen, report = asyncio.run(main())
    assert report.errors == {}, report.errors
    assert (report.sessions, report.sessions_running) == (1, 0)
    assert report.messages == len(seen.requests)  # every call the CSMS answered, no more
    assert len(seen.of(ended_kind(label))) == (1 if label == "1.6" else 2)


@pytest.mark.parametrize("label", ["1.6", "2.0.1"])
def test_a_remote_transaction_running_at_the_end_is_counted_running_not_ended(
    label: str,
) -> None:
    """A remote start the CSMS never stops: at the end the report counts it running, in its
    own row and its JSON, not among the sessions ended (which said 0 for a run whose
    operator had just started a transaction)."""

    async def main() -> SimulationReport:
        async with heartbeating(label) as (seen, server, running):
            start = await server.call("SIM00000", start_of(label), timeout=5)
            assert str(start.status) == "Accepted"
            await asyncio.wait_for(seen.until(started_kind(label)), 10)
            return await asyncio.wait_for(running, 20)

    report = asyncio.run(main())
    assert report.errors == {} and report.unanswered == {}, report.table()
    assert (report.sessions, report.sessions_running) == (0, 1), report.table()
    assert "sessions running at the end    1" in report.table().splitlines()
    assert report.as_dict()["sessions_running"] == 1


@pytest.mark.parametrize("label", ["1.6", "2.0.1"])
def test_a_remotely_started_transaction_gets_the_runs_meter_values(label: str) -> None:
    """Inside a run, the remotely started transaction is the one the station's traffic goes on
    with: its meter values follow (1.6: MeterValues of its transaction id; 2.x: the next
    TransactionEvent, of its transaction). The 2.x run sends transaction events only, its first
    at least a second after the boot (half the interval), when the start has long come."""

    async def main() -> tuple[Any, Any]:
        seen = Seen(label)
        server = await serve(seen.handler)
        url = f"ws://127.0.0.1:{server.port}/ocpp"
        traffic = ["MeterValues"] if label == "1.6" else ["TransactionEvent"]
        boot = (
            messages16.BootNotificationRequest
            if label == "1.6"
            else messages.BootNotificationRequest
        )
        stop = asyncio.Event()
        try:
            running = asyncio.create_task(
                simulate(url, 1, 60.0, interval=2.0, versions=label, actions=traffic, stop=stop)
            )
            await asyncio.wait_for(seen.until(boot), 10)
            await asyncio.wait_for(accepted_start(server, label), 10)
            started = await asyncio.wait_for(seen.until(started_kind(label)), 10)
            check_started(label, started)  # the remote start's, not one of the traffic's
            if label == "1.6":
                metered = await asyncio.wait_for(until_metered(seen), 20)
            else:
                metered = await asyncio.wait_for(seen.until(started_kind(label), 2), 20)
            stop.set()
            await asyncio.wait_for(running, 20)
        finally:
            await server.close()
        return started, metered

    started, metered = asyncio.run(main())
    if label == "1.6":
        assert metered.transaction_id == 1  # the CSMS's id for the remote start's transaction
    else:
        transaction = started.transaction_info.transaction_id
        assert metered.transaction_info.transaction_id == transaction
        assert str(metered.event_type) in ("Updated", "Ended")
        assert metered.meter_value


async def accepted_start(server: Any, label: str) -> None:
    """Start until Accepted: Rejected while the station has not read the boot's answer yet
    (the CSMS saw the boot before the station saw its answer)."""
    while str((await server.call("SIM00000", start_of(label), timeout=5)).status) != "Accepted":
        await asyncio.sleep(0.01)


async def until_metered(seen: Seen) -> Any:
    """The first 1.6 MeterValues of a transaction."""
    while True:
        for request in seen.of(messages16.MeterValuesRequest):
            if isinstance(request.transaction_id, int):
                return request
        await asyncio.sleep(0.01)


def test_a_started_event_of_the_traffic_while_charging_goes_on_with_the_transaction() -> None:
    """One transaction at a time on the one EVSE: the traffic's next ``Started`` while one runs
    (a remote one, say) is an ``Updated`` of it, not a second transaction left unended."""
    traffic = traffic_for("2.0.1", "SIM00000")
    token = datatypes.IdTokenType(id_token="REMOTE1", type=enums.IdTokenEnumType.ISO14443)
    started = traffic.remote_start(
        messages.RequestStartTransactionRequest(id_token=token, remote_start_id=42)
    )
    then = traffic.request("TransactionEvent.Started")
    assert str(then.event_type) == "Updated"
    assert then.transaction_info.transaction_id == started.transaction_info.transaction_id
    assert then.seq_no == started.seq_no + 1


class StopsAtOnce(DemoChargeSystem16):
    """A 1.6 CSMS that sends RemoteStopTransaction of the transaction it just numbered right
    after answering StartTransaction (the task runs once the answer is written): the stop
    reaches the station on the heels of the conf."""

    def __init__(self) -> None:
        super().__init__()
        self._transaction_ids = _TransactionIds(1)  # from 1, for the test to know them
        self.answers: list[str] = []
        self.stopped: list[messages16.StopTransactionRequest] = []

    def start_transaction(
        self, request: messages16.StartTransactionRequest, context: CallContext
    ) -> messages16.StartTransactionResponse:
        response = self.default_start_transaction(request)
        stop = messages16.RemoteStopTransactionRequest(transaction_id=response.transaction_id)
        connection = context.connection
        assert connection is not None

        async def stop_it() -> None:
            self.answers.append(str((await connection.call(stop, timeout=5)).status))

        asyncio.get_running_loop().create_task(stop_it())
        return response

    def stop_transaction(
        self, request: messages16.StopTransactionRequest
    ) -> messages16.StopTransactionResponse:
        self.stopped.append(request)
        return self.default_stop_transaction(request)


async def stopped(csms: StopsAtOnce, count: int) -> None:
    """Until the ``count``-th stop was answered and, when Accepted, its StopTransaction came."""
    while len(csms.answers) < count or (
        csms.answers[-1] == "Accepted" and len(csms.stopped) < count
    ):
        await asyncio.sleep(0.01)


def test_a_16_remote_stop_straight_after_the_start_transactions_answer_is_accepted() -> None:
    """The station knows its transaction id once it read StartTransaction.conf, not once the
    call that sent it resumed: a stop coming right behind the conf was Rejected."""

    async def main() -> StopsAtOnce:
        csms = StopsAtOnce()
        server = await serve(csms)
        url = f"ws://127.0.0.1:{server.port}/ocpp/CS001"
        station = await connect(SimulatedStation16(), url, boot=boot_of("1.6"))
        try:
            await station.booted()
            for count in range(1, 4):
                start = await server.call("CS001", start_of("1.6"), timeout=5)
                assert str(start.status) == "Accepted"
                await asyncio.wait_for(stopped(csms, count), 10)
                assert csms.answers == ["Accepted"] * count  # the stop of the id just given
        finally:
            await station.close()
            await server.close()
        return csms

    csms = asyncio.run(main())
    assert csms.answers == ["Accepted"] * 3
    assert [str(stop.reason) for stop in csms.stopped] == ["Remote"] * 3
    assert [stop.transaction_id for stop in csms.stopped] == [1, 2, 3]
