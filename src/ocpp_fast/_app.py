"""What ``ocpp-fast serve APP`` and ``ocpp-fast worker APP`` load: one rule for both.

``APP`` is ``module:attr`` (``attr`` may be dotted: ``module:holder.csms``), imported with
``app_dir`` first on ``sys.path`` (the current directory by default, as uvicorn does),
where ``attr`` is

- a ``ChargeSystem`` class (made with no arguments) or instance;
- a mapping of subprotocol (``"ocpp1.6"``, or the label ``"1.6"``) to such a class or
  instance: several versions on one port;
- a sequence of them (each served as its own version);
- with ``factory=True``, a callable taking no arguments (or a coroutine function) that
  returns any of the above, so building the app may read configuration or open a pool.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import re
import sys
import sysconfig
import traceback
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ocpp_fast.dispatch import ChargeSystem, OcppHandler
from ocpp_fast.transport._handlers import subprotocol_of

__all__ = ["AppError", "import_attribute", "load_app"]


class AppError(ValueError):
    """``APP`` names nothing servable; the message says what was found and what to do."""


def import_attribute(spec: str, app_dir: str | Path | None = ".") -> Any:
    """The object ``module:attr`` names, ``app_dir`` put first on ``sys.path``."""
    module_name, colon, name = spec.partition(":")
    if not colon or not module_name or not name:
        raise AppError(f"name it as module:attribute, not {spec!r}")
    folder = None if app_dir is None else str(Path(app_dir).resolve())
    if folder is not None and folder not in sys.path:
        sys.path.insert(0, folder)
    found: Any = _import(module_name, folder)
    for part in name.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise AppError(
                f"module {module_name!r} has no attribute {name!r}{_near_miss(found, part)}"
            ) from None
    return found


def _near_miss(holder: Any, part: str) -> str:
    """``; did you mean 'app'?`` for a misspelt attribute, the way a typo in a handler's name is
    told: the public names of ``holder`` close to ``part``, or nothing."""
    return did_you_mean(part, [name for name in dir(holder) if not name.startswith("_")])


def did_you_mean(word: str, names: Iterable[str]) -> str:
    """``; did you mean 'app'?``: the one of ``names`` closest to a misspelt ``word``, or
    nothing when none is close (an APP's attribute, a ``--limit`` name)."""
    close = difflib.get_close_matches(word, list(names), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _import(module_name: str, folder: str | None) -> Any:
    """The module, or an :class:`AppError` saying in one line why it did not import
    (``folder``: the app's directory, absolute, as the message names it: ``.`` says nothing
    in a unit's or a container's log).

    Whatever the module raises (a syntax error, a missing dependency, a failing line run at
    import) stops the command before it serves: the CLI says it in one line, where to look
    included, and keeps the traceback (``__cause__``) for ``--log-level debug``."""
    try:
        return importlib.import_module(module_name)
    except SyntaxError as exc:  # IndentationError and TabError too
        where = f"{exc.filename}, line {exc.lineno}" if exc.filename else f"line {exc.lineno}"
        raise AppError(
            f"cannot import {module_name!r}: {type(exc).__name__} at {where}: {exc.msg}"
        ) from exc
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name + ".").startswith(exc.name + "."):
            where = "sys.path" if folder is None else f"{folder} and sys.path"
            raise AppError(f"no module {module_name!r} (looked in {where})") from exc
        raise AppError(f"cannot import {module_name!r}: {raised(exc)}") from exc
    except Exception as exc:
        hint = ""
        if isinstance(exc, RuntimeError) and _LOOP_RUNNING.search(str(exc)):
            _close_unawaited(exc)
            hint = (
                "; the module starts its own event loop at import (asyncio.run(main()) say): "
                'put that under if __name__ == "__main__":, as ocpp-fast runs the loop'
            )
        raise AppError(f"cannot import {module_name!r}: {raised(exc)}{hint}") from exc


_LOOP_RUNNING = re.compile(r"running event loop|another loop is running|already running")
"""What asyncio (and uvloop) say when a loop is started inside the running one: a module
copied from a runnable example, whose ``asyncio.run(main())`` runs at import under the
command's own loop."""


def _close_unawaited(exc: BaseException) -> None:
    """Close the coroutines the failed ``asyncio.run(main())`` never started: freed with the
    exception, each would print a ``RuntimeWarning: coroutine 'main' was never awaited`` under
    the one line that says what to do."""
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        for value in frame.f_locals.values():
            if inspect.iscoroutine(value) and inspect.getcoroutinestate(value) == "CORO_CREATED":
                value.close()


def _libraries() -> tuple[str, ...]:
    """The folders of code that is not the app's: Python's, installed packages', ours."""
    paths = sysconfig.get_paths()
    folders = {paths[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    folders.add(str(Path(__file__).parent))
    return tuple(str(Path(folder).resolve()) + os.sep for folder in folders)


def raised(exc: BaseException) -> str:
    """``KeyError: 'PORT' (at app.py, line 3)``: the exception and the line of the app that
    raised it, the innermost frame outside Python's library, installed packages and
    ocpp_fast (``os.environ[...]`` raises in ``os``: the line to fix is the app's). Never a
    line of ocpp_fast's: a class called with the wrong arguments raises where we call it,
    which is no line for the app to fix."""
    said = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<")]
    libraries = _libraries()
    ours = str(Path(__file__).parent.resolve()) + os.sep
    own = [f for f in frames if not str(Path(f.filename).resolve()).startswith(libraries)]
    others = [f for f in frames if not str(Path(f.filename).resolve()).startswith(ours)]
    if own or others:
        frame = (own or others)[-1]
        said += f" (at {frame.filename}, line {frame.lineno})"
    return said


def _instance(value: Any, spec: str) -> OcppHandler:
    if isinstance(value, type) and issubclass(value, ChargeSystem) and hasattr(value, "version"):
        try:  # a class is made with no arguments; one that needs some is the app's mistake
            value = value()
        except Exception as exc:
            hint = (
                "; a class is made with no arguments: serve an instance, or a function with "
                "--factory"
                if isinstance(exc, TypeError)
                else ""
            )
            raise AppError(f"{spec}: {value.__name__}() raised {raised(exc)}{hint}") from exc
    if not isinstance(value, ChargeSystem):
        raise AppError(
            f"{spec} gave {value!r}: expected a ChargeSystem class or instance, a mapping of "
            "subprotocol to ChargeSystem, or (with --factory) a function returning one"
        )
    return value


def _subprotocol(key: Any, handler: OcppHandler, spec: str) -> str:
    try:
        return subprotocol_of(key, handler, "ChargeSystem")
    except ValueError as exc:
        raise AppError(f"{spec}: {exc}") from None


def handlers_of(value: Any, spec: str) -> dict[str, OcppHandler]:
    """``value`` (a class, instance, mapping or sequence of them) as handlers by subprotocol."""
    if isinstance(value, Mapping):
        handlers = {}
        for key, item in value.items():
            handler = _instance(item, spec)
            handlers[_subprotocol(key, handler, spec)] = handler
    elif isinstance(value, Sequence) and not isinstance(value, str):
        listed = [_instance(item, spec) for item in value]
        handlers = {handler.version.subprotocol: handler for handler in listed}
    else:
        handler = _instance(value, spec)
        handlers = {handler.version.subprotocol: handler}
    if not handlers:
        raise AppError(f"{spec} serves no version")
    return handlers


async def load_app(
    spec: str, *, factory: bool = False, app_dir: str | Path | None = "."
) -> dict[str, OcppHandler]:
    """The handlers ``spec`` names, by subprotocol (see the module's docstring)."""
    found = import_attribute(spec, app_dir)
    if factory:
        if not callable(found):
            raise AppError(f"--factory: {spec} is {found!r}, not a function")
        try:
            found = found()
            if inspect.isawaitable(found):
                found = await found
        except AppError:
            raise
        except Exception as exc:
            raise AppError(f"--factory: {spec} raised {raised(exc)}") from exc
    elif callable(found) and not isinstance(found, type | OcppHandler):
        raise AppError(f"{spec} is a function: pass --factory to serve what it returns")
    return handlers_of(found, spec)
