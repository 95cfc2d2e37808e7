"""What a simulated station sends, in each OCPP version (for :mod:`.simulator`): the mix, and the
2.x traffic (1.6's is :mod:`._sim_traffic16`; what stations answer, :mod:`._sim_stations`).

Every version follows one traffic shape, the shares of the shared 2.0.1 fleet mix
(:data:`MIX_SHARES`: mostly transaction updates with meter values, heartbeats, status
notifications and meter values); a 1.6 station sends that shape's 1.6 messages
(StartTransaction / MeterValues / StopTransaction for the transaction's events), a 2.1 station
that shape plus what 2.1 adds, its periodic event stream (:data:`MIX_SHARES_21`). Each
station's state keeps its messages coherent: a transaction starts after an authorized
token, its meter values carry its id, it stops. A remote start the station accepts begins that
same transaction (one at a time, on its one EVSE) and a remote stop ends it.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

import msgspec

from ocpp_fast.v21 import datatypes as datatypes21
from ocpp_fast.v21 import enums as enums21
from ocpp_fast.v21 import messages as messages21
from ocpp_fast.v201 import datatypes, enums, messages

__all__ = [
    "ACTION_PRESETS",
    "CORE_ACTIONS",
    "MIX_SHARES",
    "MIX_SHARES_21",
    "STREAM",
    "STREAM_SENDS",
    "Traffic",
    "action_of",
    "chosen_actions",
    "is_core",
    "mix_of",
    "mixed_actions",
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
STREAM = "NotifyPeriodicEventStream"
"""OCPP 2.1's one SEND action (OCPP-J 2.1: ``[6, ...]``, never answered): the samples of a
periodic event stream the station opened with OpenPeriodicEventStream (a CALL)."""
MIX_SHARES_21: dict[str, int] = {**MIX_SHARES, STREAM: 5}
"""A 2.1 station's shares: :data:`MIX_SHARES` plus its stream's SENDs at the weight of the
packaged 2.1 mix (``ocpp_fast/data/mix-v21.jsonl``: the 2.0.1 mix's weights, 100, and 5 for
NotifyPeriodicEventStream, so 5 of 105 of what a 2.1 station sends). The stream's
OpenPeriodicEventStream and ClosePeriodicEventStream come on top (one of each per
:data:`STREAM_SENDS` SENDs), as a restart's TransactionEvent Ended does."""
STREAM_SENDS = 10
"""SENDs of one periodic event stream before the station closes it (ClosePeriodicEventStream)
and opens a new one at its next pick: the whole lifecycle on the wire without the CALLs
outweighing the SENDs (two CALLs per ten SENDs)."""

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
NotSupported). For a 2.1 station ``all`` is its own mix's, NotifyPeriodicEventStream included
(:data:`MIX_SHARES_21`)."""
_PRESETS_21: dict[str, frozenset[str]] = {**ACTION_PRESETS, "all": ACTION_PRESETS["all"] | {STREAM}}
"""The presets of a 2.1 station: ``all`` of its mix (:data:`MIX_SHARES_21`), what 2.1 adds
included."""
_ALIASES_16 = {
    "StartTransaction": "TransactionEvent",
    "StopTransaction": "TransactionEvent",
    "DiagnosticsStatusNotification": "NotifyReport",
}
"""1.6's names for what a 1.6 station sends in place of a 2.x message of the mix."""


def chosen_actions(actions: str | Iterable[str], version: str = "2.0.1") -> frozenset[str]:
    """The actions of :data:`MIX_SHARES` that ``actions`` names: a preset of
    :data:`ACTION_PRESETS`, action names (1.6's too: ``StartTransaction`` is the
    transaction's messages; 2.1's NotifyPeriodicEventStream, which only 2.1 stations send), or
    both (``["core", "DataTransfer"]``); a comma-separated string is a list. ``version``: whose
    presets (``all`` of a ``"2.1"`` station takes in its stream). BootNotification is always
    in: a station boots before anything else (the mix is :func:`mixed_actions`)."""
    return mixed_actions(actions, version) | {"BootNotification"}


def mixed_actions(actions: str | Iterable[str], version: str = "2.0.1") -> frozenset[str]:
    """The actions of the traffic mix ``actions`` names (see :func:`chosen_actions`): a
    BootNotification mid-run (a station restarting) only when named, as the presets do. Each
    station boots on connecting anyway; a boot in the mix unasked for reported a restart in the
    middle of a transaction that a run named without it could not turn off."""
    presets = _PRESETS_21 if version == "2.1" else ACTION_PRESETS
    names = actions.split(",") if isinstance(actions, str) else list(actions)
    chosen: set[str] = set()
    unknown = []
    for name in (name.strip() for name in names):
        if name in presets:
            chosen |= presets[name]
        elif _ALIASES_16.get(name, name) in _PRESETS_21["all"]:
            chosen.add(_ALIASES_16.get(name, name))
        elif name:
            unknown.append(name)
    if unknown or not any(name.strip() for name in names):
        known = sorted(_PRESETS_21["all"] | _ALIASES_16.keys())
        raise ValueError(
            f"actions are 'core', 'all' or names among {', '.join(known)}; "
            f"not {', '.join(unknown) or repr(actions)}"
        )
    return frozenset(chosen)


def mix_of(actions: str | Iterable[str], version: str) -> tuple[list[str], list[int]]:
    """The kinds a station of OCPP ``version`` draws its messages from, of those ``actions``
    names (:func:`mixed_actions`), and their weights: :data:`MIX_SHARES` in the shared order
    (1.6 and 2.0.1 stations draw exactly what they drew before 2.1's stream was added), a
    2.1 station :data:`MIX_SHARES_21`. ``ValueError`` when the stations of ``version`` would
    have nothing to send (``NotifyPeriodicEventStream`` alone for a 2.0.1 station): said
    before the run, where such stations would only boot."""
    chosen = mixed_actions(actions, version)
    shares = MIX_SHARES_21 if version == "2.1" else MIX_SHARES
    kinds = [kind for kind in shares if action_of(kind) in chosen]
    if not kinds:
        missing = ", ".join(sorted(chosen))
        raise ValueError(
            f"actions {missing}: nothing the OCPP {version} stations send "
            f"({STREAM} is sent by 2.1 stations only); add actions of theirs, or core"
        )
    return kinds, [shares[kind] for kind in kinds]


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
        self.messages: Any = messages  # one body for two versions: each version's module
        self.enums: Any = enums
        self.datatypes: Any = datatypes
        self.token: Any = datatypes.IdTokenType(id_token="04A1B2C3D4E5F6", type=token_type)
        trigger = enums.TriggerReasonEnumType
        self.triggers: dict[str, Any] = {
            "Started": trigger.AUTHORIZED,
            "Updated": trigger.METER_VALUE_PERIODIC,
            "Ended": trigger.EV_COMMUNICATION_LOST,
        }
        self.report: list[Any] = [
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

    def chosen_meter(
        self, energy: float, measurands: tuple[str, ...], context: str = "Sample.Periodic"
    ) -> list[Any]:
        """The meter values of a reading of the ``measurands`` the CSMS chose (TxUpdatedMeasurands
        periodic, TxEndedMeasurands ``Transaction.End``, AlignedDataCtrlr's ``Sample.Clock``),
        in their order. Apart from :meth:`meter`, whose traffic pays nothing for it (a branch
        there cost it some 700 instructions a message, measured)."""
        sampled = [self._sampled(measurand, energy, context) for measurand in measurands]
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
_PLACED = frozenset({"StatusNotification", "MeterValues", "TransactionEvent"})
"""The triggerable messages an EVSE or connector applies to. For the others the CSMS's
``evse`` / ``connectorId`` is ignored and the message sent all the same: the simulator's
reading of OCPP's TriggerMessage sections (as recalled; neither the shared OCPP-J summary nor
the JSON schemas state it, so the docs say so)."""

_STREAM_INTERVAL = 15
"""Seconds between two samples of a simulated station's periodic event stream (its ``params``
``interval``)."""
_STREAM_VALUES = 4
"""Samples per SEND of the stream (its ``params`` ``values``)."""
_STREAM_MONITOR = 1
"""The ``variableMonitoringId`` of the stream: the simulator's own monitor of its EVSE's
``Power``, a preconfigured one (2.1 lets a stream report such a monitor, or a hardwired one;
the simulated station's device model has no monitors to set)."""

_V201 = _Model2x(messages, enums, datatypes, enums.IdTokenEnumType.ISO14443)
_V21 = _Model2x(messages21, enums21, datatypes21, "ISO14443")  # 2.1's idToken type is a string


TxIdT = TypeVar("TxIdT", bound=str | int)
"""The type of a transaction's id: 2.x's ``transactionId`` is the station's string, 1.6's the
CSMS's integer (StartTransaction's answer)."""


@dataclass
class Traffic(Generic[TxIdT]):
    """One station's state between messages, and the next request of each kind (2.x; 1.6's is
    :class:`~._sim_traffic16.Traffic16`, a ``Traffic[int]``)."""

    serial: str
    model: _Model2x
    transaction: TxIdT | None = None
    """The running transaction's id (``None``: none runs): a ``str`` in 2.x, an ``int`` in 1.6."""
    seq_no: int = 0
    energy: float = 0.0
    sessions: int = 0
    measurands: tuple[str, ...] | None = None
    """The measurands of the transaction's sampled meter values the CSMS chose (2.x
    ``TxUpdatedMeasurands``, for its ``Updated`` events; 1.6 ``MeterValuesSampledData``, for its
    periodic MeterValues); ``None`` while it chose none: the station's usual ones."""
    ended_measurands: tuple[str, ...] | None = None
    """The measurands of the transaction's end the CSMS chose (2.x ``TxEndedMeasurands``, in its
    ``Ended`` event; 1.6 ``StopTxnSampledData``, in StopTransaction's ``transactionData``);
    ``None`` while it chose none: the usual meter values (1.6: no ``transactionData``)."""
    authorizing: bool = False
    """A remote start waits for the CSMS's answer to its Authorize (``AuthorizeRemoteStart``):
    the station's one EVSE is taken meanwhile."""
    boot_reason: str = "PowerUp"
    """The ``reason`` of the station's next BootNotification (2.x): ``RemoteReset`` once a Reset
    made it reboot, until a boot is accepted (1.6's boot has no reason)."""
    began: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    """Called when a transaction begins (1.6: once the CSMS gave its id), so that the station
    starts the clock of its periodic meter values; checked on a start only, so the traffic's
    other messages pay nothing for it."""
    streams: int = 0
    """Periodic event streams the station opened so far (2.1): the next one's id."""
    stream_on: object = field(default=None, repr=False, compare=False)
    """The connection on which the CSMS accepted the station's open stream (2.1), ``None``
    while none is open: a stream is its connection's, so a new connection (a reconnect, a
    reboot) opens a new one before its first SEND."""
    stream_sends: int = 0
    """SENDs of the open stream so far (it closes after :data:`STREAM_SENDS`)."""

    def request(self, kind: str) -> Any:
        """The next request of ``kind`` (a key of :data:`MIX_SHARES`), coherent with the
        charging state."""
        model = self.model
        messages, enums, datatypes = model.messages, model.enums, model.datatypes
        if kind.startswith("TransactionEvent"):
            return self._transaction_event(kind.split(".")[1])
        if kind == "BootNotification":
            return messages.BootNotificationRequest(
                reason=enums.BootReasonEnumType(self.boot_reason),
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
        """Whether a transaction runs (or is being authorized, or, 1.6, started): a remote start
        is refused."""
        return self.transaction is not None or self.authorizing

    def startable(self, request: Any) -> bool:
        """Whether the station can start a RequestStartTransaction ``request``: not charging, and
        on its only EVSE (1) or none named."""
        return not self.charging and request.evse_id in (msgspec.UNSET, 1)

    def remote_start(self, request: Any) -> Any:
        """The TransactionEvent Started of a RequestStartTransaction ``request`` (its token and
        remoteStartId, trigger RemoteStart), the transaction begun; ``None`` when the station
        cannot start it (:meth:`startable`)."""
        if not self.startable(request):
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
        PowerLoss) of the transaction the power cut; ``None`` when none ran. Its periodic
        event stream (2.1) went with the power: the next pick of it opens a new one."""
        self.stream_on = None
        enums = self.model.enums
        return self._cut(
            enums.TriggerReasonEnumType.ABNORMAL_CONDITION, enums.ReasonEnumType.POWER_LOSS
        )

    def reset_end(self, kind: str) -> Any:
        """What a station carrying out a Reset of ``kind`` sends before it reboots: the
        TransactionEvent Ended (trigger ResetCommand, stopped reason ImmediateReset) of the
        transaction it cuts; ``None`` when none runs (an ``OnIdle`` reset waits for that)."""
        enums = self.model.enums
        return self._cut(
            enums.TriggerReasonEnumType.RESET_COMMAND, enums.ReasonEnumType.IMMEDIATE_RESET
        )

    def open_stream(self) -> Any:
        """The OpenPeriodicEventStream (2.1) of the station's next stream: a new id, the
        samples of :data:`_STREAM_MONITOR` every :data:`_STREAM_INTERVAL` s, sent
        :data:`_STREAM_VALUES` a SEND."""
        self.streams += 1
        datatypes = self.model.datatypes
        return self.model.messages.OpenPeriodicEventStreamRequest(
            constant_stream_data=datatypes.ConstantStreamDataType(
                id=self.streams,
                params=datatypes.PeriodicEventStreamParamsType(
                    interval=_STREAM_INTERVAL, values=_STREAM_VALUES
                ),
                variable_monitoring_id=_STREAM_MONITOR,
            )
        )

    def stream_opened(self, connection: object) -> None:
        """The CSMS accepted the stream :meth:`open_stream` asked for, on ``connection``."""
        self.stream_on, self.stream_sends = connection, 0

    def stream_sample(self) -> Any:
        """The next NotifyPeriodicEventStream (2.1, a SEND) of the open stream: the EVSE's power
        (7200 W while charging, 0 idle) at :data:`_STREAM_VALUES` instants
        :data:`_STREAM_INTERVAL` s apart, the last now (``t``: seconds after ``basetime``),
        none pending."""
        self.stream_sends += 1
        power = "7200.0" if self.transaction is not None else "0.0"
        span = _STREAM_INTERVAL * (_STREAM_VALUES - 1)
        datatypes = self.model.datatypes
        return self.model.messages.NotifyPeriodicEventStreamRequest(
            id=self.streams,
            pending=0,
            basetime=_now() - datetime.timedelta(seconds=span),
            data=[
                datatypes.StreamDataElementType(t=t, v=power)
                for t in range(0, span + 1, _STREAM_INTERVAL)
            ],
        )

    def close_stream(self) -> Any:
        """The ClosePeriodicEventStream (2.1) of the open stream once it sent
        :data:`STREAM_SENDS` SENDs, the stream then closed; ``None`` before."""
        if self.stream_sends < STREAM_SENDS:
            return None
        self.stream_on = None
        return self.model.messages.ClosePeriodicEventStreamRequest(id=self.streams)

    def _cut(self, trigger: Any, stopped: Any) -> Any:
        """The Ended event of the running transaction cut short (``None`` when none runs)."""
        if self.transaction is None:
            return None
        return self._transaction_event("Ended", trigger, stopped=stopped)

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
            # a 2.x id, the station's own (Traffic16 never comes here: 1.6's comes from the CSMS)
            self.transaction, self.seq_no, event = cast(TxIdT, str(uuid.uuid4())), 0, "Started"
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
            if self.measurands is None and self.ended_measurands is None
            else self._chosen_meter(event),
            id_token=(id_token or model.token) if event == "Started" else msgspec.UNSET,
        )
        if event == "Ended":
            self.transaction = None
        return request

    def _chosen_meter(self, event: str) -> list[Any]:
        """The meter values of ``event`` once the CSMS chose measurands: those of
        ``TxUpdatedMeasurands`` in an ``Updated``, of ``TxEndedMeasurands`` in an ``Ended``
        (context ``Transaction.End``), the usual ones where it chose none."""
        model, energy = self.model, self.energy
        if event == "Updated" and self.measurands is not None:
            return model.chosen_meter(energy, self.measurands)
        if event == "Ended" and self.ended_measurands is not None:
            return model.chosen_meter(energy, self.ended_measurands, "Transaction.End")
        return model.meter(energy)

    def aligned(self, measurands: tuple[str, ...]) -> Any:
        """The clock-aligned meter values of ``measurands`` (AlignedDataCtrlr), context
        ``Sample.Clock``: in a TransactionEvent ``Updated`` (trigger MeterValueClock) while a
        transaction runs, in MeterValues of EVSE 1 otherwise."""
        meter = self.model.chosen_meter(self.energy, measurands, "Sample.Clock")
        if self.transaction is None:
            return self.model.messages.MeterValuesRequest(evse_id=1, meter_value=meter)
        clock = self.model.enums.TriggerReasonEnumType.METER_VALUE_CLOCK
        event = self._transaction_event("Updated", clock)
        return msgspec.structs.replace(event, meter_value=meter)

    def authorize(self, request: Any) -> Any:
        """The Authorize of a remote start ``request``'s token (``AuthorizeRemoteStart``)."""
        return self.model.messages.AuthorizeRequest(id_token=request.id_token)

    def authorized(self, response: Any) -> bool:
        """Whether an Authorize's ``response`` accepts the token."""
        return str(response.id_token_info.status) == "Accepted"
