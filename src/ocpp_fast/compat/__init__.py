"""The drop-in for backends written with the ``ocpp`` package (extra ``ocpp-fast[compat]``).

One line at start-up, before the backend imports its ChargePoint base::

    import ocpp_fast.compat

    ocpp_fast.compat.install()

    from ocpp.v201 import ChargePoint  # now ocpp_fast.compat.v201.ChargePoint

After :func:`install`, ``ocpp.v16.ChargePoint``, ``ocpp.v201.ChargePoint``,
``ocpp.v21.ChargePoint`` and ``ocpp.charge_point.ChargePoint`` are the classes of
this package: subclasses of ``ocpp``'s own, with its constructor, attributes and
methods, its dataclasses, exceptions and ``@on``/``@after`` routing, and
ocpp_fast's codec underneath. Or subclass :class:`ocpp_fast.compat.v201.ChargePoint`
(or ``.v16``, ``.v21``) directly. Where the two differ, the wire follows the
OCPP-J spec and the Python API follows ``ocpp`` (the exceptions raised in the
backend's process included): see docs/how-to/migrate-from-ocpp.md.
"""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import Any

from ocpp_fast._extras import require

require("ocpp", "ocpp_fast.compat")

from ocpp_fast.compat._charge_point import ChargePoint  # noqa: E402

__all__ = ["ChargePoint", "install", "installed", "uninstall"]

_replaced: dict[ModuleType, Any] = {}
"""The module whose ``ChargePoint`` was replaced -> ``ocpp``'s original class."""


def _targets() -> list[tuple[ModuleType, type[Any]]]:
    import ocpp.charge_point
    import ocpp.v16
    import ocpp.v21
    import ocpp.v201

    from ocpp_fast.compat import v16, v21, v201  # built on ocpp's classes before any swap

    return [
        (ocpp.charge_point, ChargePoint),
        (ocpp.v16, v16.ChargePoint),
        (ocpp.v201, v201.ChargePoint),
        (ocpp.v21, v21.ChargePoint),
    ]


def install() -> None:
    """Make ``ocpp``'s ChargePoint classes ocpp_fast's. Idempotent.

    Classes a backend defined before the call keep their base: call it first. A
    backend class found on ``ocpp``'s own class (defined before the call, or after it
    from a name imported before it) is warned about (``RuntimeWarning``): an import
    sorter moving ``install()`` below the imports must not leave the backend silently
    on ``ocpp``'s code.
    """
    swapped = []
    for module, replacement in _targets():
        current = module.ChargePoint
        if current is not replacement:
            _replaced.setdefault(module, current)
            module.ChargePoint = replacement  # type: ignore[attr-defined]
            swapped.append(current)
            if "__init_subclass__" not in vars(current):
                current.__init_subclass__ = classmethod(_subclassed_too_late)
    early = [cls for original in swapped for cls in original.__subclasses__()]
    _warn_if_backend(early, "defined before install()")


def uninstall() -> None:
    """Give ``ocpp`` its own ChargePoint classes back. Idempotent."""
    while _replaced:
        module, original = _replaced.popitem()
        module.ChargePoint = original  # type: ignore[attr-defined]
        hook = vars(original).get("__init_subclass__")
        if isinstance(hook, classmethod) and hook.__func__ is _subclassed_too_late:
            del original.__init_subclass__  # the one install() set, nothing of ocpp's


def _subclassed_too_late(cls: type[Any], /) -> None:
    """``__init_subclass__`` of ``ocpp``'s classes while installed (they have none of
    their own, so nothing is chained): a backend class made from a name imported before
    :func:`install` is still on ``ocpp``'s class."""
    ours = tuple(module.ChargePoint for module in _replaced)  # inherit this hook too
    if not issubclass(cls, ours):
        _warn_if_backend([cls], "its base imported before install()")


def _warn_if_backend(classes: list[type[Any]], how: str) -> None:
    backend = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in classes
        if cls.__module__ != "ocpp" and not cls.__module__.startswith(("ocpp.", "ocpp_fast."))
    ]
    if backend:
        warnings.warn(
            f"{', '.join(backend)}: a subclass of ocpp's own ChargePoint ({how}), not of "
            "ocpp_fast's, so it runs on ocpp's code. Call ocpp_fast.compat.install() before "
            "the backend's imports, or subclass ocpp_fast.compat.v201.ChargePoint (or .v16, "
            ".v21) directly.",
            RuntimeWarning,
            stacklevel=3,
        )


def installed() -> bool:
    """Whether :func:`install` is in effect."""
    return bool(_replaced)
