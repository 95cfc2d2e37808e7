"""The gateway's NATS link (``cluster/_nats_link.py``): its parser fed every split of a byte
stream, and the link itself against real nats-servers (credentials, TLS, PINGs, a crash with
requests in flight, the fallback to nats-py for options it does not speak)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import logging
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from cluster_procs import IdentityStation, read_events, run
from cluster_procs import cluster_config as config
from cluster_raw import EVENT, call, serving, station
from nats.aio.client import Client as Nats
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from ocpp_fast._machine import free_port
from ocpp_fast.cluster import ClusterClient, ClusterConfig, NatsServer
from ocpp_fast.cluster._link_bytes_py import DEFAULT_MAX_PAYLOAD, MAX_CONTROL_LINE
from ocpp_fast.cluster._nats_link import (
    GATHER_AT_MOST,
    GATHER_UP_TO,
    MAX_MEMBERS,
    SWEEP_EVERY,
    WRITE_AT_ONCE_BELOW,
    NatsLink,
    Reply,
    _Wire,
    unspoken,
)
from ocpp_fast.cluster._replies import Replies
from ocpp_fast.demo import DemoChargeSystem
from ocpp_fast.transport import connect
from ocpp_fast.v201.messages import DataTransferRequest

pytestmark = pytest.mark.usefixtures("link_bytes_twin")  # both twins of the bytes


def transaction_event(seq: int) -> bytes:
    return EVENT % (seq, seq)


# --- the parser ---------------------------------------------------------------------------


class Fed:
    """A link whose wire is fed bytes by the test; what it writes is read from a socket."""

    def __init__(self) -> None:
        self.link = NatsLink("nats://127.0.0.1:1", {}, "fed")
        self.wire = _Wire(self.link, asyncio.get_running_loop())
        self.link._wire = self.wire
        self.wire.pong.set_result(None)  # as if connected: its handshake is done
        self.ours, self.theirs = socket.socketpair()
        self.theirs.setblocking(False)

    async def __aenter__(self) -> Fed:
        await asyncio.get_running_loop().connect_accepted_socket(lambda: self.wire, self.ours)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.wire.close()
        self.theirs.close()

    async def written(self) -> bytes:
        await asyncio.sleep(0)  # the wire writes on the next loop iteration
        try:
            return self.theirs.recv(1 << 20)
        except BlockingIOError:
            return b""


def stream_for(prefix: bytes) -> bytes:
    """What a server could send: replies to tokens 0 (plain), 1 (no responders), 2 (headers and
    a payload, the operation in lower case), with a PING, a +OK and an INFO among them."""
    return (
        b'INFO {"server_id":"x","max_payload":2048}\r\n'
        b"+OK\r\n"
        b"MSG " + prefix + b"0 1 5\r\nhello\r\n"
        b"PING\r\n"
        b"HMSG " + prefix + b"1 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"
        b"hmsg " + prefix + b"2 1 _INBOX.x 26 30\r\nNATS/1.0\r\nA: b\r\nC:  d \r\n\r\nbody\r\n"
        b"MSG " + prefix + b"9 1 0\r\n\r\n"  # nobody waits for token 9
    )


async def outcomes(futures: list[asyncio.Future[Reply]]) -> list[Any]:
    got: list[Any] = []
    for future in futures:
        try:
            reply = await future
            got.append((reply.data, reply.headers))
        except NoRespondersError:
            got.append("no responders")
    return got


def test_the_parser_takes_any_split_of_the_stream() -> None:
    """The same stream cut in two at every byte, then fed one byte at a time: the same replies,
    one PONG, nothing left in the buffer."""

    async def scenario() -> None:
        length = len(stream_for(Fed().link._prefix))
        cuts = [[at] for at in range(length + 1)] + [list(range(1, length))]
        for cut in cuts:
            async with Fed() as fed:
                futures = [fed.link.request("s", b"x", 5) for _ in range(3)]
                sent = await fed.written()
                assert sent.count(b"PUB s ") == 3
                data = stream_for(fed.link._prefix)
                for start, stop in zip([0, *cut], [*cut, len(data)], strict=True):
                    fed.wire.data_received(data[start:stop])
                assert await outcomes(futures) == [
                    (b"hello", None),
                    "no responders",
                    (b"body", {"A": "b", "C": "d"}),
                ], cut
                assert await fed.written() == b"PONG\r\n"
                assert fed.link.waiting == 0 and not fed.wire.reader.buffered
                assert fed.wire.reader.max_payload == 2048

    run(scenario)


@pytest.mark.parametrize(
    "sent",
    [
        b"X" * (MAX_CONTROL_LINE + 1),  # a line that never ends
        b"MSG a 1 %d\r\n" % (DEFAULT_MAX_PAYLOAD + 1),  # more than max_payload
        b"HMSG a 1 10 5\r\n",  # headers longer than the message
        b"MSG a 1 3\r\nabcd\r\n",  # a payload not ended where it says
        b"NONSENSE\r\n",
        b"MSG a 1 many\r\n",
        b"-ERR 'Unknown Protocol Operation'\r\n",
    ],
)
def test_what_the_parser_will_not_hold_drops_the_connection(sent: bytes) -> None:
    """A peer cannot make the buffer grow past a line (or a message of at most max_payload):
    it is dropped and every request waiting fails at once."""

    async def scenario() -> None:
        async with Fed() as fed:
            waiting = fed.link.request("s", b"x", 5)
            for start in range(0, len(sent), 1000):
                fed.wire.data_received(sent[start : start + 1000])
            assert fed.wire.transport is not None and fed.wire.transport.is_closing()
            assert fed.wire.reader.buffered <= MAX_CONTROL_LINE + 2
            with pytest.raises(ConnectionError):
                await waiting
            with pytest.raises(ConnectionError):
                fed.link.request("s", b"x", 5)

    run(scenario)


# --- against a nats-server --------------------------------------------------------------


async def echoing(url: str, **options: Any) -> Nats:
    """A nats-py client answering ``echo.*`` with the data and its headers, and holding
    ``hold.*`` without an answer."""
    nc = await nats.connect(url, **options)

    async def echo(msg: Msg) -> None:
        await msg.respond(msg.data + b"|" + repr(sorted((msg.headers or {}).items())).encode())

    async def hold(msg: Msg) -> None:
        return None

    await nc.subscribe("echo.*", cb=echo)
    await nc.subscribe("hold.*", cb=hold)
    await nc.flush()
    return nc


def test_requests_replies_no_responders_timeouts_and_close(nats_url: str) -> None:
    async def scenario() -> None:
        nc = await echoing(nats_url)
        link = NatsLink(nats_url, {}, "t")
        await link.attach()
        replies = await asyncio.gather(
            *(link.request(f"echo.{n}", b"%d" % n, 5) for n in range(100)),
            link.request("echo.h", b"h", 5, {"Nats-Msg-Id": "abc"}),
        )
        assert [r.data for r in replies[:100]] == [b"%d|[]" % n for n in range(100)]
        assert replies[100].data == b"h|[('Nats-Msg-Id', 'abc')]"
        with pytest.raises(NoRespondersError):
            await link.request("nobody.here", b"x", 5)
        with pytest.raises(NatsTimeout):
            await link.request("hold.1", b"x", 0.2)
        held = link.request("hold.2", b"x", 30)
        assert link.waiting == 1 and link.not_ready() is None
        await link.close()
        with pytest.raises(ConnectionError):
            await held
        with pytest.raises(ConnectionError):
            link.request("echo.1", b"x", 5)
        assert link.waiting == 0 and link.not_ready() is not None
        await nc.close()

    run(scenario)


def test_timeouts_are_swept_each_by_its_own_deadline(nats_url: str) -> None:
    """No timer per request: a sweep fails each held request at its own timeout, one with a
    long timeout (an hour) made first delaying none made after it, and stops once nothing
    waits. Each failed no earlier than its timeout (a lower bound: a load only makes it later)
    and while the long one still waited; how soon after is printed (the sweep runs every
    SWEEP_EVERY), not checked: the machine is shared."""

    async def scenario() -> None:
        nc = await echoing(nats_url)
        link = NatsLink(nats_url, {}, "t")
        await link.attach()
        loop = asyncio.get_running_loop()
        long = link.request("hold.long", b"x", 3600)
        started = loop.time()
        timings: list[float] = []
        for timeout in (0.3, 0.1):
            try:
                await link.request(f"hold.t{timeout * 10:.0f}", b"x", timeout)
            except NatsTimeout:
                timings.append(loop.time() - started)
            started = loop.time()
        print(f"\nswept {timings[0] - 0.3:.3f} s and {timings[1] - 0.1:.3f} s after the timeouts")
        assert timings[0] >= 0.3 and timings[1] >= 0.1
        assert not long.done()  # not swept with them, nor holding them until its own deadline
        answered = await link.request("echo.1", b"1", 0.2)  # its deadline is swept, not failed
        await asyncio.sleep(0.2 + 2 * SWEEP_EVERY)
        assert answered.data == b"1|[]" and link.waiting == 1 and not long.done()
        await link.close()
        assert link._sweeper is None and not link._deadlines
        with pytest.raises(ConnectionError):
            await long
        await nc.close()

    run(scenario)


class CountedWrites:
    """A transport that counts the writes made through it (everything else is the real one's)."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.writes = 0
        self.last = b""

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.last = data
        self.transport.write(data)

    def writelines(self, data: list[bytes]) -> None:
        self.write(b"".join(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)

    @classmethod
    def on(cls, link: NatsLink) -> CountedWrites:
        """Count the writes of ``link``'s connection from now on."""
        wire = link._wire
        assert wire is not None
        counted = cls(wire.transport)
        wire.transport = counted  # type: ignore[assignment]
        return counted


def test_a_lone_request_is_written_at_once_and_many_share_one_write(nats_url: str) -> None:
    async def scenario() -> None:
        nc = await echoing(nats_url)
        link = NatsLink(nats_url, {}, "t")
        await link.attach()
        counted = CountedWrites.on(link)
        lone = link.request("echo.lone", b"1", 5)
        assert counted.writes == 1  # before the loop turned: no wake-up spent on it
        assert (await lone).data == b"1|[]"
        many = [link.request(f"echo.{n}", b"%d" % n, 5) for n in range(50)]
        # the first WRITE_AT_ONCE_BELOW - 1 at once, the rest together at the loop's next turn
        assert counted.writes == 1 + WRITE_AT_ONCE_BELOW - 1
        replies = await asyncio.gather(*many)
        assert [r.data for r in replies] == [b"%d|[]" % n for n in range(50)]
        assert counted.writes == 1 + WRITE_AT_ONCE_BELOW - 1 + 1
        await link.close()
        await nc.close()

    run(scenario)


def test_a_write_window_gathers_requests_made_apart(nats_url: str) -> None:
    """Under ``write_window`` gathered requests (stores) made in separate loop turns (the
    moderate rate, where each durable CALL is alone in its turn) leave in one write at the
    window's end; past GATHER_UP_TO bytes they leave at once; closing writes what the window
    still holds."""

    async def scenario() -> None:
        nc = await echoing(nats_url)
        link = NatsLink(nats_url, {}, "t", write_window=0.2)
        await link.attach()
        counted = CountedWrites.on(link)
        loop = asyncio.get_running_loop()
        started = loop.time()
        apart = []
        for n in range(3):
            apart.append(link.request(f"echo.{n}", b"%d" % n, 5, gather=True))
            await asyncio.sleep(0.02)  # loop turns between them
        assert counted.writes == 0
        replies = await asyncio.gather(*apart)
        assert [r.data for r in replies] == [b"0|[]", b"1|[]", b"2|[]"]
        assert counted.writes == 1 and loop.time() - started >= 0.2
        big = b"x" * (GATHER_UP_TO // 2)
        pending = [link.request(f"echo.big{n}", big, 5, gather=True) for n in range(2)]
        assert counted.writes == 2  # the second reached GATHER_UP_TO: written before any turn
        await asyncio.gather(*pending)
        assert link.request("echo.kept", b"last", 5, gather=True) is not None
        assert counted.writes == 2  # held by the window
        await link.close()  # within the window: the store is written before the close
        # (what the server does with a socket closed at once is the kernel's: not asserted)
        assert counted.writes == 3 and counted.last.endswith(b"\r\nlast\r\n")
        await nc.close()

    run(scenario)


def test_a_gateway_s_write_window_stores_calls_of_several_stations_in_one_write(
    nats_url: str,
) -> None:
    """``Gateway(write_window=...)``: durable CALLs of three stations, sent apart, are each
    answered after their ack as before, stored in the stream, and their publishes left in one
    write (three without the window). The window is a second, the three sent 0.03 s apart:
    a loaded machine may stretch those gaps, past the window of 0.15 s it was."""

    async def scenario() -> None:
        cluster = config(nats_url)
        async with serving(cluster, DemoChargeSystem(), write_window=1.0) as (gateway, server):
            link = gateway.relay.replies
            assert isinstance(link, NatsLink) and link.write_window == 1.0
            sockets = [await station(server.port, f"W{n}") for n in range(3)]
            for n in range(3):  # the registry lines of their connections written (not counted)
                await gateway.holds(f"W{n}", 5)
            counted = CountedWrites.on(link)
            for n, ws in enumerate(sockets):
                frame = b'[2,"w%d","TransactionEvent",%s]' % (n, transaction_event(n))
                await ws.send(frame.decode())
                await asyncio.sleep(0.03)
            answers = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for ws in sockets]
            assert [a[:2] for a in answers] == [[3, "w0"], [3, "w1"], [3, "w2"]]
            assert counted.writes == 1
            for ws in sockets:
                await ws.close()
        stored = await read_events(nats_url, cluster.names)
        assert sorted(e.identity for e in stored) == ["W0", "W1", "W2"]

    run(scenario)


def test_a_write_window_holds_at_most_gather_at_most_writes(nats_url: str) -> None:
    """Under a long window, GATHER_AT_MOST stores leave at once in one write, not at the
    window's end: at a high rate each store would otherwise wait the whole window."""

    async def scenario() -> None:
        nc = await echoing(nats_url)
        link = NatsLink(nats_url, {}, "t", write_window=5.0)
        await link.attach()
        counted = CountedWrites.on(link)
        stores = [
            link.request(f"echo.s{n}", b"%d" % n, 5, gather=True) for n in range(GATHER_AT_MOST - 1)
        ]
        assert counted.writes == 0
        stores.append(link.request("echo.last", b"last", 5, gather=True))
        assert counted.writes == 1  # all of them, in one write
        replies = await asyncio.wait_for(asyncio.gather(*stores), 2)  # not 5 s later
        assert len(replies) == GATHER_AT_MOST and replies[-1].data == b"last|[]"
        await link.close()
        await nc.close()

    run(scenario)


def test_under_a_write_window_only_stores_wait(nats_url: str) -> None:
    """A write that may not wait (a request not gathered: a worker request, a registry line;
    a publish: a routed call's outcome) leaves at once under a window, taking the stores the
    window holds with it in the same write: a routed call or a CALL for the workers is not
    answered a window later."""

    async def scenario() -> None:
        nc = await echoing(nats_url)
        link = NatsLink(nats_url, {}, "t", write_window=5.0)
        await link.attach()
        counted = CountedWrites.on(link)
        stored = link.request("echo.store", b"s", 5, gather=True)
        await asyncio.sleep(0.02)
        assert counted.writes == 0  # the store waits for the window
        asked = link.request("echo.ask", b"a", 5)  # a worker request: not gathered
        assert counted.writes == 1 and b"\r\ns\r\n" in counted.last  # the store went with it
        replies = await asyncio.wait_for(asyncio.gather(stored, asked), 2)  # not 5 s later
        assert [r.data for r in replies] == [b"s|[]", b"a|[]"]
        link.request("echo.store2", b"t", 5, gather=True)
        assert counted.writes == 1
        assert link.publish(b"outcome", b"o")  # a routed call's outcome
        assert counted.writes == 2 and counted.last.endswith(b"PUB outcome 1\r\no\r\n")
        await link.close()
        await nc.close()

    run(scenario)


def test_a_write_window_is_seconds_0_or_more() -> None:
    for wrong in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="write_window"):
            NatsLink("nats://127.0.0.1:1", {}, "t", write_window=wrong)


def credentialed(arguments: list[str]) -> Iterator[NatsServer]:
    with NatsServer(arguments=arguments) as server:
        yield server


@pytest.fixture(scope="module")
def password_server() -> Iterator[NatsServer]:
    yield from credentialed(["--user", "gw", "--pass", "s3cret"])


@pytest.fixture(scope="module")
def token_server() -> Iterator[NatsServer]:
    yield from credentialed(["--auth", "t0ken"])


def with_credentials(url: str, credentials: str) -> str:
    return url.replace("nats://", f"nats://{credentials}@")


@pytest.mark.parametrize(
    ("url_credentials", "options"),
    [("", {"user": "gw", "password": "s3cret"}), ("gw:s3cret", {})],
    ids=["options", "url"],
)
def test_user_and_password(
    password_server: NatsServer, url_credentials: str, options: dict[str, str]
) -> None:
    url = with_credentials(password_server.url, url_credentials) if url_credentials else None

    async def scenario() -> None:
        nc = await echoing(password_server.url, user="gw", password="s3cret")
        link = NatsLink(url or password_server.url, options, "t")
        await link.attach()
        assert (await link.request("echo.1", b"x", 5)).data == b"x|[]"
        await link.close()
        wrong = NatsLink(password_server.url, {"user": "gw", "password": "nope"}, "t")
        with pytest.raises(ConnectionError, match="NATS refused the link: Authorization Violation"):
            await wrong.attach()
        await nc.close()

    run(scenario)


@pytest.mark.parametrize("in_url", [False, True], ids=["option", "url"])
def test_token(token_server: NatsServer, in_url: bool) -> None:
    async def scenario() -> None:
        nc = await echoing(token_server.url, token="t0ken")
        if in_url:
            link = NatsLink(with_credentials(token_server.url, "t0ken"), {}, "t")
        else:
            link = NatsLink(token_server.url, {"token": "t0ken"}, "t")
        await link.attach()
        assert (await link.request("echo.1", b"x", 5)).data == b"x|[]"
        await link.close()
        with pytest.raises(ConnectionError, match="Authorization Violation"):
            await NatsLink(token_server.url, {"token": "other"}, "t").attach()
        await nc.close()

    run(scenario)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made for the test."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_tls_and_a_gateway_storing_over_it(tmp_path: Path) -> None:
    """A nats-server that requires TLS: the link upgrades after INFO, checks the server's
    certificate, and a gateway's durable CALL is stored over it."""
    cert_file, key_file = self_signed(tmp_path)
    context = ssl.create_default_context(cafile=str(cert_file))

    async def scenario(url: str) -> None:
        nc = await echoing(url, tls=context)
        link = NatsLink(url, {"tls": context}, "t")
        await link.attach()
        assert link._wire is not None and link._wire.transport is not None
        assert link._wire.transport.get_extra_info("ssl_object") is not None
        assert (await link.request("echo.1", b"x", 5)).data == b"x|[]"
        await link.close()
        untrusting = NatsLink(url, {}, "t")  # the default context does not trust it
        with pytest.raises(ssl.SSLError):
            await untrusting.attach()
        await nc.close()
        cluster = ClusterConfig(url, config(url).names, {"tls": context})
        async with serving(cluster, DemoChargeSystem()) as (gateway, server):
            assert isinstance(gateway.relay.replies, NatsLink)
            ws = await station(server.port, "TLS1")
            reply = await call(ws, "m1", "TransactionEvent", transaction_event(1))
            assert reply[0] == 3, reply
            await ws.close()

    arguments = ["--tls", "--tlscert", str(cert_file), "--tlskey", str(key_file)]
    with NatsServer(arguments=arguments, scheme="tls") as server:
        run(lambda: scenario(server.url))


def test_the_server_s_pings_are_answered(tmp_path: Path) -> None:
    """A server that pings every 100 ms and drops a client after one unanswered PING: the link
    is the same connection after many of them."""
    settings = tmp_path / "nats.conf"
    settings.write_text('ping_interval: "100ms"\nping_max: 1\n')

    async def scenario(url: str) -> None:
        nc = await echoing(url)
        link = NatsLink(url, {}, "t")
        await link.attach()
        wire = link._wire
        await asyncio.sleep(1.0)  # about ten PINGs
        assert link._wire is wire
        assert (await link.request("echo.1", b"x", 5)).data == b"x|[]"
        await link.close()
        await nc.close()

    with NatsServer(arguments=["-c", str(settings)]) as server:
        run(lambda: scenario(server.url))


def test_a_nats_crash_with_stores_in_flight(caplog: pytest.LogCaptureFixture) -> None:
    """nats-server killed (-9) while stores wait for their acks: they are answered InternalError
    at once (long before the store timeout: the link saw the connection go), /readyz says the
    link is down, and once a new nats-server runs on the port, stores succeed again."""

    async def scenario() -> None:
        first = NatsServer().start()
        second = NatsServer(port=first.port)
        try:
            cluster = config(first.url)
            async with serving(cluster, DemoChargeSystem(), store_timeout=60) as (gateway, server):
                ws = await station(server.port, "K1")
                assert (await call(ws, "m0", "TransactionEvent", transaction_event(0)))[0] == 3
                holder = await nats.connect(first.url)
                held: list[Msg] = []

                async def take(msg: Msg) -> None:
                    held.append(msg)

                # Subscribed before the stream goes: subscribed after, nats-server 2.15 sometimes
                # still answers a publish "no responders" (see cluster_procs.until_routed).
                await holder.subscribe(cluster.names.events(), cb=take)
                await holder.flush()
                await holder.jetstream().delete_stream(cluster.names.stream)
                for n in range(1, 4):
                    frame = b'[2,"m%d","TransactionEvent",%s]' % (n, transaction_event(n))
                    await ws.send(frame.decode())
                async with asyncio.timeout(5):
                    while len(held) < 3 or gateway.relay.replies.waiting < 3:
                        await asyncio.sleep(0.01)
                first.kill()
                async with asyncio.timeout(5):  # within the test's bound, not the store's 60 s
                    answers = sorted([(await ws.recv()) for _ in range(3)])
                assert all('"InternalError"' in a for a in answers), answers
                assert gateway.relay.replies.waiting == 0
                assert gateway.not_ready() is not None
                await holder.close()
                second.start()
                async with asyncio.timeout(15):
                    n = 10
                    while True:
                        n += 1
                        reply = await call(ws, f"m{n}", "TransactionEvent", transaction_event(n))
                        if reply[0] == 3:
                            break
                        await asyncio.sleep(0.2)
                    while gateway.not_ready() is not None:
                        await asyncio.sleep(0.05)
                await ws.close()
        finally:
            first.stop()
            second.stop()

    with caplog.at_level(logging.INFO, logger="ocpp_fast.cluster"):
        run(scenario)
    said = [r.getMessage() for r in caplog.records]
    lost = [r.levelno for r in caplog.records if "NATS link lost" in r.getMessage()]
    assert lost == [logging.WARNING], said  # as nats-py's "connection lost"
    assert sum("NATS link back" in line for line in said) == 1, said


def test_a_link_cut_is_said_by_readyz_and_mended(nats_url: str) -> None:
    async def scenario() -> None:
        async with serving(config(nats_url), DemoChargeSystem()) as (gateway, server):
            link = gateway.relay.replies
            assert isinstance(link, NatsLink) and link._wire is not None
            assert link._wire.transport is not None
            link._wire.transport.abort()
            await asyncio.sleep(0)
            assert "link" in (gateway.not_ready() or "")
            async with asyncio.timeout(5):
                while gateway.not_ready() is not None:
                    await asyncio.sleep(0.05)
            ws = await station(server.port, "C1")
            assert (await call(ws, "m1", "TransactionEvent", transaction_event(1)))[0] == 3
            await ws.close()

    run(scenario)


def test_readyz_follows_the_connection_that_carries_the_stations_work(nats_url: str) -> None:
    """With the gateway's own link, nats-py's connection carries only the registry's upkeep:
    while it reconnects the gateway stays ready; closed for good (its reconnects used up,
    while the link's never end) it is not ready, for it never comes back, though stores and
    routed calls go on; the link's loss is said first, nats-py's beside it. Without the link
    (an option it does not speak), nats-py's loss is said with what fails."""
    cluster = config(nats_url)
    link_down = "the NATS link for stores, requests and routed calls is down, reconnecting"

    async def scenario() -> None:
        async with serving(cluster, DemoChargeSystem()) as (gateway, server):
            ws = await station(server.port, "R1")
            answering = await connect(IdentityStation(), f"ws://127.0.0.1:{server.port}/ocpp/R2")
            await gateway.holds("R2", 5)
            nc = gateway._nc
            assert nc is not None and isinstance(gateway.relay.replies, NatsLink)
            nc._transport._io_writer.transport.abort()  # type: ignore[union-attr]
            async with asyncio.timeout(5):
                while not nc.is_reconnecting:
                    await asyncio.sleep(0)
            assert gateway.not_ready() is None
            async with asyncio.timeout(10):
                while not nc.is_connected:
                    await asyncio.sleep(0.05)
            await nc.close()
            assert gateway.not_ready() == (
                "nats-py's connection (the registry's upkeep) is closed and will not reconnect"
            )
            assert (await call(ws, "m1", "TransactionEvent", transaction_event(1)))[0] == 3
            async with ClusterClient(cluster) as client:
                answer = await client.call("R2", DataTransferRequest(vendor_id="x"), timeout=5)
            assert answer.data == "R2"
            wire = gateway.relay.replies._wire
            assert wire is not None and wire.transport is not None
            wire.transport.abort()
            await asyncio.sleep(0)
            assert gateway.not_ready() == (
                f"{link_down}; nats-py's connection (the registry's upkeep) is closed and will "
                "not reconnect"
            )
            async with asyncio.timeout(5):
                while gateway.not_ready() != (
                    "nats-py's connection (the registry's upkeep) is closed and will not reconnect"
                ):
                    await asyncio.sleep(0.05)
            await answering.close()
            await ws.close()
        without_link = ClusterConfig(nats_url, cluster.names, {"tls_handshake_first": False})
        async with serving(without_link, DemoChargeSystem()) as (gateway, server):
            assert gateway._nc is not None and gateway.not_ready() is None
            await gateway._nc.close()
            assert gateway.not_ready() == (
                "the NATS connection for stores, requests and routed calls is closed"
            )

    run(scenario)


def test_options_the_link_does_not_speak_keep_nats_py(
    nats_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert unspoken("nats://h:4222", {"user": "u", "password": "p", "tls": None}) is None
    assert unspoken(["tls://a", "b:4222"], {"reconnect_time_wait": 1, "error_cb": None}) is None
    assert unspoken("nats://h", {"verbose": True, "pedantic": True, "no_echo": True}) is None
    assert unspoken("nats://h", {"nkeys_seed": "x", "user_credentials": "f.creds"}) is None
    assert unspoken("nats://h", {"signature_cb": print}) == "the option signature_cb="
    assert unspoken("nats://h", {"password": lambda: "p"}) == "password= given as a callback"
    assert unspoken("ws://h:8080", {}) == "the server URL scheme 'ws'"
    with pytest.raises(ValueError, match="user_jwt_cb"):
        NatsLink("nats://h", {"user_jwt_cb": print}, "t")

    async def scenario() -> None:
        names = config(nats_url).names
        cluster = ClusterConfig(nats_url, names, {"tls_handshake_first": False})
        async with serving(cluster, DemoChargeSystem()) as (gateway, server):
            assert isinstance(gateway.relay.replies, Replies)
            ws = await station(server.port, "F1")
            assert (await call(ws, "m1", "TransactionEvent", transaction_event(1)))[0] == 3
            await ws.close()

    with caplog.at_level(logging.INFO, logger="ocpp_fast.cluster"):
        run(scenario)
    assert any(
        "go through nats-py (the option tls_handshake_first=)" in r.getMessage()
        for r in caplog.records
    )


def clustered(name: str, routes_to: int, port: int) -> NatsServer:
    """A nats-server of a two-server cluster named ``T``, its route port ``port``, routed to the
    other's ``routes_to``."""
    return NatsServer(
        arguments=[
            *("--cluster", f"nats://127.0.0.1:{port}", "--routes", f"nats://127.0.0.1:{routes_to}"),
            *("--server_name", name, "--cluster_name", "T"),
        ]
    )


def test_the_link_fails_over_to_a_member_the_cluster_named() -> None:
    """Given one server of a NATS cluster, the link learns the other from its INFO
    (``connect_urls``) and, when the one given dies, connects to the other: requests go on."""
    route_a, route_b = free_port(), free_port()
    a, b = clustered("A", route_b, route_a), clustered("B", route_a, route_b)

    async def scenario() -> None:
        nc = await echoing(b.url)  # the responder is on B
        link = NatsLink(a.url, {"reconnect_time_wait": 0.1}, "t")
        await link.attach()
        async with asyncio.timeout(10):  # the route forms, A tells of B
            while b.url not in link.servers:
                await asyncio.sleep(0.05)
            while True:  # and B's subscription reaches A
                try:
                    reply = await link.request("echo.1", b"via A", 1)
                    break
                except NoRespondersError:
                    await asyncio.sleep(0.05)
        assert reply.data == b"via A|[]"
        assert link.servers == [a.url, b.url]
        a.kill()
        async with asyncio.timeout(10):  # the loss seen, then B connected to
            while link._wire is None or link._wire.server is not link._members[0]:
                await asyncio.sleep(0.05)
            reply = await link.request("echo.2", b"via B", 5)
        assert reply.data == b"via B|[]"
        assert link.not_ready() is None
        await link.close()
        await nc.close()

    a.start()
    b.start()
    try:
        run(scenario)
    finally:
        a.stop()
        b.stop()


def test_what_an_info_names_is_kept_bounded_and_read_safely() -> None:
    """Members come from ``connect_urls`` as ``host:port`` (IPv6 in brackets), reached with the
    scheme and credentials of the server that named them; what cannot be read is skipped, known
    servers are not added twice, and at most MAX_MEMBERS are kept."""
    link = NatsLink("tls://u:p@nats.example:4222", {}, "t")
    told = link._servers[0]
    link.learned({"connect_urls": ["nats.example:4222", "10.0.0.2:4223", "[::1]:4224"]}, told)
    link.learned({"connect_urls": ["10.0.0.2:4223", ":", "bad:port:x", 7, "10.0.0.3"]}, told)
    link.learned({"connect_urls": "10.0.0.9:1"}, told)  # not a list: nothing
    assert link.servers == [
        "tls://nats.example:4222",
        "tls://10.0.0.2:4223",
        "tls://[::1]:4224",
        "tls://10.0.0.3:4222",
    ]
    member = link._members[0]
    assert (member.user, member.password, member.tls_name) == ("u", "p", "nats.example")
    link.learned({"connect_urls": [f"10.1.0.{n}:4222" for n in range(100)]}, told)
    assert len(link._members) == MAX_MEMBERS
