"""Shared fixtures: every codec test runs on both implementations, every socket test that
asks for ``backend`` on both WebSocket backends."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from ocpp_fast import _codec_py
from ocpp_fast.transport.backend import BACKENDS, ENVIRONMENT

# The examples (MyTestCharger, MyTestChargeSystem) are exercised by the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))


def compiled_expected() -> bool:
    """The compiled codec must load unless the pure build was asked for."""
    return os.environ.get("OCPP_FAST_NO_EXTENSIONS", "") in ("", "0")


def implementations() -> list[ModuleType]:
    """The codecs this run can test: always the pure one, the compiled one if built."""
    found: list[ModuleType] = [_codec_py]
    try:
        from ocpp_fast import _codec_c
    except ImportError:
        return found
    found.append(_codec_c)
    return found


IMPLEMENTATIONS = implementations()


@pytest.fixture(params=IMPLEMENTATIONS, ids=[m.IMPLEMENTATION for m in IMPLEMENTATIONS])
def impl(request: pytest.FixtureRequest) -> ModuleType:
    """A codec implementation module (``_codec_py`` or ``_codec_c``)."""
    module: ModuleType = request.param
    return module


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """A WebSocket backend, the one ``serve()`` and ``connect()`` default to during the test.

    A module whose every test runs on both says ``pytestmark = pytest.mark.usefixtures(
    "backend")``; one whose tests pass the backend themselves defines its own.
    """
    name: str = request.param
    monkeypatch.setenv(ENVIRONMENT, name)
    return name


@pytest.fixture(scope="module")
def nats_url() -> Iterator[str]:
    """A nats-server (JetStream on) for the cluster tests of one module."""
    from ocpp_fast.cluster import NatsServer

    with NatsServer() as server:
        yield server.url
