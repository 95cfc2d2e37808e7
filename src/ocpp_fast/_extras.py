"""Optional dependencies, each named by the extra of ``ocpp-fast`` that installs it.

Each extra must work installed alone (``pip install "ocpp-fast[picows]"`` with no
websockets), and a missing one must say what to run rather than end in a
traceback of ``No module named 'nats'`` twenty frames deep: a module that needs an
optional dependency calls :func:`require` before importing it.
"""

from __future__ import annotations

import importlib.util

__all__ = ["EXTRA_OF", "MissingExtra", "installed", "require"]

EXTRA_OF = {
    "websockets": "websockets",
    "picows": "picows",
    "prometheus_client": "metrics",
    "nats": "cluster",
    "ocpp": "compat",
}
"""Optional top-level module -> the extra that installs it."""


class MissingExtra(ModuleNotFoundError):
    """An optional dependency is not installed; the message names the extra to install."""


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, needed_for: str) -> None:
    """Raise :class:`MissingExtra` unless ``module`` is installed."""
    if not installed(module):
        raise missing(module, needed_for)


def missing(module: str, needed_for: str) -> MissingExtra:
    """The error saying that ``needed_for`` needs ``module`` and how to install it."""
    extra = EXTRA_OF[module]
    return MissingExtra(
        f'{needed_for} needs {module}, which is not installed: pip install "ocpp-fast[{extra}]"',
        name=module,
    )
