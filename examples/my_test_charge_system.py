"""The seed's example CSMS, ``MyTestChargeSystem``: one method per action a station sends.

Run it to see one frame handled::

    python examples/my_test_charge_system.py
"""

from __future__ import annotations

import datetime

from ocpp_fast import errors, v201
from ocpp_fast.v201 import datatypes, enums, messages

ACCEPTED_BOOT_REASONS = frozenset(
    {
        enums.BootReasonEnumType.POWER_UP,
        enums.BootReasonEnumType.REMOTE_RESET,
        enums.BootReasonEnumType.LOCAL_RESET,
        enums.BootReasonEnumType.FIRMWARE_UPDATE,
        enums.BootReasonEnumType.SCHEDULED_RESET,
        enums.BootReasonEnumType.WATCHDOG,
        enums.BootReasonEnumType.APPLICATION_RESET,
        enums.BootReasonEnumType.TRIGGERED,
    }
)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class MyTestChargeSystem(v201.ChargeSystem):
    """A CSMS that accepts every station booting for a known reason."""

    def boot_notification(
        self, request: messages.BootNotificationRequest
    ) -> messages.BootNotificationResponse:
        status = (
            enums.RegistrationStatusEnumType.ACCEPTED
            if request.reason in ACCEPTED_BOOT_REASONS
            else enums.RegistrationStatusEnumType.PENDING
        )
        return messages.BootNotificationResponse(current_time=now(), interval=300, status=status)

    def authorize(self, request: messages.AuthorizeRequest) -> messages.AuthorizeResponse:
        status = (
            enums.AuthorizationStatusEnumType.ACCEPTED
            if request.id_token.id_token
            else enums.AuthorizationStatusEnumType.INVALID
        )
        return messages.AuthorizeResponse(id_token_info=datatypes.IdTokenInfoType(status=status))

    def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        return messages.HeartbeatResponse(current_time=now())

    def status_notification(
        self, request: messages.StatusNotificationRequest
    ) -> messages.StatusNotificationResponse:
        return messages.StatusNotificationResponse()

    async def transaction_event(
        self, request: messages.TransactionEventRequest
    ) -> messages.TransactionEventResponse:
        if request.event_type is enums.TransactionEventEnumType.STARTED:
            return messages.TransactionEventResponse(
                id_token_info=datatypes.IdTokenInfoType(
                    status=enums.AuthorizationStatusEnumType.ACCEPTED
                )
            )
        return messages.TransactionEventResponse()

    def meter_values(self, request: messages.MeterValuesRequest) -> messages.MeterValuesResponse:
        return messages.MeterValuesResponse()

    def data_transfer(self, request: messages.DataTransferRequest) -> messages.DataTransferResponse:
        return answer_data_transfer(request)


def answer_data_transfer(request: messages.DataTransferRequest) -> messages.DataTransferResponse:
    """Vendor "GA" gets its string data back reversed; other vendors are unknown."""
    if request.vendor_id != "GA":
        return messages.DataTransferResponse(
            status=enums.DataTransferStatusEnumType.UNKNOWN_VENDOR_ID
        )
    if not isinstance(request.data, str):
        raise errors.TypeConstraintViolationError("GA data must be a string", {"path": "$.data"})
    return messages.DataTransferResponse(
        status=enums.DataTransferStatusEnumType.ACCEPTED, data=request.data[::-1]
    )


if __name__ == "__main__":
    csms = MyTestChargeSystem()
    frame = b'[2,"1","DataTransfer",{"vendorId":"GA","data":"hello"}]'
    print(frame.decode(), "->", (csms.handle(frame, "CS001") or b"").decode())
    print("actions not handled:", ", ".join(csms.unhandled_actions()))
