"""The facts about each OCPP version that its JSON schemas do not hold.

Who sends each request comes from shared/spec/OCPP-J.md ("Actions and who sends
the request"); every action not listed under the station is sent by the CSMS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["V16", "V21", "V201", "VERSIONS", "VersionSpec"]


@dataclass(frozen=True)
class VersionSpec:
    """What the generator needs to know about one OCPP version."""

    package: str
    """Sub-package of ocpp_fast, e.g. ``v201``."""
    label: str
    """Human name, e.g. ``2.0.1``."""
    schema_dir: str
    """Folder of the schemas inside the ``ocpp`` package."""
    station_sends: frozenset[str]
    """Actions whose request the station sends."""
    both_send: frozenset[str] = field(default_factory=lambda: frozenset({"DataTransfer"}))
    send_only: frozenset[str] = field(default_factory=frozenset)
    """Actions sent as SEND frames (2.1), which have no response schema."""
    message_types: tuple[int, ...] = (2, 3, 4)
    """Frame type numbers the version defines (2.1 adds CALLRESULTERROR 5 and SEND 6)."""
    reply_to_unknown_message_type: bool = False
    """2.0.1 answers an unknown type with MessageTypeNotSupported; 1.6 and 2.1 ignore it."""


_V201_STATION = frozenset(
    {
        "Authorize",
        "BootNotification",
        "ClearedChargingLimit",
        "FirmwareStatusNotification",
        "Get15118EVCertificate",
        "GetCertificateStatus",
        "Heartbeat",
        "LogStatusNotification",
        "MeterValues",
        "NotifyChargingLimit",
        "NotifyCustomerInformation",
        "NotifyDisplayMessages",
        "NotifyEVChargingNeeds",
        "NotifyEVChargingSchedule",
        "NotifyEvent",
        "NotifyMonitoringReport",
        "NotifyReport",
        "PublishFirmwareStatusNotification",
        "ReportChargingProfiles",
        "ReservationStatusUpdate",
        "SecurityEventNotification",
        "SignCertificate",
        "StatusNotification",
        "TransactionEvent",
    }
)

V201 = VersionSpec(
    package="v201",
    label="2.0.1",
    schema_dir="v201/schemas",
    station_sends=_V201_STATION,
    reply_to_unknown_message_type=True,
)

V16 = VersionSpec(
    package="v16",
    label="1.6",
    schema_dir="v16/schemas",
    station_sends=frozenset(
        {
            # core
            "Authorize",
            "BootNotification",
            "DiagnosticsStatusNotification",
            "FirmwareStatusNotification",
            "Heartbeat",
            "MeterValues",
            "StartTransaction",
            "StatusNotification",
            "StopTransaction",
            # security extension
            "LogStatusNotification",
            "SecurityEventNotification",
            "SignCertificate",
            "SignedFirmwareStatusNotification",
        }
    ),
)

V21 = VersionSpec(
    package="v21",
    label="2.1",
    schema_dir="v21/schemas",
    station_sends=_V201_STATION
    | {
        "BatterySwap",
        "ClosePeriodicEventStream",
        "GetCertificateChainStatus",
        "NotifyDERAlarm",
        "NotifyDERStartStop",
        "NotifyPeriodicEventStream",
        "NotifyPriorityCharging",
        "NotifySettlement",
        "OpenPeriodicEventStream",
        "PullDynamicScheduleUpdate",
        "ReportDERControl",
        "VatNumberValidation",
    },
    send_only=frozenset({"NotifyPeriodicEventStream"}),
    message_types=(2, 3, 4, 5, 6),
)

VERSIONS = {spec.package: spec for spec in (V16, V201, V21)}
