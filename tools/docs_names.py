"""The page ``reference/ocpp-package-names.md``: the `ocpp` package's names of each version's
enums and data types, and ocpp_fast's for the same thing, written at build time.

A backend moving from the drop-in to the native API writes ocpp_fast's names, taken from the
official JSON schemas, where the `ocpp` package named its classes after the specification's
text: in 1.6 not one enum has the same name (``ChargePointStatus`` is
``StatusNotificationRequestStatusEnum``). Matched here by what the classes hold, never by a
list kept by hand: an enum by its set of values, a data type by its set of fields; where
several of ours hold the same values (a plain Accepted/Rejected status) the ones whose name
starts as the `ocpp` name does are kept; where none holds exactly the same, the closest (at
least four fifths in common) is shown with what differs.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import re
from collections.abc import Callable
from types import ModuleType

PAGE = "reference/ocpp-package-names.md"

VERSIONS = (("1.6", "v16"), ("2.0.1", "v201"), ("2.1", "v21"))

CLOSE_ENOUGH = 0.8
"""Share of values (or fields) in common, of all either holds, for a class holding not exactly
the same to be shown as the counterpart: below it, short enums of unrelated meaning matched
(2.0.1's standardized variable names against ComponentCriterionEnumType)."""


def _classes(module: ModuleType, keep: Callable[[type], bool]) -> dict[str, type]:
    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, type) and value.__module__ == module.__name__ and keep(value)
    }


def _is_enum(kind: type) -> bool:
    return issubclass(kind, enum.Enum)


def _enum_values(kind: type) -> frozenset[str]:
    return frozenset(str(member.value) for member in kind)  # type: ignore[attr-defined]


def _ocpp_fields(kind: type) -> frozenset[str]:
    return frozenset(field.name for field in dataclasses.fields(kind))


def _our_fields(kind: type) -> frozenset[str]:
    return frozenset(getattr(kind, "__struct_fields__", ()))


def _first_word(name: str) -> str:
    """``RemoteStartStopStatus`` -> ``Remote``."""
    match = re.match(r"[A-Z][a-z0-9]*", name)
    return match.group(0) if match else name


def _counterpart(
    name: str, held: frozenset[str], ours: dict[str, frozenset[str]]
) -> tuple[list[str], str]:
    """Our names for the `ocpp` class ``name`` holding ``held``, and what differs ('' when
    they hold the same)."""
    exact = [our for our, theirs in ours.items() if theirs == held]
    if exact:
        named = [our for our in exact if _first_word(our) == _first_word(name)]
        return sorted(named or exact), ""
    scores = {
        our: len(held & theirs) / len(held | theirs)
        for our, theirs in ours.items()
        if held | theirs
    }
    best = max(scores.values(), default=0.0)
    if best < CLOSE_ENOUGH:
        return [], ""
    closest = sorted(our for our, score in scores.items() if score == best)
    extra, missing = sorted(held - ours[closest[0]]), sorted(ours[closest[0]] - held)
    said = [f"`ocpp` only: {', '.join(extra)}"] if extra else []
    said += [f"here only: {', '.join(missing)}"] if missing else []
    return closest, "; ".join(said)


def _section(
    theirs: dict[str, type],
    ours: dict[str, type],
    held_theirs: Callable[[type], frozenset[str]],
    held_ours: Callable[[type], frozenset[str]],
    module: str,
) -> list[str]:
    """The section of the `ocpp` classes whose name is not ours: a table of those with a
    counterpart, a sentence naming those without."""
    held = {name: held_ours(kind) for name, kind in ours.items()}
    rows, alone = [], []
    for name, kind in sorted(theirs.items()):
        if name in ours:
            continue
        matched, differs = _counterpart(name, held_theirs(kind), held)
        if matched:
            cell = " or ".join(f"`{module}.{our}`" for our in matched)
            rows.append(f"| `{name}` | {cell} | {differs} |")
        else:
            alone.append(f"`{name}`")
    same = sum(name in ours for name in theirs)
    lines = [f"{same} of {len(theirs)} have the same name in both."]
    if rows:
        lines += ["", "| `ocpp` | ocpp_fast | what differs |", "|---|---|---|", *rows]
    if alone:
        lines += ["", f"No class here holds what these hold: {', '.join(alone)}."]
    return [*lines, ""]


def names_markdown() -> str:
    """The page, from the installed `ocpp` package and ocpp_fast's models."""
    lines = [
        "# Names in the `ocpp` package and here",
        "",
        "<!-- Generated at build time by tools/docs_names.py: edit that, not this page. -->",
        "",
        "The drop-in keeps the `ocpp` package's classes; the native API's enums and data types",
        "are named after the official JSON schemas. For each version, the `ocpp` package's",
        "names that differ and the class of ocpp_fast holding the same thing, matched by what",
        "they hold (an enum's values, a data type's fields), so this page follows both",
        "packages. An enum's members are `UPPER_SNAKE` here (`RegistrationStatusEnumType.",
        "ACCEPTED`) where `ocpp` writes them in lower case (`RegistrationStatus.accepted`);",
        "their values, the strings on the wire, are the same. A data type's fields have the",
        "same snake_case names in both; they are msgspec Structs here, dataclasses there.",
        "Some `ocpp` enums have no counterpart here: `Action` (an action is its message",
        "classes' name here), the standardized names of components and variables, and 1.6's",
        "configuration keys (plain strings in the schemas, and so here).",
        "",
    ]
    for label, package in VERSIONS:
        their_enums = importlib.import_module(f"ocpp.{package}.enums")
        their_types = importlib.import_module(f"ocpp.{package}.datatypes")
        our_enums = importlib.import_module(f"ocpp_fast.{package}.enums")
        our_types = importlib.import_module(f"ocpp_fast.{package}.datatypes")
        lines += [f"## OCPP {label}", ""]
        lines += ["### Enums", ""]
        lines += _section(
            _classes(their_enums, _is_enum),
            _classes(our_enums, _is_enum),
            _enum_values,
            _enum_values,
            f"ocpp_fast.{package}.enums",
        )
        lines += ["### Data types", ""]
        lines += _section(
            _classes(their_types, dataclasses.is_dataclass),
            _classes(our_types, lambda kind: hasattr(kind, "__struct_fields__")),
            _ocpp_fields,
            _our_fields,
            f"ocpp_fast.{package}.datatypes",
        )
    return "\n".join(lines)
