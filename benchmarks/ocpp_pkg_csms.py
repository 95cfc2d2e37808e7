"""The comparison CSMS of ``benchmarks/load.py``: the ``ocpp`` package (2.1.0) over ``websockets``.

``python benchmarks/ocpp_pkg_csms.py --port P [--async-validation]``

What an application written with the ``ocpp`` package looks like, answering what
``DemoChargeSystem`` (``ocpp-fast serve``) answers: a ``websockets`` server
(same library and settings as ours: subprotocol ``ocpp2.0.1``, permessage-deflate,
keepalive pings every 20 s), one ``ocpp.v201.ChargePoint`` per connection running
``start()``, one ``@on`` handler per action of the simulator's mix, each returning
an ``ocpp.v201.call_result`` dataclass built on the spot (fresh timestamps, as
the demo does).

Validation: ``ocpp.messages.ASYNC_VALIDATION`` is set to ``False`` unless
``--async-validation`` is given. With the default (``True``) every request and
every response is validated by ``jsonschema`` in the loop's default thread pool:
the work is the same pure-Python code under the GIL, so it only adds two thread
hand-offs per message and contention for the one core the process gets; inline
validation is the package's fastest mode (and what ``make bench`` measures).

Prints one line when it listens (``ocpp CSMS on ws://...``); SIGTERM or SIGINT
stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import signal
from collections.abc import Callable
from typing import Any, TypeVar, cast

import ocpp.messages
import ocpp.routing
from ocpp.v201 import ChargePoint, call_result, datatypes, enums
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

F = TypeVar("F", bound=Callable[..., Any])
SUBPROTOCOL = "ocpp2.0.1"


def on(action: str) -> Callable[[F], F]:
    """``ocpp.routing.on`` with a type (the ``ocpp`` package ships no annotations)."""
    return cast(Callable[[F], F], ocpp.routing.on(action))


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def _accepted() -> Any:
    return datatypes.IdTokenInfoType(status=enums.AuthorizationStatusEnumType.accepted)


class Csms(ChargePoint):  # type: ignore[misc]  # ocpp is untyped: ChargePoint is Any to mypy
    """The ``ocpp`` twin of ``DemoChargeSystem``: accepts every boot and token."""

    @on(enums.Action.boot_notification)
    def on_boot_notification(self, **payload: Any) -> Any:
        return call_result.BootNotification(
            current_time=_now(), interval=300, status=enums.RegistrationStatusEnumType.accepted
        )

    @on(enums.Action.heartbeat)
    def on_heartbeat(self, **payload: Any) -> Any:
        return call_result.Heartbeat(current_time=_now())

    @on(enums.Action.status_notification)
    def on_status_notification(self, **payload: Any) -> Any:
        return call_result.StatusNotification()

    @on(enums.Action.authorize)
    def on_authorize(self, **payload: Any) -> Any:
        return call_result.Authorize(id_token_info=_accepted())

    @on(enums.Action.transaction_event)
    def on_transaction_event(self, event_type: str, **payload: Any) -> Any:
        if event_type == enums.TransactionEventEnumType.started:
            return call_result.TransactionEvent(id_token_info=_accepted())
        return call_result.TransactionEvent()

    @on(enums.Action.meter_values)
    def on_meter_values(self, **payload: Any) -> Any:
        return call_result.MeterValues()

    @on(enums.Action.notify_report)
    def on_notify_report(self, **payload: Any) -> Any:
        return call_result.NotifyReport()

    @on(enums.Action.security_event_notification)
    def on_security_event_notification(self, **payload: Any) -> Any:
        return call_result.SecurityEventNotification()

    @on(enums.Action.data_transfer)
    def on_data_transfer(self, **payload: Any) -> Any:
        return call_result.DataTransfer(status=enums.DataTransferStatusEnumType.accepted)


async def handle(websocket: ServerConnection) -> None:
    """One station: its identity is the last path segment, as OCPP-J says."""
    if websocket.subprotocol != SUBPROTOCOL:
        await websocket.close(1002, "no acceptable OCPP version")
        return
    path = websocket.request.path if websocket.request is not None else "/"
    identity = path.rstrip("/").rsplit("/", 1)[-1] or "?"
    with contextlib.suppress(ConnectionClosed):
        await Csms(identity, websocket).start()


async def run(host: str, port: int) -> None:
    async with serve(handle, host, port, subprotocols=[Subprotocol(SUBPROTOCOL)]) as server:
        bound = server.sockets[0].getsockname()[1]
        validation = "async" if ocpp.messages.ASYNC_VALIDATION else "inline"
        print(f"ocpp CSMS on ws://{host}:{bound}/<identity> ({validation} validation)", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument(
        "--async-validation",
        action="store_true",
        help="keep ocpp's default ASYNC_VALIDATION = True (jsonschema in a thread pool)",
    )
    args = parser.parse_args()
    ocpp.messages.ASYNC_VALIDATION = args.async_validation
    asyncio.run(run(args.host, args.port))


if __name__ == "__main__":
    main()
