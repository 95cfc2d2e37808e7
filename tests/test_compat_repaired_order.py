"""A frame that a ``route_message`` override repairs into a CALL is handled in its turn.

Backends written for ``ocpp`` repair broken firmware frames in an overridden
``route_message`` before ``super().route_message(...)`` (here: a MessageTypeId sent as the
string ``"2"``, which neither ``ocpp`` nor the drop-in reads as a CALL). ``start()`` takes
such a frame for no CALL, so it was routed inline: the CALL it became was handled at once,
while the CALL read before it was still being handled, and answered before it. ``ocpp``
routes frames one at a time, so the repaired CALL comes after the one before it, and a CALL
read after it waits for it. Compared differentially: the same frames, through ``start()``,
on an ``ocpp`` ChargePoint and on the drop-in's, for 1.6 and 2.0.1.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import msgspec
import ocpp.v16
import ocpp.v201
import pytest
from compat_pair import Sink, ocpp_validating_inline
from ocpp.charge_point import LOGGER
from ocpp.routing import after, on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as call_result16
from ocpp.v201 import call_result as call_result201
from test_compat_eager_tasks import EAGER_FACTORY
from turn_pair import routed_whole

from ocpp_fast.compat import v16, v201

NOW = "2026-12-04T15:00:00Z"
RESULTS = {"1.6": call_result16, "2.0.1": call_result201}
BASES = {
    "1.6": (ocpp.v16.ChargePoint, v16.ChargePoint),
    "2.0.1": (ocpp.v201.ChargePoint, v201.ChargePoint),
}


@pytest.fixture(autouse=True)
def _inline_validation() -> Iterator[None]:
    with ocpp_validating_inline():
        yield


def repaired(raw_msg: str) -> tuple[list[Any], str]:
    """The frame, its MessageTypeId made a number if it came as the string ``"2"``."""
    frame = json.loads(raw_msg)
    if frame[0] == "2":
        frame[0] = 2
        raw_msg = json.dumps(frame)
    return frame, raw_msg


def repairing(base: type[Any], label: str) -> type[Any]:
    """A CSMS whose ``route_message`` repairs a MessageTypeId sent as a string, recording
    each frame as it enters and as ``super().route_message()`` returns; its Heartbeat
    handler records its start and end, the CALL ``slow`` awaiting a while in between."""

    class Csms(base):  # type: ignore[misc]
        events: list[Any]

        async def route_message(self, raw_msg: str) -> None:
            frame, raw_msg = repaired(raw_msg)
            self.events.append(("in", frame[1]))
            await super().route_message(raw_msg)
            self.events.append(("out", frame[1]))

        @on("Heartbeat")
        async def on_heartbeat(self, call_unique_id: str) -> Any:
            self.events.append(("begins", call_unique_id))
            if call_unique_id == "slow":
                await asyncio.sleep(0.02)
            self.events.append(("ends", call_unique_id))
            return RESULTS[label].Heartbeat(current_time=NOW)

    return Csms


def repairing_whole(base: type[Any], label: str) -> type[Any]:
    """The same, its ``route_message`` written whole, without ``super()``: ``unpack``, then
    ``_handle_call`` for a CALL, as ``ocpp``'s own does (the drop-in's ``_handle_call`` is
    where the repaired CALL takes its turn then)."""

    class Csms(repairing(base, label)):  # type: ignore[misc]
        async def route_message(self, raw_msg: str) -> None:
            frame, raw_msg = repaired(raw_msg)
            self.events.append(("in", frame[1]))
            await routed_whole(self, raw_msg)
            self.events.append(("out", frame[1]))

    return Csms


async def answered(
    cls: type[Any], frames: list[str], expected: int, eager: bool = False
) -> tuple[list[Any], Any]:
    """Feed ``frames`` at once to ``start()`` (in a loop with an eager task factory if
    ``eager``); what it sent and recorded, once ``expected`` answers went out, and how
    ``start()`` ended."""
    if eager:
        asyncio.get_running_loop().set_task_factory(EAGER_FACTORY)
    sink = Sink()
    csms = cls("CP-1", sink)
    csms.events = []
    for frame in frames:
        sink.inbox.put_nowait(frame)
    reading = asyncio.ensure_future(csms.start())
    for _ in range(400):
        if len(sink.sent) >= expected or reading.done():
            break
        await asyncio.sleep(0.005)
    reading.cancel()
    ended: Any
    (ended,) = await asyncio.gather(reading, return_exceptions=True)
    csms.events.append(("ended", type(ended).__name__))
    return [msgspec.json.decode(text)[1] for text in sink.sent], csms.events


FRAMES = [
    '[2,"slow","Heartbeat",{}]',
    '["2","repaired","Heartbeat",{}]',
    '[2,"after","Heartbeat",{}]',
]


def handling(events: list[Any]) -> list[Any]:
    """The events but a frame's entry into ``route_message``: the drop-in reads on while a
    handler runs (so a handler's ``call()`` gets its answer, its documented difference), so a
    frame may enter before the CALL ahead of it is done; it is handled after it all the same."""
    return [event for event in events if event[0] != "in"]


@pytest.mark.parametrize("eager", [False, True], ids=["tasks", "eager-tasks"])
@pytest.mark.parametrize("backend", [repairing, repairing_whole], ids=["super", "whole"])
@pytest.mark.parametrize("label", ["1.6", "2.0.1"])
def test_a_repaired_call_waits_for_the_call_before_it_as_with_ocpp(
    label: str, backend: Any, eager: bool
) -> None:
    theirs, ours = (
        asyncio.run(answered(backend(base, label), FRAMES, 3, eager)) for base in BASES[label]
    )
    order = ["slow", "repaired", "after"]
    assert theirs == (
        order,
        [(step, unique_id) for unique_id in order for step in ("in", "begins", "ends", "out")]
        + [("ended", "CancelledError")],
    )
    assert ours[0] == theirs[0]
    assert handling(ours[1]) == handling(theirs[1])
    assert [event for event in ours[1] if event[0] == "in"] == [("in", name) for name in order]


def test_a_repaired_call_is_not_handled_after_the_call_before_it_ended_start() -> None:
    """The CALL before it fails (its sync ``@after`` hook raises, which ends ``start()`` with
    that exception once the CALL is answered): ``ocpp``'s ``start()`` never reads the
    repaired frame; the drop-in's read it, and does not handle it."""

    def failing(base: type[Any]) -> type[Any]:
        class Csms(repairing(base, "1.6")):  # type: ignore[misc]
            @after("Heartbeat")
            def broken_hook(self, call_unique_id: str) -> None:
                if call_unique_id == "slow":
                    raise RuntimeError("a bug in the hook")

        return Csms

    theirs, ours = (asyncio.run(answered(failing(base), FRAMES, 3)) for base in BASES["1.6"])
    ended = ("ended", "RuntimeError")
    assert theirs == (["slow"], [("in", "slow"), ("begins", "slow"), ("ends", "slow"), ended])
    assert ours == (["slow"], [*theirs[1][:2], ("in", "repaired"), ("ends", "slow"), ended])


class Asking:
    """A 1.6 CSMS whose ``slow`` Heartbeat handler asks the station something and waits for
    the answer, which the station sends after the broken frame."""

    events: list[Any]
    call: Any
    _unique_id_generator: Any

    async def on_heartbeat(self, call_unique_id: str) -> Any:
        self.events.append(("begins", call_unique_id))
        if call_unique_id == "slow":
            self._unique_id_generator = lambda: "c1"
            answer = await self.call(call16.GetLocalListVersion())
            self.events.append(("asked", answer.list_version))
        self.events.append(("ends", call_unique_id))
        return call_result16.Heartbeat(current_time=NOW)


def test_a_handlers_call_is_answered_while_a_repaired_call_waits_its_turn() -> None:
    """The drop-in reads on while the repaired CALL waits for the one before it, so that
    one's ``call()`` gets its answer, read after the broken frame (``ocpp``'s ``start()``
    reads nothing while a handler runs: its ``call()`` waits out its timeout). Had the
    repaired CALL been routed inline and waited there, nothing would be read meanwhile."""
    cls = repairing(v16.ChargePoint, "1.6")
    handler = on("Heartbeat")(Asking.on_heartbeat)
    asking = type("AskingCsms", (cls,), {"on_heartbeat": handler})
    frames = [FRAMES[0], FRAMES[1], '[3,"c1",{"listVersion":7}]']
    LOGGER.disabled = True  # the drop-in's INFO line per frame
    try:
        sent, events = asyncio.run(answered(asking, frames, 3))
    finally:
        LOGGER.disabled = False
    assert sent == ["c1", "slow", "repaired"]
    assert handling(events) == [
        ("begins", "slow"),
        ("out", "c1"),
        ("asked", 7),
        ("ends", "slow"),
        ("out", "slow"),
        ("begins", "repaired"),
        ("ends", "repaired"),
        ("out", "repaired"),
        ("ended", "CancelledError"),
    ]


def test_a_repaired_calls_handler_gets_the_answer_to_its_call() -> None:
    """The repaired CALL's own handler awaits ``call()``: ``start()`` reads on once it began,
    as for any CALL, so the answer reaches it (routed inline, nothing was read until the
    handler was done: its ``call()`` waited out its timeout, as with ``ocpp``)."""
    cls = repairing(v16.ChargePoint, "1.6")
    asking = type("AskingCsms", (cls,), {"on_heartbeat": on("Heartbeat")(Asking.on_heartbeat)})
    frames = ['["2","slow","Heartbeat",{}]', '[3,"c1",{"listVersion":7}]']
    LOGGER.disabled = True
    try:
        sent, events = asyncio.run(answered(asking, frames, 2))
    finally:
        LOGGER.disabled = False
    assert sent == ["c1", "slow"]
    assert ("asked", 7) in events


async def cancelled_while_waiting(cls: type[Any]) -> tuple[list[Any], list[Any], int]:
    """The CALL before the repaired one never ends; ``start()`` is cancelled meanwhile: what
    was sent, recorded, and how many tasks are left behind."""
    sink = Sink()
    csms = cls("CP-1", sink)
    csms.events = []
    for frame in ('[2,"hangs","Heartbeat",{}]', FRAMES[1]):
        sink.inbox.put_nowait(frame)
    reading = asyncio.ensure_future(csms.start())
    await asyncio.sleep(0.05)
    reading.cancel()
    ended: Any
    (ended,) = await asyncio.gather(reading, return_exceptions=True)
    csms.events.append(("ended", type(ended).__name__))
    await asyncio.sleep(0.01)
    left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    return sink.sent, csms.events, len(left)


def test_a_repaired_call_waiting_its_turn_is_cancelled_with_start() -> None:
    """Cancelled, ``start()`` cancels the repaired CALL waiting for its turn, as it does the
    CALLs it read: never handled, nothing answered, no task left running."""

    def hanging(base: type[Any]) -> type[Any]:
        class Csms(repairing(base, "1.6")):  # type: ignore[misc]
            @on("Heartbeat")
            async def on_heartbeat(self, call_unique_id: str) -> Any:
                self.events.append(("begins", call_unique_id))
                await asyncio.Event().wait()

        return Csms

    theirs, ours = (asyncio.run(cancelled_while_waiting(hanging(base))) for base in BASES["1.6"])
    assert theirs == ([], [("in", "hangs"), ("begins", "hangs"), ("ended", "CancelledError")], 0)
    assert ours[0] == theirs[0] and ours[2] == theirs[2]
    assert handling(ours[1]) == handling(theirs[1])
