"""The API pages of the generated model (``messages``, ``datatypes``, ``enums`` of each version).

The Structs carry no docstrings (the schemas describe their fields in prose nobody would copy
into 400 classes), and what a reader looks up is the wire: each field's Python name, its JSON
name, its type and whether it must be present. So these pages are written from the classes
themselves (``msgspec.structs.fields``): one table per Struct, one per enumeration, each under a
heading whose id is the dotted path, so cross-references elsewhere reach it. (Rendering them
through mkdocstrings took three quarters of the site's build time and showed less.)
"""

from __future__ import annotations

import enum
import importlib
import types
import typing
from typing import Any

import msgspec

MODEL_MODULES = ("datatypes", "enums", "messages")
"""The submodules of a version package rendered here."""

_CONSTRAINTS = (
    ("min_length", "min length"),
    ("max_length", "max length"),
    ("ge", ">="),
    ("le", "<="),
    ("gt", ">"),
    ("lt", "<"),
    ("multiple_of", "multiple of"),
    ("pattern", "pattern"),
)


def is_model(module: str) -> bool:
    parts = module.split(".")
    return len(parts) == 3 and parts[1][:1] == "v" and parts[2] in MODEL_MODULES


def _link(cls: type) -> str:
    return f"[`{cls.__name__}`][{cls.__module__}.{cls.__name__}]"


def type_text(annotation: Any) -> str:
    """A field's type as a reader wants it: links to model types, constraints spelt out."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extras = typing.get_args(annotation)
        notes = []
        for meta in extras:
            if isinstance(meta, msgspec.Meta):
                if meta.tz:
                    return "date-time (RFC 3339, with offset)"
                notes += [
                    f"{label} {getattr(meta, attr)}"
                    for attr, label in _CONSTRAINTS
                    if getattr(meta, attr) is not None
                ]
        text = type_text(base)
        return f"{text} ({', '.join(notes)})" if notes else text
    if origin in (typing.Union, types.UnionType):
        parts = [a for a in typing.get_args(annotation) if a is not msgspec.UnsetType]
        return " or ".join(type_text(a) for a in parts)
    if origin is list:
        (item,) = typing.get_args(annotation)
        return f"list of {type_text(item)}"
    if origin is dict:
        return "object"
    if annotation is type(None):
        return "null"
    if annotation is Any:
        return "any JSON value"
    if isinstance(annotation, type):
        if annotation.__module__.startswith("ocpp_fast.v"):
            return _link(annotation)
        if annotation.__name__ == "CustomData":
            return "`CustomData` (an open object: vendor keys kept)"
        return f"`{annotation.__name__}`"
    return f"`{annotation}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _struct_section(module: str, cls: type[msgspec.Struct]) -> list[str]:
    lines = [f"### `{cls.__name__}` {{ #{module}.{cls.__name__} }}", ""]
    fields = msgspec.structs.fields(cls)
    if not fields:
        return [*lines, "No fields: the payload is `{}`.", ""]
    lines += ["| attribute | JSON name | type | presence |", "|:---|:---|:---|:---|"]
    for field in fields:
        presence = "required" if field.required else "optional (`UNSET` when absent)"
        lines.append(
            f"| `{field.name}` | `{field.encode_name}` | {_cell(type_text(field.type))} "
            f"| {presence} |"
        )
    return [*lines, ""]


def _enum_section(module: str, cls: type[enum.Enum]) -> list[str]:
    lines = [f"### `{cls.__name__}` {{ #{module}.{cls.__name__} }}", ""]
    lines += ["| member | value |", "|:---|:---|"]
    lines += [f"| `{member.name}` | `{member.value}` |" for member in cls]
    return [*lines, ""]


def model_markdown(module: str) -> str:
    """The page of one generated model module."""
    loaded = importlib.import_module(module)
    version = module.split(".")[1]
    lines = [
        f"# `{module}` {{ #{module} }}",
        "",
        "<!-- Generated at build time from the classes (tools/docs_models.py). -->",
        "",
        (loaded.__doc__ or "").strip(),
        "",
        f"Generated from the official JSON schemas by `tools/generate_models.py`. Attributes are "
        f"snake_case; the JSON name is the schema's. Optional fields default to `msgspec.UNSET` "
        f"and are never written; an explicit `null` is refused. Other modules of "
        f"`ocpp_fast.{version}`: "
        + ", ".join(
            f"[`{other}`](ocpp_fast.{version}.{other}.md)"
            for other in MODEL_MODULES
            if other != module.rsplit(".", 1)[1]
        )
        + ".",
        "",
    ]
    names = getattr(loaded, "__all__", [])
    if hasattr(loaded, "validate"):
        lines += [
            "## `validate(name, value)`",
            "",
            "Whether `value` is a member of the enumeration called `name` (the seed's check; the "
            "decoder checks enums by itself).",
            "",
        ]
    lines += ["## Types", ""]
    for name in names:
        value = getattr(loaded, name)
        if isinstance(value, type) and issubclass(value, msgspec.Struct):
            lines += _struct_section(module, value)
        elif isinstance(value, type) and issubclass(value, enum.Enum):
            lines += _enum_section(module, value)
    return "\n".join(lines)
