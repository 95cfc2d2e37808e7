"""``benchmarks/store_calls.py``'s batched count measures what it says: CALLs of many stations
fed in one turn share the link's writes (one per batch, as at saturation) and are all
answered, by both gates; the same harness not storing them writes nothing to NATS. Run
natively here (the count itself runs it under callgrind)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import store_calls  # noqa: E402  # benchmarks/ is no package

from ocpp_fast.cluster import Gateway  # noqa: E402
from ocpp_fast.transport.runtime import run  # noqa: E402

STATIONS = 8
BATCHES = 5


class Written:
    """The link's transport, its writes kept."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.transport.write(data)

    def writelines(self, data: list[bytes]) -> None:
        self.write(b"".join(data))

    def is_closing(self) -> bool:
        return bool(self.transport.is_closing())


def batches(url: str, path: store_calls.Counted) -> dict[str, Any]:
    """The link's writes and requests over ``BATCHES`` batches of ``STATIONS`` CALLs."""

    async def work(gateway: Gateway, feed: store_calls.Feed) -> dict[str, Any]:
        link = gateway.relay._link
        assert link is not None and link._wire is not None  # the relay's own link, connected
        writer = link._wire.writer
        transport = writer.transport
        writer.transport = seen = Written(transport)
        before = (link.window_writes, gateway.relay.storing.count)
        for frame in store_calls.frames(BATCHES, 50):
            await asyncio.wait_for(feed([frame] * STATIONS), 10)
        writer.transport = transport
        return {
            "window writes": link.window_writes - before[0],
            "stores": gateway.relay.storing.count - before[1],
            "publishes": [data.count(b"HPUB ocpp.events.") for data in seen.writes],
            "waiting": len(link._waiting),
        }

    result: dict[str, Any] = run(
        store_calls.on_a_gateway(
            url, work, path.durable, path.write_window, path.handler_first, STATIONS
        )
    )
    return result


@pytest.mark.parametrize("handler_first", [False, True], ids=["default", "handler-first"])
def test_a_batch_s_stores_share_one_write_and_all_are_answered(
    nats_url: str, handler_first: bool
) -> None:
    seen = batches(nats_url, store_calls.Counted(True, 0.02, handler_first))
    assert seen == {
        "window writes": BATCHES,
        "stores": BATCHES * STATIONS,
        "publishes": [STATIONS] * BATCHES,
        "waiting": 0,
    }


def test_the_same_calls_not_stored_write_nothing_to_nats(nats_url: str) -> None:
    seen = batches(nats_url, store_calls.Counted(False, 0.02))
    assert seen == {"window writes": 0, "stores": 0, "publishes": [], "waiting": 0}
