"""The shape of an entry in each version's generated ``actions`` table."""

from __future__ import annotations

import enum
from typing import NamedTuple

from ocpp_fast._model import OcppStruct

__all__ = ["Action", "Sender"]


class Sender(enum.Enum):
    """Which side sends the request of an action."""

    STATION = "station"
    CSMS = "csms"
    BOTH = "both"


class Action(NamedTuple):
    """One OCPP action: its wire name, handler method name and payload types.

    ``response`` is ``None`` for an action sent only as a SEND frame (2.1's
    ``NotifyPeriodicEventStream``), which is never answered.
    """

    name: str
    method: str
    request: type[OcppStruct]
    response: type[OcppStruct] | None
    sender: Sender
