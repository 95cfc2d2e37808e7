"""The demo CSMS and the simulated stations, extended: each answer is a ``default_<handler>``
method and the handler is that same function (no call more on the hot path), so a subclass
overrides a handler in any form and still reaches the base's answer. tests/typing/
typed_extended.py holds the same overrides under both type checkers."""

from __future__ import annotations

import asyncio

import pytest

from ocpp_fast import CallContext
from ocpp_fast.aio import connect_in_memory
from ocpp_fast.demo import (
    DemoChargeSystem,
    DemoChargeSystem16,
    DemoChargeSystem21,
    _TransactionIds,
)
from ocpp_fast.dispatch import OcppHandler
from ocpp_fast.simulator import SimulatedStation, SimulatedStation16, SimulatedStation21
from ocpp_fast.v16 import datatypes as datatypes16
from ocpp_fast.v16 import enums as enums16
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v201 import datatypes, enums, messages

pytestmark = pytest.mark.usefixtures("dispatch_twin")  # handle and feed: both twins

EXTENDED = [
    DemoChargeSystem,
    DemoChargeSystem21,
    DemoChargeSystem16,
    SimulatedStation,
    SimulatedStation21,
    SimulatedStation16,
]


@pytest.mark.parametrize("cls", EXTENDED, ids=lambda cls: cls.__name__)
def test_each_handler_is_its_default_answer(cls: type[OcppHandler]) -> None:
    """Every action the class handles has its ``default_`` method, the very function the
    handler is, and the ``default_`` names are no handlers of their own."""
    actions = cls.version.actions
    handled = cls.handled_actions()
    assert len(handled) >= 4
    for action in handled:
        method = actions[action].method
        assert getattr(cls, method) is getattr(cls, f"default_{method}"), action
    defaults = {name for name in dir(cls) if name.startswith("default_")}
    assert defaults == {f"default_{actions[a].method}" for a in handled}


class Picky(DemoChargeSystem):
    """An async override taking the context, and a plain one, each ending in the default."""

    beats = 0

    async def authorize(
        self, request: messages.AuthorizeRequest, context: CallContext
    ) -> messages.AuthorizeResponse:
        await asyncio.sleep(0)
        answer = self.default_authorize(request)
        if request.id_token.id_token == "BLOCKED":
            info = datatypes.IdTokenInfoType(status=enums.AuthorizationStatusEnumType.BLOCKED)
            return messages.AuthorizeResponse(id_token_info=info)
        return answer

    def heartbeat(self, request: messages.HeartbeatRequest) -> messages.HeartbeatResponse:
        self.beats += 1
        return self.default_heartbeat(request)


def test_an_override_reaches_the_demos_answer() -> None:
    async def main() -> list[str]:
        csms = Picky()
        station, _ = pair = connect_in_memory(SimulatedStation(), csms)
        statuses = []
        for token in ("04A1", "BLOCKED"):
            token_type = enums.IdTokenEnumType.ISO14443
            request = messages.AuthorizeRequest(
                id_token=datatypes.IdTokenType(id_token=token, type=token_type)
            )
            statuses.append(str((await station.call(request)).id_token_info.status))
        beat = await station.call(messages.HeartbeatRequest())
        await pair.close()
        assert beat.current_time.tzinfo is not None and csms.beats == 1
        return statuses

    assert asyncio.run(main()) == ["Accepted", "Blocked"]


class Counting16(DemoChargeSystem16):
    def start_transaction(
        self, request: messages16.StartTransactionRequest, context: CallContext
    ) -> messages16.StartTransactionResponse:
        answer = self.default_start_transaction(request)  # the demo's numbering, kept
        if context.identity == "BANNED":
            answer.id_tag_info = datatypes16.IdTagInfoType(
                status=enums16.IdTagInfoStatusEnum.BLOCKED
            )
        return answer


def test_a_16_override_with_context_keeps_the_demos_numbering() -> None:
    payload = b'{"connectorId":1,"idTag":"T","meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}'
    csms = Counting16()
    csms._transaction_ids = _TransactionIds(1)  # from 1 (the demo's start is random)
    first = csms.handle(b'[2,"1","StartTransaction",' + payload + b"]", "CS16")
    second = csms.handle(b'[2,"2","StartTransaction",' + payload + b"]", "BANNED")
    assert first is not None and b'"transactionId":1' in first and b"Accepted" in first
    assert second is not None and b'"transactionId":2' in second and b"Blocked" in second


class Refusing(SimulatedStation16):
    async def remote_start_transaction(
        self, request: messages16.RemoteStartTransactionRequest
    ) -> messages16.RemoteStartTransactionResponse:
        if request.id_tag == "BLOCKED":
            return messages16.RemoteStartTransactionResponse(
                status=enums16.RemoteStartTransactionResponseStatusEnum.REJECTED
            )
        return self.default_remote_start_transaction(request)


def test_a_simulated_station_overridden_async_answers_its_own_and_the_default() -> None:
    """Its default answer refuses a remote start until its boot was accepted."""

    async def main() -> list[str]:
        station, csms = pair = connect_in_memory(Refusing(), DemoChargeSystem16())
        answers = []
        for tag in ("04A1", "BOOT", "04A1", "BLOCKED"):
            if tag == "BOOT":
                boot = messages16.BootNotificationRequest(
                    charge_point_vendor="V", charge_point_model="M"
                )
                answers.append(str((await station.call(boot)).status))
                continue
            request = messages16.RemoteStartTransactionRequest(id_tag=tag)
            answers.append(str((await csms.call(request)).status))
        await pair.close()
        return answers

    assert asyncio.run(main()) == ["Rejected", "Accepted", "Accepted", "Rejected"]
