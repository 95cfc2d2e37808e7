"""A station process for the queue tests: one transaction, its events put in a queue file.

``python queue_station.py URL QUEUE TRANSACTION FIRST COUNT [end]`` connects
with ``queue=QUEUE``, puts a TransactionEvent Started when ``FIRST`` is 0,
then ``COUNT`` Updated events (meter value ``FIRST + 1`` onwards, one every
20 ms, printing ``queued N`` once each is stored), an Ended if asked, and
waits until the queue is empty (``drained``). The tests kill it with SIGKILL
in the middle and start it again on the same file.

Each event's energy reading is its place in the transaction (Started 0,
Updated 1, 2, ...), so the CSMS can check that the ``seqNo`` the queue gave
each event matches the order the station made them in.
"""

from __future__ import annotations

import asyncio
import datetime
import sys

from ocpp_fast import v201
from ocpp_fast.transport import Backoff, MessageRetry, connect
from ocpp_fast.v201 import datatypes, enums, messages

FAST = Backoff(minimum=0.05, random_range=0.05, repeat_times=2)
RETRY = MessageRetry(attempts=3, interval=0.05, timeout=2.0)


def transaction_event(
    event: enums.TransactionEventEnumType, transaction: str, energy: int
) -> messages.TransactionEventRequest:
    """A TransactionEvent with ``energy`` Wh; ``seqNo`` 0 (the queue numbers it)."""
    now = datetime.datetime.now(datetime.UTC)
    return messages.TransactionEventRequest(
        event_type=event,
        timestamp=now,
        trigger_reason=enums.TriggerReasonEnumType.METER_VALUE_PERIODIC,
        seq_no=0,
        transaction_info=datatypes.TransactionType(transaction_id=transaction),
        meter_value=[
            datatypes.MeterValueType(
                timestamp=now, sampled_value=[datatypes.SampledValueType(value=float(energy))]
            )
        ],
    )


async def main(url: str, path: str, transaction: str, first: int, count: int, end: bool) -> None:
    client = await connect(v201.Charger(), url, queue=path, backoff=FAST, retry=RETRY)
    events = enums.TransactionEventEnumType
    if first == 0:
        client.put(transaction_event(events.STARTED, transaction, 0))
    for energy in range(first + 1, first + 1 + count):
        client.put(transaction_event(events.UPDATED, transaction, energy))
        print("queued", energy, flush=True)
        await asyncio.sleep(0.02)
    if end:
        client.put(transaction_event(events.ENDED, transaction, first + 1 + count))
    queue = client.queue
    assert queue is not None
    while len(queue):
        await asyncio.sleep(0.02)
    print("drained", flush=True)
    await client.close()


if __name__ == "__main__":
    url, path, transaction, first, count, *rest = sys.argv[1:]
    asyncio.run(main(url, path, transaction, int(first), int(count), rest == ["end"]))
