"""What a simulated station answers, in each OCPP version (for :mod:`.simulator`): the station
classes, which carry out what they accept (remote starts and stops, triggered messages, reports)
on the transaction of their :mod:`traffic <._sim_traffic>`, and the settings of their configuration
that act."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias

import msgspec

from ocpp_fast import _sim_device, v16, v21, v201
from ocpp_fast._sim_reboot import _Rebooting
from ocpp_fast._sim_traffic import _V21, _V201, Traffic, TxIdT, _Model2x
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.dispatch import PeerConnection, Route
from ocpp_fast.frames import Call
from ocpp_fast.transport import StationClient
from ocpp_fast.v16 import enums as enums16
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v21 import enums as enums21
from ocpp_fast.v21 import messages as messages21
from ocpp_fast.v201 import enums, messages

__all__ = [
    "AnyStation",
    "SimulatedStation",
    "SimulatedStation16",
    "SimulatedStation21",
    "station_handler",
]


def _client_boot(connection: Any) -> Any:
    """The accepted boot of ``connection``'s client, when the client booted by itself
    (``connect(..., boot=)``: that boot was answered before the station's ``on_connect``, so the
    station never read it); ``None`` otherwise (no client: ``connect_in_memory``)."""
    try:
        return StationClient.of(connection).boot_response
    except LookupError:
        return None


class _Transacting(_Rebooting[TxIdT]):
    """A station that carries out the remote starts and stops it accepts, on its one EVSE
    (connector 1): the transaction is its :attr:`traffic`'s, the one its own traffic runs, so
    under ``simulate()`` it goes on with that traffic's meter values and may end as any other.

    The event that starts or ends the transaction is built while the answer is made (a second
    start finds the station charging at once) and sent just after, as its own CALL, by
    :attr:`sender`: alone, the station calls on its connection; under ``simulate()``, the run's
    sender, which counts the call in the report as it counts the traffic's."""

    def on_connect(self, connection: AsyncConnection) -> Awaitable[None] | None:
        self._keep(connection)
        self._adopt(_client_boot(connection))
        return None

    woken: asyncio.Future[bool] | None = None
    """What ``simulate()``'s traffic waits on between two messages: resolved ``True`` by a new
    connection, so that the station boots on it at once, not at its next message's time."""

    def _keep(self, connection: Any) -> None:
        """The station is on ``connection`` (from ``on_connect``, or from the CSMS's first CALL
        when that came first): it reads the answers to its CALLs there and sends there."""
        if self._connection is connection:
            return
        super().on_connect(connection)
        connection.on_answer.append(self._read)
        self._connected_as(connection.identity)
        woken = self.woken
        if woken is not None and not woken.done():
            woken.set_result(True)

    def invoke_handler(
        self, route: Route | None, call: Call, identity: str, peer: PeerConnection | None
    ) -> object:
        """Every CALL of the CSMS, before its handler: the station keeps the connection it came
        on (with ``connect(..., boot=)`` ``on_connect`` waits for the accepted boot, but the
        CSMS may call while Pending, and what the station sends after its answer, a triggered
        boot, goes on that connection), then answers as its registration allows: while the
        CSMS has Rejected its boot, none (:meth:`_while_rejected`). (A handler class that
        overrides this method takes every CALL through it: simulated stations answer the
        CSMS's few CALLs without the compiled path.)"""
        if isinstance(peer, AsyncConnection):
            if self._connection is None:
                self._keep(peer)
            if peer.registration == "Rejected":
                return self._while_rejected(call)
        return super().invoke_handler(route, call, identity, peer)  # type: ignore[misc]

    def _while_rejected(self, call: Call) -> Any:
        """A CALL of the CSMS while it has Rejected the station's boot, in every version: no
        answer at all, no CALLRESULT and no CALLERROR, not even to a TriggerMessage (a station
        refused sends and answers nothing until a boot of its is accepted; its next boot waits
        the answer's ``interval``). A future cancelled at once is the connection's way to leave a
        CALL unanswered: the CSMS's call times out, as against such a station. (2.x answered
        SecurityError, and a TriggerMessage of BootNotification: one rule now for 1.6 and 2.x.)"""
        unanswered: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        unanswered.cancel()
        return unanswered

    def _connected_as(self, identity: str) -> None:
        """The station is connected as ``identity`` (2.x: its ``SecurityCtrlr.Identity``)."""

    def _read(self, action: str, response: Any) -> None:
        """Each answer to the station's CALLs, as the connection reads it (before the caller
        resumes, and before the CSMS's next frame is handled): the traffic learns a 1.6
        transaction's id there (:meth:`~._sim_traffic16.Traffic16.read`), and an accepted
        boot's interval is the station's ``HeartbeatInterval`` (OCPP asks the station to adopt
        it)."""
        self.traffic.read(response)
        if action == "BootNotification":
            self._adopt(response)
        self._idle_now()  # a Reset Scheduled for the transaction's end

    def _adopt(self, boot: Any) -> None:
        """An accepted BootNotificationResponse ``boot`` (or ``None``) gives its interval to the
        station's ``HeartbeatInterval``; the station's clocks go on, and it tells what the CSMS
        may have missed while it was offline (:meth:`_back_online`), or, after a Reset's reboot,
        the status of its connectors."""
        if boot is None or boot.status != "Accepted":
            return
        if boot.interval > 0:
            self._heartbeat_is(str(boot.interval))
        if self._traffic is not None and self._traffic.transaction is not None:
            self._schedule_sample()  # back on an accepted connection: the clock goes on
        self._schedule_aligned()
        if self._booted_again():
            self._offline_since = None  # its status said already
        self._back_online()

    def _trigger(self, message: str, evse: int | None, connector: int | None) -> str:
        """Answer a TriggerMessage of ``message`` (:meth:`Traffic.triggered`): its status, the
        messages it asks for sent after the answer, as the station's other calls are (under
        ``simulate()``, counted in the report)."""
        status, requests = self.traffic.triggered(message, evse, connector, self.accepted)
        self._carry_out_each(requests)
        return status


class _Accepts2xBodies:
    """A simulated 2.x station accepts what a CSMS commonly asks of it: one body per answer
    for 2.0.1 and 2.1, named ``default_<handler>``; the handler is that same function, and
    each station class declares the ``default_`` methods with its version's types."""

    _messages: Any
    _enums: Any
    _types: _Model2x
    accepted: bool
    traffic: Traffic[str]
    _carry_out: Callable[[Any], bool]
    _carry_out_each: Callable[[list[Any]], None]
    _settings_set: Callable[[dict[str, str]], None]
    _start_remote: Callable[[Any], bool]
    _trigger: Callable[[str, int | None, int | None], str]
    _reset: Callable[[str, bool], str]
    _device_model: _sim_device.DeviceModel | None = None

    @property
    def device_model(self) -> _sim_device.DeviceModel:
        """The station's variables and their values (GetVariables, SetVariables,
        GetBaseReport): the packaged defaults the first time it is read."""
        if self._device_model is None:
            self._device_model = _sim_device.DeviceModel()
        return self._device_model

    def _connected_as(self, identity: str) -> None:
        self.device_model.set_value("SecurityCtrlr", "Identity", identity)

    def _heartbeat_is(self, seconds: str) -> None:
        self.device_model.set_value(*_sim_device.ACTING["heartbeat"][0], seconds)

    def _setting(self, name: str) -> str | None:
        return _sim_device.acting_value(self._device_model, name)

    def default_get_variables(self, request: Any) -> Any:
        """Each item's value from :attr:`device_model`, or why not (UnknownComponent,
        UnknownVariable, NotSupportedAttributeType for an attribute but Actual)."""
        return _sim_device.get_variables(self.device_model, self._types, request)

    def default_set_variables(self, request: Any) -> Any:
        """Each writable item set when its value fits its data type and limits (Rejected
        otherwise, or when read-only); those that act are applied at once (a new
        ``HeartbeatInterval`` to the heartbeat of :attr:`client`, a new ``TxUpdatedInterval``
        to a running transaction's meter values...: the simulator page lists them)."""
        response, changed = _sim_device.set_variables(self.device_model, self._types, request)
        self._settings_set(_sim_device.acting_2x(changed))
        return response

    def default_get_base_report(self, request: Any) -> Any:
        """Accepted for ConfigurationInventory and FullInventory, then the report in
        NotifyReports (``seqNo`` from 0, ``tbc`` on all but the last); NotSupported for
        SummaryInventory."""
        response, reports = _sim_device.base_report(self.device_model, self._types, request)
        self._carry_out_each(reports)
        return response

    def default_request_start_transaction(self, request: Any) -> Any:
        """Accepted, and the transaction started (TransactionEvent Started, trigger
        RemoteStart, with the request's token and remoteStartId), once the CSMS accepted the
        boot, on EVSE 1 (or no EVSE given), while no transaction runs; Rejected otherwise.
        With ``AuthCtrlr.AuthorizeRemoteStart`` true, the token is authorized first (Authorize),
        and the transaction starts only when the CSMS accepts it."""
        started = self._start_remote(request)
        status = self._enums.RequestStartStopStatusEnumType
        return self._messages.RequestStartTransactionResponse(
            status=status.ACCEPTED if started else status.REJECTED
        )

    def default_request_stop_transaction(self, request: Any) -> Any:
        """Accepted, and the transaction ended (Ended, trigger RemoteStop, reason Remote), when
        it is the one running; Rejected for any other transaction id."""
        stopped = self._carry_out(self.traffic.remote_stop(request.transaction_id))
        status = self._enums.RequestStartStopStatusEnumType
        return self._messages.RequestStopTransactionResponse(
            status=status.ACCEPTED if stopped else status.REJECTED
        )

    def default_trigger_message(self, request: Any) -> Any:
        """Accepted, and the message sent after the answer: BootNotification (reason Triggered;
        Rejected once the CSMS accepted a boot), Heartbeat, StatusNotification, MeterValues
        (context Trigger), TransactionEvent (Updated, trigger Trigger; Rejected when no
        transaction runs), of EVSE 1 connector 1 (an ``evse`` naming another is Rejected for
        these three, ignored for the others), FirmwareStatusNotification and
        LogStatusNotification (Idle); NotImplemented for the others (certificates)."""
        evse = request.evse
        where = (None, None)
        if evse is not msgspec.UNSET:
            where = (evse.id, None if evse.connector_id is msgspec.UNSET else evse.connector_id)
        status = self._trigger(str(request.requested_message), *where)
        return self._messages.TriggerMessageResponse(
            status=self._enums.TriggerMessageStatusEnumType(status)
        )

    def default_reset(self, request: Any) -> Any:
        """Accepted, and the station reboots after the answer (the transaction running ended,
        stopped reason ImmediateReset; the connection closed and opened again
        :data:`~._sim_reboot.REBOOT_DOWNTIME` s later; a boot with reason RemoteReset, then
        the StatusNotification of its connector); ``OnIdle`` while charging Scheduled, the
        reboot after the transaction's end; Rejected with an ``evseId`` (no EVSE reset alone)
        and for 2.1's ``ImmediateAndResume``."""
        status = self._reset(str(request.type), request.evse_id is not msgspec.UNSET)
        return self._messages.ResetResponse(status=self._enums.ResetStatusEnumType(status))

    def default_change_availability(self, request: Any) -> Any:
        return self._messages.ChangeAvailabilityResponse(
            status=self._enums.ChangeAvailabilityStatusEnumType.ACCEPTED
        )

    def default_unlock_connector(self, request: Any) -> Any:
        return self._messages.UnlockConnectorResponse(
            status=self._enums.UnlockStatusEnumType.UNLOCKED
        )

    # the handlers: the default answers themselves
    request_start_transaction = default_request_start_transaction
    request_stop_transaction = default_request_stop_transaction
    change_availability = default_change_availability
    unlock_connector = default_unlock_connector
    get_variables = default_get_variables
    set_variables = default_set_variables
    get_base_report = default_get_base_report
    trigger_message = default_trigger_message
    reset = default_reset


if TYPE_CHECKING:

    class _Accepts2x:
        """To the type checkers, the version's own declared handler slots (a method defined
        in a mixin beside a version's base conflicts with the slot the base declares)."""

else:
    _Accepts2x = _Accepts2xBodies


class SimulatedStation(_Accepts2x, _Transacting[str], v201.Charger):
    """The station side of a simulated 2.0.1 charger.

    To change one answer, subclass it and override that handler in any form a handler
    takes (plain or ``async def``, with or without ``context``); the station's own answer
    is ``self.default_<handler>(request)``, typed with the action's request and response
    (``super().<handler>(request)`` is not: the base's handler may be any of those forms).
    Its remote start is Rejected until the CSMS accepted the boot of its connection; an
    override of ``on_connect`` or ``on_disconnect`` calls ``super()``'s, which keep that
    connection. An accepted remote start starts a transaction on EVSE 1 (TransactionEvent
    Started, trigger RemoteStart, with the request's token and remoteStartId) and a remote
    stop of it ends it (Ended, reason Remote): its :attr:`traffic` holds that transaction.
    """

    _messages = messages
    _enums = enums
    _types = _V201

    if TYPE_CHECKING:  # the bodies are _Accepts2xBodies', shared with 2.1

        def default_request_start_transaction(
            self, request: messages.RequestStartTransactionRequest
        ) -> messages.RequestStartTransactionResponse: ...
        def default_request_stop_transaction(
            self, request: messages.RequestStopTransactionRequest
        ) -> messages.RequestStopTransactionResponse: ...
        def default_change_availability(
            self, request: messages.ChangeAvailabilityRequest
        ) -> messages.ChangeAvailabilityResponse: ...
        def default_unlock_connector(
            self, request: messages.UnlockConnectorRequest
        ) -> messages.UnlockConnectorResponse: ...
        def default_get_variables(
            self, request: messages.GetVariablesRequest
        ) -> messages.GetVariablesResponse: ...
        def default_set_variables(
            self, request: messages.SetVariablesRequest
        ) -> messages.SetVariablesResponse: ...
        def default_get_base_report(
            self, request: messages.GetBaseReportRequest
        ) -> messages.GetBaseReportResponse: ...
        def default_trigger_message(
            self, request: messages.TriggerMessageRequest
        ) -> messages.TriggerMessageResponse: ...
        def default_reset(self, request: messages.ResetRequest) -> messages.ResetResponse: ...
        @property
        def device_model(self) -> _sim_device.DeviceModel: ...


class SimulatedStation21(_Accepts2x, _Transacting[str], v21.Charger):
    """The station side of a simulated 2.1 charger, extended as :class:`SimulatedStation` is
    (``self.default_<handler>(request)``, typed with 2.1's messages)."""

    _messages = messages21
    _enums = enums21
    _types = _V21
    _label = "2.1"

    if TYPE_CHECKING:  # the bodies are _Accepts2xBodies', shared with 2.0.1

        def default_request_start_transaction(
            self, request: messages21.RequestStartTransactionRequest
        ) -> messages21.RequestStartTransactionResponse: ...
        def default_request_stop_transaction(
            self, request: messages21.RequestStopTransactionRequest
        ) -> messages21.RequestStopTransactionResponse: ...
        def default_change_availability(
            self, request: messages21.ChangeAvailabilityRequest
        ) -> messages21.ChangeAvailabilityResponse: ...
        def default_unlock_connector(
            self, request: messages21.UnlockConnectorRequest
        ) -> messages21.UnlockConnectorResponse: ...
        def default_get_variables(
            self, request: messages21.GetVariablesRequest
        ) -> messages21.GetVariablesResponse: ...
        def default_set_variables(
            self, request: messages21.SetVariablesRequest
        ) -> messages21.SetVariablesResponse: ...
        def default_get_base_report(
            self, request: messages21.GetBaseReportRequest
        ) -> messages21.GetBaseReportResponse: ...
        def default_trigger_message(
            self, request: messages21.TriggerMessageRequest
        ) -> messages21.TriggerMessageResponse: ...
        def default_reset(self, request: messages21.ResetRequest) -> messages21.ResetResponse: ...
        @property
        def device_model(self) -> _sim_device.DeviceModel: ...


class SimulatedStation16(_Transacting[int], v16.Charger):
    """The station side of a simulated 1.6 charger: it accepts what a CSMS commonly asks.

    Extended as :class:`SimulatedStation` is: override a handler in any form, and reach the
    station's answer as ``self.default_<handler>(request)``, typed with 1.6's messages.
    """

    _label = "1.6"
    _configuration: _sim_device.Configuration16 | None = None

    @property
    def configuration(self) -> _sim_device.Configuration16:
        """The station's configuration keys and their values (GetConfiguration,
        ChangeConfiguration): the packaged defaults the first time it is read."""
        if self._configuration is None:
            self._configuration = _sim_device.Configuration16()
        return self._configuration

    def _heartbeat_is(self, seconds: str) -> None:
        self.configuration.values["HeartbeatInterval"] = seconds

    def _setting(self, name: str) -> str | None:
        return _sim_device.acting_value_16(self._configuration, name)

    def default_get_configuration(
        self, request: messages16.GetConfigurationRequest
    ) -> messages16.GetConfigurationResponse:
        """The known keys asked for (every one when none is), the others in ``unknownKey``."""
        return _sim_device.get_configuration(self.configuration, request)

    def default_change_configuration(
        self, request: messages16.ChangeConfigurationRequest
    ) -> messages16.ChangeConfigurationResponse:
        """Accepted when the key is writable and the value fits, Rejected otherwise,
        NotSupported for an unknown key; a key that acts is applied at once (a new
        ``HeartbeatInterval`` to the heartbeat of :attr:`client`, a new
        ``MeterValueSampleInterval`` to a running transaction's meter values...: the simulator
        page lists them)."""
        response, changed = _sim_device.change_configuration(self.configuration, request)
        self._settings_set(_sim_device.acting_16(changed))
        return response

    def default_remote_start_transaction(
        self, request: messages16.RemoteStartTransactionRequest
    ) -> messages16.RemoteStartTransactionResponse:
        """Accepted, and StartTransaction sent with the request's idTag (the CSMS's answer
        gives the transaction id), once the CSMS accepted the boot, on connector 1 (or none
        given), while no transaction runs or starts; Rejected otherwise. With
        ``AuthorizeRemoteTxRequests`` true, the idTag is authorized first (Authorize), and the
        transaction starts only when the CSMS accepts it."""
        started = self._start_remote(request)
        status = enums16.RemoteStartTransactionResponseStatusEnum
        return messages16.RemoteStartTransactionResponse(
            status=status.ACCEPTED if started else status.REJECTED
        )

    def default_remote_stop_transaction(
        self, request: messages16.RemoteStopTransactionRequest
    ) -> messages16.RemoteStopTransactionResponse:
        """Accepted, and StopTransaction sent (reason Remote), when ``transactionId`` is the
        running transaction's; Rejected for any other."""
        stopped = self._carry_out(self.traffic.remote_stop(request.transaction_id))
        status = enums16.RemoteStopTransactionResponseStatusEnum
        return messages16.RemoteStopTransactionResponse(
            status=status.ACCEPTED if stopped else status.REJECTED
        )

    def default_trigger_message(
        self, request: messages16.TriggerMessageRequest
    ) -> messages16.TriggerMessageResponse:
        """Accepted, and the message sent after the answer: BootNotification, Heartbeat,
        DiagnosticsStatusNotification and FirmwareStatusNotification (Idle), StatusNotification
        (of ``connectorId``, 0 the charge point's; of connectors 0 and 1 without it), MeterValues
        (connector 1, context Trigger); Rejected for another connector of these two (a
        ``connectorId`` is ignored for the others)."""
        connector = None if request.connector_id is msgspec.UNSET else request.connector_id
        status = self._trigger(str(request.requested_message), None, connector)
        return messages16.TriggerMessageResponse(
            status=enums16.TriggerMessageResponseStatusEnum(status)
        )

    def default_reset(self, request: messages16.ResetRequest) -> messages16.ResetResponse:
        """Accepted, Hard and Soft alike: the transaction running ended (StopTransaction, reason
        HardReset or SoftReset), then the station reboots after the answer (the connection
        closed and opened again :data:`~._sim_reboot.REBOOT_DOWNTIME` s later, a boot, then
        the StatusNotification of connectors 0 and 1)."""
        status = self._reset(str(request.type), False)
        return messages16.ResetResponse(status=enums16.ResetResponseStatusEnum(status))

    def default_change_availability(
        self, request: messages16.ChangeAvailabilityRequest
    ) -> messages16.ChangeAvailabilityResponse:
        return messages16.ChangeAvailabilityResponse(
            status=enums16.ChangeAvailabilityResponseStatusEnum.ACCEPTED
        )

    def default_unlock_connector(
        self, request: messages16.UnlockConnectorRequest
    ) -> messages16.UnlockConnectorResponse:
        return messages16.UnlockConnectorResponse(
            status=enums16.UnlockConnectorResponseStatusEnum.UNLOCKED
        )

    if not TYPE_CHECKING:  # the handlers are the answers (checkers see the version's slots)
        remote_start_transaction = default_remote_start_transaction
        remote_stop_transaction = default_remote_stop_transaction
        change_availability = default_change_availability
        unlock_connector = default_unlock_connector
        get_configuration = default_get_configuration
        change_configuration = default_change_configuration
        trigger_message = default_trigger_message
        reset = default_reset


AnyStation: TypeAlias = "SimulatedStation | SimulatedStation16 | SimulatedStation21"


def station_handler(label: str, traffic: Traffic[Any] | None = None) -> AnyStation:
    """The handler of a simulated station of OCPP ``label``, whose remote starts and stops run
    the transaction of ``traffic`` (the state its own traffic sends from; its transactions'
    periodic meter values then come from that traffic's mix until the CSMS sets their
    interval: :attr:`~._sim_acting._Acting.samples_by_default`)."""
    station: AnyStation
    if label == "1.6":
        station = SimulatedStation16()
    else:
        station = SimulatedStation21() if label == "2.1" else SimulatedStation()
    if traffic is not None:
        station.traffic = traffic
        station.samples_by_default = False  # the traffic's mix carries its meter values
    return station
