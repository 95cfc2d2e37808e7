# pyright: strict
"""A client typed by its boot's version must not pass for another version's, nor take what
is no BootNotificationRequest as ``boot``. ``# expect:`` comments as in wrong_handlers.py.
"""

from __future__ import annotations

from ocpp_fast import CallContext, v16, v201
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.transport import StationClient, connect

BOOT201 = v201.messages.BootNotificationRequest(
    reason=v201.enums.BootReasonEnumType.POWER_UP,
    charging_station=v201.datatypes.ChargingStationType(model="M", vendor_name="V"),
)


async def wrong(url: str) -> None:
    station = await connect(v201.Charger(), url, boot=BOOT201)
    # expect: mypy[assignment] pyright[reportAssignmentType]
    answer: v16.messages.BootNotificationResponse = await station.booted()
    # expect: mypy[assignment] pyright[reportAssignmentType]
    as16: StationClient[v16.messages.BootNotificationResponse] = station
    # expect: mypy[arg-type] pyright[reportCallIssue, reportArgumentType]
    StationClient(v201.Charger(), url, boot=v201.messages.HeartbeatRequest())
    print(answer, as16)


BOOT16 = v16.messages.BootNotificationRequest(charge_point_model="M", charge_point_vendor="V")


async def boot_of_another_version(url: str) -> None:
    """A boot of another version than the Charger's is refused by the checker, not only at run
    time (``ValueError``): a covariant parameter took the two for their union."""
    # expect: mypy[arg-type] pyright[reportCallIssue, reportArgumentType]
    await connect(v201.Charger(), url, boot=BOOT16)
    # expect: mypy[list-item] pyright[reportCallIssue, reportArgumentType]
    await connect(v16.Charger(), url, boot=[BOOT201])
    # expect: mypy[arg-type] pyright[reportCallIssue, reportArgumentType]
    StationClient(v201.Charger(), url, boot=BOOT16)


async def wrong_version(url: str) -> None:
    """A client typed by its Charger's version (no ``boot=``) is no other version's."""
    station = await connect(v16.Charger(), url)
    # expect: mypy[assignment] pyright[reportAssignmentType]
    as201: StationClient[v201.messages.BootNotificationResponse] = station
    print(as201)


Boot16 = v16.messages.BootNotificationResponse
Boot201 = v201.messages.BootNotificationResponse


def client_of_another_version(context: CallContext) -> None:
    """``StationClient.of(context, v16.Charger)`` is a 1.6 client, no 2.0.1 one (mypy, which
    infers the parameter from the annotation, refuses the argument); the bare
    ``StationClient.of(context)`` is any version's, which one version's annotation refuses."""
    # expect: mypy[arg-type] pyright[reportAssignmentType]
    as201: StationClient[Boot201] = StationClient.of(context, v16.Charger)
    # expect: mypy[assignment] pyright[reportAssignmentType]
    any_version: StationClient[Boot16] = StationClient.of(context)
    print(as201, any_version)


def misspelled(connection: AsyncConnection) -> bool:
    """How the CSMS answered the last boot is one of three words: a misspelled one never is."""
    # expect: mypy[comparison-overlap] pyright[reportUnnecessaryComparison]
    return connection.registration == "accepted"


async def wrong_option(url: str) -> None:
    """The keyword options are typed on every version's signature."""
    # expect: mypy[call-overload] pyright[reportCallIssue, reportArgumentType]
    await connect(v201.Charger(), url, heartbeat="often")
    # expect: mypy[call-overload] pyright[reportCallIssue]
    await connect(v201.Charger(), url, rng=None)
