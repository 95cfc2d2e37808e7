"""A simulated station's transaction messages go through its own transaction queue
(``StationClient.put``), the one real station firmware uses: what the CSMS failed is sent again
per the run's ``retry``, a lost connection is no attempt (the message goes out again once
reconnected, in order), and the report still counts every sending and every message given up.
Against a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ocpp_fast import errors
from ocpp_fast.demo import DemoChargeSystem, DemoChargeSystem16
from ocpp_fast.dispatch import CallContext
from ocpp_fast.simulator import FAILURES_SHOWN, SimulationReport, simulate
from ocpp_fast.transport import CsmsServer, MessageRetry, serve
from ocpp_fast.transport._sender import ATTEMPT_FAILED
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v201 import datatypes, enums, messages


class Ledger:
    """What the CSMS took, per station, in the order it answered it; the first sending of
    each message (by its payload: a message sent again has the same) is refused by ``refuse``."""

    def __init__(self) -> None:
        self.first: set[bytes] = set()
        self.taken: defaultdict[str, list[bytes]] = defaultdict(list)
        self.refused: set[bytes] = set()

    def seen_first(self, identity: str, request: Any) -> bytes | None:
        """The message's key on its first sending; ``None`` on a later one."""
        key = identity.encode() + msgspec.json.encode(request)
        if key in self.first:
            return None
        self.first.add(key)
        return key

    def take(self, identity: str, request: Any) -> None:
        self.taken[identity].append(msgspec.json.encode(request))


class CallErrorFirst201(DemoChargeSystem):
    """Answers the first sending of each TransactionEvent with a CALLERROR, then takes it."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def transaction_event(
        self, request: messages.TransactionEventRequest, context: CallContext
    ) -> messages.TransactionEventResponse:
        key = self.ledger.seen_first(context.identity, request)
        if key is not None:
            self.ledger.refused.add(key)
            raise errors.InternalError("the store failed, send it again")
        self.ledger.take(context.identity, request)
        return self.default_transaction_event(request)


class CallErrorFirst16(DemoChargeSystem16):
    """The same for 1.6's StartTransaction, StopTransaction and a transaction's MeterValues."""

    def __init__(self, ledger: Ledger) -> None:
        super().__init__()
        self.ledger = ledger

    def _refused_first(self, identity: str, request: Any) -> None:
        key = self.ledger.seen_first(identity, request)
        if key is not None:
            self.ledger.refused.add(key)
            raise errors.InternalError("the store failed, send it again")
        self.ledger.take(identity, request)

    def start_transaction(
        self, request: messages16.StartTransactionRequest, context: CallContext
    ) -> messages16.StartTransactionResponse:
        self._refused_first(context.identity, request)
        return self.default_start_transaction(request)

    def stop_transaction(
        self, request: messages16.StopTransactionRequest, context: CallContext
    ) -> messages16.StopTransactionResponse:
        self._refused_first(context.identity, request)
        return self.default_stop_transaction(request)

    def meter_values(
        self, request: messages16.MeterValuesRequest, context: CallContext
    ) -> messages16.MeterValuesResponse:
        if request.transaction_id is not msgspec.UNSET:
            self._refused_first(context.identity, request)
        return self.default_meter_values(request)


def simulated(
    csms: Any, chargers: int, seconds: float, tell: bool = False, **options: Any
) -> SimulationReport:
    """``simulate`` ``chargers`` stations, a message every 0.05 s, for ``seconds`` against
    ``csms`` served on 127.0.0.1 (told its server as ``csms.server`` when ``tell``); the server
    closed after."""

    async def main() -> SimulationReport:
        server = await serve(csms)
        if tell:
            csms.server = server
        try:
            url = f"ws://127.0.0.1:{server.port}/ocpp"
            return await simulate(url, chargers, seconds, interval=0.05, **options)
        finally:
            await server.close(1)

    return asyncio.run(asyncio.wait_for(main(), 30))


def _in_order_once(taken: list[bytes], version: str) -> None:
    """Each message taken once, and each transaction's in the order the station made them."""
    assert len(taken) == len(set(taken)), "a message was taken twice"
    if version == "2.0.1":
        seq_nos: defaultdict[str, list[int]] = defaultdict(list)
        for payload in taken:
            event = msgspec.json.decode(payload)
            seq_nos[event["transactionInfo"]["transactionId"]].append(event["seqNo"])
        for transaction, numbers in seq_nos.items():
            assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), transaction
        return
    order: list[str] = []  # 1.6: start, its meter values, its stop; then the next
    for payload in taken:
        message = msgspec.json.decode(payload)
        order.append("start" if "idTag" in message and "meterStart" in message else "other")
    for before, after in itertools.pairwise(order):
        assert not (before == "start" and after == "start"), order  # a start with no stop


def test_a_callerror_then_an_accept_delivers_each_message_once_in_order() -> None:
    """The CSMS refuses the first sending of every transaction message (1.6 and 2.0.1) and
    takes the second: each arrives exactly once, in its transaction's order; each refusal is
    an error of the report, and none is said dropped."""
    ledger = Ledger()

    report = simulated(
        {"ocpp2.0.1": CallErrorFirst201(ledger), "ocpp1.6": CallErrorFirst16(ledger)},
        4,
        3.0,
        versions=["1.6", "2.0.1"],
        actions="core",
        retry=MessageRetry(attempts=2, interval=0.05),
    )
    refused = sum(n for key, n in report.errors.items() if key.endswith(": InternalError"))
    assert refused == len(ledger.refused) > 0, report.table()
    assert not [key for key in report.errors if "dropped" in key], report.table()
    taken = {key for keys in ledger.taken.values() for key in keys}
    for identity, keys in ledger.taken.items():
        _in_order_once(keys, "1.6" if int(identity[3:]) % 2 == 0 else "2.0.1")
    lost = {key for key in ledger.refused if key[8:] not in {t for t in taken}}
    assert len(lost) <= sum(report.still_queued.values()) + sum(report.unanswered.values())
    # each refused one taken later was answered when sent again (the first sendings of
    # others behind it were not sent again: no more retried than refused and taken)
    assert 0 < sum(report.retried.values()) <= len(ledger.refused) - len(lost), report.table()


class DropsTheLine(DemoChargeSystem):
    """Closes the station's connection instead of answering the first sending of each
    TransactionEvent Updated: the station lost its CSMS mid-transaction."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.server: CsmsServer | None = None
        self.closing: set[asyncio.Task[None]] = set()

    async def transaction_event(
        self, request: messages.TransactionEventRequest, context: CallContext
    ) -> messages.TransactionEventResponse:
        if request.event_type == "Updated" and self.ledger.seen_first(context.identity, request):
            assert self.server is not None
            closing = asyncio.create_task(self.server.disconnect(context.identity, 1011))
            self.closing.add(closing)
            closing.add_done_callback(self.closing.discard)
            await asyncio.sleep(30)  # never answered: cancelled with the connection
        self.ledger.take(context.identity, request)
        return self.default_transaction_event(request)


def test_a_message_lost_with_its_connection_is_no_attempt() -> None:
    """A TransactionEvent whose connection dropped before its answer goes out again once the
    station is back, even with no retry at all (``attempts=1``): a lost connection is no
    attempt for the station's queue, where the simulator's own loop counted it one and, with
    its sendings spent, dropped the message. Each arrives once, in order."""
    ledger = Ledger()
    csms = DropsTheLine(ledger)

    report = simulated(
        csms,
        2,
        4.0,
        tell=True,
        actions="TransactionEvent",
        retry=MessageRetry(attempts=1, interval=0.05),
    )
    assert ledger.first, "no transaction message was cut"
    assert not [key for key in report.errors if "dropped" in key], report.table()
    assert report.connections_lost >= 1, report.table()
    # a lost connection is no error of the message it cut: the queue sent it again, and the
    # report says it was answered so (it counted a ConnectionError, an error of the run)
    assert not [key for key in report.errors if key.startswith("TransactionEvent")], report.table()
    taken = {identity.encode() + key for identity, keys in ledger.taken.items() for key in keys}
    cut = {key for key in ledger.first if key not in taken}
    assert report.retried == {"TransactionEvent": len(ledger.first) - len(cut)}, report.table()
    assert report.retried["TransactionEvent"] > 0, report.table()
    # each one cut off was sent again and taken, bar the last, which the run's end may hold
    held = sum(report.still_queued.values()) + sum(report.unanswered.values())
    assert len(cut) <= held, (len(cut), report.table())
    for keys in ledger.taken.values():
        _in_order_once(keys, "2.0.1")


class AlwaysFails(DemoChargeSystem):
    def transaction_event(
        self, request: messages.TransactionEventRequest
    ) -> messages.TransactionEventResponse:
        raise errors.InternalError("the store is down")


def test_the_queues_lines_are_summarized_and_no_file_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Each station's queue is in memory (no SQLite database at all, no directory needed, no
    file left in the working one); its WARNING per failed sending, by the hundred when a CSMS
    fails, is let through :data:`~ocpp_fast.simulator.FAILURES_SHOWN` per action per window,
    the rest counted in one line."""
    opened: list[str] = []
    connect = sqlite3.connect

    def spied(path: str, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        opened.append(path)
        connection: sqlite3.Connection = connect(path, *args, **kwargs)
        return connection

    monkeypatch.setattr(sqlite3, "connect", spied)  # the module txqueue opens its store with
    monkeypatch.chdir(tmp_path)

    with caplog.at_level(logging.WARNING, logger="ocpp_fast.transport"):
        report = simulated(
            AlwaysFails(), 6, 2.0, actions="core", retry=MessageRetry(attempts=3, interval=0.02)
        )
    assert opened == []  # the in-memory store, not SQLite's ":memory:" (6 stations, 6 queues)
    assert list(tmp_path.iterdir()) == []
    failed = report.errors["TransactionEvent: InternalError"]
    assert failed > FAILURES_SHOWN, report.table()
    shown = [r for r in caplog.records if r.msg.endswith(ATTEMPT_FAILED)]
    assert len(shown) == FAILURES_SHOWN, [r.getMessage() for r in shown]
    said = [r.getMessage() for r in caplog.records if "TransactionEvent failed" in r.getMessage()]
    assert said and "more TransactionEvent failed messages suppressed" in said[-1], said


def test_without_the_queue_each_transaction_message_is_sent_once() -> None:
    """``simulate(queue=False)``, a load generator's choice: no station opens a queue, and
    a transaction message the CSMS refused is counted, not sent again (the CSMS saw each
    message once)."""
    ledger = Ledger()

    report = simulated(
        CallErrorFirst201(ledger),
        3,
        2.0,
        actions="core",
        retry=MessageRetry(attempts=3, interval=0.05),
        queue=False,
    )
    refused = sum(n for key, n in report.errors.items() if key.endswith(": InternalError"))
    assert refused == len(ledger.refused) > 0, report.table()
    assert not ledger.taken  # each sent once: its first sending, refused
    assert report.not_sent.get("TransactionEvent", 0) == 0


async def _remote_start_accepted(server: CsmsServer) -> None:
    """Start a transaction on SIM00000 by RequestStartTransaction, asked again until the
    station is connected and its boot accepted (it answers Rejected before)."""
    token = datatypes.IdTokenType(id_token="04A1", type=enums.IdTokenEnumType.ISO14443)
    start = messages.RequestStartTransactionRequest(id_token=token, remote_start_id=1)
    while True:
        if "SIM00000" in server.connections:
            answer = await server.call("SIM00000", start, timeout=5)
            if answer.status == "Accepted":
                return
        await asyncio.sleep(0.02)


class HangsTransactions(DemoChargeSystem):
    """Never answers a TransactionEvent (its handler waits for good); tells the transaction id
    of the first one it got."""

    def __init__(self) -> None:
        self.transaction: asyncio.Future[str] | None = None

    async def transaction_event(
        self, request: messages.TransactionEventRequest
    ) -> messages.TransactionEventResponse:
        if self.transaction is not None and not self.transaction.done():
            self.transaction.set_result(request.transaction_info.transaction_id)
        await asyncio.Event().wait()
        raise AssertionError("never answered")


def test_at_the_end_the_queued_message_on_the_wire_is_unanswered_and_the_one_behind_not_sent() -> (
    None
):
    """A remote start's TransactionEvent Started hangs at the CSMS; the remote stop's Ended is
    put behind it, never sent (one CALL outstanding). The station's own traffic is idle (a
    long interval): its run ends at the end and it closes its client, with the Started on the
    wire. The report says what the CSMS saw: the Started sent and unanswered, the Ended not
    sent (both were counted not sent, the queue's wait for them cut as the client closed)."""
    csms = HangsTransactions()

    async def carry_out(server: CsmsServer) -> None:
        csms.transaction = asyncio.get_running_loop().create_future()
        await _remote_start_accepted(server)
        transaction = await csms.transaction  # the Started, on the wire, hangs
        stop = messages.RequestStopTransactionRequest(transaction_id=transaction)
        assert (await server.call("SIM00000", stop, timeout=5)).status == "Accepted"

    async def main() -> SimulationReport:
        server = await serve(csms)
        try:
            carrying_out = asyncio.create_task(carry_out(server))
            url = f"ws://127.0.0.1:{server.port}/ocpp"
            report = await simulate(url, 1, 1.5, interval=60, actions=["Heartbeat"])
            await carrying_out  # done long before the end
            return report
        finally:
            await server.close(0.1)

    report = asyncio.run(asyncio.wait_for(main(), 30))
    assert report.unanswered == {"TransactionEvent": 1}, report.table()
    assert report.not_sent == {"TransactionEvent": 1}, report.table()
    assert report.still_queued == {} and report.errors == {}, report.table()
    assert not report.ok


class AnswersLate(DemoChargeSystem):
    """Answers each TransactionEvent ``late`` seconds after ``until`` (a ``loop.time()``, set
    by the test: the run's end), so that it is on the wire when the run ends."""

    def __init__(self, late: float) -> None:
        self.late = late
        self.until = 0.0
        self.got: asyncio.Future[str] | None = None
        self.answered = 0

    async def transaction_event(
        self, request: messages.TransactionEventRequest
    ) -> messages.TransactionEventResponse:
        if self.got is not None and not self.got.done():
            self.got.set_result(request.transaction_info.transaction_id)
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, self.until + self.late - loop.time()))
        self.answered += 1
        return self.default_transaction_event(request)


def test_an_idle_station_winds_down_its_queued_message_on_the_wire() -> None:
    """A remote start's TransactionEvent Started is on the wire at the run's end, its answer
    due 0.4 s after it; the station's own traffic is idle (a long interval). It gets the
    wind-down a busy station gets: it sends nothing new, waits for the answer, then closes, so
    the Started is answered, not cut off as ``unanswered`` (an idle station closed its client
    at the end at once)."""
    csms = AnswersLate(0.4)
    duration = 1.5

    async def start_remotely(server: CsmsServer) -> None:
        csms.got = asyncio.get_running_loop().create_future()
        await _remote_start_accepted(server)
        await csms.got

    async def main() -> SimulationReport:
        server = await serve(csms)
        try:
            csms.until = asyncio.get_running_loop().time() + duration
            starting = asyncio.create_task(start_remotely(server))
            url = f"ws://127.0.0.1:{server.port}/ocpp"
            report = await simulate(url, 1, duration, interval=60, actions=["Heartbeat"])
            await starting  # done long before the end
            return report
        finally:
            await server.close(0.1)

    report = asyncio.run(asyncio.wait_for(main(), 30))
    assert report.unanswered == {} and report.not_sent == {}, report.table()
    assert csms.answered == 1
    assert report.still_queued == {} and report.errors == {}, report.table()
    assert report.messages == 2 and report.ok, report.table()  # the boot and the Started
