"""No method of an imported object is bound anew on each call in the drop-in's modules.

CPython compiles ``name.method(...)`` as a method call (no bound method made) unless ``name``
was bound by an import in that module: then it takes ``name`` for a module and compiles an
attribute read, which binds the method on every call. Splitting the drop-in's ChargePoint in
modules imported ``_VERSIONS`` (a dict) into ``_handling``, so each CALL's
``_VERSIONS.get(label)`` made and dropped a bound ``dict.get``: some 440 of the drop-in
Heartbeat's 59,100 instructions (benchmarks/instructions.py, variant f). Scanned here, on
the bytecode this interpreter compiled, for every object imported by name that is no module.
"""

from __future__ import annotations

import ast
import dis
import importlib
import itertools
import pkgutil
import types
from collections.abc import Iterator

import pytest

import ocpp_fast.compat

MODULES = sorted(
    f"ocpp_fast.compat.{info.name}" for info in pkgutil.iter_modules(ocpp_fast.compat.__path__)
)


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _codes(constant)


def _imported_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def rebound_methods(text: str, filename: str, namespace: dict[str, object]) -> list[str]:
    """``where: name.method`` for each method of an imported non-module object read as an
    attribute (bound anew each time) in the source ``text`` of a module whose globals are
    ``namespace``."""
    imported = _imported_names(ast.parse(text))
    found = []
    for code in _codes(compile(text, filename, "exec")):
        for load, read in itertools.pairwise(dis.get_instructions(code)):
            if load.opname != "LOAD_GLOBAL" or read.opname != "LOAD_ATTR":
                continue
            if read.argrepr.startswith("NULL|self"):  # 3.12+: a method call's load
                continue
            owner_name = str(load.argval)
            owner = namespace.get(owner_name)
            if owner_name not in imported or owner is None or isinstance(owner, types.ModuleType):
                continue
            attribute = getattr(owner, str(read.argval), None)
            if isinstance(attribute, types.BuiltinMethodType | types.MethodType):
                found.append(f"{code.co_qualname}: {owner_name}.{read.argval}")
    return found


@pytest.mark.parametrize("name", MODULES)
def test_no_imported_objects_method_is_bound_per_call(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    with open(module.__file__, encoding="utf-8") as source:
        text = source.read()
    assert rebound_methods(text, module.__file__, vars(module)) == []


def test_the_scan_finds_an_imported_dicts_method_read() -> None:
    """The scan finds the case it guards against, and not its cure (the method bound once
    where the object is defined, imported bound)."""
    bound_each_time = (
        "from ocpp_fast.compat._state import _VERSIONS\n"
        "def version(label):\n"
        "    return _VERSIONS.get(label)\n"
    )
    namespace: dict[str, object] = {}
    exec(compile(bound_each_time, "scratch", "exec"), namespace)
    assert rebound_methods(bound_each_time, "scratch", namespace) == ["version: _VERSIONS.get"]
    bound_once = bound_each_time.replace("_VERSIONS.get", "_cached_version").replace(
        "import _VERSIONS", "import _cached_version"
    )
    exec(compile(bound_once, "scratch", "exec"), namespace)
    assert rebound_methods(bound_once, "scratch", namespace) == []
