"""The line a CSMS logs for each BootNotification it answers (``CS001: BootNotification
answered Rejected: Acme M1, firmware 1.2``).

An operator reads a station's life in the server's log: it connected, it booted (and how the
CSMS answered: a station answered Rejected or Pending stays connected, booting again every
interval, and is otherwise told from an accepted one only by its frames), it left. The
answer is the app's, so the line is written around the app's ``boot_notification``: the
route of the action calls :func:`logged_boot` in its place, on every dispatch path alike (the
compiled and the pure one call a route's ``calls`` attribute). A boot is rare, so the wrapper
costs nothing a fleet notices; the line is rate-limited per connection as the peer's other
lines are, the station's own words in it (vendor, model, firmware) cut and escaped.
"""

from __future__ import annotations

import inspect
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ocpp_fast._log_text import PeerText
from ocpp_fast._ratelimit import ConnectionLog, LogLimiter

__all__ = ["logged_boot"]

log = logging.getLogger("ocpp_fast")

_MESSAGE = "BootNotification answered %s: %s"

LIMITED_STATIONS = 10_000
"""Stations whose boot lines a process without their connections (a cluster's worker) limits
at once, as a connection limits its own; the least recently booted beyond are forgotten."""
_limiters: OrderedDict[str, LogLimiter] = OrderedDict()
"""identity -> the limiter of its boot lines, where no connection holds one."""


def logged_boot(calls: str, wants_context: bool, is_async: bool) -> Callable[..., Any]:
    """A method taking ``(request, context)`` that calls the handler attribute ``calls``
    (with the context when it ``wants_context``) and logs the answer; ``async`` when the
    handler is. A handler's answer still to come (a future of ``answers_later``, a coroutine
    of a handler patched on the instance) is returned unlogged."""
    if is_async:

        async def answer_later(self: Any, request: Any, context: Any) -> Any:
            method = getattr(self, calls)
            response = await (method(request, context) if wants_context else method(request))
            _log_answer(context, request, response)
            return response

        return answer_later

    def answer(self: Any, request: Any, context: Any) -> Any:
        method = getattr(self, calls)
        response = method(request, context) if wants_context else method(request)
        if log.isEnabledFor(logging.INFO) and not inspect.isawaitable(response):
            _log_answer(context, request, response)
        return response

    return answer


def _log_answer(context: Any, request: Any, response: Any) -> None:
    if not log.isEnabledFor(logging.INFO):
        return  # nothing made for a line nobody reads (the gate counts a boot's instructions)
    status = getattr(response, "status", None)
    if status is None:  # not a BootNotificationResponse: dispatch answers InternalError
        return
    station = PeerText(_station_of(request))
    protocol = getattr(context.connection, "protocol", None)
    if protocol is not None:  # a live connection: its per-connection limit
        protocol._peer_log(logging.INFO, "boot", _MESSAGE, str(status), station)
    else:  # a cluster's worker: the gateway holds the connection, limited per station too
        _limiter_of(context.identity).log(logging.INFO, "boot", _MESSAGE, str(status), station)


def _limiter_of(identity: str) -> LogLimiter:
    """The limiter of ``identity``'s boot lines in a process holding no connection of it: a
    station booting in a loop wrote a line per boot in its worker's log, unlimited."""
    limiter = _limiters.get(identity)
    if limiter is None:
        limiter = _limiters[identity] = LogLimiter(ConnectionLog(log, identity))
        if len(_limiters) > LIMITED_STATIONS:
            _limiters.popitem(last=False)
    else:
        _limiters.move_to_end(identity)
    return limiter


def _station_of(request: Any) -> str:
    """``vendor model, firmware x`` of a BootNotificationRequest of any version."""
    station = getattr(request, "charging_station", None)  # 2.0.1, 2.1
    if station is not None:
        vendor, model = station.vendor_name, station.model
        firmware = station.firmware_version
    else:  # 1.6
        vendor, model = request.charge_point_vendor, request.charge_point_model
        firmware = request.firmware_version
    said = f"{vendor} {model}"
    return f"{said}, firmware {firmware}" if isinstance(firmware, str) else said  # not UNSET
