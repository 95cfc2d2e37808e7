# Types of the compiled dispatch path (_dispatch_c.pyx), which mypy cannot read: the same
# signatures as its pure-Python twin, _dispatch_py.
from typing import Any, Literal

from ocpp_fast._fastpath import FastRoutes, HandlerRan
from ocpp_fast.protocol import CallReceived

IMPLEMENTATION: str

class FastDispatch:
    def __init__(
        self,
        handler: Any,
        routes: FastRoutes,
        context_type: type[Any],
        peer: Any = None,
        protocol: Any = None,
        frames: dict[str, bytes | str] | None = None,
    ) -> None: ...
    def answer(
        self, data: bytes | str, identity: str
    ) -> bytes | HandlerRan | CallReceived | Literal[False] | None: ...

class ActionSlots:
    def __init__(self) -> None: ...

def use_clock(clock: Any = None) -> None: ...
def handle(handler: Any, frame: bytes | str, identity: str = "") -> bytes | None: ...
def surely_valid(value: Any, plan: tuple[Any, ...]) -> bool: ...
def feed(connection: Any, data: bytes | str) -> bool: ...
