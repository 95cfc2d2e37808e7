"""A worked example of a fleet's CSMS, served by ``ocpp-fast serve``: OCPP 1.6 and 2.0.1 on one
port, stations and transactions in SQLite (the standard library's), HTTP Basic auth with a
password per station, a tolerance for one vendor's firmware, Prometheus metrics, and the
admin HTTP API of ``examples/admin_api.py`` beside it, in the same event loop.

    python examples/fleet_csms.py add CS001 'a-password-of-16+-chars'   # provision a station
    ocpp-fast serve examples.fleet_csms:app --security-profile 1 \\
        --authorize examples.fleet_csms:authorize --metrics-port 9100

``FLEET_DB`` names the database file (``fleet.sqlite3``), ``FLEET_ADMIN_PORT`` the API's port
(8080). The API adds ``GET /fleet`` to ``admin_api``'s routes: every provisioned station and
whether it is online now, kept by the ``on_connect`` / ``on_disconnect`` hooks.

SQLite calls are synchronous and short here (one row each); a CSMS with thousands of stations
would batch its writes or use an asynchronous driver.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import importlib
import os
import secrets
import sqlite3
import sys
from typing import Any

from aiohttp import web

from ocpp_fast.aio import AsyncConnection
from ocpp_fast.demo import DemoChargeSystem, DemoChargeSystem16
from ocpp_fast.dispatch import CallContext
from ocpp_fast.tolerance import Tolerance
from ocpp_fast.transport import Admission, CsmsServer, StationRequest
from ocpp_fast.v16 import datatypes as datatypes16
from ocpp_fast.v16 import enums as enums16
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v201 import enums, messages

# admin_api.py sits beside this file: imported as `examples.admin_api` when this module is
# `examples.fleet_csms` (ocpp-fast serve from the repository's root), as `admin_api` when
# examples/ is on sys.path (the tests, `python examples/fleet_csms.py`).
admin_api = importlib.import_module(f"{__package__}.admin_api" if __package__ else "admin_api")

NOISY_VENDOR = "EVBrandX"
"""A vendor whose firmware writes date-times without an offset and enums in the wrong case."""
NOISY_TOLERANCE = Tolerance.NAIVE_DATETIME | Tolerance.ENUM_CASE

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stations (
    identity TEXT PRIMARY KEY, salt TEXT NOT NULL, password_sha256 TEXT NOT NULL,
    vendor TEXT, model TEXT, version TEXT, online INTEGER NOT NULL DEFAULT 0, last_seen TEXT
);
CREATE TABLE IF NOT EXISTS transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, identity TEXT NOT NULL, remote_id TEXT,
    started TEXT NOT NULL, stopped TEXT, meter_wh REAL NOT NULL DEFAULT 0
);
"""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _hash(salt: str, password: str) -> str:
    return hashlib.sha256(f"{salt}:{password}".encode()).hexdigest()


class FleetDb:
    """The fleet's SQLite database, opened on first use (importing the module touches no file)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect(self.path, isolation_level=None)  # autocommit
            self._db.executescript(_SCHEMA)
        return self._db

    def add(self, identity: str, password: str) -> None:
        """Provision a station with its Basic auth password (only a salted hash is kept)."""
        salt = secrets.token_hex(8)
        self.db.execute(
            "INSERT OR REPLACE INTO stations (identity, salt, password_sha256) VALUES (?, ?, ?)",
            (identity, salt, _hash(salt, password)),
        )

    def check(self, identity: str, password: str | None) -> Admission:
        row = self.db.execute(
            "SELECT salt, password_sha256 FROM stations WHERE identity = ?", (identity,)
        ).fetchone()
        if row is None:
            return Admission.UNKNOWN
        if password is None or not hmac.compare_digest(_hash(row[0], password), row[1]):
            return Admission.UNAUTHORIZED
        return Admission.ACCEPT

    def vendor(self, identity: str) -> str | None:
        row = self.db.execute("SELECT vendor FROM stations WHERE identity = ?", (identity,))
        found = row.fetchone()
        return None if found is None else found[0]

    def booted(self, identity: str, vendor: str, model: str) -> None:
        self.db.execute(
            "UPDATE stations SET vendor = ?, model = ? WHERE identity = ?",
            (vendor, model, identity),
        )

    def presence(self, identity: str, version: str, online: bool) -> None:
        self.db.execute(
            "UPDATE stations SET online = ?, version = ?, last_seen = ? WHERE identity = ?",
            (int(online), version, _now().isoformat(), identity),
        )

    def start(self, identity: str, remote_id: str | None = None) -> int:
        cursor = self.db.execute(
            "INSERT INTO transactions (identity, remote_id, started) VALUES (?, ?, ?)",
            (identity, remote_id, _now().isoformat()),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def meter(self, transaction: int, wh: float, stopped: bool = False) -> None:
        stop = _now().isoformat() if stopped else None
        self.db.execute(
            "UPDATE transactions SET meter_wh = ?, stopped = COALESCE(?, stopped) WHERE id = ?",
            (wh, stop, transaction),
        )

    def by_remote_id(self, identity: str, remote_id: str) -> int:
        row = self.db.execute(
            "SELECT id FROM transactions WHERE identity = ? AND remote_id = ? AND stopped IS NULL",
            (identity, remote_id),
        ).fetchone()
        return row[0] if row is not None else self.start(identity, remote_id)

    def fleet(self) -> dict[str, dict[str, Any]]:
        rows = self.db.execute(
            "SELECT identity, vendor, version, online, last_seen FROM stations ORDER BY identity"
        )
        return {
            identity: {"vendor": vendor, "version": version, "online": bool(on), "last_seen": seen}
            for identity, vendor, version, on, seen in rows
        }


fleet_db = FleetDb(os.environ.get("FLEET_DB", "fleet.sqlite3"))


def authorize(station: StationRequest) -> Admission:
    """``--authorize examples.fleet_csms:authorize``: the station's own password, or no entry."""
    return fleet_db.check(station.identity, station.password)


class _Fleet:
    """What both versions' handlers share: presence in the database, the vendor's tolerance."""

    def tolerance_for(self, identity: str) -> Tolerance:
        return NOISY_TOLERANCE if fleet_db.vendor(identity) == NOISY_VENDOR else Tolerance.STRICT

    def on_connect(self, connection: AsyncConnection) -> None:
        fleet_db.presence(connection.identity, str(connection.version), online=True)

    def on_disconnect(self, connection: AsyncConnection, reason: str) -> None:
        fleet_db.presence(connection.identity, str(connection.version), online=False)

    def _booted(self, context: CallContext, vendor: str, model: str) -> None:
        fleet_db.booted(context.identity, vendor, model)
        if vendor == NOISY_VENDOR:
            context.peer.set_tolerance(NOISY_TOLERANCE)  # from its first boot on


class Fleet201(_Fleet, DemoChargeSystem):
    """OCPP 2.0.1 stations (the demo's answers, but for boots and transactions); it also runs
    the admin API while the server runs."""

    def __init__(self) -> None:
        self.api: web.AppRunner | None = None

    async def on_startup(self, server: CsmsServer) -> None:
        app = admin_api.admin_app(server)
        app.router.add_get("/fleet", lambda request: web.json_response(fleet_db.fleet()))
        self.api = web.AppRunner(app, access_log=None)
        await self.api.setup()
        port = int(os.environ.get("FLEET_ADMIN_PORT", "8080"))
        await web.TCPSite(self.api, "127.0.0.1", port).start()
        print(f"admin API on http://127.0.0.1:{port}", flush=True)

    async def on_shutdown(self, server: CsmsServer) -> None:
        if self.api is not None:
            await self.api.cleanup()

    # These handlers also take the call's context (dispatch passes it to a handler that asks
    # for it): either form type-checks against the action's declared handler slot. What they
    # answer is the demo's own, self.default_<handler>(request), typed.
    def boot_notification(
        self, request: messages.BootNotificationRequest, context: CallContext
    ) -> messages.BootNotificationResponse:
        station = request.charging_station
        self._booted(context, station.vendor_name, station.model)
        return self.default_boot_notification(request)

    def transaction_event(
        self, request: messages.TransactionEventRequest, context: CallContext
    ) -> messages.TransactionEventResponse:
        row = fleet_db.by_remote_id(context.identity, request.transaction_info.transaction_id)
        energy = [
            sampled.value
            for value in request.meter_value or ()
            for sampled in value.sampled_value
            if sampled.measurand == enums.MeasurandEnumType.ENERGY_ACTIVE_IMPORT_REGISTER
        ]
        ended = request.event_type is enums.TransactionEventEnumType.ENDED
        if energy or ended:
            fleet_db.meter(row, energy[-1] if energy else 0.0, stopped=ended)
        return self.default_transaction_event(request)


_ACCEPTED_16 = datatypes16.IdTagInfoType(status=enums16.IdTagInfoStatusEnum.ACCEPTED)


class Fleet16(_Fleet, DemoChargeSystem16):
    """OCPP 1.6 stations: the same fleet, the 1.6 messages (the demo's answers, but for boots
    and transactions)."""

    def boot_notification(
        self, request: messages16.BootNotificationRequest, context: CallContext
    ) -> messages16.BootNotificationResponse:
        self._booted(context, request.charge_point_vendor, request.charge_point_model)
        return self.default_boot_notification(request)

    def start_transaction(
        self, request: messages16.StartTransactionRequest, context: CallContext
    ) -> messages16.StartTransactionResponse:
        transaction = fleet_db.start(context.identity)
        fleet_db.meter(transaction, float(request.meter_start))
        return messages16.StartTransactionResponse(
            id_tag_info=_ACCEPTED_16, transaction_id=transaction
        )

    def stop_transaction(
        self, request: messages16.StopTransactionRequest
    ) -> messages16.StopTransactionResponse:
        fleet_db.meter(request.transaction_id, float(request.meter_stop), stopped=True)
        return self.default_stop_transaction(request)


app = {"ocpp2.0.1": Fleet201(), "ocpp1.6": Fleet16()}
"""What ``ocpp-fast serve examples.fleet_csms:app`` serves: both versions on one port."""


if __name__ == "__main__":  # python examples/fleet_csms.py add IDENTITY PASSWORD
    if len(sys.argv) != 4 or sys.argv[1] != "add":
        sys.exit("usage: python examples/fleet_csms.py add IDENTITY PASSWORD")
    fleet_db.add(sys.argv[2], sys.argv[3])
    print(f"{sys.argv[2]} provisioned in {fleet_db.path}")
