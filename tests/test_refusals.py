"""Every refused handshake is seen: a WARNING line on ``ocpp_fast.transport.refusals`` with
the reason, the escaped identity and the peer address, and one count in
``ocpp_handshakes_refused_total{reason}``, on both backends, for each cause."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from my_test_charge_system import MyTestChargeSystem
from my_test_charger import MyTestCharger
from prometheus_client import generate_latest
from test_transport import Pki

from ocpp_fast.metrics import Metrics
from ocpp_fast.transport import Admission, CsmsServer, Limits, StationRequest, connect, serve
from ocpp_fast.transport.backend import BACKENDS
from ocpp_fast.transport.identity import basic_header

PASSWORD = "0123456789abcdef"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def run(coro: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(coro(), 20))


async def exchange(port: int, request: bytes, tls: ssl.SSLContext | None = None) -> bytes:
    """Send ``request`` raw; what the server answers until it closes, or until the head of
    its 101 (the WebSocket is open: nothing more comes unasked). It was read for 2 s, which
    ended every 101 and cut short an answer that a loaded machine sent later; the bound now
    only stops a hang (and fails the test)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls)
    writer.write(request)
    answer = b""
    try:
        async with asyncio.timeout(15):
            while not (answer.startswith(b"HTTP/1.1 101 ") and b"\r\n\r\n" in answer):
                chunk = await reader.read(65536)
                if not chunk:
                    break
                answer += chunk
    except (ConnectionError, ssl.SSLError):
        pass
    writer.close()
    return answer


def upgrade(path: str, *headers: str, protocol: str = "ocpp2.0.1") -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        f"Sec-WebSocket-Protocol: {protocol}",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


async def until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition`` (a server's counters) to hold: however slowly the server got
    there, the test's bound (:func:`run`) only stops a hang."""
    while not condition():
        await asyncio.sleep(0.01)


def refusal_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "ocpp_fast.transport.refusals"]


async def profile_3(pki: Pki, backend: str, **options: Any) -> CsmsServer:
    """A server of security profile 3 (mutual TLS with the test CA), accepting every
    station that gets through the TLS handshake."""
    return await serve(
        MyTestChargeSystem(),
        authorize=lambda s: True,
        security_profile=3,
        ssl=pki.server_context(mutual=True),
        backend=backend,
        **options,
    )


def test_each_http_refusal_is_logged_and_counted(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics()

    def authorize(station: StationRequest) -> Admission:
        if station.identity == "BOOM":
            raise RuntimeError("the database is down")
        if station.identity != "CS001":
            return Admission.UNKNOWN
        return Admission.ACCEPT if station.password == PASSWORD else Admission.UNAUTHORIZED

    good = f"Authorization: {basic_header('CS001', PASSWORD)}"
    cases = [
        ("bad_path", upgrade("/ocpp/" + "x" * 49), 404),
        ("unknown_station", upgrade("/CS999", f"Authorization: {basic_header('CS999', 'x')}"), 404),
        ("no_credentials", upgrade("/CS001"), 401),
        ("bad_authorization_header", upgrade("/CS001", "Authorization: Bearer abc"), 401),
        ("user_mismatch", upgrade("/CS001", f"Authorization: {basic_header('CS002', 'x')}"), 401),
        ("unauthorized", upgrade("/CS001", f"Authorization: {basic_header('CS001', 'no')}"), 401),
        ("authorize_failed", upgrade("/BOOM", f"Authorization: {basic_header('BOOM', 'x')}"), 503),
        ("malformed_request", b"HELLO /CS001 WORLD\r\n\r\n", 400),  # both backends answer
        ("no_common_version", upgrade("/CS001", good, protocol="ocpp1.5, ocpp1.6"), 101),
    ]

    async def session() -> list[int]:
        server = await serve(
            MyTestChargeSystem(),
            authorize=authorize,
            security_profile=1,
            backend=backend,
            metrics=metrics,
        )
        try:
            return [status(await exchange(server.port, request)) for _, request, _ in cases]
        finally:
            await server.close()

    caplog.set_level(logging.WARNING, logger="ocpp_fast.transport.refusals")
    assert run(session) == [expected for _, _, expected in cases]
    records = refusal_records(caplog)
    assert [r.reason for r in records] == [reason for reason, _, _ in cases]  # type: ignore[attr-defined]
    for record in records:
        assert record.levelno == logging.WARNING
        assert record.peer.startswith("127.0.0.1:")  # type: ignore[attr-defined]
        assert record.peer in record.getMessage()  # type: ignore[attr-defined]
    assert records[0].identity == "-"  # type: ignore[attr-defined]
    assert "x" * 49 in records[0].getMessage()  # the path, as no identity could be read
    assert records[1].identity == "CS999"  # type: ignore[attr-defined]
    assert records[1].getMessage().startswith("CS999: handshake refused (unknown_station)")
    last = records[-1]
    assert last.offered == ["ocpp1.5", "ocpp1.6"]  # type: ignore[attr-defined]
    assert last.served == ["ocpp2.0.1"]  # type: ignore[attr-defined]
    assert "ocpp1.5, ocpp1.6" in last.getMessage()
    assert "serves ocpp2.0.1" in last.getMessage()
    assert dict(metrics.refusals) == {reason: 1 for reason, _, _ in cases}
    scraped = generate_latest(metrics.registry).decode()
    assert 'ocpp_handshakes_refused_total{reason="user_mismatch"} 1.0' in scraped


def test_identities_and_paths_are_escaped_in_the_refusal_line(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def session() -> list[int]:
        server = await serve(
            MyTestChargeSystem(), authorize=lambda s: Admission.UNKNOWN, backend=backend
        )
        try:
            return [
                status(await exchange(server.port, upgrade(path)))
                for path in ("/ocpp/CS%C3%A9", "/ocpp/CS\x1b[31mRED%0A")
            ]
        finally:
            await server.close()

    caplog.set_level(logging.WARNING, logger="ocpp_fast.transport.refusals")
    assert run(session) == [404, 404]
    unknown, bad_path = refusal_records(caplog)
    assert unknown.identity == "CS\\xe9"  # type: ignore[attr-defined]
    assert unknown.getMessage().startswith("CS\\xe9: ")
    assert bad_path.reason == "bad_path"  # type: ignore[attr-defined]
    assert "\x1b" not in bad_path.getMessage()
    assert "\\x1b[31mRED%0A" in bad_path.getMessage()


def test_caps_and_slow_or_oversized_handshakes_are_logged_and_counted(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics()
    limits = Limits(
        max_connections=1, pending_handshakes=1, handshake_bytes=1024, handshake_timeout=0.3
    )

    async def session() -> list[int]:
        server = await serve(MyTestChargeSystem(), backend=backend, metrics=metrics, limits=limits)
        url = f"ws://127.0.0.1:{server.port}/CS001"
        try:
            statuses = [status(await exchange(server.port, b"GET /slow HTTP/1.1\r\n"))]  # timeout
            statuses.append(status(await exchange(server.port, b"GET /" + b"x" * 2000)))  # size
            # a silent socket holds the one pending handshake: the next one is cut at accept
            _, silent = await asyncio.open_connection("127.0.0.1", server.port)
            await until(lambda: server.handshaking == 1)  # accepted: it holds the slot
            statuses.append(status(await exchange(server.port, upgrade("/CS002"))))
            silent.close()
            await until(lambda: server.handshaking == 0)  # the silent one is gone: slot free
            client = await connect(MyTestCharger(), url)
            try:  # one station connected: the connection cap is reached
                statuses.append(status(await exchange(server.port, upgrade("/CS003"))))
            finally:
                await client.close()
            return statuses
        finally:
            await server.close()

    caplog.set_level(logging.WARNING, logger="ocpp_fast.transport.refusals")
    assert run(session) == [0, 0, 0, 503]
    reasons = [r.reason for r in refusal_records(caplog)]  # type: ignore[attr-defined]
    assert reasons[:3] == ["handshake_timeout", "handshake_size", "socket_cap"]
    assert reasons[-1] == "connection_cap"
    assert metrics.refusals["socket_cap"] == 1
    assert metrics.refusals["handshake_size"] == 1
    assert metrics.refusals["connection_cap"] == 1
    assert metrics.refusals["handshake_timeout"] >= 1


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_failed_tls_handshake_is_logged_and_counted(
    backend: str, loop: str, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    """Profile 3 without a client certificate, and a client that trusts another CA; on
    uvloop too, which reads the ClientHello before start_tls can take the socket."""
    metrics = Metrics()

    async def session() -> bytes:
        server = await profile_3(pki, backend, metrics=metrics)
        try:
            await exchange(server.port, upgrade("/CS001"), pki.client_context(False))
            stranger = ssl.create_default_context()  # does not trust the test CA
            with pytest.raises(ssl.SSLError):
                await exchange(server.port, upgrade("/CS001"), stranger)
            await until(lambda: server.sockets == server.handshaking == 0)  # no longer counted
            # and a station with its certificate still gets in
            good = pki.client_context(True)
            return await exchange(server.port, upgrade("/CS001"), good)
        finally:
            await server.close()

    caplog.set_level(logging.WARNING, logger="ocpp_fast.transport.refusals")
    if loop == "uvloop":
        uvloop = pytest.importorskip("uvloop")  # (no uvloop on Windows)
        answer = uvloop.run(asyncio.wait_for(session(), 20))
    else:
        answer = run(session)
    assert status(answer) == 101
    records = refusal_records(caplog)
    assert [r.reason for r in records] == ["tls", "tls"]  # type: ignore[attr-defined]
    assert all(r.peer.startswith("127.0.0.1:") for r in records)  # type: ignore[attr-defined]
    assert "certificate" in records[0].getMessage().lower()
    assert metrics.refusals["tls"] == 2


def test_a_tls_refusal_says_what_the_station_did_wrong(
    backend: str, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    """OpenSSL's words (``[SSL: HTTP_REQUEST] http request``) name its state, not the
    station's mistake: the line says it in an operator's terms (a ws:// URL for a wss://
    port, no client certificate, our certificate not trusted), OpenSSL's text after it."""

    async def session() -> None:
        server = await profile_3(pki, backend)
        try:
            await exchange(server.port, upgrade("/CS001"))  # ws:// to the wss:// port
            await exchange(server.port, upgrade("/CS001"), pki.client_context(False))
            with pytest.raises(ssl.SSLError):  # does not trust the test CA: hangs up
                await exchange(server.port, upgrade("/CS001"), ssl.create_default_context())
            await until(lambda: len(refusal_records(caplog)) == 3)
        finally:
            await server.close()

    caplog.set_level(logging.WARNING, logger="ocpp_fast.transport.refusals")
    run(session)
    lines = [record.getMessage() for record in refusal_records(caplog)]
    assert len(lines) == 3, lines
    plain, no_certificate, distrust = lines
    assert "the station's URL says ws://, where this port needs wss://" in plain
    assert "HTTP_REQUEST" in plain  # OpenSSL's own words kept, to search for
    assert "the station sent no client certificate (security profile 3 needs one)" in (
        no_certificate
    )
    assert "PEER_DID_NOT_RETURN_A_CERTIFICATE" in no_certificate
    assert "closed the connection during the TLS handshake" in distrust


def test_an_unauthenticated_takeover_is_refused_409_logged_and_counted(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An authenticated station is live: a connection without credentials claiming its
    identity is refused (it would otherwise replace it)."""
    metrics = Metrics()

    async def session() -> int:
        server = await serve(
            MyTestChargeSystem(), authorize=lambda s: True, backend=backend, metrics=metrics
        )
        client = await connect(
            MyTestCharger(), f"ws://127.0.0.1:{server.port}/CS001", password=PASSWORD
        )
        try:
            return status(await exchange(server.port, upgrade("/CS001")))
        finally:
            await client.close()
            await server.close()

    caplog.set_level(logging.WARNING, logger="ocpp_fast.transport.refusals")
    assert run(session) == 409
    (record,) = refusal_records(caplog)
    assert record.reason == "already_connected"  # type: ignore[attr-defined]
    assert record.getMessage().startswith("CS001: handshake refused (already_connected) from ")
    assert dict(metrics.refusals) == {"already_connected": 1}


def test_a_station_arriving_while_the_server_shuts_down_is_refused_503(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """During ``on_shutdown`` the server still listens, and refuses new stations."""
    metrics = Metrics()
    answers: list[int] = []

    class Closing(MyTestChargeSystem):
        async def on_shutdown(self, server: Any) -> None:
            answers.append(status(await exchange(server.port, upgrade("/CS009"))))

    async def session() -> None:
        server = await serve(Closing(), backend=backend, metrics=metrics)
        await server.close()

    caplog.set_level(logging.WARNING, logger="ocpp_fast.transport.refusals")
    run(session)
    assert answers == [503]
    (record,) = refusal_records(caplog)
    assert record.reason == "shutting_down"  # type: ignore[attr-defined]
    assert dict(metrics.refusals) == {"shutting_down": 1}


def test_tls_and_the_request_share_one_handshake_timeout(backend: str, pki: Pki) -> None:
    """A station that takes most of ``handshake_timeout`` for TLS gets no fresh timeout for its
    request: the deadline counts from the accept (a slow peer held a socket and a pending
    handshake slot for two timeouts before)."""
    timeout = 1.0
    metrics = Metrics()

    async def session() -> bytes:
        server = await serve(
            MyTestChargeSystem(),
            authorize=lambda s: True,
            security_profile=2,
            ssl=pki.server_context(mutual=False),
            backend=backend,
            metrics=metrics,
            limits=Limits(handshake_timeout=timeout),
        )
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            await until(lambda: server.handshaking == 1)
            # at or after the server's accept: its deadline (one loop, one clock) comes before
            # 1.3 timeouts from here, however late the loop ran the accept
            accepted = asyncio.get_running_loop().time()
            await asyncio.sleep(0.6 * timeout)  # TLS done at 0.6 of the timeout
            await writer.start_tls(pki.client_context(False))
            await asyncio.sleep(accepted + 1.3 * timeout - asyncio.get_running_loop().time())
            answer = b""
            try:  # a complete request at 1.3 of the timeout: the socket is closed by then
                writer.write(upgrade("/CS001", f"Authorization: {basic_header('CS001', PASSWORD)}"))
                async with asyncio.timeout(2):
                    while chunk := await reader.read(65536):
                        answer += chunk
            except (ConnectionError, ssl.SSLError, TimeoutError):
                pass
            writer.close()
            return answer
        finally:
            await server.close()

    assert run(session) == b""
    assert metrics.refusals["handshake_timeout"] == 1


@pytest.mark.parametrize("profile", [1, 2])
def test_a_password_profile_without_authorize_is_refused_at_start(profile: int, pki: Pki) -> None:
    """Without ``authorize`` nothing checks the password: any would do, so ``serve`` refuses."""
    context = pki.server_context(mutual=False) if profile == 2 else None
    with pytest.raises(ValueError, match=f"security profile {profile} checks each station"):
        asyncio.run(serve(MyTestChargeSystem(), security_profile=profile, ssl=context))


def test_a_401_says_what_the_station_sent_wrong_and_a_wrong_password_nothing(
    backend: str,
) -> None:
    """A station started without its password, or with another identity as Basic user, is
    told what to mend in the words its client reports; a wrong password only "unauthorized",
    so the words give a prober nothing."""
    from ocpp_fast.errors import HandshakeFailed

    def authorize(station: StationRequest) -> Admission:
        return Admission.ACCEPT if station.password == PASSWORD else Admission.UNAUTHORIZED

    async def session() -> list[str]:
        server = await serve(
            MyTestChargeSystem(), authorize=authorize, security_profile=1, backend=backend
        )
        url = f"ws://127.0.0.1:{server.port}/ocpp/CS001"
        said: list[str] = []
        try:
            for password in (None, "not-the-password"):
                with pytest.raises(HandshakeFailed) as refused:
                    await connect(MyTestCharger(), url, password=password, backend=backend)
                assert refused.value.status == 401
                said.append(str(refused.value))
            mismatch = upgrade("/CS001", f"Authorization: {basic_header('CS002', PASSWORD)}")
            said.append((await exchange(server.port, mismatch)).decode().rsplit("\r\n", 1)[-1])
        finally:
            await server.close()
        return said

    no_password, wrong_password, mismatch = run(session)
    assert no_password == (
        "the CSMS refused the handshake: HTTP 401 Unauthorized (no password: this CSMS needs"
        " HTTP Basic auth, user the station identity)"
    )
    assert wrong_password == "the CSMS refused the handshake: HTTP 401 Unauthorized (unauthorized)"
    assert mismatch.strip() == "the Basic user is not the station identity of the URL"


def test_a_fresh_servers_metrics_show_its_versions_and_refusal_reasons_at_zero() -> None:
    """Before any station came: ``rate()`` sees the first refusal only as a rise from a 0
    already scraped, and a panel of stations online reads 0 rather than no data. A station's
    own metrics (no server) get none of these zeros."""
    from ocpp_fast import v16, v201

    metrics = Metrics()

    async def session() -> None:
        server = await serve(
            {"ocpp2.0.1": v201.ChargeSystem(), "ocpp1.6": v16.ChargeSystem()}, metrics=metrics
        )
        await server.close()

    run(session)
    page = generate_latest(metrics.registry).decode()
    assert 'ocpp_stations_connected{version="2.0.1"} 0.0' in page
    assert 'ocpp_stations_connected{version="1.6"} 0.0' in page
    assert 'ocpp_stations_connected{version="2.1"}' not in page
    for reason in ("unauthorized", "no_credentials", "unknown_station", "tls", "bad_path"):
        assert f'ocpp_handshakes_refused_total{{reason="{reason}"}} 0.0' in page
    assert dict(metrics.refusals) == {}  # the counts themselves are untouched
    station = generate_latest(Metrics().registry).decode()
    assert "ocpp_handshakes_refused_total{" not in station
    assert "ocpp_stations_connected{" not in station


def test_false_from_authorize_refuses_credentials_401_and_no_credentials_404(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A bool ``authorize`` (the password check of the TLS how-to) answering ``False`` to a
    wrong password is a refused credential, 401 ``unauthorized``, not an ``unknown_station``
    (which sent an operator looking for a station missing from the database); a station that
    sent no credential stays unknown, 404."""
    metrics = Metrics()

    def authorize(station: StationRequest) -> bool:
        return station.password == PASSWORD

    wrong = upgrade("/CS001", f"Authorization: {basic_header('CS001', 'wrong')}")
    right = upgrade("/CS001", f"Authorization: {basic_header('CS001', PASSWORD)}")

    async def session() -> list[int]:
        server = await serve(
            MyTestChargeSystem(), authorize=authorize, backend=backend, metrics=metrics
        )
        try:
            return [
                status(await exchange(server.port, request))
                for request in (wrong, upgrade("/CS002"), right)
            ]
        finally:
            await server.close()

    caplog.set_level(logging.WARNING, logger="ocpp_fast.transport.refusals")
    assert run(session) == [401, 404, 101]
    records = refusal_records(caplog)
    assert [r.reason for r in records] == ["unauthorized", "unknown_station"]  # type: ignore[attr-defined]
    assert dict(metrics.refusals) == {"unauthorized": 1, "unknown_station": 1}


def test_the_refusals_the_rate_limit_held_back_are_counted_at_the_close(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """12 stations of an unknown identity and then none: 10 lines, and the count of the other
    2 said as the server closes. It was said only by the next refusal of that reason, so a
    storm that ended (100 stations of a version not served, refused as a fleet rebooted) left
    10 lines in the log and no count, even at the stop."""

    async def session() -> list[int]:
        server = await serve(
            MyTestChargeSystem(), authorize=lambda s: Admission.UNKNOWN, backend=backend
        )
        try:
            return [
                status(await exchange(server.port, upgrade(f"/ocpp/CS{n:03d}"))) for n in range(12)
            ]
        finally:
            await server.close()

    caplog.set_level(logging.WARNING, logger="ocpp_fast.transport.refusals")
    assert run(session) == [404] * 12
    said = [r.getMessage() for r in refusal_records(caplog)]
    assert len(said) == 11
    assert said[-1].startswith("2 more refused unknown_station messages suppressed in ")


def test_a_station_whose_authorize_runs_as_the_stop_begins_is_refused_503(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An ``async`` ``authorize`` still waiting (a database) when the server stops: the
    station is refused 503 "shutting down" at once, logged and counted, on both backends. On
    websockets it waited until the stop's deadline, its socket then aborted unanswered and
    nothing logged."""
    metrics = Metrics()
    asked = asyncio.Event()

    async def authorize(station: StationRequest) -> bool:
        asked.set()
        await asyncio.Event().wait()  # never answers
        return True

    async def session() -> int:
        server = await serve(
            MyTestChargeSystem(),
            authorize=authorize,
            security_profile=1,
            backend=backend,
            metrics=metrics,
        )
        header = f"Authorization: {basic_header('CS010', PASSWORD)}"
        answering = asyncio.ensure_future(exchange(server.port, upgrade("/ocpp/CS010", header)))
        await asyncio.wait_for(asked.wait(), 10)
        await asyncio.wait_for(server.close(60), 10)  # not the 60 s of its timeout
        return status(await answering)

    caplog.set_level(logging.WARNING, logger="ocpp_fast.transport.refusals")
    assert run(session) == 503
    (record,) = refusal_records(caplog)
    assert record.reason == "shutting_down"  # type: ignore[attr-defined]
    assert dict(metrics.refusals) == {"shutting_down": 1}
