"""A CSMS written for the ``ocpp`` package, exactly as its documentation shows, on ocpp_fast.

Everything below the two ``ocpp_fast`` lines is plain ``ocpp`` code: its imports,
``ChargePoint`` subclass, ``@on`` handlers returning ``call_result`` dataclasses,
and ``start()`` over ``websockets.serve``. ``ocpp_fast.compat.install()`` runs
before ``ocpp.v201.ChargePoint`` is imported, so the class below is built on
ocpp_fast's drop-in: validated by the generated Structs, answered with the spec's
error codes, many times faster. Delete those two lines and it runs on ``ocpp`` alone.

Run: ``python examples/ocpp_package_backend.py [--port 9000]``, then point stations
(or ``ocpp-fast simulate ws://127.0.0.1:9000/ocpp``) at it.
"""

import ocpp_fast.compat

ocpp_fast.compat.install()

# ruff: noqa: E402  (the ocpp imports must follow install())
import argparse
import asyncio
import contextlib
import logging
from datetime import datetime, timezone

import websockets
from ocpp.routing import on
from ocpp.v201 import ChargePoint as cp
from ocpp.v201 import call_result
from ocpp.v201.enums import (
    Action,
    AuthorizationStatusEnumType,
    DataTransferStatusEnumType,
    RegistrationStatusEnumType,
)

logging.basicConfig(level=logging.WARNING)


def now() -> str:
    return datetime.now(timezone.utc).isoformat()  # noqa: UP017 (as the ocpp docs write it)


class ChargePoint(cp):
    @on(Action.boot_notification)
    def on_boot_notification(self, charging_station, reason, **kwargs):
        return call_result.BootNotification(
            current_time=now(), interval=10, status=RegistrationStatusEnumType.accepted
        )

    @on(Action.heartbeat)
    def on_heartbeat(self):
        return call_result.Heartbeat(current_time=now())

    @on(Action.status_notification)
    def on_status_notification(self, **kwargs):
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_token, **kwargs):
        return call_result.Authorize(id_token_info={"status": AuthorizationStatusEnumType.accepted})

    @on(Action.transaction_event)
    async def on_transaction_event(self, event_type, seq_no, **kwargs):
        return call_result.TransactionEvent()

    @on(Action.meter_values)
    def on_meter_values(self, evse_id, meter_value, **kwargs):
        return call_result.MeterValues()

    @on(Action.notify_report)
    def on_notify_report(self, **kwargs):
        return call_result.NotifyReport()

    @on(Action.security_event_notification)
    def on_security_event_notification(self, **kwargs):
        return call_result.SecurityEventNotification()

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id, **kwargs):
        return call_result.DataTransfer(status=DataTransferStatusEnumType.accepted)


async def on_connect(websocket):
    """For every new station: check the subprotocol, then route its messages."""
    if websocket.subprotocol is None:
        logging.warning("no subprotocol agreed, closing")
        return await websocket.close()
    charge_point_id = websocket.request.path.strip("/").split("/")[-1]
    charge_point = ChargePoint(charge_point_id, websocket)
    with contextlib.suppress(websockets.exceptions.ConnectionClosed):
        await charge_point.start()


async def main(port: int) -> None:
    server = await websockets.serve(on_connect, "127.0.0.1", port, subprotocols=["ocpp2.0.1"])
    print(f"CSMS on ws://127.0.0.1:{port}/ocpp, ChargePoint base: {cp.__module__}", flush=True)
    await server.wait_closed()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=9000)
    asyncio.run(main(parser.parse_args().port))
