"""A real Protocol that notes each frame it is asked to decode: a test sees whether a frame
left the compiled path for the general one (shared by the fast-path tests)."""

from __future__ import annotations

from typing import Any

from ocpp_fast.protocol import Protocol

received: list[bytes | str] = []
"""The frames a :class:`Counting` protocol was given, in order (a test clears it first)."""


class Counting(Protocol):
    """A real Protocol that notes each frame it is given to decode."""

    __slots__ = ()

    def receive(self, data: bytes | str) -> list[Any]:
        received.append(data)
        return super().receive(data)


def counting(made: Protocol) -> Protocol:
    """``made`` noting its frames in :data:`received` (a handler's ``protocol()`` returns it)."""
    made.__class__ = Counting
    return made
