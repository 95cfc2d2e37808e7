"""Each extra stands alone, and a missing one says what to install.

Each case runs in a fresh interpreter whose imports of the named optional
dependencies fail, as they would where the extra is not installed (a
``sys.meta_path`` finder refuses them). ``tests/test_wheel.py`` does the same with
real virtualenvs holding one extra each (``make wheel``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_wheel import serve_starts

BLOCKER = """
import sys

class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

BLOCKED = set(sys.argv[1].split(","))
sys.meta_path.insert(0, _NotInstalled())
"""


def without(blocked: str, script: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``script`` where the modules ``blocked`` (comma-separated) cannot be imported."""
    code = BLOCKER + textwrap.dedent(script)
    return subprocess.run(
        [sys.executable, "-c", code, blocked],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).parent,
    )


def missing_message(script: str) -> str:
    """The script imports something and prints the ImportError it gets."""
    return textwrap.dedent(f"""
        try:
        {textwrap.indent(textwrap.dedent(script), "    ")}
        except ImportError as exc:
            print(type(exc).__name__, exc)
        else:
            print("imported")
    """)


@pytest.mark.parametrize(
    ("blocked", "statement", "extra"),
    [
        ("prometheus_client", "import ocpp_fast.metrics", "metrics"),
        ("nats", "from ocpp_fast.cluster import ClusterClient", "cluster"),
        ("ocpp", "import ocpp_fast.compat", "compat"),
        (
            "websockets",
            "from ocpp_fast.transport.backend import resolve; resolve('websockets')",
            "websockets",
        ),
        ("picows", "from ocpp_fast.transport.backend import resolve; resolve('picows')", "picows"),
        (
            "picows,websockets",
            "from ocpp_fast.transport.backend import resolve; resolve(None)",
            "picows",
        ),
    ],
)
def test_a_missing_extra_names_the_pip_install_to_run(
    blocked: str, statement: str, extra: str
) -> None:
    result = without(blocked, missing_message(statement))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("MissingExtra "), result.stdout
    assert f'pip install "ocpp-fast[{extra}]"' in result.stdout


SERVE_AND_CONNECT = """
import asyncio
from my_test_charge_system import MyTestChargeSystem
from my_test_charger import MyTestCharger
from ocpp_fast.transport import connect, serve
from ocpp_fast.v201 import messages

async def main():
    server = await serve(MyTestChargeSystem())
    client = await connect(MyTestCharger(), f"ws://127.0.0.1:{server.port}/CS1")
    answer = await client.call(messages.HeartbeatRequest(), timeout=5)
    print(client.backend, type(answer).__name__)
    await client.close()
    await server.close()

asyncio.run(main())
"""


@pytest.mark.parametrize(("blocked", "left"), [("websockets", "picows"), ("picows", "websockets")])
def test_serve_and_connect_work_with_one_websocket_library(blocked: str, left: str) -> None:
    examples = Path(__file__).resolve().parent.parent / "examples"
    script = f"import sys; sys.path.insert(0, {str(examples)!r})\n" + SERVE_AND_CONNECT
    result = without(blocked, script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [left, "HeartbeatResponse"]


def test_the_command_serves_without_websockets() -> None:
    """``pip install "ocpp-fast[picows]"`` alone: ``ocpp-fast serve`` starts (and stops)."""
    script = """
        from ocpp_fast.cli import main
        raise SystemExit(main(["serve", "--port", "0", "--quiet"]))
    """
    serve_starts(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(script), "websockets"], Path.cwd()
    )


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize(
    ("blocked", "argv", "extra"),
    [
        ("picows,websockets", ["serve", "--port", "0"], "picows"),
        (
            "nats",
            ["worker", "--nats", "nats://127.0.0.1:1", "cluster_handlers:WorkerCsms"],
            "cluster",
        ),
        ("nats", ["serve", "--port", "0", "--nats", "nats://127.0.0.1:1"], "cluster"),
        ("prometheus_client", ["serve", "--port", "0", "--metrics-port", "0"], "metrics"),
    ],
)
def test_the_command_says_which_extra_is_missing(
    blocked: str, argv: list[str], extra: str, log_format: str
) -> None:
    """One line, as every failure to start is said: in --log-format, with its time and level
    (it was a bare ``ocpp-fast: ...`` whatever the format, which a collector reading JSON
    could not parse)."""
    argv = [*argv, "--log-format", log_format]
    script = f"from ocpp_fast.cli import main; raise SystemExit(main({argv!r}))"
    result = without(blocked, script)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    if log_format == "json":
        record = json.loads(line)
        assert record["level"] == "error", record
        assert record["message"].endswith(f'pip install "ocpp-fast[{extra}]"'), record
    else:
        assert line.endswith(f'pip install "ocpp-fast[{extra}]"'), line
        assert re.match(r"\d{4}-\d\d-\d\dT[\d:.]+Z error \S", line), line
