"""What ``ocpp-fast bench`` needs of each OCPP version it measures (for :mod:`.bench`).

The bench's variants are the same code for every version: what differs is the model
(``ocpp_fast.<package>``), the drop-in (``ocpp_fast.compat.<package>``), the ``ocpp``
package's module of the same name, the packaged traffic mix, and the answers the handlers
return. A :class:`BenchVersion` holds those, so a 1.6 fleet sees its own figures from the
very code that prints 2.0.1's, and a version added here is measured the same way.

The answers are built once, outside any timing: ``responses`` are ocpp_fast Structs (what
a handler of ``ChargeSystem`` returns), ``ocpp_responses`` the ``ocpp`` package's
``call_result`` dataclasses for the same actions (imported only when (c) or (f) runs).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["BENCH_VERSIONS", "V201", "BenchVersion"]

_DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class BenchVersion:
    """One OCPP version as the bench measures it."""

    label: str
    """``"2.0.1"``, ``"1.6"``: what ``--version`` takes."""
    package: str
    """``v201``, ``v16``: the module name in ocpp_fast, its compat layer and ``ocpp``."""
    mix: Path
    """The packaged weighted mix of the frames a station of this version sends."""
    responses: Callable[[], dict[str, Any]]
    ocpp_responses: Callable[[], dict[str, Any]]

    @property
    def model(self) -> Any:
        """``ocpp_fast.<package>``: ``VERSION``, ``actions``, ``ChargeSystem``."""
        return importlib.import_module(f"ocpp_fast.{self.package}")

    def ocpp_module(self, drop_in: bool) -> ModuleType:
        """``ocpp.<package>``, or with ``drop_in`` ``ocpp_fast.compat.<package>`` (its
        ``ChargePoint`` is what (c) and (f) subclass)."""
        return importlib.import_module(
            f"ocpp_fast.compat.{self.package}" if drop_in else f"ocpp.{self.package}"
        )


def _responses_201() -> dict[str, Any]:
    from ocpp_fast.v201 import datatypes, enums, messages

    now = datetime.now(UTC)
    accepted = datatypes.IdTokenInfoType(status=enums.AuthorizationStatusEnumType.ACCEPTED)
    return {
        "BootNotification": messages.BootNotificationResponse(
            current_time=now, interval=300, status=enums.RegistrationStatusEnumType.ACCEPTED
        ),
        "Heartbeat": messages.HeartbeatResponse(current_time=now),
        "StatusNotification": messages.StatusNotificationResponse(),
        "Authorize": messages.AuthorizeResponse(id_token_info=accepted),
        "TransactionEvent": messages.TransactionEventResponse(),
        "MeterValues": messages.MeterValuesResponse(),
        "NotifyReport": messages.NotifyReportResponse(),
        "SecurityEventNotification": messages.SecurityEventNotificationResponse(),
        "DataTransfer": messages.DataTransferResponse(
            status=enums.DataTransferStatusEnumType.ACCEPTED
        ),
    }


def _ocpp_responses_201() -> dict[str, Any]:
    from ocpp.v201 import call_result, datatypes, enums

    now = datetime.now(UTC).isoformat()
    return {
        "BootNotification": call_result.BootNotification(
            current_time=now, interval=300, status=enums.RegistrationStatusEnumType.accepted
        ),
        "Heartbeat": call_result.Heartbeat(current_time=now),
        "StatusNotification": call_result.StatusNotification(),
        "Authorize": call_result.Authorize(
            id_token_info=datatypes.IdTokenInfoType(
                status=enums.AuthorizationStatusEnumType.accepted
            )
        ),
        "TransactionEvent": call_result.TransactionEvent(),
        "MeterValues": call_result.MeterValues(),
        "NotifyReport": call_result.NotifyReport(),
        "SecurityEventNotification": call_result.SecurityEventNotification(),
        "DataTransfer": call_result.DataTransfer(status=enums.DataTransferStatusEnumType.accepted),
    }


def _responses_16() -> dict[str, Any]:
    from ocpp_fast.v16 import datatypes, enums, messages

    now = datetime.now(UTC)
    accepted = datatypes.IdTagInfoType(status=enums.IdTagInfoStatusEnum.ACCEPTED)
    return {
        "BootNotification": messages.BootNotificationResponse(
            current_time=now,
            interval=300,
            status=enums.BootNotificationResponseStatusEnum.ACCEPTED,
        ),
        "Heartbeat": messages.HeartbeatResponse(current_time=now),
        "StatusNotification": messages.StatusNotificationResponse(),
        "Authorize": messages.AuthorizeResponse(id_tag_info=accepted),
        "StartTransaction": messages.StartTransactionResponse(
            id_tag_info=accepted, transaction_id=170112
        ),
        "MeterValues": messages.MeterValuesResponse(),
        "StopTransaction": messages.StopTransactionResponse(id_tag_info=accepted),
        "FirmwareStatusNotification": messages.FirmwareStatusNotificationResponse(),
        "DiagnosticsStatusNotification": messages.DiagnosticsStatusNotificationResponse(),
        "SecurityEventNotification": messages.SecurityEventNotificationResponse(),
        "SignCertificate": messages.SignCertificateResponse(
            status=enums.GenericStatusEnumType.ACCEPTED
        ),
        "DataTransfer": messages.DataTransferResponse(
            status=enums.DataTransferResponseStatusEnum.ACCEPTED
        ),
    }


def _ocpp_responses_16() -> dict[str, Any]:
    from ocpp.v16 import call_result, datatypes, enums

    now = datetime.now(UTC).isoformat()
    accepted = datatypes.IdTagInfo(status=enums.AuthorizationStatus.accepted)
    return {
        "BootNotification": call_result.BootNotification(
            current_time=now, interval=300, status=enums.RegistrationStatus.accepted
        ),
        "Heartbeat": call_result.Heartbeat(current_time=now),
        "StatusNotification": call_result.StatusNotification(),
        "Authorize": call_result.Authorize(id_tag_info=accepted),
        "StartTransaction": call_result.StartTransaction(
            transaction_id=170112, id_tag_info=accepted
        ),
        "MeterValues": call_result.MeterValues(),
        "StopTransaction": call_result.StopTransaction(id_tag_info=accepted),
        "FirmwareStatusNotification": call_result.FirmwareStatusNotification(),
        "DiagnosticsStatusNotification": call_result.DiagnosticsStatusNotification(),
        "SecurityEventNotification": call_result.SecurityEventNotification(),
        "SignCertificate": call_result.SignCertificate(status=enums.GenericStatus.accepted),
        "DataTransfer": call_result.DataTransfer(status=enums.DataTransferStatus.accepted),
    }


V201 = BenchVersion("2.0.1", "v201", _DATA / "mix-v201.jsonl", _responses_201, _ocpp_responses_201)
"""The default: the version every figure of the benchmark history is measured on."""

BENCH_VERSIONS = {
    version.label: version
    for version in (
        V201,
        BenchVersion("1.6", "v16", _DATA / "mix-v16.jsonl", _responses_16, _ocpp_responses_16),
    )
}
"""The versions ``ocpp-fast bench --version`` measures, by label."""
