"""What a simulated 1.6 station sends (for :mod:`.simulator`): the traffic of :mod:`._sim_traffic`
with its transaction's events as 1.6 messages (StartTransaction, whose answer gives the
transaction id; MeterValues of that transaction; StopTransaction); and :func:`traffic_for`, the
state of a station of any version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from ocpp_fast._sim_traffic import _ENERGY_STEP, _PLACED, _V21, _V201, Traffic, _now, reading
from ocpp_fast.v16 import datatypes as datatypes16
from ocpp_fast.v16 import enums as enums16
from ocpp_fast.v16 import messages as messages16

__all__ = ["Traffic16", "traffic_for"]

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

_ID_TAG = "04A1B2C3D4E5F6"


@dataclass
class Traffic16(Traffic[int]):
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
        return self.transaction is not None or self.starting or self.authorizing

    def startable(self, request: Any) -> bool:
        """Whether the station can start a RemoteStartTransaction ``request``: not charging (nor
        starting), and on its only connector (1) or none named."""
        return not self.charging and request.connector_id in (msgspec.UNSET, 1)

    def remote_start(self, request: Any) -> Any:
        """The StartTransaction of a RemoteStartTransaction ``request`` (its idTag); ``None``
        when the station cannot start it (:meth:`startable`)."""
        if not self.startable(request):
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

    def reset_end(self, kind: str) -> Any:
        """The StopTransaction (reason HardReset or SoftReset, by ``kind``) of the transaction a
        Reset cuts, sent before the station reboots; ``None`` when none runs."""
        if self.transaction is None:
            return None
        hard = kind == "Hard"
        return self._stop(enums16.ReasonEnum.HARD_RESET if hard else enums16.ReasonEnum.SOFT_RESET)

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
        assert transaction is not None  # each caller stops the running transaction only
        self.sessions += 1
        self.energy += _ENERGY_STEP
        ended = self.ended_measurands
        return messages16.StopTransactionRequest(
            meter_stop=int(self.energy),
            timestamp=_now(),
            transaction_id=transaction,
            reason=reason,
            transaction_data=msgspec.UNSET if ended is None else self._ended(ended),
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

    def _chosen_meter_values(
        self,
        measurands: tuple[str, ...],
        context: enums16.ContextEnum = enums16.ContextEnum.SAMPLE_PERIODIC,
    ) -> messages16.MeterValuesRequest:
        """MeterValues of the ``measurands`` the CSMS chose (MeterValuesSampledData periodic,
        MeterValuesAlignedData ``Sample.Clock``), apart from :meth:`_meter_values`, whose
        traffic pays nothing for them."""
        return messages16.MeterValuesRequest(
            connector_id=1,
            meter_value=self._chosen(measurands, context),
            transaction_id=self.transaction if self.transaction is not None else msgspec.UNSET,
        )

    def _chosen(
        self, measurands: tuple[str, ...], context: enums16.ContextEnum
    ) -> list[datatypes16.MeterValueType]:
        """A reading of ``measurands`` now, in their order, each with its unit and phase."""
        sampled = [
            datatypes16.MeterValueSampledValueType(
                value=value,
                context=context,
                measurand=enums16.MeasurandEnum(measurand),
                phase=phase,
                unit=enums16.MeterValueSampledValueUnitEnum(unit),
            )
            for measurand, value, unit, phase in self._readings(measurands)
        ]
        return [datatypes16.MeterValueType(timestamp=_now(), sampled_value=sampled)]

    def _ended(self, measurands: tuple[str, ...]) -> list[datatypes16.TransactionDataType]:
        """StopTransaction's ``transactionData``: a reading of ``measurands`` (1.6 types them
        apart from MeterValues'), context ``Transaction.End``."""
        sampled = [
            datatypes16.TransactionDataSampledValueType(
                value=value,
                context=enums16.ContextEnum.TRANSACTION_END,
                measurand=enums16.MeasurandEnum(measurand),
                phase=phase,
                unit=enums16.TransactionDataSampledValueUnitEnum(unit),
            )
            for measurand, value, unit, phase in self._readings(measurands)
        ]
        return [datatypes16.TransactionDataType(timestamp=_now(), sampled_value=sampled)]

    def _readings(self, measurands: tuple[str, ...]) -> list[tuple[str, str, str, Any]]:
        """Each measurand's value as 1.6 writes it, unit and phase (``UNSET``: none)."""
        readings = []
        for measurand in measurands:
            value, unit, phase = reading(measurand, self.energy)
            written = f"{value:.1f}".removesuffix(".0")
            readings.append(
                (
                    measurand,
                    written,
                    unit,
                    msgspec.UNSET if phase is None else enums16.PhaseEnum(phase),
                )
            )
        return readings

    def aligned(self, measurands: tuple[str, ...]) -> messages16.MeterValuesRequest:
        """Clock-aligned MeterValues of ``measurands`` (MeterValuesAlignedData) of connector 1,
        context ``Sample.Clock``, of the running transaction if one runs."""
        return self._chosen_meter_values(measurands, enums16.ContextEnum.SAMPLE_CLOCK)

    def authorize(self, request: Any) -> messages16.AuthorizeRequest:
        return messages16.AuthorizeRequest(id_tag=request.id_tag)

    def authorized(self, response: Any) -> bool:
        return str(response.id_tag_info.status) == "Accepted"


def traffic_for(label: str, serial: str) -> Traffic[str] | Traffic16:
    """A fresh station state of OCPP ``label``."""
    if label == "1.6":
        return Traffic16(serial=serial, model=_V201)  # (the 2.x model is not used in 1.6)
    return Traffic(serial=serial, model=_V21 if label == "2.1" else _V201)
