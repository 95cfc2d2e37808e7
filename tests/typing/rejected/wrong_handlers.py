# pyright: strict
"""Handlers that must NOT type-check. The comment above each offending line says what
mypy and pyright report on it (``# expect: mypy[code,...] pyright[rule,...]``);
tests/test_typing.py runs both checkers and compares. Runtime tests in test_dispatch.py
cover what class creation refuses (a handler for the wrong side, a CamelCase name).
"""

from __future__ import annotations

from ocpp_fast import CallContext, v16, v21, v201
from ocpp_fast.v201.messages import (
    BootNotificationRequest,
    BootNotificationResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    ResetRequest,
    ResetResponse,
)


class WrongResponse(v201.ChargeSystem):
    # expect: mypy[override] pyright[reportIncompatibleVariableOverride]
    def heartbeat(self, r: HeartbeatRequest) -> BootNotificationResponse:
        raise NotImplementedError


class WrongRequest(v201.ChargeSystem):
    # expect: mypy[override] pyright[reportIncompatibleVariableOverride]
    def heartbeat(self, r: BootNotificationRequest) -> HeartbeatResponse:
        raise NotImplementedError


class WrongAsyncResponse(v201.ChargeSystem):
    # expect: mypy[override] pyright[reportIncompatibleVariableOverride]
    async def heartbeat(self, r: HeartbeatRequest, c: CallContext) -> ResetResponse:
        raise NotImplementedError


class AnotherVersionsTypes(v16.ChargeSystem):
    # expect: mypy[override] pyright[reportIncompatibleVariableOverride]
    def heartbeat(self, r: HeartbeatRequest) -> HeartbeatResponse:
        raise NotImplementedError


class CsmsHandlingWhatTheCsmsSends(v201.ChargeSystem):
    # expect: mypy[misc,override] pyright[reportIncompatibleMethodOverride]
    def reset(self, r: ResetRequest) -> ResetResponse:
        raise NotImplementedError


class StationHandlingWhatStationsSend(v201.Charger):
    # expect: mypy[misc,override] pyright[reportIncompatibleMethodOverride]
    def boot_notification(self, r: BootNotificationRequest) -> BootNotificationResponse:
        raise NotImplementedError


class Wrong16(v16.ChargeSystem):
    # expect: mypy[misc,override] pyright[reportIncompatibleMethodOverride]
    def remote_start_transaction(self, r: v16.messages.RemoteStartTransactionRequest) -> None:
        raise NotImplementedError

    # expect: mypy[override] pyright[reportIncompatibleVariableOverride]
    async def boot_notification(self, r: v16.messages.BootNotificationRequest) -> None:
        raise NotImplementedError


class Wrong21(v21.Charger):
    # expect: mypy[override] pyright[reportIncompatibleVariableOverride]
    def reset(self, r: v21.messages.ResetRequest) -> v201.messages.ResetResponse:
        raise NotImplementedError


async def callback(request: HeartbeatRequest, context: CallContext) -> None:
    reset = ResetRequest(type=v201.enums.ResetEnumType.IMMEDIATE)
    if context.connection is not None:
        # expect: mypy[arg-type] pyright[reportAssignmentType]
        wrong: HeartbeatResponse = await context.connection.call(reset)
        print(wrong)


class SharedWithoutOverloads(v201.ChargeSystem):
    """One method for two actions, typed with unions only: each slot would get a method that
    may answer with the other action's response. Overload it (typed_handlers.py)."""

    def _either(
        self, r: HeartbeatRequest | BootNotificationRequest
    ) -> HeartbeatResponse | BootNotificationResponse:
        raise NotImplementedError

    # expect: mypy[assignment] pyright[reportAssignmentType]
    heartbeat = _either
    # expect: mypy[assignment] pyright[reportAssignmentType]
    boot_notification = _either
