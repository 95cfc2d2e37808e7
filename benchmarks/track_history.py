"""The benchmark history: one JSON object per line, one line per measurement of a commit.

``benchmarks/history/codec.jsonl`` keeps the codec and dispatch benchmark per commit,
``benchmarks/history/load.jsonl`` the on-the-wire load figures per release. Lines are
appended, never rewritten, with sorted keys, so a new measurement is a one-line diff and
a commit measured twice (another machine, another day) keeps both lines: readers take the
last line of a commit measured on a given machine.

Each line says what was measured and on what: the commit (hash, date, subject, tags), the
machine and the versions (Python, msgspec, the ``ocpp`` package, Cython, valgrind), and per
variant of ``ocpp_fast.bench`` (a compiled round trip, b pure, c the ``ocpp`` package, d the
msgspec floor, e ``handle``, f the drop-in, i the live path):

- ``instructions``: instructions per message under callgrind, weighted by the 2.0.1 mix and
  per frame (deterministic: the regression gate's measure);
- ``instructions_v16``: the same on the 1.6 mix (1.6 model, drop-in and ``ocpp.v16``), from
  the lines recorded since December 2026 on; older lines have none, and the gate and the
  charts compare what both sides have;
- ``instructions_v21``: the same on the 2.1 mix (2.1 model and drop-in; its SEND frames
  too), from the lines recorded after the 1.6 ones on, alike: no table, or one of errors
  only (a commit whose bench has no 2.1), is "no figure yet";
- ``wall``: ns per message from that commit's own bench, weighted and per frame (noisy).
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ocpp_fast._machine import describe, version_of

HISTORY = Path(__file__).resolve().parent / "history"
CODEC = HISTORY / "codec.jsonl"
LOAD = HISTORY / "load.jsonl"

VARIANT_NAMES = {
    "a": "compiled round trip",
    "b": "pure round trip",
    "c": "ocpp package",
    "d": "msgspec floor",
    "e": "handle",
    "f": "drop-in",
    "i": "live path",
    "j": "live path with metrics",
}

TABLES = {"instructions": "2.0.1", "instructions_v16": "1.6", "instructions_v21": "2.1"}
"""The instruction tables of a line, by key, and the OCPP version of the mix each measures
(most fleets in the field are 1.6 fleets: a regression there must not pass unseen; 2.1 has
its own generated messages and SEND frames, which neither other mix reaches)."""


def machine(valgrind: str | None) -> dict[str, Any]:
    """Where and with what a line was measured: instruction counts depend on the Python
    build and msgspec; wall times on everything."""
    lines = describe(["msgspec"])
    return {
        "machine": lines[0].removeprefix("machine: "),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "versions": {
            name: version_of(name) for name in ("msgspec", "ocpp", "Cython", "prometheus-client")
        },
        "valgrind": valgrind,
    }


def same_setup(one: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether two lines' instruction counts are comparable (same Python and msgspec)."""
    return (one.get("python"), one.get("versions", {}).get("msgspec")) == (
        other.get("python"),
        other.get("versions", {}).get("msgspec"),
    )


def last_comparable(entries: list[dict[str, Any]], head: dict[str, Any]) -> dict[str, Any] | None:
    """The last line with instruction counts measured like ``head``'s (the gate's base when
    it compares with the history), or ``None``."""
    for line in reversed(entries):
        found: dict[str, Any] = line
        if "variants" in found.get("instructions", {}) and same_setup(found, head):
            return found
    return None


def stamp() -> str:
    """Now, to the second, in UTC."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def append(path: Path, entry: dict[str, Any]) -> None:
    """Add one line (sorted keys, so the same entry always reads the same)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n")


def read(path: Path) -> list[dict[str, Any]]:
    """Every line, in file order; none if the file does not exist yet."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def recorded(path: Path) -> set[str]:
    """The commits that already have a line."""
    return {entry["commit"] for entry in read(path)}
