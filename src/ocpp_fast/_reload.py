"""``ocpp-fast serve APP --reload``: serve APP again whenever one of its Python files changes.

For development only. This process serves nothing itself: it runs ``serve`` once more as its
one child, through the :class:`~ocpp_fast._supervisor.Supervisor` that runs the processes of
``--workers N``, and polls the files' modification times (no dependency on a watching
library, and the same on every platform) every :data:`INTERVAL` seconds. On a change the
child is stopped as SIGTERM stops it (``on_shutdown`` runs, stations are closed with *going
away*, so a simulator reconnects) and started again; an edit that no longer imports is said
by the child in one line, and the next change starts it again.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ocpp_fast._cli_log import command_log, log_to
from ocpp_fast._supervisor import Supervisor
from ocpp_fast.transport.runtime import RELOADED_ENVIRONMENT

__all__ = [
    "INTERVAL",
    "WATCHED_FILES",
    "Watcher",
    "app_folders",
    "serve_reloading",
]

INTERVAL = 0.5
"""Seconds between two looks at the files."""
WATCHED_FILES = 10_000
"""Files watched at most: each look stats every one, so a folder holding a virtualenv or a
checkout of other projects would cost a core. Beyond it a warning, and the first ones in
sorted order are watched."""
RELOADER = "reloader"
"""How the parent's lines name it."""
_SKIPPED = frozenset({"__pycache__", "node_modules", "site-packages"})


def _skipped(folder: str, name: str) -> bool:
    """A folder holding no code of the app: hidden (``.git``, ``.venv``), caches, installed
    packages, a virtualenv by any name."""
    return (
        name.startswith(".")
        or name in _SKIPPED
        or os.path.exists(os.path.join(folder, name, "pyvenv.cfg"))
    )


class Watcher:
    """The ``.py`` files under ``folders``; :meth:`changed` says one that changed (modified,
    added or removed) since the last look, at most once every ``interval`` seconds."""

    def __init__(
        self,
        folders: Sequence[str | Path],
        interval: float = INTERVAL,
        cap: int = WATCHED_FILES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folders = [str(folder) for folder in folders]
        self.interval = interval
        self.cap = cap
        self.clock = clock
        self._warned = False
        self._seen = self._look()
        self._next = clock() + interval

    def _look(self) -> dict[str, tuple[int, int]]:
        """Each file's modification time and size (the size too: a coarse clock may give
        two writes in a row the same time)."""
        found: dict[str, tuple[int, int]] = {}
        for top in self.folders:
            for folder, folders, files in os.walk(top):
                folders[:] = sorted(name for name in folders if not _skipped(folder, name))
                for name in sorted(files):
                    if not name.endswith(".py"):
                        continue
                    path = os.path.join(folder, name)
                    try:
                        status = os.stat(path)
                    except OSError:  # removed between the listing and now
                        continue
                    found[path] = (status.st_mtime_ns, status.st_size)
                    if len(found) >= self.cap:
                        self._warn_full()
                        return found
        return found

    def _warn_full(self) -> None:
        if not self._warned:
            self._warned = True
            command_log.warning(
                "--reload watches %d files at most, and %s holds more: name the app's own "
                "folders with --reload-dir",
                self.cap,
                " and ".join(self.folders),
            )

    @property
    def watched(self) -> int:
        """How many files it watches."""
        return len(self._seen)

    def changed(self) -> str | None:
        """A file that changed since the last look (the first in sorted order), if it is
        time to look again; else ``None``."""
        now = self.clock()
        if now < self._next:
            return None
        seen = self._look()
        self._next = self.clock() + self.interval
        before = self._seen
        different = sorted(p for p in seen.keys() | before if seen.get(p) != before.get(p))
        self._seen = seen
        if not different:
            return None
        for path in different:
            _forget_bytecode(path)
        return different[0]


def _forget_bytecode(path: str) -> None:
    """Remove the cached bytecode of ``path``: a ``.pyc`` records its source's modification
    time in whole seconds and its size, so an edit keeping the size within the second the
    cache was written would be served from the cache, the edit unseen."""
    # OSError: none written; the others: no cache for this interpreter
    with contextlib.suppress(OSError, ValueError, NotImplementedError):
        os.remove(importlib.util.cache_from_source(path))


def app_folders(app: str, app_dir: str) -> list[str]:
    """What ``--reload`` watches without ``--reload-dir``: ``app_dir`` (where APP is imported
    from, the current folder by default), and the folder of APP's top-level package when it
    lies elsewhere (on ``PYTHONPATH``, installed in development mode). Found without
    importing anything: an import here would run APP's code in the process that must survive
    an edit that breaks it."""
    folders = [app_dir]  # as given: the changed file is said as ./csms.py, not in full
    watched = [os.path.abspath(app_dir)]
    top = app.partition(":")[0].partition(".")[0]
    try:
        spec = importlib.machinery.PathFinder.find_spec(top, [watched[0], *sys.path])
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        if spec.submodule_search_locations:
            found = list(spec.submodule_search_locations)
        elif spec.origin:
            found = [os.path.dirname(spec.origin)]
        else:
            found = []
        for folder in map(os.path.abspath, found):
            if not any(_within(folder, parent) for parent in watched):
                folders.append(folder)
                watched.append(folder)
    return folders


def _within(folder: str, parent: str) -> bool:
    return folder == parent or folder.startswith(parent.rstrip(os.sep) + os.sep)


def serve_reloading(argv: Sequence[str], folders: Sequence[str], log_format: str) -> int:
    """``serve APP --reload``: ``serve`` with ``argv`` in a child (told by
    :data:`RELOADED_ENVIRONMENT` to serve), started again on each change under ``folders``,
    until SIGINT or SIGTERM here (each stopping the child, as it stops ``serve``)."""
    log_to(sys.stdout, "info", log_format, process=RELOADER)
    watcher = Watcher(folders)
    command_log.info(
        "watching the .py files under %s (%d now) for changes, every %g s",
        " and ".join(watcher.folders),
        watcher.watched,
        watcher.interval,
    )
    supervisor = Supervisor(
        [sys.executable, "-m", "ocpp_fast.cli", *argv],
        1,
        tells_started=True,
        changed=watcher.changed,
        environment={RELOADED_ENVIRONMENT: "1"},
    )
    signal.signal(signal.SIGINT, supervisor.stop)
    signal.signal(signal.SIGTERM, supervisor.stop)
    return supervisor.run()
