"""Simulated OCPP 2.0.1 stations, for load-testing a CSMS (``ocpp-fast simulate``).

Each station connects over WebSockets, boots, and then runs charging sessions
whose traffic follows the shape of a real fleet (the shares of
shared/bench/mix-v201.jsonl): mostly TransactionEvent Updated with meter
values, heartbeats, status notifications and meter values, now and then an
Authorize, a report, a security event or a data transfer. Every call's latency
and every error (by OCPP error code) is recorded.
"""

from __future__ import annotations

import asyncio
import datetime
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ocpp_fast import errors, v201
from ocpp_fast._machine import percentile
from ocpp_fast.transport import Backoff, StationClient, connect
from ocpp_fast.v201 import datatypes, enums, messages

__all__ = ["MIX_SHARES", "SimulatedStation", "SimulationReport", "simulate"]

MIX_SHARES: dict[str, int] = {
    "BootNotification": 2,
    "Heartbeat": 20,
    "StatusNotification": 10,
    "Authorize": 5,
    "TransactionEvent.Started": 3,
    "TransactionEvent.Updated": 45,
    "TransactionEvent.Ended": 2,
    "MeterValues": 10,
    "NotifyReport": 1,
    "SecurityEventNotification": 1,
    "DataTransfer": 1,
}
"""Share of traffic per message, in percent (the weights of the shared 2.0.1 mix)."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _meter(energy: float) -> list[datatypes.MeterValueType]:
    sampled = [
        datatypes.SampledValueType(
            value=energy,
            context=enums.ReadingContextEnumType.SAMPLE_PERIODIC,
            measurand=enums.MeasurandEnumType.ENERGY_ACTIVE_IMPORT_REGISTER,
            unit_of_measure=datatypes.UnitOfMeasureType(unit="Wh"),
        ),
        datatypes.SampledValueType(
            value=7200.0, measurand=enums.MeasurandEnumType.POWER_ACTIVE_IMPORT
        ),
        datatypes.SampledValueType(
            value=230.1,
            measurand=enums.MeasurandEnumType.VOLTAGE,
            phase=enums.PhaseEnumType.L1_N,
        ),
    ]
    return [datatypes.MeterValueType(timestamp=_now(), sampled_value=sampled)]


class SimulatedStation(v201.Charger):
    """The station side of a simulated charger: it accepts what a CSMS commonly asks."""

    def request_start_transaction(
        self, request: messages.RequestStartTransactionRequest
    ) -> messages.RequestStartTransactionResponse:
        return messages.RequestStartTransactionResponse(
            status=enums.RequestStartStopStatusEnumType.ACCEPTED
        )

    def change_availability(
        self, request: messages.ChangeAvailabilityRequest
    ) -> messages.ChangeAvailabilityResponse:
        return messages.ChangeAvailabilityResponse(
            status=enums.ChangeAvailabilityStatusEnumType.ACCEPTED
        )

    def unlock_connector(
        self, request: messages.UnlockConnectorRequest
    ) -> messages.UnlockConnectorResponse:
        return messages.UnlockConnectorResponse(status=enums.UnlockStatusEnumType.UNLOCKED)


@dataclass
class _Charging:
    """One station's state between messages."""

    serial: str
    transaction: str | None = None
    seq_no: int = 0
    energy: float = 0.0
    sessions: int = 0

    def request(self, kind: str) -> Any:
        """The next request of ``kind``, kept coherent with the charging state."""
        if kind.startswith("TransactionEvent"):
            return self._transaction_event(kind.split(".")[1])
        if kind == "BootNotification":
            return messages.BootNotificationRequest(
                reason=enums.BootReasonEnumType.POWER_UP,
                charging_station=datatypes.ChargingStationType(
                    model="SimCharger", vendor_name="ocpp-fast", serial_number=self.serial
                ),
            )
        if kind == "Heartbeat":
            return messages.HeartbeatRequest()
        if kind == "StatusNotification":
            status = enums.ConnectorStatusEnumType
            return messages.StatusNotificationRequest(
                timestamp=_now(),
                connector_status=status.OCCUPIED if self.transaction else status.AVAILABLE,
                evse_id=1,
                connector_id=1,
            )
        if kind == "Authorize":
            return messages.AuthorizeRequest(id_token=_TOKEN)
        if kind == "MeterValues":
            return messages.MeterValuesRequest(evse_id=1, meter_value=_meter(self.energy))
        if kind == "NotifyReport":
            return messages.NotifyReportRequest(
                request_id=1, generated_at=_now(), seq_no=0, report_data=_REPORT
            )
        if kind == "SecurityEventNotification":
            return messages.SecurityEventNotificationRequest(
                type="StartupOfTheDevice", timestamp=_now(), tech_info="simulated"
            )
        return messages.DataTransferRequest(vendor_id="GA", message_id="sim", data=self.serial)

    def _transaction_event(self, event: str) -> messages.TransactionEventRequest:
        if event == "Started" or self.transaction is None:
            self.transaction, self.seq_no, event = str(uuid.uuid4()), 0, "Started"
        elif event == "Ended":
            self.sessions += 1
        self.seq_no += 1
        self.energy += 125.0
        request = messages.TransactionEventRequest(
            event_type=enums.TransactionEventEnumType(event),
            timestamp=_now(),
            trigger_reason=_TRIGGERS[event],
            seq_no=self.seq_no,
            transaction_info=datatypes.TransactionType(
                transaction_id=self.transaction,
                charging_state=enums.ChargingStateEnumType.CHARGING,
            ),
            evse=datatypes.EVSEType(id=1, connector_id=1),
            meter_value=_meter(self.energy),
            id_token=_TOKEN if event == "Started" else msgspec.UNSET,
        )
        if event == "Ended":
            self.transaction = None
        return request


_TOKEN = datatypes.IdTokenType(id_token="04A1B2C3D4E5F6", type=enums.IdTokenEnumType.ISO14443)
_TRIGGERS = {
    "Started": enums.TriggerReasonEnumType.AUTHORIZED,
    "Updated": enums.TriggerReasonEnumType.METER_VALUE_PERIODIC,
    "Ended": enums.TriggerReasonEnumType.EV_COMMUNICATION_LOST,
}
_REPORT = [
    datatypes.ReportDataType(
        component=datatypes.ComponentType(name="EVSE", evse=datatypes.EVSEType(id=1)),
        variable=datatypes.VariableType(name="Power"),
        variable_attribute=[datatypes.VariableAttributeType(value="7200")],
    )
]


@dataclass
class SimulationReport:
    """What a simulation saw; ``table()`` prints it."""

    stations: int
    connected: int = 0
    sessions: int = 0
    messages: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def percentile(self, share: float) -> float:
        """Latency in milliseconds at ``share`` (0.5 = median); 0 without data."""
        if not self.latencies:
            return 0.0
        return percentile(sorted(self.latencies), share) * 1000

    def table(self) -> str:
        rate = self.messages / self.seconds if self.seconds else 0.0
        rows = [
            ("stations connected", f"{self.connected} / {self.stations}"),
            ("charging sessions", f"{self.sessions}"),
            ("messages (calls answered)", f"{self.messages}"),
            ("duration", f"{self.seconds:.1f} s"),
            ("throughput", f"{rate:,.0f} msg/s"),
            ("latency p50", f"{self.percentile(0.50):.2f} ms"),
            ("latency p99", f"{self.percentile(0.99):.2f} ms"),
            ("latency max", f"{max(self.latencies, default=0.0) * 1000:.2f} ms"),
            ("errors", ", ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())) or "0"),
        ]
        width = max(len(label) for label, _ in rows)
        return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)


async def _station(
    urls: Sequence[str],
    index: int,
    deadline: float,
    interval: float,
    report: SimulationReport,
    rng: random.Random,
    gate: asyncio.Semaphore,
    backend: str | None,
    compression: bool,
) -> None:
    identity = f"SIM{index:05d}"
    async with gate:  # ramp up: a bounded number of handshakes at once
        try:
            mine = [f"{url.rstrip('/')}/{identity}" for url in urls]
            first = index % len(mine)  # stations spread over the URLs, then fail over in turn
            mine = mine[first:] + mine[:first]
            client: StationClient = await connect(
                SimulatedStation(),
                mine[0],
                failover=mine[1:],
                backoff=Backoff(minimum=0.5, random_range=1.0, repeat_times=3),
                backend=backend,
                compression=compression,
            )
        except Exception as exc:
            report.errors[f"connect: {type(exc).__name__}"] += 1
            return
    report.connected += 1
    state = _Charging(serial=identity)
    kinds = list(MIX_SHARES)
    weights = list(MIX_SHARES.values())
    try:
        await _call(client, state.request("BootNotification"), report)
        while time.monotonic() < deadline:
            await asyncio.sleep(interval * rng.uniform(0.5, 1.5))
            kind = rng.choices(kinds, weights)[0]
            await _call(client, state.request(kind), report)
    finally:
        report.sessions += state.sessions
        await client.close()


async def _call(client: StationClient, request: Any, report: SimulationReport) -> None:
    started = time.perf_counter()
    try:
        await client.call(request, timeout=30)
    except errors.OcppError as exc:
        report.errors[exc.code] += 1
        return
    except (TimeoutError, ConnectionError) as exc:
        report.errors[type(exc).__name__] += 1
        return
    report.latencies.append(time.perf_counter() - started)
    report.messages += 1


async def simulate(
    url: str | Sequence[str],
    chargers: int,
    duration: float,
    *,
    interval: float = 1.0,
    seed: int = 0,
    first_station: int = 0,
    ramp_concurrency: int = 100,
    progress: Callable[[SimulationReport, float], None] | None = None,
    backend: str | None = None,
    compression: bool = True,
) -> SimulationReport:
    """Run ``chargers`` stations against the CSMS at ``url`` for ``duration`` seconds.

    Each station sends a message every ``interval`` seconds on average. Stations
    are named ``SIM<number>`` from ``first_station`` on (give each simulator
    process its own range). ``progress`` is called about once a second. ``backend``
    picks the WebSocket library (:mod:`ocpp_fast.transport.backend`); ``compression``
    offers permessage-deflate. Several URLs (a cluster's gateways): station ``i`` connects
    to URL ``i`` modulo their number and fails over to the next ones when it loses it.
    """
    urls = [url] if isinstance(url, str) else list(url)
    report = SimulationReport(stations=chargers)
    rng = random.Random(seed)
    start = time.monotonic()
    deadline = start + duration
    gate = asyncio.Semaphore(ramp_concurrency)
    tasks = [
        asyncio.create_task(
            _station(
                urls,
                i,
                deadline,
                interval,
                report,
                random.Random(rng.random()),
                gate,
                backend,
                compression,
            )
        )
        for i in range(first_station, first_station + chargers)
    ]
    while not all(t.done() for t in tasks):
        await asyncio.wait(tasks, timeout=1.0)
        report.seconds = time.monotonic() - start
        if progress is not None:
            progress(report, report.seconds)
    for task in tasks:
        if task.exception() is not None:
            report.errors[f"station: {type(task.exception()).__name__}"] += 1
    report.seconds = min(time.monotonic() - start, max(duration, 1e-9))
    return report
