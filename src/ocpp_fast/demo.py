"""The demo CSMS of ``ocpp-fast serve``: it accepts any station and answers what fleets send."""

from __future__ import annotations

import datetime

from ocpp_fast import v201
from ocpp_fast.v201 import datatypes, enums, messages

__all__ = ["DemoChargeSystem"]

_ACCEPTED = datatypes.IdTokenInfoType(status=enums.AuthorizationStatusEnumType.ACCEPTED)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class DemoChargeSystem(v201.ChargeSystem):
    """Accepts every boot and token; acknowledges events, values and reports."""

    def boot_notification(
        self, request: messages.BootNotificationRequest
    ) -> messages.BootNotificationResponse:
        return messages.BootNotificationResponse(
            current_time=_now(), interval=300, status=enums.RegistrationStatusEnumType.ACCEPTED
        )

    def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        return messages.HeartbeatResponse(current_time=_now())

    def status_notification(
        self, request: messages.StatusNotificationRequest
    ) -> messages.StatusNotificationResponse:
        return messages.StatusNotificationResponse()

    def authorize(self, request: messages.AuthorizeRequest) -> messages.AuthorizeResponse:
        return messages.AuthorizeResponse(id_token_info=_ACCEPTED)

    def transaction_event(
        self, request: messages.TransactionEventRequest
    ) -> messages.TransactionEventResponse:
        if request.event_type is enums.TransactionEventEnumType.STARTED:
            return messages.TransactionEventResponse(id_token_info=_ACCEPTED)
        return messages.TransactionEventResponse()

    def meter_values(self, request: messages.MeterValuesRequest) -> messages.MeterValuesResponse:
        return messages.MeterValuesResponse()

    def notify_report(self, request: messages.NotifyReportRequest) -> messages.NotifyReportResponse:
        return messages.NotifyReportResponse()

    def security_event_notification(
        self, request: messages.SecurityEventNotificationRequest
    ) -> messages.SecurityEventNotificationResponse:
        return messages.SecurityEventNotificationResponse()

    def data_transfer(self, request: messages.DataTransferRequest) -> messages.DataTransferResponse:
        return messages.DataTransferResponse(status=enums.DataTransferStatusEnumType.ACCEPTED)
