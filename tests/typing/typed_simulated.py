# pyright: strict
"""The simulated stations as base classes: a firmware team's simulator narrows what
``SimulatedStation`` answers and hands the rest back to it with ``super()``. Each handler it
defines is typed with its version's request and response, so the override and the
``super()`` call check as those of a plain ``Charger`` subclass do.

Checked by mypy --strict (``make typecheck``) and pyright strict (tests/test_typing.py);
never run.
"""

from __future__ import annotations

from ocpp_fast.simulator import SimulatedStation, SimulatedStation16, SimulatedStation21
from ocpp_fast.v16 import enums as enums16
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v21 import enums as enums21
from ocpp_fast.v21 import messages as messages21
from ocpp_fast.v201 import enums, messages


class Picky(SimulatedStation):
    def request_start_transaction(
        self, request: messages.RequestStartTransactionRequest
    ) -> messages.RequestStartTransactionResponse:
        if request.id_token.id_token == "BLOCKED":
            return messages.RequestStartTransactionResponse(
                status=enums.RequestStartStopStatusEnumType.REJECTED
            )
        return super().request_start_transaction(request)

    def request_stop_transaction(
        self, request: messages.RequestStopTransactionRequest
    ) -> messages.RequestStopTransactionResponse:
        return super().request_stop_transaction(request)

    def change_availability(
        self, request: messages.ChangeAvailabilityRequest
    ) -> messages.ChangeAvailabilityResponse:
        return super().change_availability(request)

    def unlock_connector(
        self, request: messages.UnlockConnectorRequest
    ) -> messages.UnlockConnectorResponse:
        answer = super().unlock_connector(request)
        if answer.status == enums.UnlockStatusEnumType.UNLOCKED:
            return answer
        return messages.UnlockConnectorResponse(status=enums.UnlockStatusEnumType.UNLOCK_FAILED)


class Picky21(SimulatedStation21):
    def request_start_transaction(
        self, request: messages21.RequestStartTransactionRequest
    ) -> messages21.RequestStartTransactionResponse:
        if request.id_token.id_token == "BLOCKED":
            return messages21.RequestStartTransactionResponse(
                status=enums21.RequestStartStopStatusEnumType.REJECTED
            )
        return super().request_start_transaction(request)

    def request_stop_transaction(
        self, request: messages21.RequestStopTransactionRequest
    ) -> messages21.RequestStopTransactionResponse:
        return super().request_stop_transaction(request)

    def change_availability(
        self, request: messages21.ChangeAvailabilityRequest
    ) -> messages21.ChangeAvailabilityResponse:
        return super().change_availability(request)

    def unlock_connector(
        self, request: messages21.UnlockConnectorRequest
    ) -> messages21.UnlockConnectorResponse:
        return super().unlock_connector(request)


class Picky16(SimulatedStation16):
    def remote_start_transaction(
        self, request: messages16.RemoteStartTransactionRequest
    ) -> messages16.RemoteStartTransactionResponse:
        if request.id_tag == "BLOCKED":
            return messages16.RemoteStartTransactionResponse(
                status=enums16.RemoteStartTransactionResponseStatusEnum.REJECTED
            )
        return super().remote_start_transaction(request)
