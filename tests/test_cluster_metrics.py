"""A gateway's cluster figures on ``/metrics``, scraped over real HTTP, against a real
nats-server: durable stores made and failed by cause, CALLs forwarded to workers and failed,
routed calls by outcome, its NATS connections up or down and their reconnects, the write
window's writes. (A worker's: test_worker_metrics.py.)"""

from __future__ import annotations

import asyncio
import datetime
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cluster_procs import IdentityStation, NatsServer, run
from cluster_procs import cluster_config as config
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api
from nats.js.errors import NoStreamResponseError

from ocpp_fast import errors
from ocpp_fast.cluster import ClusterClient, ClusterConfig, Gateway, TooManyRoutedCalls, Worker
from ocpp_fast.cluster._tally import store_cause
from ocpp_fast.demo import DemoChargeSystem
from ocpp_fast.dispatch import CallContext
from ocpp_fast.transport import Limits, connect, serve
from ocpp_fast.v201 import datatypes, enums, messages

STORE_FAILURES = "ocpp_cluster_store_failures_total{cause=%r}"
LINK_UP = 'ocpp_cluster_nats_connected{connection="link"}'


def scrape(port: int) -> dict[str, float]:
    """``/metrics`` as ``{'name{labels}': value}`` (labels as the exposition writes them)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    found = re.findall(r"^(ocpp_[^\s]+)\s+([0-9.e+-]+)$", text, re.MULTILINE)
    return {name: float(value) for name, value in found}


def label(template: str, value: str) -> str:
    return (template % value).replace("'", '"')


async def scraped(port: int) -> dict[str, float]:
    return await asyncio.to_thread(scrape, port)


async def until(port: int, name: str, value: float, timeout: float = 10) -> dict[str, float]:
    """The scrape once ``name`` reads ``value`` (the link's state follows a loss a moment later)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (figures := await scraped(port)).get(name) != value:
        assert asyncio.get_running_loop().time() < deadline, (name, figures.get(name))
        await asyncio.sleep(0.05)
    return figures


def event(seq_no: int) -> messages.TransactionEventRequest:
    return messages.TransactionEventRequest(
        event_type=enums.TransactionEventEnumType.UPDATED,
        timestamp=datetime.datetime.now(datetime.UTC),
        trigger_reason=enums.TriggerReasonEnumType.METER_VALUE_PERIODIC,
        seq_no=seq_no,
        transaction_info=datatypes.TransactionType(transaction_id="T-1"),
    )


class SlowStation(IdentityStation):
    """Refuses DataTransfer ``refuse``; sits on ``slow`` for longer than the tests wait."""

    async def data_transfer(  # type: ignore[override]
        self, request: messages.DataTransferRequest, context: CallContext
    ) -> messages.DataTransferResponse:
        if request.vendor_id == "refuse":
            raise errors.NotSupportedError("refused by the station")
        if request.vendor_id == "slow":
            await asyncio.sleep(5)
        return messages.DataTransferResponse(status=enums.DataTransferStatusEnumType.ACCEPTED)


def test_a_gateway_counts_its_stores_routed_calls_link_and_window(nats_url: str) -> None:
    """Every series there from the start (a failure cause at 0 before its first), then the
    stores, the write window's writes and each way a routed call ends."""
    cluster = config(nats_url)

    async def scenario() -> None:
        gateway = Gateway(cluster, write_window=0.01)
        server = await serve(
            DemoChargeSystem(), cluster=gateway, metrics_port=0, limits=Limits(routed_calls=1)
        )
        assert server.metrics_port is not None
        port = server.metrics_port
        first = await scraped(port)
        for cause in ("refused", "timeout", "link_down", "no_stream", "other"):
            assert first[label(STORE_FAILURES, cause)] == 0
        assert first["ocpp_cluster_stores_total"] == 0
        assert first[LINK_UP] == 1 and first['ocpp_cluster_nats_connected{connection="nats-py"}']
        assert first['ocpp_cluster_nats_reconnects_total{connection="link"}'] == 0
        station = await connect(SlowStation(), f"ws://127.0.0.1:{server.port}/ocpp/M.1")
        await gateway.holds("M.1", 5)
        await station.call(event(0), timeout=5)
        await station.call(event(1), timeout=5)
        async with ClusterClient(cluster) as client:
            await client.call("M.1", messages.DataTransferRequest(vendor_id="x"), timeout=5)
            with pytest.raises(errors.NotSupportedError):
                await client.call("M.1", messages.DataTransferRequest(vendor_id="refuse"), 5)
            # waiting through a scrape and a refused call (0.5 s raced them on a loaded
            # machine), then timed out before the station's answer (one loop: in that order)
            slow = asyncio.ensure_future(
                client.call("M.1", messages.DataTransferRequest(vendor_id="slow"), timeout=2.5)
            )
            while gateway.routed_waiting < 1:
                await asyncio.sleep(0.01)
            assert (await scraped(port))["ocpp_cluster_routed_calls_waiting"] == 1
            with pytest.raises(TooManyRoutedCalls):
                await client.call("M.1", messages.DataTransferRequest(vendor_id="x"), timeout=5)
            with pytest.raises(TimeoutError):
                await slow
        figures = await scraped(port)
        await station.close()
        await server.close()
        await gateway.close()
        assert figures["ocpp_cluster_stores_total"] == 2
        # the handlers run here: their times keep their name (a forwarding gateway's do not)
        assert figures['ocpp_handler_seconds_count{action="TransactionEvent"}'] == 2
        assert not [name for name in figures if name.startswith("ocpp_cluster_forward_seconds")]
        assert all(figures[label(STORE_FAILURES, c)] == 0 for c in ("refused", "link_down"))
        routed = {
            outcome: figures[f'ocpp_cluster_routed_calls_total{{outcome="{outcome}"}}']
            for outcome in ("answered", "callerror", "timeout", "refused", "disconnected")
        }
        assert routed == {
            "answered": 1,
            "callerror": 1,
            "timeout": 1,
            "refused": 1,
            "disconnected": 0,
        }
        # each store waited for the window (one at a time here): a write each, or fewer where
        # a write that may not wait (a registry line) took one with it
        assert 1 <= figures["ocpp_cluster_window_writes_total"] <= 2
        assert figures["ocpp_cluster_forwarded_total"] == 0
        assert figures["ocpp_cluster_requests_waiting"] == 0

    run(scenario)


def test_stores_refused_by_the_stream_and_with_no_stream_are_counted_so(nats_url: str) -> None:
    """A stream that takes one message (an operator's limit) refuses the second store; with the
    stream deleted, NATS says nobody takes the third."""
    import nats

    cluster = config(nats_url)

    async def scenario() -> None:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        await js.add_stream(
            api.StreamConfig(
                name=cluster.names.stream,
                subjects=[cluster.names.events()],
                max_msgs=1,
                discard=api.DiscardPolicy.NEW,
            )
        )
        gateway = Gateway(cluster)
        server = await serve(DemoChargeSystem(), cluster=gateway, metrics_port=0)
        assert server.metrics_port is not None
        station = await connect(IdentityStation(), f"ws://127.0.0.1:{server.port}/ocpp/R.1")
        await station.call(event(0), timeout=5)
        with pytest.raises(errors.InternalError):
            await station.call(event(1), timeout=5)
        await js.delete_stream(cluster.names.stream)
        with pytest.raises(errors.InternalError):
            await station.call(event(2), timeout=5)
        figures = await scraped(server.metrics_port)
        await station.close()
        await server.close()
        await gateway.close()
        await nc.close()
        assert figures["ocpp_cluster_stores_total"] == 3
        assert figures[label(STORE_FAILURES, "refused")] == 1
        assert figures[label(STORE_FAILURES, "no_stream")] == 1

    run(scenario)


REGISTRY_FAILURES = "ocpp_cluster_registry_failures_total{cause=%r}"


def test_registry_lines_not_written_are_counted_by_cause(nats_url: str) -> None:
    """The registry's bucket deleted under a gateway holding a station: the next refresh's
    line finds no stream (``no_stream``), then the gateway makes the bucket again and writes
    it. Those failures were WARNINGs only, in no series."""
    import nats

    cluster = config(nats_url)

    async def scenario() -> None:
        gateway = Gateway(cluster, registry_ttl=0.6)  # a refresh every 0.2 s
        server = await serve(DemoChargeSystem(), cluster=gateway, metrics_port=0)
        assert server.metrics_port is not None
        port = server.metrics_port
        first = await scraped(port)
        for cause in ("refused", "timeout", "link_down", "no_stream", "other"):
            assert first[label(REGISTRY_FAILURES, cause)] == 0
        station = await connect(IdentityStation(), f"ws://127.0.0.1:{server.port}/ocpp/K.1")
        await gateway.holds("K.1", 5)
        nc = await nats.connect(nats_url)
        await nc.jetstream().delete_key_value(cluster.names.bucket)
        deadline = asyncio.get_running_loop().time() + 10
        while not (await scraped(port))[label(REGISTRY_FAILURES, "no_stream")]:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        async with ClusterClient(cluster) as client:  # written again once the bucket is back
            while "K.1" not in await client.stations():
                await asyncio.sleep(0.05)
        await nc.close()
        await station.close()
        await server.close()
        await gateway.close()

    run(scenario)


def test_a_cluster_client_counts_its_calls_by_outcome(nats_url: str) -> None:
    """``ClusterClient.calls``: what the caller alone sees (a station connected nowhere: no
    gateway counts that call) beside what the gateway counts too, with the same labels."""
    cluster = config(nats_url)

    async def scenario() -> dict[str, int]:
        gateway = Gateway(cluster)
        server = await serve(DemoChargeSystem(), cluster=gateway)
        station = await connect(SlowStation(), f"ws://127.0.0.1:{server.port}/ocpp/C.1")
        await gateway.holds("C.1", 5)
        async with ClusterClient(cluster) as client:
            assert set(client.calls.values()) == {0}  # each outcome there from the start
            await client.call("C.1", messages.DataTransferRequest(vendor_id="x"), timeout=5)
            with pytest.raises(errors.NotSupportedError):
                await client.call("C.1", messages.DataTransferRequest(vendor_id="refuse"), 5)
            with pytest.raises(TimeoutError):
                await client.call("C.1", messages.DataTransferRequest(vendor_id="slow"), 0.3)
            with pytest.raises(errors.StationNotConnected):
                await client.call("nobody", messages.DataTransferRequest(vendor_id="x"), 5)
            calls = dict(client.calls)
        await station.close()
        await server.close()
        await gateway.close()
        return calls

    calls = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert calls == {
        "answered": 1,
        "callerror": 1,
        "timeout": 1,
        "disconnected": 1,
        "version": 0,
        "refused": 0,
        "closed": 0,
    }


def test_the_cause_of_a_failed_store() -> None:
    """What each failure of a store is counted as (a timeout's own test would wait the store
    timeout out: the class is what decides)."""
    assert store_cause(NatsTimeout()) == "timeout"
    assert store_cause(NoRespondersError()) == "no_stream"
    assert store_cause(NoStreamResponseError()) == "no_stream"  # a registry line over nats-py
    assert store_cause(ConnectionError("lost")) == "link_down"
    assert store_cause(RuntimeError("the stream refused it: ...")) == "refused"
    assert store_cause(ValueError("?")) == "other"


def test_the_link_down_and_back_stores_and_calls_failing_meanwhile() -> None:
    """NATS gone: the link reads 0, the store fails as ``link_down`` and the CALL for the
    workers as ``unreachable``; back, the link reads 1 and counts its reconnect."""

    async def scenario() -> None:
        nats_server = NatsServer().start()
        again = NatsServer(port=nats_server.port)
        try:
            gateway = Gateway(ClusterConfig(nats_server.url), handlers_in="workers")
            server = await serve(DemoChargeSystem(), cluster=gateway, metrics_port=0)
            assert server.metrics_port is not None
            port = server.metrics_port
            station = await connect(IdentityStation(), f"ws://127.0.0.1:{server.port}/ocpp/D.1")
            nats_server.stop()
            await until(port, LINK_UP, 0)
            with pytest.raises(errors.InternalError):
                await station.call(event(0), timeout=5)
            with pytest.raises(errors.InternalError):
                await station.call(messages.HeartbeatRequest(), timeout=5)
            figures = await scraped(port)
            assert figures[label(STORE_FAILURES, "link_down")] == 1
            assert figures['ocpp_cluster_forward_failures_total{cause="unreachable"}'] == 1
            assert figures["ocpp_cluster_forwarded_total"] == 1
            again.start()
            figures = await until(port, 'ocpp_cluster_nats_reconnects_total{connection="link"}', 1)
            assert figures[LINK_UP] == 1
            await station.close()
            await server.close(1)
            await gateway.close()
        finally:
            nats_server.stop()
            again.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_calls_forwarded_to_workers_and_those_unanswered_by_cause(
    nats_url: str, tmp_path: Path
) -> None:
    """No worker: ``no_worker``; one that does not answer in time: ``timeout``."""
    from cluster_handlers import WorkerCsms

    cluster = config(nats_url)

    async def scenario() -> None:
        gateway = Gateway(cluster, handlers_in="workers", worker_timeout=1)
        server = await serve(DemoChargeSystem(), cluster=gateway, metrics_port=0)
        assert server.metrics_port is not None
        station = await connect(IdentityStation(), f"ws://127.0.0.1:{server.port}/ocpp/F.1")
        with pytest.raises(errors.InternalError, match="no worker"):
            await station.call(messages.HeartbeatRequest(), timeout=5)
        worker = Worker(WorkerCsms(), cluster)
        await worker.start()
        await gateway.holds("F.1", 5)
        await station.call(messages.HeartbeatRequest(), timeout=5)
        with pytest.raises(errors.InternalError):
            await station.call(
                messages.DataTransferRequest(vendor_id="sleep", data=str(tmp_path / "pid")), 5
            )
        figures = await scraped(server.metrics_port)
        for task in list(worker._tasks):
            task.cancel()
        await worker.close()
        await station.close()
        await server.close()
        await gateway.close()
        assert figures["ocpp_cluster_forwarded_total"] == 3
        assert figures['ocpp_cluster_forward_failures_total{cause="no_worker"}'] == 1
        assert figures['ocpp_cluster_forward_failures_total{cause="timeout"}'] == 1
        assert figures['ocpp_cluster_forward_failures_total{cause="unreachable"}'] == 0

    run(scenario)
