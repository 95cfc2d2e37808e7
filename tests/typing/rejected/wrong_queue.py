# pyright: strict
"""The transaction queue takes only what it keeps, and its responses are typed: each line
below must fail as the comment above it says (``# expect: mypy[code,...] pyright[rule,...]``)."""

from __future__ import annotations

import datetime

from ocpp_fast import v16, v201
from ocpp_fast.transport import StationClient

NOW = datetime.datetime.now(datetime.UTC)
START = v16.messages.StartTransactionRequest(
    connector_id=1, id_tag="TAG", meter_start=0, timestamp=NOW
)


async def wrong(client: StationClient) -> None:
    # expect: mypy[call-overload] pyright[reportCallIssue,reportArgumentType]
    client.put(v16.messages.HeartbeatRequest())
    # expect: mypy[call-overload] pyright[reportCallIssue,reportArgumentType]
    client.put(v201.messages.MeterValuesRequest(evse_id=1, meter_value=[]))
    # expect: mypy[assignment] pyright[reportAssignmentType]
    a: v16.messages.StopTransactionResponse = await client.put(START)
    # expect: mypy[assignment] pyright[reportAssignmentType]
    seconds: float = client.heartbeat_interval  # None: no heartbeat
    print(a, seconds)


async def wrong_boot(client: StationClient) -> None:
    """The boot's answer was ``Any``: a misspelt field, or a 2.x field read off a possibly
    1.6 answer, or a ``None`` not ruled out, passed unseen."""
    accepted = await client.booted()
    # expect: mypy[union-attr] pyright[reportAttributeAccessIssue,reportUnknownMemberType]
    if accepted.stauts == "Accepted":
        return
    # expect: mypy[union-attr] pyright[reportAttributeAccessIssue,reportUnknownMemberType]
    if accepted.status_info:
        return
    # expect: mypy[union-attr] pyright[reportOptionalMemberAccess]
    print(client.boot_response.status)
