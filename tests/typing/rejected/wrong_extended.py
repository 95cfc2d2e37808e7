# pyright: strict
"""Extending the demo CSMS or a simulated station wrongly must NOT type-check: the default
answers are typed per action and version, and an override is still held to its action's
slot. ``# expect:`` comments as in wrong_handlers.py.
"""

from __future__ import annotations

from ocpp_fast import CallContext
from ocpp_fast.demo import DemoChargeSystem, DemoChargeSystem16
from ocpp_fast.simulator import SimulatedStation21
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v21 import messages as messages21
from ocpp_fast.v201 import messages


class AnotherActionsDefault(DemoChargeSystem):
    def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        # expect: mypy[return-value,arg-type] pyright[reportReturnType,reportArgumentType]
        return self.default_status_notification(request)


class AnotherVersionsRequest(DemoChargeSystem16):
    async def heartbeat(
        self, request: messages16.HeartbeatRequest, context: CallContext
    ) -> messages16.HeartbeatResponse:
        # expect: mypy[arg-type] pyright[reportArgumentType]
        return self.default_heartbeat(messages.HeartbeatRequest())


class WrongOverride(SimulatedStation21):
    # expect: mypy[override] pyright[reportIncompatibleVariableOverride]
    def unlock_connector(
        self, request: messages21.UnlockConnectorRequest
    ) -> messages21.ResetResponse:
        raise NotImplementedError
