"""A simulated station's periodic meter values during a transaction, at the interval its
configuration says (2.x ``SampledDataCtrlr.TxUpdatedInterval``: TransactionEvent ``Updated``,
trigger MeterValuePeriodic; 1.6 ``MeterValueSampleInterval``: MeterValues of the transaction),
from a real CSMS (the library's own, over real sockets, on both backends): set while idle it
acts on the next transaction, set to 0 it stops, alone and inside a ``simulate()`` run, whose
report counts them; their measurands are those the CSMS chose (TxUpdatedMeasurands,
MeterValuesSampledData). (Both were stored and read back only: no meter values came, and
always energy and power.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from test_simulator_device import item, one_station_run, setting, station_at
from test_simulator_remote import LABELS, Seen, accepted_start, start_of, started_kind

from ocpp_fast._sim_stations import station_handler
from ocpp_fast._sim_traffic16 import traffic_for
from ocpp_fast.simulator import SimulationReport
from ocpp_fast.v16 import messages as messages16

pytestmark = pytest.mark.usefixtures("backend")  # every test on both backends


def interval_set(label: str, seconds: int) -> Any:
    """The CSMS's request that sets the station's meter values interval to ``seconds``."""
    if label == "1.6":
        return messages16.ChangeConfigurationRequest(
            key="MeterValueSampleInterval", value=str(seconds)
        )
    return setting(
        label, item(label, "SampledDataCtrlr", "TxUpdatedInterval", attribute_value=str(seconds))
    )


def set_status(label: str, answer: Any) -> str:
    if label == "1.6":
        return str(answer.status)
    return str(answer.set_variable_result[0].attribute_status)


def samples(seen: Seen, label: str) -> list[Any]:
    """The periodic meter values the station sent by itself: 1.6 MeterValues of a transaction,
    context Sample.Periodic; 2.x TransactionEvent Updated, trigger MeterValuePeriodic."""
    if label == "1.6":
        return [
            request
            for request in seen.of(messages16.MeterValuesRequest)
            if isinstance(request.transaction_id, int)
            and str(request.meter_value[0].sampled_value[0].context) == "Sample.Periodic"
        ]
    return [
        request
        for request in seen.of(started_kind(label))
        if str(request.event_type) == "Updated"
        and str(request.trigger_reason) == "MeterValuePeriodic"
    ]


def transaction_id(label: str, request: Any) -> Any:
    return request.transaction_id if label == "1.6" else request.transaction_info.transaction_id


async def sampled(seen: Seen, label: str, count: int) -> None:
    while len(samples(seen, label)) < count:
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("label", LABELS)
def test_a_transactions_meter_values_follow_the_interval_the_csms_sets(label: str) -> None:
    """Set to 1 s while idle, then a remote start: the transaction's meter values come every
    second by themselves, of its id; set to 0, they stop."""

    async def main() -> tuple[list[Any], Any, int, list[str]]:
        async with station_at(label) as (seen, server, _client):
            said = [set_status(label, await server.call("CS001", interval_set(label, 1), 5))]
            started_at = asyncio.get_running_loop().time()
            assert str((await server.call("CS001", start_of(label), timeout=5)).status) == (
                "Accepted"
            )
            started = await asyncio.wait_for(seen.until(started_kind(label)), 5)
            await asyncio.wait_for(sampled(seen, label, 2), 5)
            took = asyncio.get_running_loop().time() - started_at
            said.append(set_status(label, await server.call("CS001", interval_set(label, 0), 5)))
            await asyncio.sleep(0.2)  # (a sample sent as the interval was set, let in)
            stopped_at = len(samples(seen, label))
            await asyncio.sleep(1.5)
            after = len(samples(seen, label)) - stopped_at
            assert took >= 1.9, took  # one a second, not at once
        return samples(seen, label), started, after, said

    periodic, started, after, said = asyncio.run(main())
    assert said == ["Accepted", "Accepted"]
    assert after == 0  # none once the interval is 0
    transaction = 1 if label == "1.6" else started.transaction_info.transaction_id
    assert {transaction_id(label, each) for each in periodic} == {transaction}
    assert all(each.meter_value for each in periodic)


@pytest.mark.parametrize("label", ["1.6", "2.0.1"])
def test_a_runs_transaction_is_metered_at_the_interval_set(label: str) -> None:
    """Inside ``simulate()`` (heartbeats only: the traffic sends no meter values of its own),
    a remotely started transaction's periodic meter values come at the interval the CSMS set,
    and the report counts them with the run's other calls."""

    async def main() -> tuple[Seen, SimulationReport]:
        seen = Seen(label)
        async with one_station_run(seen, label, 5.0, ["Heartbeat"]) as (server, ended):
            await accepted_start(server, label)
            answer = await server.call("SIM00000", interval_set(label, 1), timeout=5)
            assert set_status(label, answer) == "Accepted"
            await asyncio.wait_for(sampled(seen, label, 2), 5)
            return seen, await ended()

    seen, report = asyncio.run(main())
    assert report.errors == {}, report.errors
    assert report.messages == len(seen.requests)  # the samples counted as the run's calls


def measurands_set(label: str, measurands: str) -> Any:
    """The CSMS's request that chooses the measurands of the sampled meter values."""
    if label == "1.6":
        return messages16.ChangeConfigurationRequest(key="MeterValuesSampledData", value=measurands)
    return setting(
        label, item(label, "SampledDataCtrlr", "TxUpdatedMeasurands", attribute_value=measurands)
    )


def units_of(label: str, sample: Any) -> list[tuple[str, str]]:
    """Each sampled value's measurand and unit."""
    values = sample.meter_value[0].sampled_value
    if label == "1.6":
        return [(str(v.measurand), str(v.unit)) for v in values]
    return [(str(v.measurand), v.unit_of_measure.unit) for v in values]


@pytest.mark.parametrize("label", LABELS)
def test_the_sampled_meter_values_carry_the_measurands_the_csms_chose(label: str) -> None:
    """TxUpdatedMeasurands (1.6 MeterValuesSampledData) set to the state of charge and the
    current: the transaction's periodic meter values carry those, in that order, with their
    units (they carried energy and power whatever was set); a list with a measurand outside
    the values list is Rejected and changes nothing."""

    async def main() -> tuple[list[str], Any]:
        async with station_at(label) as (seen, server, _client):
            said = []
            for request in (
                measurands_set(label, "SoC,Current.Import"),
                measurands_set(label, "SoC,Frequency"),
                interval_set(label, 1),
            ):
                said.append(set_status(label, await server.call("CS001", request, timeout=5)))
            await server.call("CS001", start_of(label), timeout=5)
            await asyncio.wait_for(sampled(seen, label, 1), 5)
        return said, samples(seen, label)[0]

    said, sample = asyncio.run(main())
    assert said == ["Accepted", "Rejected", "Accepted"]
    assert units_of(label, sample) == [("SoC", "Percent"), ("Current.Import", "A")]
    state_of_charge = float(sample.meter_value[0].sampled_value[0].value)
    assert 20.0 < state_of_charge <= 100.0


@pytest.mark.parametrize("label", LABELS)
def test_a_run_s_station_leaves_its_meter_values_to_the_mix_until_the_csms_sets_an_interval(
    label: str,
) -> None:
    """A ``simulate()`` station (``station_handler`` given its traffic) starts no clock of its
    own at the default interval when a transaction begins: its mix already sends the
    transaction's meter values, and a second clock would add messages to every run. Once the
    CSMS sets the interval, the clock runs. A station alone keeps its default clock."""

    def clock_after_a_start(station: Any) -> bool:
        station.traffic.transaction = 7 if label == "1.6" else "T7"
        station._schedule_sample()
        running = station._sampling is not None
        if running:
            station._sampling.cancel()
            station._sampling = None
        return running

    async def main() -> list[bool]:
        alone = station_handler(label)
        in_run = station_handler(label, traffic_for(label, "SIM00000"))
        seen = [clock_after_a_start(alone), clock_after_a_start(in_run)]
        in_run._settings_set({"sample_interval": "60"})  # the CSMS set the interval
        seen.append(clock_after_a_start(in_run))
        return seen

    assert asyncio.run(main()) == [True, False, True]
