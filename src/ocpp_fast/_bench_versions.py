"""What ``ocpp-fast bench`` needs of each OCPP version it measures (for :mod:`.bench`).

The bench's variants are the same code for every version: what differs is the model
(``ocpp_fast.<package>``), the drop-in (``ocpp_fast.compat.<package>``), the ``ocpp``
package's module of the same name, the packaged traffic mix, and the answers the handlers
return. A :class:`BenchVersion` holds those, so a 1.6 fleet sees its own figures from the
very code that prints 2.0.1's, and a version added here is measured the same way.

The answers are built once, outside any timing: ``responses`` are ocpp_fast Structs (what
a handler of ``ChargeSystem`` returns); the ``ocpp`` package's handlers return the same
answers as its ``call_result`` dataclasses, made from them (:meth:`BenchVersion.ocpp_responses`),
so that both sides answer alike and each version's answers are written once.
"""

from __future__ import annotations

import dataclasses
import importlib
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from types import ModuleType, UnionType
from typing import Any

import msgspec

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
    """Each action's answer, ``None`` for a SEND (2.1), which is never answered."""

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

    def ocpp_responses(self, responses: dict[str, Any] | None = None) -> dict[str, Any]:
        """``responses`` (by default :attr:`responses`, made anew) as the ``ocpp`` package's
        handlers return them: its ``call_result`` dataclass per action, holding its own
        dataclasses and enums where it types them (as an application writes them), the
        date-times as ISO strings."""
        call_result = importlib.import_module(f"ocpp.{self.package}.call_result")
        return {
            action: None if response is None else _as_ocpp(response, getattr(call_result, action))
            for action, response in (responses or self.responses()).items()
        }


def _as_ocpp(value: Any, hint: Any) -> Any:
    """``value`` (an ocpp_fast Struct, or a field of one) as the ``ocpp`` package types it
    where ``hint`` (its dataclass, or one of its fields' annotations) says how."""
    union = isinstance(hint, UnionType) or typing.get_origin(hint) is typing.Union
    options = typing.get_args(hint) if union else (hint,)
    for option in options:
        if isinstance(value, msgspec.Struct) and dataclasses.is_dataclass(option):
            hints = typing.get_type_hints(option)
            fields = msgspec.structs.asdict(value).items()
            return option(  # type: ignore[operator]
                **{k: _as_ocpp(v, hints[k]) for k, v in fields if v is not msgspec.UNSET}
            )
        if isinstance(value, Enum) and isinstance(option, type) and issubclass(option, Enum):
            return option(value.value)
        if isinstance(value, list) and typing.get_origin(option) is list:
            (item,) = typing.get_args(option)
            return [_as_ocpp(v, item) for v in value]
    return value.isoformat() if isinstance(value, datetime) else value


def _responses_201(package: str = "v201") -> dict[str, Any]:
    """2.0.1's answers; 2.1 (``package="v21"``) answers the same actions alike, from its
    own model (same names there)."""
    datatypes, enums, messages = (
        importlib.import_module(f"ocpp_fast.{package}.{name}")
        for name in ("datatypes", "enums", "messages")
    )
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


def _responses_21() -> dict[str, Any]:
    """2.0.1's answers from the 2.1 model, and ``None`` for the SEND of the 2.1 mix: a SEND
    is never answered, its handler returns nothing (the bench verifies that it ran)."""
    return {**_responses_201("v21"), "NotifyPeriodicEventStream": None}


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


V201 = BenchVersion("2.0.1", "v201", _DATA / "mix-v201.jsonl", _responses_201)
"""The default: the version every figure of the benchmark history is measured on."""

BENCH_VERSIONS = {
    version.label: version
    for version in (
        V201,
        BenchVersion("1.6", "v16", _DATA / "mix-v16.jsonl", _responses_16),
        BenchVersion("2.1", "v21", _DATA / "mix-v21.jsonl", _responses_21),
    )
}
"""The versions ``ocpp-fast bench --version`` measures, by label."""
