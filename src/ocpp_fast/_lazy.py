"""Names a package exports but loads only on first use (PEP 562 ``__getattr__``).

A version package (``ocpp_fast.v201``) exports its model and its handler base
classes, but a firmware or a tool that only needs the Structs must not pay for
dispatch, the protocol and the codec: ``import ocpp_fast.v201.messages`` runs
the package's ``__init__`` first, so that ``__init__`` imports nothing itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["SHARED_EXPORTS", "VERSION_PACKAGE_EXPORTS", "lazy_exports"]


VERSION_PACKAGE_EXPORTS: Mapping[str, str] = {
    "VERSION": "version",
    "ChargeSystem": "handlers",
    "Charger": "handlers",
    **{name: name for name in ("actions", "datatypes", "enums", "messages")},
}
"""What each version package (``ocpp_fast.v201`` ...) exports, by the submodule holding it."""

SHARED_EXPORTS: Mapping[str, str] = {
    "UNSET": "msgspec",
    "UnsetType": "msgspec",
    "CallContext": "ocpp_fast.dispatch",
    "Tolerance": "ocpp_fast.tolerance",
}
"""Names every version package (and ``ocpp_fast``) also exports, by the module holding them:
what a handler's code needs beside the version's own model."""


def lazy_exports(
    package: str, exports: Mapping[str, str], shared: Mapping[str, str] = SHARED_EXPORTS
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``exports`` maps each exported name to
    the submodule holding it (a name equal to its submodule is the submodule itself),
    ``shared`` to the module (a full name) holding it."""

    def __getattr__(name: str) -> Any:
        module_name = exports.get(name)
        if module_name is not None:
            module = importlib.import_module(f"{package}.{module_name}")
        elif name in shared:
            module, module_name = importlib.import_module(shared[name]), ""
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = module if module_name == name else getattr(module, name)
        globals_of_package = vars(importlib.import_module(package))
        globals_of_package[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*exports, *shared, *vars(importlib.import_module(package))})

    return __getattr__, __dir__
