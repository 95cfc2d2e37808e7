"""A worker's figures and probes: ``Worker(..., metrics=Metrics())`` and ``ocpp-fast worker
--metrics-port --health-port --concurrency --log-level``, scraped and probed over real HTTP,
against a real nats-server."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cluster_procs import IdentityStation, Proc, run
from cluster_procs import cluster_config as config
from prometheus_client import generate_latest
from test_health import probe

from ocpp_fast import errors
from ocpp_fast._machine import free_port
from ocpp_fast.cluster import Gateway, Worker
from ocpp_fast.demo import DemoChargeSystem
from ocpp_fast.metrics import Metrics
from ocpp_fast.transport import connect, serve
from ocpp_fast.v201 import messages

WORKER = [sys.executable, "-m", "ocpp_fast.cli", "worker"]
DEMO = "ocpp_fast.demo:DemoChargeSystem"
FIGURE = re.compile(r"^(ocpp_[^\s]+)\s+([0-9.e+-]+)$", re.MULTILINE)


def scrape(port: int) -> dict[str, float]:
    """``/metrics`` as ``{'name{labels}': value}`` (labels as the exposition writes them)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return {name: float(value) for name, value in FIGURE.findall(reply.read().decode())}


def figures_of(metrics: Metrics) -> dict[str, float]:
    """What ``/metrics`` would show of ``metrics`` now."""
    text = generate_latest(metrics.registry).decode()
    return {name: float(value) for name, value in FIGURE.findall(text)}


def test_a_worker_counts_its_calls_handler_times_and_what_it_cannot_read(
    nats_url: str, tmp_path: Path
) -> None:
    """Its CALLs by action and outcome, their handler times, the handler running while it
    runs (against the concurrency), a request it cannot read, its NATS connection."""
    from cluster_handlers import WorkerCsms

    cluster = config(nats_url)

    async def scenario() -> None:
        gateway = Gateway(cluster, handlers_in="workers", worker_timeout=1)
        gateway_metrics = Metrics()
        server = await serve(DemoChargeSystem(), cluster=gateway, metrics=gateway_metrics)
        station = await connect(IdentityStation(), f"ws://127.0.0.1:{server.port}/ocpp/F.1")
        metrics = Metrics()
        worker = Worker(WorkerCsms(), cluster, metrics=metrics, concurrency=3)
        assert figures_of(metrics)['ocpp_cluster_nats_connected{connection="nats-py"}'] == 0
        await worker.start()
        await gateway.holds("F.1", 5)
        await station.call(messages.HeartbeatRequest(), timeout=5)
        with pytest.raises(errors.NotSupportedError):
            await station.call(messages.DataTransferRequest(vendor_id="refuse"), timeout=5)
        # its handler calls the station back, through the cluster
        await station.call(messages.DataTransferRequest(vendor_id="callback"), timeout=5)
        sleeping = asyncio.ensure_future(
            station.call(
                messages.DataTransferRequest(vendor_id="sleep", data=str(tmp_path / "pid")), 5
            )
        )
        while worker.busy < 1:
            await asyncio.sleep(0.01)
        during = figures_of(metrics)
        with pytest.raises(errors.InternalError):
            await sleeping
        reply = await worker.client.nats.request(
            cluster.names.work("2.0.1", "Heartbeat"), b"not a work request", timeout=5
        )
        assert b"InternalError" in reply.data
        after = figures_of(metrics)
        at_gateway = figures_of(gateway_metrics)
        for task in list(worker._tasks):
            task.cancel()
        await worker.close()
        await station.close()
        await server.close()
        await gateway.close()
        assert during["ocpp_cluster_worker_busy"] == 1
        assert during["ocpp_cluster_worker_concurrency"] == 3
        assert during['ocpp_cluster_nats_connected{connection="nats-py"}'] == 1
        assert during['ocpp_cluster_nats_reconnects_total{connection="nats-py"}'] == 0
        calls = 'ocpp_cluster_worker_calls_total{action="%s",outcome="%s"}'
        assert after[calls % ("Heartbeat", "result")] == 1
        assert after[calls % ("DataTransfer", "error")] == 1
        routed = 'ocpp_cluster_worker_routed_calls_total{outcome="%s"}'
        assert after[routed % "answered"] == 1 and after[routed % "timeout"] == 0
        assert after['ocpp_handler_seconds_count{action="Heartbeat"}'] == 1
        # the gateway's times of the same CALLs are round trips to the worker: a name of their
        # own, so that a query of ocpp_handler_seconds sums no round trip with handler times
        assert at_gateway['ocpp_cluster_forward_seconds_count{action="Heartbeat"}'] == 1
        assert not [name for name in at_gateway if name.startswith("ocpp_handler_seconds")]
        assert after["ocpp_cluster_worker_unreadable_total"] == 1
        assert after["ocpp_cluster_worker_reply_failures_total"] == 0
        assert after["ocpp_cluster_worker_busy"] == 1  # the sleeper, until cancelled

    run(scenario)


def test_a_worker_process_serves_metrics_and_probes_with_its_flags(nats_url: str) -> None:
    """``ocpp-fast worker --metrics-port --health-port --concurrency --log-level``: the two
    ports answer ``/readyz`` (ready, in the cluster) and ``/healthz``, the metrics say the
    concurrency given and NATS up, the start names both ports, and ``--log-level warning``
    leaves out the cluster's INFO lines (the command's own start line stays)."""
    metrics_port, health_port = free_port(), free_port()
    command = [*WORKER, "--nats", nats_url]
    flags = ["--metrics-port", str(metrics_port), "--health-port", str(health_port)]
    proc = Proc(
        [
            *command,
            *flags,
            "--concurrency",
            "7",
            "--log-level",
            "warning",
            "cluster_handlers:WorkerCsms",
        ]
    )
    try:
        proc.wait_for(f"probes on http://127.0.0.1:{health_port}/healthz")
        figures = scrape(metrics_port)
        assert figures["ocpp_cluster_worker_concurrency"] == 7
        assert figures['ocpp_cluster_nats_connected{connection="nats-py"}'] == 1
        for port in (metrics_port, health_port):
            assert probe(port, "/readyz") == (200, {"ready": True})
            assert probe(port, "/healthz") == (200, {"live": True})
        said = "".join(proc.seen)
        assert f"metrics on http://127.0.0.1:{metrics_port}/metrics" in said
        assert "worker serving OCPP 2.0.1 from" in said
        assert not re.search(r"worker \S+ serving OCPP", said), said  # ocpp_fast.cluster, INFO
    finally:
        proc.kill()


def test_a_worker_s_metrics_and_probes_listen_on_hosts_of_their_own(nats_url: str) -> None:
    """``worker --metrics-host 127.0.0.2 --health-host 127.0.0.3``, as ``serve``'s: each port
    on its own address (``--host`` by default, for both), said so in the start lines."""
    metrics_port, health_port = free_port(), free_port()
    flags = ["--metrics-port", str(metrics_port), "--health-port", str(health_port)]
    hosts = ["--metrics-host", "127.0.0.2", "--health-host", "127.0.0.3"]
    proc = Proc([*WORKER, "--nats", nats_url, *flags, *hosts, DEMO])
    try:
        proc.wait_for(f"probes on http://127.0.0.3:{health_port}/healthz")
        assert f"metrics on http://127.0.0.2:{metrics_port}/metrics" in "".join(proc.seen)
        assert probe(metrics_port, "/readyz", "127.0.0.2") == (200, {"ready": True})
        assert probe(health_port, "/healthz", "127.0.0.3") == (200, {"live": True})
        for port in (metrics_port, health_port):
            with socket.socket() as client:
                assert client.connect_ex(("127.0.0.1", port)) != 0  # not on --host
    finally:
        proc.kill()


def test_a_worker_whose_metrics_port_is_taken_says_which_flag() -> None:
    """One line and exit code 2, as ``serve``'s, naming the flag (before NATS is asked)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*WORKER, "--nats", "nats://127.0.0.1:1", "--metrics-port", str(port), DEMO],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 2, done
    assert f"give another port than --metrics-port {port}" in done.stderr, done.stderr


def test_a_worker_says_why_it_is_not_ready(nats_url: str) -> None:
    """``/readyz``'s ``worker``: not before it joined the cluster, ready in it, not once its
    stop began."""
    cluster = config(nats_url)

    async def scenario() -> None:
        worker = Worker(DemoChargeSystem(), cluster)
        assert worker.not_ready() == "not connected to NATS yet"
        await worker.start()
        assert worker.not_ready() is None
        closing = asyncio.ensure_future(worker.close())
        await asyncio.sleep(0)
        assert worker.not_ready() == "stopping: no new CALLs taken"
        await closing

    run(scenario)


def test_a_concurrency_below_1_is_refused() -> None:
    """It took no CALL at all (a semaphore of 0), or raised in asyncio (below 0)."""
    with pytest.raises(ValueError, match="concurrency is 1 or more"):
        Worker(DemoChargeSystem(), concurrency=0)
    done = subprocess.run(
        [*WORKER, "--nats", "nats://127.0.0.1:1", "--concurrency", "0", DEMO],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "argument --concurrency: 0 is not 1 or more" in done.stderr
