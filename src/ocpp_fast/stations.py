"""Reaching stations from your own code, whatever the deployment.

One process (``server = await serve(...)``) and a cluster (``ClusterClient``) offer the
same three coroutines, described by :class:`StationCaller`: ``call(identity, request,
timeout=...)`` sends a CALL to a station wherever it is connected, ``stations()``
lists who is connected, each as a :class:`StationEntry`, and ``disconnect(identity,
code, reason)`` closes a station's connection. They raise
:class:`StationNotConnected` for a station that is not there. Code written against
:class:`StationCaller` (an admin API, a script) moves from one process to the cluster
unchanged.
"""

from __future__ import annotations

import datetime
import os
import socket
from typing import Protocol, runtime_checkable

import msgspec

from ocpp_fast._model import ResponseT, SentByCsms
from ocpp_fast.errors import StationNotConnected

__all__ = ["StationCaller", "StationEntry", "StationNotConnected", "node_name"]


def node_name() -> str:
    """A name for this process that no other process of a cluster has: host and pid."""
    return f"{socket.gethostname()}-{os.getpid()}"


class StationEntry(msgspec.Struct, frozen=True):
    """One connected station: the node holding it, its OCPP version, connected since when.

    ``node`` names the process (``host-pid``); ``version`` is the label (``"2.0.1"``).
    """

    node: str
    version: str
    since: datetime.datetime


@runtime_checkable
class StationCaller(Protocol):
    """What both ``CsmsServer`` (one process) and ``ClusterClient`` (a cluster) offer."""

    async def call(
        self, identity: str, request: SentByCsms[ResponseT], timeout: float = ...
    ) -> ResponseT:
        """Send ``request`` as a CALL to the station ``identity``; its typed response.

        Raises the station's error as the ``OcppError`` class of its code,
        :class:`StationNotConnected` when the station is not connected (or left during
        the call), ``TimeoutError`` when it did not answer within ``timeout``.
        """
        ...

    async def stations(self, timeout: float = ...) -> dict[str, StationEntry]:
        """Every connected station by identity."""
        ...

    async def disconnect(
        self, identity: str, code: int = ..., reason: str = "", timeout: float = ...
    ) -> None:
        """Close the station's connection with the WebSocket close ``code`` (1000 by default)
        and ``reason``; returns once its session ended (its ``on_disconnect`` ran).

        Raises :class:`StationNotConnected` when the station is not connected,
        ``ValueError`` for a code a server may not send or a reason over 123 bytes,
        ``TimeoutError`` when the session did not end within ``timeout``.
        """
        ...
