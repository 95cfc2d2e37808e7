"""The ChargeSystem the cluster tests run in worker processes (``cluster_handlers:WorkerCsms``).

It answers what the stations of the tests send, says which process answered
(DataTransfer ``whoami``), calls the station back through the cluster
(``callback``), refuses with an OCPP error (``refuse``), and can be caught
mid-request (``sleep``: it writes its pid to the file named in ``data`` and then
waits, so a test can kill it there).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from ocpp_fast import errors
from ocpp_fast.demo import DemoChargeSystem
from ocpp_fast.dispatch import CallContext
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
        if request.vendor_id == "callback":
            assert context.connection is not None
            answer = await context.connection.call(
                messages.DataTransferRequest(vendor_id="echo", data=context.identity), timeout=5
            )
            return messages.DataTransferResponse(status=accepted, data=answer.data)
        return messages.DataTransferResponse(status=accepted)
