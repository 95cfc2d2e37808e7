"""A gateway's ``handler_first``: a durable CALL's handler runs as its store is sent, its
answer still written only once the stream has the CALL.

The same scenarios as ``test_cluster_gated`` (a relay whose requests are futures the test
completes), on both twins of the compiled path and on the general path, with the gateway's
handlers made ``handler_first``: the handler has run before the ack, nothing is written
before it, and what the ack says decides what the station gets (what fails, and how it is
answered, is ``test_cluster_gated``'s scenario with ``handler_first`` too).
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from typing import Any

import msgspec
import pytest
from cluster_procs import run as run_cluster
from cluster_raw import EVENT
from nats.errors import TimeoutError as NatsTimeout
from test_cluster_acks import Recording, held, nothing_within, reply, transaction_event
from test_cluster_gated import Csms, Station, event, path, run, turns

from ocpp_fast.aio import Slots

__all__ = ["path"]  # the fixture, imported for this module's tests

pytestmark = pytest.mark.usefixtures("dispatch_twin", "link_bytes_twin")  # both twins of each


def test_the_handler_runs_at_once_and_its_answer_waits_for_the_ack(path: type[Csms]) -> None:
    """Published with the station's bytes and the handler run within ``feed``; nothing
    written, the id held until the ack (the frame too on the general path); then the
    answer built earlier is written and everything let go, as without ``handler_first``."""

    async def scenario() -> None:
        station = Station(path, handler_first=True)
        connection = station.connection
        frame = event(1)
        assert connection.feed(frame) is True
        assert len(station.replies.sent) == 1
        assert (station.user.ran, station.written) == ([1], [])
        kept = None if path is Csms else frame  # the general path's store reads it
        assert (connection.frame_of("m1"), connection.handling) == (kept, 1)
        await turns()
        assert station.written == []
        station.replies.ack(0)
        await turns()
        assert (station.written, station.user.ran) == ([b'[3,"m1",{}]'], [1])
        assert (connection.frame_of("m1"), connection.handling) == (None, 0)
        assert connection.protocol._handling == set()
        assert (connection._free, connection._pending) == (3, {})

    run(scenario)


def test_a_failed_store_outranks_the_handlers_error(path: type[Csms]) -> None:
    """The handler raised and the store failed: InternalError, the station's cue to send it
    again (the handler's error would say the CALL was handled)."""

    async def scenario() -> None:
        station = Station(path, handler_first=True)
        station.connection.feed(event(7))
        station.replies.sent[0][3].set_exception(NatsTimeout())
        await turns()
        ((_, _, error, *_),) = [msgspec.json.decode(w) for w in station.written]
        assert (error, station.user.ran) == ("InternalError", [7])

    run(scenario)


@pytest.mark.parametrize("stored", [True, False])
def test_an_awaitable_handed_back_is_awaited_only_once_stored(
    path: type[Csms], stored: bool
) -> None:
    """A plain handler that hands back a coroutine: awaited once the stream has the CALL and
    its response answered; closed, never reported as never awaited, when the store failed."""

    async def scenario() -> None:
        station = Station(path, handler_first=True)
        station.connection.feed(event(9))
        assert station.user.ran == [9]
        if stored:
            station.replies.ack(0)
        else:
            station.replies.sent[0][3].set_exception(NatsTimeout())
        await turns(6)
        if stored:
            assert station.written == [b'[3,"m9",{"totalCost":9.0}]']
            assert station.user.ran == [9, 90]
        else:
            ((_, _, error, *_),) = [msgspec.json.decode(w) for w in station.written]
            assert (error, station.user.ran) == ("InternalError", [9])

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(scenario)
        gc.collect()
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []


def test_a_stopped_connection_answers_nothing(path: type[Csms]) -> None:
    """Stopped while the store waits: the handlers have run, nothing is written, the slots are
    back at once, nothing is left pending."""

    async def scenario() -> None:
        reported: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _, c: reported.append(c))
        shared = Slots(3)
        station = Station(path, handler_first=True, task_slots=shared)
        connection = station.connection
        connection.feed(event(1))
        connection.feed(event(2))
        connection.stop()
        assert (connection.handling, connection._free, shared.free) == (0, 3, 3)
        await turns()
        assert (station.written, station.user.ran, reported) == ([], [1, 2], [])
        assert await connection.drain(1)

    run(scenario)


def test_calls_beyond_the_bounds_run_their_handler_as_their_store_starts(
    path: type[Csms],
) -> None:
    """The second CALL waits in the backlog (one slot): its handler runs only once it is
    taken from there and its store sent, not as it arrives."""

    async def scenario() -> None:
        station = Station(path, handler_first=True, max_calls=1)
        connection = station.connection
        assert connection.feed(event(1)) is True
        assert connection.feed(event(2)) is False
        assert station.user.ran == [1]
        station.replies.ack(0)
        await turns()
        assert (station.written, station.user.ran) == ([b'[3,"m1",{}]'], [1, 2])
        station.replies.ack(1)
        await turns()
        assert station.written == [b'[3,"m1",{}]', b'[3,"m2",{}]']

    run(scenario)


class RecordingAsync(Recording):
    """Recording's handler as an ``async def`` (it awaits the loop once)."""

    async def transaction_event(self, request: Any) -> Any:
        await asyncio.sleep(0)
        return super().transaction_event(request)


@pytest.mark.parametrize("handler_class", [Recording, RecordingAsync], ids=["plain", "async"])
def test_over_nats_the_handler_runs_before_the_ack_and_the_answer_after(
    nats_url: str, handler_class: type[Recording]
) -> None:
    """A real gateway and nats-server, the stream's acks held by the test: with
    ``Gateway(handler_first=True)`` the handler has run while the ack is held, the station
    gets nothing until it is released; an error ack answers InternalError, the handler
    having run; a handler that raises is answered its error once the stream has the CALL."""

    async def scenario() -> None:
        handler = handler_class()
        async with held(nats_url, handler, "F1", handler_first=True) as (_, _, acks, ws):
            await ws.send(transaction_event(1))
            await acks.holding(1)
            async with asyncio.timeout(5):
                while handler.ran != [1]:
                    await asyncio.sleep(0.01)
            assert await nothing_within(ws, 0.3)
            assert await acks.release() == [EVENT % (1, 1)]
            assert (await reply(ws))[:2] == [3, "m1"]

            await ws.send(transaction_event(2))
            await acks.holding(1)
            await acks.release(error=True)
            assert (await reply(ws))[:3] == [4, "m2", "InternalError"]
            assert handler.ran == [1, 2]  # handled, though not stored

            await ws.send(transaction_event(13))
            await acks.holding(1)
            assert await nothing_within(ws, 0.2)
            await acks.release()
            assert (await reply(ws))[:3] == [4, "m13", "InternalError"]  # its ValueError
            assert handler.ran == [1, 2, 13]

    run_cluster(scenario)
