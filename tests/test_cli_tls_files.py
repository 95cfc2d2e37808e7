"""The certificate and key files of ``ocpp-fast serve`` and ``ocpp-fast simulate``: each way
they can be wrong is one line saying which file lacks what and which flag gives it, exit code
2, before anything listens or connects. ``ssl`` said ``[SSL] PEM lib (_ssl.c:3926)`` alike for
a certificate whose key is in a file of its own (``--ssl-keyfile`` forgotten) and a file with
no key, an encrypted key made OpenSSL prompt for a pass phrase on a terminal a service has
not, and ``simulate`` answered each with a traceback."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from serve_proc import SERVE, serving
from test_transport import Pki

from ocpp_fast.cli import _simulate_hints

KEY_MARK = "-----BEGIN PRIVATE KEY-----"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The server's certificate and key, apart, and a key encrypted, and another's key."""
    folder = tmp_path_factory.mktemp("tls")
    pki = Pki(folder)
    combined = pki.server.read_text()
    cut = combined.index(KEY_MARK)
    paths = {
        "cert": folder / "cert.pem",
        "key": folder / "key.pem",
        "encrypted": folder / "encrypted.pem",
        "other_key": folder / "other.pem",
    }
    paths["cert"].write_text(combined[:cut])
    paths["key"].write_text(combined[cut:])
    key = serialization.load_pem_private_key(combined[cut:].encode(), None)
    paths["encrypted"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pass phrase"),
        )
    )
    client = pki.client.read_text()
    paths["other_key"].write_text(client[client.index(KEY_MARK) :])
    return paths


def refused(command: list[str]) -> str:
    run = subprocess.run(command, capture_output=True, text=True, timeout=30, stdin=None)
    assert run.returncode == 2, (command, run.stdout, run.stderr)
    assert "Traceback" not in run.stderr, run.stderr
    return run.stderr


def test_serve_says_which_file_lacks_what(files: dict[str, Path]) -> None:
    cert, key = str(files["cert"]), str(files["key"])
    for flags, said in [
        (
            ["--ssl-certfile", cert],
            f"--ssl-certfile {cert}: no PEM private key in it: give the key's file with "
            "--ssl-keyfile FILE",
        ),
        (["--ssl-certfile", key, "--ssl-keyfile", key], f"--ssl-certfile {key}: no PEM cert"),
        (["--ssl-certfile", cert, "--ssl-keyfile", cert], f"--ssl-keyfile {cert}: no PEM priv"),
        (
            ["--ssl-certfile", cert, "--ssl-keyfile", str(files["other_key"])],
            f"--ssl-keyfile {files['other_key']}: its private key is not the key of the "
            f"certificate in --ssl-certfile {cert}",
        ),
        (
            ["--ssl-certfile", cert, "--ssl-keyfile", str(files["encrypted"])],
            f"--ssl-keyfile {files['encrypted']}: the private key is encrypted",
        ),
        (["--ssl-certfile", "absent.pem"], "--ssl-certfile absent.pem: No such file"),
        (["--ssl-certfile", cert, "--ssl-keyfile", "absent.pem"], "absent.pem: No such file"),
    ]:
        assert said in refused([*SERVE, "--port", "0", *flags]), flags


def test_serve_takes_the_certificate_and_its_key_apart(files: dict[str, Path]) -> None:
    flags = ["--ssl-certfile", str(files["cert"]), "--ssl-keyfile", str(files["key"])]
    with serving("--quiet", *flags) as server:
        assert f"on wss://127.0.0.1:{server.port}/" in server.line()


def test_simulate_says_it_too_and_shows_no_traceback(files: dict[str, Path]) -> None:
    simulate = [sys.executable, "-m", "ocpp_fast.cli", "simulate", "--url", "wss://127.0.0.1:9/x"]
    simulate += ["--chargers", "1", "--duration", "1"]
    cert = str(files["cert"])
    said = refused([*simulate, "--ssl-certfile", cert])
    assert f"ocpp-fast simulate: error: --ssl-certfile {cert}: no PEM private key in it" in said
    said = refused([*simulate, "--ssl-ca-certs", "absent.pem"])
    assert "ocpp-fast simulate: error: --ssl-ca-certs absent.pem: No such file" in said


def test_simulate_says_which_flag_trusts_the_csms_s_certificate(
    files: dict[str, Path], tmp_path: Path
) -> None:
    """Stations that do not trust the CSMS's certificate: the report's key says the
    verification failed, and a line after it names the flag that mends it; given the CA, the
    run connects and the line is not there."""
    flags = ["--ssl-certfile", str(files["cert"]), "--ssl-keyfile", str(files["key"])]
    with serving("--quiet", *flags) as server:
        assert f"on wss://127.0.0.1:{server.port}/" in server.line()  # listening: its start line
        simulate = [sys.executable, "-m", "ocpp_fast.cli", "simulate", "--chargers", "1"]
        simulate += ["--url", f"wss://127.0.0.1:{server.port}/ocpp", "--duration", "1"]
        untrusted = subprocess.run(simulate, capture_output=True, text=True, timeout=60)
        ca = str(files["cert"].parent / "ca.pem")  # the Pki of the fixture wrote it there
        trusted = subprocess.run(
            [*simulate, "--ssl-ca-certs", ca], capture_output=True, text=True, timeout=60
        )
    assert untrusted.returncode == 1, untrusted.stdout + untrusted.stderr
    assert "connect: TLS: certificate verify failed" in untrusted.stdout
    hint = "the stations do not trust the CSMS's certificate: give the CA that signed it"
    assert hint in untrusted.stderr and "--ssl-ca-certs FILE" in untrusted.stderr
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert "trust" not in trusted.stderr


def _simulate_args(url: str, **flags: Any) -> argparse.Namespace:
    given: dict[str, Any] = {
        "url": [url],
        "ssl_ca_certs": None,
        "ssl_certfile": None,
        "password": None,
        "password_file": None,
        "first_station": 0,
    }
    return argparse.Namespace(**(given | flags))


@pytest.mark.parametrize(
    "unanswered",
    [
        "connect: the CSMS closed the connection without answering the WebSocket handshake",
        "connect: did not receive a valid HTTP response",
    ],
)
def test_simulate_says_a_profile_3_csms_wants_the_stations_certificate(unanswered: str) -> None:
    """Stations without a certificate against a CSMS of security profile 3: the report said the
    CSMS closed the connection without answering (websockets: no valid HTTP response), which
    names neither certificates nor the flag; the CSMS's log alone said "the station sent no
    client certificate"."""
    hints = _simulate_hints({unanswered: 3}, _simulate_args("wss://127.0.0.1:8443/ocpp"))
    assert len(hints) == 1
    assert "security profile 3 does so to a station without a certificate" in hints[0]
    assert "--ssl-certfile FILE" in hints[0]
    given = _simulate_args("wss://127.0.0.1:8443/ocpp", ssl_certfile="station.pem")
    assert _simulate_hints({unanswered: 3}, given) == []  # a certificate given: something else
    assert _simulate_hints({unanswered: 3}, _simulate_args("ws://127.0.0.1:9000/ocpp")) == []


def test_simulate_says_which_flag_gives_the_passwords_and_which_the_identities() -> None:
    """A CSMS of profile 1 or 2 refusing stations that sent no password (401), and one whose
    authorize does not know SIM00000... (404): each report's key said what, not which flag."""
    no_password = "connect: HTTP 401 Unauthorized (no password: this CSMS needs HTTP Basic auth)"
    unknown = "connect: HTTP 404 Not Found (unknown station)"
    url = "ws://127.0.0.1:9000/ocpp"
    (said,) = _simulate_hints({no_password: 3}, _simulate_args(url))
    assert "--password PASSWORD" in said and "--password-file FILE" in said
    assert _simulate_hints({no_password: 3}, _simulate_args(url, password="x" * 16)) == []
    (said,) = _simulate_hints({unknown: 3}, _simulate_args(url, first_station=200))
    assert "does not know the stations SIM00200..." in said and "--first-station N" in said
