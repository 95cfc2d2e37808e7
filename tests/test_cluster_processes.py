"""A cluster of processes: nats-server, 3 gateways (``ocpp-fast serve --nats ... --handlers
workers``), 2 workers (``ocpp-fast worker``), and stations spread over the gateways.

One scenario, in phases, because each phase builds on the state the previous one left:

1. every station's CALLs are answered by the workers (both of them take a share);
2. a routed call to every station is answered; ``stations()`` lists them on their nodes;
   a worker's handler calls its station back through the cluster;
3. kill -9 a worker mid-request: the station gets InternalError (the gateway's worker
   timeout; its own, longer, would raise TimeoutError), and its next CALL is served by the
   other worker;
4. kill -9 a gateway while stations charge: its stations reconnect to the others and routed
   calls reach every station again, and every station gets a TransactionEvent acknowledged
   after the kill (none is left wedged); a station that cannot fail over leaves the registry
   (its line's TTL ran out);
5. every TransactionEvent a station got a CALLRESULT for is in the stream exactly once per
   (station, transaction, seqNo), although stations resend what was not acknowledged.

The in-suite fleet is small (STATIONS) to stay well under a minute on two shared cores;
``make load-cluster`` runs 1,000 stations. How soon the failover came is printed, a figure:
the waits for it end only at HANG (the machine is shared, and load is no failure).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

from cluster_procs import IdentityStation, NatsServer, cluster_processes, read_events

from ocpp_fast import errors
from ocpp_fast.cluster import ClusterClient, StationNotConnected
from ocpp_fast.transport import Backoff, StationClient, connect
from ocpp_fast.v201 import datatypes, enums, messages

STATIONS = 120
WORKER_TIMEOUT = 3.0
REGISTRY_TTL = 3.0
HANG = 30.0
"""Seconds after which a wait of phase 4 fails as a hang, several times what it takes: after
kill -9 of a gateway a station sees the socket close at once, waits its back-off (here at
most 0.6 s), connects to the next gateway, which subscribes its command subject within
milliseconds; a dead gateway's station stays listed for the bucket's max age
(``REGISTRY_TTL``) plus the server's expiry sweep."""
BACKOFF = Backoff(minimum=0.2, random_range=0.2, repeat_times=1)


def event(transaction: str, seq_no: int) -> messages.TransactionEventRequest:
    return messages.TransactionEventRequest(
        event_type=enums.TransactionEventEnumType.UPDATED,
        timestamp=datetime_now(),
        trigger_reason=enums.TriggerReasonEnumType.METER_VALUE_PERIODIC,
        seq_no=seq_no,
        transaction_info=datatypes.TransactionType(transaction_id=transaction),
    )


def datetime_now() -> Any:
    import datetime

    return datetime.datetime.now(datetime.UTC)


class Fleet:
    """The stations, and what each was acknowledged."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.clients: dict[str, StationClient] = {}
        self.acknowledged: set[tuple[str, str, int]] = set()
        self.last_ack: dict[str, float] = {}
        """When each station last got a TransactionEvent acknowledged (monotonic clock)."""
        self.failures: Counter[str] = Counter()
        self.stop = asyncio.Event()

    async def open(self, count: int) -> None:
        async def one(index: int) -> None:
            identity = f"CS{index:03d}"
            mine = [f"{url}/{identity}" for url in self.urls]
            first = index % len(mine)
            mine = mine[first:] + mine[:first]
            self.clients[identity] = await connect(
                IdentityStation(), mine[0], failover=mine[1:], backoff=BACKOFF
            )

        await asyncio.gather(*(one(index) for index in range(count)))

    async def charge(self, identity: str) -> None:
        """TransactionEvents one after the other; one not acknowledged is sent again (same seqNo,
        new message id), as a station's transaction queue does after a reconnect."""
        client = self.clients[identity]
        rng = random.Random(identity)
        seq_no = 0
        while not self.stop.is_set():
            request = event(f"T-{identity}", seq_no)
            while not self.stop.is_set():
                try:
                    await client.call(request, timeout=8)
                except (ConnectionError, TimeoutError, errors.OcppError) as exc:
                    self.failures[type(exc).__name__] += 1
                    await asyncio.sleep(0.2)
                    continue
                self.acknowledged.add((identity, f"T-{identity}", seq_no))
                self.last_ack[identity] = time.monotonic()
                break
            seq_no += 1
            await asyncio.sleep(rng.uniform(0.4, 1.2))

    async def close(self) -> None:
        await asyncio.gather(*(client.close() for client in self.clients.values()))


async def routed_to_all(client: ClusterClient, identities: list[str]) -> list[str]:
    """The stations a routed call did not reach right now."""

    async def one(identity: str) -> str | None:
        try:
            answer = await client.call(
                identity, messages.DataTransferRequest(vendor_id="who"), timeout=3
            )
        except (StationNotConnected, TimeoutError):
            return identity
        assert answer.data == identity
        return None

    missed = await asyncio.gather(*(one(identity) for identity in identities))
    return [identity for identity in missed if identity is not None]


def test_gateways_and_workers_in_processes(tmp_path: Path) -> None:
    with NatsServer() as nats_server, cluster_processes(nats_server.url) as procs:
        flags = ["--handlers", "workers", "--worker-timeout", str(WORKER_TIMEOUT)]
        flags += ["--registry-ttl", str(REGISTRY_TTL)]
        # the stores' write window: none, the default (20 ms), 50 ms
        windows = [("--nats-write-window", "0"), (), ("--nats-write-window", "0.05")]
        started = [procs.gateway(*flags, *window, wait=False) for window in windows]
        workers = [procs.worker(wait=False) for _ in range(2)]
        lines = [proc.wait_for("gateway ") for proc, _ in started]
        said = [line.partition("gathered over ")[2].strip() for line in lines]
        assert said == ["", "20 ms", "50 ms"], lines
        for worker in workers:
            worker.wait_for("worker serving")
        urls = [f"ws://127.0.0.1:{port}/ocpp" for _, port in started]
        asyncio.run(
            asyncio.wait_for(scenario(nats_server.url, started, workers, urls, tmp_path), 180)
        )


async def scenario(
    nats_url: str, gateways: list[Any], workers: list[Any], urls: list[str], tmp: Path
) -> None:
    fleet = Fleet(urls)
    await fleet.open(STATIONS)
    identities = sorted(fleet.clients)
    client = await ClusterClient(nats_url).connect()
    charging: list[asyncio.Task[None]] = []
    try:
        # 1. the workers answer every CALL, both take a share
        boot = messages.BootNotificationRequest(
            reason=enums.BootReasonEnumType.POWER_UP,
            charging_station=datatypes.ChargingStationType(model="M", vendor_name="V"),
        )
        answers = await asyncio.gather(
            *(fleet.clients[i].call(boot, timeout=10) for i in identities)
        )
        assert all(answer.status == "Accepted" for answer in answers)
        whoami = messages.DataTransferRequest(vendor_id="whoami")
        pids = await asyncio.gather(
            *(fleet.clients[i].call(whoami, timeout=10) for i in identities)
        )
        shares = Counter(int(str(answer.data)) for answer in pids)
        assert set(shares) == {worker.pid for worker in workers}, shares

        # 2. routed calls reach every station; the registry lists them where they are
        assert await routed_to_all(client, identities) == []
        listed = await client.stations()
        assert sorted(listed) == identities
        nodes = Counter(entry.node.rsplit("-", 1)[1] for entry in listed.values())
        assert sorted(nodes.values()) == [STATIONS // 3] * 3
        assert {int(pid) for pid in nodes} == {proc.pid for proc, _ in gateways}
        back = await fleet.clients["CS001"].call(
            messages.DataTransferRequest(vendor_id="callback"), timeout=10
        )
        assert back.data == "CS001"  # the worker called CS001 through the cluster

        charging = [asyncio.create_task(fleet.charge(identity)) for identity in identities]
        await asyncio.sleep(1.0)

        # 3. a worker killed mid-request: InternalError within the timeout, then served again
        marker = tmp / "sleeping"
        station = fleet.clients["CS002"]
        sent = time.monotonic()
        sleeping = asyncio.ensure_future(
            station.call(
                messages.DataTransferRequest(vendor_id="sleep", data=str(marker)), timeout=20
            )
        )
        while not marker.exists():
            assert time.monotonic() - sent < HANG, "no worker took the request"
            await asyncio.sleep(0.02)
        victim = int(marker.read_text())
        os.kill(victim, signal.SIGKILL)
        try:
            await sleeping
            raise AssertionError("the killed worker's CALL was answered")
        except errors.InternalError:  # the gateway's timeout: the station's raises TimeoutError
            print(f"\nInternalError {time.monotonic() - sent:.1f} s after the CALL (worker killed)")
        survivor = next(worker.pid for worker in workers if worker.pid != victim)
        answer = await station.call(whoami, timeout=10)
        assert int(str(answer.data)) == survivor

        # 4. a gateway killed while stations charge: they reach the others, calls find them
        doomed, doomed_port = gateways[0]
        lonely = await connect(
            IdentityStation(), f"ws://127.0.0.1:{doomed_port}/ocpp/LONELY", backoff=BACKOFF
        )
        listed_at = time.monotonic()
        while "LONELY" not in await client.stations():  # its registry line written
            assert time.monotonic() - listed_at < HANG, "LONELY never listed"
            await asyncio.sleep(0.05)
        doomed.popen.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        missed = identities
        while missed:
            assert time.monotonic() - killed < HANG, f"unreachable: {missed[:5]}"
            await asyncio.sleep(0.25)
            missed = await routed_to_all(client, missed)
        reached = time.monotonic() - killed
        # the registry follows: the dead node's lines expire (LONELY's, which cannot fail over)
        # and the moved stations' lines are written by their new nodes; a routed call reaching
        # a station says nothing of its line yet (a node writes its lines in batches, and on
        # a loaded machine they came after LONELY's expired)
        listed = await client.stations()
        while (
            "LONELY" in listed
            or not set(identities) <= set(listed)
            or any(entry.node.endswith(f"-{doomed.pid}") for entry in listed.values())
        ):
            missing = sorted(set(identities) - set(listed))[:5]
            assert time.monotonic() - killed < HANG, (
                f"registry: LONELY or the dead node's or {missing}"
            )
            await asyncio.sleep(0.25)
            listed = await client.stations()
        print(f"the registry followed {time.monotonic() - killed:.1f} s after kill -9")
        print(f"routed calls reached every station {reached:.1f} s after kill -9")
        while stale := [i for i in identities if fleet.last_ack.get(i, 0.0) <= killed]:
            assert time.monotonic() - killed < HANG, f"wedged: {stale[:5]}"
            await asyncio.sleep(0.25)  # every station charges on: none is left wedged
        await lonely.close()
        await asyncio.sleep(1.0)  # charging goes on across the failover

        # 5. every acknowledged TransactionEvent is stored, exactly once
        fleet.stop.set()
        await asyncio.wait_for(asyncio.gather(*charging), 15)
    finally:
        fleet.stop.set()
        for task in charging:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(fleet.close(), 10)
        await client.close()
    stored = Counter(
        (e.identity, request.transaction_info.transaction_id, request.seq_no)
        for e in await read_events(nats_url)
        if e.action == "TransactionEvent"
        for request in [e.request(messages.TransactionEventRequest)]
    )
    assert fleet.acknowledged, "no TransactionEvent was acknowledged"
    assert all(stored[key] == 1 for key in fleet.acknowledged)
    assert max(stored.values()) == 1, [key for key, count in stored.items() if count > 1][:5]
    print(f"{len(fleet.acknowledged)} acknowledged events, failures seen: {dict(fleet.failures)}")


def test_serve_workers_n_runs_gateways_on_one_port() -> None:
    """``ocpp-fast serve --nats URL --workers 2``: two gateway processes share the port
    (SO_REUSEPORT), the kernel spreads the stations over them, one killed is started again,
    SIGTERM stops both."""
    with NatsServer() as nats_server, cluster_processes(nats_server.url) as procs:
        parent, port = procs.gateway("--workers", "2", wait=False)
        parent.wait_for("gateway ")
        parent.wait_for("gateway ")

        async def spread() -> set[str]:
            url = f"ws://127.0.0.1:{port}/ocpp"
            stations = [await connect(IdentityStation(), f"{url}/S{i}") for i in range(20)]
            async with ClusterClient(nats_server.url) as client:
                listed = await client.stations()
                for _ in range(100):
                    if len(listed) == 20:
                        break
                    await asyncio.sleep(0.05)
                    listed = await client.stations()
                assert await routed_to_all(client, sorted(listed)) == []
            for station in stations:
                await station.close()
            return {entry.node for entry in listed.values()}

        nodes = asyncio.run(asyncio.wait_for(spread(), 30))
        assert len(nodes) == 2, nodes
        # a gateway process killed: the parent starts another, which takes stations again
        victim = sorted(nodes)[0]
        os.kill(int(victim.rsplit("-", 1)[1]), signal.SIGKILL)
        parent.wait_for("was killed by SIGKILL (signal 9)")
        parent.wait_for("gateway ")
        again = asyncio.run(asyncio.wait_for(spread(), 30))
        assert len(again) == 2 and victim not in again and again & nodes, (nodes, again)
        parent.popen.send_signal(signal.SIGTERM)
        assert parent.popen.wait(15) == 0


def test_lifecycle_hooks_run_in_a_gateway_that_forwards_to_workers() -> None:
    """``ocpp-fast serve APP --nats URL --handlers workers``: every CALL goes to a worker, and
    APP's hooks run in the gateway, which holds the socket: ``on_connect`` calls its station,
    ``on_disconnect`` says why it left."""
    with NatsServer() as nats_server, cluster_processes(nats_server.url) as procs:
        worker = procs.worker()
        gateway, port = procs.gateway("cluster_handlers:HookedCsms", "--handlers", "workers")
        assert any("hook on_startup" in line for line in gateway.seen), gateway.seen

        async def scenario() -> None:
            station = await connect(IdentityStation(), f"ws://127.0.0.1:{port}/ocpp/CS1")
            await asyncio.to_thread(gateway.wait_for, "hook on_connect CS1 answered CS1")
            whoami = messages.DataTransferRequest(vendor_id="whoami")
            answer = await station.call(whoami, timeout=10)
            assert answer.data == str(worker.pid)  # the worker answered, not the gateway
            await station.close()

        asyncio.run(asyncio.wait_for(scenario(), 30))
        gateway.wait_for("hook on_disconnect CS1 closed by the station (1000)")
