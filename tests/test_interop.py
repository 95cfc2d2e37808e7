"""Interop with implementations nobody here wrote, over real WebSockets on 127.0.0.1.

- ``ocpp-rpc`` (npm, pinned in ``interop/package.json``) in strict mode, which checks every frame
  either side sends against the official schemas: its station against our CSMS, our station
  against its CSMS, on ``ocpp2.0.1`` and ``ocpp1.6`` (its 2.1 strict mode is broken upstream), and
  the error codes each side answers malformed frames with. The JavaScript half of each scenario is
  ``interop/client.mjs`` or ``interop/server.mjs``; it prints one JSON line of what it saw.
- the ``ocpp`` PyPI package's ``ChargePoint`` (2.0.1) as a station against our CSMS.

Node.js is required: without ``node`` or the installed npm package these tests fail, never skip
(``make pytest`` installs the package with ``npm ci --prefix interop``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from my_test_charge_system import MyTestChargeSystem
from my_test_charger import MyTestCharger
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from ocpp_fast import codec, errors, v16, v21, v201
from ocpp_fast._protocol_version import ProtocolVersion
from ocpp_fast.frames import CallError
from ocpp_fast.transport import connect, serve
from ocpp_fast.v16 import datatypes as d16
from ocpp_fast.v16 import enums as e16
from ocpp_fast.v16 import messages as m16
from ocpp_fast.v201 import datatypes, enums, messages

INTEROP = Path(__file__).resolve().parent.parent / "interop"
NODE_TIMEOUT = 15.0
"""Seconds a node script may run; a scenario takes well under one."""

Call = Callable[[Any], Awaitable[Any]]


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.fail("node is not on PATH: the interop tests need Node.js (CI must prove interop)")
    if not (INTEROP / "node_modules" / "ocpp-rpc" / "package.json").is_file():
        pytest.fail("ocpp-rpc is not installed: run `npm ci --prefix interop` (make pytest does)")
    return path


@contextlib.asynccontextmanager
async def node_script(*args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run ``node interop/<args>``; yields the process, killed if still running at the end."""
    process = await asyncio.create_subprocess_exec(
        node(),
        *args,
        cwd=INTEROP,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def ocpp_rpc_csms(
    protocol: str, mode: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    """ocpp-rpc's CSMS (``interop/server.mjs``) of ``protocol`` in ``mode``, and the port it
    listens on (its first line)."""
    async with node_script("server.mjs", protocol, mode) as js:
        assert js.stdout is not None
        first = await asyncio.wait_for(js.stdout.readline(), NODE_TIMEOUT)
        assert first, await report_of(js)
        yield js, json.loads(first)["port"]


async def report_of(process: asyncio.subprocess.Process) -> dict[str, Any]:
    """Wait for the script to end; its last stdout line, as JSON."""
    out, err = await asyncio.wait_for(process.communicate(), NODE_TIMEOUT)
    lines = out.decode().strip().splitlines()
    assert process.returncode == 0 and lines, f"node failed ({process.returncode}): {err.decode()}"
    report: dict[str, Any] = json.loads(lines[-1])
    return report


def run(coro: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(coro(), 2 * NODE_TIMEOUT))


# --- what a session's outcomes look like on the wire, whoever recorded them ----------------------

TIME = "<date-time>"


def wire(value: Any) -> Any:
    """An outcome as JSON: a response payload (date-times checked, then blanked), or an error's
    code (2.x spelling)."""
    if isinstance(value, errors.OcppError):
        return value.code
    if isinstance(value, BaseException):
        return repr(value)
    if isinstance(value, msgspec.Struct):
        value = msgspec.to_builtins(value)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "currentTime":
                assert datetime.datetime.fromisoformat(item).tzinfo is not None
                item = TIME
            out[key] = wire(item)
        return out
    if isinstance(value, list):
        return [wire(item) for item in value]
    return value


def js_outcomes(report: dict[str, Any]) -> list[tuple[str, Any]]:
    """The calls the JavaScript side made, with the result or error code each got."""
    return [
        (c["method"], wire(c["result"]) if "result" in c else c["error"]) for c in report["calls"]
    ]


async def outcome(call: Call, request: Any) -> Any:
    try:
        return await call(request)
    except errors.OcppError as exc:
        return exc


def action_of(request: Any) -> str:
    return type(request).__name__.removesuffix("Request")


# --- the Python sides: the same requests and answers as interop/ocpp.mjs --------------------------

TOKEN = datatypes.IdTokenType(id_token="TAG-0001", type=enums.IdTokenEnumType.ISO14443)


class Csms201(MyTestChargeSystem):
    """The example CSMS, keeping the transaction events it receives."""

    def __init__(self) -> None:
        self.received: list[Any] = []

    async def transaction_event(
        self, request: messages.TransactionEventRequest
    ) -> messages.TransactionEventResponse:
        self.received.append(request)
        return await super().transaction_event(request)


class Station201(MyTestCharger):
    """The example station; ``bye`` is set by the CSMS's last call, a DataTransfer "bye"."""

    def __init__(self) -> None:
        super().__init__()
        self.bye = asyncio.Event()

    def data_transfer(self, request: messages.DataTransferRequest) -> messages.DataTransferResponse:
        if request.message_id == "bye":
            self.bye.set()
        return super().data_transfer(request)


def reversed_data_16(request: m16.DataTransferRequest) -> m16.DataTransferResponse:
    if request.vendor_id != "GA":
        return m16.DataTransferResponse(status=e16.DataTransferResponseStatusEnum.UNKNOWN_VENDOR_ID)
    return m16.DataTransferResponse(
        status=e16.DataTransferResponseStatusEnum.ACCEPTED, data=str(request.data)[::-1]
    )


ACCEPTED_16 = d16.IdTagInfoType(status=e16.IdTagInfoStatusEnum.ACCEPTED)


class Csms16(v16.ChargeSystem):
    """A 1.6 CSMS accepting everything; DiagnosticsStatusNotification is left unhandled."""

    def __init__(self) -> None:
        self.received: list[Any] = []

    def boot_notification(
        self, request: m16.BootNotificationRequest
    ) -> m16.BootNotificationResponse:
        return m16.BootNotificationResponse(
            status=e16.BootNotificationResponseStatusEnum.ACCEPTED, current_time=now(), interval=300
        )

    def status_notification(
        self, request: m16.StatusNotificationRequest
    ) -> m16.StatusNotificationResponse:
        return m16.StatusNotificationResponse()

    def authorize(self, request: m16.AuthorizeRequest) -> m16.AuthorizeResponse:
        return m16.AuthorizeResponse(id_tag_info=ACCEPTED_16)

    def start_transaction(
        self, request: m16.StartTransactionRequest
    ) -> m16.StartTransactionResponse:
        self.received.append(request)
        return m16.StartTransactionResponse(id_tag_info=ACCEPTED_16, transaction_id=4242)

    def meter_values(self, request: m16.MeterValuesRequest) -> m16.MeterValuesResponse:
        self.received.append(request)
        return m16.MeterValuesResponse()

    def stop_transaction(self, request: m16.StopTransactionRequest) -> m16.StopTransactionResponse:
        self.received.append(request)
        return m16.StopTransactionResponse(id_tag_info=ACCEPTED_16)

    def heartbeat(self, request: m16.HeartbeatRequest) -> m16.HeartbeatResponse:
        return m16.HeartbeatResponse(current_time=now())

    def data_transfer(self, request: m16.DataTransferRequest) -> m16.DataTransferResponse:
        return reversed_data_16(request)


class Station16(v16.Charger):
    """A 1.6 station accepting everything; Reset is left unhandled."""

    def __init__(self) -> None:
        self.bye = asyncio.Event()

    def remote_start_transaction(
        self, request: m16.RemoteStartTransactionRequest
    ) -> m16.RemoteStartTransactionResponse:
        return m16.RemoteStartTransactionResponse(
            status=e16.RemoteStartTransactionResponseStatusEnum.ACCEPTED
        )

    def get_configuration(
        self, request: m16.GetConfigurationRequest
    ) -> m16.GetConfigurationResponse:
        keys = request.key if isinstance(request.key, list) else []
        return m16.GetConfigurationResponse(
            configuration_key=[
                d16.ConfigurationKeyType(key=k, readonly=True, value="42") for k in keys
            ]
        )

    def change_availability(
        self, request: m16.ChangeAvailabilityRequest
    ) -> m16.ChangeAvailabilityResponse:
        return m16.ChangeAvailabilityResponse(
            status=e16.ChangeAvailabilityResponseStatusEnum.ACCEPTED
        )

    def unlock_connector(self, request: m16.UnlockConnectorRequest) -> m16.UnlockConnectorResponse:
        return m16.UnlockConnectorResponse(status=e16.UnlockConnectorResponseStatusEnum.UNLOCKED)

    def data_transfer(self, request: m16.DataTransferRequest) -> m16.DataTransferResponse:
        if request.message_id == "bye":
            self.bye.set()
        return reversed_data_16(request)


async def station_session_201(call: Call) -> list[Any]:
    """What our station sends, as client.mjs's station does (ocpp.mjs ``stationSession``)."""
    started = messages.TransactionEventRequest(
        event_type=enums.TransactionEventEnumType.STARTED,
        timestamp=now(),
        trigger_reason=enums.TriggerReasonEnumType.AUTHORIZED,
        seq_no=0,
        transaction_info=datatypes.TransactionType(transaction_id="TX-1"),
        id_token=TOKEN,
        evse=datatypes.EVSEType(id=1, connector_id=1),
    )
    energy = datatypes.SampledValueType(
        value=1234.5,
        measurand=enums.MeasurandEnumType.ENERGY_ACTIVE_IMPORT_REGISTER,
        unit_of_measure=datatypes.UnitOfMeasureType(unit="Wh"),
    )
    updated = messages.TransactionEventRequest(
        event_type=enums.TransactionEventEnumType.UPDATED,
        timestamp=now(),
        trigger_reason=enums.TriggerReasonEnumType.METER_VALUE_PERIODIC,
        seq_no=1,
        transaction_info=datatypes.TransactionType(
            transaction_id="TX-1", charging_state=enums.ChargingStateEnumType.CHARGING
        ),
        meter_value=[datatypes.MeterValueType(sampled_value=[energy], timestamp=now())],
    )
    ended = messages.TransactionEventRequest(
        event_type=enums.TransactionEventEnumType.ENDED,
        timestamp=now(),
        trigger_reason=enums.TriggerReasonEnumType.STOP_AUTHORIZED,
        seq_no=2,
        transaction_info=datatypes.TransactionType(
            transaction_id="TX-1", stopped_reason=enums.ReasonEnumType.LOCAL
        ),
    )
    requests = [
        messages.BootNotificationRequest(
            reason=enums.BootReasonEnumType.POWER_UP,
            charging_station=datatypes.ChargingStationType(model="InteropPy", vendor_name="ours"),
        ),
        messages.StatusNotificationRequest(
            timestamp=now(),
            connector_status=enums.ConnectorStatusEnumType.AVAILABLE,
            evse_id=1,
            connector_id=1,
        ),
        messages.AuthorizeRequest(id_token=TOKEN),
        started,
        updated,
        ended,
        messages.HeartbeatRequest(),
        messages.DataTransferRequest(vendor_id="GA", data="hello"),
        messages.FirmwareStatusNotificationRequest(status=enums.FirmwareStatusEnumType.INSTALLED),
    ]
    return [(action_of(r), await outcome(call, r)) for r in requests]


async def station_session_16(call: Call) -> list[Any]:
    """The 1.6 station session of ocpp.mjs; StopTransaction uses the id StartTransaction got."""
    done = [
        (
            "BootNotification",
            m16.BootNotificationRequest(charge_point_vendor="ours", charge_point_model="InteropPy"),
        ),
        (
            "StatusNotification",
            m16.StatusNotificationRequest(
                connector_id=1,
                error_code=e16.ErrorCodeEnum.NO_ERROR,
                status=e16.StatusNotificationRequestStatusEnum.AVAILABLE,
                timestamp=now(),
            ),
        ),
        ("Authorize", m16.AuthorizeRequest(id_tag="TAG-0001")),
        (
            "StartTransaction",
            m16.StartTransactionRequest(
                connector_id=1, id_tag="TAG-0001", meter_start=0, timestamp=now()
            ),
        ),
    ]
    results = [(action, await outcome(call, request)) for action, request in done]
    transaction_id = results[-1][1].transaction_id
    energy = d16.MeterValueSampledValueType(
        value="1234.5",
        measurand=e16.MeasurandEnum.ENERGY_ACTIVE_IMPORT_REGISTER,
        unit=e16.MeterValueSampledValueUnitEnum.WH,
    )
    rest = [
        m16.MeterValuesRequest(
            connector_id=1,
            transaction_id=transaction_id,
            meter_value=[d16.MeterValueType(timestamp=now(), sampled_value=[energy])],
        ),
        m16.StopTransactionRequest(
            transaction_id=transaction_id,
            meter_stop=2000,
            timestamp=now(),
            reason=e16.ReasonEnum.LOCAL,
        ),
        m16.HeartbeatRequest(),
        m16.DataTransferRequest(vendor_id="GA", data="hello"),
        m16.DiagnosticsStatusNotificationRequest(
            status=e16.DiagnosticsStatusNotificationRequestStatusEnum.IDLE
        ),
    ]
    return results + [(action_of(r), await outcome(call, r)) for r in rest]


CSMS_CALLS_201 = [
    messages.RequestStartTransactionRequest(id_token=TOKEN, remote_start_id=7, evse_id=1),
    messages.GetVariablesRequest(
        get_variable_data=[
            datatypes.GetVariableDataType(
                component=datatypes.ComponentType(name="OCPPCommCtrlr"),
                variable=datatypes.VariableType(name="HeartbeatInterval"),
            )
        ]
    ),
    messages.ChangeAvailabilityRequest(
        operational_status=enums.OperationalStatusEnumType.INOPERATIVE
    ),
    messages.UnlockConnectorRequest(evse_id=1, connector_id=1),
    messages.ResetRequest(type=enums.ResetEnumType.IMMEDIATE),
    messages.DataTransferRequest(vendor_id="GA", data="abc"),
    messages.DataTransferRequest(vendor_id="GA", message_id="bye", data="bye"),
]
CSMS_CALLS_16 = [
    m16.RemoteStartTransactionRequest(id_tag="TAG-0001", connector_id=1),
    m16.GetConfigurationRequest(key=["HeartbeatInterval"]),
    m16.ChangeAvailabilityRequest(
        connector_id=1, type=e16.ChangeAvailabilityRequestTypeEnum.INOPERATIVE
    ),
    m16.UnlockConnectorRequest(connector_id=1),
    m16.ResetRequest(type=e16.ResetRequestTypeEnum.SOFT),
    m16.DataTransferRequest(vendor_id="GA", data="abc"),
    m16.DataTransferRequest(vendor_id="GA", message_id="bye", data="bye"),
]


@dataclass(frozen=True)
class Version:
    protocol: str
    model: ProtocolVersion
    csms: Callable[[], Csms201 | Csms16]
    station: Callable[[], Station201 | Station16]
    station_session: Callable[[Call], Awaitable[list[Any]]]
    csms_calls: list[Any]
    station_outcomes: list[tuple[str, Any]]
    """What a station's session gets from our CSMS (and from ocpp-rpc's, but for the last call)."""
    csms_outcomes: list[tuple[str, Any]]
    """What the CSMS's calls get from our station (and from ocpp-rpc's, but for Reset)."""


GET_VARIABLES_42 = (
    "GetVariables",
    {
        "getVariableResult": [
            {
                "attributeStatus": "Accepted",
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
                "attributeValue": "42",
            }
        ]
    },
)
"""What our station answers the CSMS's GetVariables of HeartbeatInterval (2.0.1 and 2.1)."""


V201 = Version(
    "ocpp2.0.1",
    v201.VERSION,
    Csms201,
    Station201,
    station_session_201,
    CSMS_CALLS_201,
    [
        ("BootNotification", {"currentTime": TIME, "interval": 300, "status": "Accepted"}),
        ("StatusNotification", {}),
        ("Authorize", {"idTokenInfo": {"status": "Accepted"}}),
        ("TransactionEvent", {"idTokenInfo": {"status": "Accepted"}}),
        ("TransactionEvent", {}),
        ("TransactionEvent", {}),
        ("Heartbeat", {"currentTime": TIME}),
        ("DataTransfer", {"status": "Accepted", "data": "olleh"}),
        ("FirmwareStatusNotification", "NotSupported"),  # no handler in our CSMS
    ],
    [
        ("RequestStartTransaction", {"status": "Accepted"}),
        GET_VARIABLES_42,
        ("ChangeAvailability", {"status": "Accepted"}),
        ("UnlockConnector", {"status": "Unlocked"}),
        ("Reset", "NotSupported"),  # no handler in our station
        ("DataTransfer", {"status": "Accepted", "data": "cba"}),
        ("DataTransfer", {"status": "Accepted", "data": "eyb"}),
    ],
)
V16 = Version(
    "ocpp1.6",
    v16.VERSION,
    Csms16,
    Station16,
    station_session_16,
    CSMS_CALLS_16,
    [
        ("BootNotification", {"currentTime": TIME, "interval": 300, "status": "Accepted"}),
        ("StatusNotification", {}),
        ("Authorize", {"idTagInfo": {"status": "Accepted"}}),
        ("StartTransaction", {"idTagInfo": {"status": "Accepted"}, "transactionId": 4242}),
        ("MeterValues", {}),
        ("StopTransaction", {"idTagInfo": {"status": "Accepted"}}),
        ("Heartbeat", {"currentTime": TIME}),
        ("DataTransfer", {"status": "Accepted", "data": "olleh"}),
        ("DiagnosticsStatusNotification", "NotSupported"),  # no handler in our CSMS
    ],
    [
        ("RemoteStartTransaction", {"status": "Accepted"}),
        (
            "GetConfiguration",
            {"configurationKey": [{"key": "HeartbeatInterval", "readonly": True, "value": "42"}]},
        ),
        ("ChangeAvailability", {"status": "Accepted"}),
        ("UnlockConnector", {"status": "Unlocked"}),
        ("Reset", "NotSupported"),  # no handler in our station
        ("DataTransfer", {"status": "Accepted", "data": "cba"}),
        ("DataTransfer", {"status": "Accepted", "data": "eyb"}),
    ],
)
VERSIONS = pytest.mark.parametrize("version", [V201, V16], ids=lambda v: v.protocol)


def but_unhandled_by_ocpp_rpc(outcomes: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """ocpp-rpc answers a known action it has no handler for NotImplemented (spec: NotSupported)."""
    return [(a, "NotImplemented" if o == "NotSupported" else o) for a, o in outcomes]


# --- whole sessions: an ocpp-rpc station against our CSMS, our station against an ocpp-rpc CSMS -


@VERSIONS
def test_ocpp_rpc_station_against_our_csms(version: Version) -> None:
    csms = version.csms()

    async def session() -> tuple[dict[str, Any], list[Any]]:
        server = await serve(csms)
        try:
            url = f"ws://127.0.0.1:{server.port}/ocpp"
            async with node_script("client.mjs", url, version.protocol, "session") as js:
                while "JS001" not in server.connections:  # the JS station is making its calls
                    assert js.returncode is None, await report_of(js)
                    await asyncio.sleep(0.01)
                connection = server.connections["JS001"]
                ours = [
                    (action_of(r), await outcome(lambda q: connection.call(q, timeout=5), r))
                    for r in version.csms_calls
                ]
                return await report_of(js), ours
        finally:
            await server.close()

    report, ours = run(session)
    # Every frame our CSMS sent passed ocpp-rpc's schema checks, and none was malformed.
    assert report["protocol"] == version.protocol
    assert report["strictFailures"] == []
    assert report["badMessages"] == []
    assert js_outcomes(report) == version.station_outcomes
    # Our calls, answered by ocpp-rpc's station (which has no Reset handler).
    assert [(a, wire(o)) for a, o in ours] == but_unhandled_by_ocpp_rpc(version.csms_outcomes)
    assert [h["method"] for h in report["handled"]] == [
        a for a, o in version.csms_outcomes if o != "NotSupported"
    ]
    # What our CSMS decoded from ocpp-rpc's frames.
    if version is V201:
        events = [e.event_type for e in csms.received]
        assert events == ["Started", "Updated", "Ended"]
        updated = csms.received[1]
        assert updated.meter_value[0].sampled_value[0].value == 1234.5
        assert updated.meter_value[0].sampled_value[0].unit_of_measure.unit == "Wh"
    else:
        start, meter, stop = csms.received
        assert start.id_tag == "TAG-0001"
        assert meter.transaction_id == stop.transaction_id == 4242
        assert meter.meter_value[0].sampled_value[0].value == "1234.5"


@VERSIONS
def test_our_station_against_an_ocpp_rpc_csms(version: Version) -> None:
    station = version.station()

    async def session() -> tuple[dict[str, Any], list[Any]]:
        async with ocpp_rpc_csms(version.protocol, "session") as (js, port):
            client = await connect(station, f"ws://127.0.0.1:{port}/ocpp/PY001")
            try:
                assert client.subprotocol == version.protocol
                ours = await version.station_session(lambda r: client.call(r, timeout=5))
                await asyncio.wait_for(station.bye.wait(), NODE_TIMEOUT)  # its last call
            finally:
                await client.close()
            return await report_of(js), ours

    report, ours = run(session)
    assert report["protocol"] == version.protocol
    assert report["strictFailures"] == []  # every frame our station sent passed ocpp-rpc's checks
    assert report["badMessages"] == []
    assert [(a, wire(o)) for a, o in ours] == but_unhandled_by_ocpp_rpc(version.station_outcomes)
    assert js_outcomes(report) == version.csms_outcomes
    handled = [h["method"] for h in report["handled"]]
    assert handled == [a for a, o in version.station_outcomes if o != "NotSupported"]
    if version is V201:
        updated = report["handled"][4]["params"]
        assert updated["meterValue"][0]["sampledValue"][0] == {
            "value": 1234.5,
            "measurand": "Energy.Active.Import.Register",
            "unitOfMeasure": {"unit": "Wh"},
        }


# --- malformed frames: the error codes each CSMS answers with -------------------------------------

BOOT_201 = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}
STATUS_201 = {"connectorStatus": "Available", "evseId": 1, "connectorId": 1}
STATUS_16 = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
AT = "2026-01-01T00:00:00Z"
SPACED = "2026-01-01 00:00:00Z"
LONG_ID = "x" * 37


def frame(*parts: Any) -> str:
    return json.dumps(list(parts), separators=(",", ":"))


def error(message_id: str, code: str) -> list[list[str]]:
    return [[message_id, code]]


def result(message_id: str) -> list[list[str]]:
    return [[message_id, "CALLRESULT"]]


NO_REPLY: list[list[str]] = []
Row = tuple[str, list[list[str]], list[list[str]]]


def both(text: str, answer: list[list[str]]) -> Row:
    """A frame both CSMSs answer alike."""
    return text, answer, answer


# What a station may send a CSMS, by name: (the frame, what our CSMS answers, what ocpp-rpc's
# CSMS answers), each answer the [message id, error code] of every reply. Our answers are the
# spec table's (shared/spec/OCPP-J.md); where ocpp-rpc's differ, the comment says what it should be.
MALFORMED_201: dict[str, Row] = {
    "not_json": both('[2,"m1","Heartbeat",{', error("-1", "RpcFrameworkError")),
    "not_an_array": both('{"a":1}', error("-1", "RpcFrameworkError")),
    "type_not_a_number": both(frame("2", "m3", "Heartbeat", {}), error("-1", "RpcFrameworkError")),
    "id_not_a_string": both(frame(2, 4, "Heartbeat", {}), error("-1", "RpcFrameworkError")),
    "too_few_elements": (
        frame(2, "m5", "Heartbeat"),
        error("m5", "RpcFrameworkError"),
        error("m5", "TypeConstraintViolation"),  # spec: RpcFrameworkError
    ),
    "too_many_elements": (
        frame(2, "m6", "Heartbeat", {}, {}),
        error("m6", "RpcFrameworkError"),
        result("m6"),  # spec: RpcFrameworkError
    ),
    "id_too_long": (
        frame(2, LONG_ID, "Heartbeat", {}),
        error("-1", "RpcFrameworkError"),
        result(LONG_ID),  # spec: RpcFrameworkError
    ),
    "unknown_message_type": (
        frame(7, "m7", "Heartbeat", {}),
        error("m7", "MessageTypeNotSupported"),
        error("-1", "MessageTypeNotSupported"),  # spec: "-1" only when the id is unreadable
    ),
    "unknown_action": both(frame(2, "m8", "Teleport", {}), error("m8", "NotImplemented")),
    "known_action_unhandled": (
        frame(2, "m9", "FirmwareStatusNotification", {"status": "Installed"}),
        error("m9", "NotSupported"),
        error("m9", "NotImplemented"),  # spec: NotSupported
    ),
    "action_of_the_other_side": (
        frame(2, "m10", "Reset", {"type": "Immediate"}),
        error("m10", "NotSupported"),
        error("m10", "NotImplemented"),  # spec: NotSupported
    ),
    "payload_not_an_object": both(
        frame(2, "m11", "Heartbeat", []), error("m11", "TypeConstraintViolation")
    ),
    "wrong_json_type": both(
        frame(2, "m12", "StatusNotification", {**STATUS_201, "timestamp": AT, "evseId": "1"}),
        error("m12", "TypeConstraintViolation"),
    ),
    "required_missing": (
        frame(2, "m13", "BootNotification", {"reason": "PowerUp"}),
        error("m13", "OccurrenceConstraintViolation"),
        error("m13", "OccurenceConstraintViolation"),  # spec: 1.6's spelling is not 2.0.1's
    ),
    "below_min_items": (
        frame(2, "m14", "MeterValues", {"evseId": 1, "meterValue": []}),
        error("m14", "OccurrenceConstraintViolation"),
        error("m14", "OccurenceConstraintViolation"),  # spec: 1.6's spelling is not 2.0.1's
    ),
    "unknown_property": (
        frame(2, "m15", "Heartbeat", {"foo": 1}),
        error("m15", "FormatViolation"),
        error("m15", "PropertyConstraintViolation"),  # spec: FormatViolation
    ),
    "too_long": (
        frame(2, "m16", "Authorize", {"idToken": {"idToken": "x" * 37, "type": "ISO14443"}}),
        error("m16", "PropertyConstraintViolation"),
        error("m16", "FormatViolation"),  # spec: PropertyConstraintViolation
    ),
    "not_in_enum": (
        frame(2, "m17", "BootNotification", {**BOOT_201, "reason": "Bored"}),
        error("m17", "PropertyConstraintViolation"),
        error("m17", "FormatViolation"),  # spec: PropertyConstraintViolation
    ),
    "not_a_date_time": (
        frame(2, "m18", "StatusNotification", {**STATUS_201, "timestamp": "yesterday"}),
        error("m18", "PropertyConstraintViolation"),
        error("m18", "FormatViolation"),  # spec: PropertyConstraintViolation
    ),
    "date_time_with_a_space": (
        frame(2, "m19", "StatusNotification", {**STATUS_201, "timestamp": SPACED}),
        error("m19", "PropertyConstraintViolation"),
        result("m19"),  # spec: RFC 3339 has no space separator (ajv-formats takes one)
    ),
    "handler_refuses": both(  # raised by each side's handler
        frame(2, "m20", "DataTransfer", {"vendorId": "GA", "data": 5}),
        error("m20", "TypeConstraintViolation"),
    ),
}
MALFORMED_16: dict[str, Row] = {
    "not_json": (
        '[2,"m1","Heartbeat",{',
        error("-1", "FormationViolation"),
        error("-1", "RpcFrameworkError"),  # spec: FormationViolation (no such 1.6 code)
    ),
    "not_an_array": (
        '{"a":1}',
        error("-1", "FormationViolation"),
        error("-1", "RpcFrameworkError"),  # spec: FormationViolation (no such 1.6 code)
    ),
    "type_not_a_number": (
        frame("2", "m3", "Heartbeat", {}),
        error("-1", "FormationViolation"),
        error("-1", "RpcFrameworkError"),  # spec: FormationViolation (no such 1.6 code)
    ),
    "id_not_a_string": (
        frame(2, 4, "Heartbeat", {}),
        error("-1", "FormationViolation"),
        error("-1", "RpcFrameworkError"),  # spec: FormationViolation (no such 1.6 code)
    ),
    "too_few_elements": (
        frame(2, "m5", "Heartbeat"),
        error("m5", "FormationViolation"),
        error("m5", "TypeConstraintViolation"),  # spec: FormationViolation
    ),
    "too_many_elements": (
        frame(2, "m6", "Heartbeat", {}, {}),
        error("m6", "FormationViolation"),
        result("m6"),  # spec: FormationViolation
    ),
    "id_too_long": (
        frame(2, LONG_ID, "Heartbeat", {}),
        error("-1", "FormationViolation"),
        result(LONG_ID),  # spec: FormationViolation
    ),
    "unknown_message_type": (
        frame(7, "m7", "Heartbeat", {}),
        NO_REPLY,
        error("-1", "MessageTypeNotSupported"),  # spec: ignore (no such 1.6 code)
    ),
    "unknown_action": both(frame(2, "m8", "Teleport", {}), error("m8", "NotImplemented")),
    "known_action_unhandled": (
        frame(2, "m9", "DiagnosticsStatusNotification", {"status": "Idle"}),
        error("m9", "NotSupported"),
        error("m9", "NotImplemented"),  # spec: NotSupported
    ),
    "action_of_the_other_side": (
        frame(2, "m10", "Reset", {"type": "Soft"}),
        error("m10", "NotSupported"),
        error("m10", "NotImplemented"),  # spec: NotSupported
    ),
    "payload_not_an_object": both(
        frame(2, "m11", "Heartbeat", []), error("m11", "TypeConstraintViolation")
    ),
    "wrong_json_type": both(
        frame(2, "m12", "StatusNotification", {**STATUS_16, "connectorId": "1"}),
        error("m12", "TypeConstraintViolation"),
    ),
    "required_missing": (
        frame(2, "m13", "BootNotification", {"chargePointVendor": "V"}),
        error("m13", "OccurenceConstraintViolation"),
        error("m13", "OccurrenceConstraintViolation"),  # spec: 1.6 spells it Occurence
    ),
    "below_min_items": (
        frame(2, "m14", "MeterValues", {"connectorId": 1, "meterValue": []}),
        error("m14", "OccurenceConstraintViolation"),
        result("m14"),  # its 1.6 schema lacks the official minItems: 1
    ),
    "unknown_property": (
        frame(2, "m15", "Heartbeat", {"foo": 1}),
        error("m15", "FormationViolation"),
        error("m15", "PropertyConstraintViolation"),  # spec: FormationViolation
    ),
    "too_long": (
        frame(2, "m16", "Authorize", {"idTag": "x" * 21}),
        error("m16", "PropertyConstraintViolation"),
        error("m16", "FormationViolation"),  # spec: PropertyConstraintViolation
    ),
    "not_in_enum": (
        frame(2, "m17", "StatusNotification", {**STATUS_16, "status": "Bored"}),
        error("m17", "PropertyConstraintViolation"),
        error("m17", "FormationViolation"),  # spec: PropertyConstraintViolation
    ),
    "not_a_date_time": (
        frame(2, "m18", "StatusNotification", {**STATUS_16, "timestamp": "yesterday"}),
        error("m18", "PropertyConstraintViolation"),
        error("m18", "FormationViolation"),  # spec: PropertyConstraintViolation
    ),
    "date_time_with_a_space": (
        frame(2, "m19", "StatusNotification", {**STATUS_16, "timestamp": SPACED}),
        error("m19", "PropertyConstraintViolation"),
        result("m19"),  # spec: RFC 3339 has no space separator (ajv-formats takes one)
    ),
    "handler_refuses": both(  # in 1.6 data is a string: the schema refuses it first
        frame(2, "m20", "DataTransfer", {"vendorId": "GA", "data": 5}),
        error("m20", "TypeConstraintViolation"),
    ),
}
MALFORMED = {"ocpp2.0.1": MALFORMED_201, "ocpp1.6": MALFORMED_16}


def answers(replies: list[str]) -> list[list[str]]:
    """[message id, error code] per reply frame; [message id, "CALLRESULT"] for a result."""
    parsed = [json.loads(r) for r in replies]
    return [[r[1], r[2] if r[0] == 4 else "CALLRESULT"] for r in parsed]


@VERSIONS
def test_malformed_frames_from_ocpp_rpc_get_the_spec_codes_from_our_csms(
    version: Version,
) -> None:
    table = MALFORMED[version.protocol]

    async def session() -> dict[str, Any]:
        server = await serve(version.csms())
        try:
            url = f"ws://127.0.0.1:{server.port}/ocpp"
            frames = json.dumps({name: row[0] for name, row in table.items()})
            async with node_script("client.mjs", url, version.protocol, "raw", frames) as js:
                return await report_of(js)  # each fence was answered: the connection lived on
        finally:
            await server.close()

    report = run(session)
    assert report["strictFailures"] == []  # each reply of ours was a well-formed frame
    assert {name: answers(r) for name, r in report["replies"].items()} == {
        name: ours for name, (_, ours, _) in table.items()
    }


@VERSIONS
def test_malformed_frames_from_us_and_what_ocpp_rpc_answers(version: Version) -> None:
    table = MALFORMED[version.protocol]

    async def session() -> tuple[dict[str, Any], dict[str, list[str]]]:
        async with ocpp_rpc_csms(version.protocol, "answer") as (js, port):
            replies: dict[str, list[str]] = {}
            async with ws_connect(
                f"ws://127.0.0.1:{port}/PY001", subprotocols=[Subprotocol(version.protocol)]
            ) as websocket:
                # After each frame a Heartbeat: what comes before its result answers the frame.
                for n, (name, (text, _, _)) in enumerate(table.items()):
                    await websocket.send(text)
                    await websocket.send(frame(2, f"fence-{n}", "Heartbeat", {}))
                    replies[name] = []
                    while True:
                        reply = await asyncio.wait_for(websocket.recv(), 5)
                        assert isinstance(reply, str)
                        if json.loads(reply)[1] == f"fence-{n}":
                            break
                        replies[name].append(reply)
            return await report_of(js), replies

    report, replies = run(session)
    assert {name: answers(r) for name, r in replies.items()} == {
        name: theirs for name, (_, _, theirs) in table.items()
    }
    # Our codec reads every error frame ocpp-rpc sent, misspelt codes included.
    for reply in (r for rs in replies.values() for r in rs if r.startswith("[4")):
        decoded = codec.decode_frame(reply, version.model)
        assert isinstance(decoded, CallError)
        assert errors.error_class(decoded.error_code) is not errors.GenericError, reply
    assert report["protocol"] == version.protocol


# --- the ocpp package's ChargePoint against our CSMS ---------------------------------------------


def test_the_ocpp_packages_charge_point_against_our_csms() -> None:
    """The ``ocpp`` package's 2.0.1 ChargePoint as a station; our CSMS also calls it."""
    from ocpp.routing import on
    from ocpp.v201 import ChargePoint, call, call_result

    class Point(ChargePoint):  # type: ignore[misc]
        @on("UnlockConnector")  # type: ignore[untyped-decorator]
        def on_unlock_connector(self, evse_id: int, connector_id: int, **_: Any) -> Any:
            return call_result.UnlockConnector(status="Unlocked")

    csms = Csms201()
    token = {"id_token": "TAG-0001", "type": "ISO14443"}

    def event(kind: str, seq_no: int, trigger: str, **more: Any) -> Any:
        return call.TransactionEvent(
            event_type=kind,
            timestamp=now().isoformat(),
            trigger_reason=trigger,
            seq_no=seq_no,
            transaction_info={"transaction_id": "TX-9", **more.pop("info", {})},
            **more,
        )

    requests = [
        call.BootNotification(
            charging_station={"model": "M", "vendor_name": "ocpp"}, reason="PowerUp"
        ),
        call.Heartbeat(),
        call.StatusNotification(
            timestamp=now().isoformat(), connector_status="Available", evse_id=1, connector_id=1
        ),
        call.Authorize(id_token=token),
        event("Started", 0, "Authorized", id_token=token, evse={"id": 1, "connector_id": 1}),
        event(
            "Updated",
            1,
            "MeterValuePeriodic",
            info={"charging_state": "Charging"},
            meter_value=[
                {
                    "timestamp": now().isoformat(),
                    "sampled_value": [{"value": 1234.5, "unit_of_measure": {"unit": "Wh"}}],
                }
            ],
        ),
        event("Ended", 2, "StopAuthorized", info={"stopped_reason": "Local"}),
    ]

    async def session() -> tuple[list[Any], Any]:
        server = await serve(csms)
        try:
            async with ws_connect(
                f"ws://127.0.0.1:{server.port}/ocpp/PY002", subprotocols=[Subprotocol("ocpp2.0.1")]
            ) as websocket:
                point = Point("PY002", websocket, response_timeout=5)
                reader = asyncio.create_task(point.start())
                try:
                    results = [await point.call(r, suppress=False) for r in requests]
                    unlock = await server.connections["PY002"].call(
                        messages.UnlockConnectorRequest(evse_id=1, connector_id=1), timeout=5
                    )
                finally:
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await reader
            return results, unlock
        finally:
            await server.close()

    (boot, heartbeat, status, authorized, started, updated, ended), unlock = run(session)
    assert (boot.status, boot.interval) == ("Accepted", 300)
    for stamp in (boot.current_time, heartbeat.current_time):
        assert datetime.datetime.fromisoformat(stamp).tzinfo is not None
    assert status == call_result.StatusNotification()
    assert authorized.id_token_info == {"status": "Accepted"}
    assert started.id_token_info == {"status": "Accepted"}
    assert updated.id_token_info is None and ended.id_token_info is None
    assert unlock.status is enums.UnlockStatusEnumType.UNLOCKED
    assert [e.event_type for e in csms.received] == ["Started", "Updated", "Ended"]
    sampled = csms.received[1].meter_value[0].sampled_value[0]
    assert (sampled.value, sampled.unit_of_measure.unit) == (1234.5, "Wh")
    assert csms.received[2].transaction_info.stopped_reason is enums.ReasonEnumType.LOCAL


# --- OCPP 2.1: CALLs both ways and a SEND, ocpp-rpc non-strict ------------------------------------
# ocpp-rpc 2.2.1's strict mode cannot load its own 2.1 schemas, so on ocpp2.1 both scripts run it
# non-strict (interop/ocpp.mjs, strictMode): ocpp-rpc checks none of these frames, our decoder
# checks every one it receives against the 2.1 schemas, and ocpp-rpc's replies are asserted.

STREAM_21 = v21.messages.NotifyPeriodicEventStreamRequest(
    id=1,
    pending=0,
    basetime=datetime.datetime(2026, 12, 5, 10, tzinfo=datetime.UTC),
    data=[v21.datatypes.StreamDataElementType(t=0, v="7400.0")],
)
OPEN_21 = v21.messages.OpenPeriodicEventStreamRequest(
    constant_stream_data=v21.datatypes.ConstantStreamDataType(
        id=1,
        params=v21.datatypes.PeriodicEventStreamParamsType(interval=15, values=2),
        variable_monitoring_id=7,
    )
)


class Csms21(v21.ChargeSystem):
    """A 2.1 CSMS: boot, heartbeat, the periodic event stream (its SENDs kept), DataTransfer."""

    def __init__(self) -> None:
        self.streamed: list[v21.messages.NotifyPeriodicEventStreamRequest] = []

    def boot_notification(
        self, request: v21.messages.BootNotificationRequest
    ) -> v21.messages.BootNotificationResponse:
        return v21.messages.BootNotificationResponse(
            current_time=now(),
            interval=300,
            status=v21.enums.RegistrationStatusEnumType.ACCEPTED,
        )

    def heartbeat(self, request: v21.messages.HeartbeatRequest) -> v21.messages.HeartbeatResponse:
        return v21.messages.HeartbeatResponse(current_time=now())

    def open_periodic_event_stream(
        self, request: v21.messages.OpenPeriodicEventStreamRequest
    ) -> v21.messages.OpenPeriodicEventStreamResponse:
        return v21.messages.OpenPeriodicEventStreamResponse(
            status=v21.enums.GenericStatusEnumType.ACCEPTED
        )

    def notify_periodic_event_stream(
        self, request: v21.messages.NotifyPeriodicEventStreamRequest
    ) -> None:
        self.streamed.append(request)

    def close_periodic_event_stream(
        self, request: v21.messages.ClosePeriodicEventStreamRequest
    ) -> v21.messages.ClosePeriodicEventStreamResponse:
        return v21.messages.ClosePeriodicEventStreamResponse()

    def data_transfer(
        self, request: v21.messages.DataTransferRequest
    ) -> v21.messages.DataTransferResponse:
        status = v21.enums.DataTransferStatusEnumType
        if request.vendor_id != "GA":
            return v21.messages.DataTransferResponse(status=status.UNKNOWN_VENDOR_ID)
        return v21.messages.DataTransferResponse(
            status=status.ACCEPTED, data=str(request.data)[::-1]
        )


class Station21(v21.Charger):
    """A 2.1 station: 2.1's GetTariffs, GetVariables, DataTransfer (``bye`` the CSMS's last)."""

    def __init__(self) -> None:
        self.bye = asyncio.Event()

    def get_tariffs(
        self, request: v21.messages.GetTariffsRequest
    ) -> v21.messages.GetTariffsResponse:
        return v21.messages.GetTariffsResponse(status=v21.enums.TariffGetStatusEnumType.NO_TARIFF)

    def get_variables(
        self, request: v21.messages.GetVariablesRequest
    ) -> v21.messages.GetVariablesResponse:
        return v21.messages.GetVariablesResponse(
            get_variable_result=[
                v21.datatypes.GetVariableResultType(
                    attribute_status=v21.enums.GetVariableStatusEnumType.ACCEPTED,
                    component=item.component,
                    variable=item.variable,
                    attribute_value="42",
                )
                for item in request.get_variable_data
            ]
        )

    def data_transfer(
        self, request: v21.messages.DataTransferRequest
    ) -> v21.messages.DataTransferResponse:
        if request.message_id == "bye":
            self.bye.set()
        status = v21.enums.DataTransferStatusEnumType
        return v21.messages.DataTransferResponse(
            status=status.ACCEPTED, data=str(request.data)[::-1]
        )


CSMS_CALLS_21 = [
    v21.messages.GetTariffsRequest(evse_id=1),  # 2.1's own
    v21.messages.GetVariablesRequest(
        get_variable_data=[
            v21.datatypes.GetVariableDataType(
                component=v21.datatypes.ComponentType(name="OCPPCommCtrlr"),
                variable=v21.datatypes.VariableType(name="HeartbeatInterval"),
            )
        ]
    ),
    v21.messages.DataTransferRequest(vendor_id="GA", message_id="bye", data="bye"),
]
CSMS_OUTCOMES_21 = [
    ("GetTariffs", {"status": "NoTariff"}),
    GET_VARIABLES_42,
    ("DataTransfer", {"status": "Accepted", "data": "eyb"}),
]
STATION_OUTCOMES_21 = [
    ("BootNotification", {"currentTime": TIME, "interval": 300, "status": "Accepted"}),
    ("Heartbeat", {"currentTime": TIME}),
    ("OpenPeriodicEventStream", {"status": "Accepted"}),
    ("ClosePeriodicEventStream", {}),
    ("DataTransfer", {"status": "Accepted", "data": "olleh"}),
]


def test_ocpp_rpc_21_station_against_our_csms() -> None:
    """ocpp-rpc's station on ocpp2.1: its CALLs (the stream's Open and Close among them) answered
    by our CSMS, its SEND (a raw frame: ocpp-rpc sends none of its own) reaching our handler,
    unanswered, and our CSMS's CALLs, 2.1's GetTariffs first, answered by it."""
    csms = Csms21()

    async def session() -> tuple[dict[str, Any], list[Any]]:
        server = await serve(csms)
        try:
            url = f"ws://127.0.0.1:{server.port}/ocpp"
            async with node_script("client.mjs", url, "ocpp2.1", "session") as js:
                while "JS001" not in server.connections:
                    assert js.returncode is None, await report_of(js)
                    await asyncio.sleep(0.01)
                connection = server.connections["JS001"]
                ours = [
                    (action_of(r), await outcome(lambda q: connection.call(q, timeout=5), r))
                    for r in CSMS_CALLS_21
                ]
                return await report_of(js), ours
        finally:
            await server.close()

    report, ours = run(session)
    assert report["protocol"] == "ocpp2.1"
    assert report["badMessages"] == []  # no reply at all to its SEND: none is due
    # its calls, then the Heartbeat it makes after its SEND (so the SEND was handled before)
    assert js_outcomes(report) == [*STATION_OUTCOMES_21, ("Heartbeat", {"currentTime": TIME})]
    assert [(a, wire(o)) for a, o in ours] == CSMS_OUTCOMES_21
    assert [h["method"] for h in report["handled"]] == [a for a, _ in CSMS_OUTCOMES_21]
    assert [msgspec.to_builtins(s) for s in csms.streamed] == [
        {
            "id": 1,
            "pending": 0,
            "basetime": "2026-12-05T10:00:00Z",
            "data": [{"t": 0, "v": "7400.0"}, {"t": 15, "v": "7380.5"}],
        }
    ]


def test_our_21_station_against_an_ocpp_rpc_csms(caplog: pytest.LogCaptureFixture) -> None:
    """Our station on ocpp2.1 against ocpp-rpc's CSMS: CALLs both ways (2.1's stream calls and
    GetTariffs among them). Its SEND, ocpp-rpc (2.2.1) does not read: it answers a CALLERROR
    ``MessageTypeNotSupported`` of id ``"-1"``, which our side discards with a WARNING saying
    the peer reads no 2.1 SEND; the calls around it go on unharmed."""
    station = Station21()

    async def session() -> tuple[dict[str, Any], list[Any]]:
        async with ocpp_rpc_csms("ocpp2.1", "session") as (js, port):
            client = await connect(station, f"ws://127.0.0.1:{port}/ocpp/PY001")
            try:
                assert client.subprotocol == "ocpp2.1"

                async def call(request: Any) -> Any:
                    return await client.call(request, timeout=5)

                boot = v21.messages.BootNotificationRequest(
                    reason=v21.enums.BootReasonEnumType.POWER_UP,
                    charging_station=v21.datatypes.ChargingStationType(
                        model="InteropPy", vendor_name="ours"
                    ),
                )
                ours = [
                    (action_of(r), await outcome(call, r))
                    for r in (boot, v21.messages.HeartbeatRequest(), OPEN_21)
                ]
                await client.send(STREAM_21)  # [6, ...]: ocpp-rpc answers [4, "-1", ...]
                rest = (
                    v21.messages.ClosePeriodicEventStreamRequest(id=1),  # after that answer
                    v21.messages.DataTransferRequest(vendor_id="GA", data="hello"),
                )
                ours += [(action_of(r), await outcome(call, r)) for r in rest]
                await asyncio.wait_for(station.bye.wait(), NODE_TIMEOUT)  # its last call
            finally:
                await client.close()
            return await report_of(js), ours

    with caplog.at_level(logging.WARNING, logger="ocpp_fast"):
        report, ours = run(session)
    assert report["protocol"] == "ocpp2.1"
    assert [(a, wire(o)) for a, o in ours] == STATION_OUTCOMES_21
    assert js_outcomes(report) == CSMS_OUTCOMES_21
    handled = [h["method"] for h in report["handled"]]
    assert handled == [a for a, _ in STATION_OUTCOMES_21]  # no NotifyPeriodicEventStream
    [refused] = report["badMessages"]  # the SEND, as ocpp-rpc saw it, and its reply
    kind, _, action, payload = json.loads(refused["message"])
    assert (kind, action, payload) == (
        6,
        "NotifyPeriodicEventStream",
        msgspec.to_builtins(STREAM_21),
    )
    assert refused["response"][:3] == [4, "-1", "MessageTypeNotSupported"]
    said = [r.getMessage() for r in caplog.records if "unknown id '-1'" in r.getMessage()]
    assert said == [
        "PY001: discarding a CALLERROR (MessageTypeNotSupported) with unknown id '-1': the peer"
        " reads no OCPP 2.1 SEND ([6, ...]) or CALLRESULTERROR ([5, ...]) frame, so"
        " NotifyPeriodicEventStream does not reach it"
    ], said
