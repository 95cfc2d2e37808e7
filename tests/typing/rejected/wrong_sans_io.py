# pyright: strict
"""What the sans-I/O core's payloads were typed ``Any`` for, and no longer let through: a
response or request read as one message without narrowing, a field read on the base, a
simulated station's hook taking another type. ``# expect:`` comments as in wrong_handlers.py.
"""

from __future__ import annotations

from ocpp_fast.cluster import DurableEvent
from ocpp_fast.cluster.client import RoutedPeer
from ocpp_fast.dispatch import OcppHandler, Route
from ocpp_fast.frames import Call, CallResult
from ocpp_fast.protocol import CallSucceeded
from ocpp_fast.simulator import SimulatedStation
from ocpp_fast.v201 import messages


def unnarrowed(event: CallSucceeded, call: Call, result: CallResult) -> None:
    # expect: mypy[assignment] pyright[reportAssignmentType]
    answer: messages.ResetResponse = event.response
    # expect: mypy[attr-defined] pyright[reportAttributeAccessIssue,reportUnknownMemberType]
    assert event.response.status
    # expect: mypy[attr-defined] pyright[reportAttributeAccessIssue,reportUnknownMemberType]
    assert call.payload.reason
    # expect: mypy[assignment] pyright[reportAssignmentType]
    request: messages.BootNotificationRequest = call.payload
    # expect: mypy[assignment] pyright[reportAssignmentType]
    boot: messages.BootNotificationResponse = result.payload
    print(answer, request, boot)


class Station(SimulatedStation):
    # expect: mypy[override] pyright[reportIncompatibleMethodOverride]
    def on_connect(self, connection: str) -> None:
        print(connection)


def stored(event: DurableEvent) -> None:
    # expect: mypy[attr-defined] pyright[reportAttributeAccessIssue,reportUnknownMemberType]
    assert event.request().seq_no


async def wrapped(handler: OcppHandler, route: Route, call: Call) -> None:
    # expect: mypy[misc] pyright[reportGeneralTypeIssues]
    await handler.invoke_handler(route, call, "CS001", None)


def routed(peer: RoutedPeer) -> None:
    """A cluster worker's peer takes a Tolerance, as every PeerConnection does (it took Any)."""
    # expect: mypy[arg-type] pyright[reportArgumentType]
    peer.set_tolerance("lenient")
