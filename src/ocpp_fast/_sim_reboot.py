"""A simulated station's Reset (for :mod:`._sim_stations`): it reboots as a real station does, so
that a CSMS's reboot button can be tested. The transaction a reset cuts is ended first (2.x
``ImmediateReset``, 1.6 ``HardReset`` / ``SoftReset``), the station's call on the wire is let
finish, then the connection is closed (WebSocket 1012, Service Restart), opened again
:data:`REBOOT_DOWNTIME` seconds later, and the station boots with reason ``RemoteReset`` (2.x;
1.6's boot has no reason) and sends the status of its connectors once accepted.

What each version's Reset is answered is the simulator's reading of OCPP's Reset sections (the
shared OCPP-J summary and the JSON schemas give only the words on the wire), which the
simulator page states: ``Immediate``, ``Hard`` and ``Soft`` Accepted; ``OnIdle`` Accepted
when no transaction runs and ``Scheduled`` while one does (the reboot follows its end); an
``evseId`` (one EVSE alone, no reboot) and 2.1's ``ImmediateAndResume`` (transactions resumed
after the reboot) Rejected, as the simulator supports neither.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from ocpp_fast._sim_acting import _Acting
from ocpp_fast._sim_traffic import TxIdT
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.transport import StationClient

__all__ = ["REBOOT_DOWNTIME"]

REBOOT_DOWNTIME = 1.0
"""Seconds a simulated station stays offline when it reboots on a Reset, from the close of its
connection to the next one (a real station takes longer; a load test has no time to lose)."""
SETTLE_TIMEOUT = 5.0
"""Seconds a rebooting station waits at most for the answer to its call on the wire before it
closes the connection (a call cut by the close would count as failed in a run's report)."""
_REBOOTS = frozenset({"Immediate", "OnIdle", "Hard", "Soft"})
"""The kinds of Reset a simulated station carries out (2.x, then 1.6)."""


class _Rebooting(_Acting[TxIdT]):
    """A station that reboots on a Reset it accepts."""

    reboots: int = 0
    """How many times the station rebooted on a Reset (``simulate()`` reports the sum)."""
    rebooting: bool = False
    """From a Reset carried out to the end of the connection it closes: the station sends
    nothing new meanwhile (``simulate()``'s traffic pauses)."""
    _reset_scheduled: bool = False
    """An ``OnIdle`` Reset answered Scheduled: the station reboots once its transaction ended."""
    _booting_again: bool = False
    """Rebooted: the next accepted boot is followed by the status of its connectors."""

    def _reset(self, kind: str, evse: bool) -> str:
        """Answer a Reset of ``kind`` (``evse``: it named an EVSE): ``Accepted`` (the reboot
        carried out after the answer), ``Scheduled`` (``OnIdle`` while charging: the reboot
        comes once the transaction ended) or ``Rejected`` (an EVSE alone, a kind the station
        does not carry out, a reboot already on its way, or no client to reconnect with)."""
        if evse or kind not in _REBOOTS or self.rebooting or self._reset_scheduled:
            return "Rejected"
        if self._client() is None:
            return "Rejected"
        if kind == "OnIdle" and self.traffic.charging:
            self._reset_scheduled = True
            return "Scheduled"
        self._reboot_after_answer(kind)
        return "Accepted"

    def _client(self) -> StationClient | None:
        """The client the station reconnects with: :attr:`client`, or its connection's."""
        if self.client is not None:
            return self.client
        try:
            return None if self._connection is None else StationClient.of(self._connection)
        except LookupError:  # connect_in_memory's bare ends: nothing reconnects
            return None

    def _idle_now(self) -> None:
        """An answer to one of the station's calls came: a reset Scheduled waits no more once
        no transaction runs (its Ended event was answered, or is on its way: the reboot lets
        the call on the wire finish)."""
        if self._reset_scheduled and not self.traffic.charging and not self.rebooting:
            self._reset_scheduled = False
            self._reboot_after_answer("OnIdle")

    def _reboot_after_answer(self, kind: str) -> None:
        self.rebooting = True
        self._after_answer(self._reboot(self.traffic.reset_end(kind)))

    async def _reboot(self, ended: Any) -> None:
        """End the transaction cut (``ended``, or ``None``), let the call on the wire finish,
        then close and reconnect after :data:`REBOOT_DOWNTIME`, to boot as ``RemoteReset``."""
        if ended is not None:
            await self._send(ended)
        connection, client = self._connection, self._client()
        if connection is not None:
            await _settled(connection)
        self.reboots += 1
        self._booting_again = True
        self.traffic.boot_reason = "RemoteReset"
        if client is not None:
            await client.reboot(REBOOT_DOWNTIME, "RemoteReset")

    def on_disconnect(self, connection: AsyncConnection, reason: str) -> Awaitable[None] | None:
        if connection is not None and connection is self._connection:
            self.rebooting = False  # the connection it closed is gone: the next one boots
        return super().on_disconnect(connection, reason)

    def _booted_again(self) -> bool:
        """A boot was accepted: after a reboot, the status of the station's connectors is sent
        (2.x EVSE 1 connector 1; 1.6 connectors 0 and 1), as a station that starts up tells
        it; ``True`` then (no status is owed for the time it was offline besides)."""
        if not self._booting_again:
            return False
        self._booting_again = False
        self.traffic.boot_reason = "PowerUp"
        _, statuses = self.traffic.triggered("StatusNotification", None, None, True)
        self._carry_out_each(statuses)
        return True


async def _settled(connection: Any) -> None:
    """Until no call of the station is on the wire on ``connection`` (at most
    :data:`SETTLE_TIMEOUT` s): the calls queued behind it go out and are answered too."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_TIMEOUT
    while connection.protocol.outstanding is not None and loop.time() < deadline:
        await asyncio.sleep(0.01)
