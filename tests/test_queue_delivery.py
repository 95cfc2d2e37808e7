"""The transaction queue over real sockets: a lost CSMS, a killed station, a CSMS that errs.

What "exactly once" means here: the CSMS receives every queued event, in the
order the station made it, with ``seqNo`` contiguous from 0; an event is never
sent again once its CALLRESULT arrived. The one event on the wire when the
connection is cut (the CSMS stopped, the station killed) may have been
processed with its answer lost: the station sends it again, so it may arrive
twice, right after itself (the CSMS recognises it by transactionId and seqNo).
The tests allow that repeat only, at most one per cut.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from my_test_charge_system import MyTestChargeSystem
from queue_station import FAST, transaction_event

from ocpp_fast import errors, v16, v201
from ocpp_fast.transport import MessageRetry, Queued, StationClient, StillQueued, connect, serve
from ocpp_fast.transport.txqueue import MEMORY
from ocpp_fast.v16 import datatypes as datatypes16
from ocpp_fast.v16 import enums as enums16
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v201 import enums, messages

EVENTS = enums.TransactionEventEnumType
STATION = Path(__file__).with_name("queue_station.py")


class Recorder(MyTestChargeSystem):
    """A CSMS that records each TransactionEvent (seqNo, type, energy) and may refuse some."""

    def __init__(self, refuse: dict[int, int] | None = None, hold: int | None = None) -> None:
        super().__init__()
        self.events: list[tuple[int, str, int]] = []
        self.refuse = dict(refuse or {})
        """seqNo -> how many more times to answer it with an InternalError."""
        self.hold = hold
        """A seqNo whose first sending is never answered (the connection is cut under it)."""
        self.holding = asyncio.Event()

    async def transaction_event(
        self, request: messages.TransactionEventRequest
    ) -> messages.TransactionEventResponse:
        energy = request.meter_value[0].sampled_value[0].value if request.meter_value else -1
        self.events.append((request.seq_no, request.event_type.value, int(energy)))
        if self.refuse.get(request.seq_no, 0) > 0:
            self.refuse[request.seq_no] -= 1
            raise errors.InternalError("the database is down")
        if request.seq_no == self.hold:
            self.hold = None
            self.holding.set()
            await asyncio.Event().wait()  # until the server's close cancels it
        return await super().transaction_event(request)


def without_repeats(events: list[tuple[int, str, int]]) -> tuple[list[tuple[int, str, int]], int]:
    """The events with each immediate repeat removed, and how many were removed."""
    kept = [event for i, event in enumerate(events) if i == 0 or events[i - 1] != event]
    return kept, len(events) - len(kept)


def expected(last: int) -> list[tuple[int, str, int]]:
    """Started (seqNo 0), Updated 1..last-1, Ended ``last``: each seqNo its energy."""
    kinds = ["Started"] + ["Updated"] * (last - 1) + ["Ended"]
    return [(n, kind, n) for n, kind in enumerate(kinds)]


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_a_lost_csms_gets_every_event_once_in_order_when_it_returns(queue_path: str) -> None:
    """Online, then the CSMS stops (the station keeps charging), then it returns."""

    async def session() -> tuple[list[tuple[int, str, int]], int, bool]:
        csms = Recorder()
        server = await serve(csms)
        port = server.port
        url = f"ws://127.0.0.1:{port}/ocpp/CS001"
        retry = MessageRetry(attempts=3, interval=0.05, timeout=2)
        client = await connect(v201.Charger(), url, queue=queue_path, backoff=FAST, retry=retry)
        put = [client.put(transaction_event(EVENTS.STARTED, "T1", 0))]
        put += [client.put(transaction_event(EVENTS.UPDATED, "T1", n)) for n in (1, 2, 3)]
        await asyncio.gather(*put)
        await server.close()
        offline = [client.put(transaction_event(EVENTS.UPDATED, "T1", n)) for n in (4, 5, 6)]
        still_queued = False
        try:  # call() gives up waiting; the message stays queued
            await client.call(transaction_event(EVENTS.UPDATED, "T1", 7), timeout=0.2)
        except StillQueued as waited:  # said as a plain call's timeout is: what, how long
            still_queued = str(waited) == (
                "TransactionEventRequest not answered within 0.2 s: it stays queued, and the "
                "queue goes on delivering it"
            )
        queue = client.queue
        assert queue is not None and len(queue) == 4
        server = await serve(csms, port=port)
        try:
            await asyncio.gather(*offline)
            await client.call(transaction_event(EVENTS.ENDED, "T1", 8), timeout=10)
            return csms.events, len(queue), still_queued
        finally:
            await client.close()
            await server.close()

    events, left, still_queued = run(session())
    assert events == expected(8)  # nothing was in flight at the cut: strictly once each
    assert left == 0
    assert still_queued


def test_the_message_on_the_wire_when_the_csms_goes_is_sent_again(queue_path: str) -> None:
    """Its answer never came: processed or not, the station cannot know, so it resends."""

    async def session() -> list[tuple[int, str, int]]:
        csms = Recorder(hold=1)
        server = await serve(csms)
        port = server.port
        url = f"ws://127.0.0.1:{port}/ocpp/CS001"
        retry = MessageRetry(attempts=3, interval=0.05, timeout=5)
        client = await connect(v201.Charger(), url, queue=queue_path, backoff=FAST, retry=retry)
        kinds = [EVENTS.STARTED, EVENTS.UPDATED, EVENTS.ENDED]
        put = [client.put(transaction_event(kind, "T1", n)) for n, kind in enumerate(kinds)]
        await csms.holding.wait()
        await server.close(timeout=0.2)
        server = await serve(csms, port=port)
        try:
            await asyncio.gather(*put)
            return csms.events
        finally:
            await client.close()
            await server.close()

    events = run(session())
    assert events == [(0, "Started", 0), (1, "Updated", 1), (1, "Updated", 1), (2, "Ended", 2)]


def test_a_killed_station_restarted_on_its_queue_file_loses_nothing(tmp_path: Path) -> None:
    """The CSMS stops mid-transaction; the station, still queueing, is killed (kill -9);
    the CSMS returns, the station restarts on the same file and ends the transaction."""

    async def session() -> list[tuple[int, str, int]]:
        csms = Recorder()
        server = await serve(csms)
        port = server.port
        url = f"ws://127.0.0.1:{port}/ocpp/CS001"
        queue_file = str(tmp_path / "queue.sqlite")
        first = await station(url, queue_file, "0", "30")
        try:
            await read_until(first, "queued 10")
            await server.close()  # the CSMS is gone; the station keeps queueing
            await read_until(first, "queued 25")
            os.kill(first.pid, signal.SIGKILL)
            await first.wait()
        finally:
            if first.returncode is None:
                first.kill()
        server = await serve(csms, port=port)
        second = await station(url, queue_file, "30", "10", "end")
        try:
            await read_until(second, "drained")
            assert await asyncio.wait_for(second.wait(), 10) == 0
        finally:
            if second.returncode is None:
                second.kill()
            await server.close()
        return csms.events

    events = run(session())
    kept, repeats = without_repeats(events)
    # the station made Started, Updated 1..25 (at least) before the kill... and a
    # killed process cannot say how many of 26..30 it stored: those absent are
    # the ones it never put. Whatever was put arrives, in order, numbered on.
    put_before_kill = [n for n, kind, energy in kept if energy == n and energy <= 30]
    assert put_before_kill == list(range(len(put_before_kill)))
    assert len(put_before_kill) >= 26
    resumed = kept[len(put_before_kill) :]
    first_resumed = len(put_before_kill)
    # seqNo goes on from where the killed process stopped: contiguous, the energy follows
    assert [n for n, _, _ in resumed] == list(range(first_resumed, first_resumed + 11))
    assert [energy for _, _, energy in resumed] == list(range(31, 42))
    assert [kind for _, kind, _ in kept] == ["Started"] + ["Updated"] * (len(kept) - 2) + ["Ended"]
    assert repeats <= 2  # one per cut: the CSMS stopping, the station killed


async def station(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(STATION),
        args[0],
        args[1],
        "T1",
        *args[2:],
        stdout=asyncio.subprocess.PIPE,
    )


async def read_until(process: asyncio.subprocess.Process, line: str) -> None:
    """Read the station's output until ``line`` (10 s at most)."""
    assert process.stdout is not None
    async with asyncio.timeout(10):
        while (got := await process.stdout.readline()) and got.decode().strip() != line:
            pass
    assert got, f"the station ended before {line!r}"


def test_a_callerror_is_retried_then_the_message_dropped_and_logged(
    queue_path: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """seqNo 1 fails twice then passes (3 attempts allowed); seqNo 2 always fails: dropped."""

    async def session() -> tuple[list[tuple[int, str, int]], list[Any]]:
        csms = Recorder(refuse={1: 2, 2: 99})
        server = await serve(csms)
        retry = MessageRetry(attempts=3, interval=0.02, timeout=2)
        url = f"ws://127.0.0.1:{server.port}/ocpp/CS001"
        client = await connect(v201.Charger(), url, queue=queue_path, backoff=FAST, retry=retry)
        try:
            kinds = [EVENTS.STARTED, EVENTS.UPDATED, EVENTS.UPDATED, EVENTS.ENDED]
            put = [client.put(transaction_event(kind, "T1", n)) for n, kind in enumerate(kinds)]
            outcomes = await asyncio.gather(*put, return_exceptions=True)
            return csms.events, outcomes
        finally:
            await client.close()
            await server.close()

    with caplog.at_level(logging.WARNING, "ocpp_fast.transport"):
        events, outcomes = run(session())
    assert [n for n, _, _ in events] == [0, 1, 1, 1, 2, 2, 2, 3]
    assert isinstance(outcomes[1], messages.TransactionEventResponse)  # third time lucky
    assert isinstance(outcomes[2], errors.InternalError)
    dropped = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(dropped) == 1 and "dropped TransactionEvent" in dropped[0].getMessage()
    assert "after 3 attempts" in dropped[0].getMessage()


class Central16(v16.ChargeSystem):
    """A 1.6 CSMS that records the transaction messages it gets (action, reading, transaction)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str, int | None]] = []

    def start_transaction(
        self, request: messages16.StartTransactionRequest
    ) -> messages16.StartTransactionResponse:
        self.seen.append(("StartTransaction", str(request.meter_start), None))
        accepted = datatypes16.IdTagInfoType(status=enums16.IdTagInfoStatusEnum.ACCEPTED)
        return messages16.StartTransactionResponse(id_tag_info=accepted, transaction_id=7)

    def meter_values(
        self, request: messages16.MeterValuesRequest
    ) -> messages16.MeterValuesResponse:
        value = request.meter_value[0].sampled_value[0].value
        transaction = request.transaction_id if isinstance(request.transaction_id, int) else None
        self.seen.append(("MeterValues", value, transaction))
        return messages16.MeterValuesResponse()

    def stop_transaction(
        self, request: messages16.StopTransactionRequest
    ) -> messages16.StopTransactionResponse:
        self.seen.append(("StopTransaction", str(request.meter_stop), request.transaction_id))
        return messages16.StopTransactionResponse()


def test_ocpp16_a_transaction_made_offline_arrives_with_the_csms_transaction_id(
    queue_path: str,
) -> None:
    """1.6: StartTransaction, MeterValues and StopTransaction all put while the CSMS is away
    (the station uses the placeholder id) arrive in order, carrying the id the CSMS gave;
    a MeterValues without transactionId is not queued."""
    now = datetime.datetime.now(datetime.UTC)

    def meter(value: str, transaction_id: int | None) -> messages16.MeterValuesRequest:
        sampled = [datatypes16.MeterValueSampledValueType(value=value)]
        reading = [datatypes16.MeterValueType(timestamp=now, sampled_value=sampled)]
        if transaction_id is None:
            return messages16.MeterValuesRequest(connector_id=1, meter_value=reading)
        return messages16.MeterValuesRequest(
            connector_id=1, meter_value=reading, transaction_id=transaction_id
        )

    async def session() -> tuple[list[tuple[str, str, int | None]], int, bool, bool]:
        csms = Central16()
        server = await serve(csms)
        port = server.port
        url = f"ws://127.0.0.1:{port}/ocpp/CS001"
        client = await connect(v16.Charger(), url, queue=queue_path, backoff=FAST)
        await server.close()
        start = messages16.StartTransactionRequest(
            connector_id=1, id_tag="TAG", meter_start=100, timestamp=now
        )
        started = client.put(start)
        placeholder = started.transaction_id
        put: list[Queued[Any]] = [started]
        put += [client.put(meter(str(n), placeholder)) for n in (110, 120)]
        stop = messages16.StopTransactionRequest(
            meter_stop=130, timestamp=now, transaction_id=placeholder
        )
        put.append(client.put(stop))
        try:  # MeterValues of no transaction is never queued: put() refuses it
            client.put(meter("1", None))
            unbound_queued = True
        except ValueError as exc:
            unbound_queued = "send it with call()" not in str(exc)
        server = await serve(csms, port=port)
        try:
            await asyncio.wait_for(asyncio.gather(*put), 10)
            queue = client.queue
            return csms.seen, placeholder, unbound_queued, queue is not None and len(queue) == 0
        finally:
            await client.close()
            await server.close()

    seen, placeholder, unbound_queued, empty = run(session())
    assert placeholder < 0
    assert seen == [
        ("StartTransaction", "100", None),
        ("MeterValues", "110", 7),
        ("MeterValues", "120", 7),
        ("StopTransaction", "130", 7),
    ]
    assert not unbound_queued
    assert empty


def test_a_station_booting_while_the_csms_is_down_queues_and_delivers_once_started(
    queue_path: str,
) -> None:
    """put() needs no connection: a station that boots offline stores its events, and they go
    out once start() (retried by the firmware) gets through."""

    async def session() -> tuple[bool, list[tuple[int, str, int]]]:
        with socket.socket() as probe:  # a port nobody listens on, yet
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        csms = Recorder()
        url = f"ws://127.0.0.1:{port}/ocpp/CS001"
        client = StationClient({"ocpp2.0.1": v201.Charger()}, url, queue=queue_path, backoff=FAST)
        put = [client.put(transaction_event(EVENTS.STARTED, "T1", 0))]
        refused = False
        try:
            await client.start()
        except OSError:
            refused = True
        put.append(client.put(transaction_event(EVENTS.ENDED, "T1", 1)))
        server = await serve(csms, port=port)
        try:
            await client.start()
            await asyncio.wait_for(asyncio.gather(*put), 10)
            return refused, csms.events
        finally:
            await client.close()
            await server.close()

    refused, events = run(session())
    assert refused
    assert events == expected(1)


def test_what_closing_says_of_an_unanswered_message_depends_on_the_store(
    queue_path: str,
) -> None:
    """The StillQueued of a message left by ``close()`` said "for the next client on the file"
    of a memory queue too, whose messages no later process sends: it says which it is."""

    async def session() -> str:
        server = await serve(Recorder())
        url = f"ws://127.0.0.1:{server.port}/ocpp/CS001"
        client = await connect(v201.Charger(), url, queue=queue_path, backoff=FAST)
        await server.close()
        queued = client.put(transaction_event(EVENTS.STARTED, "T1", 0))
        await client.close()
        try:
            await queued
        except StillQueued as left:
            return str(left)
        raise AssertionError("answered by no CSMS")

    said = run(session())
    assert said.startswith("message 1 of the transaction queue was not answered before the ")
    if queue_path == MEMORY:
        assert said.endswith(
            "it stays queued, in memory only: a client given this TransactionQueue sends it, "
            "none after the process ends"
        )
    else:
        assert said.endswith("it stays queued, for the next client on the file")


def test_closing_the_client_ends_the_wait_of_an_unanswered_message_which_stays_queued(
    tmp_path: Path,
) -> None:
    """The CSMS is gone, an event is put, the station closes: whoever awaits that event (its
    Queued, or a call() of another task) hears StillQueued at once instead of waiting for
    good, and the event is still in the file for the next client."""

    async def session() -> tuple[list[str], int]:
        server = await serve(Recorder())
        url = f"ws://127.0.0.1:{server.port}/ocpp/CS001"
        queue_file = str(tmp_path / "queue.sqlite")
        client = await connect(v201.Charger(), url, queue=queue_file, backoff=FAST)
        await server.close()
        queued = client.put(transaction_event(EVENTS.STARTED, "T1", 0))
        calling = asyncio.create_task(client.call(transaction_event(EVENTS.ENDED, "T1", 1)))
        await asyncio.sleep(0)  # the call() is put and waiting
        await client.close()
        heard = []
        for waited in (asyncio.ensure_future(queued), calling):
            try:
                await waited
            except StillQueued:
                heard.append("StillQueued")
        reopened = StationClient(v201.Charger(), url, queue=queue_file)
        try:
            left = len(reopened.queue or ())
        finally:
            await reopened.close()
        return heard, left

    heard, left = run(session())
    assert heard == ["StillQueued", "StillQueued"]
    assert left == 2
