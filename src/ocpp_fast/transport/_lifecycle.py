"""Telling a ``ChargeSystem`` that the server starts or stops (``on_startup`` /
``on_shutdown``) and that a station connected or left (``on_connect`` / ``on_disconnect``),
for every backend of ``serve()`` (and so for a cluster's gateways); telling a ``Charger``
that its link to the CSMS opened or is gone (``StationClient``, ``connect_in_memory``).

The hooks are the user's code running inside the server: whatever they raise is logged
with the station's identity and goes no further, and each is bounded by the server's
``handler_grace``, so a hook that hangs cannot keep a shutdown waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from typing import Any

from ocpp_fast._awaited import within
from ocpp_fast._log_text import shown
from ocpp_fast._ratelimit import ConnectionLog
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.dispatch import Charger, ChargeSystem, OcppHandler, handler_failures, is_awaitable
from ocpp_fast.errors import StartupFailed

__all__ = [
    "REPLACED",
    "CloseFrames",
    "SHUTTING_DOWN",
    "close_reason",
    "DISCONNECT_CAUSES",
    "disconnect_cause",
    "ending",
    "peer_closed_first",
    "too_big_sent",
    "greet",
    "see_off",
    "shut_down",
    "start_up",
]

log = logging.getLogger("ocpp_fast.transport")

CONNECTION_LOST = "connection lost"
SHUTTING_DOWN = "the CSMS is shutting down"
REPLACED = "replaced by a newer connection"

DISCONNECT_CAUSES = ("station", "csms", "lost", "replaced", "shutdown")
"""The label values of ``ocpp_disconnections_total{cause}`` (:func:`disconnect_cause`)."""

CLOSE_TEXT_SHOWN = 123
"""Characters of a close frame's reason (or a transport's error) said at most: the most a close
frame carries (in bytes), a bound that holds whatever the peer's library let through."""

CloseFrames = tuple[tuple[int, str] | None, tuple[int, str] | None, bool]
"""How a WebSocket closed: ``(code, reason)`` of the frame received and of the one sent
(``None``: none), and whether the received one came first."""


def peer_closed_first(
    received: tuple[int, str] | None, sent: tuple[int, str] | None, received_first: bool
) -> bool:
    """Whether the peer's close frame came first: it ended the connection, whatever we
    decided meanwhile (a shutdown, a replacement) and did not get to send first."""
    return received is not None and (received_first or sent is None)


MESSAGE_TOO_BIG = 1009
"""The close code of a message larger than the receiver takes (RFC 6455)."""
CUT_OFF_FOR_SIZE = "closing the connection: %s (%d)"
"""The WARNING (after the peer's identity) of a peer cut off for a message over ``max_size``:
a CSMS's about a station, a station's about its CSMS, on every backend and in memory."""


def too_big_sent(frames: CloseFrames) -> str | None:
    """What the WARNING of a peer cut off for a message over our ``max_size`` says: the reason
    of the 1009 close frame we sent first (it names the size). ``None`` for any other ending.
    Read from the close frame because most size checks run inside the WebSocket libraries,
    which tell us nothing but that frame."""
    _, sent, _ = frames
    if sent is None or sent[0] != MESSAGE_TOO_BIG or peer_closed_first(*frames):
        return None
    return sent[1] or "a message over max_size"


_SENDABLE = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 1012, 1013, 1014})
"""Close codes of RFC 6455 (and IANA's registry) a server may put in a close frame: not
1004-1006 and 1015 (never sent), nor 1010 (a client's); 3000-4999 are for applications."""


def check_close(code: int, reason: str) -> None:
    """``ValueError`` unless ``code`` and ``reason`` fit a close frame a server sends: a code
    it may send, a reason of at most 123 UTF-8 bytes (the frame's 125 less the code)."""
    if code not in _SENDABLE and not 3000 <= code <= 4999:
        raise ValueError(
            f"{code} is no close code a server sends: 1000 (normal), 1001, 1008 (policy), "
            "1011-1013, or 3000-4999 for your own"
        )
    size = len(reason.encode("utf-8"))  # UnicodeEncodeError (a ValueError) for a lone surrogate
    if size > CLOSE_TEXT_SHOWN:
        raise ValueError(f"a close reason holds at most 123 bytes in UTF-8, not {size}")


def close_reason(
    received: tuple[int, str] | None,
    sent: tuple[int, str] | None,
    received_first: bool,
    *,
    peer: str = "the station",
    us: str = "the CSMS",
) -> str:
    """How a WebSocket ended, from its closing handshake (code and reason of each side's
    close frame): closed by the station, by the CSMS, or lost without a close frame.
    (A station's client names the sides the other way round: ``peer="the CSMS"``.)"""
    if received is not None and peer_closed_first(received, sent, received_first):
        who, (code, text) = peer, received
    elif sent is not None:
        who, (code, text) = us, sent
    else:
        return CONNECTION_LOST
    return f"closed by {who} ({code}{': ' + shown(text, CLOSE_TEXT_SHOWN) if text else ''})"


def disconnect_cause(reason: str) -> str:
    """The class of a disconnection ``reason`` (what ``on_disconnect`` gets), one of
    :data:`DISCONNECT_CAUSES`: a bounded label for the metric, where the reason itself carries
    a close frame's free text. ``csms`` is a close of ours other than a stop or a replacement
    (``server.disconnect``, a keepalive unanswered, a message too big)."""
    if reason == CONNECTION_LOST:
        return "lost"
    if reason == REPLACED:
        return "replaced"
    if reason == SHUTTING_DOWN:
        return "shutdown"
    return "station" if reason.startswith("closed by the station") else "csms"


def ending(reason: str, lost: BaseException | str | None) -> str:
    """The "disconnected" line's words: ``reason`` (what ``on_disconnect`` gets), and for a
    connection lost without a close frame, why where the backend knows it (``lost``: the
    transport's error, or what made us abort the socket)."""
    if reason != CONNECTION_LOST or not lost:
        return reason
    if isinstance(lost, BaseException):
        lost = f"{type(lost).__name__}: {lost}" if str(lost) else type(lost).__name__
    return f"{reason} ({shown(lost, CLOSE_TEXT_SHOWN)})"


def _hook_of(handler: OcppHandler, name: str) -> Any:
    """The handler's bound hook when its class overrides the default (else ``None``: the
    common case costs a type check per connection, no call and no task). A ``Charger``
    has ``on_connect`` and ``on_disconnect`` too (its link to the CSMS), no server hooks."""
    side = ChargeSystem if isinstance(handler, ChargeSystem) else Charger
    default = getattr(side, name, None)
    if default is None or getattr(type(handler), name, None) is default:
        return None
    return getattr(handler, name)


def _called(hook: Any, args: tuple[Any, ...], identity: str, name: str) -> Awaitable[None] | None:
    """Call ``hook(*args)``: what it returned when that is to be awaited (``async def``),
    else ``None``; a raise is logged with the station's ``identity`` and gives ``None``."""
    try:
        result = hook(*args)
    except Exception as exc:
        _hook_failed(identity, name, exc)
        return None
    return result if is_awaitable(result) else None


def _hook_failed(identity: str, name: str, exc: Exception) -> None:
    """``<identity>: <name> failed``, with the traceback, at most ``LOG_BURST`` lines per hook
    and exception class a minute in the process, then a count of the rest (as handlers that
    raise are, :data:`~ocpp_fast.dispatch.handler_failures`): an ``on_connect`` reading a
    database that is down wrote a traceback per station, 10,000 at a fleet's reconnect."""
    if handler_failures.admits(logging.ERROR, f"'{name} failed {type(exc).__name__}'"):
        ConnectionLog(log, identity).error("%s failed", name, exc_info=exc)


async def _guarded(work: Awaitable[None], identity: str, name: str, grace: float | None) -> None:
    """Await the hook ``name``'s ``work`` (``grace`` seconds at most), its failure logged; a
    cancel that came as it ended is kept (:func:`~ocpp_fast._awaited.within`): dropped, the task
    seeing the station off went on (the in-memory pair's ``close()`` to the other side's hook,
    a client's runner to its next connection)."""
    try:
        await within(work, grace)
    except TimeoutError:
        ConnectionLog(log, identity).warning(
            "%s still running after %.3g s, cancelled", name, grace
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        _hook_failed(identity, name, exc)


def greet(connection: AsyncConnection) -> asyncio.Task[None] | None:
    """Call ``on_connect``; the task running it when it is ``async`` (awaited by
    :func:`see_off` before ``on_disconnect``)."""
    hook = _hook_of(connection.handler, "on_connect")
    result = (
        None if hook is None else _called(hook, (connection,), connection.identity, "on_connect")
    )
    if result is None:
        return None
    # No bound here: a station may stay for days, and on_connect may talk to it all along.
    return asyncio.ensure_future(_guarded(result, connection.identity, "on_connect", None))


async def see_off(
    connection: AsyncConnection, greeting: asyncio.Task[None] | None, reason: str, grace: float
) -> None:
    """Let ``on_connect`` end (``grace`` seconds at most: its calls to the station fail now),
    then call ``on_disconnect`` (bounded alike)."""
    if greeting is not None and not greeting.done():
        await asyncio.wait([greeting], timeout=grace)
        if not greeting.done():
            ConnectionLog(log, connection.identity).warning(
                "on_connect still running after it left, cancelled"
            )
            greeting.cancel()
            await asyncio.wait([greeting])
    hook = _hook_of(connection.handler, "on_disconnect")
    if hook is None:
        return
    result = _called(hook, (connection, reason), connection.identity, "on_disconnect")
    if result is not None:
        await _guarded(result, connection.identity, "on_disconnect", grace)


def _each(handlers: Iterable[OcppHandler], name: str) -> list[Any]:
    """The hooks ``name`` of the distinct handlers (one instance may serve several versions)."""
    hooks, seen = [], set()
    for handler in handlers:
        hook = _hook_of(handler, name)
        if hook is not None and id(handler) not in seen:
            seen.add(id(handler))
            hooks.append(hook)
    return hooks


async def start_up(handlers: Iterable[OcppHandler], server: Any) -> None:
    """Each handler's ``on_startup(server)``; what one raises goes to the caller of ``serve()``
    as :class:`~ocpp_fast.errors.StartupFailed`, naming the hook (a traceback ending in the
    user's code does not say the server was starting)."""
    for hook in _each(handlers, "on_startup"):
        owner = type(hook.__self__).__name__
        try:
            result = hook(server)
            if is_awaitable(result):
                await _said_if_long(result, owner, server.limits.handshake_timeout)
        except Exception as exc:
            raise StartupFailed(owner, exc) from exc


async def _said_if_long(starting: Awaitable[Any], owner: str, after: float) -> None:
    """Await an ``on_startup``, with one WARNING if it still runs ``after`` seconds later
    (``Limits.handshake_timeout``, when the stations waiting for it begin to be dropped). A
    hook waiting for what never answers (a database) kept the server silent: no start line,
    no line at all, only the refusals of the stations that gave up, if any came."""
    loop = asyncio.get_running_loop()
    said = loop.call_later(
        after,
        lambda: log.warning(
            "on_startup of %s still running after %g s: no station is admitted until every "
            "on_startup returns (each is dropped at Limits.handshake_timeout, %g s)",
            owner,
            after,
            after,
        ),
    )
    try:
        await starting
    finally:
        said.cancel()


async def shut_down(
    handlers: Iterable[OcppHandler], server: Any, grace: float, deadline: float
) -> None:
    """Each handler's ``on_shutdown(server)``, within ``grace`` seconds and by ``deadline``
    (loop time: the stop's, which every hook shares); raises are logged."""
    loop = asyncio.get_running_loop()
    for hook in _each(handlers, "on_shutdown"):
        result = _called(hook, (server,), "", "on_shutdown")  # no station: no identity
        if result is not None:
            await _guarded(result, "", "on_shutdown", min(grace, max(0.0, deadline - loop.time())))
