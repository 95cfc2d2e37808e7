# pyright: strict
"""``CallContext.connection`` may be ``None`` (a frame answered by ``handle()``), so calling
back through it unchecked is refused: ``context.peer`` is the way without a check
(typed_calls.py). ``# expect:`` comments as in wrong_handlers.py.
"""

from __future__ import annotations

from ocpp_fast import CallContext, v201


async def unchecked(request: v201.messages.BootNotificationRequest, context: CallContext) -> None:
    # expect: mypy[union-attr] pyright[reportOptionalMemberAccess]
    await context.connection.call(v201.messages.ClearCacheRequest())
    # expect: mypy[assignment] pyright[reportAssignmentType]
    identity: int = context.peer.identity
    print(identity)
