"""The demo CSMS of ``ocpp-fast serve`` (run without an app): it accepts any station, in any
version ocpp_fast speaks, and answers what fleets send, so a conformant station of 1.6, 2.0.1
or 2.1 runs whole sessions against it (boot, authorize, transactions, meter values).

:func:`demo_handlers` is what the command serves: one handler per version, on one port.
"""

from __future__ import annotations

import datetime
import secrets
from typing import TYPE_CHECKING, Any, ClassVar

from ocpp_fast import v16, v21, v201
from ocpp_fast.dispatch import OcppHandler
from ocpp_fast.v16 import datatypes as datatypes16
from ocpp_fast.v16 import enums as enums16
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v21 import datatypes as datatypes21
from ocpp_fast.v21 import enums as enums21
from ocpp_fast.v21 import messages as messages21
from ocpp_fast.v201 import datatypes, enums, messages

__all__ = ["DemoChargeSystem", "DemoChargeSystem16", "DemoChargeSystem21", "demo_handlers"]

HEARTBEAT_INTERVAL = 300
"""Seconds between heartbeats, as the demo tells each booting station."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class _Answers2xBodies:
    """The demo's answers in OCPP 2.x: 2.0.1 and 2.1 name these messages alike, so one body
    serves both, each subclass naming its version's modules.

    Each answer is a ``default_<handler>`` method, and the handler is that same function
    (no call more on the hot path): a subclass overriding the handler still reaches the
    demo's answer, typed, through ``default_<handler>`` (each demo class declares them with
    its version's types)."""

    _messages: Any
    _enums: Any
    _accepted: ClassVar[Any]
    """The IdTokenInfo of an accepted token, in the version's types."""

    def default_boot_notification(self, request: Any) -> Any:
        return self._messages.BootNotificationResponse(
            current_time=_now(),
            interval=HEARTBEAT_INTERVAL,
            status=self._enums.RegistrationStatusEnumType.ACCEPTED,
        )

    def default_heartbeat(self, request: Any) -> Any:
        return self._messages.HeartbeatResponse(current_time=_now())

    def default_status_notification(self, request: Any) -> Any:
        return self._messages.StatusNotificationResponse()

    def default_authorize(self, request: Any) -> Any:
        return self._messages.AuthorizeResponse(id_token_info=self._accepted)

    def default_transaction_event(self, request: Any) -> Any:
        if request.event_type is self._enums.TransactionEventEnumType.STARTED:
            return self._messages.TransactionEventResponse(id_token_info=self._accepted)
        return self._messages.TransactionEventResponse()

    def default_meter_values(self, request: Any) -> Any:
        return self._messages.MeterValuesResponse()

    def default_notify_report(self, request: Any) -> Any:
        return self._messages.NotifyReportResponse()

    def default_notify_event(self, request: Any) -> Any:
        return self._messages.NotifyEventResponse()

    def default_firmware_status_notification(self, request: Any) -> Any:
        return self._messages.FirmwareStatusNotificationResponse()

    def default_log_status_notification(self, request: Any) -> Any:
        return self._messages.LogStatusNotificationResponse()

    def default_security_event_notification(self, request: Any) -> Any:
        return self._messages.SecurityEventNotificationResponse()

    def default_data_transfer(self, request: Any) -> Any:
        return self._messages.DataTransferResponse(
            status=self._enums.DataTransferStatusEnumType.ACCEPTED
        )

    # the handlers: the default answers themselves
    boot_notification = default_boot_notification
    heartbeat = default_heartbeat
    status_notification = default_status_notification
    authorize = default_authorize
    transaction_event = default_transaction_event
    meter_values = default_meter_values
    notify_report = default_notify_report
    notify_event = default_notify_event
    firmware_status_notification = default_firmware_status_notification
    log_status_notification = default_log_status_notification
    security_event_notification = default_security_event_notification
    data_transfer = default_data_transfer


if TYPE_CHECKING:

    class _Answers2x:
        """To the type checkers, the version's own declared handler slots (a method defined
        in a mixin beside a version's base conflicts with the slot the base declares)."""

else:
    _Answers2x = _Answers2xBodies


class DemoChargeSystem(_Answers2x, v201.ChargeSystem):
    """OCPP 2.0.1: accepts every boot and token; acknowledges events, values and reports.

    To change one answer, subclass it and override that handler in any form a handler
    takes (plain or ``async def``, with or without ``context``); the demo's own answer is
    ``self.default_<handler>(request)``, typed with the action's request and response
    (``super().<handler>(request)`` is not: the base's handler may be any of those forms).
    """

    _messages = messages
    _enums = enums
    _accepted = datatypes.IdTokenInfoType(status=enums.AuthorizationStatusEnumType.ACCEPTED)

    if TYPE_CHECKING:  # the bodies are _Answers2xBodies', shared with 2.1

        def default_boot_notification(
            self, request: messages.BootNotificationRequest
        ) -> messages.BootNotificationResponse: ...
        def default_heartbeat(
            self, request: messages.HeartbeatRequest
        ) -> messages.HeartbeatResponse: ...
        def default_status_notification(
            self, request: messages.StatusNotificationRequest
        ) -> messages.StatusNotificationResponse: ...
        def default_authorize(
            self, request: messages.AuthorizeRequest
        ) -> messages.AuthorizeResponse: ...
        def default_transaction_event(
            self, request: messages.TransactionEventRequest
        ) -> messages.TransactionEventResponse: ...
        def default_meter_values(
            self, request: messages.MeterValuesRequest
        ) -> messages.MeterValuesResponse: ...
        def default_notify_report(
            self, request: messages.NotifyReportRequest
        ) -> messages.NotifyReportResponse: ...
        def default_notify_event(
            self, request: messages.NotifyEventRequest
        ) -> messages.NotifyEventResponse: ...
        def default_firmware_status_notification(
            self, request: messages.FirmwareStatusNotificationRequest
        ) -> messages.FirmwareStatusNotificationResponse: ...
        def default_log_status_notification(
            self, request: messages.LogStatusNotificationRequest
        ) -> messages.LogStatusNotificationResponse: ...
        def default_security_event_notification(
            self, request: messages.SecurityEventNotificationRequest
        ) -> messages.SecurityEventNotificationResponse: ...
        def default_data_transfer(
            self, request: messages.DataTransferRequest
        ) -> messages.DataTransferResponse: ...


class DemoChargeSystem21(_Answers2x, v21.ChargeSystem):
    """OCPP 2.1: the same answers as :class:`DemoChargeSystem`, extended the same way
    (``self.default_<handler>(request)``, typed with 2.1's messages), and 2.1's periodic event
    stream: OpenPeriodicEventStream Accepted, its NotifyPeriodicEventStream SENDs taken,
    ClosePeriodicEventStream answered (what ``ocpp-fast simulate --version 2.1`` sends)."""

    _messages = messages21
    _enums = enums21
    _accepted = datatypes21.IdTokenInfoType(status=enums21.AuthorizationStatusEnumType.ACCEPTED)

    if TYPE_CHECKING:  # the bodies are _Answers2xBodies', shared with 2.0.1

        def default_boot_notification(
            self, request: messages21.BootNotificationRequest
        ) -> messages21.BootNotificationResponse: ...
        def default_heartbeat(
            self, request: messages21.HeartbeatRequest
        ) -> messages21.HeartbeatResponse: ...
        def default_status_notification(
            self, request: messages21.StatusNotificationRequest
        ) -> messages21.StatusNotificationResponse: ...
        def default_authorize(
            self, request: messages21.AuthorizeRequest
        ) -> messages21.AuthorizeResponse: ...
        def default_transaction_event(
            self, request: messages21.TransactionEventRequest
        ) -> messages21.TransactionEventResponse: ...
        def default_meter_values(
            self, request: messages21.MeterValuesRequest
        ) -> messages21.MeterValuesResponse: ...
        def default_notify_report(
            self, request: messages21.NotifyReportRequest
        ) -> messages21.NotifyReportResponse: ...
        def default_notify_event(
            self, request: messages21.NotifyEventRequest
        ) -> messages21.NotifyEventResponse: ...
        def default_firmware_status_notification(
            self, request: messages21.FirmwareStatusNotificationRequest
        ) -> messages21.FirmwareStatusNotificationResponse: ...
        def default_log_status_notification(
            self, request: messages21.LogStatusNotificationRequest
        ) -> messages21.LogStatusNotificationResponse: ...
        def default_security_event_notification(
            self, request: messages21.SecurityEventNotificationRequest
        ) -> messages21.SecurityEventNotificationResponse: ...
        def default_data_transfer(
            self, request: messages21.DataTransferRequest
        ) -> messages21.DataTransferResponse: ...

    # 2.1's own: the periodic event stream a station opens, sends as SENDs, closes
    def default_open_periodic_event_stream(
        self, request: messages21.OpenPeriodicEventStreamRequest
    ) -> messages21.OpenPeriodicEventStreamResponse:
        """Accepted: the station may send the stream's samples (as SENDs)."""
        return messages21.OpenPeriodicEventStreamResponse(
            status=enums21.GenericStatusEnumType.ACCEPTED
        )

    def default_notify_periodic_event_stream(
        self, request: messages21.NotifyPeriodicEventStreamRequest
    ) -> None:
        """A SEND: taken, never answered (the demo keeps no samples)."""

    def default_close_periodic_event_stream(
        self, request: messages21.ClosePeriodicEventStreamRequest
    ) -> messages21.ClosePeriodicEventStreamResponse:
        return messages21.ClosePeriodicEventStreamResponse()

    if not TYPE_CHECKING:  # the handlers are the answers (checkers see the version's slots)
        open_periodic_event_stream = default_open_periodic_event_stream
        notify_periodic_event_stream = default_notify_periodic_event_stream
        close_periodic_event_stream = default_close_periodic_event_stream


_ACCEPTED_16 = datatypes16.IdTagInfoType(status=enums16.IdTagInfoStatusEnum.ACCEPTED)
_INT32_MAX = 2**31 - 1
"""The largest 1.6 ``transactionId`` (an ``integer`` in the JSON schema, 32-bit signed in the
stations that store it); the demo's ids run from 1 to it."""


class _TransactionIds:
    """The demo's 1.6 transaction ids: from a random start in ``1.._INT32_MAX``, drawn as the
    object is made (one per process: each cluster worker, each gateway of ``--workers N``, has
    its own), counting up and wrapping after ``_INT32_MAX`` to 1.

    Processes share nothing, and each counting from 1 gave two stations the same id at once.
    Random starts make that unlikely, not impossible: ``W`` processes handing out ``n`` ids
    each collide with a chance of about ``W**2 * n / 2**31`` (8 workers, 100,000 ids each:
    0.3 %). Fine for a demo; a real backend takes its ids from its database (a sequence, an
    autoincrement key), which every worker shares, and which makes them unique."""

    def __init__(self, start: int | None = None) -> None:
        self._next = 1 + secrets.randbelow(_INT32_MAX) if start is None else start
        """The next id (``start``: a test's, to know them)."""

    def __next__(self) -> int:
        given = self._next
        self._next = 1 if given == _INT32_MAX else given + 1
        return given


class DemoChargeSystem16(v16.ChargeSystem):
    """OCPP 1.6: accepts every boot and idTag; numbers transactions (from a random start per
    process, so that cluster workers seldom give two stations one id: demo-only,
    :class:`_TransactionIds`); acknowledges the rest.

    Extended as :class:`DemoChargeSystem` is: override a handler in any form, and reach the
    demo's answer as ``self.default_<handler>(request)``, typed with 1.6's messages.
    """

    def __init__(self) -> None:
        self._transaction_ids = _TransactionIds()

    def default_boot_notification(
        self, request: messages16.BootNotificationRequest
    ) -> messages16.BootNotificationResponse:
        return messages16.BootNotificationResponse(
            current_time=_now(),
            interval=HEARTBEAT_INTERVAL,
            status=enums16.BootNotificationResponseStatusEnum.ACCEPTED,
        )

    def default_heartbeat(
        self, request: messages16.HeartbeatRequest
    ) -> messages16.HeartbeatResponse:
        return messages16.HeartbeatResponse(current_time=_now())

    def default_status_notification(
        self, request: messages16.StatusNotificationRequest
    ) -> messages16.StatusNotificationResponse:
        return messages16.StatusNotificationResponse()

    def default_authorize(
        self, request: messages16.AuthorizeRequest
    ) -> messages16.AuthorizeResponse:
        return messages16.AuthorizeResponse(id_tag_info=_ACCEPTED_16)

    def default_start_transaction(
        self, request: messages16.StartTransactionRequest
    ) -> messages16.StartTransactionResponse:
        return messages16.StartTransactionResponse(
            id_tag_info=_ACCEPTED_16, transaction_id=next(self._transaction_ids)
        )

    def default_stop_transaction(
        self, request: messages16.StopTransactionRequest
    ) -> messages16.StopTransactionResponse:
        return messages16.StopTransactionResponse()

    def default_meter_values(
        self, request: messages16.MeterValuesRequest
    ) -> messages16.MeterValuesResponse:
        return messages16.MeterValuesResponse()

    def default_diagnostics_status_notification(
        self, request: messages16.DiagnosticsStatusNotificationRequest
    ) -> messages16.DiagnosticsStatusNotificationResponse:
        return messages16.DiagnosticsStatusNotificationResponse()

    def default_firmware_status_notification(
        self, request: messages16.FirmwareStatusNotificationRequest
    ) -> messages16.FirmwareStatusNotificationResponse:
        return messages16.FirmwareStatusNotificationResponse()

    def default_security_event_notification(
        self, request: messages16.SecurityEventNotificationRequest
    ) -> messages16.SecurityEventNotificationResponse:
        return messages16.SecurityEventNotificationResponse()

    def default_data_transfer(
        self, request: messages16.DataTransferRequest
    ) -> messages16.DataTransferResponse:
        return messages16.DataTransferResponse(
            status=enums16.DataTransferResponseStatusEnum.ACCEPTED
        )

    if not TYPE_CHECKING:  # the handlers are the answers (checkers see the version's slots)
        boot_notification = default_boot_notification
        heartbeat = default_heartbeat
        status_notification = default_status_notification
        authorize = default_authorize
        start_transaction = default_start_transaction
        stop_transaction = default_stop_transaction
        meter_values = default_meter_values
        diagnostics_status_notification = default_diagnostics_status_notification
        firmware_status_notification = default_firmware_status_notification
        security_event_notification = default_security_event_notification
        data_transfer = default_data_transfer


def demo_handlers() -> dict[str, OcppHandler]:
    """The demo's handler of each version, by subprotocol (the newest first)."""
    handlers: list[OcppHandler] = [DemoChargeSystem21(), DemoChargeSystem(), DemoChargeSystem16()]
    return {handler.version.subprotocol: handler for handler in handlers}
