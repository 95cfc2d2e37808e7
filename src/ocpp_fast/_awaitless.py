"""``async def`` handlers that never await, run as plain ones.

Many handlers are ``async def`` by habit (the ``ocpp`` package asks for it) and
await nothing: ``async def heartbeat(self, request): return HeartbeatResponse(...)``.
Run as a task each, such a handler cost a live connection 11.6 µs per CALL here
against 0.9 for the same handler written plain (``benchmarks/async_handler_cost.py``):
the task, a turn of the event loop, the answer written from the task. Whether a
coroutine function can suspend is in its bytecode: every ``await``, ``async for``
and ``async with`` compiles to a yield. One without any is finished by a single
``send(None)``, so dispatch calls a plain twin of it (:func:`awaitless_twin`) and
answers it on the spot, as it answers a plain handler.

What differs from a task, and only for a handler with no ``await`` at all: it runs
in the transport's callback (``asyncio.current_task()`` is ``None`` there, and a
context variable it sets stays set for what runs after it in that callback, as with
a plain handler), and it takes no slot of ``max_concurrent_handlers`` (it holds none
for any time).
"""

from __future__ import annotations

import asyncio
import dis
import inspect
from collections.abc import Callable, Coroutine
from types import CoroutineType, FunctionType
from typing import Any

__all__ = [
    "HandlerSuspended",
    "awaitless_twin",
    "finish_at_once",
    "needed_a_loop",
    "never_suspends",
]

_SUSPENDING_OPS = frozenset(
    {"YIELD_VALUE", "SEND", "GET_AWAITABLE", "GET_AITER", "GET_ANEXT", "BEFORE_ASYNC_WITH"}
)
"""Opcodes of an ``await``, ``async for`` or ``async with`` (CPython 3.11 to 3.13)."""


class HandlerSuspended(RuntimeError):
    """An ``async`` handler really awaited inside :meth:`OcppHandler.handle`, which has no
    event loop to resume it: a mistake of the caller (use ``handle_async``), raised to it
    rather than answered to the peer."""


def finish_at_once(result: Any) -> Any:
    """The value of a handler's result: a coroutine is run, if it never really suspends."""
    if type(result) is not CoroutineType:
        return result
    coro: Coroutine[Any, Any, Any] = result
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise HandlerSuspended("an async handler suspended in handle(): use handle_async()")


def needed_a_loop(error: BaseException | None) -> bool:
    """Whether ``error`` is asyncio's refusal of a handler that awaited real work (a sleep,
    a lock, a database call) with no event loop running: in :meth:`OcppHandler.handle` such
    a handler fails before it could suspend, and is the same mistake of the caller as one
    that suspends, not an error to answer the peer with."""
    if not isinstance(error, RuntimeError) or "no running event loop" not in str(error):
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return True
    return False


def never_suspends(member: Any) -> bool:
    """Whether ``member`` is an ``async def`` function whose body cannot suspend: it has
    no ``await``, ``async for`` or ``async with`` (a decorated handler whose wrapper is
    not such a function is not one: it keeps its task)."""
    if type(member) is not FunctionType or not inspect.iscoroutinefunction(member):
        return False
    return not any(op.opname in _SUSPENDING_OPS for op in dis.get_instructions(member))


def awaitless_twin(
    function: Callable[..., Any], wants_context: bool, name: str
) -> Callable[..., Any]:
    """A plain method calling ``function`` (an ``async def`` that :func:`never_suspends`,
    the class's method ``name``) and returning the value its coroutine returns; what it
    raises is raised.

    A handler set on the instance under ``name`` (a test's ``monkeypatch.setattr(csms,
    "heartbeat", fake)``) is called instead, as dispatch calls a plain handler's: what it
    returns is answered, or awaited in a task if it is awaitable."""
    twin: Callable[..., Any]
    if wants_context:

        def with_context(self: Any, request: Any, context: Any) -> Any:
            try:  # inline: a call less per CALL than a helper
                own = self.__dict__.get(name)
            except AttributeError:  # a class with __slots__
                own = None
            if own is not None:
                return own(request, context)
            return finish_at_once(function(self, request, context))

        twin = with_context
    else:

        def plain(self: Any, request: Any) -> Any:
            try:  # inline: a call less per CALL than a helper
                own = self.__dict__.get(name)
            except AttributeError:  # a class with __slots__
                own = None
            if own is not None:
                return own(request)
            return finish_at_once(function(self, request))

        twin = plain
    twin.__name__ = twin.__qualname__ = f"{function.__qualname__} (run at once)"
    twin.__doc__ = function.__doc__
    return twin
