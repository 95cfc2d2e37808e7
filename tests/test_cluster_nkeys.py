"""The gateway's NATS link signs in with an nkey seed and with a credentials file (what
``--nats-creds`` passes), against real nats-servers configured for nkey users and for JWTs
(operator mode, the keys and JWTs made here), so that a gateway whose NATS asks for them keeps
its own path; a credentials file that is missing or malformed is said at the start."""

from __future__ import annotations

import base64
import itertools
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nkeys
import pytest
from cluster_procs import cluster_config as config
from cluster_procs import run
from cluster_raw import EVENT, call, serving, station
from test_cluster_link import echoing

from ocpp_fast.cluster import ClusterConfig, NatsServer
from ocpp_fast.cluster._nats_auth import read_credentials, signer_of
from ocpp_fast.cluster._nats_link import NatsLink, unspoken
from ocpp_fast.demo import DemoChargeSystem

UNLIMITED = {"subs": -1, "data": -1, "payload": -1}


class Keys:
    """An nkey pair of one kind (operator, account, user), made for the test."""

    def __init__(self, prefix: int) -> None:
        self.seed = nkeys.encode_seed(os.urandom(32), prefix)
        self.pair = nkeys.from_seed(bytearray(self.seed))
        self.public = self.pair.public_key.decode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(issuer: Keys, subject: str, kind: str, nats: dict[str, Any]) -> str:
    """A NATS JWT (version 2) about ``subject``, signed by ``issuer``."""
    head = _b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    claims = {
        "jti": secrets.token_hex(16).upper(),
        "iat": int(time.time()),
        "iss": issuer.public,
        "name": kind,
        "sub": subject,
        "nats": {**nats, "type": kind, "version": 2},
    }
    body = _b64(json.dumps(claims).encode())
    return f"{head}.{body}.{_b64(issuer.pair.sign(f'{head}.{body}'.encode()))}"


def creds_text(user_jwt: str, seed: bytes) -> str:
    """A ``.creds`` file's text, as NATS tools write them."""
    return (
        f"-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n\n"
        f"-----BEGIN USER NKEY SEED-----\n{seed.decode()}\n------END USER NKEY SEED------\n"
    )


@pytest.fixture(scope="module")
def nkey_user() -> Keys:
    return Keys(nkeys.PREFIX_BYTE_USER)


@pytest.fixture(scope="module")
def nkey_server(nkey_user: Keys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    settings = tmp_path_factory.mktemp("nkey") / "server.conf"
    settings.write_text(f'authorization {{ users = [ {{ nkey: "{nkey_user.public}" }} ] }}\n')
    with NatsServer(arguments=["-c", str(settings)]) as server:
        yield server


def test_a_link_signs_in_with_an_nkey_seed(
    nkey_server: NatsServer, nkey_user: Keys, tmp_path: Path
) -> None:
    seed_file = tmp_path / "user.nk"
    seed_file.write_bytes(nkey_user.seed + b"\n")
    assert unspoken(nkey_server.url, {"nkeys_seed": str(seed_file)}) is None

    async def scenario() -> None:
        nc = await echoing(nkey_server.url, nkeys_seed=str(seed_file))
        seeds = ({"nkeys_seed": str(seed_file)}, {"nkeys_seed_str": nkey_user.seed.decode()})
        for options in seeds:
            link = NatsLink(nkey_server.url, options, "t")
            await link.attach()
            assert (await link.request("echo.1", b"x", 5)).data == b"x|[]"
            await link.close()
        stranger = Keys(nkeys.PREFIX_BYTE_USER).seed.decode()
        with pytest.raises(ConnectionError, match="Authorization Violation"):
            await NatsLink(nkey_server.url, {"nkeys_seed_str": stranger}, "t").attach()
        unsigned = NatsLink(nkey_server.url, {}, "t")
        with pytest.raises(ConnectionError, match="Authorization Violation"):
            await unsigned.attach()
        await nc.close()

    run(scenario)


@pytest.fixture(scope="module")
def operator_mode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NatsServer, Path]]:
    """A nats-server trusting an operator made here, with one account (JetStream on) and a
    credentials file of one of its users."""
    directory = tmp_path_factory.mktemp("jwt")
    operator = Keys(nkeys.PREFIX_BYTE_OPERATOR)
    account = Keys(nkeys.PREFIX_BYTE_ACCOUNT)
    system = Keys(nkeys.PREFIX_BYTE_ACCOUNT)  # JetStream needs the server's system account
    user = Keys(nkeys.PREFIX_BYTE_USER)
    limits = {"imports": -1, "exports": -1, "wildcards": True, "conn": -1, "leaf": -1}
    limits |= {"mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}
    account_jwt = jwt(operator, account.public, "account", {"limits": {**UNLIMITED, **limits}})
    user_jwt = jwt(account, user.public, "user", {"pub": {}, "sub": {}, **UNLIMITED})
    settings = directory / "server.conf"
    settings.write_text(
        f"operator: {jwt(operator, operator.public, 'operator', {})}\n"
        f"system_account: {system.public}\n"
        "resolver: MEMORY\n"
        f"resolver_preload: {{ {account.public}: {account_jwt}, "
        f"{system.public}: {jwt(operator, system.public, 'account', {'limits': UNLIMITED})} }}\n"
    )
    creds = directory / "user.creds"
    creds.write_text(creds_text(user_jwt, user.seed))
    with NatsServer(arguments=["-c", str(settings)]) as server:
        yield server, creds


def test_a_gateway_with_a_credentials_file_stores_over_its_own_link(
    operator_mode: tuple[NatsServer, Path],
) -> None:
    server, creds = operator_mode
    options = {"user_credentials": str(creds)}
    assert unspoken(server.url, options) is None

    async def scenario() -> None:
        cluster = ClusterConfig(server.url, config(server.url).names, options)
        async with serving(cluster, DemoChargeSystem()) as (gateway, listener):
            assert isinstance(gateway.relay.replies, NatsLink)  # not nats-py's fallback
            ws = await station(listener.port, "CRED1")
            reply = await call(ws, "m1", "TransactionEvent", EVENT % (1, 1))
            assert reply[0] == 3, reply
            await ws.close()
        wrong = creds.with_name("other.creds")
        other = Keys(nkeys.PREFIX_BYTE_ACCOUNT)  # an account the server does not trust
        user = Keys(nkeys.PREFIX_BYTE_USER)
        wrong.write_text(creds_text(jwt(other, user.public, "user", UNLIMITED), user.seed))
        with pytest.raises(ConnectionError, match="Authorization Violation"):
            await NatsLink(server.url, {"user_credentials": str(wrong)}, "t").attach()

    run(scenario)


def test_what_a_credentials_file_must_hold(tmp_path: Path) -> None:
    user = Keys(nkeys.PREFIX_BYTE_USER)
    good = tmp_path / "good.creds"
    good.write_text(creds_text("aaa.bbb.ccc", user.seed))
    assert read_credentials(good) == ("aaa.bbb.ccc", user.seed)
    signer = signer_of({"user_credentials": good})
    assert signer is not None and signer.fields("nonce")["jwt"] == "aaa.bbb.ccc"
    signature = signer.fields("nonce")["sig"]
    padded = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    assert user.pair.verify(b"nonce", padded)
    no_seed = tmp_path / "no-seed.creds"
    no_seed.write_text(creds_text("aaa.bbb.ccc", user.seed).split("***")[0])
    with pytest.raises(ValueError, match=f"{no_seed} lacks an nkey seed"):
        read_credentials(no_seed)
    empty = tmp_path / "empty.creds"
    empty.write_text("")
    with pytest.raises(ValueError, match="lacks a user JWT and an nkey seed"):
        read_credentials(empty)
    bad_seed = tmp_path / "bad-seed.creds"
    bad_seed.write_text(creds_text("aaa.bbb.ccc", b"SUNOTASEED"))
    with pytest.raises(ValueError, match=r"bad-seed\.creds: not an nkey seed"):
        NatsLink("nats://127.0.0.1:1", {"user_credentials": str(bad_seed)}, "t")
    with pytest.raises(FileNotFoundError):
        NatsLink("nats://127.0.0.1:1", {"user_credentials": str(tmp_path / "none")}, "t")
    assert unspoken("nats://h", {"user_credentials": ("u.jwt", "u.nk")}) == (
        "user_credentials= given as a tuple"
    )


def test_serve_and_worker_fail_in_one_line_on_credentials_they_cannot_use(tmp_path: Path) -> None:
    broken = tmp_path / "broken.creds"
    broken.write_text("not credentials\n")
    failures = ((broken, "lacks a user JWT"), (tmp_path / "none", "No such file"))
    commands = (["serve", "--port", "0"], ["worker", "ocpp_fast.demo:DemoChargeSystem"])
    for (creds, expected), command in itertools.product(failures, commands):
        nats = ("--nats", "nats://127.0.0.1:1", "--nats-creds", str(creds))
        done = subprocess.run(
            [sys.executable, "-m", "ocpp_fast.cli", *command, *nats],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done
        assert expected in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_seed_rotated_on_disk_is_used_at_the_next_connection(tmp_path: Path) -> None:
    seed_file = tmp_path / "user.nk"
    first, second = Keys(nkeys.PREFIX_BYTE_USER), Keys(nkeys.PREFIX_BYTE_USER)
    seed_file.write_bytes(first.seed)
    link = NatsLink("nats://127.0.0.1:1", {"nkeys_seed": str(seed_file)}, "t")
    server = link._servers[0]
    info = {"auth_required": True, "nonce": "n0nce"}
    assert json.loads(link._connect_json(server, info))["nkey"] == first.public
    seed_file.write_bytes(second.seed)
    assert json.loads(link._connect_json(server, info))["nkey"] == second.public
    seed_file.write_text("")  # broken meanwhile: that connection attempt fails, said plainly
    with pytest.raises(ConnectionError, match="is empty"):
        link._connect_json(server, info)
