"""Where the public API still says ``Any``, and why: each place listed with its reason.

``pyright --verifytypes`` (tests/test_type_completeness.py) counts a declared ``Any`` as a
known type, so it cannot see a new ``-> Any`` on a method users call, or a payload typed
``Any``. This reads the annotations of the public modules instead: every public function,
method and attribute whose annotation mentions ``Any`` must be one of :data:`DECLARED_ANY`,
so a new one fails here until it is typed or given its reason (docs/reference/typing.md,
"What stays Any"). The implementation signature behind ``@overload``\\s is not counted: a
checker reads the overloads.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "ocpp_fast"

PUBLIC_MODULES = [
    *(f"{name}.py" for name in ("aio", "codec", "dispatch", "errors", "frames", "logs")),
    *(f"{name}.py" for name in ("metrics", "protocol", "simulator", "stations", "tolerance")),
    *(f"v{version}/handlers.py" for version in ("16", "201", "21")),
    "cluster/*.py",
    "compat/*.py",
    "transport/*.py",
]
"""What a user imports (the tools ``bench``, ``cli`` and ``demo`` are not)."""

_HOOKS = "its honest type lives above dispatch (tests/test_layers.py); a Protocol would be wider"
_JSON = "a JSON object of any shape the peer chose (ErrorDetails)"
_QUEUE = "the queue's own API below StationClient.put(), which is typed per request"

DECLARED_ANY = {
    "dispatch.py: Charger.on_connect(connection)": _HOOKS,
    "dispatch.py: Charger.on_disconnect(connection)": _HOOKS,
    "dispatch.py: ChargeSystem.on_startup(server)": _HOOKS,
    "dispatch.py: ChargeSystem.on_shutdown(server)": _HOOKS,
    "dispatch.py: ChargeSystem.on_connect(connection)": _HOOKS,
    "dispatch.py: ChargeSystem.on_disconnect(connection)": _HOOKS,
    "dispatch.py: is_awaitable -> return": "an awaitable of whatever the handler returns",
    "frames.py: CallError.details": _JSON,
    "errors.py: OcppError.__init__(details)": _JSON,
    "errors.py: OcppError.details": _JSON,
    "cluster/wire.py: Outcome.details": _JSON,
    "cluster/config.py: ClusterConfig.options": "nats-py's connect() keywords, passed on",
    "cluster/config.py: connect_nats(options)": "nats-py's connect() keywords, passed on",
    "cluster/relay.py: Relay.forward -> return": "the worker's response, of the CALL's action",
    "cluster/wire.py: response_of -> return": "the response of `action`, decoded for call()",
    "transport/runtime.py: run(main)": "a Coroutine[Any, Any, T]: its yields and sends",
    "transport/txqueue.py: classify(request)": _QUEUE,
    "transport/txqueue.py: TransactionQueue.put(request)": _QUEUE,
    "transport/txqueue.py: TransactionQueue.acknowledged(response)": _QUEUE,
    "transport/txqueue.py: QueuedMessage.send -> return": _QUEUE,
    "aio.py: AsyncConnection.call_checked -> return": (
        "the response of `action`, named by a string (the queue's stored payload): a typed "
        "caller has the request, and call()"
    ),
}
"""Every public place declared ``Any`` (or holding ``Any``, as ``dict[str, Any]``), with why."""


def _mentions_any(annotation: ast.expr | None) -> bool:
    return annotation is not None and any(
        isinstance(node, ast.Name) and node.id == "Any" for node in ast.walk(annotation)
    )


def _is_overloaded(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(ast.unparse(d).endswith("overload") for d in function.decorator_list)


def _public(name: str) -> bool:
    return not name.startswith("_") or name in ("__init__", "__call__")


def _places(body: list[ast.stmt], prefix: str) -> Iterator[str]:
    overloaded = {
        n.name
        for n in body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and _is_overloaded(n)
    }
    for node in body:
        if isinstance(node, ast.If):  # TYPE_CHECKING blocks: what a checker reads
            yield from _places(node.body + node.orelse, prefix)
        elif isinstance(node, ast.ClassDef) and _public(node.name):
            yield from _places(node.body, f"{prefix}{node.name}.")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if not _public(node.name) or node.name in overloaded:
                continue
            arguments = node.args
            for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
                if _mentions_any(argument.annotation):
                    yield f"{prefix}{node.name}({argument.arg})"
            if _mentions_any(node.returns):
                yield f"{prefix}{node.name} -> return"
            if prefix:  # a method: the attributes it declares on self
                yield from _attributes_of_self(node, prefix)
        elif (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and _public(node.target.id)
            and _mentions_any(node.annotation)
        ):
            yield f"{prefix}{node.target.id}"


def _attributes_of_self(
    method: ast.FunctionDef | ast.AsyncFunctionDef, prefix: str
) -> Iterator[str]:
    for node in ast.walk(method):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Attribute)
            and isinstance(node.target.value, ast.Name)
            and node.target.value.id == "self"
            and _public(node.target.attr)
            and _mentions_any(node.annotation)
        ):
            yield f"{prefix}{node.target.attr}"


def declared_any() -> set[str]:
    found = set()
    for pattern in PUBLIC_MODULES:
        for path in sorted(PACKAGE.glob(pattern)):
            if path.name.startswith("_") and path.name != "__init__.py":
                continue
            where = path.relative_to(PACKAGE).as_posix()
            tree = ast.parse(path.read_text(encoding="utf-8"))
            found |= {f"{where}: {place}" for place in _places(tree.body, "")}
    return found


def test_every_public_any_is_listed_with_its_reason() -> None:
    found = declared_any()
    assert sorted(found - DECLARED_ANY.keys()) == [], "type these, or list them with why"
    assert sorted(DECLARED_ANY.keys() - found) == [], "typed now: drop them from the list"


def test_the_reader_finds_an_any_where_it_is_written() -> None:
    """The scan itself: a parameter, a return, an attribute; not a private name, not the
    implementation behind overloads."""
    source = """
from typing import Any, overload
class Box:
    size: dict[str, Any]
    _hidden: Any
    def put(self, item: Any) -> None:
        self.last: Any = item
        self._seen: Any = item
    def get(self) -> list[Any]: ...
    @overload
    def pick(self, key: int) -> int: ...
    @overload
    def pick(self, key: str) -> str: ...
    def pick(self, key: Any) -> Any: ...
def _private(value: Any) -> Any: ...
"""
    places = set(_places(ast.parse(source).body, ""))
    assert places == {"Box.size", "Box.put(item)", "Box.last", "Box.get -> return"}
