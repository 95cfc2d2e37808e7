"""Two ChargePoints with the same handlers: one on the ``ocpp`` package, one on ocpp_fast.compat.

The differential tests feed both the same frames and compare what each sends
and what each handler receives. Every handler records its keyword arguments and
returns the ``call_result`` dataclass the test prepared for its action.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import ocpp.messages
from ocpp.charge_point import camel_to_snake_case
from ocpp.routing import after, on
from ocpp.v16 import call_result as call_result16
from ocpp.v16.enums import Action

from ocpp_fast import compat

MODULES = {"1.6": "v16", "2.0.1": "v201", "2.1": "v21"}


@contextlib.contextmanager
def ocpp_validating_inline() -> Iterator[None]:
    """ocpp validates in a thread pool unless told not to; inline is the same verdict,
    faster; afterwards ocpp is given back its setting and its own ChargePoint classes."""
    before = ocpp.messages.ASYNC_VALIDATION
    ocpp.messages.ASYNC_VALIDATION = False
    try:
        yield
    finally:
        ocpp.messages.ASYNC_VALIDATION = before
        compat.uninstall()


class Sink:
    """The connection both ChargePoints write to: it keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.inbox: asyncio.Queue[str] = asyncio.Queue()

    async def send(self, message: str) -> None:
        self.sent.append(message)

    async def recv(self) -> str:
        return await self.inbox.get()


def _handler(action: str) -> Callable[..., Any]:
    def handler(self: Any, **kwargs: Any) -> Any:
        self.received.append((action, kwargs))
        reply = self.replies.get(action)
        if isinstance(reply, BaseException):
            raise reply
        return reply

    # ocpp routes by function name (one global list), so each handler has its own name
    handler.__name__ = handler.__qualname__ = f"on_{action}"
    return handler


def _after_hook(action: str) -> Callable[..., Any]:
    def hook(self: Any, **kwargs: Any) -> None:
        self.after.append((action, kwargs))

    hook.__name__ = hook.__qualname__ = f"after_{action}"
    return hook


def charge_point_classes(label: str, actions: list[str]) -> tuple[type[Any], type[Any]]:
    """``(ocpp's class, compat's class)`` for one version, with a handler per action."""
    module = MODULES[label]
    original = importlib.import_module(f"ocpp.{module}").ChargePoint
    if compat.installed():
        raise RuntimeError("build the pair with ocpp's own classes, before install()")
    fast = importlib.import_module(f"ocpp_fast.compat.{module}").ChargePoint
    body: dict[str, Any] = {}
    for action in actions:
        body[f"on_{action}"] = on(action)(_handler(action))
        body[f"after_{action}"] = after(action)(_after_hook(action))

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        super(type(self), self).__init__(*args, **kwargs)
        self.received = []
        self.after = []
        self.replies = {}

    body["__init__"] = init
    return (
        type(f"Ocpp{module}", (original,), dict(body)),
        type(f"Fast{module}", (fast,), dict(body)),
    )


def reply_for(label: str, action: str, payload: dict[str, Any]) -> Any:
    """``ocpp``'s ``call_result`` dataclass holding a (valid) wire payload, as an
    application would build it: snake_case keyword arguments, nested values as
    snake_case dicts. A top-level name ``ocpp``'s conversion does not turn into
    the dataclass's field name is matched by folding case and underscores."""
    results = importlib.import_module(f"ocpp.{MODULES[label]}.call_result")
    cls = getattr(results, action)
    fields = {f.name.replace("_", "").lower(): f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in camel_to_snake_case(payload).items():
        kwargs[fields[key.replace("_", "").lower()]] = value
    return cls(**kwargs)


def parsed(frames: list[str]) -> list[Any]:
    """Sent frames as JSON values (ocpp escapes non-ASCII, we write UTF-8: same JSON)."""
    return [msgspec.json.decode(frame) for frame in frames]


NOW = "2026-12-04T15:00:00Z"


def slow_heartbeat_backend(base: type[Any], delay: float) -> type[Any]:
    """A 1.6 CSMS on ``base`` whose Heartbeat handler awaits a slow store for ``delay`` s,
    appending to the instance's ``events`` list when it begins and when it answers (``NOW``):
    for the tests of what happens to a running handler."""

    class Csms(base):  # type: ignore[misc]
        events: list[str]

        async def store(self) -> None:
            """A database write, ``delay`` s; a test that must cancel the handler while it
            runs overrides it to wait for that event instead (a process descheduled longer
            than ``delay`` has the write done, and the CALL answered, before the cancel)."""
            await asyncio.sleep(delay)

        @on(Action.heartbeat)  # type: ignore[untyped-decorator]
        async def on_heartbeat(self) -> Any:
            self.events.append("heartbeat: begins")
            await self.store()
            self.events.append("heartbeat: answered")
            return call_result16.Heartbeat(current_time=NOW)

    return Csms
