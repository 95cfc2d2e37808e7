"""A simulated station's configuration: the 2.x device model and 1.6's configuration keys.

A CSMS developer's first script reads and sets a station's configuration (2.x GetVariables,
SetVariables, GetBaseReport; 1.6 GetConfiguration, ChangeConfiguration): a simulated station
that answered them NotSupported could not be scripted against. Each station holds its own small
model, read from packaged data (``data/device-model-v2x.jsonl``, ``data/configuration-v16.jsonl``:
one variable per line, its default value, mutability, data type and limits), so what a station
knows is changed there, not here. The answers follow OCPP: per item Accepted, UnknownComponent,
UnknownVariable, NotSupportedAttributeType (only the ``Actual`` attribute is modelled), Rejected
for a read-only variable or a value its data type or limits refuse; more items than
``DeviceDataCtrlr.ItemsPerMessage`` allows is a CALLERROR OccurrenceConstraintViolation. 1.6:
unknown keys in ``unknownKey``; ChangeConfiguration NotSupported for an unknown key, Rejected for
a read-only key or a bad value. The settings of :data:`ACTING` act on the station (its heartbeat,
its sampled and clock-aligned meter values and their measurands, the measurands of a
transaction's end, the authorization of a remote start, what it sends back from a long time
offline, its WebSocket pings); the others are kept and read back.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from ocpp_fast import errors
from ocpp_fast.v16 import datatypes as datatypes16
from ocpp_fast.v16 import enums as enums16
from ocpp_fast.v16 import messages as messages16

__all__ = [
    "ACTING",
    "REPORT_ITEMS",
    "Configuration16",
    "DeviceModel",
    "Setting",
    "base_report",
    "change_configuration",
    "get_configuration",
    "acting_16",
    "acting_2x",
    "acting_value",
    "acting_value_16",
    "get_variables",
    "set_variables",
]

_DATA = Path(__file__).resolve().parent / "data"
REPORT_ITEMS = 10
"""Variables per NotifyReport of a base report: a report of the whole model takes several
messages, so a CSMS's handling of ``seqNo`` and ``tbc`` is exercised."""


_NUMBERS = {"integer": re.compile(r"-?[0-9]+"), "decimal": re.compile(r"-?[0-9]+(\.[0-9]+)?")}
"""A value of each numeric data type as written on the wire: plain digits (Python's own
``int()`` takes ``" 5"`` and ``"1_000"``, which a station would then read back as set)."""


@dataclass(frozen=True)
class Setting:
    """One variable (2.x) or configuration key (1.6, ``component`` empty), as the data says."""

    variable: str
    value: str
    data_type: str
    component: str = ""
    component_instance: str | None = None
    evse: int | None = None
    connector: int | None = None
    variable_instance: str | None = None
    mutability: str = "ReadWrite"
    unit: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    values_list: str | None = None

    @property
    def writable(self) -> bool:
        return self.mutability != "ReadOnly"

    def problem(self, value: str) -> str | None:
        """Why ``value`` cannot be set (a 2.x ``reasonCode``), or ``None`` when it can."""
        if not self.writable:
            return "ReadOnly"
        if self.data_type in ("integer", "decimal"):
            if not _NUMBERS[self.data_type].fullmatch(value):
                return "InvalidValue"
            number = float(value)
            low, high = self.min_limit, self.max_limit
            if (low is not None and number < low) or (high is not None and number > high):
                return "ValueOutOfRange"
            return None
        if self.data_type == "boolean":
            return None if value in ("true", "false") else "InvalidValue"
        if self.max_limit is not None and len(value) > self.max_limit:
            return "ValueTooLong"
        if self.values_list is not None:
            allowed = self.values_list.split(",")
            members = value.split(",") if self.data_type != "OptionList" else [value]
            if not value or any(member not in allowed for member in members):
                return "InvalidValue"
        return None


def _settings(name: str) -> tuple[Setting, ...]:
    """The settings of the packaged data file ``name`` (its keys in camelCase, as OCPP's)."""
    fields = {
        "dataType": "data_type",
        "componentInstance": "component_instance",
        "variableInstance": "variable_instance",
        "minLimit": "min_limit",
        "maxLimit": "max_limit",
        "valuesList": "values_list",
    }
    with open(_DATA / name, encoding="utf-8") as lines:
        return tuple(
            Setting(**{fields.get(key, key): value for key, value in json.loads(line).items()})
            for line in lines
            if line.strip()
        )


MODEL_2X = _settings("device-model-v2x.jsonl")
"""The variables of a simulated 2.0.1 or 2.1 station, with their default values."""
CONFIGURATION_16 = _settings("configuration-v16.jsonl")
"""The configuration keys of a simulated 1.6 station, with their default values."""
ACTING: dict[str, tuple[tuple[str, str], str | None]] = {
    "heartbeat": (("OCPPCommCtrlr", "HeartbeatInterval"), "HeartbeatInterval"),
    "sample_interval": (("SampledDataCtrlr", "TxUpdatedInterval"), "MeterValueSampleInterval"),
    "sampled": (("SampledDataCtrlr", "TxUpdatedMeasurands"), "MeterValuesSampledData"),
    "ended": (("SampledDataCtrlr", "TxEndedMeasurands"), "StopTxnSampledData"),
    "aligned_interval": (("AlignedDataCtrlr", "Interval"), "ClockAlignedDataInterval"),
    "aligned": (("AlignedDataCtrlr", "Measurands"), "MeterValuesAlignedData"),
    "authorize_remote": (("AuthCtrlr", "AuthorizeRemoteStart"), "AuthorizeRemoteTxRequests"),
    "offline_threshold": (("OCPPCommCtrlr", "OfflineThreshold"), None),
    "ping": (("OCPPCommCtrlr", "WebSocketPingInterval"), "WebSocketPingInterval"),
}
"""The settings that change what a simulated station does (the docs list them), by one name
for every version: each one's 2.x component and variable, and its 1.6 key (``None``: 1.6 has
none). The others are kept and read back only."""
_KEYS_2X = {name: keys[0] for name, keys in ACTING.items()}
_KEYS_16 = {name: keys[1] for name, keys in ACTING.items() if keys[1] is not None}


def _same(given: Any, known: str | None) -> bool:
    """An optional name of a request (``UNSET`` when absent) is the setting's, case-insensitive
    as OCPP's component and variable names are."""
    if given is msgspec.UNSET or given is None:
        return known is None
    return known is not None and str(given).lower() == known.lower()


class DeviceModel:
    """One 2.x station's variables and their values (the defaults until the CSMS sets them)."""

    def __init__(self, settings: Iterable[Setting] = MODEL_2X) -> None:
        self.values: dict[Setting, str] = {setting: setting.value for setting in settings}

    def find(self, component: Any, variable: Any) -> Setting | str:
        """The setting a request's ``component`` and ``variable`` name, or why none:
        ``UnknownComponent``, ``UnknownVariable``."""
        evse = component.evse
        evse_id = None if evse is msgspec.UNSET else evse.id
        connector = None if evse is msgspec.UNSET else evse.connector_id
        connector = None if connector is msgspec.UNSET else connector
        same_component = [
            setting
            for setting in self.values
            if _same(component.name, setting.component)
            and _same(component.instance, setting.component_instance)
            and (evse_id, connector) == (setting.evse, setting.connector)
        ]
        if not same_component:
            return "UnknownComponent"
        for setting in same_component:
            if _same(variable.name, setting.variable) and _same(
                variable.instance, setting.variable_instance
            ):
                return setting
        return "UnknownVariable"

    def value_of(self, component: str, variable: str, instance: str | None = None) -> str:
        """The value of a known variable, by name (the model's own use)."""
        return next(
            value
            for setting, value in self.values.items()
            if (setting.component, setting.variable, setting.variable_instance)
            == (component, variable, instance)
        )

    def set_value(self, component: str, variable: str, value: str) -> None:
        """Set a known variable whatever its mutability (what the station itself knows: its
        identity, an accepted boot's interval)."""
        for setting in self.values:
            if (setting.component, setting.variable) == (component, variable):
                self.values[setting] = value

    def limit(self, instance: str) -> int:
        """``DeviceDataCtrlr.ItemsPerMessage`` of ``instance`` (GetVariables, SetVariables)."""
        return int(self.value_of("DeviceDataCtrlr", "ItemsPerMessage", instance))

    def report(self, base: str) -> list[Setting] | None:
        """The settings of a base report: ``ConfigurationInventory`` those the CSMS may set,
        ``FullInventory`` all; ``None`` for another base (``SummaryInventory``: NotSupported)."""
        if base == "FullInventory":
            return list(self.values)
        if base == "ConfigurationInventory":
            return [setting for setting in self.values if setting.writable]
        return None


class Configuration16:
    """One 1.6 station's configuration keys and their values."""

    def __init__(self, settings: Iterable[Setting] = CONFIGURATION_16) -> None:
        self.settings: dict[str, Setting] = {setting.variable: setting for setting in settings}
        self.values: dict[str, str] = {
            name: setting.value for name, setting in self.settings.items()
        }

    def change(self, key: str, value: str) -> str:
        """Set ``key``: ``Accepted``, ``Rejected`` (read-only, or a bad value) or
        ``NotSupported`` (no such key), as ChangeConfiguration answers."""
        setting = self.settings.get(key)
        if setting is None:
            return "NotSupported"
        if setting.problem(value) is not None:
            return "Rejected"
        self.values[key] = value
        return "Accepted"


# --- the answers, built with the types of the station's version --------------------------------


def _status_info(datatypes: Any, reason: str | None) -> Any:
    return msgspec.UNSET if reason is None else datatypes.StatusInfoType(reason_code=reason)


def _too_many(items: int, limit: int, action: str) -> None:
    """More items than ``ItemsPerMessage`` allows: OCPP's CALLERROR for it."""
    if items > limit:
        raise errors.OccurrenceConstraintViolationError(
            f"{items} items in {action}: ItemsPerMessage{action} is {limit}"
        )


def get_variables(model: DeviceModel, version: Any, request: Any) -> Any:
    """GetVariablesResponse: each item's value (attribute Actual only), or why not."""
    _too_many(len(request.get_variable_data), model.limit("GetVariables"), "GetVariables")
    types, status = version.datatypes, version.enums.GetVariableStatusEnumType
    results = []
    for data in request.get_variable_data:
        value: Any = msgspec.UNSET
        found = model.find(data.component, data.variable)
        if data.attribute_type not in (msgspec.UNSET, "Actual"):
            said = "NotSupportedAttributeType"
        elif isinstance(found, str):
            said = found
        else:
            said, value = "Accepted", model.values[found]
        results.append(
            types.GetVariableResultType(
                attribute_status=status(said),
                component=data.component,
                variable=data.variable,
                attribute_type=data.attribute_type,
                attribute_value=value,
            )
        )
    return version.messages.GetVariablesResponse(get_variable_result=results)


def set_variables(
    model: DeviceModel, version: Any, request: Any
) -> tuple[Any, dict[tuple[str, str], str]]:
    """SetVariablesResponse, each writable item set when its value fits; and the values set, by
    component and variable, for the station to apply those that act (:data:`ACTING`)."""
    _too_many(len(request.set_variable_data), model.limit("SetVariables"), "SetVariables")
    types, status = version.datatypes, version.enums.SetVariableStatusEnumType
    results, changed = [], {}
    for data in request.set_variable_data:
        reason = None
        found = model.find(data.component, data.variable)
        if data.attribute_type not in (msgspec.UNSET, "Actual"):
            said = "NotSupportedAttributeType"
        elif isinstance(found, str):
            said = found
        else:
            reason = found.problem(data.attribute_value)
            said = "Rejected" if reason is not None else "Accepted"
            if reason is None:
                model.values[found] = data.attribute_value
                changed[found.component, found.variable] = data.attribute_value
        results.append(
            types.SetVariableResultType(
                attribute_status=status(said),
                component=data.component,
                variable=data.variable,
                attribute_type=data.attribute_type,
                attribute_status_info=_status_info(types, reason),
            )
        )
    return version.messages.SetVariablesResponse(set_variable_result=results), changed


def base_report(model: DeviceModel, version: Any, request: Any) -> tuple[Any, list[Any]]:
    """GetBaseReportResponse (Accepted, or NotSupported for SummaryInventory), and the
    NotifyReports that follow an Accepted one: :data:`REPORT_ITEMS` variables each, ``seqNo``
    from 0, ``tbc`` true on every one but the last, the request's ``requestId``."""
    types, enums = version.datatypes, version.enums
    settings = model.report(str(request.report_base))
    status = enums.GenericDeviceModelStatusEnumType
    if settings is None:
        return version.messages.GetBaseReportResponse(status=status.NOT_SUPPORTED), []
    data = [_report_data(types, enums, setting, model.values[setting]) for setting in settings]
    parts = [data[i : i + REPORT_ITEMS] for i in range(0, len(data), REPORT_ITEMS)]
    now = datetime.datetime.now(datetime.UTC)
    reports = [
        version.messages.NotifyReportRequest(
            request_id=request.request_id,
            generated_at=now,
            seq_no=number,
            report_data=part,
            tbc=number < len(parts) - 1,
        )
        for number, part in enumerate(parts)
    ]
    return version.messages.GetBaseReportResponse(status=status.ACCEPTED), reports


def _report_data(types: Any, enums: Any, setting: Setting, value: str) -> Any:
    """A setting as NotifyReport's ReportData: its Actual attribute and characteristics."""
    evse: Any = msgspec.UNSET
    if setting.evse is not None:
        connector = msgspec.UNSET if setting.connector is None else setting.connector
        evse = types.EVSEType(id=setting.evse, connector_id=connector)

    def given(optional: Any) -> Any:
        return msgspec.UNSET if optional is None else optional

    return types.ReportDataType(
        component=types.ComponentType(
            name=setting.component, instance=given(setting.component_instance), evse=evse
        ),
        variable=types.VariableType(
            name=setting.variable, instance=given(setting.variable_instance)
        ),
        variable_attribute=[
            types.VariableAttributeType(
                type=enums.AttributeEnumType.ACTUAL,
                value=value,
                mutability=enums.MutabilityEnumType(setting.mutability),
            )
        ],
        variable_characteristics=types.VariableCharacteristicsType(
            data_type=enums.DataEnumType(setting.data_type),
            supports_monitoring=False,
            unit=given(setting.unit),
            min_limit=given(setting.min_limit),
            max_limit=given(setting.max_limit),
            values_list=given(setting.values_list),
        ),
    )


def get_configuration(
    configuration: Configuration16, request: messages16.GetConfigurationRequest
) -> messages16.GetConfigurationResponse:
    """GetConfigurationResponse: the known keys asked for (all of them when none is), the
    others in ``unknownKey``."""
    asked = [] if request.key is msgspec.UNSET else list(request.key)
    names = asked or list(configuration.settings)
    known = [name for name in names if name in configuration.settings]
    unknown = [name for name in names if name not in configuration.settings]
    keys = [
        datatypes16.ConfigurationKeyType(
            key=name,
            readonly=not configuration.settings[name].writable,
            value=configuration.values[name],
        )
        for name in known
    ]
    return messages16.GetConfigurationResponse(
        configuration_key=keys or msgspec.UNSET, unknown_key=unknown or msgspec.UNSET
    )


def change_configuration(
    configuration: Configuration16, request: messages16.ChangeConfigurationRequest
) -> tuple[messages16.ChangeConfigurationResponse, dict[str, str]]:
    """ChangeConfigurationResponse; and the value set by key (none when it was not), for the
    station to apply those that act (:data:`ACTING`)."""
    said = configuration.change(request.key, request.value)
    status = enums16.ChangeConfigurationResponseStatusEnum(said)
    changed = {request.key: request.value} if said == "Accepted" else {}
    return messages16.ChangeConfigurationResponse(status=status), changed


_DEFAULTS_2X = {
    name: next(s.value for s in MODEL_2X if (s.component, s.variable) == key)
    for name, key in _KEYS_2X.items()
}
_DEFAULTS_16 = {
    name: next(s.value for s in CONFIGURATION_16 if s.variable == key)
    for name, key in _KEYS_16.items()
}


def acting_2x(changed: dict[tuple[str, str], str]) -> dict[str, str]:
    """The settings among those a SetVariables ``changed`` (:func:`set_variables`) that act, by
    their name in :data:`ACTING`."""
    return {name: changed[key] for name, key in _KEYS_2X.items() if key in changed}


def acting_16(changed: dict[str, str]) -> dict[str, str]:
    """The setting a ChangeConfiguration ``changed`` (:func:`change_configuration`), if it
    acts, by its name in :data:`ACTING`."""
    return {name: changed[key] for name, key in _KEYS_16.items() if key in changed}


def acting_value(model: DeviceModel | None, name: str) -> str:
    """A 2.x station's value of the setting ``name`` of :data:`ACTING`: the packaged default
    while its ``model`` was never read nor set (``None``: a fleet's stations build none)."""
    return _DEFAULTS_2X[name] if model is None else model.value_of(*_KEYS_2X[name])


def acting_value_16(configuration: Configuration16 | None, name: str) -> str | None:
    """A 1.6 station's value of the setting ``name`` (as :func:`acting_value`); ``None`` for a
    setting 1.6 has no key for (``offline_threshold``)."""
    key = _KEYS_16.get(name)
    if key is None:
        return None
    return _DEFAULTS_16[name] if configuration is None else configuration.values[key]
