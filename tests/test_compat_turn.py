"""A CALL's turn in the drop-in's ``start()``, edge by edge, ``ocpp`` 2.1.0 against the drop-in,
over real sockets (the backend of :mod:`turn_pair`, on both classes, fed the same frames).

``ocpp``'s ``start()`` routes one frame at a time: a frame is read only once the one before it
is handled. The drop-in reads on while a handler runs (so a handler's ``call()`` is answered)
and keeps the turn by hand, for a frame a ``route_message`` override repairs into a CALL too
(``Reading.route_read``). The turn's edges:

- ``start()`` cancelled while a CALL ahead is handled (it hangs, or awaits ``call()`` to a
  station that does not answer), the repaired CALL read after it waiting its turn, waiting for a
  slot, or still in the override's lookup before ``super()``; then ``start()`` awaited again on
  the same connection: ``ocpp`` had left that frame in the socket and answers it; the drop-in
  had read it and dropped it [a_repaired_call_read_before_start_was_cancelled_is_answered_next].
- the CALL handlers cancelled with ``start()`` end before it raises, as ``ocpp``'s awaited
  handler does: the drop-in's raised at once, the cancelled handler still winding down while the
  next ``start()`` handled the station's next CALL [same test, and
  a_cancelled_start_ends_its_handlers_before_it_raises].
- a repaired CALL's handler raising an ``ocpp`` error or another exception, before its first
  await or after one or two [a_repaired_calls_handler_raising_is_answered_as_by_ocpp].
- the override raising before or after ``super()``, ``start()`` awaited again after
  [an_override_raising_ends_start_and_the_next_start_reads_on].
- two ``start()`` at once on one connection [two_starts_at_once_on_one_connection].
- a frame arriving while an async ``@after`` hook awaits its ``call()``
  [frames_arriving_while_an_after_hook_awaits_its_call].
- two runs of one ChargePoint (a reconnect, the old connection still sending) routing frames
  through the override at once: the runs shared one turn, so one run's repaired CALL was
  handled at once, before the CALL ahead of it [two_runs_repairing_at_once_keep_their_order].

Everything the backend's code sees is compared but when a frame enters ``route_message`` (the
drop-in reads on, so a frame enters before the CALL ahead of it is done: a documented
difference), and how the station's CALLs were answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ocpp.v16
import pytest
from compat_pair import ocpp_validating_inline
from ocpp.charge_point import LOGGER
from ocpp.routing import after
from ocpp.v16 import call as call16
from turn_pair import ASKED, NOW, ended, heard, repairing, served, until
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ocpp_fast.compat import v16

BASES = (ocpp.v16.ChargePoint, v16.ChargePoint)
ANSWER = {"currentTime": NOW}
GUIDE = (Path(__file__).parents[1] / "docs" / "explanation" / "compat-differences.md").read_text()


@pytest.fixture(autouse=True)
def _inline_validation() -> Iterator[None]:
    with ocpp_validating_inline():
        LOGGER.disabled = True  # the INFO line per frame, the tracebacks ocpp logs
        try:
            yield
        finally:
            LOGGER.disabled = False


def handling(events: list[Any]) -> list[Any]:
    """The events but a frame's entry into ``route_message`` (see the module's docstring)."""
    return [event for event in events if event[0] != "in"]


async def restarted(
    cls: type[Any], frames: list[str], cancel_at: str, bound: int = 4, awaited: bool = True
) -> tuple[list[Any], list[Any]]:
    """The station sends ``frames`` at once; once the CALL ``cancel_at``'s handler began (and a
    little after, so what follows it is read), the backend cancels ``start()``'s task and
    awaits ``start()`` again on the same connection: once that task ended (``awaited``), or at
    once (a restart loop that does not await it). What the station got, and the backend's
    events."""
    events: list[Any] = []
    cls.max_concurrent_calls = bound

    async def on_connect(websocket: ServerConnection) -> None:
        point = cls("CP1", websocket, 2)
        point.events = events
        first = asyncio.create_task(point.start())
        await until(lambda: ("begins", cancel_at) in events)
        await asyncio.sleep(0.05)
        first.cancel()
        if awaited:
            events.append(("run 1", await ended(first)))
        events.append(("run 2", await ended(point.start())))

    async with served(on_connect) as connecting:
        async with connecting() as station:
            for frame in frames:
                await station.send(frame)
            got = await heard(station)
        await until(lambda: events[-1][0] == "run 2")
    return got, events


HANGS = '[2,"hangs","Heartbeat",{}]'
ASKS = '[2,"ask","Heartbeat",{}]'
SLOW = '[2,"slow","Heartbeat",{}]'
H3 = '[2,"h3","Heartbeat",{}]'


@pytest.mark.parametrize("ahead", [HANGS, ASKS], ids=["ahead-hangs", "ahead-awaits-call"])
@pytest.mark.parametrize(
    ("repaired", "bound"),
    [
        ('["2","rep","Heartbeat",{}]', 4),
        ('["2","rep","Heartbeat",{}]', 1),
        ('["2","lookup-rep","Heartbeat",{}]', 4),
    ],
    ids=["waiting-its-turn", "waiting-for-a-slot", "in-the-overrides-lookup"],
)
@pytest.mark.parametrize("whole", [False, True], ids=["super", "whole"])
def test_a_repaired_call_read_before_start_was_cancelled_is_answered_next(
    ahead: str, repaired: str, bound: int, whole: bool
) -> None:
    """The station's CALLs are answered as by ``ocpp``, and its code sees the same but this: the
    override saw the broken frame in the cancelled run already (a documented difference: it
    routes it once read), and there its routing was cancelled (``CancelledError`` out of
    ``super()`` where it waited its turn), the next ``start()`` routing it again."""
    frames = [ahead, repaired, H3]
    cancel_at = "hangs" if ahead == HANGS else "ask"
    theirs, ours = (
        asyncio.run(restarted(repairing(base, whole), frames, cancel_at, bound)) for base in BASES
    )
    assert ours[0] == theirs[0]
    name = "lookup-rep" if "lookup" in repaired else "rep"
    asked = [[2, "c1", "GetLocalListVersion", {}]] if ahead == ASKS else []
    assert theirs[0] == [*asked, [3, name, ANSWER], [3, "h3", ANSWER]]
    assert handling(theirs[1]) == [
        ("begins", cancel_at),
        ("handler raised", cancel_at, "CancelledError"),
        ("super raised", cancel_at, "CancelledError"),
        ("run 1", "CancelledError"),
        *[(step, unique_id) for unique_id in (name, "h3") for step in ("begins", "ends", "out")],
        ("run 2", "ConnectionClosedOK"),
    ]
    first_routing = ("super raised", name, "CancelledError")
    assert [event for event in handling(ours[1]) if event != first_routing] == handling(theirs[1])
    assert ours[1].count(first_routing) == (0 if name == "lookup-rep" else 1)
    assert ours[1].count(("in", name)) == 2
    assert "a frame a `route_message` override repairs into a CALL, read while" in GUIDE


def test_a_cancelled_start_ends_its_handlers_before_it_raises() -> None:
    """No override: a handler awaiting ``call()`` when ``start()`` is cancelled. ``ocpp``'s
    handler is cancelled inside ``start()``, so it has ended when ``start()`` raises; the
    drop-in's ``start()`` raised at once, and the next ``start()`` had the next CALL's handler
    begin while the cancelled one was still ending."""

    def plain(base: type[Any]) -> type[Any]:
        cls = repairing(base)
        return type("PlainCsms", (cls,), {"route_message": base.route_message})

    frames = [ASKS, '[2,"h2","Heartbeat",{}]']
    theirs, ours = (asyncio.run(restarted(plain(base), frames, "ask")) for base in BASES)
    assert ours == theirs
    assert theirs[1] == [
        ("begins", "ask"),
        ("handler raised", "ask", "CancelledError"),
        ("run 1", "CancelledError"),
        ("begins", "h2"),
        ("ends", "h2"),
        ("run 2", "ConnectionClosedOK"),
    ]


async def exchanged(cls: type[Any], frames: list[str]) -> tuple[list[Any], list[Any]]:
    """The station sends ``frames`` at once; the backend awaits ``start()``, and once more
    when it raised (not when its connection closed)."""
    events: list[Any] = []

    async def on_connect(websocket: ServerConnection) -> None:
        point = cls("CP1", websocket, 2)
        point.events = events
        for number in (1, 2):
            how = await ended(asyncio.wait_for(point.start(), 5))  # TimeoutError if stuck
            events.append((f"run {number}", how))
            if how.startswith("ConnectionClosed"):
                return

    async with served(on_connect) as connecting:
        async with connecting() as station:
            for frame in frames:
                await station.send(frame)
            got = await heard(station)
        await until(lambda: bool(events) and events[-1][0].startswith("run"), 8)
    return got, events


@pytest.mark.parametrize("awaits", [0, 1, 2])
@pytest.mark.parametrize("error", ["ocpp", "plain"])
@pytest.mark.parametrize("whole", [False, True], ids=["super", "whole"])
def test_a_repaired_calls_handler_raising_is_answered_as_by_ocpp(
    awaits: int, error: str, whole: bool
) -> None:
    """Its handler raises after ``awaits`` awaits, the CALL ahead of it still handled when
    it was read: answered with the CALLERROR ``ocpp`` sends, in its turn, ``start()`` reading on."""
    name = f"rep-{error}{awaits}"
    frames = [SLOW, f'["2","{name}","Heartbeat",{{}}]', H3]
    theirs, ours = (asyncio.run(exchanged(repairing(base, whole), frames)) for base in BASES)
    assert ours[0] == theirs[0]
    assert handling(ours[1]) == handling(theirs[1])
    code = "ProtocolError" if error == "ocpp" else "InternalError"
    assert [frame[:3] for frame in theirs[0]] == [
        [3, "slow", ANSWER],
        [4, name, code],
        [3, "h3", ANSWER],
    ]


@pytest.mark.parametrize("awaits", [0, 1])
@pytest.mark.parametrize("whole", [False, True], ids=["super", "whole"])
def test_a_repaired_calls_handler_raising_cancelled_ends_start_as_with_ocpp(
    awaits: int, whole: bool
) -> None:
    """Its handler raises ``asyncio.CancelledError`` (no ``except Exception`` answers it):
    ``start()`` ends with it, the CALL unanswered, and the next ``start()`` answers the CALL
    the station sent after it, on both."""
    name = f"rep-cancel{awaits}"
    frames = [SLOW, f'["2","{name}","Heartbeat",{{}}]', H3]
    theirs, ours = (asyncio.run(exchanged(repairing(base, whole), frames)) for base in BASES)
    assert ours[0] == theirs[0] == [[3, "slow", ANSWER], [3, "h3", ANSWER]]
    assert handling(ours[1]) == handling(theirs[1])
    assert ("run 1", "CancelledError") in theirs[1]


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("whole", [False, True], ids=["super", "whole"])
def test_an_override_raising_ends_start_and_the_next_start_reads_on(
    where: str, whole: bool
) -> None:
    """The override raises for the broken frame, before or after ``super()``: ``start()`` ends
    with it (after the CALL ahead of it is answered), and the next ``start()`` answers the CALL
    the station sent after it, as ``ocpp``'s reads it."""
    name = f"raises-{where}"
    frames = [SLOW, f'["2","{name}","Heartbeat",{{}}]', H3]
    theirs, ours = (asyncio.run(exchanged(repairing(base, whole), frames)) for base in BASES)
    assert ours[0] == theirs[0]
    assert handling(ours[1]) == handling(theirs[1])
    handled = [[3, name, ANSWER]] if where == "after" else []  # its handler ran before
    assert theirs[0] == [[3, "slow", ANSWER], *handled, [3, "h3", ANSWER]]
    assert ("run 1", "LookupError") in theirs[1]


async def started_twice(cls: type[Any], when: str) -> tuple[list[Any], list[Any]]:
    """Two ``start()`` at once on one connection: both at once (``"together"``), the second once
    the first one's slow CALL is being handled (``"handling"``), or the second right after the
    first was cancelled, not awaited (``"cancelled"``). The station sends a slow Heartbeat (one
    hanging until cancelled, for ``"cancelled"``), then
    (the backend having started twice) another one."""
    events: list[Any] = []
    # cancelled: a handler that awaits until then, not a slow one (0.2 s), which a process
    # stalled that long under load let end, and be answered, before the cancel reached it
    first_call, first_name = (HANGS, "hangs") if when == "cancelled" else (SLOW, "slow")

    async def on_connect(websocket: ServerConnection) -> None:
        point = cls("CP1", websocket, 2)
        point.events = events
        first = asyncio.create_task(ended(point.start()))
        if when == "together":
            await asyncio.sleep(0)
        else:
            await until(lambda: ("begins", first_name) in events)
        if when == "cancelled":
            first.cancel()
        second = asyncio.create_task(ended(point.start()))
        second.add_done_callback(lambda task: events.append(("second", task.result())))
        first.add_done_callback(lambda task: events.append(("first", task.result())))
        await asyncio.wait((first, second))

    async with served(on_connect) as connecting:
        async with connecting() as station:
            await station.send(first_call)
            await asyncio.sleep(0.1)
            await station.send(H3)
            got = await heard(station)
        await until(lambda: len([e for e in events if e[0] in ("first", "second")]) == 2)
    return got, events


async def two_runs_repairing(cls: type[Any]) -> tuple[list[Any], list[Any]]:
    """A station connects to a backend keeping one ChargePoint per id, sends a slow Heartbeat,
    and connects again (``_connection`` replaced, ``start()`` awaited again, the old run left
    reading); on the old connection, the old run's read already waiting, it sends a broken
    Heartbeat whose lookup in the override takes a while; during that lookup, the new
    connection sends a broken frame that is no CALL, routed by the new run through the same
    override."""
    events: list[Any] = []
    points: list[Any] = []

    async def on_connect(websocket: ServerConnection) -> None:
        if points:
            points[0]._connection = websocket
        else:
            points.append(cls("CP1", websocket, 2))
            points[0].events = events
        events.append(("run", await ended(points[0].start())))

    async with served(on_connect) as connecting:
        async with connecting() as old:
            await old.send(SLOW)
            await until(lambda: ("begins", "slow") in events)
            async with connecting() as new:
                await until(lambda: points[0]._connection.remote_address == new.local_address)
                await old.send('["2","lookup-rep","Heartbeat",{}]')
                await until(lambda: ("in", "lookup-rep") in events)
                await new.send('[3,"unknown",{}]')
                got = [*(await heard(old)), *(await heard(new))]
        await until(lambda: len([event for event in events if event[0] == "run"]) == 2)
    return got, events


@pytest.mark.parametrize("whole", [False, True], ids=["super", "whole"])
def test_two_runs_repairing_at_once_keep_their_order(whole: bool) -> None:
    """The old run's repaired CALL is handled after the slow one ahead of it. The two runs
    shared one turn: the new run's frame, routed meanwhile, cleared it, so the old run's
    repaired CALL found none and was handled at once, before the slow one was answered.
    (``ocpp``'s old run, in the slow handler, never reads the old connection again: it reads
    ``_connection``, the new one, once the handler returned, and fails there with
    ``ConcurrencyError``; the drop-in's had read on, as documented.)"""
    got, events = asyncio.run(two_runs_repairing(repairing(v16.ChargePoint, whole)))
    assert [3, "slow", ANSWER] in got and [3, "lookup-rep", ANSWER] in got
    order = handling(events)
    assert order.index(("ends", "slow")) < order.index(("begins", "lookup-rep"))
    assert order[-2:] == [("run", "ConcurrencyError"), ("run", "ConnectionClosedOK")]


def queueing(cls: type[Any]) -> type[Any]:
    """The backend with a ``_send`` that puts the frame in an outbox a task of its own writes
    (a pattern of backends that log or batch what they send): it never suspends."""

    class Queueing(cls):  # type: ignore[misc]
        outbox: asyncio.Queue[str]

        async def _send(self, message: str) -> None:
            if not hasattr(self, "outbox"):
                self.outbox = asyncio.Queue()
                writer = asyncio.get_running_loop().create_task(self._write())
                self.writer = writer
            self.outbox.put_nowait(message)

        async def _write(self) -> None:
            with contextlib.suppress(ConnectionClosed):
                while True:
                    await self._connection.send(await self.outbox.get())

    return Queueing


@pytest.mark.parametrize("lookup", [False, True], ids=["repaired", "after-a-lookup"])
def test_repaired_calls_handled_at_once_free_their_slot(lookup: bool) -> None:
    """Broken frames one after the other, none ahead when each is read, with a ``_send`` that
    does not suspend: each repaired CALL is handled within the step that took its turn. Its
    slot was never freed: the fifth (``max_concurrent_calls`` is 4) waited for one forever and
    nothing more was answered; after a lookup, ``start()`` ended with ``RuntimeError``."""
    prefix = "lookup-" if lookup else ""
    frames = [f'["2","{prefix}r{number}","Heartbeat",{{}}]' for number in range(6)] + [H3]
    theirs, ours = (asyncio.run(exchanged(queueing(repairing(base)), frames)) for base in BASES)
    assert ours[0] == theirs[0]
    assert handling(ours[1]) == handling(theirs[1])
    assert [frame[1] for frame in ours[0]] == [f"{prefix}r{number}" for number in range(6)] + ["h3"]


def plain(base: type[Any]) -> type[Any]:
    """The backend without its ``route_message`` override."""
    return type("PlainCsms", (repairing(base),), {"route_message": base.route_message})


def test_two_starts_begun_together_the_second_fails() -> None:
    """Both read at once: ``websockets`` refuses ``ocpp``'s second read (``ConcurrencyError``);
    the drop-in refuses the second ``start()`` itself, with a ``RuntimeError`` saying why
    (``ConcurrencyError`` is one). The first handles every CALL, as with ``ocpp``."""
    theirs, ours = (asyncio.run(started_twice(plain(base), "together")) for base in BASES)
    assert ours[0] == theirs[0] == [[3, "slow", ANSWER], [3, "h3", ANSWER]]
    assert ("second", "ConcurrencyError") in theirs[1]
    assert [e for e in ours[1] if e[0] != "second"] == [e for e in theirs[1] if e[0] != "second"]
    assert ours[1][0] == ("second", "RuntimeError")


def test_a_second_start_while_a_call_is_handled_is_refused() -> None:
    """The second ``start()`` begins while the first one's handler runs: ``ocpp``'s reads (its
    first one is not reading) and handles the next CALL at once, answered before the slow one
    (the first then fails reading, ``ConcurrencyError``); the drop-in's first one reads on, so
    the second is refused and the CALLs are handled in order (a documented difference)."""
    theirs, ours = (asyncio.run(started_twice(plain(base), "handling")) for base in BASES)
    assert theirs == (
        [[3, "h3", ANSWER], [3, "slow", ANSWER]],
        [
            ("begins", "slow"),
            ("begins", "h3"),
            ("ends", "h3"),
            ("ends", "slow"),
            ("first", "ConcurrencyError"),
            ("second", "ConnectionClosedOK"),
        ],
    )
    assert ours == (
        [[3, "slow", ANSWER], [3, "h3", ANSWER]],
        [
            ("begins", "slow"),
            ("second", "RuntimeError"),
            ("ends", "slow"),
            ("begins", "h3"),
            ("ends", "h3"),
            ("first", "ConnectionClosedOK"),
        ],
    )
    assert "a second `start()` begun while one still reads the same connection" in GUIDE


def test_a_start_begun_as_the_first_is_cancelled_reads_on() -> None:
    """A restart loop cancels ``start()``'s task and awaits ``start()`` at once: the first no
    longer reads, so the second does, as with ``ocpp``."""
    theirs, ours = (asyncio.run(started_twice(plain(base), "cancelled")) for base in BASES)
    assert ours == theirs
    assert ours[0] == [[3, "h3", ANSWER]]


@pytest.mark.parametrize("repaired", [False, True], ids=["call", "repaired"])
def test_calls_read_by_a_start_cancelled_and_not_awaited_are_answered_next(
    repaired: bool,
) -> None:
    """``ocpp``'s first ``start()``, cancelled in the hanging handler, had not read the next
    CALLs: the second reads and answers them. The drop-in's had (it reads on), and the second
    began before the cancelled one kept them: it failed at once (the first was still in its
    read: ``ConcurrencyError``) and nothing more was answered. It now waits until the cancelled
    one stopped reading, and answers them. The cancelled handler ends before the next begins
    (with ``ocpp``, either may come first: the second ``start()`` reads as the first one's
    handler is being cancelled)."""
    name = "rep" if repaired else "h2"
    second = f'["2","{name}","Heartbeat",{{}}]' if repaired else f'[2,"{name}","Heartbeat",{{}}]'
    backend = repairing if repaired else plain
    # a handler that awaits until cancelled, not a slow one (0.2 s): a process stalled that
    # long under load had the drop-in's ended, and answered, in the cancel's loop turn
    frames = [HANGS, second, H3]
    theirs, ours = (
        asyncio.run(restarted(backend(base), frames, "hangs", awaited=False)) for base in BASES
    )
    assert ours[0] == theirs[0] == [[3, name, ANSWER], [3, "h3", ANSWER]]
    cancelled = [("handler raised", "hangs", "CancelledError")]
    if repaired:
        cancelled.append(("super raised", "hangs", "CancelledError"))
    answered = [(step, unique_id) for unique_id in (name, "h3") for step in ("begins", "ends")]
    if repaired:
        answered = [*answered[:2], ("out", name), *answered[2:], ("out", "h3")]
    first_routing = ("super raised", name, "CancelledError")
    ours_order = [event for event in handling(ours[1]) if event != first_routing]
    assert ours_order == [
        ("begins", "hangs"),
        *cancelled,
        *answered,
        ("run 2", "ConnectionClosedOK"),
    ]
    # ocpp's order of the cancelled handler's end and the next one's begins is the loop's
    assert sorted(handling(theirs[1])) == sorted(ours_order)


def asking_after(base: type[Any]) -> type[Any]:
    """The backend (no override) with an async ``@after`` hook on Heartbeat asking the station
    its local list version (``ocpp`` schedules it, not awaited: the CALL is answered first)."""

    class Csms(plain(base)):  # type: ignore[misc]
        @after("Heartbeat")  # type: ignore[untyped-decorator]
        async def ask_after(self, call_unique_id: str) -> None:
            if call_unique_id != "first":
                return
            self._unique_id_generator = lambda: "c1"
            self.events.append(("hook asks", call_unique_id))
            answer = await self.call(call16.GetLocalListVersion())
            self.events.append(("hook answered", answer.list_version))

    return Csms


async def hook_asking(cls: type[Any]) -> tuple[list[Any], list[Any]]:
    """The station sends a Heartbeat; once asked by the hook, it sends another Heartbeat and a
    StatusNotification before it answers the hook's CALL."""
    events: list[Any] = []

    async def on_connect(websocket: ServerConnection) -> None:
        point = cls("CP1", websocket, 2)
        point.events = events
        events.append(("run", await ended(point.start())))

    async with served(on_connect) as connecting:
        async with connecting() as station:
            await station.send('[2,"first","Heartbeat",{}]')
            got = [json.loads(await station.recv()) for _ in range(2)]
            await station.send('[2,"second","Heartbeat",{}]')
            got.append(json.loads(await station.recv()))
            await station.send('[3,"c1",{"listVersion":3}]')
            got.extend(await heard(station))
        await until(lambda: events[-1][0] == "run")
    return got, events


def test_frames_arriving_while_an_after_hook_awaits_its_call() -> None:
    """The hook's ``call()`` goes out after the Heartbeat's answer; the Heartbeat the station
    sends meanwhile is answered, and the hook gets its answer, on both."""
    theirs, ours = (asyncio.run(hook_asking(asking_after(base))) for base in BASES)
    assert ours == theirs
    assert theirs[0] == [[3, "first", ANSWER], json.loads(ASKED), [3, "second", ANSWER]]
    assert ("hook answered", 3) in theirs[1]
