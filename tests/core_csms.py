"""A CSMS that handles only the core actions, as many real ones do (for the simulator's tests,
and ``ocpp-fast serve core_csms:app`` in them): boot, heartbeat, status, authorize,
transactions and meter values, in 2.0.1 and 1.6. Everything else gets NotSupported.
``Core201WithoutStatus`` leaves a core action out too."""

from __future__ import annotations

import datetime
from collections import Counter

from ocpp_fast import v16, v201
from ocpp_fast.v16 import datatypes as datatypes16
from ocpp_fast.v16 import enums as enums16
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v201 import datatypes, enums, messages


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Counted:
    """Counts the actions its handlers answered."""

    def __init__(self) -> None:
        self.answered: Counter[str] = Counter()


class Core201WithoutStatus(Counted, v201.ChargeSystem):
    def boot_notification(
        self, request: messages.BootNotificationRequest
    ) -> messages.BootNotificationResponse:
        self.answered["BootNotification"] += 1
        return messages.BootNotificationResponse(
            current_time=now(), interval=300, status=enums.RegistrationStatusEnumType.ACCEPTED
        )

    def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        self.answered["Heartbeat"] += 1
        return messages.HeartbeatResponse(current_time=now())

    def authorize(self, request: messages.AuthorizeRequest) -> messages.AuthorizeResponse:
        self.answered["Authorize"] += 1
        accepted = datatypes.IdTokenInfoType(status=enums.AuthorizationStatusEnumType.ACCEPTED)
        return messages.AuthorizeResponse(id_token_info=accepted)

    def transaction_event(
        self, request: messages.TransactionEventRequest
    ) -> messages.TransactionEventResponse:
        self.answered["TransactionEvent"] += 1
        return messages.TransactionEventResponse()

    def meter_values(self, request: messages.MeterValuesRequest) -> messages.MeterValuesResponse:
        self.answered["MeterValues"] += 1
        return messages.MeterValuesResponse()


class Core201(Core201WithoutStatus):
    def status_notification(
        self, request: messages.StatusNotificationRequest
    ) -> messages.StatusNotificationResponse:
        self.answered["StatusNotification"] += 1
        return messages.StatusNotificationResponse()


class Core16(Counted, v16.ChargeSystem):
    def boot_notification(
        self, request: messages16.BootNotificationRequest
    ) -> messages16.BootNotificationResponse:
        self.answered["BootNotification"] += 1
        return messages16.BootNotificationResponse(
            current_time=now(),
            interval=300,
            status=enums16.BootNotificationResponseStatusEnum.ACCEPTED,
        )

    def heartbeat(self, request: messages16.HeartbeatRequest) -> messages16.HeartbeatResponse:
        self.answered["Heartbeat"] += 1
        return messages16.HeartbeatResponse(current_time=now())

    def status_notification(
        self, request: messages16.StatusNotificationRequest
    ) -> messages16.StatusNotificationResponse:
        self.answered["StatusNotification"] += 1
        return messages16.StatusNotificationResponse()

    def authorize(self, request: messages16.AuthorizeRequest) -> messages16.AuthorizeResponse:
        self.answered["Authorize"] += 1
        return messages16.AuthorizeResponse(id_tag_info=self._accepted())

    def start_transaction(
        self, request: messages16.StartTransactionRequest
    ) -> messages16.StartTransactionResponse:
        self.answered["StartTransaction"] += 1
        return messages16.StartTransactionResponse(transaction_id=1, id_tag_info=self._accepted())

    def stop_transaction(
        self, request: messages16.StopTransactionRequest
    ) -> messages16.StopTransactionResponse:
        self.answered["StopTransaction"] += 1
        return messages16.StopTransactionResponse()

    def meter_values(
        self, request: messages16.MeterValuesRequest
    ) -> messages16.MeterValuesResponse:
        self.answered["MeterValues"] += 1
        return messages16.MeterValuesResponse()

    @staticmethod
    def _accepted() -> datatypes16.IdTagInfoType:
        return datatypes16.IdTagInfoType(status=enums16.IdTagInfoStatusEnum.ACCEPTED)


app = {"ocpp2.0.1": Core201(), "ocpp1.6": Core16()}
