"""ocpp_fast.cluster against a real nats-server on 127.0.0.1, the gateway in this process.

Routed calls, the registry and the events stream on both transport backends;
identities that would be wildcards or several tokens in a subject; a stream that
fails; deduplication of a TransactionEvent sent again. The multi-process cluster
(gateways and workers as processes, kill -9) is in test_cluster_processes.py.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import logging
import re
from typing import Any
from urllib.parse import quote

import msgspec
import pytest
from cluster_procs import IdentityStation, NatsServer, read_events, run
from cluster_procs import cluster_config as config
from hypothesis import given
from hypothesis import strategies as st

from ocpp_fast import errors, v16
from ocpp_fast._machine import free_port
from ocpp_fast._ratelimit import LOG_BURST
from ocpp_fast.cluster import (
    ClusterClient,
    ClusterConfig,
    Gateway,
    Names,
    NatsUnreachable,
    StationNotConnected,
    Worker,
    decode_identity,
    encode_identity,
)
from ocpp_fast.cluster.config import NATS_START_TIMEOUT
from ocpp_fast.demo import DemoChargeSystem
from ocpp_fast.stations import StationCaller, StationEntry
from ocpp_fast.transport import Backoff, CsmsServer, StationClient, connect, serve
from ocpp_fast.v16 import datatypes as d16
from ocpp_fast.v16 import enums as e16
from ocpp_fast.v16 import messages as m16
from ocpp_fast.v201 import datatypes, enums, messages

HOSTILE = ["*", ">", "a.b", "a", "b", "a=2eb", "a b", "a~b", "ocpp.cmd.>", "é€", "=", "a.*", "A_-z"]
"""Identities a subject must not take raw: wildcards, separators, the escape character itself,
and an identity spelt like another one's escaped form."""


def event(transaction: str, seq_no: int) -> messages.TransactionEventRequest:
    return messages.TransactionEventRequest(
        event_type=enums.TransactionEventEnumType.UPDATED,
        timestamp=datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC),
        trigger_reason=enums.TriggerReasonEnumType.METER_VALUE_PERIODIC,
        seq_no=seq_no,
        transaction_info=datatypes.TransactionType(transaction_id=transaction),
    )


# --- identities in subjects ---------------------------------------------------------------------


def test_hostile_identities_become_one_plain_token_each_and_come_back() -> None:
    encoded = [encode_identity(identity) for identity in HOSTILE]
    assert len(set(encoded)) == len(HOSTILE)
    for identity, token in zip(HOSTILE, encoded, strict=True):
        assert all(c.isascii() and (c.isalnum() or c in "_-=") for c in token), token
        assert decode_identity(token) == identity
    assert encode_identity("a.b") == "a=2eb" and encode_identity("a=2eb") == "a=3d2eb"
    assert Names(prefix="p").command(">") == "p.cmd.=3e"
    with pytest.raises(ValueError):
        decode_identity("a.b")
    with pytest.raises(ValueError):
        encode_identity("")


@given(st.text(min_size=1, max_size=48), st.text(min_size=1, max_size=48))
def test_the_encoding_is_injective(first: str, second: str) -> None:
    one, two = encode_identity(first), encode_identity(second)
    assert (one == two) == (first == second)
    assert decode_identity(one) == first and "." not in one and "*" not in one and ">" not in one


# --- a gateway in this process ------------------------------------------------------------------


def test_routed_calls_reach_each_station_and_no_other(nats_url: str, backend: str) -> None:
    """Stations with hostile identities each get their own calls; an identity connected nowhere
    is StationNotConnected at once although a '>' and a '*' are connected; the registry lists
    them all; the station's error comes back as its class."""
    cluster = config(nats_url)

    async def scenario() -> None:
        gateway = Gateway(cluster)
        server = await serve(DemoChargeSystem(), cluster=gateway)
        base = f"ws://127.0.0.1:{server.port}/ocpp/"
        live = [h for h in HOSTILE if h not in ("a", "b")]
        stations = [await connect(IdentityStation(), base + quote(h, safe="")) for h in live]
        async with ClusterClient(cluster) as client:
            for identity in live:
                await gateway.holds(identity, 5)
            for identity in live:
                answer = await client.call(
                    identity, messages.DataTransferRequest(vendor_id="x"), timeout=5
                )
                assert answer.data == identity
            for absent in ("a", "b", "a.c"):
                # at once, not at the call's timeout (an hour: the test's bound ends first)
                with pytest.raises(StationNotConnected):
                    await client.call(
                        absent, messages.DataTransferRequest(vendor_id="x"), timeout=3600
                    )
            with pytest.raises(errors.NotSupportedError) as refused:  # IdentityStation: no Reset
                await client.call(
                    "*", messages.ResetRequest(type=enums.ResetEnumType.IMMEDIATE), timeout=5
                )
            assert refused.value.origin is errors.Origin.PEER  # the station's, across NATS
            with pytest.raises(TypeError):  # a station's request: never sent by a CSMS
                await client.call("*", messages.HeartbeatRequest())  # type: ignore[arg-type]
            with pytest.raises(errors.PropertyConstraintViolationError) as never_sent:
                await client.call("*", messages.DataTransferRequest(vendor_id="x" * 300))
            assert never_sent.value.origin is errors.Origin.REQUEST_CHECK  # checked before it goes
            listed = await client.stations()
            assert sorted(listed) == sorted(live)
            assert {entry.node for entry in listed.values()} == {gateway.node}
            await stations[0].close()  # '*' leaves: its subscription and line go
            for _ in range(500):
                if "*" not in server.connections:
                    break
                await asyncio.sleep(0.01)
            await gateway.settled(5)
            with pytest.raises(StationNotConnected):
                await client.call("*", messages.DataTransferRequest(vendor_id="x"))
            assert "*" not in await client.stations()
        for station in stations[1:]:
            await station.close()
        await server.close()
        await gateway.close()

    run(scenario)


def test_durable_actions_are_in_the_stream_before_the_answer(nats_url: str, backend: str) -> None:
    """A TransactionEvent and a MeterValues are stored (typed, with identity and message id)
    by the time the station has its CALLRESULT; a Heartbeat is not stored."""
    cluster = config(nats_url)

    async def scenario() -> None:
        gateway = Gateway(cluster)
        server = await serve(DemoChargeSystem(), cluster=gateway)
        station = await connect(IdentityStation(), f"ws://127.0.0.1:{server.port}/ocpp/CS.1")
        await station.call(event("T-1", 0), timeout=5)
        stored = await read_events(nats_url, cluster.names)
        assert [(e.identity, e.action) for e in stored] == [("CS.1", "TransactionEvent")]
        assert stored[0].request() == event("T-1", 0) and stored[0].node == gateway.node
        await station.call(messages.HeartbeatRequest(), timeout=5)
        meter = messages.MeterValuesRequest(
            evse_id=1,
            meter_value=[
                datatypes.MeterValueType(
                    timestamp=datetime.datetime(2026, 11, 30, tzinfo=datetime.UTC),
                    sampled_value=[datatypes.SampledValueType(value=1.5)],
                )
            ],
        )
        await station.call(meter, timeout=5)
        stored = await read_events(nats_url, cluster.names)
        assert [e.action for e in stored] == ["TransactionEvent", "MeterValues"]
        assert stored[1].request() == meter
        await station.close()
        await server.close()
        await gateway.close()

    run(scenario)


class SlowStartDemo(DemoChargeSystem):
    """A gateway's app whose ``on_startup`` takes a while to make what its boot handler needs."""

    def __init__(self) -> None:
        self.listening = asyncio.Event()
        self.release = asyncio.Event()
        self.port = 0
        self.pool: str | None = None
        self.booted_with: list[str | None] = []

    async def on_startup(self, server: CsmsServer) -> None:
        self.port = server.port
        self.listening.set()
        await self.release.wait()
        self.pool = "pool"

    def boot_notification(
        self, request: messages.BootNotificationRequest
    ) -> messages.BootNotificationResponse:
        self.booted_with.append(self.pool)
        return self.default_boot_notification(request)


def test_a_gateway_serves_a_station_only_once_on_startup_returned(
    nats_url: str, backend: str
) -> None:
    """``cluster.attach`` runs before ``on_startup``: a station connecting meanwhile waits
    for the hook all the same, and is then held and booted with what the hook made."""
    cluster = config(nats_url)

    async def scenario() -> None:
        gateway = Gateway(cluster)
        csms = SlowStartDemo()
        starting = asyncio.ensure_future(serve(csms, cluster=gateway))
        await csms.listening.wait()
        url = f"ws://127.0.0.1:{csms.port}/ocpp/CS.9"
        boot = messages.BootNotificationRequest(
            reason=enums.BootReasonEnumType.POWER_UP,
            charging_station=datatypes.ChargingStationType(model="M", vendor_name="V"),
        )
        connecting = asyncio.ensure_future(connect(IdentityStation(), url, boot=boot))
        await asyncio.sleep(0.3)
        assert not connecting.done() and csms.booted_with == []
        csms.release.set()
        server = await starting
        station = await connecting
        await station.booted(5)
        await gateway.holds("CS.9", 5)
        assert csms.booted_with == ["pool"]
        await station.close()
        await server.close()
        await gateway.close()

    run(scenario)


def test_a_transaction_event_sent_again_is_stored_once(nats_url: str) -> None:
    """The same (transactionId, seqNo) under a new message id, as a station resends after a
    reconnect: answered both times, stored once (Nats-Msg-Id deduplication)."""
    cluster = config(nats_url)

    async def scenario() -> None:
        gateway = Gateway(cluster)
        server = await serve(DemoChargeSystem(), cluster=gateway)
        station = await connect(IdentityStation(), f"ws://127.0.0.1:{server.port}/ocpp/CS1")
        for seq_no in (0, 1, 1, 2, 1):
            await station.call(event("T-9", seq_no), timeout=5)
        stored = await read_events(nats_url, cluster.names)
        assert [e.request(messages.TransactionEventRequest).seq_no for e in stored] == [0, 1, 2]
        await station.close()
        await server.close()
        await gateway.close()

    run(scenario)


def test_a_store_that_fails_is_answered_with_an_error_not_acknowledged(nats_url: str) -> None:
    cluster = config(nats_url)

    async def scenario() -> None:
        gateway = Gateway(cluster, store_timeout=1)
        server = await serve(DemoChargeSystem(), cluster=gateway)
        station: StationClient = await connect(
            IdentityStation(),
            f"ws://127.0.0.1:{server.port}/ocpp/CS1",
            backoff=Backoff(minimum=0.1, random_range=0.1),
        )
        async with ClusterClient(cluster) as client:
            await client.nats.jetstream().delete_stream(cluster.names.stream)
        with pytest.raises(errors.InternalError):
            await station.call(event("T-1", 0), timeout=5)
        await station.call(messages.HeartbeatRequest(), timeout=5)  # the rest still works
        await station.close()
        await server.close()
        await gateway.close()

    run(scenario)


class Csms16(v16.ChargeSystem):
    """A 1.6 CSMS: StartTransaction is durable there, Heartbeat is not."""

    def start_transaction(
        self, request: m16.StartTransactionRequest
    ) -> m16.StartTransactionResponse:
        return m16.StartTransactionResponse(
            id_tag_info=d16.IdTagInfoType(status=e16.IdTagInfoStatusEnum.ACCEPTED),
            transaction_id=7,
        )

    def heartbeat(self, request: m16.HeartbeatRequest) -> m16.HeartbeatResponse:
        return m16.HeartbeatResponse(current_time=datetime.datetime.now(datetime.UTC))


def test_durable_actions_of_ocpp_16_and_routed_calls_in_16(nats_url: str) -> None:
    cluster = config(nats_url)

    class Station16(v16.Charger):
        def unlock_connector(
            self, request: m16.UnlockConnectorRequest
        ) -> m16.UnlockConnectorResponse:
            return m16.UnlockConnectorResponse(
                status=e16.UnlockConnectorResponseStatusEnum.UNLOCKED
            )

    async def scenario() -> None:
        gateway = Gateway(cluster)
        server = await serve(Csms16(), cluster=gateway)
        station = await connect(Station16(), f"ws://127.0.0.1:{server.port}/ocpp/OLD%201")
        start = m16.StartTransactionRequest(
            connector_id=1,
            id_tag="TAG",
            meter_start=0,
            timestamp=datetime.datetime(2026, 11, 30, tzinfo=datetime.UTC),
        )
        answer = await station.call(start, timeout=5)
        assert answer.transaction_id == 7
        await station.call(m16.HeartbeatRequest(), timeout=5)
        stored = await read_events(nats_url, cluster.names)
        assert [(e.identity, e.action, e.version) for e in stored] == [
            ("OLD 1", "StartTransaction", "1.6")
        ]
        assert stored[0].request() == start
        await gateway.holds("OLD 1", 5)
        async with ClusterClient(cluster) as client:
            unlocked = await client.call(
                "OLD 1", m16.UnlockConnectorRequest(connector_id=1), timeout=5
            )
            assert unlocked.status == "Unlocked"
            # a 2.0.1 request to it: which version it speaks, and the module to build it from
            # (it said only "speaks OCPP 1.6, not 2.0.1", where a connection's call() names it)
            with pytest.raises(ValueError) as refused:
                await client.call(
                    "OLD 1", messages.UnlockConnectorRequest(evse_id=1, connector_id=1), timeout=5
                )
            assert str(refused.value) == (
                "OLD 1 speaks OCPP 1.6, not 2.0.1: build the UnlockConnectorRequest from "
                "ocpp_fast.v16.messages"
            )
            remote_start = messages.RequestStartTransactionRequest(
                id_token=datatypes.IdTokenType(id_token="TAG", type=enums.IdTokenEnumType.ISO14443),
                remote_start_id=1,
            )
            with pytest.raises(ValueError) as refused:  # no such action in 1.6
                await client.call("OLD 1", remote_start, timeout=5)
            assert str(refused.value) == (
                "OLD 1 speaks OCPP 1.6, not 2.0.1, and OCPP 1.6 has no RequestStartTransaction "
                "a CSMS sends (its requests are in ocpp_fast.v16.messages)"
            )
            assert client.calls["version"] == 2
        await station.close()
        await server.close()
        await gateway.close()

    run(scenario)


def test_a_restarted_nats_server_gets_the_subscriptions_and_the_registry_back() -> None:
    """nats-server stops and a new one (empty: no bucket, no stream) starts on its port: the
    gateway reconnects, its command subscriptions come back with it, and its next registry
    refresh makes the bucket again and lists its station; the events stream is made again
    with it, so a durable action is stored (the cluster page said it was not made again until
    a gateway started)."""

    async def scenario() -> None:
        first = NatsServer().start()
        second = NatsServer(port=first.port)
        try:
            gateway = Gateway(ClusterConfig(first.url), registry_ttl=1.5)
            server = await serve(DemoChargeSystem(), cluster=gateway)
            station = await connect(IdentityStation(), f"ws://127.0.0.1:{server.port}/ocpp/CS1")
            await gateway.holds("CS1", 5)
            first.stop()
            await asyncio.sleep(0.5)
            second.start()
            async with ClusterClient(second.url) as client:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 10
                while "CS1" not in await _listed(client):
                    assert loop.time() < deadline, "the registry did not come back"
                    await asyncio.sleep(0.2)
                answer = await client.call(
                    "CS1", messages.DataTransferRequest(vendor_id="x"), timeout=5
                )
                assert answer.data == "CS1"
            await station.call(event("T-again", 0), timeout=5)
            stored = await read_events(second.url)
            assert [(e.identity, e.action) for e in stored] == [("CS1", "TransactionEvent")]
            await station.close()
            await server.close()
            await gateway.close()
        finally:
            first.stop()
            second.stop()

    run(scenario)


def test_the_registry_is_complete_again_within_one_refresh_after_a_nats_restart() -> None:
    """Every station is listed again once the new nats-server starts, without waiting for a
    refresh: NATS coming back makes the gateway remake the bucket and write every line at
    once (it took two refreshes, 15-17 s: the first only made the bucket again). The refresh
    is 20 minutes here (registry_ttl an hour): only the remaking can list them within the
    test's bound; how soon is printed."""
    identities = [f"R{n}" for n in range(5)]

    async def scenario() -> float:
        first = NatsServer().start()
        second = NatsServer(port=first.port)
        try:
            gateway = Gateway(ClusterConfig(first.url), registry_ttl=3600)
            server, stations = await _gateway_holding(gateway, identities)
            first.stop()
            await asyncio.sleep(0.5)
            second.start()
            loop = asyncio.get_running_loop()
            started = loop.time()
            async with ClusterClient(second.url) as client:
                while sorted(await _listed(client)) != identities:
                    await asyncio.sleep(0.1)
                took = loop.time() - started
                listed = await client.stations()
            assert {entry.node for entry in listed.values()} == {gateway.node}
            for station in stations:
                await station.close()
            await server.close()
            await gateway.close()
            return took
        finally:
            first.stop()
            second.stop()

    took = run(scenario)
    print(f"\nregistry complete {took:.2f} s after nats-server restarted (refresh every 20 min)")


def test_a_nats_outage_is_said_in_few_lines_by_the_gateway_and_the_worker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """NATS away: nats-py retries twice a second, every registry refresh fails once per station
    held, and the stations that leave meanwhile are retried each second, for as long as the
    outage lasts. Each piece says once that it lost NATS and once that it is back, its NATS
    errors in at most NATS_ERRORS_PER_WINDOW lines per kind, what fails per station or per
    call in at most LOG_BURST lines per kind whatever the number of stations; the worker's
    lines (and its NATS connection) are named for the worker, not as a client."""
    from ocpp_fast.cluster import Worker
    from ocpp_fast.cluster.config import NATS_ERRORS_PER_WINDOW, nats_failures

    identities = [f"Q{n}" for n in range(20)]

    async def scenario() -> tuple[str, str]:
        nats = NatsServer().start()
        again = NatsServer(port=nats.port)
        try:
            gateway = Gateway(
                ClusterConfig(nats.url), registry_ttl=0.6, handlers_in="workers", worker_timeout=1
            )
            server, stations = await _gateway_holding(gateway, identities)
            worker = Worker(DemoChargeSystem(), ClusterConfig(nats.url))
            await worker.start()
            names = f"ocpp-gateway {gateway.node}", f"ocpp-worker {worker.node}"
            assert worker.client.name == names[1]
            # the process's limiter's windows opened by earlier tests (a worker gone in
            # test_cluster_metrics took a line of this window's burst) start afresh
            nats_failures._windows.clear()
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="ocpp_fast.cluster"):
                nats.stop()
                calls = [s.call(messages.HeartbeatRequest(), timeout=5) for s in stations]
                answers = await asyncio.gather(*calls, return_exceptions=True)
                assert all(isinstance(a, errors.InternalError) for a in answers), answers
                for station in stations:  # each to be taken off the registry, NATS away
                    await station.close()
                await asyncio.sleep(2)
                again.start()
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 10
                while sum("connection back" in r.getMessage() for r in caplog.records) < 2:
                    assert loop.time() < deadline, "NATS being back was not said"
                    await asyncio.sleep(0.1)
            await worker.close()
            await server.close(1)
            await gateway.close()
            return names
        finally:
            nats.stop()
            again.stop()

    gateway_name, worker_name = run(scenario)
    said = [r.getMessage() for r in caplog.records if r.name == "ocpp_fast.cluster"]
    assert sorted(line for line in said if "connection lost" in line) == [
        f"{gateway_name}: NATS connection lost; reconnecting",
        f"{worker_name}: NATS connection lost; reconnecting",
    ], said
    assert sorted(line.split(" after ")[0] for line in said if "connection back" in line) == [
        f"{gateway_name}: NATS connection back",
        f"{worker_name}: NATS connection back",
    ], said
    assert not any("ocpp-client" in line for line in said), said
    nats_errors = collections.Counter(
        re.sub(r"\(.*", "", line) for line in said if ": NATS: " in line
    )
    assert nats_errors and max(nats_errors.values()) <= NATS_ERRORS_PER_WINDOW, nats_errors
    # the rest by kind: the station's identity and the error's words left out
    kinds = collections.Counter(
        re.sub(
            r"^Q\d+: |\(.*|: [A-Za-z]*Error.*| [0-9a-f-]+ within.*"
            r"| [0-9a-f-]+(?= not forwarded)|(?<=not forwarded):.*",
            "",
            line,
        )
        for line in said
        if ": NATS" not in line
    )
    # of 20 stations' calls, each failed at once: the gateway's NATS link knows NATS is away
    assert kinds["Heartbeat not forwarded"] == LOG_BURST, kinds
    assert max(kinds.values()) <= LOG_BURST, kinds


async def _gateway_holding(
    gateway: Gateway, identities: list[str]
) -> tuple[CsmsServer, list[StationClient]]:
    """A demo CSMS on ``gateway`` with one station per identity, each in the registry."""
    server = await serve(DemoChargeSystem(), cluster=gateway)
    url = f"ws://127.0.0.1:{server.port}/ocpp/"
    # annotated: each is a StationClient of 2.0.1's boot response, a list of them is not a
    # list of the union (list is invariant)
    stations: list[StationClient] = [
        await connect(IdentityStation(), url + name) for name in identities
    ]
    for name in identities:
        await gateway.holds(name, 5)
    return server, stations


async def _listed(client: ClusterClient) -> dict[str, Any]:
    """``stations()``, or nothing while the bucket is not there yet."""
    try:
        return dict(await client.stations(timeout=2))
    except Exception:
        return {}


def test_handlers_in_a_worker_in_this_process(nats_url: str) -> None:
    """Forwarded CALLs: InternalError at once while no worker runs; then the worker's answers,
    its OCPP errors as their class with description and details, its call back to the
    station through the cluster and the station's identity and version on its context's
    connection; the stream still gets the durable actions first."""
    from cluster_handlers import WorkerCsms

    from ocpp_fast.cluster import Worker

    cluster = config(nats_url)

    async def scenario() -> None:
        gateway = Gateway(cluster, handlers_in="workers", worker_timeout=2)
        server = await serve(DemoChargeSystem(), cluster=gateway)
        station = await connect(IdentityStation(), f"ws://127.0.0.1:{server.port}/ocpp/W.1")
        # at once (NATS: no responders), not at the worker's timeout ("no worker answered")
        with pytest.raises(errors.InternalError, match="no worker runs"):
            await station.call(messages.HeartbeatRequest(), timeout=5)
        worker = Worker(WorkerCsms(), cluster)
        await worker.start()
        await gateway.holds("W.1", 5)
        assert (await station.call(messages.HeartbeatRequest(), timeout=5)).current_time
        with pytest.raises(errors.NotSupportedError) as refused:
            await station.call(messages.DataTransferRequest(vendor_id="refuse"), timeout=5)
        assert refused.value.description == "refused by the worker"
        assert refused.value.details == {"why": "asked to"}
        back = await station.call(messages.DataTransferRequest(vendor_id="callback"), timeout=5)
        assert back.data == "W.1"
        whom = await station.call(messages.DataTransferRequest(vendor_id="whom"), timeout=5)
        assert whom.data == "W.1 2.0.1"  # the worker's stand-in says whom it stands for
        await station.call(event("T-3", 0), timeout=5)
        stored = await read_events(nats_url, cluster.names)
        assert [e.action for e in stored] == ["TransactionEvent"]
        assert worker.handled == 5  # Heartbeat, refuse, callback, whom, TransactionEvent
        await worker.close()
        await station.close()
        await server.close()
        await gateway.close()

    run(scenario)


def test_no_worker_running_is_a_warning_and_its_answers_add_no_line(
    nats_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """No worker at all: each CALL answered InternalError was logged at INFO as a handler's
    refusal ("answering Heartbeat ... with InternalError"), a line per station and CALL, and
    no WARNING said the workers were gone. Now a WARNING (rate-limited) names the station,
    version, action and message id, and the answer adds no line."""
    cluster = config(nats_url)

    async def scenario() -> None:
        gateway = Gateway(cluster, handlers_in="workers", worker_timeout=2)
        server = await serve(DemoChargeSystem(), cluster=gateway)
        station = await connect(IdentityStation(), f"ws://127.0.0.1:{server.port}/ocpp/NW.1")
        for _ in range(3):
            with pytest.raises(errors.InternalError, match=r"no worker runs for OCPP 2\.0\.1"):
                await station.call(messages.HeartbeatRequest(), timeout=5)
        await station.close()
        await server.close()
        await gateway.close()

    with caplog.at_level(logging.DEBUG, logger="ocpp_fast"):
        run(scenario)
    said = [
        (r.levelno, r.getMessage())
        for r in caplog.records
        if "Heartbeat" in r.getMessage() and r.levelno >= logging.INFO
    ]
    assert [level for level, _ in said] == [logging.WARNING] * 3, said
    assert all(
        message.startswith("NW.1: no worker runs for OCPP 2.0.1 to answer Heartbeat ")
        for _, message in said
    ), said


def test_a_client_takes_the_servers_as_the_commands_do(nats_url: str) -> None:
    """``--nats nats://a:4222,nats://b:4222`` names a cluster's servers; the same setting given
    to a ClusterClient (an admin API reading the commands' NATS_URL) ended in nats-py's
    ``invalid connect url option``. A string of several is split as the commands split it,
    and the first server down is passed over."""

    async def scenario() -> None:
        async with ClusterClient(f"nats://127.0.0.1:1, {nats_url}") as client:
            with pytest.raises(StationNotConnected):
                await client.call(
                    "NOWHERE", messages.ResetRequest(type=enums.ResetEnumType.IMMEDIATE), timeout=5
                )

    run(scenario)


def test_a_station_a_dead_gateway_still_lists_is_said_to_be_so(nats_url: str) -> None:
    """A gateway killed (``kill -9``) leaves its stations' registry lines until the TTL drops
    them: ``stations()`` listed a station on it while a call to it said only "not connected",
    which an operator reading both could not reconcile. The error names the stale line; a
    station that left (its line deleted) or was never there gets the plain one."""
    cluster = config(nats_url)
    since = datetime.datetime(2026, 12, 5, 11, 56, 41, tzinfo=datetime.UTC)
    request = messages.DataTransferRequest(vendor_id="x")

    async def scenario() -> None:
        gateway = Gateway(cluster)
        server = await serve(DemoChargeSystem(), cluster=gateway)
        station = await connect(IdentityStation(), f"ws://127.0.0.1:{server.port}/ocpp/LEFT")
        await gateway.holds("LEFT", 5)
        await station.close()
        for _ in range(500):
            if "LEFT" not in server.connections:
                break
            await asyncio.sleep(0.01)
        await gateway.settled(5)
        async with ClusterClient(cluster) as client:
            # the line a gateway that died left behind (what its refresh wrote last)
            registry = await client.nats.jetstream().key_value(cluster.names.bucket)
            line = StationEntry(node="vm-8352", version="2.0.1", since=since)
            await registry.put("GHOST", msgspec.json.encode(line))
            assert (await client.stations())["GHOST"] == line
            with pytest.raises(StationNotConnected) as stale:
                await client.call("GHOST", request, timeout=3600)  # at once all the same
            assert str(stale.value) == (
                "GHOST is not connected to the cluster; the registry still lists it on vm-8352 "
                "(since 2026-12-05T11:56:41+00:00), which holds it no more: the line of a "
                "gateway that died stays until the registry's TTL drops it"
            )
            for plain in ("LEFT", "NEVER"):
                with pytest.raises(StationNotConnected) as absent:
                    await client.call(plain, request, timeout=3600)
                assert str(absent.value) == f"{plain} is not connected to the cluster"
            assert client.calls["disconnected"] == 3
        await server.close()
        await gateway.close()

    run(scenario)


def test_a_client_gives_up_on_an_unreachable_nats_saying_what_to_check() -> None:
    """A ``ClusterClient`` (an admin script) pointed at a NATS that does not answer waited for
    good, nothing said after nats-py's first failed attempt: its config's ``start_timeout``
    default, ``None``. It waits the commands' :data:`NATS_START_TIMEOUT` now, then raises
    ``NatsUnreachable`` naming the servers, the last error and what to check; a config's own
    timeout is kept, ``start_timeout=None`` waits for good, and a worker keeps its config's
    (``None``: a library's worker waits for good, as documented)."""
    url = f"nats://127.0.0.1:{free_port()}"
    assert ClusterClient(url).config.start_timeout == NATS_START_TIMEOUT
    assert ClusterClient(ClusterConfig(url)).config.start_timeout == NATS_START_TIMEOUT
    assert ClusterClient(ClusterConfig(url, start_timeout=3)).config.start_timeout == 3
    assert ClusterClient(url, start_timeout=None).config.start_timeout is None
    assert Worker(DemoChargeSystem(), ClusterConfig(url)).client.config.start_timeout is None

    async def scenario() -> None:
        async with ClusterClient(url, start_timeout=0.5):
            raise AssertionError("connected to a NATS that is not there")

    with pytest.raises(NatsUnreachable) as failed:  # not run()'s bound: it gave up
        run(scenario)
    said = str(failed.value)
    assert said.startswith(f"NATS at {url} unreachable: no connection within 0.5 s (last: ")
    assert said.endswith(
        ". Is NATS running there, and is it the cluster's URL (the gateways' --nats)? "
        "ClusterClient(..., start_timeout=SECONDS) waits longer, None for good"
    )


def test_no_station_is_listed_before_any_gateway_made_the_registry() -> None:
    """An admin API started before the gateways (or on a NATS that lost its storage) asked
    ``stations()`` and got nats-py's ``NotFoundError: stream not found``: no bucket yet is no
    station connected."""

    async def scenario(url: str) -> dict[str, Any]:
        async with ClusterClient(url) as client:
            return dict(await client.stations(timeout=5))

    with NatsServer() as nats_server:
        assert run(lambda: scenario(nats_server.url)) == {}


def test_the_lines_a_storm_held_back_are_counted_once_it_stopped(
    nats_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cluster's limited lines (no worker, NATS away) let 10 a minute through and said how
    many more were held back only with the kind's next line, after the minute: a storm that
    stopped never had it said, so a gateway whose workers were gone for a few seconds logged
    10 lines for 113 CALLs answered InternalError (a walk of the cluster). The gateway's
    refresh now says the count once the window ended, and its close says the rest."""
    from ocpp_fast.cluster.config import nats_failures

    monkeypatch.setattr(nats_failures, "_burst", 1)
    monkeypatch.setattr(nats_failures, "_interval", 2.0)  # each CALL takes 0.35 s
    monkeypatch.setattr(nats_failures, "_windows", {})

    async def scenario() -> list[str]:
        gateway = Gateway(config(nats_url), handlers_in="workers", registry_ttl=0.6)
        server = await serve(DemoChargeSystem(), cluster=gateway)
        station = await connect(IdentityStation(), f"ws://127.0.0.1:{server.port}/ocpp/ST.1")
        for _ in range(3):
            with pytest.raises(errors.InternalError, match="no worker runs"):
                await station.call(messages.HeartbeatRequest(), timeout=5)
        said: list[str] = []
        for _ in range(100):  # the refresh runs every 0.2 s; the window ends 2 s after it began
            said = [r.getMessage() for r in caplog.records if "suppressed" in r.getMessage()]
            if said:
                break
            await asyncio.sleep(0.05)
        await station.close()
        await server.close()
        await gateway.close()
        return said

    with caplog.at_level(logging.WARNING, logger="ocpp_fast.cluster"):
        said = run(scenario)
    assert len(said) == 1 and re.fullmatch(
        r"2 more no worker runs messages suppressed in 2 s", said[0]
    ), said


def test_an_action_no_worker_handles_is_logged_as_one_process_logs_it(
    nats_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker whose class has no method for an action answers NotSupported; the gateway
    logged each such answer at INFO as a handler's refusal (10 a minute per station: a line
    per station and CALL in a fleet) and no process said the action was not handled. Now
    as in one process: one WARNING per action in the gateway and one in the worker, each
    answer at DEBUG; a handler's own NotSupported is still logged at INFO."""
    from ocpp_fast import v201
    from ocpp_fast.cluster import Worker

    class Partial(v201.ChargeSystem):
        def data_transfer(
            self, request: messages.DataTransferRequest
        ) -> messages.DataTransferResponse:
            raise errors.NotSupportedError("refused by the worker")

    cluster = config(nats_url)

    async def scenario() -> None:
        gateway = Gateway(cluster, handlers_in="workers", worker_timeout=2)
        server = await serve(DemoChargeSystem(), cluster=gateway)
        worker = Worker(Partial(), cluster)
        await worker.start()
        station = await connect(IdentityStation(), f"ws://127.0.0.1:{server.port}/ocpp/NH.1")
        for _ in range(3):
            with pytest.raises(errors.NotSupportedError):
                await station.call(messages.HeartbeatRequest(), timeout=5)
        with pytest.raises(errors.NotSupportedError):
            await station.call(messages.DataTransferRequest(vendor_id="v"), timeout=5)
        await station.close()
        await worker.close()
        await server.close()
        await gateway.close()

    with caplog.at_level(logging.DEBUG, logger="ocpp_fast"):
        run(scenario)
    said = [(r.levelno, r.getMessage()) for r in caplog.records if "Heartbeat" in r.getMessage()]
    warned = [message for level, message in said if level == logging.WARNING]
    assert sorted(warned) == [
        "NH.1: Heartbeat of OCPP 2.0.1 is not handled by the workers: answering NotSupported "
        "(logged once per action)",
        "worker: Heartbeat of OCPP 2.0.1 is not handled by "
        f"{Partial.__qualname__}: answering NotSupported (logged once per action)",
    ]
    assert not [message for level, message in said if level == logging.INFO]
    answered = [m for level, m in said if level == logging.DEBUG and "answering Heartbeat" in m]
    assert len(answered) == 3
    refused = [r for r in caplog.records if "answering DataTransfer" in r.getMessage()]
    assert [r.levelno for r in refused] == [logging.INFO]


def test_a_worker_closing_says_how_many_handler_failures_it_held_back(
    nats_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker's handler failing on every CALL logs 10 lines a minute (the process's
    ``handler_failures``), and the worker's close says how many more there were, as a
    server's close does."""
    from ocpp_fast import v201
    from ocpp_fast._ratelimit import LOG_BURST
    from ocpp_fast.cluster import Worker

    class Failing(v201.ChargeSystem):
        def data_transfer(
            self, request: messages.DataTransferRequest
        ) -> messages.DataTransferResponse:
            raise RuntimeError("the backend is down")

    cluster = config(nats_url)
    said_at_close: list[str] = []

    async def scenario() -> None:
        gateway = Gateway(cluster, handlers_in="workers", worker_timeout=5)
        server = await serve(DemoChargeSystem(), cluster=gateway)
        worker = Worker(Failing(), cluster)
        await worker.start()
        station = await connect(IdentityStation(), f"ws://127.0.0.1:{server.port}/ocpp/HF.1")
        for _ in range(LOG_BURST + 2):
            with pytest.raises(errors.InternalError):
                await station.call(messages.DataTransferRequest(vendor_id="v"), timeout=5)
        await station.close()
        await worker.close()
        said_at_close.extend(  # the gateway's count of its answers to HF.1 is its own
            r.getMessage()
            for r in caplog.records
            if "suppressed" in r.getMessage() and not r.getMessage().startswith("HF.1: ")
        )
        await server.close()
        await gateway.close()

    with caplog.at_level(logging.INFO, logger="ocpp_fast"):
        run(scenario)
    assert len(said_at_close) == 1, said_at_close
    assert said_at_close[0].startswith(
        "2 more 'handler of DataTransfer raised RuntimeError' messages suppressed in "
    )


def test_a_gateway_keeps_the_retention_an_operator_set_on_the_stream() -> None:
    """The cluster page tells operators to set the events stream's retention themselves (the
    gateway makes it without limits): a gateway that starts must keep what they set."""
    import nats

    async def scenario(url: str) -> float:
        gateway = Gateway(ClusterConfig(url))
        await gateway.connect()  # makes the stream, unlimited
        await gateway.close()
        nc = await nats.connect(url)
        js = nc.jetstream()
        stream = (await js.stream_info("OCPP_EVENTS")).config
        assert stream.max_age in (None, 0)
        stream.max_age = 3600.0
        await js.update_stream(stream)
        gateway = Gateway(ClusterConfig(url))
        await gateway.connect()
        await gateway.close()
        kept = (await js.stream_info("OCPP_EVENTS")).config.max_age
        await nc.close()
        return kept or 0.0

    with NatsServer() as nats_server:
        assert run(lambda: scenario(nats_server.url)) == 3600.0


def test_a_gateway_that_never_held_a_station_is_settled(nats_url: str) -> None:
    """Nothing seen, nothing to follow: ``settled()`` returns at once (it waited for a change
    that never came, so closing such a gateway took the 5 s that ``close()`` allows)."""

    async def scenario() -> None:
        gateway = Gateway(config(nats_url))
        server = await serve(DemoChargeSystem(), cluster=gateway)
        await gateway.settled(2.0)  # TimeoutError without a station, before
        await server.close()
        await gateway.close()

    run(scenario)


def frame_of(request: Any, message_id: str) -> bytes:
    """The CALL frame of a 2.0.1 ``request``, as a station sends it."""
    from ocpp_fast.codec import encode_call

    return encode_call(message_id, type(request).__name__.removesuffix("Request"), request)


@pytest.mark.usefixtures("dispatch_twin")  # handle: both twins
def test_handle_on_a_gateway_s_handlers_says_to_use_handle_async(nats_url: str) -> None:
    """``handle()`` runs no event loop, and a durable action's answer waits for the stream's
    ack: it raises HandlerSuspended naming ``handle_async`` before anything is stored (it
    answered the station InternalError, after storing it when a loop ran); ``handle_async``
    stores and answers; an action that is not durable is answered by ``handle()`` as ever."""
    from ocpp_fast.dispatch import HandlerSuspended

    cluster = config(nats_url)
    durable = frame_of(event("T-9", 0), "e1")

    async def scenario() -> None:
        gateway = Gateway(cluster)
        server = await serve(DemoChargeSystem(), cluster=gateway)
        handler = server.handlers["ocpp2.0.1"]
        with pytest.raises(HandlerSuspended, match=r"TransactionEvent .*handle_async"):
            handler.handle(durable, "CS9")  # a loop runs here, but handle() cannot wait
        assert (handler.handle(b'[2,"h1","Heartbeat",{}]', "CS9") or b"").startswith(b'[3,"h1"')
        assert await handler.handle_async(durable, "CS9") == b'[3,"e1",{}]'
        stored = await read_events(nats_url, cluster.names)
        assert [(e.identity, e.message_id) for e in stored] == [("CS9", "e1")]
        await server.close()
        await gateway.close()

    run(scenario)


@pytest.mark.usefixtures("dispatch_twin")  # handle: both twins
@pytest.mark.parametrize("handlers_in", ["gateway", "workers"])
def test_handle_without_a_loop_raises_for_what_waits_for_nats(handlers_in: str) -> None:
    """With no event loop at all: an ``async def`` handler of a durable action and a CALL
    forwarded to the workers raise HandlerSuspended naming ``handle_async`` too (they were
    answered InternalError), whether or not the gateway is attached."""
    from ocpp_fast.dispatch import HandlerSuspended

    class Awaiting(DemoChargeSystem):
        async def transaction_event(
            self, request: messages.TransactionEventRequest
        ) -> messages.TransactionEventResponse:
            await asyncio.sleep(0)
            return messages.TransactionEventResponse()

    gateway = Gateway(handlers_in=handlers_in)
    handler = gateway.handlers_for({"ocpp2.0.1": Awaiting()})["ocpp2.0.1"]
    with pytest.raises(HandlerSuspended, match=r"TransactionEvent .*handle_async"):
        handler.handle(frame_of(event("T-9", 0), "e1"), "CS9")
    heartbeat = b'[2,"h1","Heartbeat",{}]'
    if handlers_in == "workers":
        with pytest.raises(HandlerSuspended, match=r"Heartbeat .*handle_async"):
            handler.handle(heartbeat, "CS9")
    else:
        assert (handler.handle(heartbeat, "CS9") or b"").startswith(b'[3,"h1"')


class Greeting(DemoChargeSystem):
    """Counts its stations' arrivals and departures (the gateway runs the hooks)."""

    def __init__(self) -> None:
        self.arrived: list[str] = []
        self.left: list[tuple[str, str]] = []

    async def on_connect(self, connection: Any) -> None:
        self.arrived.append(f"{connection.identity} {connection.version}")

    def on_disconnect(self, connection: Any, reason: str) -> None:
        self.left.append((connection.identity, reason))


async def _reach(stations: StationCaller, identity: str) -> tuple[list[str], object, str]:
    """What an admin API does, written once against StationCaller: list, call, miss."""
    listed = await stations.stations()
    answer = await stations.call(identity, messages.DataTransferRequest(vendor_id="x"), timeout=5)
    try:
        await stations.call("NOBODY", messages.DataTransferRequest(vendor_id="x"), timeout=5)
    except StationNotConnected as exc:
        missed = exc.identity
    return sorted(f"{i} {e.version}" for i, e in listed.items()), answer.data, missed


def test_one_admin_function_reaches_stations_in_one_process_and_in_a_cluster(
    nats_url: str, backend: str
) -> None:
    """server.call / server.stations() and ClusterClient's give the same entries and the same
    StationNotConnected; the gateway runs the handler's lifecycle hooks."""
    cluster = config(nats_url)

    async def scenario() -> None:
        csms = Greeting()
        gateway = Gateway(cluster)
        server = await serve(csms, cluster=gateway)
        station = await connect(IdentityStation(), f"ws://127.0.0.1:{server.port}/CS9")
        await gateway.holds("CS9", 5)
        async with ClusterClient(cluster) as client:
            assert isinstance(client, StationCaller) and isinstance(server, StationCaller)
            here = await _reach(server, "CS9")
            there = await _reach(client, "CS9")
            assert here == there == (["CS9 2.0.1"], "CS9", "NOBODY")
            local, remote = await server.stations(), await client.stations()
            assert local["CS9"].node == remote["CS9"].node == gateway.node
        await station.close()
        for _ in range(500):
            if csms.left:
                break
            await asyncio.sleep(0.01)
        await server.close()
        await gateway.close()
        assert csms.arrived == ["CS9 2.0.1"]
        assert [identity for identity, _ in csms.left] == ["CS9"]

    run(scenario)


def test_cluster_client_disconnects_a_station_wherever_it_is(nats_url: str) -> None:
    """ClusterClient.disconnect closes the station on its gateway as server.disconnect does
    (code and reason in on_disconnect, returned once it ran), counted ``closed`` both sides;
    a station held nowhere is StationNotConnected, a bad code refused before it travels."""
    cluster = config(nats_url)

    async def scenario() -> None:
        csms = Greeting()
        gateway = Gateway(cluster)
        server = await serve(csms, cluster=gateway)
        station = await connect(
            IdentityStation(),
            f"ws://127.0.0.1:{server.port}/CS5",
            backoff=Backoff(minimum=30, random_range=0),  # gone until the test ends
        )
        await gateway.holds("CS5", 5)
        async with ClusterClient(cluster) as client:
            await client.disconnect("CS5", 4001, "moved to another site", timeout=5)
            assert csms.left == [("CS5", "closed by the CSMS (4001: moved to another site)")]
            assert "CS5" not in server.connections
            assert client.calls["closed"] == gateway.routed["closed"] == 1
            with pytest.raises(StationNotConnected):
                await client.disconnect("CS5", timeout=5)
            with pytest.raises(ValueError, match="no close code"):
                await client.disconnect("CS5", 1006)
            assert client.calls["disconnected"] == 1  # the refused code never travelled
        await station.close()
        await server.close()
        await gateway.close()

    run(scenario)


def test_stations_lists_a_fleet_of_more_than_a_thousand_at_once(nats_url: str) -> None:
    """2,500 registry lines: ``stations()`` lists every one well within its timeout (its
    consumer asked for acks it never sent, so delivery stopped at the 1,000th line and the
    rest waited for the timeout)."""
    cluster = config(nats_url)

    async def scenario() -> None:
        gateway = Gateway(cluster)
        server = await serve(DemoChargeSystem(), cluster=gateway)
        identities = [f"F{n:04d}" for n in range(2500)]
        assert all(
            await asyncio.gather(*(gateway._register(identity, "2.0.1") for identity in identities))
        )
        async with ClusterClient(cluster) as client:
            # every line delivered: not a fetch's timeout (an hour: the test's bound ends first)
            listed = await client.stations(timeout=3600)
            assert sorted(listed) == identities
        await server.close()
        await gateway.close()

    run(scenario)
