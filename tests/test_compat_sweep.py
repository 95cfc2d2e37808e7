"""A differential sweep of the drop-in: one backend written against ``ocpp``'s API, run on
``ocpp`` 2.1.0 and on ``ocpp_fast.compat``, fed the same corpus, on 1.6, 2.0.1 and 2.1.

Three corpora, each case run on both packages from a fresh ChargePoint:

- :data:`INCOMING`: frames a station sends (valid CALLs of several actions; wrong types,
  missing, extra and overlong fields, bad enums and timestamps; wrong message type ids, no
  array, unknown actions, duplicate ids, responses and error frames of no call) to backends
  whose handlers return valid results, raise each ``OCPPError`` class and others, return
  None, a dict or the wrong dataclass, run ``@after`` hooks, take ``call_unique_id`` or skip
  validation. Compared: the frames sent (an error frame by its type, id and code: the words
  differ by design), what handlers and hooks were handed, how ``route_message`` ended.
- :data:`CALLS`: our ``call()`` answered with valid, invalid and malformed CALLRESULTs and
  CALLERRORs (each code, no details, details that are no object), not answered, with
  ``suppress`` and ``skip_schema_validation``; requests that fail validation. Compared: the
  frames sent and what ``call()`` returned or raised (class and code).
- :data:`SESSIONS`: ``start()`` over a connection whose station answers our CALLs: a
  handler or an ``@after`` hook that awaits ``self.call()``, CALLs one after the other.

Each corpus also runs on a backend set up otherwise (:data:`STYLES`): the calls with a
``_response_queue`` of the backend's own, put there after ``super().__init__()``; the
incoming frames and sessions on a backend whose ``__init__`` sets ``ocpp``'s attributes
itself (its own queue among them) and calls no ``super().__init__()``. What is left in the
backend's own queue is compared too.

Every outcome is the same on both, or differs as :data:`DELIBERATE` says: the migration
guide's row that lists the difference (checked to be in the docs) and what the drop-in
does instead, asserted. A difference listed nowhere fails the sweep, so does a listed one
that no longer differs (the table stays live). Bounded: 2,664 runs, about 20 seconds.

Found by it and fixed (each failed here before): a CALLERROR to our ``call()`` whose
details were no object (or whose description was no string) was answered with a CALLERROR
of our own and the call waited out its timeout, where ``ocpp`` hands it to the call; a
malformed error frame or CALLRESULT of no call was answered with a CALLERROR (the native
API and the spec discard it); a CALLRESULT of 2 elements to our call left it waiting; a
CALLRESULT holding ``NaN`` whose id was a list raised TypeError out of ``route_message``
(so out of ``start()``), where ``ocpp`` reads it and the spec answers it as no JSON; a
CALLRESULT to our call nested deeper than the codec reads was answered with a CALLERROR of
id "-1", the call left waiting out its timeout; a CALLRESULT of no call holding ``NaN`` was
answered with a CALLERROR of id "-1" (``ocpp`` reads it and discards it, as the spec does a
CALLRESULT of an unknown id); a backend whose ``__init__`` calls no ``super().__init__()``
raised AttributeError (the drop-in's own state) on its first response and in ``start()``;
responses never reached a ``_response_queue`` the backend set itself, so a backend reading
it waited forever, and our ``call()`` ignored it; a CALLERROR holding ``NaN`` (as ``ocpp``
writes a float NaN) was answered with a CALLERROR of id "-1" and its call waited out its
timeout, where ``ocpp`` hands it to the call; a ``call()`` given a dict sent it unvalidated
as an action ``dict`` (``ocpp`` raises TypeError).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ocpp.exceptions
import pytest
from compat_pair import MODULES, Sink, ocpp_validating_inline
from ocpp.routing import after, create_route_map, on

LABELS = list(MODULES)
NOW = "2026-12-04T02:00:00Z"
GUIDE = Path(__file__).parent.parent / "docs" / "explanation" / "compat-differences.md"

_SPELLING_16 = {"FormatViolation": "FormationViolation"}
_SPELLING_16 |= {"OccurrenceConstraintViolation": "OccurenceConstraintViolation"}
_SPELLING_16 |= {"RpcFrameworkError": "FormationViolation"}


def spelt(label: str, code: str) -> str:
    """A code as the version spells it (the 2.x spelling given)."""
    if label == "1.6":
        return _SPELLING_16.get(code, code)
    return {v: k for k, v in _SPELLING_16.items() if k != "RpcFrameworkError"}.get(code, code)


@pytest.fixture(autouse=True)
def _inline_validation() -> Iterator[None]:
    with ocpp_validating_inline():
        yield


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    """Both log every refusal (ocpp with a traceback): hundreds of lines nobody reads here."""
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _module(package: str, label: str, name: str) -> Any:
    return importlib.import_module(f"{package}.{MODULES[label]}.{name}")


def _results(label: str) -> Any:
    return _module("ocpp", label, "call_result")


def _requests(label: str) -> Any:
    return _module("ocpp", label, "call")


# --- the backend: one class body, two bases ---------------------------------------------

HANDLER_NAMES = {
    "BootNotification": "on_boot_notification",
    "Heartbeat": "on_heartbeat",
    "Authorize": "on_authorize",
    "DataTransfer": "on_data_transfer",
    "StatusNotification": "on_status_notification",
    "MeterValues": "on_meter_values",
}
"""The actions the backend handles, by the name of its handler (``ocpp`` routes by name)."""


def _valid_reply(self: Any, action: str) -> Any:
    results = _results(self.label)
    if action == "BootNotification":
        return results.BootNotification(current_time=NOW, interval=300, status="Accepted")
    if action == "Heartbeat":
        return results.Heartbeat(current_time=NOW)
    if action == "Authorize":
        if self.label == "1.6":
            return results.Authorize(id_tag_info={"status": "Accepted"})
        return results.Authorize(id_token_info={"status": "Accepted"})
    if action == "DataTransfer":
        return results.DataTransfer(status="Accepted")
    return getattr(results, action)()  # StatusNotification, MeterValues: no field required


_ERRORS = {
    cls.__name__: cls
    for cls in ocpp.exceptions.OCPPError.__subclasses__()
    if cls.__module__ == "ocpp.exceptions"  # not another test's own
}


def _odd_reply(self: Any, kind: str) -> Any:
    """What a Heartbeat handler of ``kind`` does instead of answering well."""
    results = _results(self.label)
    what, _, arg = kind.partition(":")
    if what == "raise":
        if arg in _ERRORS:
            raise _ERRORS[arg]()
        raise {"ValueError": ValueError, "KeyError": KeyError, "TypeError": TypeError}[arg]("x")
    if what == "raise-odd":
        raise {
            "details-str": ocpp.exceptions.GenericError(details="str"),
            "description-int": ocpp.exceptions.GenericError(description=5),
            "details-nested": ocpp.exceptions.InternalError(details={"a": [1, {"b": None}]}),
            "own-code": type("Busy", (ocpp.exceptions.OCPPError,), {"code": "Busy"})(),
        }[arg]
    return {
        "None": None,
        "dict": {"current_time": NOW},
        "wrong-dataclass": results.DataTransfer(status="Accepted"),
        "bad-type": results.Heartbeat(current_time=5),
        "naive-time": results.Heartbeat(current_time="2026-12-04T02:00:00"),
        "no-time": results.Heartbeat(current_time="yesterday"),
    }[arg]


def _handler(action: str, kind: str) -> Any:
    odd = action == "Heartbeat" and kind.partition(":")[0] in ("raise", "raise-odd", "return")

    def with_id(self: Any, call_unique_id: Any, **kwargs: Any) -> Any:
        self.seen.append((action, {"id": call_unique_id, **kwargs}))
        return _valid_reply(self, action)

    async def calling_back(self: Any, **kwargs: Any) -> Any:
        self.seen.append((action, kwargs))
        try:
            result = await self.call(_requests(self.label).Reset(**RESETS[self.label]))
        except TimeoutError:
            self.seen.append(("Reset", "timed out"))
            raise
        self.seen.append(("Reset", result.status))
        return _valid_reply(self, action)

    async def awaiting(self: Any, **kwargs: Any) -> Any:
        self.seen.append((action, kwargs))
        await asyncio.sleep(0)
        return _valid_reply(self, action)

    def no_kwargs(self: Any) -> Any:  # a payload with any field is a TypeError
        self.seen.append((action, {}))
        return _valid_reply(self, action)

    def plain(self: Any, **kwargs: Any) -> Any:
        self.seen.append((action, kwargs))
        return _odd_reply(self, kind) if odd else _valid_reply(self, action)

    handler: Any = plain
    if action == "Heartbeat" and kind == "call_unique_id":
        handler = with_id
    elif action == "BootNotification" and kind == "calls-back":
        handler = calling_back
    elif action == "Heartbeat" and kind == "async":
        handler = awaiting
    elif action == "DataTransfer" and kind == "no-kwargs":
        handler = no_kwargs
    handler.__name__ = handler.__qualname__ = HANDLER_NAMES[action]
    return handler


def _after_hook(how: str) -> Any:
    if how == "async":

        async def hook(self: Any, **kwargs: Any) -> None:
            self.seen.append(("after_async", kwargs))

    elif how == "keyerror":

        def hook(self: Any, **kwargs: Any) -> None:  # type: ignore[misc]
            self.seen.append(("after_keyerror", kwargs))
            raise KeyError("not there")

    elif how == "raises":

        def hook(self: Any, **kwargs: Any) -> None:  # type: ignore[misc]
            self.seen.append(("after_raises", kwargs))
            raise ValueError("a bug in the hook")

    elif how == "call_unique_id":

        def hook(self: Any, call_unique_id: Any, **kwargs: Any) -> None:  # type: ignore[misc]
            self.seen.append(("after", {"id": call_unique_id, **kwargs}))

    else:

        def hook(self: Any, **kwargs: Any) -> None:  # type: ignore[misc]
            self.seen.append(("after", kwargs))

    hook.__name__ = hook.__qualname__ = "after_heartbeat"
    return hook


STYLES = ("ocpp's __init__", "own queue", "no super().__init__()")
"""How the backend sets itself up: ``super().__init__()``; that, then its own
``_response_queue`` (an ``asyncio.Queue``, as backends replace it on reconnect); or
``ocpp``'s attributes set by its own ``__init__``, which calls no ``super().__init__()``
(its own queue among them), as some backends do."""


def _bare_init(self: Any, id: str, connection: Any, response_timeout: float = 30) -> None:
    """What ``ocpp``'s ``__init__`` sets, set by the backend's own: no ``super().__init__()``."""
    self.id = id
    self._response_timeout = response_timeout
    self._connection = connection
    self.route_map = create_route_map(self)
    self._call_lock = asyncio.Lock()
    self._response_queue = asyncio.Queue()
    self._unique_id_generator = uuid.uuid4
    self.logger = logging.getLogger("ocpp")


def backend_body(kind: str, style: str = STYLES[0]) -> dict[str, Any]:
    """The class body of a backend written against ``ocpp``'s API, of ``kind``, set up
    as ``style`` (one of :data:`STYLES`) says."""
    body: dict[str, Any] = {}
    for action, name in HANDLER_NAMES.items():
        skip = kind == "skip" and action == "DataTransfer"
        body[name] = on(action, skip_schema_validation=skip)(_handler(action, kind))
    if kind.startswith("after:"):
        body["after_heartbeat"] = after("Heartbeat")(_after_hook(kind.partition(":")[2]))
    if kind == "after-calls":

        async def after_boot_notification(self: Any, **kwargs: Any) -> None:
            result = await self.call(_requests(self.label).Reset(**RESETS[self.label]))
            self.seen.append(("Reset", result.status))

        body["after_boot_notification"] = after("BootNotification")(after_boot_notification)
    if kind == "skip":  # a vendor's own action, routed unvalidated by both

        def on_acme_reboot(self: Any, **kwargs: Any) -> Any:
            self.seen.append(("AcmeReboot", kwargs))
            return _results(self.label).DataTransfer(status="Accepted")

        body["on_acme_reboot"] = on("AcmeReboot", skip_schema_validation=True)(on_acme_reboot)

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        if style == STYLES[2]:
            _bare_init(self, *args, **kwargs)
        else:
            super(type(self), self).__init__(*args, **kwargs)
        if style == STYLES[1]:
            self._response_queue = asyncio.Queue()
        self.seen = []
        self.label = self._ocpp_version

    body["__init__"] = init
    return body


_classes: dict[tuple[str, str, str], tuple[type[Any], type[Any]]] = {}


def pair(label: str, kind: str, style: str = STYLES[0]) -> tuple[type[Any], type[Any]]:
    """``(on ocpp, on the drop-in)``: the same backend body on each package's class."""
    key = (label, kind, style)
    if key not in _classes:
        theirs = importlib.import_module(f"ocpp.{MODULES[label]}").ChargePoint
        ours = importlib.import_module(f"ocpp_fast.compat.{MODULES[label]}").ChargePoint
        _classes[key] = (
            type("Theirs", (theirs,), backend_body(kind, style)),
            type("Ours", (ours,), backend_body(kind, style)),
        )
    return _classes[key]


def _queued(charge_point: Any, style: str) -> list[Any]:
    """What is left in the backend's own ``_response_queue``: ``[kind, id, payload or code]``
    per response (none compared with ``ocpp``'s __init__: the drop-in's queue is its own)."""
    if style == STYLES[0]:
        return []
    left = []
    queue = charge_point._response_queue
    while not queue.empty():
        item = queue.get_nowait()
        content = getattr(item, "payload", None) or getattr(item, "error_code", None)
        left.append([type(item).__name__, item.unique_id, repr(content)])
    return left


# --- incoming frames ---------------------------------------------------------------------

BOOT = {"chargePointVendor": "V", "chargePointModel": "M"}
BOOT_2X = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}
STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": NOW}
STATUS_2X = {"timestamp": NOW, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
METER = {"connectorId": 1, "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": "1"}]}]}
METER_2X = {"evseId": 1, "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": 1.5}]}]}
AUTHORIZE = {"idTag": "ABC"}
AUTHORIZE_2X = {"idToken": {"idToken": "ABC", "type": "ISO14443"}}
DATA = {"vendorId": "acme", "messageId": "m", "data": "x"}
DATA_2X = {"vendorId": "acme", "messageId": "m", "data": {"aB": [1, {"cD": None}]}}
UNHANDLED: dict[str, tuple[str, Any]] = {
    label: ("FirmwareStatusNotification", {"status": "Installed"}) for label in LABELS
}
"""An action the station sends that the backend has no handler for."""
WRONG_WAY: dict[str, tuple[str, Any]] = {
    label: ("Reset", {"type": "Hard" if label == "1.6" else "Immediate"}) for label in LABELS
}
"""An action the CSMS sends, sent by the station."""


def _payloads(label: str) -> dict[str, Any]:
    two = label != "1.6"
    return {
        "BootNotification": BOOT_2X if two else BOOT,
        "StatusNotification": STATUS_2X if two else STATUS,
        "MeterValues": METER_2X if two else METER,
        "Authorize": AUTHORIZE_2X if two else AUTHORIZE,
        "DataTransfer": DATA_2X if two else DATA,
        "Heartbeat": {},
    }


def _call(action: str, payload: Any, unique_id: Any = "m1") -> str:
    return json.dumps([2, unique_id, action, payload])


def _with(label: str, action: str, **changes: Any) -> str:
    """A CALL of ``action`` whose payload has ``changes`` (``parent__key`` for a nested
    key; None removes it)."""
    payload = json.loads(json.dumps(_payloads(label)[action]))
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = payload
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is None:
            del target[leaf]
        else:
            target[leaf] = value
    return _call(action, payload)


def _status_field(label: str) -> str:
    return "connectorStatus" if label != "1.6" else "status"


def _too_long(label: str) -> str:
    if label == "1.6":
        return _with(label, "BootNotification", chargePointVendor="V" * 21)
    return _with(label, "BootNotification", chargingStation__vendorName="V" * 51)


Frames = Callable[[str], list[Any]]


def _valid_call(action: str) -> Frames:
    return lambda label: [_call(action, _payloads(label)[action])]


INCOMING: dict[str, tuple[str, Frames]] = {
    # valid CALLs, each action handled
    **{f"valid {action}": ("plain", _valid_call(action)) for action in HANDLER_NAMES},
    "valid, integer id": ("plain", lambda label: [_call("Heartbeat", {}, 7)]),
    "valid, binary frame": ("plain", lambda label: [_call("Heartbeat", {}).encode()]),
    "valid, non-ASCII text": (
        "plain",
        lambda label: [_with(label, "DataTransfer", vendorId="acmé")],
    ),
    "valid, naive timestamp": (
        "plain",
        lambda label: [_with(label, "StatusNotification", timestamp="2026-12-04T02:00:00")],
    ),
    "valid, no timestamp at all": (
        "plain",
        lambda label: [_with(label, "StatusNotification", timestamp="yesterday")],
    ),
    "valid, twice the same id": ("plain", lambda label: [_call("Heartbeat", {})] * 2),
    "valid, a key twice": (
        "plain",
        lambda label: ['[2,"m1","DataTransfer",{"vendorId":"a","vendorId":"b"}]'],
    ),
    "valid, whitespace around": ("plain", lambda label: [' [ 2 , "m1" , "Heartbeat" , { } ] ']),
    "valid, an emoji escaped": (
        "plain",
        lambda label: ['[2,"m1","DataTransfer",{"vendorId":"\\ud83d\\ude00"}]'],
    ),
    "valid, 1e2 for an integer": (
        "plain",
        lambda label: [
            _with(label, "StatusNotification", connectorId=100.0).replace("100.0", "1e2")
        ],
    ),
    "an integer beyond 64 bits": (
        "plain",
        lambda label: [_with(label, "StatusNotification", connectorId=2**70)],
    ),
    "a negative integer": (
        "plain",
        lambda label: [_with(label, "StatusNotification", connectorId=-1)],
    ),
    "an empty action": ("plain", lambda label: [_call("", {})]),
    # payloads that break the schema
    "wrong type": ("plain", lambda label: [_with(label, "StatusNotification", connectorId="1")]),
    "timestamp of the wrong type": (
        "plain",
        lambda label: [_with(label, "StatusNotification", timestamp=5)],
    ),
    "missing required field": (
        "plain",
        lambda label: [_with(label, "StatusNotification", connectorId=None)],
    ),
    "extra field": ("plain", lambda label: [_with(label, "Heartbeat", acme=1)]),
    "bad enum": (
        "plain",
        lambda label: [_with(label, "StatusNotification", **{_status_field(label): "Nope"})],
    ),
    "overlong string": ("plain", lambda label: [_too_long(label)]),
    "empty list under minItems": (
        "plain",
        lambda label: [_with(label, "MeterValues", meterValue=[])],
    ),
    "payload no object": ("plain", lambda label: [_call("Heartbeat", [])]),
    "payload null": ("plain", lambda label: [_call("Heartbeat", None)]),
    # frames
    "unknown action": ("plain", lambda label: [_call("AcmeReboot", {})]),
    "known action, no handler": ("plain", lambda label: [_call(*UNHANDLED[label])]),
    "action of the other side": ("plain", lambda label: [_call(*WRONG_WAY[label])]),
    "action no string": ("plain", lambda label: ['[2,"m1",5,{}]']),
    "message type as a string": ("plain", lambda label: ['["2","m1","Heartbeat",{}]']),
    "message type 7": ("plain", lambda label: ['[7,"m1","Heartbeat",{}]']),
    "message type 0": ("plain", lambda label: ['[0,"m1","Heartbeat",{}]']),
    "message type 2.0": ("plain", lambda label: ['[2.0,"m1","Heartbeat",{}]']),
    "binary frame opening with a BOM": (
        "plain",
        lambda label: [b"\xef\xbb\xbf" + _call("Heartbeat", {}).encode()],
    ),
    "binary frame in UTF-16": ("plain", lambda label: [_call("Heartbeat", {}).encode("utf-16")]),
    "CALL of 5 elements": ("plain", lambda label: ['[2,"m1","Heartbeat",{},{}]']),
    "CALL of 3 elements": ("plain", lambda label: ['[2,"m1","Heartbeat"]']),
    "an object": ("plain", lambda label: ['{"messageTypeId":2}']),
    "a string": ("plain", lambda label: ['"[2]"']),
    "an empty array": ("plain", lambda label: ["[]"]),
    "not JSON": ("plain", lambda label: ['[2,"m1","Heartbeat",{]']),
    "not UTF-8": ("plain", lambda label: [b'[2,"m1","DataTransfer",{"vendorId":"\xff"}]']),
    "id null": ("plain", lambda label: [_call("Heartbeat", {}, None)]),
    "id a float": ("plain", lambda label: [_call("Heartbeat", {}, 1.5)]),
    "id a list": ("plain", lambda label: [_call("Heartbeat", {}, [1])]),
    "id of 37 characters": ("plain", lambda label: [_call("Heartbeat", {}, "i" * 37)]),
    "no JSON to the spec (NaN), id a list": ("plain", lambda label: ['[3,[1],{"a":NaN}]']),
    "CALLRESULT of no call": ("plain", lambda label: ['[3,"zz",{"status":"Accepted"}]']),
    "CALLERROR of no call": ("plain", lambda label: ['[4,"zz","GenericError","d",{}]']),
    "CALLRESULT of 2 elements, no call": ("plain", lambda label: ['[3,"zz"]']),
    "no JSON to the spec (NaN), CALLRESULT of no call": (
        "plain",
        lambda label: ['[3,"zz",{"a":NaN}]'],
    ),
    "CALLERROR of 3 elements, no call": ("plain", lambda label: ['[4,"zz","GenericError"]']),
    "CALLRESULT of 4 elements, no call": ("plain", lambda label: ['[3,"zz",{},"Reset"]']),
    "no JSON to the spec (NaN), CALLERROR of no call": (
        "plain",
        lambda label: ['[4,"zz","GenericError","d",{"a":NaN}]'],
    ),
    "CALLERROR with string details, no call": (
        "plain",
        lambda label: ['[4,"zz","GenericError","d","x"]'],
    ),
    "CALLRESULTERROR of no call": ("plain", lambda label: ['[5,"zz","GenericError","d",{}]']),
    "malformed CALLRESULTERROR": ("plain", lambda label: ['[5,"zz","GenericError"]']),
    "SEND": ("plain", lambda label: ['[6,"s1","Heartbeat",{}]']),
    # handlers
    **{
        f"handler raises {name}": (f"raise:{name}", lambda label: [_call("Heartbeat", {})])
        for name in [*_ERRORS, "ValueError", "KeyError", "TypeError"]
    },
    **{
        f"handler raises an error with {name}": (
            f"raise-odd:{name}",
            lambda label: [_call("Heartbeat", {})],
        )
        for name in ["details-str", "description-int", "details-nested", "own-code"]
    },
    **{
        f"handler returns {name}": (f"return:{name}", lambda label: [_call("Heartbeat", {})])
        for name in ["None", "dict", "wrong-dataclass", "bad-type", "naive-time", "no-time"]
    },
    **{
        f"@after hook {how}": (f"after:{how}", lambda label: [_call("Heartbeat", {})] * 2)
        for how in ["plain", "async", "keyerror", "raises", "call_unique_id"]
    },
    "handler takes call_unique_id": (
        "call_unique_id",
        lambda label: [_call("Heartbeat", {}), _call("Heartbeat", {}, 9)],
    ),
    "async handler": ("async", lambda label: [_call("Heartbeat", {})]),
    "handler takes no field sent": (
        "no-kwargs",
        lambda label: [_call("DataTransfer", {"vendorId": "acme"}), _call("Heartbeat", {})],
    ),
    "skip_schema_validation, invalid payload": (
        "skip",
        lambda label: [_call("DataTransfer", {"vendorId": 5, "aB": {"cD": 1}})],
    ),
    "skip_schema_validation, a vendor action": (
        "skip",
        lambda label: [_call("AcmeReboot", {"delayS": 1})],
    ),
}


def _sent(frames: list[str]) -> list[Any]:
    """Sent frames as JSON; an error frame as its type, id and code (its words differ)."""
    out = []
    for frame in frames:
        try:
            value = json.loads(frame)
        except ValueError:
            out.append(["no JSON", frame])
            continue
        if value[0] in (4, 5):  # the words aside, whether they are a string and an object
            value = [*value[:3], *(type(part).__name__ for part in value[3:])]
        out.append(value)
    return out


async def _feed(
    cls: type[Any], frames: list[Any], style: str
) -> tuple[list[Any], list[str], list[Any], list[Any]]:
    sink = Sink()
    charge_point = cls("CP-1", sink)
    ended = []
    for frame in frames:
        try:
            await asyncio.wait_for(charge_point.route_message(frame), 5)
            ended.append("returned")
        except Exception as error:
            ended.append(type(error).__name__)
        for _ in range(3):  # scheduled @after coroutines run
            await asyncio.sleep(0)
    return _sent(sink.sent), ended, charge_point.seen, _queued(charge_point, style)


def incoming_outcomes(name: str, label: str, style: str = STYLES[0]) -> tuple[Any, Any]:
    """``(ocpp's, the drop-in's)`` outcome of one case of :data:`INCOMING`: the frames sent,
    how each ``route_message`` ended, what handlers saw (and what is left in the backend's
    own queue)."""
    kind, frames = INCOMING[name]
    theirs_class, ours_class = pair(label, kind, style)
    theirs = asyncio.run(_feed(theirs_class, frames(label), style))
    ours = asyncio.run(_feed(ours_class, frames(label), style))
    return theirs, ours


# --- the differences the guide lists ------------------------------------------------------


def _answered(label: str, unique_id: str, code: str, seen: list[Any] | None = None) -> Any:
    """The drop-in's outcome: one error frame of the spec's code, the handler handed ``seen``."""
    return ([[4, unique_id, spelt(label, code), "str", "dict"]], ["returned"], seen or [])


def _malformed(unique_id: str) -> Callable[[str], Any]:
    return lambda label: _answered(label, unique_id, "RpcFrameworkError")


def _as_code(code: str, seen: list[Any] | None = None) -> Callable[[str], Any]:
    return lambda label: _answered(label, "m1", code, seen)


HEARTBEAT_SEEN: list[Any] = [("Heartbeat", {})]


def _status_100(label: str) -> dict[str, Any]:
    """What a StatusNotification handler is handed for ``"connectorId": 1e2`` (an int: the sweep
    compares with ``==``, where ``100 == 100.0``; test_compat_sweep_leftovers checks the type)."""
    names = {"evseId": "evse_id", "connectorId": "connector_id"}
    names |= {"connectorStatus": "connector_status", "timestamp": "timestamp"}
    return {names[key]: value for key, value in STATUS_2X.items()} | {"connector_id": 100}


DELIBERATE: dict[str, tuple[str, Callable[[str], Any]]] = {
    "missing required field": (
        "| missing required field |",
        _as_code("OccurrenceConstraintViolation"),
    ),
    "extra field": ("| unknown field on 1.6 |", _as_code("FormatViolation")),
    "bad enum": ("| enum, minimum/maximum, multipleOf |", _as_code("PropertyConstraintViolation")),
    "overlong string": ("| maxLength |", _as_code("PropertyConstraintViolation")),
    "empty list under minItems": (
        "| minItems/maxItems |",
        _as_code("OccurrenceConstraintViolation"),
    ),
    "unknown action": ("| unknown action |", _as_code("NotImplemented")),
    "an empty action": ("| unknown action |", _as_code("NotImplemented")),
    "a negative integer": (  # 2.1 alone has minimum 0 on connectorId
        "| enum, minimum/maximum, multipleOf |",
        lambda label: _as_code("PropertyConstraintViolation")(label) if label == "2.1" else None,
    ),
    "valid, 1e2 for an integer": (
        "the handler handed an int (`1`, `100` for `1e2`) where the schema says integer",
        lambda label: (
            _answered(label, "m1", "TypeConstraintViolation")  # 1.6 core is draft-04
            if label == "1.6"
            else ([[3, "m1", {}]], ["returned"], [("StatusNotification", _status_100(label))])
        ),
    ),
    "known action, no handler": ("| known action, no handler |", _as_code("NotSupported")),
    "action of the other side": ("| known action, no handler |", _as_code("NotSupported")),
    "action no string": ("an action that is no string", _malformed("m1")),
    "message type as a string": ("a message type that is no integer", _malformed("-1")),
    "CALL of 5 elements": ("wrong element count", _malformed("m1")),
    "CALL of 3 elements": ("wrong element count", _malformed("m1")),
    "an object": ("not an array", _malformed("-1")),
    "a string": ("not an array", _malformed("-1")),
    "an empty array": ("a message type that is no integer", _malformed("-1")),
    "not JSON": ("| malformed frame (not JSON", _malformed("-1")),
    "not UTF-8": ("| malformed frame (not JSON", _malformed("-1")),
    "no JSON to the spec (NaN), id a list": ("| malformed frame (not JSON", _malformed("-1")),
    "message type 2.0": ("a message type of `2.0` is handled as 2", _malformed("m1")),
    "binary frame opening with a BOM": ("opening with a UTF-8 BOM is decoded", _malformed("m1")),
    "binary frame in UTF-16": ("a binary frame in UTF-16 or UTF-32", _malformed("m1")),
    "id null": ("an id that is no string", _malformed("-1")),
    "id a float": ("an id that is no string", _malformed("-1")),
    "id a list": ("an id that is no string", _malformed("-1")),
    "id of 37 characters": ("or is over 36 characters", _malformed("-1")),
    "message type 7": (
        "| an unknown message type number",
        lambda label: (
            _answered(label, "m1", "MessageTypeNotSupported")
            if label == "2.0.1"
            else ([], ["returned"], [])
        ),
    ),
    "message type 0": (
        "| an unknown message type number",
        lambda label: DELIBERATE["message type 7"][1](label),
    ),
    "CALLRESULTERROR of no call": (
        "| an unknown message type number",
        lambda label: (
            _answered(label, "zz", "MessageTypeNotSupported")
            if label == "2.0.1"
            else ([], ["returned"], [])
        ),
    ),
    "malformed CALLRESULTERROR": (
        "| an unknown message type number",
        lambda label: DELIBERATE["CALLRESULTERROR of no call"][1](label),
    ),
    "SEND": (
        "| 2.1 SEND, CALLRESULTERROR |",
        lambda label: ([], ["returned"], HEARTBEAT_SEEN if label == "2.1" else []),
    ),
    **{
        f"handler raises {cls}Error": (
            "another version's spelling",
            _as_code(code, HEARTBEAT_SEEN),
        )
        for cls, code in [
            ("FormatViolation", "FormatViolation"),
            ("FormationViolation", "FormatViolation"),
            ("OccurenceConstraintViolation", "OccurrenceConstraintViolation"),
            ("OccurrenceConstraintViolation", "OccurrenceConstraintViolation"),
        ]
    },
    "handler raises an error with own-code": (
        "whose `code` is not in the spec's table",
        _as_code("GenericError", HEARTBEAT_SEEN),
    ),
    "handler raises an error with details-str": (
        "whose details are no JSON object",
        _as_code("GenericError", HEARTBEAT_SEEN),
    ),
    "handler raises an error with description-int": (
        "a description that is no string",
        _as_code("GenericError", HEARTBEAT_SEEN),
    ),
    "handler returns None": (
        "| a handler returns something else than a dataclass",
        _as_code("InternalError", HEARTBEAT_SEEN),
    ),
    "handler returns dict": (
        "| a handler returns something else than a dataclass",
        _as_code("InternalError", HEARTBEAT_SEEN),
    ),
    "handler returns wrong-dataclass": (
        "| a handler's response breaks the schema |",
        _as_code("InternalError", HEARTBEAT_SEEN),
    ),
    "handler returns bad-type": (
        "| a handler's response breaks the schema |",
        _as_code("InternalError", HEARTBEAT_SEEN),
    ),
}
"""Case -> (the guide's words for the difference, the drop-in's outcome per version, None
where it is ``ocpp``'s).

Each is one of: ``ocpp`` sends a code the spec table contradicts (its mapping of schema
keywords, NotSupported and NotImplemented swapped, 2.x spellings on 1.6); ``ocpp`` sends
nothing where the table asks for an answer (malformed frames, unknown message types on
2.0.1), or handles a frame the table refuses (ids that are no string); or the drop-in
improves on a failure of ``ocpp`` (a handler's result it cannot send raised TypeError out
of ``route_message``; an invalid one was answered as if the station erred)."""

GUIDE_TEXT = GUIDE.read_text()

NOT_QUEUED = {"no JSON to the spec (NaN), id a list": "whose id is no string or is over 36"}
"""Case -> the guide's words: a response ``ocpp`` puts in the backend's own queue, the
drop-in refuses as a malformed frame (answered, as :data:`DELIBERATE` says)."""


@pytest.mark.parametrize("style", [STYLES[0], STYLES[2]])
@pytest.mark.parametrize("name", list(INCOMING))
def test_incoming(name: str, style: str) -> None:
    outcomes = {}
    for label in LABELS:
        theirs, ours = incoming_outcomes(name, label, style)
        if name in NOT_QUEUED and style != STYLES[0]:
            assert NOT_QUEUED[name] in GUIDE_TEXT, f"the guide lists no {NOT_QUEUED[name]!r}"
            assert (ours[3], theirs[3] != []) == ([], True), label
        else:
            assert ours[3] == theirs[3], (label, "left in the backend's queue")
        outcomes[label] = theirs[:3], ours[:3]
    if name not in DELIBERATE:
        for label, (theirs, ours) in outcomes.items():
            assert ours == theirs, (label, theirs, ours)
        return
    words, expected = DELIBERATE[name]
    assert words in GUIDE_TEXT, f"the guide lists no {words!r}"
    for label, (theirs, ours) in outcomes.items():
        wanted = expected(label)
        assert ours == (theirs if wanted is None else wanted), (label, ours)
    assert any(theirs != ours for theirs, ours in outcomes.values()), "no difference left"


# --- our call() and its answers -----------------------------------------------------------

RESETS = {"1.6": {"type": "Hard"}, "2.0.1": {"type": "Immediate"}, "2.1": {"type": "Immediate"}}
OK = '[3,"u1",{"status":"Accepted"}]'
CODES = ["NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError"]
CODES += ["FormatViolation", "FormationViolation", "PropertyConstraintViolation"]
CODES += ["OccurenceConstraintViolation", "OccurrenceConstraintViolation"]
CODES += ["TypeConstraintViolation", "GenericError", "RpcFrameworkError"]
CODES += ["MessageTypeNotSupported", "AcmeBusy"]

ANSWERS: dict[str, list[str]] = {
    "accepted": [OK],
    "accepted after an answer of another id": ['[3,"zz",{"status":"Rejected"}]', OK],
    "accepted after an error of another id": ['[4,"zz","GenericError","d",{}]', OK],
    "accepted, vendor keys in customData": [
        '[3,"u1",{"status":"Accepted","customData":{"vendorId":"v","acmeKey":{"subKey":1}}}]'
    ],
    "missing required field": ['[3,"u1",{}]'],
    "extra field": ['[3,"u1",{"status":"Accepted","acme":1}]'],
    "bad enum": ['[3,"u1",{"status":"Nope"}]'],
    "wrong type": ['[3,"u1",{"status":5}]'],
    "payload no object": ['[3,"u1",[]]'],
    "payload null": ['[3,"u1",null]'],
    "no JSON to the spec (NaN)": ['[3,"u1",{"status":NaN}]'],
    "CALLRESULT of 2 elements": ['[3,"u1"]'],
    "CALLRESULT of 4 elements": ['[3,"u1",{"status":"Accepted"},"Reset"]'],
    "CALLRESULT nested too deeply": [
        '[3,"u1",{"status":"Accepted","customData":' + "[" * 3500 + "]" * 3500 + "}]"
    ],
    **{f"CALLERROR {code}": [f'[4,"u1","{code}","d",{{"a":1}}]'] for code in CODES},
    "CALLERROR without details": ['[4,"u1","GenericError","d"]'],
    "CALLERROR with null details": ['[4,"u1","GenericError","d",null]'],
    "CALLERROR with string details": ['[4,"u1","GenericError","d","x"]'],
    "CALLERROR with a description no string": ['[4,"u1","GenericError",5,{}]'],
    "CALLERROR with a code no string": ['[4,"u1",5,"d",{}]'],
    "CALLERROR of 6 elements": ['[4,"u1","GenericError","d",{},1]'],
    "no JSON to the spec (NaN), CALLERROR": ['[4,"u1","GenericError","d",{"a":NaN}]'],
    "no answer": [],
}
"""Answers to our ``call()`` of a valid Reset, its id ``u1``."""

CALL_OPTIONS = {"default": {}, "suppress=False": {"suppress": False}}
CALL_OPTIONS |= {"skip_schema_validation": {"skip_schema_validation": True}}


class _Station(Sink):
    """A connection that says when something was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.wrote = asyncio.Event()

    async def send(self, message: str) -> None:
        await super().send(message)
        self.wrote.set()


SHORT_TIMEOUT = 0.05
"""``call()``'s timeout in the sweep: an answer that no call takes costs this long."""

LONG_TIMEOUT = 1.0
"""The timeout of a second run where one package's call timed out and the other's returned: a loaded
machine can hold a process longer than :data:`SHORT_TIMEOUT` between the CALL's write and
its answer's routing (seen once in CI: ``ocpp``'s call timed out where the drop-in's got its
answer), which says nothing of either package."""


async def _call_once(
    cls: type[Any],
    request: Any,
    answers: list[str],
    options: dict[str, Any],
    style: str,
    timeout: float = SHORT_TIMEOUT,
) -> tuple[list[Any], Any]:
    station = _Station()
    charge_point = cls("CP-1", station, response_timeout=timeout)
    charge_point._unique_id_generator = lambda: "u1"
    calling = asyncio.ensure_future(charge_point.call(request, **options))
    if answers:
        await asyncio.wait(
            [calling, asyncio.ensure_future(station.wrote.wait())],
            timeout=5,
            return_when=asyncio.FIRST_COMPLETED,
        )
        for answer in answers:
            try:
                await charge_point.route_message(answer)
            except Exception as error:  # ocpp's, for a frame its json.loads cannot read
                station.sent.append(json.dumps(["route_message raised", type(error).__name__]))
    outcome: Any
    try:
        result = await asyncio.wait_for(calling, 5)
    except Exception as error:
        outcome = ("raised", type(error).__name__, getattr(error, "code", None))
    else:
        if dataclasses.is_dataclass(result) and not isinstance(result, type):
            outcome = ("returned", type(result).__name__, dataclasses.asdict(result))
        else:
            outcome = ("returned", result)
    # what is left in the backend's own queue, as a frame sent: one list to compare
    return _sent(station.sent) + _queued(charge_point, style), outcome


def call_outcomes(
    label: str, answer: str, option: str, request: Any = None, style: str = STYLES[0]
) -> tuple[Any, Any]:
    """``(ocpp's, the drop-in's)`` outcome of our ``call()`` answered with ``ANSWERS[answer]``."""
    theirs_class, ours_class = pair(label, "plain", style)
    if request is None:
        request = _requests(label).Reset(**RESETS[label])
    answers, options = ANSWERS[answer], CALL_OPTIONS[option]
    theirs = asyncio.run(_call_once(theirs_class, request, answers, options, style))
    ours = asyncio.run(_call_once(ours_class, request, answers, options, style))
    if (_timed_out(theirs) and _returned(ours)) or (_timed_out(ours) and _returned(theirs)):
        theirs = asyncio.run(
            _call_once(theirs_class, request, answers, options, style, LONG_TIMEOUT)
        )
        ours = asyncio.run(_call_once(ours_class, request, answers, options, style, LONG_TIMEOUT))
    return theirs, ours


def _timed_out(run: tuple[list[Any], Any]) -> bool:
    """Whether a run's ``call()`` raised TimeoutError."""
    return bool(run[1][:2] == ("raised", "TimeoutError"))


def _returned(run: tuple[list[Any], Any]) -> bool:
    """Whether a run's ``call()`` returned: with the other's timed out, the sign of a machine
    that held one of them past :data:`SHORT_TIMEOUT` (no answer the sweep sends is taken by
    one package and ignored by the other)."""
    return bool(run[1][0] == "returned")


def _reset(label: str, **changes: Any) -> Any:
    return _requests(label).Reset(**{**RESETS[label], **changes})


def _data(label: str, **fields: Any) -> Any:
    return _requests(label).DataTransfer(**{"vendor_id": "acme", **fields})


def _component_key(label: str) -> Any:
    """A request whose dict spells a key otherwise than the schema (``Component``)."""
    if label == "1.6":
        return _requests(label).GetConfiguration(key=[{"Key": "a"}])
    data = [{"Component": {"name": "C"}, "variable": {"name": "V"}}]
    return _requests(label).GetVariables(get_variable_data=data)


def _other_version(label: str) -> Any:
    """A request of an action the version does not have (2.x's GetVariables on 1.6)."""
    if label == "1.6":
        data = [{"component": {"name": "C"}, "variable": {"name": "V"}}]
        return _requests("2.0.1").GetVariables(get_variable_data=data)
    return _requests("1.6").GetConfiguration(key=["a"])


REQUESTS: dict[str, tuple[Callable[[str], Any], dict[str, Any], str]] = {
    "bad enum": (lambda label: _reset(label, type="Sideways"), {}, OK),
    "wrong type": (lambda label: _reset(label, type=5), {}, OK),
    "overlong string": (lambda label: _data(label, vendor_id="v" * 256), {}, OK),
    "any value in data": (
        lambda label: _data(label, message_id="m", data={"key_one": [1, {"key_two": None}]}),
        {},
        OK,
    ),
    "a key spelt otherwise": (_component_key, {}, '[3,"u1",{}]'),
    "an action of another version": (_other_version, {}, '[3,"u1",{}]'),
    "an action of another version, unvalidated": (
        _other_version,
        {"skip_schema_validation": True},
        '[3,"u1",{}]',
    ),
    "integer unique_id": (
        lambda label: _reset(label),
        {"unique_id": 7},
        '[3,7,{"status":"Accepted"}]',
    ),
    "skip_schema_validation, invalid": (
        lambda label: _reset(label, type="Sideways"),
        {"skip_schema_validation": True},
        OK,
    ),
    "a dict for the dataclass": (lambda label: dict(RESETS[label]), {}, OK),
    "a dict for the dataclass, unvalidated": (
        lambda label: dict(RESETS[label]),
        {"skip_schema_validation": True},
        OK,
    ),
    "the dataclass itself, unvalidated": (
        lambda label: type(_reset(label)),
        {"skip_schema_validation": True},
        OK,
    ),
}
"""Requests our ``call()`` sends: ``(request, call() options, the station's answer)``."""


def request_outcomes(name: str, label: str, style: str = STYLES[0]) -> tuple[Any, Any]:
    """``(ocpp's, the drop-in's)`` outcome of our ``call()`` of ``REQUESTS[name]``."""
    build, options, answer = REQUESTS[name]
    theirs_class, ours_class = pair(label, "plain", style)
    theirs = asyncio.run(_call_once(theirs_class, build(label), [answer], options, style))
    ours = asyncio.run(_call_once(ours_class, build(label), [answer], options, style))
    return theirs, ours


def _result_error(code: str) -> Callable[[str, str, Any], Any]:
    """2.1 answers an invalid CALLRESULT with a CALLRESULTERROR of the spec's code; the
    class ``call()`` raises stays ``ocpp``'s."""

    def expected(label: str, option: str, theirs: Any) -> Any:
        if label != "2.1" or option == "skip_schema_validation":
            return theirs
        return [*theirs[0], [5, "u1", code, "str", "dict"]], theirs[1]

    return expected


def _fails_at_once(label: str, option: str, theirs: Any) -> Any:
    """A CALLRESULT that is no frame to the spec fails the call at once, on every version,
    with ``ocpp``'s class for a frame that is not JSON; 2.1 tells the station."""
    back = [[5, "u1", "RpcFrameworkError", "str", "dict"]] if label == "2.1" else []
    return [*theirs[0], *back], ("raised", "FormatViolationError", "FormatViolation")


def _fails_at_once_as_read(label: str, option: str, theirs: Any) -> Any:
    """:func:`_fails_at_once`, where ``ocpp``'s ``route_message`` raised (RecursionError, its
    ``json.loads``) and the drop-in's returns."""
    sent = [frame for frame in theirs[0] if frame[0] != "route_message raised"]
    return _fails_at_once(label, option, (sent, theirs[1]))


_GUIDE_21 = "an invalid CALLRESULT to our `call()` answered with CALLRESULTERROR"
_GUIDE_NOT_JSON = "a CALLRESULT to our `call()` fails that call at once with `FormatViolationError`"
DELIBERATE_ANSWERS: dict[str, tuple[str, Callable[[str, str, Any], Any]]] = {
    "missing required field": (_GUIDE_21, _result_error("OccurrenceConstraintViolation")),
    "extra field": (_GUIDE_21, _result_error("FormatViolation")),
    "bad enum": (_GUIDE_21, _result_error("PropertyConstraintViolation")),
    "wrong type": (_GUIDE_21, _result_error("TypeConstraintViolation")),
    "payload no object": (_GUIDE_21, _result_error("TypeConstraintViolation")),
    "payload null": (_GUIDE_21, _result_error("TypeConstraintViolation")),
    "no JSON to the spec (NaN)": (_GUIDE_NOT_JSON, _fails_at_once),
    "CALLRESULT of 2 elements": (
        "a CALLRESULT of 2 elements answering our `call()`",
        _fails_at_once,
    ),
    "CALLRESULT of 4 elements": (
        "a CALLRESULT of 4 elements answering our `call()`",
        _fails_at_once,
    ),
    "CALLRESULT nested too deeply": (
        "a CALLRESULT that deep answering our `call()` fails that call at once",
        _fails_at_once_as_read,
    ),
}
"""Answer -> (the guide's words, the drop-in's outcome from ``ocpp``'s: label, option, theirs)."""


def _validated_as_not_json(label: str, option: str, theirs: Any) -> Any:
    """``NaN`` in the answer, read from the backend's own queue: refused as no JSON, as
    without that queue (``ocpp`` validates what its ``json`` read: TypeConstraintViolation
    for the NaN where the schema has a string); unvalidated, returned as ``ocpp`` returns it."""
    if option == "skip_schema_validation":
        return theirs
    return _fails_at_once(label, option, theirs)


def _waits_as_read(label: str, option: str, theirs: Any) -> Any:
    """Too deep, with the backend's own queue: the call waits out its timeout as ``ocpp``'s
    does (nothing to put in the queue), and ``route_message`` returns (``ocpp``'s raised)."""
    return [frame for frame in theirs[0] if frame[0] != "route_message raised"], theirs[1]


_GUIDE_OWN_QUEUE = "| a `_response_queue` the backend set itself"
DELIBERATE_OWN_QUEUE: dict[str, tuple[str, Callable[[str, str, Any], Any]]] = {
    **{name: DELIBERATE_ANSWERS[name] for name in list(DELIBERATE_ANSWERS)[:6]},
    "no JSON to the spec (NaN)": (_GUIDE_OWN_QUEUE, _validated_as_not_json),
    "CALLRESULT of 4 elements": (_GUIDE_OWN_QUEUE, _validated_as_not_json),
    "CALLRESULT nested too deeply": (_GUIDE_OWN_QUEUE, _waits_as_read),
}
""":data:`DELIBERATE_ANSWERS` for a backend that set its own ``_response_queue``: the
drop-in puts responses in it and ``call()`` reads them from it, as ``ocpp``'s does, so a
CALLRESULT that is no frame at all (2 elements) leaves the call waiting, as with ``ocpp``."""


@pytest.mark.parametrize("style", [STYLES[0], STYLES[1]])
@pytest.mark.parametrize("answer", list(ANSWERS))
def test_call_answered(answer: str, style: str) -> None:
    deliberate = DELIBERATE_ANSWERS if style == STYLES[0] else DELIBERATE_OWN_QUEUE
    differed = False
    for label in LABELS:
        for option in CALL_OPTIONS:
            theirs, ours = call_outcomes(label, answer, option, style=style)
            differed |= theirs != ours
            if answer in deliberate:
                words, expected = deliberate[answer]
                assert words in GUIDE_TEXT, f"the guide lists no {words!r}"
                assert ours == expected(label, option, theirs), (label, option, theirs, ours)
            else:
                assert ours == theirs, (label, option)
    assert differed == (answer in deliberate)


@pytest.mark.parametrize("style", [STYLES[0], STYLES[1]])
@pytest.mark.parametrize("name", list(REQUESTS))
def test_call_request(name: str, style: str) -> None:
    for label in LABELS:
        theirs, ours = request_outcomes(name, label, style)
        assert ours == theirs, label


# --- start() over a connection ------------------------------------------------------------


class _Wire(Sink):
    """A station that answers each of our CALLs Accepted, to its id, as it comes."""

    async def send(self, message: str) -> None:
        await super().send(message)
        frame = json.loads(message)
        if frame[0] == 2:
            self.inbox.put_nowait(json.dumps([3, frame[1], {"status": "Accepted"}]))


async def _session(cls: type[Any], frames: list[str]) -> tuple[list[Any], list[Any]]:
    wire = _Wire()
    charge_point = cls("CP-1", wire, response_timeout=0.1)
    ids = iter(range(100))
    charge_point._unique_id_generator = lambda: f"c{next(ids)}"
    for frame in frames:
        wire.inbox.put_nowait(frame)
    reading = asyncio.ensure_future(charge_point.start())
    quiet = 0
    while quiet < 15:  # nothing sent for 0.15 s: longer than a call's timeout
        count = len(wire.sent)
        await asyncio.sleep(0.01)
        quiet = quiet + 1 if len(wire.sent) == count else 0
    reading.cancel()
    await asyncio.gather(reading, return_exceptions=True)
    return _sent(wire.sent), charge_point.seen


SESSIONS: dict[str, tuple[str, Frames]] = {
    "CALLs one after the other": (
        "plain",
        lambda label: [_call(a, _payloads(label)[a], f"m{n}") for n, a in enumerate(HANDLER_NAMES)],
    ),
    "an @after hook awaits call()": (
        "after-calls",
        lambda label: [_call("BootNotification", _payloads(label)["BootNotification"])],
    ),
    "a handler awaits call()": (
        "calls-back",
        lambda label: [
            _call("BootNotification", _payloads(label)["BootNotification"]),
            _call("Heartbeat", {}, "m2"),
        ],
    ),
}


def session_outcomes(name: str, label: str, style: str = STYLES[0]) -> tuple[Any, Any]:
    kind, frames = SESSIONS[name]
    theirs_class, ours_class = pair(label, kind, style)
    theirs = asyncio.run(_session(theirs_class, frames(label)))
    ours = asyncio.run(_session(ours_class, frames(label)))
    return theirs, ours


@pytest.mark.parametrize("style", [STYLES[0], STYLES[2]])
@pytest.mark.parametrize("name", list(SESSIONS))
def test_session(name: str, style: str) -> None:
    for label in LABELS:
        theirs, ours = session_outcomes(name, label, style)
        if name != "a handler awaits call()":
            assert ours == theirs, label
            continue
        # ocpp: start() waits for the handler, so the station's answer is read only once
        # the call timed out; the handler's TimeoutError is answered InternalError
        assert ("Reset", "timed out") in theirs[1]
        assert [frame[:3] for frame in theirs[0]][1][:3] == [4, "m1", "InternalError"]
        # the drop-in reads on: the call is answered, then the Heartbeat handled in turn
        assert "| a handler awaits `self.call()` to its station |" in GUIDE_TEXT
        assert [frame[:2] for frame in ours[0]] == [[2, "c0"], [3, "m1"], [3, "m2"]]
        assert [entry[0] for entry in ours[1]] == ["BootNotification", "Reset", "Heartbeat"]
        assert ours[1][1] == ("Reset", "Accepted")
