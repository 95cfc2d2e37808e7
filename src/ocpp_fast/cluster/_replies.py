"""Requests over one NATS connection whose replies all come back to one subscription.

A gateway stores a durable CALL in JetStream and hands CALLs to workers for every
station it holds; each is a request whose reply (the stream's ack, the worker's
outcome) must come before the station is answered. ``js.publish`` and
``nc.request`` did that per message with the generic machinery of nats-py (a fresh
``wait_for`` around each future, the ack parsed by ``json`` into a dataclass, a
random token read from the OS per request), which the profile of a loaded gateway
showed as a large part of its Python per message.

:class:`Replies` does the same with less: every request is a plain ``publish`` with
a reply subject under one inbox this connection subscribes to (``<inbox>.<n>``, ``n``
counting up), and the callback waiting for it is found by its token when the reply
comes; a request that gets none is told so after its timeout (one timer handle each,
cancelled with the reply). :meth:`Replies.ask` does all of it without a task: the
publish runs to its end at once (nats-py's ``publish`` only suspends when its buffer
is over its limit; then the rest of it runs as a task), and the reply is handed over
from nats-py's read loop itself. The publishes go through nats-py's buffer, which
writes everything published during one event-loop iteration in one write.

The inbox is subscribed with ``subscribe(future=...)``, nats-py's path for the single
reply of an old-style request, given an object of ours that takes every reply
(:class:`_Inbox`): nats-py then calls its ``set_result`` in its read loop for each
message, where a subscription with a callback goes through a queue and a task of its
own per message. nats-py's documented contract for ``future`` is one reply; taking
every reply this way relies on how its ``_process_msg`` treats the future (checked
``cancelled()``, then ``set_result(msg)``, nothing else), which the cluster tests
exercise with many replies on one inbox (nats-py 2.16).

NATS restarts are nats-py's to handle as for any subscription: the inbox
subscription is made again on reconnect, publishes made meanwhile wait in the
client's buffer, and a reply that never comes is a timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, cast

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

if TYPE_CHECKING:
    from nats.aio.client import Client as Nats
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

__all__ = ["OnReply", "Replies", "run_now"]

log = logging.getLogger("ocpp_fast.cluster")

_NO_RESPONDERS = "503"
"""The status NATS replies with when nobody subscribes to the request's subject."""

OnReply = Callable[["Msg | Exception"], None]
"""Told a request's reply, or why there is none (nats' ``NoRespondersError``,
``TimeoutError``): called once, from nats-py's read loop or a timer."""


class Replies:
    """Publishes requests and hands each reply to the one waiting for it."""

    def __init__(self) -> None:
        self.nc: Nats | None = None
        self._prefix = ""
        self._tokens = itertools.count()
        self._waiting: dict[str, tuple[OnReply, asyncio.TimerHandle]] = {}
        self._subscription: Subscription | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._resumed: set[asyncio.Task[None]] = set()

    async def attach(self, nc: Nats) -> None:
        """Subscribe to this connection's reply inbox (once per connection)."""
        self.nc = nc
        self._loop = asyncio.get_running_loop()
        self._prefix = nc.new_inbox() + "."
        inbox = cast(Any, _Inbox(self._received))  # stands for the future nats-py resolves
        self._subscription = await nc.subscribe(self._prefix + "*", future=inbox)

    def ask(
        self,
        subject: str,
        data: bytes,
        timeout: float,
        on_reply: OnReply,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Publish ``data`` to ``subject``; ``on_reply`` is told its reply, or its failure.

        Raises what the publish raises at once (the client closed, its reconnect buffer
        full); ``on_reply`` is then never called.
        """
        nc, loop = self.nc, self._loop
        if nc is None or loop is None:
            raise ConnectionError("not attached to NATS")
        token = str(next(self._tokens))
        self._waiting[token] = (on_reply, loop.call_later(timeout, self._expire, token))
        try:
            rest = run_now(nc.publish(subject, data, reply=self._prefix + token, headers=headers))
        except BaseException:
            self._waiting.pop(token)[1].cancel()
            raise
        if rest is not None:  # the buffer was full: the publish ends in a task
            self._resumed.add(rest)
            rest.add_done_callback(self._resumed.discard)

    async def request(
        self, subject: str, data: bytes, timeout: float, headers: dict[str, str] | None = None
    ) -> Msg:
        """:meth:`ask`, awaited: the reply, or nats' ``NoRespondersError``/``TimeoutError``."""
        future: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()

        def settle(reply: Msg | Exception) -> None:
            if future.done():
                return
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

        self.ask(subject, data, timeout, settle, headers)
        return await future

    def _received(self, msg: Msg) -> None:
        waiting = self._waiting.pop(msg.subject[len(self._prefix) :], None)
        if waiting is None:
            return
        on_reply, timer = waiting
        timer.cancel()
        if not msg.data and msg.headers and msg.headers.get("Status") == _NO_RESPONDERS:
            _tell(on_reply, NoRespondersError())
        else:
            _tell(on_reply, msg)

    def _expire(self, token: str) -> None:
        waiting = self._waiting.pop(token, None)
        if waiting is not None:
            _tell(waiting[0], NatsTimeout())

    @property
    def waiting(self) -> int:
        """Requests whose reply has not come yet."""
        return len(self._waiting)


def _tell(on_reply: OnReply, reply: Msg | Exception) -> None:
    """Hand a reply over; what the callback raises is logged, never thrown into nats-py's
    read loop (which would stop reading)."""
    try:
        on_reply(reply)
    except Exception:
        log.exception("cluster: handling a reply failed")


class _Inbox:
    """What nats-py takes for the future of a subscription: every reply, to ``deliver``.

    ``_process_msg`` asks ``cancelled()`` and calls ``set_result(msg)``, in its read
    loop, for each message of the subscription (see the module's docstring).
    """

    __slots__ = ("_deliver",)

    def __init__(self, deliver: Callable[[Msg], None]) -> None:
        self._deliver = deliver

    def cancelled(self) -> bool:
        return False

    def done(self) -> bool:
        return False

    def set_result(self, msg: Msg) -> None:
        self._deliver(msg)


def run_now(work: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Run ``work`` to its end now, without a task, if it never suspends: ``None``.

    Where it suspends, the rest of it runs in a task, returned (to keep a reference to).
    What it raises before suspending is raised here.
    """
    try:
        step = work.send(None)
    except StopIteration:
        return None
    return asyncio.ensure_future(_resume(work, step))


async def _resume(work: Coroutine[Any, Any, None], step: Any) -> None:
    """Go on with ``work``, suspended on ``step`` (a future, or ``None``: a bare yield), as
    a task would: each time what it waits on is done, it is sent on."""
    try:
        while True:
            if step is None:
                await asyncio.sleep(0)
            else:
                await asyncio.wait([step])  # its outcome is ``work``'s to read, not ours
            step = work.send(None)
    except StopIteration:
        return
    finally:
        work.close()
