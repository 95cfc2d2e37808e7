"""Plain ``ws://`` stations on aiofastnet's stream transport, the one picows is fastest on.

picows' own ``ws_create_server`` runs its connections on aiofastnet (a dependency of picows: a
Cython transport that hands the bytes to picows' buffered protocol without a Python call) when
it is installed. Our picows server does its own handshake and then hands the socket to picows,
and it ran on the loop's native transport (uvloop's): at the fleet rate of ``make load`` (5,000
stations, a call every 4 s) its CPU per message was 1.42-1.45x the echo floor's, and
0.99-1.06x once its connections ran on aiofastnet's transport (same machine, same round).

aiofastnet's server binds as the loop's ``create_server`` does (hosts, IPv6, ``reuse_port``),
so it binds here; its accept loop (aiofastnet 1.2) calls a method sockets do not have when
``accept()`` meets the file-descriptor limit, and the listener then spins with a traceback per
wake-up. So the accepting is ours, asyncio's way: up to the backlog per wake-up; at EMFILE and
its kin the same "out of system resource" context goes to the loop's exception handler
(:func:`~ocpp_fast.transport._stations.quiet_accept_errors` turns it into rate-limited lines)
and the listener rests :data:`ACCEPT_RETRY_DELAY` seconds.

``wss://`` stays on the loop's transport: the handshake's ``start_tls`` needs one of the loop's.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable, Sequence
from typing import Any

import aiofastnet

from ocpp_fast.transport._stations import ACCEPT_ERROR

__all__ = ["ACCEPT_RETRY_DELAY", "FastListener", "listen_fast"]

log = logging.getLogger("ocpp_fast.transport")

ACCEPT_RETRY_DELAY = 1.0
"""Seconds the listener rests after ``accept()`` met a resource limit (asyncio's delay)."""
BACKLOG = 100
"""The listen backlog, and the accepts per wake-up at most (the loop's default)."""
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class FastListener:
    """Listening sockets whose connections run on aiofastnet's transport (see the module)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        server: Any,
        sockets: Sequence[socket.socket],
    ) -> None:
        self._loop = loop
        self._factory = protocol_factory
        self._server = server
        self._sockets = list(sockets)
        self._resting: dict[int, asyncio.TimerHandle] = {}
        self._opening: set[asyncio.Task[Any]] = set()
        self._closed = False

    @property
    def sockets(self) -> tuple[Any, ...]:
        """The listening sockets, as ``asyncio.Server.sockets`` gives them."""
        return tuple(self._server.sockets)

    def start(self) -> None:
        """Listen and accept (the sockets were bound without listening)."""
        for sock in self._sockets:
            sock.listen(BACKLOG)
            self._listen(sock)

    def _listen(self, sock: socket.socket) -> None:
        self._resting.pop(sock.fileno(), None)
        if not self._closed:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _accept(self, sock: socket.socket) -> None:
        """Take the connections waiting on ``sock`` (a wake-up may find many)."""
        for _ in range(BACKLOG + 1):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue  # gone before we took it
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise  # the loop logs it, and the listener goes on
                self._loop.call_exception_handler(
                    {"message": ACCEPT_ERROR, "exception": exc, "socket": sock}
                )
                self._loop.remove_reader(sock.fileno())
                self._resting[sock.fileno()] = self._loop.call_later(
                    ACCEPT_RETRY_DELAY, self._listen, sock
                )
                return
            conn.setblocking(False)
            opening = self._loop.create_task(self._open(conn))
            self._opening.add(opening)
            opening.add_done_callback(self._opening.discard)

    async def _open(self, conn: socket.socket) -> None:
        """The connection on aiofastnet's transport, our protocol on it."""
        try:
            await aiofastnet.connect_accepted_socket(self._loop, self._factory, conn)
        except Exception as exc:  # the peer's socket, already gone: nothing of ours to undo
            log.debug("an accepted connection could not start: %r", exc)
            conn.close()

    def close(self) -> None:
        """Stop accepting (the connections made go on)."""
        if self._closed:
            return
        self._closed = True
        for timer in self._resting.values():
            timer.cancel()
        self._resting.clear()
        self._server.close()  # removes the readers, closes the sockets

    async def wait_closed(self) -> None:
        """Nothing to wait for beyond :meth:`close`: the connections are the caller's."""


async def listen_fast(
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    host: str | Sequence[str] | None,
    port: int,
    reuse_port: bool | None,
) -> FastListener:
    """Listen on ``host``:``port`` as ``loop.create_server`` would, each connection made on
    aiofastnet's transport for ``protocol_factory``'s protocol."""
    loop = asyncio.get_running_loop()
    server = await aiofastnet.create_server(
        loop,
        protocol_factory,
        host,
        port,
        backlog=BACKLOG,
        reuse_port=reuse_port,
        start_serving=False,
    )
    bound: list[socket.socket] = server._sockets  # type: ignore[attr-defined]  # the real ones
    listener = FastListener(loop, protocol_factory, server, bound)
    listener.start()
    return listener
