"""A simulated station sends a transaction message the CSMS failed again, as OCPP asks of a
station (``MessageAttempts``, ``TransactionMessageAttempts``): a TransactionEvent answered
InternalError (a cluster's worker killed mid-handler) was dropped, its seqNo a gap the CSMS's
handler never filled. Against a real server on 127.0.0.1, 1.6 and 2.0.1 stations together."""

from __future__ import annotations

import asyncio
import logging
import math
from collections import defaultdict
from typing import Any

import msgspec
import pytest

from ocpp_fast import errors
from ocpp_fast.demo import DemoChargeSystem, DemoChargeSystem16
from ocpp_fast.dispatch import CallContext
from ocpp_fast.simulator import SimulationReport, simulate
from ocpp_fast.transport import MessageRetry, serve
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v201 import messages


class FailsFirst:
    """Fails the first sending of every transaction message (the same request sent again has
    the same payload) and keeps those it took."""

    def __init__(self) -> None:
        self.failed: set[bytes] = set()
        self.taken: set[bytes] = set()
        self.seq_nos: defaultdict[tuple[str, str], list[int]] = defaultdict(list)

    def take(self, identity: str, request: Any) -> None:
        key = identity.encode() + msgspec.json.encode(request)
        if key not in self.failed:
            self.failed.add(key)
            raise errors.InternalError("the store failed, send it again")
        self.taken.add(key)


class Csms201(DemoChargeSystem):
    def __init__(self, seen: FailsFirst) -> None:
        self.seen = seen

    def transaction_event(
        self, request: messages.TransactionEventRequest, context: CallContext
    ) -> messages.TransactionEventResponse:
        self.seen.take(context.identity, request)
        transaction = (context.identity, request.transaction_info.transaction_id)
        self.seen.seq_nos[transaction].append(request.seq_no)
        return self.default_transaction_event(request)


class Csms16(DemoChargeSystem16):
    def __init__(self, seen: FailsFirst) -> None:
        super().__init__()
        self.seen = seen

    def start_transaction(
        self, request: messages16.StartTransactionRequest, context: CallContext
    ) -> messages16.StartTransactionResponse:
        self.seen.take(context.identity, request)
        return self.default_start_transaction(request)

    def stop_transaction(
        self, request: messages16.StopTransactionRequest, context: CallContext
    ) -> messages16.StopTransactionResponse:
        self.seen.take(context.identity, request)
        return self.default_stop_transaction(request)


def test_transaction_messages_answered_internal_error_are_sent_again() -> None:
    seen = FailsFirst()

    async def main() -> SimulationReport:
        server = await serve({"ocpp2.0.1": Csms201(seen), "ocpp1.6": Csms16(seen)})
        try:
            url = f"ws://127.0.0.1:{server.port}/ocpp"
            return await simulate(
                url,
                6,
                3.0,
                interval=0.05,
                versions=["1.6", "2.0.1"],
                actions="core",
                retry=MessageRetry(attempts=3, interval=0.05),
            )
        finally:
            await server.close(1)

    report = asyncio.run(asyncio.wait_for(main(), 30))
    failed = sum(n for key, n in report.errors.items() if key.endswith(": InternalError"))
    assert failed == len(seen.failed) > 0, report.table()  # each failed sending still counted
    assert {key.split(":")[0] for key in report.errors} >= {
        "TransactionEvent",
        "StartTransaction",
        "StopTransaction",
    }, report.table()
    # every one failed was taken on a later sending, bar those the run's end cut off
    lost = seen.failed - seen.taken
    cut = sum(report.not_sent.values()) + sum(report.unanswered.values())
    cut += sum(report.still_queued.values())
    assert len(lost) <= cut, (len(lost), report.table())
    for transaction, seq_nos in seen.seq_nos.items():  # no gap: every event reached the CSMS
        assert seq_nos == list(range(seq_nos[0], seq_nos[0] + len(seq_nos))), transaction


class FailsAlways(DemoChargeSystem):
    def transaction_event(
        self, request: messages.TransactionEventRequest
    ) -> messages.TransactionEventResponse:
        raise errors.InternalError("the store is down")


def test_a_transaction_message_failed_at_every_sending_is_said_dropped() -> None:
    """Three sendings failed: the first two are errors as any, the last one's error says the
    station dropped the message (data the CSMS never got), apart from the failures it got
    over."""

    async def main() -> SimulationReport:
        server = await serve(FailsAlways())
        try:
            url = f"ws://127.0.0.1:{server.port}/ocpp"
            retry = MessageRetry(attempts=3, interval=0.05)
            return await simulate(url, 1, 2.0, interval=0.05, actions="core", retry=retry)
        finally:
            await server.close(1)

    report = asyncio.run(asyncio.wait_for(main(), 30))
    dropped = report.errors["TransactionEvent: InternalError, dropped after 3 sendings"]
    retried = report.errors["TransactionEvent: InternalError"]
    assert dropped >= 1, report.table()
    assert 2 * dropped <= retried <= 2 * dropped + 2, report.table()  # the end may cut one
    assert set(report.errors) == {
        "TransactionEvent: InternalError",
        "TransactionEvent: InternalError, dropped after 3 sendings",
    }, report.table()


class Refuses(DemoChargeSystem):
    def transaction_event(
        self, request: messages.TransactionEventRequest
    ) -> messages.TransactionEventResponse:
        raise errors.NotSupportedError("TransactionEvent is not handled by this CSMS")


def test_a_message_the_csms_never_takes_is_said_dropped_without_retries_pretended(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A CSMS that answers NotSupported: the station drops the message at once (no sending
    mends it), and its line says so with the CSMS's code and words. It read ``dropped
    TransactionEvent 4 of transaction '...' after 1 attempts: NotSupportedError('...', {...})``
    under three attempts: retries that never came, in the exception's repr."""

    async def main() -> SimulationReport:
        server = await serve(Refuses())
        try:
            url = f"ws://127.0.0.1:{server.port}/ocpp"
            retry = MessageRetry(attempts=3, interval=0.05)
            return await simulate(url, 1, 1.0, interval=0.05, actions="core", retry=retry)
        finally:
            await server.close(1)

    caplog.set_level(logging.ERROR, logger="ocpp_fast.transport")
    asyncio.run(asyncio.wait_for(main(), 30))
    said = [r.getMessage() for r in caplog.records if "dropped TransactionEvent" in r.getMessage()]
    assert said, [r.getMessage() for r in caplog.records]
    assert all(
        line.endswith(
            ": the CSMS answered NotSupported (TransactionEvent is not handled by this CSMS),"
            " not sent again"
        )
        for line in said
    ), said


def test_a_message_waiting_to_be_sent_again_at_a_stop_is_still_queued() -> None:
    """Stopped while the station waits 30 s to send a failed TransactionEvent again: the end
    cancels the wait, and the message, which the CSMS saw and failed, is counted still queued
    (where it vanished from the report, and was then counted not sent, as if the CSMS had
    never seen it); the run is no success."""
    stop = asyncio.Event()

    class FailsThenStops(FailsAlways):
        def transaction_event(
            self, request: messages.TransactionEventRequest
        ) -> messages.TransactionEventResponse:
            asyncio.get_running_loop().call_later(0.2, stop.set)
            return super().transaction_event(request)

    async def main() -> SimulationReport:
        server = await serve(FailsThenStops())
        try:
            url = f"ws://127.0.0.1:{server.port}/ocpp"
            return await simulate(
                url,
                1,
                math.inf,
                interval=0.05,
                actions="core",
                stop=stop,
                handle_signals=False,
                retry=MessageRetry(attempts=3, interval=30),
            )
        finally:
            await server.close(1)

    report = asyncio.run(asyncio.wait_for(main(), 30))
    assert report.errors == {"TransactionEvent: InternalError": 1}, report.table()
    assert report.still_queued == {"TransactionEvent": 1}, report.table()
    assert report.not_sent == {} and report.unanswered == {} and not report.ok
    lines = report.table().splitlines()
    row = lines.index("still queued at the end        1")
    assert lines[row + 1] == "  1  TransactionEvent"
