"""OCPP-J over real WebSockets on loopback: negotiation, identity, security profiles, reconnects."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import inspect
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from my_test_charge_system import MyTestChargeSystem
from my_test_charger import MyTestCharger
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from ocpp_fast import v16
from ocpp_fast._cli_serve import add_serve_arguments
from ocpp_fast.errors import HandshakeFailed
from ocpp_fast.transport import (
    Admission,
    Backoff,
    StationClient,
    StationRequest,
    connect,
    memory,
    parse_identity,
    serve,
)
from ocpp_fast.transport.backend import BACKENDS
from ocpp_fast.transport.limits import DEFAULT_MAX_SIZE
from ocpp_fast.v201 import datatypes, enums, messages

BOOT = messages.BootNotificationRequest(
    reason=enums.BootReasonEnumType.POWER_UP,
    charging_station=datatypes.ChargingStationType(model="M", vendor_name="V"),
)
FAST = Backoff(minimum=0.05, random_range=0.05, repeat_times=2)
DATA = messages.DataTransferRequest(vendor_id="GA", data="abc" * 2000)


def run(coro: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(coro(), 20))


pytestmark = pytest.mark.usefixtures("backend", "listener_twin")  # both backends; both twins
# of the picows listener


# --- certificates made for the test run -------------------------------------------------------


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _cert(
    subject: str, key: Any, issuer: x509.Name, issuer_key: Any, *, ca: bool, san: bool = False
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        from ipaddress import ip_address

        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


class Pki:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate for CS001."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _cert("Test CA", ca_key, _name("Test CA"), ca_key, ca=True)
        self.ca = self._write("ca", ca, None)
        self.server = self._pair("server", "127.0.0.1", ca, ca_key, san=True)
        self.client = self._pair("client", "CS001", ca, ca_key)

    def _pair(self, stem: str, common: str, ca: Any, ca_key: Any, san: bool = False) -> Path:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(common, key, ca.subject, ca_key, ca=False, san=san)
        return self._write(stem, cert, key)

    def _write(self, stem: str, cert: x509.Certificate, key: Any) -> Path:
        path = self.folder / f"{stem}.pem"
        pem = cert.public_bytes(serialization.Encoding.PEM)
        if key is not None:
            pem += key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        path.write_bytes(pem)
        return path

    def server_context(self, mutual: bool) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server)
        if mutual:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.ca)
        return context

    def client_context(self, with_certificate: bool) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        if with_certificate:
            context.load_cert_chain(self.client)
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


# --- the tests ---------------------------------------------------------------------------------


def test_identity_is_the_last_path_segment_percent_decoded() -> None:
    assert parse_identity("/ocpp/CS001") == "CS001"
    assert parse_identity("/ocpp/CS%20001/") == "CS 001"
    assert parse_identity("/ocpp/" + "x" * 48) == "x" * 48
    assert parse_identity("/ocpp/" + "x" * 49) is None
    assert parse_identity("/ocpp/a%3Ab") is None
    assert parse_identity("/") is None


def test_a_url_without_identity_says_how_to_give_one() -> None:
    """``connect(..., "ws://HOST:PORT")``, the CSMS's start line copied: the error names both
    ways to give the identity (it said only that there was none)."""
    with pytest.raises(ValueError) as refused:
        asyncio.run(connect(MyTestCharger(), "ws://127.0.0.1:9"))
    assert str(refused.value) == (
        "no station identity in 'ws://127.0.0.1:9': end the URL with it "
        "(ws://HOST:PORT/ocpp/CS001), or pass identity="
    )


def test_profile_1_with_a_tls_context_is_refused_as_the_profile_2_it_would_be() -> None:
    """Profile 1 is HTTP Basic over ``ws://``: given an ``ssl`` context it served ``wss://``,
    OCPP's profile 2, with no word of it."""
    import ssl as ssl_module

    context = ssl_module.SSLContext(ssl_module.PROTOCOL_TLS_SERVER)
    with pytest.raises(ValueError) as refused:
        asyncio.run(serve(MyTestChargeSystem(), security_profile=1, ssl=context))
    assert "with TLS it is profile 2: give security_profile=2" in str(refused.value)


@pytest.mark.parametrize("client_backend", BACKENDS)
def test_a_session_both_ways_with_compression(backend: str, client_backend: str) -> None:
    """Every pairing of server and client backends: the two interoperate."""

    async def session() -> list[Any]:
        server = await serve(MyTestChargeSystem())
        client = await connect(
            MyTestCharger(), f"ws://127.0.0.1:{server.port}/ocpp/CS001", backend=client_backend
        )
        try:
            boot = await client.call(BOOT, timeout=5)
            unlock = await server.connections["CS001"].call(
                messages.UnlockConnectorRequest(evse_id=1, connector_id=1), timeout=5
            )
            big = await client.call(DATA, timeout=5)  # compressed both ways, over 128 bytes
            return [boot, unlock, client.subprotocol, client.compressed, big]
        finally:
            await client.close()
            await server.close()

    boot, unlock, subprotocol, compressed, big = run(session)
    assert boot.status is enums.RegistrationStatusEnumType.ACCEPTED
    assert unlock.status is enums.UnlockStatusEnumType.UNLOCKED
    assert subprotocol == "ocpp2.0.1"
    assert compressed
    assert big.data == "cba" * 2000  # GA's data comes back reversed


def test_the_station_preference_picks_among_the_served_versions() -> None:
    class Central16(v16.ChargeSystem):
        def heartbeat(self, request: Any) -> Any:
            return v16.messages.HeartbeatResponse(current_time=datetime.datetime.now(datetime.UTC))

    class Point16(v16.Charger):
        pass

    async def session() -> tuple[str | None, Any]:
        server = await serve({"ocpp2.0.1": MyTestChargeSystem(), "ocpp1.6": Central16()})
        client = await connect(
            {"ocpp1.6": Point16(), "ocpp2.0.1": MyTestCharger()},
            f"ws://127.0.0.1:{server.port}/CS16",
        )
        try:
            return client.subprotocol, await client.call(v16.messages.HeartbeatRequest(), 5)
        finally:
            await client.close()
            await server.close()

    subprotocol, answer = run(session)
    assert subprotocol == "ocpp1.6"
    assert isinstance(answer, v16.messages.HeartbeatResponse)


def test_no_acceptable_version_completes_the_handshake_without_header_and_closes() -> None:
    async def session() -> tuple[str | None, int | None]:
        server = await serve(MyTestChargeSystem())
        try:
            async with ws_connect(
                f"ws://127.0.0.1:{server.port}/CS1", subprotocols=[Subprotocol("ocpp1.6")]
            ) as websocket:
                subprotocol = websocket.subprotocol
                await websocket.wait_closed()
                return subprotocol, websocket.close_code
        finally:
            await server.close()

    subprotocol, code = run(session)
    assert subprotocol is None
    assert code == 1002


async def status_of(url: str, **kwargs: Any) -> int:
    """The HTTP status a handshake ends with (101 when it succeeds)."""
    try:
        async with ws_connect(url, subprotocols=[Subprotocol("ocpp2.0.1")], **kwargs):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


def test_unknown_stations_get_404_and_bad_credentials_401() -> None:
    seen: list[StationRequest] = []

    async def authorize(station: StationRequest) -> Admission:
        seen.append(station)
        if station.identity != "CS001":
            return Admission.UNKNOWN
        return (
            Admission.ACCEPT if station.password == "s3cret-password!" else Admission.UNAUTHORIZED
        )

    from ocpp_fast.transport.identity import basic_header

    async def session() -> list[int]:
        server = await serve(MyTestChargeSystem(), authorize=authorize, security_profile=1)
        base = f"ws://127.0.0.1:{server.port}"
        try:
            return [
                await status_of(f"{base}/CS001"),  # no credentials
                await status_of(
                    f"{base}/CS001",
                    additional_headers={"Authorization": basic_header("CS002", "x")},
                ),  # user name is not the identity
                await status_of(
                    f"{base}/CS001",
                    additional_headers={"Authorization": basic_header("CS001", "wrong")},
                ),
                await status_of(
                    f"{base}/CS999",
                    additional_headers={"Authorization": basic_header("CS999", "x")},
                ),
                await status_of(f"{base}/" + "x" * 49),
                await status_of(
                    f"{base}/CS001",
                    additional_headers={"Authorization": basic_header("CS001", "s3cret-password!")},
                ),
            ]
        finally:
            await server.close()

    assert run(session) == [401, 401, 401, 404, 404, 101]
    assert seen[-1].password == "s3cret-password!"
    assert "ocpp2.0.1" in seen[-1].subprotocols


def test_security_profile_2_tls_and_basic_auth(pki: Pki) -> None:
    async def session() -> Any:
        server = await serve(
            MyTestChargeSystem(),
            authorize=lambda s: s.password == "0123456789abcdef",
            security_profile=2,
            ssl=pki.server_context(mutual=False),
        )
        client = await connect(
            MyTestCharger(),
            f"wss://127.0.0.1:{server.port}/CS001",
            password="0123456789abcdef",
            ssl=pki.client_context(with_certificate=False),
        )
        try:
            return await client.call(messages.HeartbeatRequest(), timeout=5)
        finally:
            await client.close()
            await server.close()

    assert isinstance(run(session), messages.HeartbeatResponse)


def test_a_ws_url_for_a_tls_port_is_not_called_a_version_mismatch(pki: Pki) -> None:
    """A station given ``ws://`` for a port that speaks TLS: the CSMS closes the socket without
    answering the upgrade. picows' station said "no common OCPP version", which sent the
    operator looking at subprotocols; it says the connection was closed unanswered."""

    async def session() -> HandshakeFailed:
        server = await serve(
            MyTestChargeSystem(),
            authorize=lambda s: True,
            security_profile=2,
            ssl=pki.server_context(mutual=False),
        )
        try:
            with pytest.raises(HandshakeFailed) as raised:
                await connect(MyTestCharger(), f"ws://127.0.0.1:{server.port}/CS001", password="x")
            return raised.value
        finally:
            await server.close()

    failed = run(session)
    assert not failed.no_common_version, failed
    assert failed.status is None


def test_security_profile_3_mutual_tls(pki: Pki) -> None:
    subjects: list[Any] = []

    def authorize(station: StationRequest) -> bool:
        assert station.certificate is not None
        subjects.append(dict(pair[0] for pair in station.certificate["subject"]))
        return True

    async def session() -> tuple[Any, bool]:
        server = await serve(
            MyTestChargeSystem(),
            authorize=authorize,
            security_profile=3,
            ssl=pki.server_context(mutual=True),
        )
        url = f"wss://127.0.0.1:{server.port}/CS001"
        try:
            refused = False
            try:
                await connect(MyTestCharger(), url, ssl=pki.client_context(with_certificate=False))
            except (OSError, InvalidHandshake, EOFError):  # TLS 1.3 reports it late
                refused = True
            client = await connect(
                MyTestCharger(), url, ssl=pki.client_context(with_certificate=True)
            )
            answer = await client.call(messages.HeartbeatRequest(), timeout=5)
            await client.close()
            return answer, refused
        finally:
            await server.close()

    answer, refused = run(session)
    assert isinstance(answer, messages.HeartbeatResponse)
    assert refused
    assert subjects == [{"commonName": "CS001"}]


def test_the_station_reconnects_with_backoff_and_fresh_ids() -> None:
    async def session() -> tuple[int, Any, list[str]]:
        server = await serve(MyTestChargeSystem())
        port = server.port
        client = await connect(MyTestCharger(), f"ws://127.0.0.1:{port}/CS001", backoff=FAST)
        ids: list[str] = []
        original = client.connection
        assert original is not None
        ids.append(original.protocol.call(messages.HeartbeatRequest()))
        await server.close()
        await asyncio.sleep(0.2)
        server = await serve(MyTestChargeSystem(), port=port)
        try:
            answer = await client.call(messages.HeartbeatRequest(), timeout=10)
            assert client.connection is not None
            ids.append(client.connection.protocol.call(messages.HeartbeatRequest()))
            return client.connects, answer, ids
        finally:
            await client.close()
            await server.close()

    connects, answer, ids = run(session)
    assert connects == 2
    assert isinstance(answer, messages.HeartbeatResponse)
    assert len(set(ids)) == 2


def test_backoff_doubles_up_to_its_limit_with_a_random_share() -> None:
    import random

    backoff = Backoff(minimum=1.0, random_range=2.0, repeat_times=3)
    rng = random.Random(7)
    delays = [backoff.delay(n, rng) for n in range(6)]
    for attempt, delay in enumerate(delays):
        base = 2.0 ** min(attempt, 3)
        assert base <= delay <= base + 2.0
    assert len({round(d, 6) for d in delays}) == 6


def test_graceful_shutdown_lets_calls_in_flight_finish() -> None:
    class Slow(MyTestChargeSystem):
        async def heartbeat(self, request: Any) -> Any:  # type: ignore[override]
            await asyncio.sleep(0.3)
            return messages.HeartbeatResponse(current_time=datetime.datetime.now(datetime.UTC))

    async def session() -> Any:
        server = await serve(Slow())
        client = await connect(MyTestCharger(), f"ws://127.0.0.1:{server.port}/CS001")
        pending = asyncio.create_task(client.call(messages.HeartbeatRequest(), timeout=5))
        await asyncio.sleep(0.1)
        await server.close()
        answer = await pending
        await client.close()
        return answer

    assert isinstance(run(session), messages.HeartbeatResponse)


def test_a_fragmented_message_is_reassembled() -> None:
    async def session() -> Any:
        server = await serve(MyTestChargeSystem())
        try:
            async with ws_connect(
                f"ws://127.0.0.1:{server.port}/ocpp/CS001",
                subprotocols=[Subprotocol("ocpp2.0.1")],
                compression=None,
            ) as websocket:
                await websocket.send(['[2,"f1",', '"Heartbeat"', ",{}]"])  # three frames
                return await websocket.recv()
        finally:
            await server.close()

    assert str(run(session)).startswith('[3,"f1",{"currentTime":')


@pytest.mark.parametrize("compression", [None, "deflate"], ids=["plain", "inflated"])
def test_a_message_over_max_size_closes_1009(compression: str | None) -> None:
    """``max_size`` bounds the message itself: a compressed one is judged once inflated
    (5,000 bytes of one letter compress to a few dozen: a small compression bomb)."""
    frame = '[2,"b1","DataTransfer",{"vendorId":"GA","data":"' + "x" * 5000 + '"}]'

    async def session() -> tuple[int | None, bool]:
        server = await serve(MyTestChargeSystem(), max_size=1000)
        try:
            async with ws_connect(
                f"ws://127.0.0.1:{server.port}/ocpp/CS001",
                subprotocols=[Subprotocol("ocpp2.0.1")],
                compression=compression,
            ) as websocket:
                compressed = bool(websocket.protocol.extensions)
                await websocket.send(frame)
                with contextlib.suppress(ConnectionClosed):
                    await websocket.recv()
                await websocket.wait_closed()
                return websocket.close_code, compressed
        finally:
            await server.close()

    code, compressed = run(session)
    assert code == 1009
    assert compressed == (compression is not None)


async def upgraded_by_hand(
    port: int, identity: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A station's WebSocket opened with raw bytes, past the 101: the test plays the peer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /ocpp/{identity} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp2.0.1\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    return reader, writer


def test_a_dead_peer_is_closed_by_the_keepalive() -> None:
    """A station that completes the handshake and then reads nothing more (its pongs never
    come) leaves ``connections`` after about two ping intervals."""

    async def session() -> tuple[bool, bool]:
        server = await serve(MyTestChargeSystem(), ping_interval=0.3)
        _reader, writer = await upgraded_by_hand(server.port, "DEAD1")
        try:
            connected = "DEAD1" in server.connections
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            while "DEAD1" in server.connections and loop.time() < deadline:
                await asyncio.sleep(0.05)
            return connected, "DEAD1" not in server.connections
        finally:
            writer.close()
            await server.close()

    connected, gone = run(session)
    assert connected and gone


def test_a_quiet_station_is_pinged_and_its_pongs_keep_it() -> None:
    """A station that sends nothing but answers each ping is pinged again and again and stays
    connected well past the dead-peer timeout."""

    async def session() -> tuple[int, bool]:
        server = await serve(MyTestChargeSystem(), ping_interval=0.2)
        reader, writer = await upgraded_by_hand(server.port, "QUIET1")
        try:
            pings = 0
            loop = asyncio.get_running_loop()
            until = loop.time() + 1.5
            while loop.time() < until:
                try:
                    first, size = await asyncio.wait_for(reader.readexactly(2), 0.1)
                except TimeoutError:
                    continue
                payload = await reader.readexactly(size & 0x7F)
                assert first == 0x89  # a ping, unfragmented
                pings += 1
                # the pong, masked with a zero key as a client must mask
                writer.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
            return pings, "QUIET1" in server.connections
        finally:
            writer.close()
            await server.close()

    pings, connected = run(session)
    assert pings >= 3 and connected


def test_a_refused_upgrade_leaves_no_socket_counted() -> None:
    """An upgrade request admitted by us but refused by the WebSocket library (no key):
    the connection is not left counted against the caps."""

    async def session() -> tuple[bytes, int, int]:
        server = await serve(MyTestChargeSystem())
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(
                b"GET /ocpp/NOKEY1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                b"Sec-WebSocket-Protocol: ocpp2.0.1\r\n\r\n"
            )
            head = await reader.readuntil(b"\r\n\r\n")
            writer.close()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 3
            while (server.sockets or server.admitted) and loop.time() < deadline:
                await asyncio.sleep(0.02)
            return head, server.sockets, server.admitted
        finally:
            await server.close()

    head, sockets, admitted = run(session)
    assert head.startswith(b"HTTP/1.1 4")
    assert (sockets, admitted) == (0, 0)


def test_a_frame_sent_on_a_closed_websockets_socket_raises_connection_error() -> None:
    """websockets' ConnectionClosed never escapes a call: the documented ConnectionError does
    (server.call turns it into StationNotConnected; the simulator counts it as an error)."""
    from websockets.asyncio.server import serve as ws_serve

    from ocpp_fast.transport._wire import text_sender

    async def main() -> BaseException | None:
        async def close_at_once(websocket: Any) -> None:
            await websocket.close()

        async with ws_serve(close_at_once, "127.0.0.1", 0) as listener:
            port = listener.sockets[0].getsockname()[1]
            async with ws_connect(f"ws://127.0.0.1:{port}") as websocket:
                with contextlib.suppress(ConnectionClosed):
                    await websocket.recv()  # the close arrives
                try:
                    await text_sender(websocket)(b'[2,"1","Heartbeat",{}]')
                except BaseException as exc:
                    return exc
        return None

    raised = asyncio.run(main())
    assert isinstance(raised, ConnectionError), raised
    assert isinstance(raised.__cause__, ConnectionClosed)


def test_every_default_max_size_is_the_one_named_constant() -> None:
    """The default largest message was the literal ``2**20`` written in ``serve()``,
    ``connect()``, ``StationClient``, the CLI and the in-memory server, each its own int:
    changing one left the sides disagreeing. Each default is now
    ``limits.DEFAULT_MAX_SIZE`` itself (the same object, not an equal number)."""
    serve_parser = argparse.ArgumentParser()
    add_serve_arguments(serve_parser)
    takers: list[Any] = [serve, connect, StationClient, memory.serve_in_memory]
    takers.append(memory.InMemoryServer)
    for taker in takers:
        default = inspect.signature(taker).parameters["max_size"].default
        assert default is DEFAULT_MAX_SIZE, taker
    assert serve_parser.get_default("max_size") is DEFAULT_MAX_SIZE
    assert f"(default {DEFAULT_MAX_SIZE})" in serve_parser.format_help()
