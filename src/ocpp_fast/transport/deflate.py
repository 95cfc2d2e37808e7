"""permessage-deflate (RFC 7692) on the standard library's zlib, for any WebSocket backend.

The OCPP-J spec asks a CSMS to support it, and stations on metered cellular
links use it. A backend that hands us whole messages (or reassembles frames
into them) needs three things, all here and none tied to a WebSocket library:

- negotiation: :func:`accept_offer` (server: pick the first acceptable offer of
  the ``Sec-WebSocket-Extensions`` request header, say what was agreed) and
  :func:`client_offer` / :func:`accept_response` (client);
- :class:`MessageDeflate`: compress an outgoing message, decompress an
  incoming one with its size bounded *after* inflation (a compression bomb is
  refused as :class:`MessageTooBig`, not allocated), with or without context
  takeover per direction.

Memory: a compressor costs about ``2**(window_bits+2) + 2**(mem_level+9)`` bytes
and a decompressor ``2**window_bits`` plus a few KiB, per connection. So our own
compressor uses a 4 KiB window (``window_bits=12``, ``mem_level=5``: any window up
to the negotiated one is valid), and when the peer's offer lets us, we ask its
compressor for the same (``client_max_window_bits=12``).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "DeflateConfig",
    "DeflateParams",
    "MessageDeflate",
    "MessageTooBig",
    "NegotiationError",
    "accept_offer",
    "accept_response",
    "client_offer",
    "parse_extensions",
]

EXTENSION = "permessage-deflate"
_TAIL = b"\x00\x00\xff\xff"
"""What a sync flush ends with; RFC 7692 removes it on the wire and adds it back to inflate."""


class NegotiationError(ValueError):
    """An extension header we cannot accept (malformed, or parameters out of range)."""


class MessageTooBig(ValueError):
    """A compressed message inflates beyond the size limit (close with 1009)."""


@dataclass(frozen=True)
class DeflateParams:
    """What both sides agreed: context takeover and the largest window, per direction."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15

    def header(self) -> str:
        """The ``Sec-WebSocket-Extensions`` value that states these parameters."""
        parts = [EXTENSION]
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.server_max_window_bits != 15:
            parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.client_max_window_bits != 15:
            parts.append(f"client_max_window_bits={self.client_max_window_bits}")
        return "; ".join(parts)


@dataclass(frozen=True)
class DeflateConfig:
    """Our preferences: the compression level, and the memory our compressor may use."""

    level: int = 6
    window_bits: int = 12
    """Our compressor's window (9-15), capped by what was negotiated for our direction."""
    mem_level: int = 5
    client_max_window_bits: int | None = 12
    """Asked of a client that offers ``client_max_window_bits`` (None: leave it at 15)."""


_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAM = re.compile(rf"\s*({_TOKEN})\s*(?:=\s*({_TOKEN}|\"[^\"]*\"))?\s*")


def parse_extensions(values: Iterable[str]) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """``Sec-WebSocket-Extensions`` header values as ``[(name, [(param, value), ...]), ...]``.

    Raises :class:`NegotiationError` for a value that is not ``name *(; param[=value])``.
    """
    out: list[tuple[str, list[tuple[str, str | None]]]] = []
    for value in values:
        for element in value.split(","):
            if not element.strip():
                continue
            pieces = element.split(";")
            name = pieces[0].strip()
            if not re.fullmatch(_TOKEN, name):
                raise NegotiationError(f"bad extension name {name[:40]!r}")
            params: list[tuple[str, str | None]] = []
            for piece in pieces[1:]:
                found = _PARAM.fullmatch(piece)
                if found is None:
                    raise NegotiationError(f"bad extension parameter {piece[:40]!r}")
                raw = found.group(2)
                params.append((found.group(1), raw.strip('"') if raw is not None else None))
            out.append((name, params))
    return out


def _bits(value: str | None, *, optional: bool) -> int | None:
    if value is None:
        if optional:
            return None
        raise NegotiationError("a window size needs a value")
    if not value.isdigit() or not 8 <= int(value) <= 15 or value != str(int(value)):
        raise NegotiationError(f"window bits must be 8-15, got {value[:8]!r}")
    return int(value)


def _read_offer(params: list[tuple[str, str | None]]) -> dict[str, object]:
    """An offer's parameters, each once, checked; raises NegotiationError."""
    seen: dict[str, object] = {}
    for name, value in params:
        if name in seen:
            raise NegotiationError(f"{name} given twice")
        if name in ("server_no_context_takeover", "client_no_context_takeover"):
            if value is not None:
                raise NegotiationError(f"{name} takes no value")
            seen[name] = True
        elif name == "server_max_window_bits":
            seen[name] = _bits(value, optional=False)
        elif name == "client_max_window_bits":
            seen[name] = _bits(value, optional=True)
        else:
            raise NegotiationError(f"unknown parameter {name[:40]!r}")
    return seen


def accept_offer(
    values: Iterable[str], config: DeflateConfig = DeflateConfig()
) -> DeflateParams | None:
    """Server side: the parameters of the first permessage-deflate offer we can accept.

    None when there is no acceptable offer (then the connection goes on
    uncompressed). Malformed offers are skipped, as RFC 7692 lets a server
    decline any offer.
    """
    try:
        offers = parse_extensions(values)
    except NegotiationError:
        return None
    for name, params in offers:
        if name != EXTENSION:
            continue
        try:
            offer = _read_offer(params)
        except NegotiationError:
            continue
        server_bits = offer.get("server_max_window_bits", 15)
        assert isinstance(server_bits, int)
        if server_bits < 9:
            continue  # zlib writes no 256-byte windows: decline rather than break the limit
        client_bits = 15
        if "client_max_window_bits" in offer:
            offered = offer["client_max_window_bits"]
            client_bits = offered if isinstance(offered, int) else 15
            if config.client_max_window_bits is not None:
                client_bits = min(client_bits, config.client_max_window_bits)
        return DeflateParams(
            server_no_context_takeover=bool(offer.get("server_no_context_takeover")),
            client_no_context_takeover=bool(offer.get("client_no_context_takeover")),
            server_max_window_bits=server_bits,
            client_max_window_bits=client_bits,
        )
    return None


def client_offer() -> str:
    """Client side: what we offer (we accept any window the server picks for itself)."""
    return f"{EXTENSION}; client_max_window_bits"


def accept_response(values: Iterable[str]) -> DeflateParams | None:
    """Client side: the parameters the server agreed to, or None if it declined.

    Raises :class:`NegotiationError` for a response a client must fail the
    connection on (another extension, two answers, bad parameters).
    """
    answers = parse_extensions(values)
    if not answers:
        return None
    if len(answers) > 1 or answers[0][0] != EXTENSION:
        raise NegotiationError("the server answered with an extension we did not offer")
    agreed = _read_offer(answers[0][1])
    client_bits = agreed.get("client_max_window_bits", 15)
    server_bits = agreed.get("server_max_window_bits", 15)
    if client_bits is None:
        raise NegotiationError("client_max_window_bits needs a value in a response")
    assert isinstance(client_bits, int) and isinstance(server_bits, int)
    if client_bits < 9:
        raise NegotiationError("zlib writes no 256-byte windows: client_max_window_bits=8")
    return DeflateParams(
        server_no_context_takeover=bool(agreed.get("server_no_context_takeover")),
        client_no_context_takeover=bool(agreed.get("client_no_context_takeover")),
        server_max_window_bits=server_bits,
        client_max_window_bits=client_bits,
    )


class MessageDeflate:
    """One connection's compression state, for the side given by ``is_server``.

    Contexts are created on first use, so an idle connection that never sent a
    compressed message costs nothing, and dropped after each message in a
    direction without context takeover.
    """

    __slots__ = (
        "_compressor",
        "_config",
        "_decompressor",
        "_keep_compressor",
        "_keep_decompressor",
        "_our_bits",
    )

    def __init__(
        self, params: DeflateParams, *, is_server: bool, config: DeflateConfig = DeflateConfig()
    ) -> None:
        self._config = config
        if is_server:
            ours, keep_ours = params.server_max_window_bits, not params.server_no_context_takeover
            keep_theirs = not params.client_no_context_takeover
        else:
            ours, keep_ours = params.client_max_window_bits, not params.client_no_context_takeover
            keep_theirs = not params.server_no_context_takeover
        self._our_bits = max(9, min(ours, config.window_bits))
        self._keep_compressor = keep_ours
        self._keep_decompressor = keep_theirs
        self._compressor: zlib._Compress | None = None
        self._decompressor: zlib._Decompress | None = None

    def compress(self, message: bytes) -> bytes:
        """The payload of a compressed message (sent with RSV1 set on its first frame)."""
        compressor = self._compressor
        if compressor is None:
            compressor = zlib.compressobj(
                self._config.level, zlib.DEFLATED, -self._our_bits, self._config.mem_level
            )
        data = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if data.endswith(_TAIL):
            data = data[:-4]
        self._compressor = compressor if self._keep_compressor else None
        return data

    def decompress(self, payload: bytes | bytearray | memoryview, max_size: int) -> bytes:
        """The message a compressed payload holds; :class:`MessageTooBig` beyond ``max_size``.

        Inflation stops one byte past the limit, so a bomb costs at most that.
        Corrupt data raises ``zlib.error`` (close with 1007 or 1002).
        """
        decompressor = self._decompressor
        if decompressor is None:
            decompressor = zlib.decompressobj(-15)  # any window the peer may have used
        message = decompressor.decompress(bytes(payload) + _TAIL, max_size + 1)
        if len(message) > max_size or decompressor.unconsumed_tail:
            self._decompressor = None  # its state is unusable now; the connection closes anyway
            raise MessageTooBig(f"message inflates beyond {max_size} bytes")
        self._decompressor = decompressor if self._keep_decompressor else None
        return message
