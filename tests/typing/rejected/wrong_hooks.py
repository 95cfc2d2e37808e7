# pyright: strict
"""Lifecycle hooks with the wrong parameter types, or using what their connection or server
does not have: each must fail as the comment above it says
(``# expect: mypy[code,...] pyright[rule,...]``)."""

from __future__ import annotations

from ocpp_fast import v201
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.transport import CsmsServer


class Csms(v201.ChargeSystem):
    # expect: mypy[override] pyright[reportIncompatibleMethodOverride]
    def on_connect(self, connection: str) -> None:
        print(connection)

    # expect: mypy[override] pyright[reportIncompatibleMethodOverride]
    def on_startup(self, server: AsyncConnection) -> None:
        print(server)

    def on_disconnect(self, connection: AsyncConnection, reason: str) -> None:
        # expect: mypy[attr-defined] pyright[reportAttributeAccessIssue]
        connection.station_id = reason

    def on_shutdown(self, server: CsmsServer) -> None:
        # expect: mypy[attr-defined] pyright[reportAttributeAccessIssue]
        server.stations_by_id = {}
        # expect: mypy[union-attr] pyright[reportAttributeAccessIssue]
        server.listening()[0].port = 1  # a socket has getsockname(), no port: it was Any


class Station(v201.Charger):
    """A Charger's hooks are typed as the ChargeSystem's: they took any type before."""

    # expect: mypy[override] pyright[reportIncompatibleMethodOverride]
    def on_connect(self, connection: str) -> None:
        print(connection)

    def on_disconnect(self, connection: AsyncConnection, reason: str) -> None:
        # expect: mypy[attr-defined] pyright[reportAttributeAccessIssue]
        connection.station_id = reason
