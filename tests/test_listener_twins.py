"""The picows listener's per-message methods, on both twins (``listener_twin``: the compiled
functions of ``_dispatch_c`` and the Python methods of ``OcppListener``).

Each branch of ``on_ws_frame`` and of ``write`` is driven with picows' own frames and a
stand-in transport that notes every call, and what the listener did is checked call by
call: the compiled twin must do the same steps, in the same order, as the Python one.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import LISTENER_TWINS, compiled_expected
from picows import WSCloseCode, WSMsgType
from picows.picows import _make_test_ws_frame

from ocpp_fast._fastpath import pure_twins
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.demo import DemoChargeSystem
from ocpp_fast.transport._picows_wire import COMPRESS_FROM, PAUSE_AFTER, OcppListener
from ocpp_fast.transport.deflate import DeflateParams, MessageDeflate

pytestmark = pytest.mark.usefixtures("listener_twin")

MAX_SIZE = 1000
UNREAD = 500
HEARTBEAT = b'[2,"h1","Heartbeat",{}]'


class Socket:
    """The asyncio transport under picows: its calls noted in ``log``."""

    def __init__(self, log: list[tuple[Any, ...]]) -> None:
        self.log = log
        self.unread = 0

    def get_write_buffer_size(self) -> int:
        return self.unread

    def abort(self) -> None:
        self.log.append(("abort",))

    def pause_reading(self) -> None:
        self.log.append(("pause_reading",))

    def resume_reading(self) -> None:
        self.log.append(("resume_reading",))


class Transport:
    """picows' ``WSTransport`` as the listener uses it: its calls noted in ``log``."""

    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []
        self.underlying_transport = Socket(self.log)
        self.is_disconnected = False

    def send(self, kind: WSMsgType, data: bytes, *flags: bool) -> None:
        self.log.append(("send", kind, bytes(data), *flags))

    def send_pong(self, data: bytes) -> None:
        self.log.append(("send_pong", data))

    def send_close(self, code: WSCloseCode | int, reason: bytes) -> None:
        self.log.append(("send_close", code, reason))

    def disconnect(self) -> None:
        self.log.append(("disconnect",))


class Connection:
    """An ``AsyncConnection`` as the listener feeds it: each message noted; ``feed``
    answers ``fed`` and ``waiting`` says how many CALLs wait."""

    def __init__(self, log: list[tuple[Any, ...]], fed: bool = True, waiting: int = 0) -> None:
        self.log = log
        self.fed = fed
        self.waiting = waiting

    def feed(self, data: bytes) -> bool:
        self.log.append(("feed", data))
        return self.fed


def text(payload: bytes, *, fin: bool = True, rsv1: bool = False) -> Any:
    return _make_test_ws_frame(WSMsgType.TEXT, payload, fin, rsv1)


def frame(kind: WSMsgType, payload: bytes = b"", *, fin: bool = True) -> Any:
    return _make_test_ws_frame(kind, payload, fin, False)


def compressed(message: bytes) -> bytes:
    """``message`` deflated as a peer sends it (RFC 7692: the sync flush's tail cut)."""
    made = zlib.compressobj(wbits=-15)
    return (made.compress(message) + made.flush(zlib.Z_SYNC_FLUSH))[:-4]


class Listening:
    """A listener on a stand-in transport, its refusals noted in the same log."""

    def __init__(self, *, deflate: bool = False, attach: Connection | None = None) -> None:
        self.transport = Transport()
        self.log = self.transport.log
        self.listener = OcppListener(
            max_size=MAX_SIZE,
            deflate=MessageDeflate(DeflateParams(), is_server=True) if deflate else None,
            unread_output=UNREAD,
            on_refused=lambda kind, why: self.log.append(("refused", kind, why)),
        )
        self.listener.on_ws_connected(self.transport)  # type: ignore[arg-type]
        if attach is not None:
            self.listener.attach(attach)  # type: ignore[arg-type]

    def receive(self, *frames: Any) -> list[tuple[Any, ...]]:
        """Hand ``frames`` over as picows does; what the listener did, in order."""
        for each in frames:
            self.listener.quiet = 3
            self.listener.on_ws_frame(self.transport, each)  # type: ignore[arg-type]
            self.log.append(("quiet", self.listener.quiet))
        return self.log


@pytest.fixture
def listening() -> Iterator[Listening]:
    yield Listening(attach=Connection([]))


def test_the_twin_under_test_is_the_one_asked_for(listener_twin: str) -> None:
    for method in ("on_ws_frame", "write"):
        pure = pure_twins.get((OcppListener, method))
        compiled = pure is not None and getattr(OcppListener, method) is not pure
        assert compiled == (listener_twin == "compiled")


@pytest.mark.skipif(not compiled_expected(), reason="the pure build has no compiled twin")
def test_the_compiled_twins_are_installed_where_built() -> None:
    from ocpp_fast import _dispatch_c

    assert LISTENER_TWINS == ["compiled", "python"]
    assert pure_twins[OcppListener, "on_ws_frame"] is not _dispatch_c.listener_frame
    assert pure_twins[OcppListener, "write"] is not _dispatch_c.listener_write
    assert pure_twins[OcppListener, "on_ws_frame"].__module__ == OcppListener.__module__


def test_a_whole_text_frame_is_fed_to_the_connection() -> None:
    connection = Connection([])
    listening = Listening(attach=connection)
    connection.log = listening.log
    assert listening.receive(text(HEARTBEAT)) == [("feed", HEARTBEAT), ("quiet", 0)]


def test_a_real_connection_answers_through_write() -> None:
    listening = Listening()
    listener = listening.listener
    listener.attach(AsyncConnection(DemoChargeSystem(), write=listener.write, identity="CS"))
    log = listening.receive(text(HEARTBEAT))
    assert [entry[:2] for entry in log] == [("send", WSMsgType.TEXT), ("quiet", 0)]
    assert log[0][2].startswith(b'[3,"h1",{"currentTime":"')
    assert len(log[0]) == 3  # no flags: sent uncompressed


@pytest.mark.parametrize("waiting", [PAUSE_AFTER - 1, PAUSE_AFTER])
def test_over_the_bound_reading_pauses_once_enough_calls_wait(waiting: int) -> None:
    connection = Connection([], fed=False, waiting=waiting)
    listening = Listening(attach=connection)
    connection.log = listening.log
    paused = [("pause_reading",)] if waiting >= PAUSE_AFTER else []
    assert listening.receive(text(HEARTBEAT)) == [("feed", HEARTBEAT), *paused, ("quiet", 0)]


def test_messages_before_attach_are_kept_then_fed_in_order() -> None:
    listening = Listening()
    messages = [b'[2,"%d","Heartbeat",{}]' % n for n in range(PAUSE_AFTER)]
    log = listening.receive(*(text(m) for m in messages))
    assert log == [("quiet", 0)] * (PAUSE_AFTER - 1) + [("pause_reading",), ("quiet", 0)]
    log.clear()
    listening.listener.attach(Connection(log))  # type: ignore[arg-type]
    assert log == [("feed", m) for m in messages] + [("resume_reading",)]


def test_after_detach_messages_are_dropped() -> None:
    listening = Listening()
    listening.listener.detach()
    assert listening.receive(text(HEARTBEAT)) == [("quiet", 0)]


def test_over_the_unread_cap_the_socket_is_aborted_and_the_rest_ignored(
    listening: Listening,
) -> None:
    listening.transport.underlying_transport.unread = UNREAD + 1
    why = f"over {UNREAD} bytes unread"
    assert listening.receive(text(HEARTBEAT), text(HEARTBEAT)) == [
        ("refused", "unread output", why),
        ("abort",),
        ("quiet", 0),
        ("quiet", 0),  # refusing: nothing more, but the frame still counts as a sign of life
    ]
    assert listening.listener.aborted == f"aborted by us: {why}"


def test_at_the_unread_cap_the_frame_is_still_taken() -> None:
    connection = Connection([])
    listening = Listening(attach=connection)
    connection.log = listening.log
    listening.transport.underlying_transport.unread = UNREAD
    assert listening.receive(text(HEARTBEAT)) == [("feed", HEARTBEAT), ("quiet", 0)]


def test_fragments_make_one_message() -> None:
    connection = Connection([])
    listening = Listening(attach=connection)
    connection.log = listening.log
    log = listening.receive(
        text(HEARTBEAT[:5], fin=False),
        frame(WSMsgType.CONTINUATION, HEARTBEAT[5:9], fin=False),
        frame(WSMsgType.CONTINUATION, HEARTBEAT[9:]),
        text(HEARTBEAT),  # whole again: the hot path, now the fragments are done
    )
    assert log == [("quiet", 0)] * 2 + [("feed", HEARTBEAT), ("quiet", 0)] * 2


@pytest.mark.parametrize(
    ("frames", "refusal", "code"),
    [
        (
            [text(b"[2,", fin=False), text(HEARTBEAT)],
            ("protocol", "a new message began inside a fragmented one"),
            1002,
        ),
        (
            [frame(WSMsgType.CONTINUATION, b"]")],
            ("protocol", "a continuation frame without a message"),
            1002,
        ),
        (
            [text(b" " * 600, fin=False), frame(WSMsgType.CONTINUATION, b" " * 600)],
            ("message size", f"a message over {MAX_SIZE} bytes"),
            1009,
        ),
        (
            [frame(WSMsgType.BINARY, b"\x00")],
            ("binary frame", "closing with 1003: a binary frame"),
            1003,
        ),
        (
            [text(compressed(HEARTBEAT), rsv1=True)],
            ("protocol", "a compressed message without permessage-deflate"),
            1002,
        ),
    ],
    ids=["text-inside-fragments", "stray-continuation", "fragments-too-big", "binary", "rsv1"],
)
def test_a_frame_we_refuse_closes_and_what_follows_is_ignored(
    listening: Listening, frames: list[Any], refusal: tuple[str, str], code: int
) -> None:
    log = listening.receive(*frames, text(HEARTBEAT))
    closing = [("refused", *refusal), ("send_close", code), ("disconnect",)]
    assert [entry[:2] if entry[0] == "send_close" else entry for entry in log] == (
        [("quiet", 0)] * (len(frames) - 1) + closing + [("quiet", 0)] * 2
    )


def test_a_compressed_message_is_inflated_where_deflate_was_agreed() -> None:
    connection = Connection([])
    listening = Listening(deflate=True, attach=connection)
    connection.log = listening.log
    assert listening.receive(text(compressed(HEARTBEAT), rsv1=True)) == [
        ("feed", HEARTBEAT),
        ("quiet", 0),
    ]


def test_corrupt_compressed_data_closes_with_1007() -> None:
    listening = Listening(deflate=True, attach=Connection([]))
    log = listening.receive(text(b"\xff\xff\xff\xff", rsv1=True))
    assert log[0] == ("refused", "protocol", "corrupt compressed data")
    assert log[1][:2] == ("send_close", 1007)


def test_ping_close_and_pong(listening: Listening) -> None:
    log = listening.receive(
        frame(WSMsgType.PING, b"p"),
        frame(WSMsgType.PONG, b"p"),
        _make_test_ws_frame(WSMsgType.CLOSE, b"\x03\xe8bye", True, False),
    )
    assert log == [
        ("send_pong", b"p"),
        ("quiet", 0),
        ("quiet", 0),
        ("send_close", 1000, b"bye"),
        ("disconnect",),
        ("quiet", 0),
    ]


def test_write_sends_a_text_frame(listening: Listening) -> None:
    listening.listener.write(HEARTBEAT)
    assert listening.log == [("send", WSMsgType.TEXT, HEARTBEAT)]


def test_write_without_a_transport_sends_nothing() -> None:
    listener = OcppListener(max_size=MAX_SIZE, deflate=None, unread_output=UNREAD)
    listener.write(HEARTBEAT)  # before on_ws_connected: no transport, nothing to do
    assert listener.transport is None


@pytest.mark.parametrize("size", [COMPRESS_FROM - 1, COMPRESS_FROM])
def test_write_compresses_what_is_worth_it(size: int) -> None:
    listening = Listening(deflate=True)
    message = b"[3," + b" " * (size - 6) + b"{}]"
    assert len(message) == size
    listening.listener.write(message)
    [(call, kind, data, *flags)] = listening.log
    assert (call, kind) == ("send", WSMsgType.TEXT)
    if size < COMPRESS_FROM:
        assert (data, flags) == (message, [])
    else:
        assert flags == [True, True]
        assert zlib.decompressobj(-15).decompress(data + b"\x00\x00\xff\xff") == message


class WatchedListener(OcppListener):
    """A listener whose per-message attributes are properties of its own, over its
    ``__dict__``: every read and write of them is noted, so the compiled twin, which reads
    ``OcppListener``'s own at their slots, must still go through a subclass's."""

    def _note(self, name: str) -> None:
        self.__dict__.setdefault("seen", []).append(name)

    @property
    def quiet(self) -> int:
        self._note("quiet")
        return int(self.__dict__.get("_quiet", 0))

    @quiet.setter
    def quiet(self, value: int) -> None:
        self._note(f"quiet={value}")
        self.__dict__["_quiet"] = value

    @property
    def transport(self) -> Any:
        self._note("transport")
        return self.__dict__.get("_transport")

    @transport.setter
    def transport(self, value: Any) -> None:
        self.__dict__["_transport"] = value

    @property
    def connection(self) -> Any:
        self._note("connection")
        return self.__dict__.get("_connection")

    @connection.setter
    def connection(self, value: Any) -> None:
        self.__dict__["_connection"] = value


def test_a_subclass_s_properties_are_read_through_on_both_twins() -> None:
    """A frame in and an answer out: the subclass's ``quiet``, ``connection`` and
    ``transport`` are each gone through, in the Python twin's order, on both twins."""
    transport = Transport()
    listener = WatchedListener(max_size=MAX_SIZE, deflate=None, unread_output=UNREAD)
    listener.on_ws_connected(transport)  # type: ignore[arg-type]
    listener.attach(Connection(transport.log))  # type: ignore[arg-type]
    listener.__dict__["seen"] = []
    listener.on_ws_frame(transport, text(HEARTBEAT))  # type: ignore[arg-type]
    listener.write(HEARTBEAT)
    assert listener.__dict__["seen"] == ["quiet=0", "connection", "transport"]
    assert transport.log == [("feed", HEARTBEAT), ("send", WSMsgType.TEXT, HEARTBEAT)]


@pytest.mark.skipif(not compiled_expected(), reason="the pure build has no compiled twin")
def test_the_compiled_twin_reads_the_listener_at_its_slots() -> None:
    """``OcppListener``'s per-message attributes are read at their slots' offsets (not
    through CPython's type cache, whose collisions made each look-up ~300 instructions in a
    gateway); a subclass's properties are read as attributes."""
    from ocpp_fast._dispatch_c import listener_layout_of

    names = ["_deflate", "_fragments", "_refusing", "_unread_output", "connection", "quiet"]
    names.append("transport")
    plain = listener_layout_of(OcppListener(max_size=1, deflate=None, unread_output=1))
    assert sorted(plain) == names and all(offset >= 0 for offset in plain.values())
    watched = listener_layout_of(WatchedListener(max_size=1, deflate=None, unread_output=1))
    assert (watched["quiet"], watched["transport"], watched["connection"]) == (-1, -1, -1)
    assert watched["_deflate"] == plain["_deflate"]
