"""``ocpp-fast serve --call-stations``: the demo CSMS calls each station it accepted.

``serve --log-frames`` and ``ocpp-fast validate`` show what a station *sends*; a firmware
developer also needs to see how it *answers* the CSMS, and the demo never asked it anything.
With the flag, once a station's boot is accepted, the demo sends it a short fixed script of
requests of its version, one at a time, none that changes the station (no reset, no firmware,
no availability), and logs one line per call: the action and what came back (the answer's
status, the CALLERROR's code, the library's error and path for an answer it refused as
invalid, no answer within the timeout), then one line per station summing them up.

- 2.0.1 and 2.1: GetVariables (OCPPCommCtrlr HeartbeatInterval), TriggerMessage
  (StatusNotification of EVSE 1 connector 1), GetBaseReport (ConfigurationInventory),
  RequestStartTransaction on EVSE 1, then, once the station's TransactionEvent names the
  request's ``remoteStartId`` and the charge ran :data:`CHARGE_SECONDS`,
  RequestStopTransaction of that transaction.
- 1.6: GetConfiguration (HeartbeatInterval), TriggerMessage (StatusNotification of connector
  1), RemoteStartTransaction on connector 1, then, once the station's StartTransaction with
  the request's idTag got its ``transactionId`` from the demo and the charge ran
  :data:`CHARGE_SECONDS`, RemoteStopTransaction of it.

Bounded: one script per connection (a station booting again on it is not called again), one
call at a time, each within the timeout (the wait for the remote start's transaction too);
the script is a task of its own, started by the boot's handler so that the boot's answer goes
out first, as OCPP wants, and cancelled when the station leaves, with nothing kept of it.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from ocpp_fast import errors
from ocpp_fast._awaited import within
from ocpp_fast._log_text import shown
from ocpp_fast._ratelimit import ConnectionLog
from ocpp_fast.demo import DemoChargeSystem, DemoChargeSystem16, DemoChargeSystem21
from ocpp_fast.dispatch import CallContext, OcppHandler, PeerConnection
from ocpp_fast.v16 import enums as enums16
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v21 import datatypes as datatypes21
from ocpp_fast.v201 import datatypes, enums

if TYPE_CHECKING:
    from ocpp_fast.aio import AsyncConnection

__all__ = ["CALL_TIMEOUT", "SCRIPTS", "calling_demo_handlers"]

log = logging.getLogger("ocpp_fast.demo")

CALL_TIMEOUT = 30.0
"""Seconds each call waits for its answer (and the remote start for its transaction), as
``connection.call`` waits by default."""

TOKEN = "OCPP-FAST-DEMO"
"""The idToken (2.x, type Central: the CSMS's own) and idTag (1.6, 20 characters at most) of
the remote start."""

CHARGE_SECONDS = 2.0
"""How long the remotely started transaction runs before the stop: a station's messages of a
charge (StatusNotification Charging, MeterValues) come in between, and no stop lands in the
instant the station is still taking in its StartTransaction's answer, as no CSMS's would."""

SCRIPTS = {
    "1.6": (
        "GetConfiguration",
        "TriggerMessage",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
    ),
    "2.x": (
        "GetVariables",
        "TriggerMessage",
        "GetBaseReport",
        "RequestStartTransaction",
        "RequestStopTransaction",
    ),
}
"""The actions of each version's script, in order: for the line ``serve`` starts with."""

ANSWERED = "answered"
CALLERROR = "CALLERROR"
INVALID = "invalid answer"
UNANSWERED = "unanswered"
SKIPPED = "skipped"
_OUTCOMES = (ANSWERED, CALLERROR, INVALID, UNANSWERED, SKIPPED)
_PROBLEMS = frozenset({CALLERROR, INVALID, UNANSWERED})
"""The outcomes the station is to blame for: said at WARNING (so ``--quiet`` keeps them)."""


def _status(response: Any) -> str:
    """What most answers say: their status, with the 2.x ``statusInfo`` reason when given."""
    said = str(response.status)
    info = getattr(response, "status_info", msgspec.UNSET)
    return said if info is msgspec.UNSET else f"{said} ({info.reason_code})"


def _variable(response: Any) -> str:
    """GetVariables' answer: the variable's status, and its value when the station gave it."""
    results = response.get_variable_result
    if not results:
        return "no result"
    value = results[0].attribute_value
    status = str(results[0].attribute_status)
    return status if value is msgspec.UNSET else f"{status}, value {value}"


def _heartbeat_key(response: messages16.GetConfigurationResponse) -> str:
    """GetConfiguration's answer (1.6 has no status): the key's value, or that it is unknown."""
    for key in response.configuration_key or ():
        if key.key == "HeartbeatInterval":
            return "no value" if key.value is msgspec.UNSET else f"value {key.value}"
    if "HeartbeatInterval" in (response.unknown_key or ()):
        return "unknown key"
    return "the key is not in the answer"


class _Script:
    """One station's calls, in one connection: each logged as it ends, counted for the last
    line. ``awaited`` names the remote start whose transaction the script waits for (2.x: the
    ``remoteStartId``; 1.6: the idTag), ``transaction`` is where it arrives."""

    def __init__(self, connection: PeerConnection, timeout: float) -> None:
        self.connection = connection
        self.timeout = timeout
        self.log = ConnectionLog(log, connection.identity)
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.awaited: object = None
        self.transaction: asyncio.Future[Any] | None = None
        self.task: asyncio.Task[None] | None = None
        self.ended = False

    def _said(self, outcome: str, action: str, text: str, code: str | None = None) -> None:
        self.outcomes[outcome] += 1
        extra = {"action": action} if code is None else {"action": action, "code": code}
        level = logging.WARNING if outcome in _PROBLEMS else logging.INFO
        self.log.log(level, "%s", shown(text, None), extra=extra)

    async def call(self, request: Any, about: str, said: Callable[[Any], str] = _status) -> Any:
        """``request``'s answer, logged (``about``: what the line adds to the action; ``said``:
        the answer as the line says it); ``None`` when there is none to go on with. Raises
        ``ConnectionError`` when the station left."""
        action = type(request).__name__.removesuffix("Request")
        called = f"called {action} ({about})"
        try:
            response = await self.connection.call(request, self.timeout)
        except TimeoutError:
            self._said(UNANSWERED, action, f"{called}: no answer within {self.timeout:g} s")
            return None
        except errors.OcppError as exc:
            if exc.origin is errors.Origin.REQUEST_CHECK:
                raise  # our request is at fault, not the station: it was never sent
            code = self.connection.version.code_of(exc)
            if exc.origin is errors.Origin.PEER:
                self._said(
                    CALLERROR, action, f"{called}: CALLERROR {code}: {exc.description}", code
                )
            else:  # its answer broke the schema
                why = " ".join(filter(None, (code, exc.details.get("path"), exc.description)))
                self._said(INVALID, action, f"{called}: invalid answer: {why}", code)
            return None
        self._said(ANSWERED, action, f"{called}: {said(response)}")
        return response

    def skip(self, action: str, why: str) -> None:
        self._said(SKIPPED, action, f"skipped {action}: {why}")

    async def start_then_stop(
        self,
        start: Any,
        about: str,
        awaited: tuple[object, str],
        stop: Callable[[Any], Any],
        stopping: str,
    ) -> None:
        """Call ``start``, a remote start; once the station's transaction message names it
        (``awaited``: what names it, and that message as the line says it), call
        ``stop(transaction)`` (action ``stopping``), else say why not."""
        self.awaited, message = awaited
        self.transaction = asyncio.get_running_loop().create_future()
        started = await self.call(start, about)
        if started is None or started.status != "Accepted":
            how = "got no answer to go on with" if started is None else f"was {started.status}"
            self.skip(stopping, f"the remote start {how}")
            return
        try:  # within: a script cancelled as the transaction came (it left) goes no further
            transaction = await within(self.transaction, self.timeout)
        except TimeoutError:
            self.skip(stopping, f"no {message} within {self.timeout:g} s")
            return
        await asyncio.sleep(CHARGE_SECONDS)
        await self.call(stop(transaction), f"transaction {transaction}")

    def started(self, awaited: object, transaction: Any) -> None:
        """The station's transaction message named ``awaited``, for ``transaction``."""
        waiting = self.transaction
        if waiting is not None and not waiting.done() and awaited == self.awaited:
            waiting.set_result(transaction)

    async def run(self, steps: Coroutine[Any, Any, None]) -> None:
        """The script's ``steps``, then the line that sums them up. A call failing because
        the station left ends it silently: the station's ``on_disconnect`` says so, with how
        it left, as it does for a script it cancels."""
        try:
            await steps
        except ConnectionError:
            return
        except Exception:  # a fault of ours: said with its traceback, not left to asyncio
            self.ended = True
            self.log.exception("calls failed")
            return
        self.end("calls done")

    def end(self, how: str) -> None:
        """The script's last line: ``how`` it ended, and its calls counted by outcome."""
        self.ended = True
        counted = [
            f"{self.outcomes[o]} {o}" for o in _OUTCOMES if o == ANSWERED or self.outcomes[o]
        ]
        problems = any(self.outcomes[outcome] for outcome in _PROBLEMS)
        level = logging.WARNING if problems else logging.INFO
        self.log.log(level, "%s: %s", how, ", ".join(counted))


class _Calling:
    """What the calling demos of every version share: a script per connection, started once
    its boot is accepted, cancelled when it leaves. ``_steps`` is the version's script."""

    def __init__(self, timeout: float = CALL_TIMEOUT) -> None:
        super().__init__()
        self._timeout = timeout
        self._scripts: dict[PeerConnection, _Script] = {}
        self._ids = itertools.count(1)  # remoteStartId and GetBaseReport's requestId

    async def _steps(self, script: _Script) -> None:
        raise NotImplementedError

    def _booted(self, context: CallContext, accepted: bool) -> None:
        """A boot answered: call the station (once per connection) if it was accepted. The
        task runs once the handler returned, its answer written: the boot's answer first."""
        connection = context.connection
        if not accepted or connection is None or connection in self._scripts:
            return
        script = _Script(connection, self._timeout)
        self._scripts[connection] = script
        script.task = asyncio.get_running_loop().create_task(script.run(self._steps(script)))

    def _started(self, context: CallContext, awaited: object, transaction: Any) -> None:
        """The station's transaction message named ``awaited`` (a remote start's)."""
        script = None if context.connection is None else self._scripts.get(context.connection)
        if script is not None:
            script.started(awaited, transaction)

    def on_disconnect(self, connection: AsyncConnection, reason: str) -> None:
        """Forget the station; a script it did not see to the end stops, said with
        ``reason``."""
        script = self._scripts.pop(connection, None)
        if script is None or script.ended:
            return
        if script.task is not None:
            script.task.cancel()
        script.end(f"calls stopped ({reason})")


class _Calling2xBodies(_Calling):
    """2.0.1 and 2.1 alike, each subclass naming its version's modules (as the demo does)."""

    _messages: Any
    _enums: Any
    _datatypes: Any
    _central: ClassVar[Any]
    """IdTokenType's type Central in the version (2.1 types it as a plain string)."""
    default_boot_notification: Callable[[Any], Any]
    default_transaction_event: Callable[[Any], Any]

    async def _steps(self, script: _Script) -> None:
        messages, types = self._messages, self._datatypes
        variable = types.GetVariableDataType(
            component=types.ComponentType(name="OCPPCommCtrlr"),
            variable=types.VariableType(name="HeartbeatInterval"),
        )
        await script.call(
            messages.GetVariablesRequest(get_variable_data=[variable]),
            "OCPPCommCtrlr HeartbeatInterval",
            _variable,
        )
        trigger = messages.TriggerMessageRequest(
            requested_message=self._enums.MessageTriggerEnumType.STATUS_NOTIFICATION,
            evse=types.EVSEType(id=1, connector_id=1),
        )
        await script.call(trigger, "StatusNotification, EVSE 1 connector 1")
        report = self._enums.ReportBaseEnumType.CONFIGURATION_INVENTORY
        await script.call(
            messages.GetBaseReportRequest(request_id=next(self._ids), report_base=report),
            str(report),
        )
        remote_start_id = next(self._ids)
        start = messages.RequestStartTransactionRequest(
            id_token=types.IdTokenType(id_token=TOKEN, type=self._central),
            remote_start_id=remote_start_id,
            evse_id=1,
        )
        await script.start_then_stop(
            start,
            f"remoteStartId {remote_start_id}, EVSE 1",
            (remote_start_id, f"TransactionEvent with remoteStartId {remote_start_id}"),
            lambda transaction: messages.RequestStopTransactionRequest(transaction_id=transaction),
            "RequestStopTransaction",
        )

    def boot_notification(self, request: Any, context: CallContext) -> Any:
        response = self.default_boot_notification(request)
        self._booted(context, response.status == "Accepted")
        return response

    def transaction_event(self, request: Any, context: CallContext) -> Any:
        response = self.default_transaction_event(request)
        info = request.transaction_info
        # Started, or Updated when the cable was in before: either names the remote start
        if info.remote_start_id is not msgspec.UNSET and request.event_type != "Ended":
            self._started(context, info.remote_start_id, info.transaction_id)
        return response


if TYPE_CHECKING:

    class _Calling2x(_Calling):
        """To the type checkers, the version's own declared handler slots (as the demo's)."""

else:
    _Calling2x = _Calling2xBodies


class CallingDemo(_Calling2x, DemoChargeSystem):
    """The 2.0.1 demo, calling each station it accepted."""

    _datatypes = datatypes
    _central = enums.IdTokenEnumType.CENTRAL


class CallingDemo21(_Calling2x, DemoChargeSystem21):
    """The 2.1 demo, calling each station it accepted."""

    _datatypes = datatypes21
    _central = "Central"


class CallingDemo16(_Calling, DemoChargeSystem16):
    """The 1.6 demo, calling each station it accepted."""

    async def _steps(self, script: _Script) -> None:
        await script.call(
            messages16.GetConfigurationRequest(key=["HeartbeatInterval"]),
            "HeartbeatInterval",
            _heartbeat_key,
        )
        trigger = messages16.TriggerMessageRequest(
            requested_message=enums16.RequestedMessageEnum.STATUS_NOTIFICATION, connector_id=1
        )
        await script.call(trigger, "StatusNotification, connector 1")
        await script.start_then_stop(
            messages16.RemoteStartTransactionRequest(id_tag=TOKEN, connector_id=1),
            f"idTag {TOKEN}, connector 1",
            (TOKEN, f"StartTransaction with idTag {TOKEN}"),
            lambda transaction: messages16.RemoteStopTransactionRequest(transaction_id=transaction),
            "RemoteStopTransaction",
        )

    def boot_notification(
        self, request: messages16.BootNotificationRequest, context: CallContext
    ) -> messages16.BootNotificationResponse:
        response = self.default_boot_notification(request)
        self._booted(context, response.status == "Accepted")
        return response

    def start_transaction(
        self, request: messages16.StartTransactionRequest, context: CallContext
    ) -> messages16.StartTransactionResponse:
        response = self.default_start_transaction(request)
        self._started(context, request.id_tag, response.transaction_id)
        return response


def calling_demo_handlers(timeout: float = CALL_TIMEOUT) -> dict[str, OcppHandler]:
    """The demo of every version (as :func:`ocpp_fast.demo.demo_handlers`), calling each
    station it accepted, each call within ``timeout`` seconds."""
    handlers: list[OcppHandler] = [
        CallingDemo21(timeout),
        CallingDemo(timeout),
        CallingDemo16(timeout),
    ]
    return {handler.version.subprotocol: handler for handler in handlers}
