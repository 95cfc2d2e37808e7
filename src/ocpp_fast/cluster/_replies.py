"""Requests over one NATS connection whose replies all come back to one subscription.

A gateway stores a durable CALL in JetStream and hands CALLs to workers for every
station it holds; each is a request whose reply (the stream's ack, the worker's
outcome) must be awaited before the station is answered. ``js.publish`` and
``nc.request`` did that per message with the generic machinery of nats-py (a fresh
``wait_for`` around each future, the ack parsed by ``json`` into a dataclass, a
random token read from the OS per request), which the profile of a loaded gateway
showed as a large part of its Python per message.

:class:`Replies` does the same with less: every request is a plain ``publish`` with
a reply subject under one inbox this connection subscribes to (``<inbox>.<n>``, ``n``
counting up), each waiting future is found by its token when the reply comes, and
a request that gets none fails after its timeout (one timer handle each, cancelled
with the reply). The publishes themselves go through nats-py's buffer, which writes
everything published during one event-loop iteration in one write: the acks are
requested together and awaited per message.

NATS restarts are nats-py's to handle as for any subscription: the inbox
subscription is made again on reconnect, publishes made meanwhile wait in the
client's buffer, and a reply that never comes is a timeout.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

if TYPE_CHECKING:
    from nats.aio.client import Client as Nats
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

__all__ = ["Replies", "Reply", "Requests"]


class Reply(Protocol):
    """What a request's reply has: its payload (and headers, unused here)."""

    @property
    def data(self) -> bytes: ...


class Requests(Protocol):
    """What the relay stores and forwards through: :class:`Replies` on nats-py's connection,
    or :class:`~ocpp_fast.cluster._nats_link.NatsLink` on one of ocpp_fast's own."""

    def request(
        self,
        subject: str,
        data: bytes,
        timeout: float,
        headers: dict[str, str] | None = None,
        *,
        gather: bool = False,
    ) -> Awaitable[Reply]: ...

    @property
    def waiting(self) -> int: ...

    def not_ready(self) -> str | None: ...

    async def close(self) -> None: ...


_NO_RESPONDERS = "503"
"""The status NATS replies with when nobody subscribes to the request's subject."""


class Replies:
    """Publishes requests and hands each reply to the one awaiting it."""

    def __init__(self) -> None:
        self.nc: Nats | None = None
        self._prefix = ""
        self._tokens = itertools.count()
        self._waiting: dict[str, asyncio.Future[Msg]] = {}
        self._subscription: Subscription | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def attach(self, nc: Nats) -> None:
        """Subscribe to this connection's reply inbox (once per connection)."""
        self.nc = nc
        self._loop = asyncio.get_running_loop()
        self._prefix = nc.new_inbox() + "."
        self._subscription = await nc.subscribe(self._prefix + "*", cb=self._received)

    async def request(
        self,
        subject: str,
        data: bytes,
        timeout: float,
        headers: dict[str, str] | None = None,
        *,
        gather: bool = False,
    ) -> Msg:
        """Publish ``data`` to ``subject`` and return its reply (``gather`` changes nothing:
        nats-py's connection has its own flushing, and no write window).

        Raises nats' ``NoRespondersError`` when nobody listens on ``subject`` and its
        ``TimeoutError`` when no reply came within ``timeout`` seconds; whatever the
        publish raises (the client closed, its reconnect buffer full) goes through.
        """
        nc, loop = self.nc, self._loop
        if nc is None or loop is None:
            raise ConnectionError("not attached to NATS")
        token = str(next(self._tokens))
        future: asyncio.Future[Msg] = loop.create_future()
        self._waiting[token] = future
        timer = loop.call_later(timeout, _expire, future)
        try:
            await nc.publish(subject, data, reply=self._prefix + token, headers=headers)
            reply = await future
        finally:
            timer.cancel()
            self._waiting.pop(token, None)
        if not reply.data and reply.headers and reply.headers.get("Status") == _NO_RESPONDERS:
            raise NoRespondersError
        return reply

    async def _received(self, msg: Msg) -> None:
        future = self._waiting.pop(msg.subject[len(self._prefix) :], None)
        if future is not None and not future.done():
            future.set_result(msg)

    @property
    def waiting(self) -> int:
        """Requests whose reply has not come yet."""
        return len(self._waiting)

    def not_ready(self) -> str | None:
        """Nothing of its own: nats-py's connection says (the gateway asks it)."""
        return None

    async def close(self) -> None:
        """Nothing of its own: the inbox goes with nats-py's connection."""


def _expire(future: asyncio.Future[Msg]) -> None:
    if not future.done():
        future.set_exception(NatsTimeout())
