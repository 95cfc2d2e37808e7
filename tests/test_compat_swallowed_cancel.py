"""A ``route_message`` override that swallows ``CancelledError`` does not keep ``start()`` reading.

A backend's override wrapped in ``except BaseException:`` (or a bare ``except:``) that returns
catches the cancel of ``start()`` when it arrives inside the override (a lookup awaited before
``super().route_message(...)``): ``ocpp``'s ``start()`` then reads the next frame, its cancel
lost, and the connection's reader goes on after the backend told it to stop. The drop-in's
``start()`` sees the cancel in its task's count once the override returns and stops anyway
(logged), as a backend cancelling it expects [a_swallowed_cancel_still_stops_start]. ``ocpp``'s
reading on is pinned too [ocpps_start_reads_on_after_a_swallowed_cancel], as a documented
difference (docs/explanation/compat-differences.md).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ocpp.v16
import pytest

from ocpp_fast.compat import v16


class Connection:
    """An in-memory connection: frames put in ``incoming``, the reads counted."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[str] = asyncio.Queue()
        self.reads = 0

    async def recv(self) -> str:
        self.reads += 1
        return await self.incoming.get()

    async def send(self, text: str) -> None:
        pass


def swallowing(base: type[Any]) -> type[Any]:
    """A backend whose ``route_message`` awaits a lookup for a CALLRESULT before
    ``super()``, inside an ``except BaseException`` that returns."""

    class Backend(base):  # type: ignore[misc]
        looking_up: asyncio.Event
        routed: list[str]

        async def route_message(self, raw_msg: str) -> None:
            self.routed.append(raw_msg)
            try:
                if raw_msg.startswith("[3"):
                    self.looking_up.set()
                    await asyncio.Event().wait()  # a lookup that ends only when cancelled
                await super().route_message(raw_msg)
            except BaseException:  # the backend's bug: the cancel is caught too
                return

    return Backend


async def cancelled_in_the_override(base: type[Any]) -> tuple[asyncio.Task[None], Connection, Any]:
    """``start()`` cancelled while the override awaits its lookup; a Heartbeat sent after."""
    connection = Connection()
    backend = swallowing(base)("CP1", connection)
    backend.looking_up = asyncio.Event()
    backend.routed = []
    reading = asyncio.create_task(backend.start())
    connection.incoming.put_nowait('[3,"unknown",{}]')
    await backend.looking_up.wait()
    reading.cancel()
    connection.incoming.put_nowait('[2,"1","Heartbeat",{}]')
    await asyncio.wait({reading}, timeout=1)  # a guard against a hang, not a speed figure
    return reading, connection, backend


def test_a_swallowed_cancel_still_stops_start(caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> None:
        with caplog.at_level(logging.WARNING, logger="ocpp"):
            reading, connection, backend = await cancelled_in_the_override(v16.ChargePoint)
        assert reading.done(), "start() read on after it was cancelled"
        assert reading.cancelled()
        assert connection.reads == 1
        assert backend.routed == ['[3,"unknown",{}]']
        assert "start() stops anyway" in caplog.text

    asyncio.run(run())


def test_ocpps_start_reads_on_after_a_swallowed_cancel() -> None:
    async def run() -> None:
        reading, connection, backend = await cancelled_in_the_override(ocpp.v16.ChargePoint)
        assert not reading.done()
        assert connection.reads == 3  # the Heartbeat read and routed, then a third read
        assert backend.routed == ['[3,"unknown",{}]', '[2,"1","Heartbeat",{}]']
        reading.cancel()  # now in its read, where nothing catches it
        with pytest.raises(asyncio.CancelledError):
            await reading

    asyncio.run(run())
