"""The demo CSMS of ``ocpp-fast serve`` (run without an app): it accepts any station, in any
version ocpp_fast speaks, and answers what fleets send, so a conformant station of 1.6, 2.0.1
or 2.1 runs whole sessions against it (boot, authorize, transactions, meter values).

:func:`demo_handlers` is what the command serves: one handler per version, on one port.
"""

from __future__ import annotations

import datetime
import itertools
from typing import TYPE_CHECKING, Any, ClassVar

from ocpp_fast import v16, v21, v201
from ocpp_fast.dispatch import OcppHandler
from ocpp_fast.v16 import datatypes as datatypes16
from ocpp_fast.v16 import enums as enums16
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v21 import datatypes as datatypes21
from ocpp_fast.v21 import enums as enums21
from ocpp_fast.v21 import messages as messages21
from ocpp_fast.v201 import datatypes, enums, messages

__all__ = ["DemoChargeSystem", "DemoChargeSystem16", "DemoChargeSystem21", "demo_handlers"]

HEARTBEAT_INTERVAL = 300
"""Seconds between heartbeats, as the demo tells each booting station."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class _Answers2xBodies:
    """The demo's answers in OCPP 2.x: 2.0.1 and 2.1 name these messages alike, so one body
    serves both, each subclass naming its version's modules."""

    _messages: Any
    _enums: Any
    _accepted: ClassVar[Any]
    """The IdTokenInfo of an accepted token, in the version's types."""

    def boot_notification(self, request: Any) -> Any:
        return self._messages.BootNotificationResponse(
            current_time=_now(),
            interval=HEARTBEAT_INTERVAL,
            status=self._enums.RegistrationStatusEnumType.ACCEPTED,
        )

    def heartbeat(self, request: Any) -> Any:
        return self._messages.HeartbeatResponse(current_time=_now())

    def status_notification(self, request: Any) -> Any:
        return self._messages.StatusNotificationResponse()

    def authorize(self, request: Any) -> Any:
        return self._messages.AuthorizeResponse(id_token_info=self._accepted)

    def transaction_event(self, request: Any) -> Any:
        if request.event_type is self._enums.TransactionEventEnumType.STARTED:
            return self._messages.TransactionEventResponse(id_token_info=self._accepted)
        return self._messages.TransactionEventResponse()

    def meter_values(self, request: Any) -> Any:
        return self._messages.MeterValuesResponse()

    def notify_report(self, request: Any) -> Any:
        return self._messages.NotifyReportResponse()

    def notify_event(self, request: Any) -> Any:
        return self._messages.NotifyEventResponse()

    def firmware_status_notification(self, request: Any) -> Any:
        return self._messages.FirmwareStatusNotificationResponse()

    def log_status_notification(self, request: Any) -> Any:
        return self._messages.LogStatusNotificationResponse()

    def security_event_notification(self, request: Any) -> Any:
        return self._messages.SecurityEventNotificationResponse()

    def data_transfer(self, request: Any) -> Any:
        return self._messages.DataTransferResponse(
            status=self._enums.DataTransferStatusEnumType.ACCEPTED
        )


if TYPE_CHECKING:

    class _Answers2x:
        """To the type checkers, the version's own declared handler slots (a method defined
        in a mixin beside a version's base conflicts with the slot the base declares)."""

else:
    _Answers2x = _Answers2xBodies


class DemoChargeSystem(_Answers2x, v201.ChargeSystem):
    """OCPP 2.0.1: accepts every boot and token; acknowledges events, values and reports."""

    _messages = messages
    _enums = enums
    _accepted = datatypes.IdTokenInfoType(status=enums.AuthorizationStatusEnumType.ACCEPTED)


class DemoChargeSystem21(_Answers2x, v21.ChargeSystem):
    """OCPP 2.1: the same answers as :class:`DemoChargeSystem`."""

    _messages = messages21
    _enums = enums21
    _accepted = datatypes21.IdTokenInfoType(status=enums21.AuthorizationStatusEnumType.ACCEPTED)


_ACCEPTED_16 = datatypes16.IdTagInfoType(status=enums16.IdTagInfoStatusEnum.ACCEPTED)


class DemoChargeSystem16(v16.ChargeSystem):
    """OCPP 1.6: accepts every boot and idTag; numbers transactions; acknowledges the rest."""

    def __init__(self) -> None:
        self._transaction_ids = itertools.count(1)

    def boot_notification(
        self, request: messages16.BootNotificationRequest
    ) -> messages16.BootNotificationResponse:
        return messages16.BootNotificationResponse(
            current_time=_now(),
            interval=HEARTBEAT_INTERVAL,
            status=enums16.BootNotificationResponseStatusEnum.ACCEPTED,
        )

    def heartbeat(self, request: messages16.HeartbeatRequest) -> messages16.HeartbeatResponse:
        return messages16.HeartbeatResponse(current_time=_now())

    def status_notification(
        self, request: messages16.StatusNotificationRequest
    ) -> messages16.StatusNotificationResponse:
        return messages16.StatusNotificationResponse()

    def authorize(self, request: messages16.AuthorizeRequest) -> messages16.AuthorizeResponse:
        return messages16.AuthorizeResponse(id_tag_info=_ACCEPTED_16)

    def start_transaction(
        self, request: messages16.StartTransactionRequest
    ) -> messages16.StartTransactionResponse:
        return messages16.StartTransactionResponse(
            id_tag_info=_ACCEPTED_16, transaction_id=next(self._transaction_ids)
        )

    def stop_transaction(
        self, request: messages16.StopTransactionRequest
    ) -> messages16.StopTransactionResponse:
        return messages16.StopTransactionResponse()

    def meter_values(
        self, request: messages16.MeterValuesRequest
    ) -> messages16.MeterValuesResponse:
        return messages16.MeterValuesResponse()

    def diagnostics_status_notification(
        self, request: messages16.DiagnosticsStatusNotificationRequest
    ) -> messages16.DiagnosticsStatusNotificationResponse:
        return messages16.DiagnosticsStatusNotificationResponse()

    def firmware_status_notification(
        self, request: messages16.FirmwareStatusNotificationRequest
    ) -> messages16.FirmwareStatusNotificationResponse:
        return messages16.FirmwareStatusNotificationResponse()

    def security_event_notification(
        self, request: messages16.SecurityEventNotificationRequest
    ) -> messages16.SecurityEventNotificationResponse:
        return messages16.SecurityEventNotificationResponse()

    def data_transfer(
        self, request: messages16.DataTransferRequest
    ) -> messages16.DataTransferResponse:
        return messages16.DataTransferResponse(
            status=enums16.DataTransferResponseStatusEnum.ACCEPTED
        )


def demo_handlers() -> dict[str, OcppHandler]:
    """The demo's handler of each version, by subprotocol (the newest first)."""
    handlers: list[OcppHandler] = [DemoChargeSystem21(), DemoChargeSystem(), DemoChargeSystem16()]
    return {handler.version.subprotocol: handler for handler in handlers}
