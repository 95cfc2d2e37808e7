"""Shared fixtures: every codec test runs on both implementations, every socket test that
asks for ``backend`` on both WebSocket backends, every test that asks for ``listener_twin``
on both twins of the picows listener's per-message methods, every test that asks for
``dispatch_twin`` on both twins of ``OcppHandler.handle`` and ``AsyncConnection.feed``, every
test that asks for ``queue_path`` on both stores of the transaction queue."""

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


def listener_twins() -> list[str]:
    """The twins of the picows listener this run can test: ``compiled`` (``_dispatch_c``'s
    functions, in place of ``on_ws_frame`` and ``write`` where built) first, and ``python``,
    the methods themselves."""
    try:
        from ocpp_fast._fastpath import pure_twins
        from ocpp_fast.transport._picows_wire import OcppListener
    except ImportError:  # picows is an optional extra
        return ["python"]
    return ["compiled", "python"] if (OcppListener, "on_ws_frame") in pure_twins else ["python"]


LISTENER_TWINS = listener_twins()


@pytest.fixture(params=LISTENER_TWINS)
def listener_twin(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The twin of ``OcppListener.on_ws_frame`` and ``.write`` live during the test.

    A module whose picows tests must pass on both says ``pytestmark =
    pytest.mark.usefixtures("listener_twin")``: ``python`` puts the Python methods back on
    the class for the test (listeners bind ``write`` when their connection is made, so
    within the test it is one twin throughout).
    """
    name: str = request.param
    if name == "python" and LISTENER_TWINS[0] == "compiled":
        from ocpp_fast._fastpath import pure_twins
        from ocpp_fast.transport._picows_wire import OcppListener

        for (cls, method), pure in pure_twins.items():
            if cls is OcppListener:
                monkeypatch.setattr(cls, method, pure)
    return name


def _listener_class() -> type | None:
    """The picows listener's class, ``None`` without picows (an optional extra)."""
    try:
        from ocpp_fast.transport._picows_wire import OcppListener
    except ImportError:
        return None
    return OcppListener


def dispatch_twins() -> list[str]:
    """The twins of the dispatch path's entry points this run can test: ``compiled``
    (``_dispatch_c.handle`` and ``.feed``, in place of ``OcppHandler.handle`` and
    ``AsyncConnection.feed`` where built) first, and ``python``, the methods themselves."""
    from ocpp_fast._fastpath import pure_twins
    from ocpp_fast.aio import AsyncConnection

    return ["compiled", "python"] if (AsyncConnection, "feed") in pure_twins else ["python"]


DISPATCH_TWINS = dispatch_twins()


@pytest.fixture(params=DISPATCH_TWINS)
def dispatch_twin(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The twin of every method ``install_compiled`` replaced but the picows listener's
    (those are ``listener_twin``'s): ``OcppHandler.handle`` and ``AsyncConnection.feed``.

    A module whose tests drive ``handle`` or ``feed`` says ``pytestmark =
    pytest.mark.usefixtures("dispatch_twin")``: ``python`` puts the Python methods back on
    their classes for the test, and the pure ``FastDispatch`` (``_dispatch_py``) under them
    where they make one, so that without ``OCPP_FAST_NO_EXTENSIONS=1`` the whole pure path
    runs the same tests as the compiled one (the entry points alone ran the compiled
    ``FastDispatch`` still). A handler keeps the path it made for ``handle``, so one made
    before the test keeps its twin: the tests make theirs.
    """
    name: str = request.param
    if name == "python" and DISPATCH_TWINS[0] == "compiled":
        from ocpp_fast import dispatch
        from ocpp_fast._dispatch_py import FastDispatch
        from ocpp_fast._fastpath import pure_twins

        listener = _listener_class()
        for (cls, method), pure in pure_twins.items():
            if cls is not listener:
                monkeypatch.setattr(cls, method, pure)
        monkeypatch.setattr(dispatch, "fast_dispatch_class", lambda: FastDispatch)
    return name


def link_bytes_twins() -> list[str]:
    """The twins of the NATS link's bytes this run can test: ``compiled`` (``_link_bytes_c``)
    where it is in use, and ``python`` (``_link_bytes_py``)."""
    from ocpp_fast.cluster import _link_bytes, _link_bytes_py

    return ["python"] if _link_bytes.implementation is _link_bytes_py else ["compiled", "python"]


@pytest.fixture(params=link_bytes_twins())
def link_bytes_twin(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The twin of ``ocpp_fast.cluster._link_bytes`` (a durable CALL's event and publishes,
    the link's reader) for the test: a module whose tests build, write or read the link's
    bytes says ``pytestmark = pytest.mark.usefixtures("link_bytes_twin")``; ``python`` puts
    the pure twin's functions and ``Reader`` in place (a connection made before keeps its
    reader: the tests make theirs)."""
    from ocpp_fast.cluster import _link_bytes, _link_bytes_py

    name: str = request.param
    if name == "python":
        for attribute in (
            "Ack",
            "Reader",
            "event_body",
            "event_head",
            "hpub",
            "pub",
            "implementation",
        ):
            value = (
                _link_bytes_py
                if attribute == "implementation"
                else getattr(_link_bytes_py, attribute)
            )
            monkeypatch.setattr(_link_bytes, attribute, value)
    return name


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test parametrized onto websockets alone runs with one twin of the picows listener,
    not with each: that backend has no such listener."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        values = [value for value in params.values() if isinstance(value, str)]
        redundant = (
            params.get("listener_twin", LISTENER_TWINS[0]) != LISTENER_TWINS[0]
            and "websockets" in values
            and "picows" not in values
        )
        (dropped if redundant else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


QUEUE_STORES = ["memory", "file"]
"""The two stores of a transaction queue: ``":memory:"`` (Python containers) and a SQLite file."""


@pytest.fixture(params=QUEUE_STORES)
def queue_path(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a transaction queue test keeps its queue, each store in turn: the queue's behaviour
    tests run on both, so that the in-memory store cannot drift from the durable one. (A test
    of what only a file keeps, a restart or a kill, opens a file itself.)"""
    if request.param == "memory":
        return ":memory:"
    return str(tmp_path / "queue.sqlite")


@pytest.fixture(scope="module")
def nats_url() -> Iterator[str]:
    """A nats-server (JetStream on) for the cluster tests of one module."""
    from ocpp_fast.cluster import NatsServer

    with NatsServer() as server:
        yield server.url


@pytest.fixture(autouse=True)
def handler_failures_logged_afresh() -> Iterator[None]:
    """Each test starts with the process's limiter of handler failure lines empty: the tests
    before it made handlers raise, and a test reading its own handler's line must get it."""
    from ocpp_fast.dispatch import handler_failures

    handler_failures._windows.clear()
    yield
