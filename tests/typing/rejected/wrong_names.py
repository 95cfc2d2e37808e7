# pyright: strict
"""A misspelt or missing name imported from a lazily loaded package is an error, not ``Any``:
each package's ``__getattr__`` (which loads its names on first use) is hidden from type
checkers, which see only the names the package declares. ``# expect:`` comments as in
wrong_handlers.py.
"""

from __future__ import annotations

# expect: mypy[attr-defined] pyright[reportAttributeAccessIssue,reportUnknownVariableType]
from ocpp_fast import Tolerence

# expect: mypy[attr-defined] pyright[reportAttributeAccessIssue,reportUnknownVariableType]
from ocpp_fast.cluster import Client

# expect: mypy[attr-defined] pyright[reportAttributeAccessIssue,reportUnknownVariableType]
from ocpp_fast.protocol import Connexion

# expect: mypy[attr-defined] pyright[reportAttributeAccessIssue,reportUnknownVariableType]
from ocpp_fast.transport import Server

# expect: mypy[attr-defined] pyright[reportAttributeAccessIssue,reportUnknownVariableType]
from ocpp_fast.transport.server import WebSocketServer

# expect: mypy[attr-defined] pyright[reportAttributeAccessIssue,reportUnknownVariableType]
from ocpp_fast.v16 import ChargePoint

# expect: mypy[attr-defined] pyright[reportAttributeAccessIssue,reportUnknownVariableType]
from ocpp_fast.v21 import Messages

# expect: mypy[attr-defined] pyright[reportAttributeAccessIssue,reportUnknownVariableType]
from ocpp_fast.v201 import ChargingStation

__all__ = [
    "ChargePoint",
    "ChargingStation",
    "Client",
    "Connexion",
    "Messages",
    "Server",
    "Tolerence",
    "WebSocketServer",
]
