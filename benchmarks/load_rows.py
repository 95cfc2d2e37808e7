"""The CSMSs the load benchmark compares: one record per row, each saying how to start it.

Every row is a separate process listening on 127.0.0.1 and answering the
simulator's 2.0.1 mix with what ``DemoChargeSystem`` answers:

- ``echo``: ``echo_floor.py``, bare picows on uvloop, prebuilt answers, no
  validation: the floor any picows CSMS stands on;
- ``ocpp_fast-picows`` / ``ocpp_fast-websockets``: ``ocpp-fast serve --quiet
  --backend ...`` (``DemoChargeSystem``);
- ``ocpp``: ``ocpp_pkg_csms.py``, the ``ocpp`` package 2.1.0 on websockets;
- ``ocpp-rpc``: ``interop/load_csms.mjs``, the npm ``ocpp-rpc`` in strict mode.

A row that cannot run here says why (``missing``) instead of failing the run.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ocpp_fast._machine import version_of
from ocpp_fast.transport import backend

HERE = Path(__file__).resolve().parent
INTEROP = HERE.parent / "interop"


@dataclass(frozen=True)
class Row:
    key: str
    title: str
    argv: Callable[[int, bool], list[str]]
    """The command for port P (and whether the ``ocpp`` row validates in a thread pool)."""
    missing: Callable[[], str | None]
    """Why the row cannot run here, or None."""


def _need_modules(*names: str) -> Callable[[], str | None]:
    def missing() -> str | None:
        absent = [name for name in names if importlib.util.find_spec(name) is None]
        return f"not installed: {', '.join(absent)}" if absent else None

    return missing


def _need_backend(name: str) -> Callable[[], str | None]:
    def missing() -> str | None:
        if backend.available(name):
            return None
        return f"not available (ocpp_fast.transport.backend.available({name!r}) is False)"

    return missing


def _need_ocpp_rpc() -> str | None:
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not (INTEROP / "node_modules" / "ocpp-rpc" / "package.json").is_file():
        return "ocpp-rpc is not installed (npm ci --prefix interop)"
    return None


def _serve(name: str) -> Callable[[int, bool], list[str]]:
    def argv(port: int, async_validation: bool) -> list[str]:
        command = [sys.executable, "-m", "ocpp_fast.cli", "serve", "--port", str(port)]
        return [*command, "--quiet", "--backend", name]

    return argv


def _ocpp_argv(port: int, async_validation: bool) -> list[str]:
    argv = [sys.executable, str(HERE / "ocpp_pkg_csms.py"), "--port", str(port)]
    return [*argv, "--async-validation"] if async_validation else argv


def _rpc_version() -> str:
    package = INTEROP / "node_modules" / "ocpp-rpc" / "package.json"
    if not package.is_file():
        return "?"
    version: str = json.loads(package.read_text()).get("version", "?")
    return version


ROWS = (
    Row(
        "echo",
        "echo floor (bare picows + uvloop, no validation)",
        lambda port, _: [sys.executable, str(HERE / "echo_floor.py"), "--port", str(port)],
        _need_modules("picows", "uvloop"),
    ),
    Row(
        "ocpp_fast-picows",
        "ocpp_fast on picows (DemoChargeSystem)",
        _serve("picows"),
        _need_backend("picows"),
    ),
    Row(
        "ocpp_fast-websockets",
        "ocpp_fast on websockets (DemoChargeSystem)",
        _serve("websockets"),
        _need_backend("websockets"),
    ),
    Row("ocpp", f"ocpp {version_of('ocpp')}", _ocpp_argv, _need_modules("ocpp", "websockets")),
    Row(
        "ocpp-rpc",
        f"ocpp-rpc {_rpc_version()} (strict mode, node)",
        lambda port, _: ["node", str(INTEROP / "load_csms.mjs"), str(port)],
        _need_ocpp_rpc,
    ),
)
BY_KEY = {row.key: row for row in ROWS}
