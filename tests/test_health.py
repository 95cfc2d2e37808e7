"""``/healthz`` and ``/readyz`` of a running CSMS, fetched over real HTTP on 127.0.0.1 from
another thread (as a kubelet would), on both backends: ready once started, not ready while
shutting down, not live while the event loop is stuck, and in a cluster not ready while
nats-server is gone; the probes on the metrics port and on a port of their own."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from cluster_procs import NatsServer
from serve_proc import serving

from ocpp_fast._machine import free_port
from ocpp_fast.cluster import ClusterConfig, Gateway
from ocpp_fast.demo import DemoChargeSystem
from ocpp_fast.transport import connect, serve
from ocpp_fast.v201 import Charger, datatypes, enums, messages


def probe(port: int, path: str, host: str = "127.0.0.1") -> tuple[int, dict[str, Any]]:
    """The status and JSON body of ``GET path`` (blocking: call it from a thread)."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def event(transaction: str, seq_no: int) -> messages.TransactionEventRequest:
    """A TransactionEvent: durable, stored in the events stream before it is answered."""
    return messages.TransactionEventRequest(
        event_type=enums.TransactionEventEnumType.UPDATED,
        timestamp=datetime.datetime.now(datetime.UTC),
        trigger_reason=enums.TriggerReasonEnumType.METER_VALUE_PERIODIC,
        seq_no=seq_no,
        transaction_info=datatypes.TransactionType(transaction_id=transaction),
    )


class SlowToStop(DemoChargeSystem):
    """Holds the shutdown in ``on_shutdown`` until told, and the start in ``on_startup``."""

    def __init__(self) -> None:
        super().__init__()
        self.stopping = asyncio.Event()
        self.may_stop = asyncio.Event()

    async def on_shutdown(self, server: Any) -> None:
        self.stopping.set()
        await self.may_stop.wait()


@pytest.mark.usefixtures("backend")
def test_ready_when_serving_and_not_while_shutting_down() -> None:
    async def scenario() -> None:
        app = SlowToStop()
        server = await serve(app, health_port=0)
        assert server.health_port is not None and server.metrics_port is None
        port = server.health_port
        assert await asyncio.to_thread(probe, port, "/healthz") == (200, {"live": True})
        assert await asyncio.to_thread(probe, port, "/readyz") == (200, {"ready": True})
        closing = asyncio.ensure_future(server.close(5))
        await app.stopping.wait()
        status, body = await asyncio.to_thread(probe, port, "/readyz")
        assert (status, body) == (503, {"ready": False, "not_ready": {"server": "shutting down"}})
        assert await asyncio.to_thread(probe, port, "/healthz") == (200, {"live": True})
        app.may_stop.set()
        await closing
        with pytest.raises(OSError):  # the probes stop with the server
            await asyncio.to_thread(probe, port, "/healthz")

    asyncio.run(asyncio.wait_for(scenario(), 20))


@pytest.mark.usefixtures("backend")
def test_not_live_while_the_event_loop_is_stuck() -> None:
    """A handler blocking the loop: the HTTP thread still answers, 503 with the reason."""

    async def scenario() -> None:
        server = await serve(DemoChargeSystem(), health_port=0)
        assert server.health_port is not None
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            asked = pool.submit(probe, server.health_port, "/healthz")
            ready = pool.submit(probe, server.health_port, "/readyz")
            # The loop blocks until both answers came, as a blocking handler would block it.
            status, body = asked.result(timeout=5)
            assert status == 503 and body["live"] is False
            assert "did not answer" in body["not_live"]["loop"]
            status, body = ready.result(timeout=5)
            assert status == 503 and "loop" in body["not_ready"]
        assert await asyncio.to_thread(probe, server.health_port, "/healthz") == (
            200,
            {"live": True},
        )
        await server.close(1)

    asyncio.run(asyncio.wait_for(scenario(), 20))


@pytest.mark.usefixtures("backend")
def test_the_metrics_port_answers_the_probes_too() -> None:
    async def scenario() -> None:
        server = await serve(DemoChargeSystem(), metrics_port=0)
        assert server.metrics_port is not None and server.health_port == server.metrics_port
        assert await asyncio.to_thread(probe, server.metrics_port, "/readyz") == (
            200,
            {"ready": True},
        )

        def scrape() -> str:
            url = f"http://127.0.0.1:{server.metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as reply:
                return str(reply.read().decode())

        assert "ocpp_stations_connected" in await asyncio.to_thread(scrape)
        await server.close(1)

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_a_gateway_is_not_ready_while_nats_is_gone() -> None:
    async def scenario() -> None:
        nats = NatsServer().start()
        again = NatsServer(port=nats.port)
        try:
            gateway = Gateway(ClusterConfig(nats.url))
            server = await serve(DemoChargeSystem(), cluster=gateway, health_port=0)
            assert server.health_port is not None
            port = server.health_port
            assert await asyncio.to_thread(probe, port, "/readyz") == (200, {"ready": True})
            nats.stop()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while (answer := await asyncio.to_thread(probe, port, "/readyz"))[0] == 200:
                assert loop.time() < deadline, "still ready without NATS"
                await asyncio.sleep(0.1)
            assert answer[1]["ready"] is False and set(answer[1]["not_ready"]) == {"nats"}
            assert "reconnecting" in answer[1]["not_ready"]["nats"]
            again.start()
            deadline = loop.time() + 10
            while (answer := await asyncio.to_thread(probe, port, "/readyz"))[0] != 200:
                assert loop.time() < deadline, f"not ready again with NATS back: {answer}"
                await asyncio.sleep(0.1)
            await server.close(1)
            await gateway.close()
        finally:
            nats.stop()
            again.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_a_gateway_listens_only_once_nats_answers() -> None:
    """``serve --nats``: while NATS is still awaited at the start, the probes answer (live, not
    ready: ``not connected to NATS yet``) but the OCPP port refuses connections. It accepted
    stations in that window, answering their durable CALLs InternalError (every CALL with
    handlers in workers), and dropped them when NATS never came; a load balancer checking the
    port, or the kernel spreading ``--workers N``'s connections, sent stations there. Once
    NATS is up the gateway listens and stores a station's TransactionEvent."""
    nats = NatsServer()
    health = free_port()
    with contextlib.ExitStack() as stack:
        stack.callback(nats.stop)  # after the gateway's stop, which leaves the registry
        server = stack.enter_context(
            serving("--nats", nats.url, "--health-port", str(health), "--quiet")
        )
        deadline = time.monotonic() + 15
        while True:  # the command starts (imports), then its probes answer
            assert time.monotonic() < deadline, "the probes never answered"
            with contextlib.suppress(OSError):
                answer = probe(health, "/readyz")
                break
            time.sleep(0.05)
        assert answer[0] == 503 and answer[1]["not_ready"]["nats"] == "not connected to NATS yet"
        assert probe(health, "/healthz") == (200, {"live": True})
        with pytest.raises(ConnectionRefusedError):
            asyncio.run(connect(Charger(), f"ws://127.0.0.1:{server.port}/CS1"))
        nats.start()
        while " info gateway " not in (line := server.line()):
            assert line, "the gateway exited"
        assert probe(health, "/readyz") == (200, {"ready": True})

        async def station() -> Any:
            client = await connect(Charger(), f"ws://127.0.0.1:{server.port}/CS1")
            try:
                return await client.call(event("T1", 0), timeout=5)
            finally:
                await client.close()

        assert isinstance(asyncio.run(station()), messages.TransactionEventResponse)


def test_serve_prints_where_the_probes_are_and_answers_them() -> None:
    """``ocpp-fast serve --health-port``: the line printed names the URLs, which answer."""
    health = free_port()
    with serving("--health-port", str(health)) as server:
        lines = [server.line(), server.line()]
        assert f"probes on http://127.0.0.1:{health}/healthz" in lines[1], lines
        assert probe(health, "/readyz") == (200, {"ready": True})


def refused(host: str, port: int) -> bool:
    """Whether nothing listens on ``host:port``."""
    with socket.socket() as client:
        client.settimeout(5)
        return client.connect_ex((host, port)) != 0


def test_the_metrics_and_the_probes_listen_on_hosts_of_their_own() -> None:
    """``serve --host 127.0.0.1 --metrics-host 127.0.0.2 --health-host 127.0.0.3``: each port
    on its own address (both followed ``--host``, the stations': a CSMS on 0.0.0.0 published
    its metrics on every interface), and the lines printed say where."""
    metrics, health = free_port(), free_port()
    flags = ["--metrics-port", str(metrics), "--health-port", str(health)]
    hosts = ["--metrics-host", "127.0.0.2", "--health-host", "127.0.0.3"]
    with serving(*flags, *hosts) as server:
        lines = [server.line() for _ in range(3)]
        assert f"metrics on http://127.0.0.2:{metrics}/metrics" in lines[1], lines
        assert f"probes on http://127.0.0.3:{health}/healthz" in lines[2], lines
        assert probe(metrics, "/readyz", "127.0.0.2") == (200, {"ready": True})
        assert probe(health, "/readyz", "127.0.0.3") == (200, {"ready": True})
        assert refused("127.0.0.1", metrics) and refused("127.0.0.1", health)
        assert not refused("127.0.0.1", server.port)  # the stations' port stays on --host


@pytest.mark.parametrize(
    "command",
    [
        ["serve", "--port", "0"],
        # NATS refused at once: a regression exits 2 too, but on a failure to start
        ["worker", "--nats", "nats://127.0.0.1:1", "--nats-start-timeout", "1", "csms:app"],
    ],
)
@pytest.mark.parametrize("kind", ["metrics", "health"])
def test_a_host_without_its_port_is_a_usage_error(command: list[str], kind: str) -> None:
    """``--metrics-host`` or ``--health-host`` alone was ignored, nothing said (``serve``
    served, with no port where the scraper or probe was pointed): exit 2, naming the port flag
    it needs."""
    run = subprocess.run(
        [sys.executable, "-m", "ocpp_fast.cli", *command, f"--{kind}-host", "127.0.0.2"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert run.stderr.splitlines()[-1] == (
        f"ocpp-fast {command[0]}: error: --{kind}-host needs --{kind}-port: it is the address "
        "that port listens on"
    )


def test_serve_takes_the_hosts_of_its_metrics_and_probes() -> None:
    """``serve(metrics_host=..., health_host=...)``; not given, ``host`` as before."""

    async def main() -> None:
        server = await serve(
            DemoChargeSystem(),
            metrics_port=free_port(),
            health_port=free_port(),  # (0 twice is one port: the metrics one)
            metrics_host="127.0.0.2",
            health_host="127.0.0.3",
        )
        same = await serve(DemoChargeSystem(), health_port=0)
        try:
            loop = asyncio.get_running_loop()
            assert server.metrics_port is not None and server.health_port is not None
            assert same.health_port is not None
            for host, port in [
                ("127.0.0.2", server.metrics_port),
                ("127.0.0.3", server.health_port),
                ("127.0.0.1", same.health_port),
            ]:
                answer = await loop.run_in_executor(None, probe, port, "/healthz", host)
                assert answer == (200, {"live": True})
            assert refused("127.0.0.1", server.metrics_port)
        finally:
            await server.close()
            await same.close()

    asyncio.run(main())


def two_free_ports() -> int:
    """A port P with P + 1 free too (any free port's neighbour may be some client's
    ephemeral port: the second process then failed to bind it, a flaky run in CI)."""
    while True:
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port: int = first.getsockname()[1]
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port


def test_each_process_of_workers_is_probed_on_a_port_of_its_own() -> None:
    """``serve --workers 2 --health-port P``: process k answers on P + k (they shared P and
    the second one died at start before)."""
    health = two_free_ports()
    while (port := free_port()) in (health, health + 1):
        pass
    flags = ["--workers", "2", "--health-port", str(health)]
    with serving(*flags, port=port, stderr=True) as server:
        said = [server.line() for _ in range(4)]
        assert sum("probes on" in line for line in said) == 2, said
        for probed in (health, health + 1):
            assert probe(probed, "/readyz") == (200, {"ready": True})
    assert "Traceback" not in server.err, server.err
