"""A NATS connection of ocpp_fast's own for the gateway's stores, worker requests, registry
lines and routed calls.

Every durable CALL a gateway answers is a request (publish the event, await the
stream's ack) and, with handlers in workers, every CALL is one more. Through nats-py
such a request crossed the event loop about six times (the handler's task, nats-py's
flusher task, its read loop, the inbox subscription's task, the handler's task again,
the answer) and ran some seventy Python calls in nats-py and asyncio's queues.

:class:`NatsLink` speaks the few parts of the NATS client protocol those requests
need, on a socket of its own, as an ``asyncio.Protocol``: no task and no queue per
message. A request is one ``PUB``/``HPUB`` whose reply subject is under one inbox this
connection subscribes to once (``<inbox>.<n>``); while few requests wait it is written
at once, and once more wait, what one event-loop iteration publishes goes out in one
write (scheduled with ``call_soon``); the replies are parsed in ``data_received`` and
complete the waiting futures there. No timer is made per request: one sweep every
:data:`SWEEP_EVERY` seconds, while requests wait, fails those past their timeout (a
timer made and cancelled per request was 1.4 µs of uvloop's here, about 2,000
instructions of a durable CALL's 140,000 under callgrind), and a request reads no clock:
it joins its timeout's batch of the requests made since the last sweep, which that sweep
dates (see :data:`SWEEP_EVERY`). A request's future calls
back a turn of the loop later, as asyncio's do: a :class:`~ocpp_fast._deferred.Deferred`
calling back as the reply is read saved that turn but cost as much in Python calls.

The stations' command subscriptions are the link's too (:meth:`NatsLink.subscribe`): a
``MSG`` to one of them is handed to a plain callback from ``data_received``, and the
answer is one ``PUB`` to the message's reply subject (:meth:`NatsLink.publish`). Through
nats-py each routed call cost a subscription task's turn, a ``Msg`` object and the
publish machinery of the answer, about 0.7 ms of a gateway's CPU each.

What is rare stays on nats-py (the stream's and the bucket's creation, a registry line's
read and conditional delete, the cluster clients' side). The link speaks the connection
options listed in :data:`SPOKEN`, an nkey seed and a credentials file among them
(:mod:`~ocpp_fast.cluster._nats_auth`); with any other (callbacks for credentials or
signatures, credentials given other than as a file's path, websocket URLs) the gateway
keeps nats-py for these requests too (:func:`unspoken`).

NATS going away fails every waiting request at once with ``ConnectionError`` (the
store then answers InternalError, and the station sends again); while away a request
fails at once too, and the link connects again in the background every
``reconnect_time_wait`` seconds, for good, trying in turn the servers given and the other
members of their cluster that the servers' INFO named (``connect_urls``, as nats-py does),
with its inbox and every subscription made again; then the callbacks in
:attr:`NatsLink.on_back` run (the gateway writes its registry lines again). At most
:data:`MAX_MEMBERS` members are kept.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import itertools
import json
import logging
import os
import secrets
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias, cast
from urllib.parse import unquote, urlsplit

import msgspec
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from ocpp_fast._ratelimit import LogLimiter
from ocpp_fast.cluster import _link_bytes
from ocpp_fast.cluster._link_bytes_py import (
    GATHER_AT_MOST,
    GATHER_UP_TO,
    INBOX_SID,
    WRITE_AT_ONCE_BELOW,
    Ack,
    Reader,
    Writer,
    token_of,
)
from ocpp_fast.cluster._nats_auth import SIGNING_OPTIONS, signer_of
from ocpp_fast.cluster.config import (
    CONNECT_TIMEOUT,
    NATS_ERRORS_PER_WINDOW,
    RECONNECT_WAIT,
    address_of,
    server_urls,
    shown_url,
    split_url,
)

__all__ = [
    "GATHER_AT_MOST",
    "GATHER_UP_TO",
    "SPOKEN",
    "WRITE_AT_ONCE_BELOW",
    "Delivered",
    "NatsLink",
    "Reply",
    "unspoken",
]

log = logging.getLogger("ocpp_fast.cluster")

SPOKEN = frozenset(
    {"user", "password", "token", "tls", "tls_hostname", "connect_timeout", "name"}
    | {"reconnect_time_wait", "inbox_prefix", "ping_interval", "max_outstanding_pings"}
    | set(SIGNING_OPTIONS)
)
"""Connection options the link takes as nats-py does."""

NATS_PY_ONLY = frozenset(
    {"error_cb", "disconnected_cb", "reconnected_cb", "closed_cb", "discovered_server_cb"}
    | {"lame_duck_mode_cb", "max_reconnect_attempts", "allow_reconnect", "drain_timeout"}
    | {"flush_timeout", "pending_size", "flusher_queue_size", "dont_randomize"}
    | {"verbose", "pedantic", "no_echo"}
)
"""Options of nats-py's own connection that change nothing the link does (its callbacks,
its reconnect budget: the link reconnects for good; its buffers; ``verbose``/``pedantic``,
which the link never asks for, and ``no_echo``, which concerns only its own messages to its
inbox, of which it sends none)."""

MAX_MEMBERS = 32
"""Servers learned from the cluster's INFO (``connect_urls``) kept at most, besides those given."""

SWEEP_EVERY = 0.05
"""Seconds between two sweeps of the requests past their timeout, while any waits. A
request is never failed before its timeout and, while the loop keeps time, at most twice
this long after it: a request notes no deadline of its own (reading the clock, a tuple and
a float per request were a twentieth of a durable CALL's instructions); the requests made
between two sweeps are a batch, whose deadline the second sweep sets from its own time
(that of the batch's last request at the latest), so the first of them may wait one sweep
longer than it would with its own."""

_NON_FATAL = (b"permissions violation", b"invalid subject")
"""``-ERR`` that nats-server sends and keeps the connection for."""


Waiting: TypeAlias = "asyncio.Future[Reply] | Ack"
"""What waits for a request's reply: a future, or a store's
:class:`~ocpp_fast.cluster._link_bytes_py.Ack`."""

Delivered = Callable[[bytes, bytes], None]
"""What a subscription's messages are handed to: ``(payload, reply subject)`` (``b""`` when
the message has none; headers, if it came with any, are dropped)."""


class Reply(msgspec.Struct):
    """A reply: its payload and, when it came with headers, those. (A Struct: made in C,
    with no Python frame per reply.)"""

    data: bytes
    headers: dict[str, str] | None = None


def unspoken(servers: str | Sequence[str], options: Mapping[str, Any]) -> str | None:
    """Why the link cannot carry a connection made with ``servers`` and ``options``
    (``None``: it can)."""
    for server in server_urls(servers):
        scheme = split_url(server).scheme
        if scheme not in ("nats", "tls"):
            return f"the server URL scheme {scheme!r}"
    for name, value in options.items():
        if name in NATS_PY_ONLY:
            continue
        if name not in SPOKEN:
            return f"the option {name}="
        if name in ("user", "password", "token") and not isinstance(value, str):
            return f"{name}= given as a callback"
        if name in SIGNING_OPTIONS and not isinstance(value, str | os.PathLike):
            return f"{name}= given as a {type(value).__name__}"  # nats-py's other forms
    return None


class _Server:
    """One server of the list: where it is and the credentials its URL carries."""

    def __init__(self, url: str) -> None:
        parts = split_url(url)
        self.tls: bool = parts.scheme == "tls"
        self.host: str
        self.port: int
        self.host, self.port = address_of(parts)
        self.user: str | None = unquote(parts.username) if parts.username else None
        self.password: str | None = unquote(parts.password) if parts.password else None
        self.url: str = shown_url(parts.scheme, self.host, self.port)  # no credentials in logs
        self.tls_name: str | None = None
        """The name its TLS certificate is checked against, when not ``host`` (a member of the
        cluster learned by address: the name of the server that told of it)."""

    def member(self, address: str) -> _Server | None:
        """The cluster member at ``address`` (``host:port``, as INFO's ``connect_urls`` has it),
        reached as this server is (scheme, credentials, TLS name); ``None`` if unreadable."""
        try:
            parts = urlsplit(f"//{address}")
            host, port = parts.hostname, parts.port
        except ValueError:
            return None
        if not host:
            return None
        other = copy.copy(self)
        other.host, other.port = host, port or 4222
        other.url = shown_url("tls" if self.tls else "nats", host, other.port)
        other.tls_name = self.tls_name or self.host
        return other


class NatsLink:
    """Requests over a NATS connection of the link's own, their replies to one inbox.

    Its connection is a slot (every other attribute stays in its ``__dict__``): the
    compiled store reads it at its offset per durable CALL, as it reads the connection's
    ``writer`` (a look-up of an instance's attributes is about 160 instructions)."""

    __slots__ = ("__dict__", "__weakref__", "_wire")

    def __init__(
        self,
        servers: str | Sequence[str],
        options: Mapping[str, Any],
        name: str,
        *,
        write_window: float = 0.0,
    ) -> None:
        reason = unspoken(servers, options)
        if reason is not None:
            raise ValueError(f"the NATS link does not speak {reason}")
        if not write_window >= 0:  # NaN too
            raise ValueError(f"write_window is seconds, 0 or more, not {write_window!r}")
        signer_of(options)  # a missing or malformed credentials file: said now (OSError/ValueError)
        self._write_window = write_window
        self._servers = [_Server(url) for url in server_urls(servers)]
        self._members: list[_Server] = []
        """The other servers of the cluster, as INFO told of them (:meth:`learned`): where
        the link connects again too when the servers given are down, as nats-py does."""
        self._options = dict(options)
        self.name: str = str(options.get("name") or name)
        prefix = options.get("inbox_prefix", "_INBOX")
        prefix = prefix.decode() if isinstance(prefix, bytes) else str(prefix)
        self._prefix = f"{prefix}.{secrets.token_hex(11)}.".encode()
        """The inbox's subjects start so: ``<prefix>.<n>`` is the reply subject of request n."""
        self._tokens = itertools.count()
        self._waiting: dict[int, Waiting] = {}
        """The requests waiting for their reply, by number (the connection's reader holds it:
        emptied in place, never replaced)."""
        self._open: dict[float, list[int]] = {}
        """Per timeout, the numbers of the requests made with it since the last sweep (their
        batch, not dated yet); while any is here a sweep is due."""
        self._deadlines: dict[float, collections.deque[tuple[float, list[int]]]] = {}
        """Per timeout, ``(deadline, tokens)`` of the batches the sweeps dated, in the order
        they were made (so in deadline order): what :meth:`_sweep` expires. An answered
        request's number stays until its batch's deadline: at most the requests of the last
        ``timeout`` seconds and two sweeps."""
        self._sweeper: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wire: _Wire | None = None
        """The connection while it is up (``None`` while NATS is away)."""
        self._reconnecting: asyncio.Task[None] | None = None
        self._closed = False
        self._failures = LogLimiter(log, burst=NATS_ERRORS_PER_WINDOW)
        self._lost_at = 0.0
        self._sids = itertools.count(2)
        self._subscribed: dict[bytes, tuple[bytes, Delivered]] = {}
        """The subscriptions by sid: their subject and callback (made again on reconnect)."""
        self.on_back: list[Callable[[], None]] = []
        """Called each time the link is connected again after a loss."""
        self.reconnects: int = 0
        """Times the link was connected again after a loss (for ``/metrics``)."""
        self.window_writes = 0
        """Writes that ended a write window (for ``/metrics``: the stores they carried are the
        stores, every store waiting for the window)."""

    @property
    def write_window(self) -> float:
        """Seconds a gathered request (``request(..., gather=True)``: a store) waits for others
        to share its write (0: written at once while few requests wait). See
        :class:`~ocpp_fast.cluster.Gateway`'s ``write_window``. (Read by each connection's
        writer as it is made; set, it reaches the connection's writer at once.)"""
        return self._write_window

    @write_window.setter
    def write_window(self, seconds: float) -> None:
        self._write_window = seconds
        if self._wire is not None:
            self._wire.writer.window = seconds

    # --- the requests ---------------------------------------------------------------------

    def request(
        self,
        subject: str,
        data: bytes,
        timeout: float,
        headers: dict[str, str] | None = None,
        *,
        gather: bool = False,
    ) -> asyncio.Future[Reply]:
        """Publish ``data`` to ``subject``; the future of its reply.

        ``gather``: the publish may wait for the write window (a durable CALL's store, whose
        station waits in any case); otherwise it leaves now, with whatever the window holds.

        The future fails with nats' ``NoRespondersError`` when nobody listens on
        ``subject``, its ``TimeoutError`` when no reply came within ``timeout``
        seconds (at most twice :data:`SWEEP_EVERY` later), ``ConnectionError`` when NATS
        went away meanwhile. While NATS is away this raises ``ConnectionError`` at once.
        """
        head = None
        if headers:
            lines = "NATS/1.0\r\n"
            for key, value in headers.items():  # no generator: one frame less per request
                lines += f"{key}: {value}\r\n"
            head = (lines + "\r\n").encode()
        future = self.request_bytes(subject.encode(), data, timeout, head, gather)
        return cast("asyncio.Future[Reply]", future)  # settles_at_once False: a future

    def request_bytes(
        self,
        subject: bytes,
        data: bytes,
        timeout: float,
        head: bytes | None = None,
        gather: bool = False,
        settles_at_once: bool = False,
    ) -> Waiting:
        """:meth:`request` with the subject encoded and the header block (``NATS/1.0\\r\\n``,
        the header lines, an empty line) made: what a durable CALL's store writes.

        ``settles_at_once``: the reply's waiter is an
        :class:`~ocpp_fast.cluster._link_bytes_py.Ack`, whose callbacks run as the reply is
        read, rather than an ``asyncio.Future`` (whose callbacks run a turn of the loop
        later): for a waiter that only answers a CALL."""
        wire = self._wire
        if wire is None:
            raise ConnectionError(f"{self.name}: not connected to NATS")
        token = next(self._tokens)
        reply_to: Waiting = (
            _link_bytes.Ack(wire.loop) if settles_at_once else wire.loop.create_future()
        )
        self._waiting[token] = reply_to
        batch = self._open.get(timeout)
        if batch is not None:  # what _expire_later does once per batch
            batch.append(token)
        else:
            self._expire_later(wire.loop, timeout, token)
        if head is None:
            wire.writer.send(_link_bytes.pub(subject, self._prefix, token, data), gather)
        else:
            wire.writer.send(_link_bytes.hpub(subject, self._prefix, token, head, data), gather)
        return reply_to

    def _expire_later(self, loop: asyncio.AbstractEventLoop, timeout: float, token: int) -> None:
        """Open the batch of ``timeout``'s requests with request ``token`` (the first since
        the last sweep); one sweep every :data:`SWEEP_EVERY` seconds expires what is due,
        rather than a timer made and cancelled per request."""
        self._open[timeout] = [token]
        if self._sweeper is None:
            self._sweeper = loop.call_later(SWEEP_EVERY, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Date the batches made since the last sweep (each request of one was made by now:
        ``now + timeout`` is none's deadline before its own), fail the requests of the
        batches whose deadline passed; again in :data:`SWEEP_EVERY` while any wait."""
        self._sweeper = None
        now = loop.time()
        deadlines = self._deadlines
        for timeout, batch in self._open.items():
            due = deadlines.get(timeout)
            if due is None:
                due = deadlines[timeout] = collections.deque()
            due.append((now + timeout, batch))
        self._open.clear()
        waiting = self._waiting
        for timeout, due in list(deadlines.items()):
            while due and due[0][0] <= now:
                # a batch's tokens are in the order they were made; most are answered by now
                # (a look-up each: a set of every request waiting, to intersect, was twice that)
                for token in [token for token in due.popleft()[1] if token in waiting]:
                    _complete(waiting.pop(token), NatsTimeout())
            if not due:
                del deadlines[timeout]
        if deadlines:
            self._sweeper = loop.call_later(SWEEP_EVERY, self._sweep, loop)

    def _replied(self, subject: bytes, data: bytes, head: bytes | None) -> None:
        """A reply with headers (a plain one's future the connection's reader completes):
        the request its number names (its deadline is left to the sweep, which finds it
        answered)."""
        reply_to = self._waiting.pop(token_of(subject, self._prefix), None)
        if reply_to is None:
            return  # expired, or not ours
        if head is None:
            _complete(reply_to, Reply(data))
            return
        status, headers = _parse_headers(head)
        if status == "503" and not data:
            _complete(reply_to, NoRespondersError())
        else:
            _complete(reply_to, Reply(data, headers))

    def _fail_waiting(self, why: str) -> None:
        waiting = list(self._waiting.values())
        self._waiting.clear()
        self._open.clear()
        self._deadlines.clear()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for reply_to in waiting:
            _complete(reply_to, ConnectionError(why))

    @property
    def waiting(self) -> int:
        """Requests whose reply has not come yet."""
        return len(self._waiting)

    def not_ready(self) -> str | None:
        """Why requests cannot go out now, or ``None``."""
        if self._closed:
            return "the NATS link for stores, requests and routed calls is closed"
        if self._wire is None:
            return "the NATS link for stores, requests and routed calls is down, reconnecting"
        return None

    # --- subscriptions and plain publishes ----------------------------------------------------

    def subscribe(self, subject: str, delivered: Delivered) -> int:
        """Hand every message to ``subject`` to ``delivered`` (from ``data_received``: it must
        not block); the subscription's id, for :meth:`unsubscribe`.

        Made while NATS is away, the subscription is sent when the link is back, as every
        other is after a reconnect.
        """
        sid = next(self._sids)
        key, encoded = b"%d" % sid, subject.encode()
        self._subscribed[key] = (encoded, delivered)
        wire = self._wire
        if wire is not None:
            wire.send(b"SUB %b %b\r\n" % (encoded, key))
        return sid

    def unsubscribe(self, sid: int) -> None:
        """End the subscription ``sid`` (nothing when it is not one)."""
        key = b"%d" % sid
        if self._subscribed.pop(key, None) is not None and self._wire is not None:
            self._wire.send(b"UNSUB %b\r\n" % key)

    @property
    def subscriptions(self) -> int:
        """Subscriptions made through :meth:`subscribe` and not ended."""
        return len(self._subscribed)

    def publish(self, subject: bytes, data: bytes) -> bool:
        """Publish ``data`` to ``subject`` (a reply subject, say); whether it went out (not while
        NATS is away: nothing is kept for later)."""
        wire = self._wire
        if wire is None:
            return False
        wire.send(b"PUB %b %d\r\n%b\r\n" % (subject, len(data), data))
        return True

    def _delivered(self, sid: bytes, data: bytes, reply: bytes) -> None:
        """A message to a subscription of :meth:`subscribe` (one ended meanwhile: dropped)."""
        entry = self._subscribed.get(sid)
        if entry is not None:
            entry[1](data, reply)

    # --- the connection -------------------------------------------------------------------

    async def attach(self) -> None:
        """Connect (to the first server that takes the link); raises what the last one said."""
        self._loop = asyncio.get_running_loop()
        error: Exception = ConnectionError("no NATS server given")
        for server in self._servers:
            try:
                self._wire = await self._connect(server)
                return
            except (OSError, TimeoutError, ssl.SSLError) as exc:
                error = exc
        raise error

    async def _connect(self, server: _Server) -> _Wire:
        loop = self._loop
        assert loop is not None
        wire = _Wire(self, loop)
        wire.server = server
        timeout = float(self._options.get("connect_timeout", CONNECT_TIMEOUT))
        try:
            async with asyncio.timeout(timeout):
                await loop.create_connection(lambda: wire, server.host, server.port)
                info = await wire.info
                tls = self._options.get("tls")
                if server.tls or tls is not None or info.get("tls_required"):
                    if not info.get("tls_required") and not info.get("tls_available"):
                        raise ConnectionError(f"{server.url} does not offer TLS")
                    await wire.start_tls(
                        tls if tls is not None else ssl.create_default_context(),
                        self._options.get("tls_hostname") or server.tls_name or server.host,
                    )
                wire.write(b"CONNECT %b\r\nPING\r\n" % self._connect_json(server, info))
                await wire.pong
        except BaseException:
            wire.close()
            raise
        wire.write(
            b"".join(
                [b"SUB %b* %b\r\n" % (self._prefix, INBOX_SID)]
                + [
                    b"SUB %b %b\r\n" % (subject, sid)
                    for sid, (subject, _) in self._subscribed.items()
                ]
            )
        )
        wire.keep_alive(
            float(self._options.get("ping_interval", 120)),
            int(self._options.get("max_outstanding_pings", 2)),
        )
        return wire

    def _connect_json(self, server: _Server, info: Mapping[str, Any]) -> bytes:
        from ocpp_fast import __version__

        fields: dict[str, Any] = {
            "verbose": False,
            "pedantic": False,
            "headers": True,
            "no_responders": True,
            "name": self.name,
            "lang": "python",
            "version": __version__,
            "protocol": 1,
            "tls_required": bool(info.get("tls_required") or self._options.get("tls")),
        }
        if info.get("auth_required"):
            user = self._options.get("user") or server.user
            password = self._options.get("password") or server.password
            token = self._options.get("token")
            if user and password:
                fields["user"], fields["pass"] = user, password
            elif user or token:  # nats://token@host: a token alone, as nats-py reads it
                fields["auth_token"] = token or user
            try:
                signer = signer_of(self._options)  # read again: credentials rotated on disk
            except ValueError as exc:  # a file changed for the worse: this attempt fails
                raise ConnectionError(str(exc)) from None
            nonce = info.get("nonce")
            if signer is not None and isinstance(nonce, str):
                fields.update(signer.fields(nonce))
        return json.dumps(fields).encode()

    def learned(self, info: Mapping[str, Any], server: _Server | None) -> None:
        """INFO from ``server`` (the one a wire is connected to): the cluster members it names
        that the link does not know yet are kept, up to :data:`MAX_MEMBERS`."""
        addresses = info.get("connect_urls")
        if server is None or not isinstance(addresses, list):
            return
        known = {(s.host, s.port) for s in self._servers + self._members}
        for address in addresses:
            if len(self._members) >= MAX_MEMBERS:
                return
            member = server.member(address) if isinstance(address, str) else None
            if member is not None and (member.host, member.port) not in known:
                known.add((member.host, member.port))
                self._members.append(member)

    @property
    def servers(self) -> list[str]:
        """The servers the link may connect to: those given, then the members learned."""
        return [server.url for server in self._servers + self._members]

    def lost(self, wire: _Wire, why: str) -> None:
        """The connection ``wire`` is gone (called by it)."""
        if wire is not self._wire:
            return  # one that never got up, or replaced already
        self._wire = None
        self._fail_waiting(why)
        if self._closed:
            return
        self._lost_at = time.monotonic()
        # WARNING, as nats-py's own "NATS connection lost": the stores wait meanwhile
        log.warning("%s: NATS link lost (%s); reconnecting", self.name, why)
        self._reconnecting = asyncio.ensure_future(self._reconnect())

    async def _reconnect(self) -> None:
        wait = float(self._options.get("reconnect_time_wait", RECONNECT_WAIT))
        for attempt in itertools.count():
            candidates = self._servers + self._members  # the members learned so far
            server = candidates[attempt % len(candidates)]
            await asyncio.sleep(wait)
            try:
                self._wire = await self._connect(server)
            except Exception as exc:
                self._failures.warning(
                    f"{self.name}: link {type(exc).__name__}",
                    "%s: NATS link to %s: %r",
                    self.name,
                    server.url,
                    exc,
                )
                continue
            self.reconnects += 1
            log.info("%s: NATS link back after %.1f s", self.name, time.monotonic() - self._lost_at)
            for callback in self.on_back:
                callback()
            return

    def error(self, message: bytes) -> None:
        """A ``-ERR`` after the connection was made (called by its wire)."""
        self._failures.warning(
            f"{self.name}: -ERR",
            "%s: NATS link: -ERR %s",
            self.name,
            message.decode(errors="replace"),
        )

    async def close(self) -> None:
        """Fail what waits, close the connection, stop reconnecting."""
        self._closed = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            with contextlib.suppress(BaseException):
                await self._reconnecting
        wire, self._wire = self._wire, None
        self._fail_waiting("the gateway is closing")
        if wire is not None:
            wire.close()


def _complete(reply_to: Waiting, outcome: Reply | Exception) -> None:
    """Complete a request's future, unless its waiter cancelled it."""
    if reply_to.done():
        return
    if isinstance(outcome, Exception):
        reply_to.set_exception(outcome)
    else:
        reply_to.set_result(outcome)


def _parse_headers(head: bytes) -> tuple[str, dict[str, str]]:
    """The status (``""`` when none) and the headers of a ``NATS/1.0`` header block."""
    lines = head.decode(errors="replace").split("\r\n")
    status = lines[0][len("NATS/1.0") :].strip().split(" ", 1)[0]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            headers[key.strip()] = value.strip()
    if status:
        headers["Status"] = status
    return status, headers


class _Wire(asyncio.Protocol):
    """One connection to nats-server: the parser of what it sends, the writes to it (its
    ``writer`` a slot: see :class:`NatsLink`)."""

    __slots__ = ("__dict__", "__weakref__", "writer")

    def __init__(self, link: NatsLink, loop: asyncio.AbstractEventLoop) -> None:
        self.link = link
        self.loop = loop
        self.writer: Writer = _link_bytes.Writer(link, loop, link._waiting, link.write_window)
        """What is written to the server: every publish goes through its ``send``."""
        self.server: _Server | None = None
        """The server it is connected to (what its INFO's members are reached as)."""
        self.info: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.pong: asyncio.Future[None] = loop.create_future()
        self.reader: Reader = _link_bytes.Reader(self, link._waiting, link._prefix, Reply)
        """What the server sends, read: ``data_received`` is its ``feed``."""
        self.data_received = self.reader.feed  # type: ignore[method-assign]
        self._pings_out = 0
        self._pinger: asyncio.TimerHandle | None = None

    # --- writing ----------------------------------------------------------------------------

    @property
    def transport(self) -> asyncio.Transport | None:
        """The connection's transport (its writer's), once made."""
        transport: asyncio.Transport | None = self.writer.transport
        return transport

    @transport.setter
    def transport(self, transport: asyncio.Transport | None) -> None:
        self.writer.transport = transport

    def send(self, data: bytes, gather: bool = False) -> None:
        """:meth:`Writer.send <ocpp_fast.cluster._link_bytes_py.Writer.send>`: now while few
        requests wait, else with what this turn of the loop (or the write window) sends."""
        self.writer.send(data, gather)

    def write(self, data: bytes) -> None:
        """Write ``data`` now (the handshake)."""
        assert self.transport is not None
        self.transport.write(data)

    async def start_tls(self, context: ssl.SSLContext, hostname: str) -> None:
        assert self.transport is not None
        upgraded = await self.loop.start_tls(
            self.transport, self, context, server_hostname=hostname
        )
        if upgraded is None:
            raise ConnectionError("the TLS handshake with NATS failed")
        self.transport = upgraded

    def keep_alive(self, interval: float, outstanding: int) -> None:
        """PING every ``interval`` s; a server that let ``outstanding`` go unanswered is gone."""

        def ping() -> None:
            if self._pings_out >= outstanding:
                self._gone("NATS did not answer PING")
                return
            self._pings_out += 1
            self.send(b"PING\r\n")
            self._pinger = self.loop.call_later(interval, ping)

        if interval > 0:
            self._pinger = self.loop.call_later(interval, ping)

    def close(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
        self.writer.flush()  # what a window holds (a routed call's outcome) still goes
        if self.transport is not None:
            self.transport.close()

    def _gone(self, why: str) -> None:
        if self.transport is not None:
            self.transport.abort()  # connection_lost follows
        self._fail_handshake(ConnectionError(why))

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
        self.writer.stop()
        why = f"NATS connection lost: {exc!r}" if exc else "NATS closed the connection"
        self._fail_handshake(ConnectionError(why))
        self.link.lost(self, why)

    def _fail_handshake(self, error: Exception) -> None:
        for waiter in (self.info, self.pong):
            if not waiter.done():
                waiter.set_exception(error)
                waiter.exception()  # retrieved: no warning when nobody awaits it any more

    # --- what the server says ---------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Read by :attr:`reader` (set in place of this method per connection)."""
        self.reader.feed(data)

    def _control(self, op: bytes, rest: bytes, line: bytes) -> bool:
        """Act on a protocol line other than a message's (``op`` upper case, ``rest`` after
        it; the reader reads ``MSG``/``HMSG``); False when the connection is being dropped."""
        try:
            if op == b"PING":
                self.send(b"PONG\r\n")
            elif op == b"PONG":
                self._pings_out = 0
                if not self.pong.done():
                    self.pong.set_result(None)
            elif op == b"INFO":
                info = json.loads(rest)
                if not isinstance(info, dict):
                    raise ValueError("INFO is not an object")
                self.reader.max_payload = int(info.get("max_payload", self.reader.max_payload))
                self.link.learned(info, self.server)
                if not self.info.done():
                    self.info.set_result(info)
            elif op == b"-ERR":
                return self._server_error(rest.strip().strip(b"'"))
            elif op != b"+OK":
                self._protocol_error(f"an unknown operation {op[:20]!r}")
                return False
        except (ValueError, IndexError):
            self._protocol_error(f"a malformed line {line[:40]!r}")
            return False
        return True

    def _server_error(self, message: bytes) -> bool:
        if not self.pong.done():  # refused while connecting: the connect says why
            self._fail_handshake(ConnectionError(f"NATS refused the link: {message.decode()}"))
            return True
        self.link.error(message)
        if message.lower().startswith(_NON_FATAL):
            return True
        self._gone(f"NATS said -ERR {message.decode(errors='replace')}")
        return False

    def _protocol_error(self, what: str) -> None:
        self.reader.reset()
        self._gone(f"NATS sent {what}")
