"""A task cancelled while it awaits ``call()`` is cancelled, even when the answer came in the
same turn of the loop: Python 3.11's ``asyncio.wait_for`` returned that answer and dropped
the cancel (the task went on as if never cancelled)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec

from ocpp_fast import v201
from ocpp_fast._awaited import within
from ocpp_fast.aio import AsyncConnection, connect_in_memory
from ocpp_fast.transport import StationClient
from ocpp_fast.v201 import datatypes, enums, messages


def test_a_call_cancelled_as_its_answer_comes_raises_cancelled() -> None:
    async def main() -> list[str]:
        sent: list[bytes] = []
        connection = AsyncConnection(v201.Charger(), write=sent.append, identity="CS1")
        seen = []
        for turns in range(3):  # the cancel 0, 1 or 2 turns after the answer was read
            sent.clear()
            task = asyncio.create_task(connection.call(messages.HeartbeatRequest(), timeout=5))
            while not sent:
                await asyncio.sleep(0)
            message_id = msgspec.json.decode(sent[-1])[1]
            answer = b'[3,"%b",{"currentTime":"2026-01-01T00:00:00Z"}]'
            connection.feed(answer % message_id.encode())
            for _ in range(turns):
                await asyncio.sleep(0)
            assert task.cancel(), "the task had ended already: the case is not the race"
            try:
                await task
                seen.append("returned")
            except asyncio.CancelledError:
                seen.append("cancelled")
        return seen

    assert asyncio.run(main()) == ["cancelled"] * 3


def test_an_answer_without_a_cancel_is_returned_and_a_timeout_raised() -> None:
    async def main() -> None:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.01, future.set_result, 7)
        assert await within(asyncio.shield(future), 1.0) == 7
        never: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        try:
            await within(asyncio.shield(never), 0.01)
        except TimeoutError:
            assert not never.cancelled()  # shielded: left to its owner
        else:
            raise AssertionError("no TimeoutError")

    asyncio.run(main())


def test_a_wait_for_an_event_cancelled_as_it_is_set_raises_cancelled() -> None:
    """The other wait of a call, for the accepted connection (``StationClient._live``,
    ``booted``): an ``asyncio.Event`` set in the turn its waiter was cancelled."""

    async def main() -> list[str]:
        seen = []
        for waits in (within, asyncio.wait_for):  # ours, and 3.11's own for comparison
            ready = asyncio.Event()
            task = asyncio.create_task(waits(ready.wait(), 5))
            await asyncio.sleep(0)  # waiting now
            ready.set()
            assert task.cancel()
            try:
                await task
                seen.append("returned")
            except asyncio.CancelledError:
                seen.append("cancelled")
        return seen

    seen = asyncio.run(main())
    assert seen[0] == "cancelled", seen  # whatever 3.11's wait_for did (seen[1])


# --- the library's other waits: a task cancelled as its wait ended goes no further ----------


def outcome_of(task: asyncio.Task[Any]) -> str:
    """``cancelled``, ``returned`` or ``running`` (a task that lost its cancel and went on)."""
    if not task.done():
        return "running"
    return "cancelled" if task.cancelled() else "returned"


async def settle(task: asyncio.Task[Any], seconds: float = 0.2) -> str:
    """``task``'s :func:`outcome_of` once it ended or ``seconds`` passed; a task still running
    is cancelled (and awaited) then, so that the test leaves nothing behind."""
    await asyncio.wait([task], timeout=seconds)
    seen = outcome_of(task)
    if seen == "running":
        task.cancel()
        await asyncio.wait([task])
    return seen


def test_a_heartbeat_task_cancelled_as_the_interval_changes_ends() -> None:
    """``StationClient`` cancels its heartbeat task when the connection ends; cancelled in the
    turn the interval changed (a boot's answer adopted, a ChangeConfiguration), it went on to
    its next heartbeat, on the connection gone."""

    async def main() -> str:
        client = StationClient(v201.Charger(), "ws://127.0.0.1:9/CS1", heartbeat=60)
        connection = AsyncConnection(v201.Charger(), write=lambda frame: None, identity="CS1")
        beating = asyncio.create_task(client._beat(connection))
        await asyncio.sleep(0)  # waiting for the interval now
        client.heartbeat_interval = 60
        beating.cancel()
        return await settle(beating)

    assert asyncio.run(main()) == "cancelled"


def test_a_hook_cancelled_as_it_ends_stops_the_close() -> None:
    """The in-memory pair's ``close()`` sees each side off in turn (``on_disconnect``, bounded
    by its grace); cancelled as the station's hook ended, it went on to the CSMS's."""
    told: list[str] = []

    class Station(v201.Charger):
        leaving: asyncio.Future[None]

        async def on_disconnect(self, connection: AsyncConnection, reason: str) -> None:
            told.append("station")
            await self.leaving

    class Csms(v201.ChargeSystem):
        async def on_disconnect(self, connection: AsyncConnection, reason: str) -> None:
            told.append("csms")

    async def main() -> str:
        station = Station()
        station.leaving = asyncio.get_running_loop().create_future()
        pair = connect_in_memory(station, Csms())
        closing = asyncio.create_task(pair.close(grace=5))
        while not told:
            await asyncio.sleep(0)
        station.leaving.set_result(None)
        closing.cancel()
        return await settle(closing)

    assert asyncio.run(main()) == "cancelled"
    assert told == ["station"]


def test_a_picows_close_cancelled_as_the_link_goes_raises_cancelled() -> None:
    """``StationClient.close()`` (and a runner giving up a connection) wait for the picows
    link to go; cancelled as it went, the cancel was dropped."""
    from ocpp_fast.transport._picows_client import PicowsLink

    async def main() -> str:
        link = PicowsLink(2**20)
        closing = asyncio.create_task(link.close())
        await asyncio.sleep(0)  # waiting for the link to go
        link.on_ws_disconnected(None)  # type: ignore[arg-type]  # (the transport is not read)
        closing.cancel()
        return await settle(closing)

    assert asyncio.run(main()) == "cancelled"


def test_a_drop_in_call_cancelled_as_its_answer_comes_raises_cancelled() -> None:
    """The drop-in's ``ChargePoint.call`` waits for the answer as ``ocpp`` does, with
    ``asyncio.wait_for``: cancelled as the answer came, it returned it."""
    from ocpp.v201 import call

    from ocpp_fast.compat.v201 import ChargePoint

    class Socket:
        def __init__(self) -> None:
            self.sent: list[str] = []

        async def send(self, text: str) -> None:
            self.sent.append(text)

        async def recv(self) -> str:
            await asyncio.Event().wait()
            raise AssertionError("never")

    async def main() -> str:
        socket = Socket()
        charge_point = ChargePoint("CS1", socket, response_timeout=5)
        calling = asyncio.create_task(charge_point.call(call.Heartbeat()))
        while not socket.sent:
            await asyncio.sleep(0)
        message_id = json.loads(socket.sent[0])[1]
        await charge_point.route_message(
            json.dumps([3, message_id, {"currentTime": "2026-01-01T00:00:00Z"}])
        )
        calling.cancel()
        return await settle(calling)

    assert asyncio.run(main()) == "cancelled"


def test_a_gateways_refresh_cancelled_as_nats_comes_back_ends() -> None:
    """``Gateway.close()`` cancels the registry's refresh loop; cancelled in the turn NATS came
    back, the loop went on remaking the stream and rewriting the registry (on a closed
    connection, a warning each third of the TTL) for as long as the process ran."""
    from ocpp_fast.cluster import Gateway

    async def main() -> tuple[str, list[str]]:
        gateway = Gateway()
        done: list[str] = []

        async def remake() -> None:
            done.append("remake")

        async def write_lines() -> bool:
            done.append("write")
            return True

        gateway._remake = remake  # type: ignore[method-assign]
        gateway._write_lines = write_lines  # type: ignore[method-assign]
        refreshing = asyncio.create_task(gateway._refresh())
        await asyncio.sleep(0)  # waiting for NATS to come back, or the next round
        await gateway._reconnected()
        refreshing.cancel()
        return await settle(refreshing), done

    assert asyncio.run(main()) == ("cancelled", [])


def test_a_gateways_settled_cancelled_as_it_settles_raises_cancelled() -> None:
    from ocpp_fast.cluster import Gateway

    async def main() -> str:
        gateway = Gateway()
        gateway._settled.clear()  # a station came or went
        waiting = asyncio.create_task(gateway.settled(5))
        await asyncio.sleep(0)
        gateway._settled.set()
        waiting.cancel()
        return await settle(waiting)

    assert asyncio.run(main()) == "cancelled"


def test_a_routed_call_cancelled_as_its_reply_comes_raises_cancelled() -> None:
    """``ClusterClient.call`` awaits nats-py's ``request``, which waits with
    ``asyncio.wait_for``; here a stand-in that waits the same way."""
    from ocpp_fast.cluster import ClusterClient
    from ocpp_fast.cluster.wire import Outcome

    class Reply:
        data = msgspec.json.encode(Outcome(result=msgspec.Raw(b'{"status":"Accepted"}')))

    class Nats:
        is_connected = True  # as nats-py's: the call reads it (to say a down connection)

        def __init__(self) -> None:
            self.reply: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()

        async def request(self, subject: str, data: bytes, timeout: float) -> Reply:
            return await asyncio.wait_for(self.reply, timeout)  # as nats-py's request waits

    async def main() -> str:
        client = ClusterClient()
        client._nc = nats = Nats()  # type: ignore[assignment]
        request = messages.ResetRequest(type=enums.ResetEnumType.IMMEDIATE)
        calling = asyncio.create_task(client.call("CS1", request, timeout=5))
        await asyncio.sleep(0)
        nats.reply.set_result(Reply())
        calling.cancel()
        return await settle(calling)

    assert asyncio.run(main()) == "cancelled"


def test_a_demo_script_cancelled_as_its_transaction_comes_goes_no_further() -> None:
    """``serve --call-stations``: a script cancelled (its station left) in the turn the
    station's transaction message named the remote start went on to the charge and the
    remote stop."""
    from ocpp_fast._demo_calls import _Script

    class Peer:
        identity = "CS1"

        def __init__(self) -> None:
            self.called: list[str] = []

        async def call(self, request: Any, timeout: float) -> Any:
            self.called.append(type(request).__name__)
            return messages.RequestStartTransactionResponse(
                status=enums.RequestStartStopStatusEnumType.ACCEPTED
            )

    async def main() -> str:
        peer = Peer()
        script = _Script(peer, 5)  # type: ignore[arg-type]
        start = messages.RequestStartTransactionRequest(
            id_token=datatypes.IdTokenType(id_token="T", type=enums.IdTokenEnumType.CENTRAL),
            remote_start_id=7,
        )
        running = asyncio.create_task(
            script.start_then_stop(
                start,
                "remoteStartId 7",
                (7, "TransactionEvent with remoteStartId 7"),
                lambda transaction: messages.RequestStopTransactionRequest(
                    transaction_id=transaction
                ),
                "RequestStopTransaction",
            )
        )
        while script.transaction is None or not peer.called:
            await asyncio.sleep(0)
        await asyncio.sleep(0)  # waiting for the transaction now
        script.started(7, "T1")
        running.cancel()
        seen = await settle(running, 3.0)  # the charge lasts CHARGE_SECONDS
        assert peer.called == ["RequestStartTransactionRequest"], peer.called
        return seen

    assert asyncio.run(main()) == "cancelled"


def test_a_registry_read_cancelled_as_a_batch_comes_raises_cancelled() -> None:
    """``ClusterClient.stations()`` reads the registry with nats-py's ``fetch``, which waits
    with ``asyncio.wait_for``; here a stand-in that waits the same way."""
    from types import SimpleNamespace

    from ocpp_fast.cluster import ClusterClient

    class Subscription:
        def __init__(self) -> None:
            self.batch: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
            self.fetching = False

        async def consumer_info(self) -> Any:
            return SimpleNamespace(num_pending=1)

        async def fetch(self, count: int, timeout: float) -> list[Any]:
            self.fetching = True
            return await asyncio.wait_for(self.batch, timeout)  # as nats-py's next_msg waits

        async def unsubscribe(self) -> None:
            pass

    class Nats:
        def __init__(self) -> None:
            self.subscription = Subscription()

        def jetstream(self) -> Any:
            return self

        async def pull_subscribe(self, *args: Any, **kwargs: Any) -> Subscription:
            return self.subscription

    async def main() -> str:
        client = ClusterClient()
        client._nc = nats = Nats()  # type: ignore[assignment]
        reading = asyncio.create_task(client.stations(timeout=5))
        while not nats.subscription.fetching:
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        entry = SimpleNamespace(metadata=SimpleNamespace(num_pending=0), headers=None, data=b"")
        nats.subscription.batch.set_result([entry])
        reading.cancel()
        return await settle(reading)

    assert asyncio.run(main()) == "cancelled"


async def _wait_for_on_timeout(awaitable: Any, timeout: float | None) -> Any:
    """Python 3.12's ``asyncio.wait_for``, in its shape (``asyncio.timeout`` around the await):
    cancelled in the turn its future got a result, it raises ``CancelledError``."""
    async with asyncio.timeout(timeout):
        return await awaitable


def test_a_result_that_came_with_the_cancel_is_handed_back_on_3_12s_wait_for(
    monkeypatch: Any,
) -> None:
    """``within(..., dropped=...)`` hands back a result the cancel won over (the drop-in's
    ``call()`` puts its answer back in ``_response_queue``). It did so only after 3.11's
    ``wait_for`` returned that result: on 3.12 and later ``wait_for`` raises instead, and the
    answer was lost (the drop-in's own queue came out empty there)."""
    monkeypatch.setattr(asyncio, "wait_for", _wait_for_on_timeout)

    async def main() -> tuple[str, list[int]]:
        handed_back: list[int] = []
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(within(future, 5, handed_back.append))
        await asyncio.sleep(0)  # waiting on the future
        future.set_result(7)
        task.cancel()  # in the same turn
        try:
            outcome = f"returned {await task}"
        except asyncio.CancelledError:
            outcome = "cancelled"
        return outcome, handed_back

    assert asyncio.run(main()) == ("cancelled", [7])
