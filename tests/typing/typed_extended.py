# pyright: strict
"""The demo CSMS and the simulated stations extended: a subclass overrides a handler in any
form dispatch takes (plain or ``async``, with or without context) and reaches the base's own
answer, typed, as ``self.default_<handler>(request)``.

Checked by mypy --strict (``make typecheck``) and pyright strict (tests/test_typing.py);
never run (tests/test_extending.py runs such overrides).
"""

from __future__ import annotations

import asyncio
from typing import assert_type

from ocpp_fast import CallContext
from ocpp_fast.demo import DemoChargeSystem, DemoChargeSystem16, DemoChargeSystem21
from ocpp_fast.simulator import SimulatedStation, SimulatedStation16, SimulatedStation21
from ocpp_fast.v16 import datatypes as datatypes16
from ocpp_fast.v16 import enums as enums16
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v21 import enums as enums21
from ocpp_fast.v21 import messages as messages21
from ocpp_fast.v201 import enums, messages


class Csms(DemoChargeSystem):
    def boot_notification(
        self, request: messages.BootNotificationRequest
    ) -> messages.BootNotificationResponse:
        answer = self.default_boot_notification(request)
        assert_type(answer, messages.BootNotificationResponse)
        return answer

    async def authorize(
        self, request: messages.AuthorizeRequest, context: CallContext
    ) -> messages.AuthorizeResponse:
        await asyncio.sleep(0)
        answer = self.default_authorize(request)
        if context.identity == "BLOCKED":
            answer.id_token_info.status = enums.AuthorizationStatusEnumType.BLOCKED
        return answer

    async def transaction_event(
        self, request: messages.TransactionEventRequest
    ) -> messages.TransactionEventResponse:
        return self.default_transaction_event(request)

    def heartbeat(
        self, request: messages.HeartbeatRequest, context: CallContext
    ) -> messages.HeartbeatResponse:
        return self.default_heartbeat(request)


class Csms21(DemoChargeSystem21):
    async def heartbeat(
        self, request: messages21.HeartbeatRequest, context: CallContext
    ) -> messages21.HeartbeatResponse:
        answer = self.default_heartbeat(request)
        assert_type(answer, messages21.HeartbeatResponse)
        return answer

    def data_transfer(
        self, request: messages21.DataTransferRequest
    ) -> messages21.DataTransferResponse:
        if request.vendor_id != "me":
            return messages21.DataTransferResponse(
                status=enums21.DataTransferStatusEnumType.UNKNOWN_VENDOR_ID
            )
        return self.default_data_transfer(request)


class Csms16(DemoChargeSystem16):
    def boot_notification(
        self, request: messages16.BootNotificationRequest, context: CallContext
    ) -> messages16.BootNotificationResponse:
        return self.default_boot_notification(request)

    async def start_transaction(
        self, request: messages16.StartTransactionRequest
    ) -> messages16.StartTransactionResponse:
        answer = self.default_start_transaction(request)
        assert_type(answer.transaction_id, int)
        return answer

    async def authorize(
        self, request: messages16.AuthorizeRequest, context: CallContext
    ) -> messages16.AuthorizeResponse:
        if request.id_tag == "BLOCKED":
            return messages16.AuthorizeResponse(
                id_tag_info=datatypes16.IdTagInfoType(status=enums16.IdTagInfoStatusEnum.BLOCKED)
            )
        return self.default_authorize(request)


class Station(SimulatedStation):
    async def request_start_transaction(
        self, request: messages.RequestStartTransactionRequest, context: CallContext
    ) -> messages.RequestStartTransactionResponse:
        answer = self.default_request_start_transaction(request)
        assert_type(answer, messages.RequestStartTransactionResponse)
        return answer

    def unlock_connector(
        self, request: messages.UnlockConnectorRequest
    ) -> messages.UnlockConnectorResponse:
        return self.default_unlock_connector(request)


class Station21(SimulatedStation21):
    def change_availability(
        self, request: messages21.ChangeAvailabilityRequest, context: CallContext
    ) -> messages21.ChangeAvailabilityResponse:
        return self.default_change_availability(request)


class Station16(SimulatedStation16):
    async def remote_start_transaction(
        self, request: messages16.RemoteStartTransactionRequest
    ) -> messages16.RemoteStartTransactionResponse:
        return self.default_remote_start_transaction(request)

    def unlock_connector(
        self, request: messages16.UnlockConnectorRequest, context: CallContext
    ) -> messages16.UnlockConnectorResponse:
        return self.default_unlock_connector(request)
