# pyright: strict
"""Handlers in every form users write type-check against their action's types.

``(request)`` or ``(request, context)``, sync or ``async``, any parameter names, in each
version, on both sides; plus a helper method of the user's own beside them.
"""

from __future__ import annotations

import datetime
from typing import overload

from ocpp_fast import CallContext, v16, v21, v201
from ocpp_fast.v201 import enums, messages

NOW = datetime.datetime.now(datetime.UTC)


class Csms(v201.ChargeSystem):
    def boot_notification(
        self, request: messages.BootNotificationRequest
    ) -> messages.BootNotificationResponse:
        return messages.BootNotificationResponse(
            current_time=NOW, interval=300, status=enums.RegistrationStatusEnumType.ACCEPTED
        )

    async def heartbeat(
        self, request: messages.HeartbeatRequest, context: CallContext
    ) -> messages.HeartbeatResponse:
        return messages.HeartbeatResponse(current_time=NOW)

    async def authorize(self, req: messages.AuthorizeRequest) -> messages.AuthorizeResponse:
        return messages.AuthorizeResponse(
            id_token_info=v201.datatypes.IdTokenInfoType(
                status=enums.AuthorizationStatusEnumType.ACCEPTED
            )
        )

    def status_notification(
        self, r: messages.StatusNotificationRequest, ctx: CallContext
    ) -> messages.StatusNotificationResponse:
        return messages.StatusNotificationResponse()

    def data_transfer(self, request: messages.DataTransferRequest) -> messages.DataTransferResponse:
        return messages.DataTransferResponse(status=enums.DataTransferStatusEnumType.ACCEPTED)

    def lookup(self, identity: str) -> str:
        """A helper of the user's own: no handler slot, no constraint."""
        return identity


class Station(v201.Charger):
    async def reset(self, request: messages.ResetRequest) -> messages.ResetResponse:
        return messages.ResetResponse(status=enums.ResetStatusEnumType.ACCEPTED)

    def data_transfer(
        self, request: messages.DataTransferRequest, context: CallContext
    ) -> messages.DataTransferResponse:
        return messages.DataTransferResponse(status=enums.DataTransferStatusEnumType.REJECTED)


class Csms16(v16.ChargeSystem):
    def start_transaction(
        self, request: v16.messages.StartTransactionRequest
    ) -> v16.messages.StartTransactionResponse:
        return v16.messages.StartTransactionResponse(
            transaction_id=1,
            id_tag_info=v16.datatypes.IdTagInfoType(status=v16.enums.IdTagInfoStatusEnum.ACCEPTED),
        )


class Station16(v16.Charger):
    async def remote_start_transaction(
        self, request: v16.messages.RemoteStartTransactionRequest, context: CallContext
    ) -> v16.messages.RemoteStartTransactionResponse:
        return v16.messages.RemoteStartTransactionResponse(
            status=v16.enums.RemoteStartTransactionResponseStatusEnum.ACCEPTED
        )


class Csms21(v21.ChargeSystem):
    def notify_periodic_event_stream(
        self, request: v21.messages.NotifyPeriodicEventStreamRequest
    ) -> None:
        """A SEND (2.1): never answered, so the handler returns nothing."""

    async def heartbeat(
        self, request: v21.messages.HeartbeatRequest
    ) -> v21.messages.HeartbeatResponse:
        return v21.messages.HeartbeatResponse(current_time=NOW)


class Station21(v21.Charger):
    def set_der_control(
        self, request: v21.messages.SetDERControlRequest
    ) -> v21.messages.SetDERControlResponse:
        return v21.messages.SetDERControlResponse(
            status=v21.enums.DERControlStatusEnumType.ACCEPTED
        )


class SharedHandler(v201.ChargeSystem):
    """One method for several actions: overloaded per action, then named for each slot."""

    def heartbeat(
        self, request: messages.HeartbeatRequest | messages.StatusNotificationRequest
    ) -> messages.HeartbeatResponse:  # a wider request type is fine: it is a parameter
        return messages.HeartbeatResponse(current_time=NOW)

    @overload
    def _either(self, request: messages.DataTransferRequest) -> messages.DataTransferResponse: ...
    @overload
    def _either(
        self, request: messages.StatusNotificationRequest
    ) -> messages.StatusNotificationResponse: ...
    def _either(
        self, request: messages.DataTransferRequest | messages.StatusNotificationRequest
    ) -> messages.DataTransferResponse | messages.StatusNotificationResponse:
        if isinstance(request, messages.DataTransferRequest):
            return messages.DataTransferResponse(status=enums.DataTransferStatusEnumType.ACCEPTED)
        return messages.StatusNotificationResponse()

    data_transfer = _either
    status_notification = _either


class KnowsItsStation(v201.ChargeSystem):
    """A handler reads whom it answers from its context's connection: a live connection
    and a cluster worker's stand-in both declare ``identity`` and ``version``."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def heartbeat(
        self, request: messages.HeartbeatRequest, context: CallContext
    ) -> messages.HeartbeatResponse:
        connection = context.connection
        if connection is not None:  # None in handle(): no connection there
            self.seen[connection.identity] = connection.version.label
        return messages.HeartbeatResponse(current_time=NOW)
