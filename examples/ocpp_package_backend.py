"""A CSMS written for the ``ocpp`` package, exactly as its documentation shows, on ocpp_fast.

Everything below the two ``ocpp_fast`` lines is plain ``ocpp`` code: its imports,
``ChargePoint`` subclasses, ``@on`` handlers returning ``call_result`` dataclasses,
and ``start()`` over ``websockets.serve``. ``ocpp_fast.compat.install()`` runs
before ``ocpp``'s ChargePoint classes are imported, so the classes below are built on
ocpp_fast's drop-in: validated by the generated Structs, answered with the spec's
error codes, many times faster. Delete those two lines and it runs on ``ocpp`` alone.

Two backends, in the two styles real projects use:

- ``/ocpp/<id>``: a subclass of ``ocpp.v201.ChargePoint`` (the documentation's style);
- ``/multi/<id>``: a subclass of the generic ``ocpp.charge_point.ChargePoint`` that
  serves OCPP 1.6, 2.0.1 and 2.1, choosing ``_ocpp_version`` (and the ``call`` /
  ``call_result`` modules) from the negotiated subprotocol after ``super().__init__()``,
  as the Home Assistant integration does; after a BootNotification it asks the
  station for a Heartbeat (``call()`` with TriggerMessage).

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
from ocpp.charge_point import ChargePoint as generic_cp
from ocpp.routing import after, on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as call_result16
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as call_result21
from ocpp.v201 import ChargePoint as cp
from ocpp.v201 import call as call201
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


MODULES = {
    "ocpp1.6": ("1.6", call16, call_result16),
    "ocpp2.0.1": ("2.0.1", call201, call_result),
    "ocpp2.1": ("2.1", call21, call_result21),
}


class MultiVersionChargePoint(generic_cp):
    """One class for every version: the version is chosen per connection."""

    def __init__(self, id, connection, subprotocol):
        super().__init__(id, connection, 10)
        self._ocpp_version, self._call, self._call_result = MODULES[subprotocol]
        self.triggered = []

    @on("BootNotification")
    def on_boot_notification(self, **kwargs):
        return self._call_result.BootNotification(
            current_time=now(), interval=10, status="Accepted"
        )

    @after("BootNotification")
    async def after_boot_notification(self, **kwargs):
        response = await self.call(self._call.TriggerMessage(requested_message="Heartbeat"))
        self.triggered.append(response.status)

    @on("Heartbeat")
    def on_heartbeat(self):
        return self._call_result.Heartbeat(current_time=now())


async def on_connect(websocket):
    """For every new station: check the subprotocol, then route its messages."""
    if websocket.subprotocol is None:
        logging.warning("no subprotocol agreed, closing")
        return await websocket.close()
    path = websocket.request.path.strip("/").split("/")
    charge_point_id = path[-1]
    if path[0] == "multi":
        charge_point = MultiVersionChargePoint(charge_point_id, websocket, websocket.subprotocol)
    elif websocket.subprotocol == "ocpp2.0.1":
        charge_point = ChargePoint(charge_point_id, websocket)
    else:
        return await websocket.close()
    with contextlib.suppress(websockets.exceptions.ConnectionClosed):
        await charge_point.start()


async def main(port: int) -> None:
    server = await websockets.serve(
        on_connect, "127.0.0.1", port, subprotocols=["ocpp2.0.1", "ocpp1.6", "ocpp2.1"]
    )
    print(
        f"CSMS on ws://127.0.0.1:{port}/ocpp and /multi, ChargePoint bases: "
        f"{cp.__module__}, {generic_cp.__module__}",
        flush=True,
    )
    await server.wait_closed()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=9000)
    asyncio.run(main(parser.parse_args().port))
