"""Routed calls and registry lines over the gateway's NATS link (``cluster/_nats_link.py``):
its subscriptions fed by the parser, against a nats-server, across a nats-server restart, and
nats-py kept for both where the link does not speak the connection's options."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import nats
import pytest
from cluster_procs import IdentityStation, NatsServer, run
from cluster_procs import cluster_config as config
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.js.kv import KeyValue
from test_cluster_link import Fed

from ocpp_fast.cluster import (
    ClusterClient,
    ClusterConfig,
    Gateway,
    StationNotConnected,
    TooManyRoutedCalls,
)
from ocpp_fast.cluster._nats_link import NatsLink
from ocpp_fast.demo import DemoChargeSystem
from ocpp_fast.dispatch import CallContext
from ocpp_fast.transport import Limits, connect, serve
from ocpp_fast.v201 import enums, messages


class SlowStation(IdentityStation):
    """Answers a DataTransfer of vendor "slow" after a second: late for a routed call of 0.3 s."""

    async def data_transfer(  # type: ignore[override]
        self, request: messages.DataTransferRequest, context: CallContext
    ) -> messages.DataTransferResponse:
        if request.vendor_id == "slow":
            await asyncio.sleep(1)
        return messages.DataTransferResponse(
            status=enums.DataTransferStatusEnumType.ACCEPTED, data=context.identity
        )


def data_transfer(vendor: str = "x") -> messages.DataTransferRequest:
    return messages.DataTransferRequest(vendor_id=vendor)


async def until(condition: Any, what: str, seconds: float = 10) -> None:
    """Wait for ``condition()`` (a coroutine function or a plain one) to be true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        done = condition()
        if asyncio.iscoroutine(done):
            done = await done
        if done:
            return
        assert loop.time() < deadline, what
        await asyncio.sleep(0.05)


async def listed(client: ClusterClient) -> list[str]:
    """The registry's identities, or none while the bucket is not there."""
    try:
        return sorted(await client.stations(timeout=2))
    except Exception:
        return []


# --- the link's own subscriptions ---------------------------------------------------------------


def test_the_parser_hands_messages_to_their_subscription() -> None:
    """MSG and HMSG (headers dropped) to a subscription, with and without a reply subject; a
    message to an ended subscription is dropped; the inbox's replies still find their request."""

    async def scenario() -> None:
        async with Fed() as fed:
            got: list[tuple[bytes, bytes]] = []
            sid = fed.link.subscribe("cmd.a", lambda data, reply: got.append((data, reply)))
            ended = fed.link.subscribe("cmd.b", lambda data, reply: got.append((b"!", reply)))
            fed.link.unsubscribe(ended)
            assert await fed.written() == b"SUB cmd.a %d\r\nSUB cmd.b %d\r\nUNSUB %d\r\n" % (
                sid,
                ended,
                ended,
            )
            waiting = fed.link.request("s", b"x", 5)
            await fed.written()
            fed.wire.data_received(
                b"MSG cmd.a %d _INBOX.r.1 3\r\none\r\n"
                b"MSG cmd.a %d 3\r\ntwo\r\n"
                b"HMSG cmd.a %d _INBOX.r.3 12 17\r\nNATS/1.0\r\n\r\nthree\r\n"
                b"MSG cmd.b %d _INBOX.r.4 1\r\nx\r\n"
                b"MSG %b0 1 2\r\nok\r\n" % (sid, sid, sid, ended, fed.link._prefix)
            )
            assert got == [(b"one", b"_INBOX.r.1"), (b"two", b""), (b"three", b"_INBOX.r.3")]
            assert (await waiting).data == b"ok"
            assert fed.link.publish(b"_INBOX.r.1", b"answer")
            assert await fed.written() == b"PUB _INBOX.r.1 6\r\nanswer\r\n"
            assert fed.link.subscriptions == 1

    run(scenario)


def test_a_subscription_answers_nats_py_requests_until_it_ends(nats_url: str) -> None:
    async def scenario() -> None:
        link = NatsLink(nats_url, {}, "t")
        await link.attach()

        def answer(data: bytes, reply: bytes) -> None:
            assert link.publish(reply, data.upper())

        sid = link.subscribe("cmd.one", answer)
        client = await nats.connect(nats_url)
        with pytest.raises(NoRespondersError):  # its answer: the server has taken the SUB
            await link.request("nobody.here", b"", 5)
        replies = await asyncio.gather(
            *(client.request("cmd.one", b"call %d" % n, timeout=5) for n in range(50))
        )
        assert [r.data for r in replies] == [b"CALL %d" % n for n in range(50)]
        link.unsubscribe(sid)
        with pytest.raises(NoRespondersError):  # its answer: the server has taken the UNSUB
            await link.request("nobody.here", b"", 5)
        with pytest.raises(NoRespondersError):
            await client.request("cmd.one", b"x", timeout=5)
        await link.close()
        assert not link.publish(b"x", b"y")  # closed: nothing goes out
        await client.close()

    run(scenario)


# --- a gateway over the link --------------------------------------------------------------------


def test_routed_calls_and_registry_lines_go_over_the_link(
    nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nats-py's KeyValue.put made to fail: the registry is written all the same (over the link);
    the command subscription is the link's, routed calls are answered, one the station does not
    answer in time is a TimeoutError, and once the station left, nobody listens any more."""

    async def no_put(*args: Any, **kwargs: Any) -> int:
        raise AssertionError("a registry line went through nats-py")

    monkeypatch.setattr(KeyValue, "put", no_put)
    cluster = config(nats_url)

    async def scenario() -> None:
        gateway = Gateway(cluster)
        server = await serve(DemoChargeSystem(), cluster=gateway)
        link = gateway.relay.replies
        assert isinstance(link, NatsLink)
        station = await connect(SlowStation(), f"ws://127.0.0.1:{server.port}/ocpp/L1")
        await gateway.holds("L1", 5)
        assert isinstance(gateway._subscriptions["L1"], int) and link.subscriptions == 1
        async with ClusterClient(cluster) as client:
            assert await listed(client) == ["L1"]
            answers = await asyncio.gather(
                *(client.call("L1", data_transfer(), timeout=5) for _ in range(20))
            )
            assert {a.data for a in answers} == {"L1"}
            with pytest.raises(TimeoutError, match="did not answer in time"):
                await client.call("L1", data_transfer("slow"), timeout=0.3)
            await station.close()
            await until(lambda: "L1" not in server.connections, "the station left")
            await gateway.settled(5)
            assert link.subscriptions == 0 and "L1" not in gateway._subscriptions
            # no responders: at once, not at the call's timeout (an hour: past the test's bound)
            with pytest.raises(StationNotConnected):
                await client.call("L1", data_transfer(), timeout=3600)
            assert await listed(client) == []
        await server.close()
        await gateway.close()

    run(scenario)


def test_routed_calls_and_the_registry_come_back_with_the_link(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """nats-server stopped, a station connecting meanwhile, a new empty nats-server on the port:
    /readyz says the link is down while it is, then both stations' subscriptions are back on
    the link (routed calls reach them) and both are listed again."""

    async def scenario() -> None:
        first = NatsServer().start()
        second = NatsServer(port=first.port)
        try:
            gateway = Gateway(ClusterConfig(first.url), registry_ttl=30)
            server = await serve(DemoChargeSystem(), cluster=gateway)
            url = f"ws://127.0.0.1:{server.port}/ocpp/"
            before = await connect(IdentityStation(), url + "B1")
            await gateway.holds("B1", 5)
            link = gateway.relay.replies
            assert isinstance(link, NatsLink)
            first.stop()
            await until(lambda: link.not_ready() is not None, "the link saw NATS go")
            assert gateway.not_ready() is not None
            during = await connect(IdentityStation(), url + "B2")
            await until(lambda: "B2" in gateway._subscriptions, "B2 followed")
            second.start()
            await until(lambda: gateway.not_ready() is None, "ready again", 15)
            assert link.subscriptions == 2
            async with ClusterClient(second.url) as client:
                # the lines are written over the link after its SUBs: listed, so subscribed
                await until(lambda: _listed_is(client, ["B1", "B2"]), "listed again", 10)
                for identity in ("B1", "B2"):
                    answer = await client.call(identity, data_transfer(), timeout=5)
                    assert answer.data == identity
            await before.close()
            await during.close()
            await server.close()
            await gateway.close()
        finally:
            first.stop()
            second.stop()

    with caplog.at_level(logging.INFO, logger="ocpp_fast.cluster"):
        run(scenario)
    assert any("NATS link back" in r.getMessage() for r in caplog.records)


async def _listed_is(client: ClusterClient, identities: list[str]) -> bool:
    return await listed(client) == identities


def test_options_the_link_does_not_speak_keep_routed_calls_and_lines_on_nats_py(
    nats_url: str,
) -> None:
    async def scenario() -> None:
        cluster = ClusterConfig(nats_url, config(nats_url).names, {"tls_handshake_first": False})
        gateway = Gateway(cluster)
        server = await serve(DemoChargeSystem(), cluster=gateway)
        assert gateway._link is None
        station = await connect(IdentityStation(), f"ws://127.0.0.1:{server.port}/ocpp/N1")
        await gateway.holds("N1", 5)
        assert isinstance(gateway._subscriptions["N1"], Subscription)
        async with ClusterClient(cluster) as client:
            assert await listed(client) == ["N1"]
            assert (await client.call("N1", data_transfer(), timeout=5)).data == "N1"
            await station.close()
            await until(lambda: "N1" not in server.connections, "the station left")
            await gateway.settled(5)
            with pytest.raises(StationNotConnected):
                await client.call("N1", data_transfer(), timeout=5)
        await server.close()
        await gateway.close()

    run(scenario)


def test_a_line_not_written_while_the_link_was_down_is_written_when_it_is_back(
    nats_url: str,
) -> None:
    """The link cut (nats-py's connection up): a station connecting meanwhile cannot be put in
    the registry; it is listed once the link is back (3 s later), not at the next refresh (20 s)."""

    async def scenario() -> None:
        names = config(nats_url).names
        cluster = ClusterConfig(nats_url, names, {"reconnect_time_wait": 3})
        gateway = Gateway(cluster, registry_ttl=60)
        server = await serve(DemoChargeSystem(), cluster=gateway)
        link = gateway.relay.replies
        assert isinstance(link, NatsLink) and link._wire is not None
        assert link._wire.transport is not None
        link._wire.transport.abort()
        await until(lambda: link.not_ready() is not None, "the link cut")
        station = await connect(IdentityStation(), f"ws://127.0.0.1:{server.port}/ocpp/D1")
        await gateway.holds("D1", 5)
        assert link.not_ready() is not None  # followed while the link was down
        async with ClusterClient(cluster) as client:
            await until(lambda: _listed_is(client, ["D1"]), "listed when the link is back", 10)
            assert (await client.call("D1", data_transfer(), timeout=5)).data == "D1"
        await station.close()
        await server.close()
        await gateway.close()

    run(scenario)


@pytest.mark.parametrize("over", ["link", "nats-py"])
def test_routed_calls_beyond_the_limit_are_refused_at_once(nats_url: str, over: str) -> None:
    """``Limits.routed_calls`` routed calls wait for a slow station; the next is refused at once
    (``TooManyRoutedCalls``, without waiting for the station); once they are answered, calls go
    on."""
    options = {} if over == "link" else {"tls_handshake_first": False}  # one the link lacks
    cluster = ClusterConfig(nats_url, config(nats_url).names, options)

    async def scenario() -> None:
        gateway = Gateway(cluster)
        server = await serve(DemoChargeSystem(), cluster=gateway, limits=Limits(routed_calls=2))
        assert (gateway._link is not None) == (over == "link")
        station = await connect(SlowStation(), f"ws://127.0.0.1:{server.port}/ocpp/B1")
        await gateway.holds("B1", 5)
        async with ClusterClient(cluster) as client:
            slow = [
                asyncio.ensure_future(client.call("B1", data_transfer("slow"), timeout=5))
                for _ in range(2)
            ]
            await until(lambda: gateway._routed_waiting == 2, "both routed calls wait")
            # refused, not waited: a call that waited would be answered, once the slow ones were
            with pytest.raises(TooManyRoutedCalls, match="2 routed calls waiting"):
                await client.call("B1", data_transfer(), timeout=5)
            assert [a.data for a in await asyncio.gather(*slow)] == ["B1", "B1"]
            await until(lambda: gateway._routed_waiting == 0, "both done")
            assert (await client.call("B1", data_transfer(), timeout=5)).data == "B1"
        await station.close()
        await server.close()
        await gateway.close()

    run(scenario)


def test_the_refresh_writes_every_line_over_the_link_with_no_task_per_line(
    nats_url: str,
) -> None:
    """The refresh rewrites every station's line every third of the TTL: over the link the lines
    are its requests awaited together (no task per line, where each was one through
    ``_in_batches``); all are written again (their revisions move), and a line the bucket
    refuses makes the round report a failure (so that the stream and bucket are remade)."""
    cluster = config(nats_url)

    async def scenario() -> None:
        gateway = Gateway(cluster)
        server = await serve(DemoChargeSystem(), cluster=gateway)
        stations = [
            await connect(IdentityStation(), f"ws://127.0.0.1:{server.port}/ocpp/R{n}")
            for n in range(5)
        ]
        for n in range(5):
            await gateway.holds(f"R{n}", 5)
        assert gateway._kv is not None
        before = {n: (await gateway._kv.get(f"R{n}")).revision or 0 for n in range(5)}
        loop = asyncio.get_running_loop()
        made = [0]
        factory = loop.get_task_factory()

        def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
            made[0] += 1
            if factory is not None:
                return factory(loop, coro, **kwargs)
            return asyncio.Task(coro, loop=loop, **kwargs)

        loop.set_task_factory(counting)
        try:
            assert await gateway._write_lines() is True
        finally:
            loop.set_task_factory(factory)
        assert made[0] == 0
        after = {n: (await gateway._kv.get(f"R{n}")).revision or 0 for n in range(5)}
        assert all(after[n] > before[n] for n in range(5)), (before, after)
        gateway.names = dataclasses.replace(gateway.names, bucket="nobucket")  # nobody stores it
        assert await gateway._write_lines() is False
        for station in stations:
            await station.close()
        await server.close()
        await gateway.close()

    run(scenario)


@pytest.mark.parametrize("over", ["link", "nats-py"])
def test_a_routed_call_waiting_at_close_is_answered_and_its_task_ended(
    nats_url: str, over: str
) -> None:
    """The server closing while a routed call waits for its station: the caller is told the
    station is gone (not left to its timeout) and, once ``close()`` returned, no task of the
    gateway's is left running (it was cancelled and left behind)."""
    options = {} if over == "link" else {"tls_handshake_first": False}  # one the link lacks
    cluster = ClusterConfig(nats_url, config(nats_url).names, options)

    async def scenario() -> None:
        gateway = Gateway(cluster)
        server = await serve(DemoChargeSystem(), cluster=gateway)
        station = await connect(SlowStation(), f"ws://127.0.0.1:{server.port}/ocpp/C1")
        await gateway.holds("C1", 5)
        async with ClusterClient(cluster) as client:
            slow = asyncio.ensure_future(client.call("C1", data_transfer("slow"), timeout=8))
            await until(lambda: gateway._routed_waiting == 1, "the routed call waits")
            await gateway.close()  # as SIGTERM's path closes it: before the server's stations
            assert gateway._tasks == set()
            with pytest.raises(StationNotConnected):  # left to its timeout: a TimeoutError
                await slow
        await station.close()
        await server.close()

    run(scenario)


class AdminCsms(DemoChargeSystem):
    """Starts, in ``on_startup``, what an admin API holds: a client of the gateway's cluster."""

    def __init__(self) -> None:
        super().__init__()
        self.client: ClusterClient | None = None

    async def on_startup(self, server: Any) -> None:
        self.client = await ClusterClient.of(server, name="admin").connect()

    async def on_shutdown(self, server: Any) -> None:
        if self.client is not None:
            await self.client.close()


def test_on_startup_reaches_the_gateways_cluster_by_the_server(nats_url: str) -> None:
    """``ClusterClient.of(server)`` in ``on_startup``: the gateway's own config (its prefix
    here, which no default would find), connected, and calling a station of the cluster; a
    server that is no gateway is told so."""
    cluster = config(nats_url)

    async def scenario() -> None:
        csms = AdminCsms()
        gateway = Gateway(cluster)
        server = await serve(csms, cluster=gateway)
        assert csms.client is not None
        assert csms.client.config.servers == gateway.config.servers
        assert csms.client.names == gateway.names  # the test's prefix, not the default one
        assert csms.client.name == "admin"
        station = await connect(IdentityStation(), f"ws://127.0.0.1:{server.port}/ocpp/A1")
        await gateway.holds("A1", 5)
        answer = await csms.client.call("A1", data_transfer(), timeout=5)
        assert answer.data == "A1"
        await station.close()
        await server.close()
        await gateway.close()
        alone = await serve(DemoChargeSystem())
        with pytest.raises(ValueError, match="no cluster gateway"):
            ClusterClient.of(alone)
        await alone.close()

    run(scenario)
