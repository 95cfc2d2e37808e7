"""The Typing page's table of public names says where each name is imported from: each row
imports as it says, and every exception a user may catch from ``ocpp_fast.errors`` or
``ocpp_fast.transport`` has its row (a station's ``StillQueued`` and ``QueueFull`` had none,
and the traceback named a private module, ``ocpp_fast.transport._sender``)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from ocpp_fast import errors, transport

PAGE = Path(__file__).resolve().parent.parent / "docs" / "reference" / "typing.md"
VERSION_PACKAGES = ("ocpp_fast.v16", "ocpp_fast.v201", "ocpp_fast.v21")


def rows() -> list[tuple[list[str], list[str]]]:
    """``(names, modules)`` of each row of the table under "## Public names"."""
    section = PAGE.read_text(encoding="utf-8").split("## Public names", 1)[1].split("\n## ")[0]
    found = []
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) < 4 or not cells[1].strip().startswith("`"):
            continue
        names = re.findall(r"`([A-Za-z_]+)`", cells[1])
        modules = [m for m in re.findall(r"`([\w.]+)`", cells[2]) if m.startswith("ocpp_fast")]
        if "each version package" in cells[2]:
            modules += VERSION_PACKAGES
        found.append((names, modules))
    return found


def test_each_row_imports_from_where_it_says() -> None:
    table = rows()
    assert len(table) >= 14
    for names, modules in table:
        assert modules, names
        for module in modules:
            imported = importlib.import_module(module)
            for name in names:
                assert name in imported.__all__, f"{name} is not in {module}.__all__"


def test_every_exception_users_catch_has_its_row() -> None:
    """One class per RPC error code is the row "OcppError and one class per code"; any other
    exception exported is named, with the module it is exported from."""
    where = {(name, module) for names, modules in rows() for name in names for module in modules}
    missing = []
    for module in (errors, transport):
        for name in module.__all__:
            exported = getattr(module, name)
            if not (isinstance(exported, type) and issubclass(exported, BaseException)):
                continue
            one_per_code = issubclass(exported, errors.OcppError) and (
                "code" in vars(exported) or exported is errors.GenericError
            )
            if not one_per_code and (name, module.__name__) not in where:
                missing.append(f"{module.__name__}.{name}")
    assert missing == []
