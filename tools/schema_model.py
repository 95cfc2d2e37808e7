"""Reading one OCPP version's JSON schemas into named types, ready to render.

2.x schemas name every type in ``definitions``; 1.6 core schemas (draft-04) nest
anonymous objects and enums inside properties. Those are hoisted into named
types here, so that every version renders the same way:

- an inline object of property ``meterValue`` becomes ``MeterValueType``, an
  inline enum of property ``measurand`` becomes ``MeasurandEnum``;
- where the same property name carries different inline schemas in different
  places (1.6 has fifteen different ``status`` enums), each variant is prefixed
  with the name of the type that holds it: ``BootNotificationResponseStatusEnum``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ocpp_versions import VersionSpec

__all__ = [
    "CUSTOM_DATA",
    "Model",
    "Schema",
    "class_name_for_file",
    "clean_doc",
    "load_model",
    "ref_name",
]

Schema = dict[str, Any]
CUSTOM_DATA = "CustomDataType"
DRAFT04 = "http://json-schema.org/draft-04/schema#"
_NOT_STRUCTURE = frozenset({"description", "javaType", "comment", "$id", "title", "$schema"})


@dataclass
class Model:
    """Everything collected from one version's schema files."""

    enums: dict[str, tuple[list[str], str]] = field(default_factory=dict)
    datatypes: dict[str, Schema] = field(default_factory=dict)
    messages: dict[str, Schema] = field(default_factory=dict)
    draft04: set[str] = field(default_factory=set)
    """Message classes whose schema is draft-04 (where ``1.0`` is not an integer)."""


def clean_doc(text: str | None) -> str:
    """A schema description made fit for a docstring."""
    if not text:
        return ""
    lines = [line.strip() for line in text.replace("\r", "").split("\n")]
    doc = "\n".join(line for line in lines if line).strip()
    return doc.replace("\\", "\\\\").replace('"""', "'''")


def class_name_for_file(stem: str) -> str:
    """The message class of a schema file: 1.6 names requests without the suffix."""
    if stem.endswith("Request") or stem.endswith("Response"):
        return stem
    return stem + "Request"


def ref_name(ref: str) -> str:
    """The definition name a local ``$ref`` points at."""
    prefix = "#/definitions/"
    if not ref.startswith(prefix):
        raise ValueError(f"unsupported $ref {ref!r}")
    return ref[len(prefix) :]


def load_model(spec: VersionSpec) -> Model:
    """Read every schema of a version, merging shared definitions, hoisting inline types."""
    model = Model()
    folder = resources.files("ocpp").joinpath(spec.schema_dir)
    files = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".json")),
        key=lambda entry: entry.name,
    )
    for entry in files:
        schema: Schema = json.loads(entry.read_text(encoding="utf-8"))
        for name, definition in schema.get("definitions", {}).items():
            if "enum" in definition:
                model.enums.setdefault(
                    name, (list(definition["enum"]), clean_doc(definition.get("description")))
                )
            elif name != CUSTOM_DATA:
                model.datatypes.setdefault(name, definition)
        class_name = class_name_for_file(entry.name[: -len(".json")])
        model.messages[class_name] = schema
        if schema.get("$schema") == DRAFT04:
            model.draft04.add(class_name)
    _hoist_inline_types(model)
    return model


def _canonical(node: Schema) -> str:
    """A schema's structure as text: equal text, same type."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in _NOT_STRUCTURE}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return json.dumps(strip(node), sort_keys=True)


def _inline_kind(node: Schema) -> str | None:
    if "$ref" in node:
        return None
    if "enum" in node:
        return "enum"
    if node.get("type") == "object" and "properties" in node:
        return "object"
    return None


def _slots(schema: Schema) -> list[tuple[str, dict[str, Any], str]]:
    """Where inline types may sit: (property name, container, key in container)."""
    found = []
    for prop_name, prop in schema.get("properties", {}).items():
        if prop.get("type") == "array" and isinstance(prop.get("items"), dict):
            found.append((prop_name, prop, "items"))
        else:
            found.append((prop_name, schema["properties"], prop_name))
    return found


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def _hoist_inline_types(model: Model) -> None:
    variants: dict[tuple[str, str], set[str]] = defaultdict(set)

    def collect(schema: Schema) -> None:
        for prop_name, container, key in _slots(schema):
            node = container[key]
            kind = _inline_kind(node)
            if kind is not None:
                variants[(kind, prop_name)].add(_canonical(node))
                if kind == "object":
                    collect(node)

    for schema in [*model.messages.values(), *model.datatypes.values()]:
        collect(schema)

    def rewrite(schema: Schema, owner: str) -> None:
        for prop_name, container, key in _slots(schema):
            node = container[key]
            kind = _inline_kind(node)
            if kind is None:
                continue
            suffix = "Type" if kind == "object" else "Enum"
            name = _pascal(prop_name) + suffix
            if len(variants[(kind, prop_name)]) > 1:
                name = owner.removesuffix("Type") + name
            if kind == "enum":
                _register(
                    model.enums, name, (list(node["enum"]), clean_doc(node.get("description")))
                )
            else:
                rewrite(node, name)
                _register(model.datatypes, name, node)
            container[key] = {"$ref": f"#/definitions/{name}"}

    for class_name, schema in list(model.messages.items()):
        rewrite(schema, class_name)
    for type_name, schema in list(model.datatypes.items()):
        rewrite(schema, type_name)


def _register(table: dict[str, Any], name: str, value: Any) -> None:
    existing = table.get(name)
    if existing is not None and _canonical_any(existing) != _canonical_any(value):
        raise ValueError(f"two different inline types would both be named {name}")
    table[name] = value


def _canonical_any(value: Any) -> str:
    if isinstance(value, tuple):  # an enum entry: (values, doc)
        return json.dumps(value[0])
    return _canonical(value)
