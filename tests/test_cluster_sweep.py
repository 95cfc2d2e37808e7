"""The NATS link's timeouts without a clock read per request: the requests made between two
sweeps are a batch the second sweep dates; each fails no earlier than its timeout and at
most two sweeps after it (on a loop whose time the test moves)."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from nats.errors import TimeoutError as NatsTimeout

from ocpp_fast.cluster import _link_bytes_py, _nats_link
from ocpp_fast.cluster._nats_link import SWEEP_EVERY, NatsLink

try:
    from ocpp_fast.cluster import _link_bytes_c
except ImportError:  # pragma: no cover - built by `make build-ext`
    _link_bytes_c = None  # type: ignore[assignment]

TWINS = [twin for twin in (_link_bytes_py, _link_bytes_c) if twin is not None]


class Clock:
    """A loop whose time only the test moves; its timers run in order as it moves."""

    def __init__(self) -> None:
        self.now = 0.0
        self.reads = 0
        self.timers: list[tuple[float, int, Callable[..., object], tuple[object, ...]]] = []
        self._order = itertools.count()

    def time(self) -> float:
        self.reads += 1
        return self.now

    def is_running(self) -> bool:
        return True

    def call_later(self, delay: float, callback: Callable[..., object], *args: object) -> object:
        heapq.heappush(self.timers, (self.now + delay, next(self._order), callback, args))
        return self

    def cancel(self) -> None:  # the sweeper's handle (only _fail_waiting cancels it)
        self.timers.clear()

    def advance(self, to: float) -> None:
        while self.timers and self.timers[0][0] <= to:
            when, _, callback, args = heapq.heappop(self.timers)
            self.now = when
            callback(*args)
        self.now = to


class Wire:
    def __init__(self, loop: Clock) -> None:
        self.loop = loop
        self.writer = self
        self.sent = 0

    def send(self, data: bytes, gather: bool = False) -> None:
        self.sent += 1


def _link(clock: Clock) -> NatsLink:
    link = NatsLink("nats://127.0.0.1:4222", {}, "sweep")
    link._wire = Wire(clock)  # type: ignore[assignment]
    return link


@pytest.fixture(params=TWINS, ids=lambda twin: twin.__name__.rsplit(".", 1)[-1])
def twin(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The link's ``Ack`` each twin's, as the link runs with the twin in use."""
    monkeypatch.setattr(_nats_link, "_link_bytes", request.param)
    return request.param


def test_a_request_reads_no_clock_and_makes_no_timer(twin: Any) -> None:
    clock = Clock()
    link = _link(clock)
    for _ in range(50):
        link.request_bytes(b"s", b"x", 5.0, None, True, True)
    assert clock.reads == 0 and len(clock.timers) == 1
    assert link._open == {5.0: list(range(50))} and not link._deadlines
    clock.advance(SWEEP_EVERY)
    assert clock.reads == 1 and not link._open
    assert [(deadline, list(batch)) for deadline, batch in link._deadlines[5.0]] == [
        (SWEEP_EVERY + 5.0, list(range(50)))
    ]


def test_each_request_fails_after_its_timeout_within_two_sweeps(twin: Any) -> None:
    """Requests made at uneven times with two timeouts, a few answered: each unanswered one
    fails between its timeout and two sweeps after it; the answered ones are never failed;
    once all are past, no sweep is left and nothing is kept."""
    clock = Clock()
    link = _link(clock)
    made: dict[int, tuple[float, float, Any]] = {}
    failed: dict[int, float] = {}
    answered = set(range(0, 120, 7))
    step = 0.001
    for tick in itertools.count():
        clock.advance(tick * step)
        n = len(made)
        if n < 120 and n * 0.013 <= clock.now:
            timeout = 0.3 if n % 3 else 1.0
            ack = link.request_bytes(b"s", b"x", timeout, None, True, True)
            made[n] = (clock.now, timeout, ack)
            if n in answered:  # its reply read at once
                waiter: Any = link._waiting.pop(n)  # an Ack: the reply's bytes
                waiter.set_result(b"ok")
        for n, (_, _, ack) in made.items():
            if n not in failed and n not in answered and ack.done():
                assert isinstance(ack.exception(), NatsTimeout)
                failed[n] = clock.now
        if len(made) == 120 and not clock.timers:
            break
    assert sorted(failed) == sorted(set(made) - answered)
    for n, at in failed.items():
        started, timeout, _ = made[n]
        assert timeout <= at - started <= timeout + 2 * SWEEP_EVERY + step, n
    assert all(made[n][2].result() == b"ok" for n in answered)
    assert not link._waiting and not link._open and not link._deadlines
    assert link._sweeper is None


def test_losing_nats_forgets_the_batches_and_the_next_request_sweeps_again(twin: Any) -> None:
    clock = Clock()
    link = _link(clock)
    first = link.request_bytes(b"s", b"x", 0.2, None, True, True)
    clock.advance(SWEEP_EVERY)
    link.request_bytes(b"s", b"x", 0.2, None, True, True)
    link._fail_waiting("gone")
    assert isinstance(first.exception(), ConnectionError)
    assert not link._open and not link._deadlines and link._sweeper is None
    again = link.request_bytes(b"s", b"x", 0.2, None, True, True)
    assert link._sweeper is not None
    clock.advance(clock.now + 0.2 + 2 * SWEEP_EVERY)
    assert isinstance(again.exception(), NatsTimeout)
