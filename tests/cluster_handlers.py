"""The ChargeSystem the cluster tests run in worker processes (``cluster_handlers:WorkerCsms``).

It answers what the stations of the tests send, says which process answered
(DataTransfer ``whoami``) and for which station and version (``whom``), calls the
station back through the cluster (``callback``), refuses with an OCPP error
(``refuse``), and can be caught mid-request (``sleep``: it writes its pid to the file
named in ``data`` and then waits, so a test can kill it there).
"""

from __future__ import annotations

import asyncio
import datetime
import os
import time
from pathlib import Path

from ocpp_fast import errors
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.demo import DemoChargeSystem
from ocpp_fast.dispatch import CallContext
from ocpp_fast.transport import CsmsServer
from ocpp_fast.v201 import enums, messages


class WorkerCsms(DemoChargeSystem):
    async def data_transfer(
        self, request: messages.DataTransferRequest, context: CallContext
    ) -> messages.DataTransferResponse:
        accepted = enums.DataTransferStatusEnumType.ACCEPTED
        if request.vendor_id == "whoami":
            return messages.DataTransferResponse(status=accepted, data=str(os.getpid()))
        if request.vendor_id == "sleep":
            Path(str(request.data)).write_text(str(os.getpid()))
            await asyncio.sleep(60)
        if request.vendor_id == "refuse":
            raise errors.NotSupportedError("refused by the worker", {"why": "asked to"})
        if request.vendor_id == "whom" and context.connection is not None:
            return messages.DataTransferResponse(  # what a live connection would say
                status=accepted, data=f"{context.connection.identity} {context.connection.version}"
            )
        if request.vendor_id == "callback":
            assert context.connection is not None
            answer = await context.connection.call(
                messages.DataTransferRequest(vendor_id="echo", data=context.identity), timeout=5
            )
            return messages.DataTransferResponse(status=accepted, data=answer.data)
        return messages.DataTransferResponse(status=accepted)


class HookedCsms(WorkerCsms):
    """Lifecycle hooks that say when they run, on stdout; ``on_connect`` calls its station
    (a DataTransfer the tests' stations answer with their identity)."""

    def on_startup(self, server: CsmsServer) -> None:
        print(f"hook on_startup {os.getpid()}", flush=True)

    async def on_connect(self, connection: AsyncConnection) -> None:
        answer = await connection.call(messages.DataTransferRequest(vendor_id="x"), timeout=5)
        print(f"hook on_connect {connection.identity} answered {answer.data}", flush=True)

    def on_disconnect(self, connection: AsyncConnection, reason: str) -> None:
        print(f"hook on_disconnect {connection.identity} {reason}", flush=True)


class BlockingCsms(DemoChargeSystem):
    """A plain Heartbeat handler that blocks its worker's event loop for 1.5 s (a driver
    that is not asyncio): what ``ocpp-fast worker --loop-blocked`` says."""

    def heartbeat(
        self, request: messages.HeartbeatRequest, context: CallContext
    ) -> messages.HeartbeatResponse:
        time.sleep(1.5)
        return messages.HeartbeatResponse(current_time=datetime.datetime.now(datetime.UTC))
