"""What a simulated station sends and answers, in each OCPP version (for :mod:`.simulator`).

Every version follows one traffic shape, the shares of the shared 2.0.1 fleet mix
(:data:`MIX_SHARES`: mostly transaction updates with meter values, heartbeats, status
notifications and meter values); a 1.6 station sends that shape's 1.6 messages
(StartTransaction / MeterValues / StopTransaction for the transaction's events). Each
station's state keeps its messages coherent: a transaction starts after an authorized
token, its meter values carry its id, it stops. A remote start the station accepts begins that
same transaction (one at a time, on its one EVSE) and a remote stop ends it.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import msgspec

from ocpp_fast import _sim_device, v16, v21, v201
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.dispatch import PeerConnection, Route
from ocpp_fast.frames import Call
from ocpp_fast.transport import StationClient
from ocpp_fast.v16 import datatypes as datatypes16
from ocpp_fast.v16 import enums as enums16
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v21 import datatypes as datatypes21
from ocpp_fast.v21 import enums as enums21
from ocpp_fast.v21 import messages as messages21
from ocpp_fast.v201 import datatypes, enums, messages

__all__ = [
    "ACTION_PRESETS",
    "CORE_ACTIONS",
    "MIX_SHARES",
    "SimulatedStation",
    "SimulatedStation16",
    "SimulatedStation21",
    "Traffic",
    "action_of",
    "chosen_actions",
    "is_core",
    "mixed_actions",
    "station_handler",
    "traffic_for",
]

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

CORE_ACTIONS: frozenset[str] = frozenset(
    {
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "Authorize",
        "TransactionEvent",
        "MeterValues",
    }
)
"""What every CSMS answers (a station cannot run without them): boot, heartbeat, status,
authorization, transactions (1.6: StartTransaction and StopTransaction), meter values. Named as
in 2.x, the names of :data:`MIX_SHARES` before any ``.``."""
ACTION_PRESETS: dict[str, frozenset[str]] = {
    "core": CORE_ACTIONS,
    "all": frozenset(kind.split(".")[0] for kind in MIX_SHARES),
}
"""The named choices of what simulated stations send: ``core``, or ``all`` of the mix (core
plus NotifyReport, SecurityEventNotification and DataTransfer, which a CSMS may answer
NotSupported)."""
_ALIASES_16 = {
    "StartTransaction": "TransactionEvent",
    "StopTransaction": "TransactionEvent",
    "DiagnosticsStatusNotification": "NotifyReport",
}
"""1.6's names for what a 1.6 station sends in place of a 2.x message of the mix."""


def chosen_actions(actions: str | Iterable[str]) -> frozenset[str]:
    """The actions of :data:`MIX_SHARES` that ``actions`` names: a preset of
    :data:`ACTION_PRESETS`, action names (1.6's too: ``StartTransaction`` is the
    transaction's messages), or both (``["core", "DataTransfer"]``); a comma-separated string
    is a list. BootNotification is always in: a station boots before anything else (the mix
    is :func:`mixed_actions`)."""
    return mixed_actions(actions) | {"BootNotification"}


def mixed_actions(actions: str | Iterable[str]) -> frozenset[str]:
    """The actions of the traffic mix ``actions`` names (see :func:`chosen_actions`): a
    BootNotification mid-run (a station restarting) only when named, as the presets do. Each
    station boots on connecting anyway; a boot in the mix unasked for reported a restart in the
    middle of a transaction that a run named without it could not turn off."""
    names = actions.split(",") if isinstance(actions, str) else list(actions)
    chosen: set[str] = set()
    unknown = []
    for name in (name.strip() for name in names):
        if name in ACTION_PRESETS:
            chosen |= ACTION_PRESETS[name]
        elif _ALIASES_16.get(name, name) in ACTION_PRESETS["all"]:
            chosen.add(_ALIASES_16.get(name, name))
        elif name:
            unknown.append(name)
    if unknown or not any(name.strip() for name in names):
        known = sorted(ACTION_PRESETS["all"] | _ALIASES_16.keys())
        raise ValueError(
            f"actions are 'core', 'all' or names among {', '.join(known)}; "
            f"not {', '.join(unknown) or repr(actions)}"
        )
    return frozenset(chosen)


def is_core(action: str) -> bool:
    """Whether ``action``, named in any version (1.6's ``StopTransaction`` too), is core
    (:data:`CORE_ACTIONS`)."""
    return _ALIASES_16.get(action, action) in CORE_ACTIONS


def action_of(kind: str) -> str:
    """The action of a kind of :data:`MIX_SHARES` (``TransactionEvent.Started``: its action)."""
    return kind.split(".")[0]


_ENERGY_STEP = 125.0
"""Wh added between two meter readings of a transaction."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


# --- OCPP 2.0.1 and 2.1: the same message names and shapes, each in its version's types ------


class _Model2x:
    """The modules and constant payloads of one 2.x version."""

    def __init__(self, messages: Any, enums: Any, datatypes: Any, token_type: Any) -> None:
        self.messages, self.enums, self.datatypes = messages, enums, datatypes
        self.token = datatypes.IdTokenType(id_token="04A1B2C3D4E5F6", type=token_type)
        trigger = enums.TriggerReasonEnumType
        self.triggers = {
            "Started": trigger.AUTHORIZED,
            "Updated": trigger.METER_VALUE_PERIODIC,
            "Ended": trigger.EV_COMMUNICATION_LOST,
        }
        self.report = [
            datatypes.ReportDataType(
                component=datatypes.ComponentType(name="EVSE", evse=datatypes.EVSEType(id=1)),
                variable=datatypes.VariableType(name="Power"),
                variable_attribute=[datatypes.VariableAttributeType(value="7200")],
            )
        ]

    def meter(self, energy: float, context: str = "Sample.Periodic") -> list[Any]:
        """The meter values of a reading (``context``: ``Trigger`` for a triggered one): energy,
        power and voltage (:meth:`chosen_meter` for the measurands a CSMS chose)."""
        datatypes, enums = self.datatypes, self.enums
        sampled = [
            datatypes.SampledValueType(
                value=energy,
                context=enums.ReadingContextEnumType(context),
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

    def chosen_meter(self, energy: float, measurands: tuple[str, ...]) -> list[Any]:
        """The meter values of a periodic reading of the ``measurands`` the CSMS chose
        (TxUpdatedMeasurands), in their order. Apart from :meth:`meter`, whose traffic pays
        nothing for it (a branch there cost it some 700 instructions a message, measured)."""
        sampled = [self._sampled(measurand, energy, "Sample.Periodic") for measurand in measurands]
        return [self.datatypes.MeterValueType(timestamp=_now(), sampled_value=sampled)]

    def _sampled(self, measurand: str, energy: float, context: str) -> Any:
        value, unit, phase = reading(measurand, energy)
        enums = self.enums
        return self.datatypes.SampledValueType(
            value=value,
            context=enums.ReadingContextEnumType(context),
            measurand=enums.MeasurandEnumType(measurand),
            phase=msgspec.UNSET if phase is None else enums.PhaseEnumType(phase),
            unit_of_measure=self.datatypes.UnitOfMeasureType(unit=unit),
        )


_READINGS: dict[str, tuple[float | None, str, str | None]] = {
    "Energy.Active.Import.Register": (None, "Wh", None),
    "Power.Active.Import": (7200.0, "W", None),
    "Voltage": (230.1, "V", "L1-N"),
    "Current.Import": (31.3, "A", "L1"),
    "SoC": (None, "Percent", None),
}
"""Each measurand a simulated station can sample (the values list of TxUpdatedMeasurands and
1.6's MeterValuesSampledData): its value (``None``: from the energy), unit and phase; a
station charging at 7.2 kW on one phase."""


def reading(measurand: str, energy: float) -> tuple[float, str, str | None]:
    """The value, unit and phase of ``measurand`` when the meter has counted ``energy`` Wh (the
    state of charge rises 1 % per 600 Wh from 20 %, a 60 kWh battery)."""
    value, unit, phase = _READINGS[measurand]
    if value is None:
        value = energy if unit == "Wh" else round(min(100.0, 20.0 + energy / 600), 1)
    return value, unit, phase


_TRIGGERABLE = frozenset(
    {
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "MeterValues",
        "TransactionEvent",
        "FirmwareStatusNotification",
        "LogStatusNotification",
    }
)
"""What a simulated 2.x station sends when the CSMS triggers it (TriggerMessage): what its
traffic sends, and its firmware and log status (``Idle``: it has no update or upload running);
the others (certificates, 2.1's ``CustomTrigger``) are NotImplemented."""
_TRIGGERABLE_16 = frozenset(
    {
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "MeterValues",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
    }
)
"""What a simulated 1.6 station sends when triggered: every message 1.6's TriggerMessage names."""
_PLACED = frozenset({"StatusNotification", "MeterValues", "TransactionEvent"})
"""The triggerable messages an EVSE or connector applies to. For the others the CSMS's
``evse`` / ``connectorId`` is ignored and the message sent all the same: the simulator's
reading of OCPP's TriggerMessage sections (as recalled; neither the shared OCPP-J summary nor
the JSON schemas state it, so the docs say so)."""

_V201 = _Model2x(messages, enums, datatypes, enums.IdTokenEnumType.ISO14443)
_V21 = _Model2x(messages21, enums21, datatypes21, "ISO14443")  # 2.1's idToken type is a string


@dataclass
class Traffic:
    """One station's state between messages, and the next request of each kind (2.x)."""

    serial: str
    model: _Model2x
    transaction: Any = None
    seq_no: int = 0
    energy: float = 0.0
    sessions: int = 0
    measurands: tuple[str, ...] | None = None
    """The measurands of the transaction's sampled meter values the CSMS chose (2.x
    ``TxUpdatedMeasurands``, for its ``Updated`` events; 1.6 ``MeterValuesSampledData``, for its
    periodic MeterValues); ``None`` while it chose none: the station's usual ones."""
    began: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    """Called when a transaction begins (1.6: once the CSMS gave its id), so that the station
    starts the clock of its periodic meter values; checked on a start only, so the traffic's
    other messages pay nothing for it."""

    def request(self, kind: str) -> Any:
        """The next request of ``kind`` (a key of :data:`MIX_SHARES`), coherent with the
        charging state."""
        model = self.model
        messages, enums, datatypes = model.messages, model.enums, model.datatypes
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
            return messages.AuthorizeRequest(id_token=model.token)
        if kind == "MeterValues":
            return messages.MeterValuesRequest(evse_id=1, meter_value=model.meter(self.energy))
        if kind == "NotifyReport":
            return messages.NotifyReportRequest(
                request_id=1, generated_at=_now(), seq_no=0, report_data=model.report
            )
        if kind == "SecurityEventNotification":
            return messages.SecurityEventNotificationRequest(
                type="StartupOfTheDevice", timestamp=_now(), tech_info="simulated"
            )
        return messages.DataTransferRequest(vendor_id="GA", message_id="sim", data=self.serial)

    def triggered(
        self, message: str, evse: int | None, connector: int | None, accepted: bool
    ) -> tuple[str, list[Any]]:
        """What a TriggerMessage of ``message`` is answered (``Accepted``, ``Rejected``,
        ``NotImplemented``) and, when Accepted, the requests the station then sends. ``evse`` /
        ``connector``: the request's (``None``: not given, every one: the station has EVSE 1
        with connector 1 alone, any other is Rejected where the message is of one,
        :data:`_PLACED`, and ignored elsewhere). A boot once the CSMS ``accepted`` one is
        Rejected (the station is registered already: the simulator's reading, unverified
        against the specification's text); a TransactionEvent when
        no transaction runs too (there is none to tell of). Firmware and log status are
        ``Idle`` without ``requestId`` (the schemas' rule for a triggered one with no firmware
        update or log upload running)."""
        model = self.model
        messages, enums = model.messages, model.enums
        if message not in _TRIGGERABLE:
            return "NotImplemented", []
        if message in _PLACED and (evse not in (None, 1) or connector not in (None, 1)):
            return "Rejected", []
        if message == "FirmwareStatusNotification":  # no update runs: Idle, no requestId
            idle = enums.FirmwareStatusEnumType.IDLE
            return "Accepted", [messages.FirmwareStatusNotificationRequest(status=idle)]
        if message == "LogStatusNotification":  # no upload runs: Idle, no requestId
            idle_log = enums.UploadLogStatusEnumType.IDLE
            return "Accepted", [messages.LogStatusNotificationRequest(status=idle_log)]
        if message == "BootNotification":
            if accepted:
                return "Rejected", []
            boot = msgspec.structs.replace(
                self.request(message), reason=enums.BootReasonEnumType.TRIGGERED
            )
            return "Accepted", [boot]
        if message == "MeterValues":
            meter = model.meter(self.energy, "Trigger")
            return "Accepted", [messages.MeterValuesRequest(evse_id=1, meter_value=meter)]
        if message == "TransactionEvent":
            if self.transaction is None:
                return "Rejected", []
            trigger = enums.TriggerReasonEnumType.TRIGGER
            return "Accepted", [self._transaction_event("Updated", trigger)]
        return "Accepted", [self.request(message)]  # Heartbeat, StatusNotification

    def answered(self, request: Any, response: Any) -> None:
        """The CSMS's answer to ``request`` (2.x needs none of them to go on)."""

    def read(self, response: Any) -> None:
        """An answer to one of the station's CALLs, as the connection reads it, before the
        caller resumes (2.x needs none of them)."""

    def failed(self, request: Any) -> None:
        """``request`` got no answer (2.x goes on: the transaction is the station's own)."""

    @property
    def charging(self) -> bool:
        """Whether a transaction runs (or, 1.6, is being started): a remote start is refused."""
        return self.transaction is not None

    def remote_start(self, request: Any) -> Any:
        """The TransactionEvent Started of a RequestStartTransaction ``request`` (its token and
        remoteStartId, trigger RemoteStart), the transaction begun; ``None`` when the station
        cannot start it: charging already, or an EVSE other than its only one (1)."""
        if self.charging or request.evse_id not in (msgspec.UNSET, 1):
            return None
        return self._transaction_event(
            "Started",
            self.model.enums.TriggerReasonEnumType.REMOTE_START,
            id_token=request.id_token,
            remote_start_id=request.remote_start_id,
        )

    def remote_stop(self, transaction_id: Any) -> Any:
        """The TransactionEvent Ended (trigger RemoteStop, stopped reason Remote) of the running
        transaction ``transaction_id``; ``None`` when no such transaction runs."""
        if self.transaction is None or transaction_id != self.transaction:
            return None
        enums = self.model.enums
        return self._transaction_event(
            "Ended", enums.TriggerReasonEnumType.REMOTE_STOP, stopped=enums.ReasonEnumType.REMOTE
        )

    def power_lost(self) -> Any:
        """What a station restarting mid-run (a BootNotification PowerUp in the mix) sends
        once booted: the TransactionEvent Ended (trigger AbnormalCondition, stopped reason
        PowerLoss) of the transaction the power cut; ``None`` when none ran."""
        if self.transaction is None:
            return None
        enums = self.model.enums
        return self._transaction_event(
            "Ended",
            enums.TriggerReasonEnumType.ABNORMAL_CONDITION,
            stopped=enums.ReasonEnumType.POWER_LOSS,
        )

    def _transaction_event(
        self,
        event: str,
        trigger: Any = None,
        *,
        id_token: Any = None,
        remote_start_id: Any = msgspec.UNSET,
        stopped: Any = msgspec.UNSET,
    ) -> Any:
        """The next event of the transaction: ``Started`` begins one when none runs, else it is
        an ``Updated`` (one transaction at a time on the station's one EVSE, as in 1.6)."""
        model = self.model
        if self.transaction is None:
            self.transaction, self.seq_no, event = str(uuid.uuid4()), 0, "Started"
            if self.began is not None:
                self.began()
        elif event == "Started":
            event = "Updated"
        if event == "Ended":
            self.sessions += 1
        self.seq_no += 1
        self.energy += _ENERGY_STEP
        request = model.messages.TransactionEventRequest(
            event_type=model.enums.TransactionEventEnumType(event),
            timestamp=_now(),
            trigger_reason=trigger or model.triggers[event],
            seq_no=self.seq_no,
            transaction_info=model.datatypes.TransactionType(
                transaction_id=self.transaction,
                charging_state=model.enums.ChargingStateEnumType.CHARGING,
                stopped_reason=stopped,
                remote_start_id=remote_start_id,
            ),
            evse=model.datatypes.EVSEType(id=1, connector_id=1),
            meter_value=model.meter(self.energy)
            if self.measurands is None or event != "Updated"
            else model.chosen_meter(self.energy, self.measurands),
            id_token=(id_token or model.token) if event == "Started" else msgspec.UNSET,
        )
        if event == "Ended":
            self.transaction = None
        return request


# --- OCPP 1.6 -------------------------------------------------------------------------------

_ID_TAG = "04A1B2C3D4E5F6"


@dataclass
class Traffic16(Traffic):
    """A 1.6 station: the transaction's events become StartTransaction (whose answer gives the
    transaction id), MeterValues of that transaction, and StopTransaction."""

    starting: bool = False
    """A StartTransaction is on its way: its answer gives the transaction id."""

    def request(self, kind: str) -> Any:
        if kind.startswith("TransactionEvent"):
            return self._transaction(kind.split(".")[1])
        if kind == "BootNotification":
            return messages16.BootNotificationRequest(
                charge_point_vendor="ocpp-fast",
                charge_point_model="SimCharger",
                charge_point_serial_number=self.serial,
            )
        if kind == "Heartbeat":
            return messages16.HeartbeatRequest()
        if kind == "StatusNotification":
            return self._status(1)
        if kind == "Authorize":
            return messages16.AuthorizeRequest(id_tag=_ID_TAG)
        if kind == "MeterValues":
            return self._meter_values()
        if kind == "NotifyReport":  # 1.6 has no reports: its diagnostics status instead
            return messages16.DiagnosticsStatusNotificationRequest(
                status=enums16.DiagnosticsStatusNotificationRequestStatusEnum.IDLE
            )
        if kind == "SecurityEventNotification":
            return messages16.SecurityEventNotificationRequest(
                type="StartupOfTheDevice", timestamp=_now(), tech_info="simulated"
            )
        return messages16.DataTransferRequest(vendor_id="GA", message_id="sim", data=self.serial)

    def triggered(
        self, message: str, evse: int | None, connector: int | None, accepted: bool
    ) -> tuple[str, list[Any]]:
        """As 2.x's, with 1.6's connectors: a StatusNotification of connector 0 is the charge
        point's own, one without ``connectorId`` is one of each connector (0 and 1: absent
        means every connector it applies to); MeterValues of connector 1 only (no main meter
        on connector 0); a ``connectorId`` is ignored for the other messages (as for 2.x:
        :data:`_PLACED`); a boot is Accepted even once registered
        (1.6 has no rule against it); firmware and diagnostics status are ``Idle``."""
        if message not in _TRIGGERABLE_16:
            return "NotImplemented", []
        if message in _PLACED and (
            connector not in (None, 0, 1) or (message == "MeterValues" and connector == 0)
        ):
            return "Rejected", []
        if message == "StatusNotification":
            connectors = [0, 1] if connector is None else [connector]
            return "Accepted", [self._status(each) for each in connectors]
        if message == "MeterValues":
            return "Accepted", [self._meter_values(enums16.ContextEnum.TRIGGER)]
        if message == "FirmwareStatusNotification":
            idle = enums16.FirmwareStatusNotificationRequestStatusEnum.IDLE
            return "Accepted", [messages16.FirmwareStatusNotificationRequest(status=idle)]
        kind = "NotifyReport" if message == "DiagnosticsStatusNotification" else message
        return "Accepted", [self.request(kind)]

    def answered(self, request: Any, response: Any) -> None:
        self.read(response)

    def read(self, response: Any) -> None:
        """A StartTransaction's answer gives the transaction its id as soon as the connection
        reads it, as a real station knows it once it read the conf: a RemoteStopTransaction the
        CSMS sends straight after names it, and comes before the StartTransaction's caller
        resumes (then :meth:`answered` finds it known, or already stopped)."""
        if isinstance(response, messages16.StartTransactionResponse) and self.starting:
            self.transaction, self.starting = response.transaction_id, False
            if self.began is not None:
                self.began()

    def failed(self, request: Any) -> None:
        if isinstance(request, messages16.StartTransactionRequest):
            self.starting = False  # no transaction id came: the station is free again

    @property
    def charging(self) -> bool:
        return self.transaction is not None or self.starting

    def remote_start(self, request: Any) -> Any:
        """The StartTransaction of a RemoteStartTransaction ``request`` (its idTag); ``None``
        when the station cannot start it: charging already (or starting), or a connector other
        than its only one (1)."""
        if self.charging or request.connector_id not in (msgspec.UNSET, 1):
            return None
        return self._start(request.id_tag)

    def remote_stop(self, transaction_id: Any) -> Any:
        """The StopTransaction (reason Remote) of the running transaction ``transaction_id``;
        ``None`` when no such transaction runs (one still starting has no id yet)."""
        if self.transaction is None or transaction_id != self.transaction:
            return None
        return self._stop(enums16.ReasonEnum.REMOTE)

    def power_lost(self) -> Any:
        """The StopTransaction (reason PowerLoss) of the transaction the restart cut; ``None``
        when none ran (or its StartTransaction is still unanswered: it has no id to stop)."""
        if self.transaction is None:
            return None
        return self._stop(enums16.ReasonEnum.POWER_LOSS)

    def _transaction(self, event: str) -> Any:
        if self.starting:  # the transaction has no id yet: plain meter values meanwhile
            return self._meter_values()
        if self.transaction is None:
            return self._start(_ID_TAG)
        if event == "Ended":
            return self._stop(enums16.ReasonEnum.EV_DISCONNECTED)
        return self._meter_values()

    def _start(self, id_tag: str) -> messages16.StartTransactionRequest:
        self.starting = True
        self.energy += _ENERGY_STEP
        return messages16.StartTransactionRequest(
            connector_id=1, id_tag=id_tag, meter_start=int(self.energy), timestamp=_now()
        )

    def _stop(self, reason: enums16.ReasonEnum) -> messages16.StopTransactionRequest:
        transaction, self.transaction = self.transaction, None
        self.sessions += 1
        self.energy += _ENERGY_STEP
        return messages16.StopTransactionRequest(
            meter_stop=int(self.energy), timestamp=_now(), transaction_id=transaction, reason=reason
        )

    def _status(self, connector: int) -> messages16.StatusNotificationRequest:
        """The StatusNotification of ``connector`` (0: the charge point itself, Available)."""
        status = enums16.StatusNotificationRequestStatusEnum
        charging = connector == 1 and self.transaction is not None
        return messages16.StatusNotificationRequest(
            connector_id=connector,
            error_code=enums16.ErrorCodeEnum.NO_ERROR,
            status=status.CHARGING if charging else status.AVAILABLE,
            timestamp=_now(),
        )

    def _meter_values(
        self, context: enums16.ContextEnum = enums16.ContextEnum.SAMPLE_PERIODIC
    ) -> messages16.MeterValuesRequest:
        self.energy += _ENERGY_STEP if self.transaction is not None else 0.0
        if self.measurands is not None and context == enums16.ContextEnum.SAMPLE_PERIODIC:
            return self._chosen_meter_values(self.measurands)
        sampled = [
            datatypes16.MeterValueSampledValueType(
                value=f"{self.energy:.0f}",
                context=context,
                measurand=enums16.MeasurandEnum.ENERGY_ACTIVE_IMPORT_REGISTER,
                unit=enums16.MeterValueSampledValueUnitEnum.WH,
            ),
            datatypes16.MeterValueSampledValueType(
                value="7200", measurand=enums16.MeasurandEnum.POWER_ACTIVE_IMPORT
            ),
        ]
        return messages16.MeterValuesRequest(
            connector_id=1,
            meter_value=[datatypes16.MeterValueType(timestamp=_now(), sampled_value=sampled)],
            transaction_id=self.transaction if self.transaction is not None else msgspec.UNSET,
        )

    def _chosen_meter_values(self, measurands: tuple[str, ...]) -> messages16.MeterValuesRequest:
        """Periodic MeterValues of the ``measurands`` the CSMS chose (MeterValuesSampledData),
        apart from :meth:`_meter_values`, whose traffic pays nothing for them."""
        sampled = []
        for measurand in measurands:
            value, unit, phase = reading(measurand, self.energy)
            sampled.append(
                datatypes16.MeterValueSampledValueType(
                    value=f"{value:.1f}".removesuffix(".0"),
                    context=enums16.ContextEnum.SAMPLE_PERIODIC,
                    measurand=enums16.MeasurandEnum(measurand),
                    phase=msgspec.UNSET if phase is None else enums16.PhaseEnum(phase),
                    unit=enums16.MeterValueSampledValueUnitEnum(unit),
                )
            )
        return messages16.MeterValuesRequest(
            connector_id=1,
            meter_value=[datatypes16.MeterValueType(timestamp=_now(), sampled_value=sampled)],
            transaction_id=self.transaction if self.transaction is not None else msgspec.UNSET,
        )


def traffic_for(label: str, serial: str) -> Traffic:
    """A fresh station state of OCPP ``label``."""
    if label == "1.6":
        return Traffic16(serial=serial, model=_V201)  # (the 2.x model is not used in 1.6)
    return Traffic(serial=serial, model=_V21 if label == "2.1" else _V201)


# --- what the simulated stations answer -------------------------------------------------------


class _Registered:
    """Whether the CSMS accepted the boot of the station's connection (:attr:`accepted`): a
    station it has not accepted (Pending, Rejected, or no boot yet) starts no transaction, so
    it answers a remote start Rejected. Read from the connection's ``registration`` (the
    status of the last boot answered on it, whoever sent it); the station keeps the connection
    it is on from ``on_connect`` to ``on_disconnect``, so an override of either calls
    ``super()``'s to keep it. (With the client's own boot, ``connect(..., boot=)``,
    ``on_connect`` comes once the boot is accepted: a CALL of the CSMS before it, while
    Pending, gives the station its connection then.)"""

    _connection: Any = None

    @property
    def accepted(self) -> bool:
        """Whether the CSMS accepted the boot of the connection the station is on."""
        return getattr(self._connection, "registration", None) == "Accepted"

    def on_connect(self, connection: Any) -> Awaitable[None] | None:
        self._connection = connection
        return None

    def on_disconnect(self, connection: Any, reason: str) -> Awaitable[None] | None:
        if self._connection is connection:
            self._connection = None
        return None


def _client_boot(connection: Any) -> Any:
    """The accepted boot of ``connection``'s client, when the client booted by itself
    (``connect(..., boot=)``: that boot was answered before the station's ``on_connect``, so the
    station never read it); ``None`` otherwise (no client: ``connect_in_memory``)."""
    try:
        return StationClient.of(connection).boot_response
    except LookupError:
        return None


Sender: TypeAlias = Callable[[Any], Awaitable[Any]]
"""Sends a station's request and gives the CSMS's response, or ``None`` when the call failed,
having told the station's :class:`Traffic` either way (``answered`` / ``failed``)."""

log = logging.getLogger("ocpp_fast.simulator")


class _Transacting(_Registered):
    """A station that carries out the remote starts and stops it accepts, on its one EVSE
    (connector 1): the transaction is its :attr:`traffic`'s, the one its own traffic runs, so
    under ``simulate()`` it goes on with that traffic's meter values and may end as any other.

    The event that starts or ends the transaction is built while the answer is made (a second
    start finds the station charging at once) and sent just after, as its own CALL, by
    :attr:`sender`: alone, the station calls on its connection; under ``simulate()``, the run's
    sender, which counts the call in the report as it counts the traffic's."""

    _label = "2.0.1"
    _traffic: Traffic | None = None
    sender: Sender | None = None
    """How the station's CALLs go out (``None``: on its connection, counted nowhere)."""
    client: StationClient | None = None
    """The client the station is connected by, whose heartbeat (its
    :attr:`~ocpp_fast.transport.StationClient.heartbeat_interval`) follows the
    ``HeartbeatInterval`` the CSMS sets (SetVariables, ChangeConfiguration); ``simulate()`` sets
    it, a station connected by your own code may (``station.client = await connect(...)``)."""

    @property
    def traffic(self) -> Traffic:
        """The station's charging state (a fresh one, idle, the first time it is read)."""
        traffic = self._traffic
        if traffic is None:
            traffic = self.traffic = traffic_for(self._label, "SIM")
        return traffic

    @traffic.setter
    def traffic(self, traffic: Traffic) -> None:
        self._traffic = traffic
        traffic.began = self._schedule_sample  # its transactions' meter values, on a clock

    def on_connect(self, connection: Any) -> Awaitable[None] | None:
        self._keep(connection)
        self._adopt(_client_boot(connection))
        return None

    def _keep(self, connection: Any) -> None:
        """The station is on ``connection`` (from ``on_connect``, or from the CSMS's first CALL
        when that came first): it reads the answers to its CALLs there and sends there."""
        if self._connection is connection:
            return
        super().on_connect(connection)
        connection.on_answer.append(self._read)
        self._connected_as(connection.identity)

    def invoke_handler(
        self, route: Route | None, call: Call, identity: str, peer: PeerConnection | None
    ) -> Any:
        """Every CALL of the CSMS, before its handler: the station keeps the connection it came
        on (with ``connect(..., boot=)`` ``on_connect`` waits for the accepted boot, but the
        CSMS may call while Pending, and what the station sends after its answer, a triggered
        boot, goes on that connection), then answers as its registration allows: while the
        CSMS has Rejected its boot, none (:meth:`_while_rejected`). (A handler class that
        overrides this method takes every CALL through it: simulated stations answer the
        CSMS's few CALLs without the compiled path.)"""
        if isinstance(peer, AsyncConnection):
            if self._connection is None:
                self._keep(peer)
            if peer.registration == "Rejected":
                return self._while_rejected(call)
        return super().invoke_handler(route, call, identity, peer)  # type: ignore[misc]

    def _while_rejected(self, call: Call) -> Any:
        """A CALL of the CSMS while it has Rejected the station's boot, in every version: no
        answer at all, no CALLRESULT and no CALLERROR, not even to a TriggerMessage (a station
        refused sends and answers nothing until a boot of its is accepted; its next boot waits
        the answer's ``interval``). A future cancelled at once is the connection's way to leave a
        CALL unanswered: the CSMS's call times out, as against such a station. (2.x answered
        SecurityError, and a TriggerMessage of BootNotification: one rule now for 1.6 and 2.x.)"""
        unanswered: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        unanswered.cancel()
        return unanswered

    def _connected_as(self, identity: str) -> None:
        """The station is connected as ``identity`` (2.x: its ``SecurityCtrlr.Identity``)."""

    def _read(self, action: str, response: Any) -> None:
        """Each answer to the station's CALLs, as the connection reads it (before the caller
        resumes, and before the CSMS's next frame is handled): the traffic learns a 1.6
        transaction's id there (:meth:`Traffic16.read`), and an accepted boot's interval is
        the station's ``HeartbeatInterval`` (OCPP asks the station to adopt it)."""
        self.traffic.read(response)
        if action == "BootNotification":
            self._adopt(response)

    def _adopt(self, boot: Any) -> None:
        """An accepted BootNotificationResponse ``boot`` (or ``None``) gives its interval to the
        station's ``HeartbeatInterval``."""
        if boot is None or boot.status != "Accepted":
            return
        if boot.interval > 0:
            self._heartbeat_is(str(boot.interval))
        if self._traffic is not None and self._traffic.transaction is not None:
            self._schedule_sample()  # back on an accepted connection: the clock goes on

    def _heartbeat_is(self, seconds: str) -> None:
        """The station's ``HeartbeatInterval`` is ``seconds`` now (each version's model)."""

    def _heartbeat_set(self, seconds: str | None) -> None:
        """The CSMS set ``HeartbeatInterval`` (``None``: it did not): the client's heartbeat
        follows, when the station knows its client."""
        if seconds is not None and self.client is not None:
            self.client.heartbeat_interval = float(seconds)

    def _settings_set(self, heartbeat: str | None, sampling: bool, measurands: str | None) -> None:
        """The CSMS set settings that act (:data:`~ocpp_fast._sim_device.ACTING`): a
        ``heartbeat`` interval (``None``: not set), the interval of the meter values
        (``sampling``: set), which restarts their clock when a transaction runs, the
        ``measurands`` of the sampled ones (a comma-separated list its checks let through)."""
        self._heartbeat_set(heartbeat)
        if sampling:
            self._sampling_set = True
            self._schedule_sample()
        if measurands is not None:
            self.traffic.measurands = tuple(measurands.split(","))

    _sampling: asyncio.TimerHandle | None = None
    samples_by_default: bool = True
    """Whether the station keeps the clock of its periodic meter values at its default interval
    before the CSMS sets one. A ``simulate()`` station's traffic mix already carries its
    transactions' meter values at the run's pace: a clock of its own at the default (60 s)
    would add messages to every run (about 7 % at the fleet rate) and move the load
    benchmarks' figures, so :func:`station_handler` turns it off for a station given its
    traffic, until the CSMS sets the interval."""
    _sampling_set: bool = False

    def _sample_interval(self) -> float:
        """Seconds between the meter values the station sends by itself during a transaction
        (0: none), its version's setting (:meth:`_schedule_sample`)."""
        return 0.0

    def _schedule_sample(self) -> None:
        """(Re)start the clock of the running transaction's periodic meter values at the
        station's interval now (2.x ``TxUpdatedInterval``: TransactionEvent ``Updated``, trigger
        MeterValuePeriodic; 1.6 ``MeterValueSampleInterval``: MeterValues of the transaction):
        called when a transaction begins, the interval is set, or a boot is accepted. One timer
        per running transaction, not per message: the traffic of a run pays nothing for it."""
        if self._sampling is not None:
            self._sampling.cancel()
            self._sampling = None
        traffic = self.traffic
        asked = self.samples_by_default or self._sampling_set
        seconds = self._sample_interval() if asked else 0.0
        if traffic.transaction is not None and seconds > 0:
            which = (traffic.transaction, traffic.sessions)
            loop = asyncio.get_running_loop()
            self._sampling = loop.call_later(seconds, self._sample, which)

    def _sample(self, which: tuple[Any, int]) -> None:
        """A tick of the clock of transaction ``which`` (its id, and the sessions ended before
        it: a 1.6 CSMS may give an id twice): its meter values sent, and the next tick set;
        nothing when it ended, or when the station is not on an accepted connection (offline,
        booting again: its next accepted boot starts the clock again)."""
        self._sampling = None
        traffic = self.traffic
        if (traffic.transaction, traffic.sessions) != which or not self.accepted:
            return
        self._carry_out(traffic.request("TransactionEvent.Updated"))
        self._schedule_sample()

    def _trigger(self, message: str, evse: int | None, connector: int | None) -> str:
        """Answer a TriggerMessage of ``message`` (:meth:`Traffic.triggered`): its status, the
        messages it asks for sent after the answer, as the station's other calls are (under
        ``simulate()``, counted in the report)."""
        status, requests = self.traffic.triggered(message, evse, connector, self.accepted)
        self._carry_out_each(requests)
        return status

    def _carry_out(self, request: Any) -> bool:
        """Send ``request`` (an event of the traffic's transaction, or ``None``: nothing to do)
        after the answer being made; whether there was one."""
        if request is None:
            return False
        self._after_answer(self._send(request))
        return True

    def _carry_out_each(self, requests: list[Any]) -> None:
        """Send ``requests`` (a report's parts) after the answer being made, one after the
        other (one CALL outstanding, as OCPP-J asks), stopping at the first that fails."""
        if requests:
            self._after_answer(self._send_each(requests))

    async def _send_each(self, requests: list[Any]) -> None:
        for request in requests:
            if await self._send(request) is None:
                return

    @staticmethod
    def _after_answer(work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` once the handler returned (its answer written first)."""
        task = asyncio.get_running_loop().create_task(work)
        _pending.add(task)
        task.add_done_callback(_sent)

    async def _send(self, request: Any) -> Any:
        if self.sender is not None:
            return await self.sender(request)
        traffic, connection = self.traffic, self._connection
        try:
            if connection is None:
                raise ConnectionError("the station is not connected")
            response = await connection.call(request, timeout=_CALL_TIMEOUT)
        except Exception as exc:
            traffic.failed(request)
            log.warning("%s after an answer failed: %r", type(request).__name__, exc)
            return None
        traffic.answered(request, response)
        return response


def _sent(task: asyncio.Task[Any]) -> None:
    """A call made after an answer (a remote start's or stop's event, a report) is done: what
    it raised unexpectedly is logged."""
    _pending.discard(task)
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("a call after an answer failed", exc_info=error)


_pending: set[asyncio.Task[Any]] = set()
"""The calls made after an answer on their way (a task nobody holds may be collected)."""
_CALL_TIMEOUT = 30.0
"""Seconds a station alone waits for the answer to a call it makes after an answer."""


class _Accepts2xBodies:
    """A simulated 2.x station accepts what a CSMS commonly asks of it: one body per answer
    for 2.0.1 and 2.1, named ``default_<handler>``; the handler is that same function, and
    each station class declares the ``default_`` methods with its version's types."""

    _messages: Any
    _enums: Any
    _types: _Model2x
    accepted: bool
    traffic: Traffic
    _carry_out: Callable[[Any], bool]
    _carry_out_each: Callable[[list[Any]], None]
    _settings_set: Callable[[str | None, bool, str | None], None]
    _trigger: Callable[[str, int | None, int | None], str]
    _device_model: _sim_device.DeviceModel | None = None

    @property
    def device_model(self) -> _sim_device.DeviceModel:
        """The station's variables and their values (GetVariables, SetVariables,
        GetBaseReport): the packaged defaults the first time it is read."""
        if self._device_model is None:
            self._device_model = _sim_device.DeviceModel()
        return self._device_model

    def _connected_as(self, identity: str) -> None:
        self.device_model.set_value("SecurityCtrlr", "Identity", identity)

    def _heartbeat_is(self, seconds: str) -> None:
        self.device_model.set_value(*_sim_device.HEARTBEAT, seconds)

    def default_get_variables(self, request: Any) -> Any:
        """Each item's value from :attr:`device_model`, or why not (UnknownComponent,
        UnknownVariable, NotSupportedAttributeType for an attribute but Actual)."""
        return _sim_device.get_variables(self.device_model, self._types, request)

    def default_set_variables(self, request: Any) -> Any:
        """Each writable item set when its value fits its data type and limits (Rejected
        otherwise, or when read-only); a new ``HeartbeatInterval`` is applied to the heartbeat
        of :attr:`client`, a new ``TxUpdatedInterval`` to a running transaction's meter
        values."""
        response, changed = _sim_device.set_variables(self.device_model, self._types, request)
        self._settings_set(
            changed.get(_sim_device.HEARTBEAT),
            _sim_device.SAMPLE in changed,
            changed.get(_sim_device.MEASURANDS),
        )
        return response

    def _sample_interval(self) -> float:
        return _sim_device.sample_interval(self._device_model)

    def default_get_base_report(self, request: Any) -> Any:
        """Accepted for ConfigurationInventory and FullInventory, then the report in
        NotifyReports (``seqNo`` from 0, ``tbc`` on all but the last); NotSupported for
        SummaryInventory."""
        response, reports = _sim_device.base_report(self.device_model, self._types, request)
        self._carry_out_each(reports)
        return response

    def default_request_start_transaction(self, request: Any) -> Any:
        """Accepted, and the transaction started (TransactionEvent Started, trigger
        RemoteStart, with the request's token and remoteStartId), once the CSMS accepted the
        boot, on EVSE 1 (or no EVSE given), while no transaction runs; Rejected otherwise."""
        started = self.accepted and self._carry_out(self.traffic.remote_start(request))
        status = self._enums.RequestStartStopStatusEnumType
        return self._messages.RequestStartTransactionResponse(
            status=status.ACCEPTED if started else status.REJECTED
        )

    def default_request_stop_transaction(self, request: Any) -> Any:
        """Accepted, and the transaction ended (Ended, trigger RemoteStop, reason Remote), when
        it is the one running; Rejected for any other transaction id."""
        stopped = self._carry_out(self.traffic.remote_stop(request.transaction_id))
        status = self._enums.RequestStartStopStatusEnumType
        return self._messages.RequestStopTransactionResponse(
            status=status.ACCEPTED if stopped else status.REJECTED
        )

    def default_trigger_message(self, request: Any) -> Any:
        """Accepted, and the message sent after the answer: BootNotification (reason Triggered;
        Rejected once the CSMS accepted a boot), Heartbeat, StatusNotification, MeterValues
        (context Trigger), TransactionEvent (Updated, trigger Trigger; Rejected when no
        transaction runs), of EVSE 1 connector 1 (an ``evse`` naming another is Rejected for
        these three, ignored for the others), FirmwareStatusNotification and
        LogStatusNotification (Idle); NotImplemented for the others (certificates)."""
        evse = request.evse
        where = (None, None)
        if evse is not msgspec.UNSET:
            where = (evse.id, None if evse.connector_id is msgspec.UNSET else evse.connector_id)
        status = self._trigger(str(request.requested_message), *where)
        return self._messages.TriggerMessageResponse(
            status=self._enums.TriggerMessageStatusEnumType(status)
        )

    def default_change_availability(self, request: Any) -> Any:
        return self._messages.ChangeAvailabilityResponse(
            status=self._enums.ChangeAvailabilityStatusEnumType.ACCEPTED
        )

    def default_unlock_connector(self, request: Any) -> Any:
        return self._messages.UnlockConnectorResponse(
            status=self._enums.UnlockStatusEnumType.UNLOCKED
        )

    # the handlers: the default answers themselves
    request_start_transaction = default_request_start_transaction
    request_stop_transaction = default_request_stop_transaction
    change_availability = default_change_availability
    unlock_connector = default_unlock_connector
    get_variables = default_get_variables
    set_variables = default_set_variables
    get_base_report = default_get_base_report
    trigger_message = default_trigger_message


if TYPE_CHECKING:

    class _Accepts2x:
        """To the type checkers, the version's own declared handler slots (a method defined
        in a mixin beside a version's base conflicts with the slot the base declares)."""

else:
    _Accepts2x = _Accepts2xBodies


class SimulatedStation(_Accepts2x, _Transacting, v201.Charger):
    """The station side of a simulated 2.0.1 charger.

    To change one answer, subclass it and override that handler in any form a handler
    takes (plain or ``async def``, with or without ``context``); the station's own answer
    is ``self.default_<handler>(request)``, typed with the action's request and response
    (``super().<handler>(request)`` is not: the base's handler may be any of those forms).
    Its remote start is Rejected until the CSMS accepted the boot of its connection; an
    override of ``on_connect`` or ``on_disconnect`` calls ``super()``'s, which keep that
    connection. An accepted remote start starts a transaction on EVSE 1 (TransactionEvent
    Started, trigger RemoteStart, with the request's token and remoteStartId) and a remote
    stop of it ends it (Ended, reason Remote): its :attr:`traffic` holds that transaction.
    """

    _messages = messages
    _enums = enums
    _types = _V201

    if TYPE_CHECKING:  # the bodies are _Accepts2xBodies', shared with 2.1

        def default_request_start_transaction(
            self, request: messages.RequestStartTransactionRequest
        ) -> messages.RequestStartTransactionResponse: ...
        def default_request_stop_transaction(
            self, request: messages.RequestStopTransactionRequest
        ) -> messages.RequestStopTransactionResponse: ...
        def default_change_availability(
            self, request: messages.ChangeAvailabilityRequest
        ) -> messages.ChangeAvailabilityResponse: ...
        def default_unlock_connector(
            self, request: messages.UnlockConnectorRequest
        ) -> messages.UnlockConnectorResponse: ...
        def default_get_variables(
            self, request: messages.GetVariablesRequest
        ) -> messages.GetVariablesResponse: ...
        def default_set_variables(
            self, request: messages.SetVariablesRequest
        ) -> messages.SetVariablesResponse: ...
        def default_get_base_report(
            self, request: messages.GetBaseReportRequest
        ) -> messages.GetBaseReportResponse: ...
        def default_trigger_message(
            self, request: messages.TriggerMessageRequest
        ) -> messages.TriggerMessageResponse: ...
        @property
        def device_model(self) -> _sim_device.DeviceModel: ...


class SimulatedStation21(_Accepts2x, _Transacting, v21.Charger):
    """The station side of a simulated 2.1 charger, extended as :class:`SimulatedStation` is
    (``self.default_<handler>(request)``, typed with 2.1's messages)."""

    _messages = messages21
    _enums = enums21
    _types = _V21
    _label = "2.1"

    if TYPE_CHECKING:  # the bodies are _Accepts2xBodies', shared with 2.0.1

        def default_request_start_transaction(
            self, request: messages21.RequestStartTransactionRequest
        ) -> messages21.RequestStartTransactionResponse: ...
        def default_request_stop_transaction(
            self, request: messages21.RequestStopTransactionRequest
        ) -> messages21.RequestStopTransactionResponse: ...
        def default_change_availability(
            self, request: messages21.ChangeAvailabilityRequest
        ) -> messages21.ChangeAvailabilityResponse: ...
        def default_unlock_connector(
            self, request: messages21.UnlockConnectorRequest
        ) -> messages21.UnlockConnectorResponse: ...
        def default_get_variables(
            self, request: messages21.GetVariablesRequest
        ) -> messages21.GetVariablesResponse: ...
        def default_set_variables(
            self, request: messages21.SetVariablesRequest
        ) -> messages21.SetVariablesResponse: ...
        def default_get_base_report(
            self, request: messages21.GetBaseReportRequest
        ) -> messages21.GetBaseReportResponse: ...
        def default_trigger_message(
            self, request: messages21.TriggerMessageRequest
        ) -> messages21.TriggerMessageResponse: ...
        @property
        def device_model(self) -> _sim_device.DeviceModel: ...


class SimulatedStation16(_Transacting, v16.Charger):
    """The station side of a simulated 1.6 charger: it accepts what a CSMS commonly asks.

    Extended as :class:`SimulatedStation` is: override a handler in any form, and reach the
    station's answer as ``self.default_<handler>(request)``, typed with 1.6's messages.
    """

    _label = "1.6"
    _configuration: _sim_device.Configuration16 | None = None

    @property
    def configuration(self) -> _sim_device.Configuration16:
        """The station's configuration keys and their values (GetConfiguration,
        ChangeConfiguration): the packaged defaults the first time it is read."""
        if self._configuration is None:
            self._configuration = _sim_device.Configuration16()
        return self._configuration

    def _heartbeat_is(self, seconds: str) -> None:
        self.configuration.values[_sim_device.HEARTBEAT_16] = seconds

    def _sample_interval(self) -> float:
        return _sim_device.sample_interval_16(self._configuration)

    def default_get_configuration(
        self, request: messages16.GetConfigurationRequest
    ) -> messages16.GetConfigurationResponse:
        """The known keys asked for (every one when none is), the others in ``unknownKey``."""
        return _sim_device.get_configuration(self.configuration, request)

    def default_change_configuration(
        self, request: messages16.ChangeConfigurationRequest
    ) -> messages16.ChangeConfigurationResponse:
        """Accepted when the key is writable and the value fits, Rejected otherwise,
        NotSupported for an unknown key; a new ``HeartbeatInterval`` is applied to the
        heartbeat of :attr:`client`, a new ``MeterValueSampleInterval`` to a running
        transaction's meter values."""
        response, changed = _sim_device.change_configuration(self.configuration, request)
        self._settings_set(
            changed.get(_sim_device.HEARTBEAT_16),
            _sim_device.SAMPLE_16 in changed,
            changed.get(_sim_device.MEASURANDS_16),
        )
        return response

    def default_remote_start_transaction(
        self, request: messages16.RemoteStartTransactionRequest
    ) -> messages16.RemoteStartTransactionResponse:
        """Accepted, and StartTransaction sent with the request's idTag (the CSMS's answer
        gives the transaction id), once the CSMS accepted the boot, on connector 1 (or none
        given), while no transaction runs or starts; Rejected otherwise."""
        started = self.accepted and self._carry_out(self.traffic.remote_start(request))
        status = enums16.RemoteStartTransactionResponseStatusEnum
        return messages16.RemoteStartTransactionResponse(
            status=status.ACCEPTED if started else status.REJECTED
        )

    def default_remote_stop_transaction(
        self, request: messages16.RemoteStopTransactionRequest
    ) -> messages16.RemoteStopTransactionResponse:
        """Accepted, and StopTransaction sent (reason Remote), when ``transactionId`` is the
        running transaction's; Rejected for any other."""
        stopped = self._carry_out(self.traffic.remote_stop(request.transaction_id))
        status = enums16.RemoteStopTransactionResponseStatusEnum
        return messages16.RemoteStopTransactionResponse(
            status=status.ACCEPTED if stopped else status.REJECTED
        )

    def default_trigger_message(
        self, request: messages16.TriggerMessageRequest
    ) -> messages16.TriggerMessageResponse:
        """Accepted, and the message sent after the answer: BootNotification, Heartbeat,
        DiagnosticsStatusNotification and FirmwareStatusNotification (Idle), StatusNotification
        (of ``connectorId``, 0 the charge point's; of connectors 0 and 1 without it), MeterValues
        (connector 1, context Trigger); Rejected for another connector of these two (a
        ``connectorId`` is ignored for the others)."""
        connector = None if request.connector_id is msgspec.UNSET else request.connector_id
        status = self._trigger(str(request.requested_message), None, connector)
        return messages16.TriggerMessageResponse(
            status=enums16.TriggerMessageResponseStatusEnum(status)
        )

    def default_change_availability(
        self, request: messages16.ChangeAvailabilityRequest
    ) -> messages16.ChangeAvailabilityResponse:
        return messages16.ChangeAvailabilityResponse(
            status=enums16.ChangeAvailabilityResponseStatusEnum.ACCEPTED
        )

    def default_unlock_connector(
        self, request: messages16.UnlockConnectorRequest
    ) -> messages16.UnlockConnectorResponse:
        return messages16.UnlockConnectorResponse(
            status=enums16.UnlockConnectorResponseStatusEnum.UNLOCKED
        )

    if not TYPE_CHECKING:  # the handlers are the answers (checkers see the version's slots)
        remote_start_transaction = default_remote_start_transaction
        remote_stop_transaction = default_remote_stop_transaction
        change_availability = default_change_availability
        unlock_connector = default_unlock_connector
        get_configuration = default_get_configuration
        change_configuration = default_change_configuration
        trigger_message = default_trigger_message


AnyStation: TypeAlias = "SimulatedStation | SimulatedStation16 | SimulatedStation21"


def station_handler(label: str, traffic: Traffic | None = None) -> AnyStation:
    """The handler of a simulated station of OCPP ``label``, whose remote starts and stops run
    the transaction of ``traffic`` (the state its own traffic sends from; its transactions'
    periodic meter values then come from that traffic's mix until the CSMS sets their
    interval: :attr:`_Transacting.samples_by_default`)."""
    station: AnyStation
    if label == "1.6":
        station = SimulatedStation16()
    else:
        station = SimulatedStation21() if label == "2.1" else SimulatedStation()
    if traffic is not None:
        station.traffic = traffic
        station.samples_by_default = False  # the traffic's mix carries its meter values
    return station
