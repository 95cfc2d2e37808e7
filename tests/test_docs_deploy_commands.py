"""The commands of the deploy guide (its systemd unit's ``ExecStart``, its Kubernetes
container's ``command``) start as written, with the guide's files in place, and the command
warns of nothing: copied into production, the Kubernetes one served plain ``ws://`` on the
Service's port 443 and, like the unit's, let any client in under any identity (security
profile 0 without ``--authorize``, which ``ocpp-fast serve`` warns about on ``0.0.0.0``)."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from pathlib import Path

import pytest
from serve_proc import SERVE, Served
from test_transport import Pki

from ocpp_fast._machine import free_port

DEPLOY = Path(__file__).parent.parent / "docs" / "how-to" / "deploy.md"

APP = """
from ocpp_fast.demo import DemoChargeSystem
from ocpp_fast.transport import StationRequest


class Csms(DemoChargeSystem):
    pass


def authorize(station: StationRequest) -> bool:
    return False
"""


def commands() -> dict[str, list[str]]:
    """The ``ocpp-fast serve`` argv of each deployment the guide shows, after ``serve``."""
    text = DEPLOY.read_text()
    unit = re.search(r"^ExecStart=\S*ocpp-fast serve (.*?[^\\])$", text, re.M | re.S)
    container = re.search(r'command: (\["ocpp-fast", "serve",.*?\])', text, re.S)
    assert unit is not None and container is not None
    return {
        "systemd": unit.group(1).replace("\\\n", " ").split(),
        "kubernetes": json.loads(container.group(1))[2:],
    }


@pytest.mark.parametrize("where", ["systemd", "kubernetes"])
def test_the_deploy_guides_commands_start_and_warn_of_nothing(where: str, tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    combined = pki.server.read_text()
    cut = combined.index("-----BEGIN PRIVATE KEY-----")
    (tmp_path / "cert.pem").write_text(combined[:cut])
    (tmp_path / "key.pem").write_text(combined[cut:])
    (tmp_path / "mycsms.py").write_text(textwrap.dedent(APP))
    files = {
        "/etc/csms/cert.pem": "cert.pem",
        "/etc/csms/key.pem": "key.pem",
        "/tls/tls.crt": "cert.pem",
        "/tls/tls.key": "key.pem",
    }
    argv = commands()[where]
    ports = {"--port": free_port(), "--metrics-port": free_port()}
    for at, flag in enumerate(argv[:-1]):
        if flag in ports:  # the guide's 9000 and 9100 may be taken here
            argv[at + 1] = str(ports[flag])
        elif argv[at + 1] in files:
            argv[at + 1] = str(tmp_path / files[argv[at + 1]])
    process = subprocess.Popen(
        [*SERVE, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    served = Served(process, ports["--port"])
    first = served.line()
    out = first + served.stop()
    assert f"mycsms:Csms on wss://0.0.0.0:{ports['--port']}/" in first, (first, served.err)
    assert "warning" not in out, out
    assert served.process.returncode == 0, served.err


def test_the_deploy_guides_worker_unit_starts_and_stops_within_its_unit(
    nats_url: str, tmp_path: Path
) -> None:
    """The worker unit's ``ExecStart`` (``%i`` as instance 1), its servers replaced by a real
    nats-server: it joins the cluster, its probe on the port the guide says answers, and
    SIGTERM (the unit's ``KillSignal``) stops it with code 0 within ``TimeoutStopSec``."""
    import signal
    import sys
    import urllib.request

    text = DEPLOY.read_text()
    unit = re.search(r"^ExecStart=\S*ocpp-fast worker (.*?[^\\])$", text, re.M | re.S)
    stop = re.search(r"csms-worker@\.service\n(?:.*\n)*?TimeoutStopSec=(\d+)", text)
    assert unit is not None and stop is not None
    argv = unit.group(1).replace("\\\n", " ").replace("%i", "1").split()
    probe = int(argv[argv.index("--health-port") + 1])
    assert probe == 9201  # as the guide says; here a free port instead, 9201 may be taken
    argv[argv.index("--health-port") + 1] = str(free_port())
    argv[argv.index("--nats") + 1] = nats_url
    (tmp_path / "mycsms.py").write_text(textwrap.dedent(APP))
    command = [sys.executable, "-m", "ocpp_fast.cli", "worker", *argv]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        assert "worker serving OCPP 2.0.1 from" in lines[1], lines
        port = argv[argv.index("--health-port") + 1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as reply:
            assert json.loads(reply.read()) == {"ready": True}
        process.send_signal(signal.SIGTERM)
        assert process.wait(int(stop.group(1))) == 0  # before systemd would kill it
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
