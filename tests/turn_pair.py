"""A 1.6 backend that repairs broken frames in ``route_message``, served on 127.0.0.1, for the
differential tests of a repaired CALL's turn (``ocpp`` 2.1.0 against the drop-in).

What the backend does with a frame is read from its message id, so each test is a list of
frames: a MessageTypeId sent as the string ``"2"`` is repaired into a CALL (neither ``ocpp`` nor
the drop-in reads it as one); an id beginning ``lookup`` makes the override await a lookup
before ``super().route_message(...)``; the Heartbeat handler sleeps (``slow``), hangs, asks the
station something (``ask``) or raises (``ocpp1`` / ``plain1`` / ``cancel1``: an ``ocpp`` error,
a ``ValueError`` or ``asyncio.CancelledError`` after so many awaits). Everything the backend
sees is recorded in ``events``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import ocpp.exceptions
from ocpp.exceptions import OCPPError
from ocpp.messages import MessageType, unpack
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as call_result16
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

NOW = "2026-12-04T15:00:00Z"
ASKED = '[2,"c1","GetLocalListVersion",{}]'
"""The CALL an ``ask`` handler sends the station (its id fixed, so both sides match)."""


def name_of(frame: list[Any]) -> str:
    return str(frame[1])


async def _behave(name: str) -> None:
    """What the handler of the CALL ``name`` does before it answers."""
    if "slow" in name:
        await asyncio.sleep(0.2)
    if "hangs" in name:
        await asyncio.Event().wait()
    for count in (0, 1, 2):
        if any(f"{kind}{count}" in name for kind in ("ocpp", "plain", "cancel")):
            for _ in range(count):
                await asyncio.sleep(0.01)
            if "ocpp" in name:
                raise ocpp.exceptions.ProtocolError(description=f"{name} refused", details={})
            if "cancel" in name:  # as a handler awaiting a task something else cancelled
                raise asyncio.CancelledError
            raise ValueError(f"{name} failed")


async def routed_whole(point: Any, raw_msg: str) -> None:
    """A frame routed as a ``route_message`` written whole routes it, as ``ocpp``'s own does:
    ``unpack``, then ``_handle_call`` for a CALL (its error answered), the response queue for
    a response."""
    msg = unpack(raw_msg)
    if msg.message_type_id == MessageType.Call:
        try:
            await point._handle_call(msg)
        except OCPPError as error:
            await point._send(msg.create_call_error(error).to_json())
    else:
        point._response_queue.put_nowait(msg)


def repairing(base: type[Any], whole: bool = False) -> type[Any]:
    """The backend on ``base``; ``whole``: its ``route_message`` written whole (``unpack``,
    ``_handle_call``, the response queue, as ``ocpp``'s own), else ending in ``super()``."""

    class Csms(base):  # type: ignore[misc]
        events: list[Any]

        async def route_message(self, raw_msg: str) -> None:
            frame = json.loads(raw_msg)
            name = name_of(frame)
            self.events.append(("in", name))
            if name.startswith("lookup"):
                await asyncio.sleep(0.2)
            if "raises-before" in name:
                raise LookupError(f"{name}: no such station")
            if frame[0] == "2":
                frame[0] = 2
                raw_msg = json.dumps(frame)
            try:
                if whole:
                    await routed_whole(self, raw_msg)
                else:
                    await super().route_message(raw_msg)
            except BaseException as error:
                self.events.append(("super raised", name, type(error).__name__))
                raise
            if "raises-after" in name:
                raise LookupError(f"{name}: no such station")
            self.events.append(("out", name))

        @on("Heartbeat")  # type: ignore[untyped-decorator]
        async def on_heartbeat(self, call_unique_id: str) -> Any:
            self.events.append(("begins", call_unique_id))
            try:
                await _behave(call_unique_id)
                if "ask" in call_unique_id:
                    self._unique_id_generator = lambda: "c1"
                    answer = await self.call(call16.GetLocalListVersion())
                    self.events.append(("asked", call_unique_id, answer.list_version))
            except BaseException as error:
                self.events.append(("handler raised", call_unique_id, type(error).__name__))
                raise
            self.events.append(("ends", call_unique_id))
            return call_result16.Heartbeat(current_time=NOW)

    return Csms


async def heard(station: ClientConnection, quiet: float = 0.5) -> list[Any]:
    """Every frame the station gets until ``quiet`` s pass without one (or it is closed)."""
    got: list[Any] = []
    while True:
        try:
            got.append(json.loads(await asyncio.wait_for(station.recv(), quiet)))
        except TimeoutError:
            return got
        except ConnectionClosed as closed:
            got.append(f"closed {closed.rcvd.code if closed.rcvd else None}")
            return got


async def until(condition: Callable[[], bool], seconds: float = 2.5) -> None:
    for _ in range(int(seconds / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the backend never got there")


@contextlib.asynccontextmanager
async def served(
    on_connect: Callable[[ServerConnection], Awaitable[None]],
) -> AsyncIterator[Callable[[], Any]]:
    """``on_connect`` served on 127.0.0.1; yields a function connecting a 1.6 station."""
    async with serve(on_connect, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/CP1"
        yield lambda: connect(url, subprotocols=["ocpp1.6"])  # type: ignore[list-item]


async def ended(run: Awaitable[Any]) -> str:
    """How a ``start()`` ended: the name of its exception."""
    try:
        await run
    except BaseException as error:  # what ended it is the point
        return type(error).__name__
    return "returned"
