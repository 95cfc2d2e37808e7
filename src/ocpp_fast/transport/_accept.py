"""Accepting within the file-descriptor budget on asyncio's own event loop.

``Limits.spare_fds`` keeps fds free for the rest of the process (its log file, NATS, the
health and metrics endpoints): a server holds at most its fd limit less ``spare_fds``
sockets and closes a connection over that at once. Each backend counts a socket when its
protocol sees ``connection_made``. That is in time on uvloop, where libuv accepts one
socket after the other and makes each connection before the next accept, so the one over
the budget is closed before another is taken. asyncio's own loop instead accepts up to
100 sockets per readiness of the listening socket, and makes their connections one and two
loop turns later: a burst queued while the loop was busy (a slow start, a long callback)
was accepted past the budget and the process met EMFILE, its spare fds taken by sockets
nobody had counted yet.

Here a server on asyncio's loop listens on sockets of ours (:class:`GatedSocket`), whose
``accept()`` the loop calls: each socket is counted when accepted (``pending`` until its
connection is made), and one over the budget is closed within that same call, before the
next accept, with the refusal line and count of every other over-budget connection. The
loop still makes the transports (public ``create_server(sock=...)``); pausing its accept
instead would need its private reader callback to resume.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ocpp_fast.transport._refusals import Reason, shown_peer

if TYPE_CHECKING:
    from ocpp_fast.transport._stations import Stations

__all__ = ["AcceptGate", "GatedSocket", "listen"]

SHED_PER_ACCEPT = 100
"""Connections over the budget one ``accept()`` call closes before it yields to the loop (the
rest is closed on its next turns), as asyncio takes at most 100 per turn itself."""

PRUNE_AT = 256
"""Sockets pending at which those the loop closed unmade are dropped even far from the
budget (so that they never pile up)."""

T = TypeVar("T")


class AcceptGate:
    """Counts the sockets a server accepted until their connections are made, and closes
    each accepted past the fd budget at once."""

    def __init__(self, stations: Stations) -> None:
        self._stations = stations
        self._pending: dict[int, socket.socket] = {}
        """fd -> a socket accepted whose connection is not made yet (not in ``sockets``)."""

    def held(self) -> int:
        """Sockets the server holds now: counted ones, and those accepted and not yet made
        (less any the loop closed without making it)."""
        closed = [fd for fd, sock in self._pending.items() if sock.fileno() != fd]
        for fd in closed:
            del self._pending[fd]
        return self._stations.sockets + len(self._pending)

    def keep(self, sock: socket.socket, address: Any) -> bool:
        """Whether to hand the socket just accepted to the loop; if not, it is closed and
        refused (``socket_cap``) here.

        Those the loop closed unmade are only looked for near the budget (or once many are
        pending): a look at each accept made a burst of 100 cost 19 % more to take."""
        stations = self._stations
        over = stations.over_fd_budget(stations.sockets + len(self._pending) + 1)
        if over is not None or len(self._pending) >= PRUNE_AT:
            over = stations.over_fd_budget(self.held() + 1)
        if over is None:
            self._pending[sock.fileno()] = sock
            return True
        sock.close()
        stations.refusal_log.refused(Reason.SOCKET_CAP, shown_peer(address), None, over)
        return False

    def made(self, transport: Any) -> None:
        """The connection of ``transport`` is made: its socket is in ``sockets`` now."""
        sock = transport.get_extra_info("socket")
        if sock is not None and self._pending:
            self._pending.pop(sock.fileno(), None)


class GatedSocket(socket.socket):
    """A listening socket whose ``accept()`` returns only sockets within the budget."""

    gate: AcceptGate

    def accept(self) -> tuple[socket.socket, Any]:
        for _ in range(SHED_PER_ACCEPT):
            sock, address = super().accept()  # BlockingIOError: none waiting, the loop's cue
            if self.gate.keep(sock, address):
                return sock, address
        raise BlockingIOError("over the fd budget: the rest on the loop's next turn")


def gated(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether the loop accepts through the listening socket's Python ``accept()`` (asyncio's
    selector loop), so that a :class:`GatedSocket` bounds it; uvloop accepts in libuv."""
    return isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop)


async def listen(
    stations: Stations,
    make: Callable[..., Awaitable[T]],
    host: str,
    port: int,
    reuse_port: bool,
) -> list[T]:
    """``make(**where)`` for each place the server listens: ``where`` is ``sock=`` a
    :class:`GatedSocket` per address of ``host`` on asyncio's selector loop (the gate told
    of each connection made by ``stations``), else ``host``, ``port`` and ``reuse_port``
    for the loop to bind."""
    loop = asyncio.get_running_loop()
    if not gated(loop):
        return [await make(host=host, port=port, reuse_port=reuse_port or None)]
    gate = AcceptGate(stations)
    stations.socket_made = gate.made
    sockets = await _bound(loop, host, port, reuse_port)
    made: list[T] = []
    try:
        for sock in sockets:
            sock.gate = gate
            made.append(await make(sock=sock))
    except BaseException:
        for sock in sockets[len(made) :]:
            sock.close()
        raise
    return made


async def _bound(
    loop: asyncio.AbstractEventLoop, host: str, port: int, reuse_port: bool
) -> list[GatedSocket]:
    """A socket bound to each address of ``host`` (``""``: every interface), with the
    options asyncio's ``create_server`` sets (address reuse on POSIX; IPv6 sockets IPv6
    only), so that ``serve()`` listens where it did when the loop bound them."""
    found = await loop.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    addresses = list(dict.fromkeys((family, address) for family, _, _, _, address in found))
    bound: list[GatedSocket] = []
    try:
        for family, address in addresses:
            sock = GatedSocket(family, socket.SOCK_STREAM)
            bound.append(sock)
            if os.name == "posix":  # elsewhere it lets another process take the port
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as error:  # as asyncio says it: the errno kept, the address named
                raise OSError(
                    error.errno,
                    f"error while attempting to bind on address {address!r}: "
                    f"{(error.strerror or str(error)).lower()}",
                ) from None
    except BaseException:
        for sock in bound:
            sock.close()
        raise
    return bound
