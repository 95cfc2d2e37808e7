"""A station's link to its CSMS on picows: the fast client stack (on uvloop where installed)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from typing import Any

from picows import (
    WSError,
    WSInvalidStatusError,
    WSParsedURL,
    WSUpgradeRequest,
    WSUpgradeResponse,
    ws_connect,
)

from ocpp_fast._awaited import within
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.dispatch import OcppHandler
from ocpp_fast.transport._link import CloseFrames, HandshakeFailed, LinkOptions, telling
from ocpp_fast.transport._picows_wire import OcppListener, log
from ocpp_fast.transport.deflate import (
    MessageDeflate,
    NegotiationError,
    accept_response,
    client_offer,
)
from ocpp_fast.transport.library_logs import picows_log
from ocpp_fast.transport.limits import DEFAULT_LIMITS

__all__ = ["PicowsLink", "open_picows"]

_CLOSE_WAIT = 5.0
"""Seconds a closing handshake may take before the socket is dropped."""
TLS_CUT_SHORT = (
    "the CSMS closed the connection during the TLS handshake (a wss:// URL for a port without TLS?)"
)
"""What a ``wss://`` connection whose TLS handshake the peer cut short raises
(:class:`ConnectionResetError`; picows gives one without a word)."""
UNANSWERED = "the CSMS closed the connection without answering the WebSocket handshake"
"""What a connection closed before any HTTP answer raises (as a :class:`HandshakeFailed`)."""
UNANSWERED_HINT = " (a ws:// URL for a port with TLS? a CSMS at a connection limit?)"
"""Its likely causes, said for a ``ws://`` URL: a TLS port drops a plain HTTP request."""


class _WithoutTlsEofReports:
    """The loop's exception handler, less the report of a TLS handshake cut short by the peer.

    picows' TLS layer (aiofastnet) hands the loop's exception handler the exception *class*
    ``ConnectionResetError`` where an instance belongs, and asyncio's default handler then
    fails to log it: a "--- Logging error ---" traceback on stderr, for a failure that
    :func:`open_picows` raises to its caller anyway. Only that report is dropped; every other
    goes to the handler that was there before.
    """

    def __init__(self, previous: Any) -> None:
        self.previous = previous

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exception = context.get("exception")
        if (
            isinstance(exception, type)
            and issubclass(exception, ConnectionError)
            and str(context.get("message", "")).startswith("SSL handshake failed")
        ):
            return
        if self.previous is not None:
            self.previous(loop, context)
        else:
            loop.default_exception_handler(context)


def _drop_tls_eof_reports(loop: asyncio.AbstractEventLoop) -> None:
    """Put :class:`_WithoutTlsEofReports` in front of the loop's handler, once per handler."""
    current = loop.get_exception_handler()
    if not isinstance(current, _WithoutTlsEofReports):
        loop.set_exception_handler(_WithoutTlsEofReports(current))


def as_the_loop_words_it(loop: asyncio.AbstractEventLoop, failure: OSError) -> OSError:
    """``failure`` (of ``loop.sock_connect``) as ``loop.create_connection`` would raise it:
    asyncio's connects with ``sock_connect`` itself (the same error, naming the address);
    uvloop's connects in libuv and says only the errno's words (``[Errno 111] Connection
    refused``), so that every address of a host refusing reads the same and
    :func:`none_answered` raises one ``ConnectionRefusedError`` there, as the websockets
    client on uvloop does."""
    if failure.errno is None or not type(loop).__module__.startswith("uvloop"):
        return failure
    return OSError(failure.errno, os.strerror(failure.errno))  # its subclass, by the errno


def none_answered(failures: list[OSError]) -> OSError:
    """The error of a connection no resolved address accepted, as asyncio's (and uvloop's)
    ``create_connection`` makes it, so that a station fails alike on every backend: one
    address, or the same words from each, raise the first one's own error (an
    ``except ConnectionRefusedError`` still takes it); different words raise one plain
    ``OSError`` naming every address's failure (where a handler reading only the first
    would miss that IPv6 was unreachable and IPv4 refused)."""
    first = failures[0]
    if all(str(failure) == str(first) for failure in failures):
        return first
    return OSError("Multiple exceptions: " + ", ".join(str(failure) for failure in failures))


class _Dialer:
    """The TCP connection of one :func:`open_picows`, made here (picows' ``socket_factory``)
    so that a cancelled handshake can drop it at once.

    picows keeps the socket of a ``ws_connect`` cancelled while it waits for the HTTP answer
    open, with nothing left to read it, until its own handshake timeout (5 s): a station
    closed during its handshake stayed connected that long to the CSMS's eyes, and a
    firmware restarting meanwhile had two sockets on it. Only the socket is ours to reach,
    not picows' transport, so :meth:`drop` shuts it down (the CSMS sees the end at once,
    picows' transport reads it and closes the socket itself).
    """

    def __init__(self) -> None:
        self.sock: socket.socket | None = None

    async def __call__(self, url: WSParsedURL) -> socket.socket:
        """Connect to ``url``'s host as ``loop.create_connection`` would: each address it
        resolves to in turn, failing as it fails when none answers (:func:`none_answered`)."""
        loop = asyncio.get_running_loop()
        found = await loop.getaddrinfo(url.host, url.port, type=socket.SOCK_STREAM)
        failures: list[OSError] = []
        for family, kind, proto, _, address in found:
            sock = socket.socket(family, kind, proto)
            try:
                sock.setblocking(False)
                await loop.sock_connect(sock, address)
            except OSError as exc:
                sock.close()
                failures.append(as_the_loop_words_it(loop, exc))
                continue
            except BaseException:
                sock.close()
                raise
            self.sock = sock
            return sock
        raise none_answered(failures)  # getaddrinfo raises rather than return no address

    def drop(self) -> None:
        """End the connection now, whoever holds the socket."""
        if self.sock is not None:
            with contextlib.suppress(OSError):  # gone already
                self.sock.shutdown(socket.SHUT_RDWR)


class PicowsLink(OcppListener):
    """A picows client connection carrying OCPP-J (it is its own listener)."""

    def __init__(self, max_size: int) -> None:
        super().__init__(
            max_size=max_size,
            deflate=None,
            unread_output=DEFAULT_LIMITS.unread_output,
            on_refused=self._said,
        )
        self.identity = "?"
        """The station, for the log (``LinkOptions.identity``)."""
        self.agreed: str | None = None
        self.failure: str | None = None
        self._made: AsyncConnection | None = None
        self._disconnected = asyncio.get_running_loop().create_future()
        self.gone.append(self._mark_gone)

    def _said(self, kind: str, why: str) -> None:
        """What the listener refused on the station's link, in one WARNING naming the
        station, as a server says a station's (``<identity>: <why>``): a message over
        ``max_size`` is said by the client once the link closed, as on every carrier (from
        the 1009 frame sent)."""
        if kind != "message size":
            log.warning("%s: %s", self.identity, why)

    def _mark_gone(self) -> None:
        if not self._disconnected.done():
            self._disconnected.set_result(None)

    @property
    def subprotocol(self) -> str | None:
        return self.agreed

    @property
    def compressed(self) -> bool:
        return self._deflate is not None

    def accept(self, response: WSUpgradeResponse) -> None:
        """Read what the CSMS agreed to in its 101 answer."""
        self.agreed = response.headers.get("Sec-WebSocket-Protocol")
        try:
            params = accept_response(response.headers.getall("Sec-WebSocket-Extensions", []))
        except NegotiationError as exc:
            self.failure = f"the CSMS answered an extension we cannot follow: {exc}"
            return
        self._deflate = MessageDeflate(params, is_server=False) if params is not None else None

    def connection_for(
        self, handler: OcppHandler, identity: str, on_sent: Callable[[int], None]
    ) -> AsyncConnection:
        write = telling(self.write, on_sent)
        self._made = AsyncConnection(handler, write=write, identity=identity, on_resume=self.resume)
        return self._made

    async def run(self) -> None:
        # Attached only now, once the client has set the connection up (its metrics...):
        # what the CSMS sent meanwhile was kept and is handled first.
        assert self._made is not None
        self.attach(self._made)
        try:
            await asyncio.shield(self._disconnected)
        except asyncio.CancelledError:
            # The session cancelled (asyncio.run ending with the client not closed, a task
            # group's failure): drop the socket now. picows keeps it open otherwise, with no
            # task left to read it, until the interpreter's exit finalizes it, too late to
            # report anything ("Error in sys.excepthook" on stderr), and the CSMS sees the
            # station connected until its pings go unanswered.
            if self.transport is not None:
                self.transport.disconnect(graceful=False)
            raise

    def close_frames(self) -> CloseFrames:
        # Any: picows types the code an Enum, but a code it does not know comes as an int
        handshake: Any = None if self.transport is None else self.transport.close_handshake
        if handshake is None:
            return None, None, False
        got, gave = handshake.recv, handshake.sent
        return (
            None if got is None else (int(got.code), got.reason),
            None if gave is None else (int(gave.code), gave.reason),
            bool(handshake.recv_then_sent),
        )

    def lost_to(self) -> str | None:
        return self.aborted

    def seen_off(self) -> None:
        pass  # nothing waits for the station's side of a socket

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.start_close(code, reason)
        try:
            # within: a cancel as the link went is kept (wait_for dropped it on 3.11, and the
            # client's close(), or its runner, went on as if not cancelled)
            await within(asyncio.shield(self._disconnected), _CLOSE_WAIT)
        except TimeoutError:
            if self.transport is not None:
                self.transport.disconnect(graceful=False)


async def open_picows(url: str, options: LinkOptions) -> PicowsLink:
    """Open the WebSocket: our versions in order of preference, permessage-deflate offered
    if asked."""
    link = PicowsLink(options.max_size)
    link.identity = options.identity
    ping_interval = options.ping_interval

    def listener_for(request: WSUpgradeRequest, response: WSUpgradeResponse) -> Any:
        link.accept(response)
        return link

    extra = dict(options.headers)
    if options.compression:
        extra["Sec-WebSocket-Extensions"] = client_offer()
    if options.subprotocols:
        extra["Sec-WebSocket-Protocol"] = ", ".join(options.subprotocols)
    if options.ssl is not None:
        _drop_tls_eof_reports(asyncio.get_running_loop())
    dialer = _Dialer()
    try:
        await ws_connect(
            listener_for,
            url,
            ssl_context=options.ssl,
            extra_headers=extra,
            enable_auto_ping=ping_interval is not None,
            auto_ping_idle_timeout=ping_interval or 20.0,
            auto_ping_reply_timeout=ping_interval or 20.0,
            enable_auto_pong=False,  # the listener answers pings
            max_frame_size=options.max_size,
            read_buffer_init_size=2048,
            max_redirects=0,
            logger_name=picows_log,
            socket_factory=dialer,
        )
    except asyncio.CancelledError:
        dialer.drop()  # (close() during the handshake)
        raise
    except WSInvalidStatusError as exc:
        if exc.response is None:
            raise HandshakeFailed(str(exc)) from exc
        body = exc.raw_body if exc.raw_body is not None else exc.response.body
        raise HandshakeFailed.refused(int(exc.response.status), body) from exc
    except WSError as exc:
        raise HandshakeFailed(str(exc)) from exc
    except ConnectionResetError as exc:
        if options.ssl is None or str(exc):
            raise
        raise ConnectionResetError(TLS_CUT_SHORT) from None
    if link.transport is None:
        # picows returns without a connection when the CSMS closed the socket before any
        # answer to the upgrade; the link then agreed no version, which read as a mismatch
        raise HandshakeFailed(UNANSWERED + ("" if options.ssl is not None else UNANSWERED_HINT))
    if link.failure is not None:
        await link.close(1010, "extension refused")
        raise HandshakeFailed(link.failure)
    return link
