"""The charts of the benchmark history, drawn from benchmarks/history/*.jsonl as SVG.

One x position per commit, in the order git gives them (``rev-list --topo-order``: commit
dates repeat within a merge), labelled by short hash; the commits where the live path's or
``handle``'s instruction count stepped by more than ``STEP_PCT`` are marked, so a step in
the chart names the commit that made it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from track_history import TABLES, VARIANT_NAMES
from track_svg import Panel, Series, chart

STEP_PCT = 1.5
"""Percent of instructions per message between neighbours that marks a commit."""
MAX_MARKS = 8
SHOWN = ("a", "b", "d", "e", "f", "i")
NAMES = {key: f"{key} {name}" for key, name in VARIANT_NAMES.items()}

Entry = dict[str, Any]


def ordered(entries: Sequence[Entry], topo: Sequence[str]) -> list[Entry]:
    """The last line per commit, oldest first by ``topo`` (commits not in it last, by date)."""
    last: dict[str, Entry] = {}
    for entry in entries:
        last[entry["commit"]] = entry
    rank = {sha: n for n, sha in enumerate(topo)}
    return sorted(last.values(), key=lambda e: (rank.get(e["commit"], len(rank)), e["date"]))


def _instr(entry: Entry, key: str, table: str = "instructions") -> float | None:
    value = entry.get(table, {}).get("variants", {}).get(key)
    return None if value is None else float(value)


def _instr_of(table: str) -> Callable[[Entry, str], float | None]:
    """The count of one version's table (``instructions_v16``...): ``None`` on the lines
    recorded before the history kept that version, and where the commit could not measure
    it (a bench from before the version: its table holds errors only)."""

    def value(entry: Entry, key: str) -> float | None:
        return _instr(entry, key, table)

    return value


def _has(entry: Entry, table: str) -> bool:
    """Whether a line holds any figure of ``table``: "no figure yet" is its absence, or a
    table of errors only, written by a commit whose bench cannot measure that version."""
    return bool(entry.get(table, {}).get("variants"))


def _wall(entry: Entry, key: str) -> float | None:
    value = entry.get("wall", {}).get("variants", {}).get(key)
    return None if value is None else float(value)


def _series(
    entries: Sequence[Entry],
    keys: Sequence[str],
    value: Callable[[Entry, str], float | None],
    name: Callable[[str], str] = NAMES.__getitem__,
) -> list[Series]:
    out = []
    for key in keys:
        values = [value(e, key) for e in entries]
        if any(v is not None for v in values):
            out.append(Series(name(key), values))
    return out


def _ratio(
    get: Callable[[Entry, str], float | None], num: str | None, den: str | None
) -> Callable[[Entry, str], float | None]:
    """x over the floor (``den`` fixed) or the ocpp package over x (``num`` fixed)."""

    def value(entry: Entry, key: str) -> float | None:
        top, bottom = get(entry, num or key), get(entry, den or key)
        return None if top is None or not bottom else top / bottom

    return value


def steps(
    entries: Sequence[Entry],
    keys: Sequence[str] = ("i", "e"),
    value: Callable[[Entry, str], float | None] = _instr,
) -> list[tuple[int, str]]:
    """The biggest steps in instructions between neighbouring commits: (index, label)."""
    found: list[tuple[float, int, str]] = []
    for index in range(1, len(entries)):
        for key in keys:
            before, after = value(entries[index - 1], key), value(entries[index], key)
            if before and after and abs(after / before - 1) * 100 > STEP_PCT:
                change = (after / before - 1) * 100
                label = f"{entries[index]['short']} {key} {change:+.0f}%"
                found.append((abs(change), index, label))
                break
    best = sorted(found, reverse=True)[:MAX_MARKS]
    return sorted((index, label) for _, index, label in best)


OURS = ("a", "e", "f", "i")
RATIO_PANELS = (
    ("over the msgspec floor (instructions)", "x floor", _ratio(_instr, None, "d"), False),
    (
        "over the msgspec floor (wall time, same process)",
        "x floor",
        _ratio(_wall, None, "d"),
        False,
    ),
    ("times faster than the ocpp package (wall time)", "ocpp / x", _ratio(_wall, "c", None), True),
)


def _throughput(entry: Entry, key: str) -> float | None:
    ns = _wall(entry, key)
    return None if not ns else 1e9 / ns


def _microseconds(entry: Entry, key: str) -> float | None:
    ns = _wall(entry, key)
    return None if ns is None else ns / 1000


def _version_chart(entries: Sequence[Entry], machine: str, table: str, version: str) -> str:
    """One version's mix (1.6, 2.1), from the first line with its figures on (older lines
    have none: drawn, they would only be an empty stretch; a gap later is drawn as one)."""
    first = next((n for n, e in enumerate(entries) if _has(e, table)), len(entries))
    shown = entries[first:]
    labels = [e["short"] for e in shown]
    value = _instr_of(table)
    marks = steps(shown, value=value)
    return (
        chart(
            f"OCPP {version} mix: instructions per message ({len(shown)} commits)",
            labels,
            [
                Panel(
                    f"instructions per message (callgrind, weighted {version} mix; deterministic)",
                    "instructions",
                    _series(shown, SHOWN, value),
                    marks,
                ),
                Panel(
                    f"over the msgspec floor (instructions, {version} mix)",
                    "x floor",
                    _series(shown, OURS, _ratio(value, None, "d")),
                    marks,
                    y_from_zero=False,
                ),
            ],
        )
        + f"<!-- {machine} -->\n"
    )


def version_file(version: str) -> str:
    """The chart of a version's mix other than 2.0.1: ``v16.svg``, ``v21.svg``."""
    return "v" + version.replace(".", "") + ".svg"


def codec_charts(entries: Sequence[Entry]) -> dict[str, str]:
    """File name -> SVG text, for the codec and dispatch history (v16.svg, v21.svg: the 1.6
    and 2.1 mixes, once a line has their figures)."""
    labels = [e["short"] for e in entries]
    marks = steps(entries)
    machine = entries[-1].get("machine", "") if entries else ""
    note = f" ({len(entries)} commits)"
    charts = {
        "throughput.svg": chart(
            "ocpp_fast benchmark history: throughput" + note,
            labels,
            [
                Panel(
                    "messages/s per core (wall time, weighted mix; shared 2-core machine: noisy)",
                    "messages/s",
                    _series(entries, SHOWN, _throughput),
                    marks,
                ),
                Panel(
                    "instructions per message (callgrind, weighted mix; deterministic)",
                    "instructions",
                    _series(entries, SHOWN, _instr),
                    marks,
                ),
            ],
        ),
        "ratios.svg": chart(
            "ocpp_fast benchmark history: ratios" + note,
            labels,
            [
                Panel(title, y_label, _series(entries, OURS, ratio), marks, y_from_zero=zero)
                for title, y_label, ratio, zero in RATIO_PANELS
            ],
        ),
        "live_path.svg": chart(
            "The live path (i, AsyncConnection.feed) and handle (e)" + note,
            labels,
            [
                Panel(
                    "µs per message (wall time, weighted mix; noisy)",
                    "µs",
                    _series(entries, ("i", "e"), _microseconds),
                    marks,
                ),
                Panel(
                    "instructions per message (callgrind, weighted mix)",
                    "instructions",
                    _series(entries, ("i", "e"), _instr),
                    marks,
                    y_from_zero=False,
                ),
            ],
        )
        + f"<!-- {machine} -->\n",
    }
    for table, version in TABLES.items():
        if table != "instructions" and any(_has(e, table) for e in entries):
            charts[version_file(version)] = _version_chart(entries, machine, table, version)
    return charts


def load_chart(entries: Sequence[Entry]) -> str | None:
    """CPU µs per message per CSMS over the recorded releases (both load modes)."""
    if not entries:
        return None
    labels = [" ".join(e.get("tags", [])) or e["short"] for e in entries]
    panels = []
    for mode in ("saturation", "fleet"):
        rows = sorted({f["row"] for e in entries for f in e["figures"] if f["mode"] == mode})

        def cpu(entry: Entry, row: str, mode: str = mode) -> float | None:
            for figure in entry["figures"]:
                if figure["row"] == row and figure["mode"] == mode:
                    value = figure.get("cpu_us_per_msg")
                    return None if value is None else float(value)
            return None

        series = _series(entries, rows, cpu, name=str)
        if series:
            panels.append(Panel(f"CSMS CPU µs per message ({mode})", "µs", series))
    if not panels:
        return None
    return chart("On the wire (make load): CPU per message per CSMS", labels, panels)


def write(directory: Path, charts: dict[str, str]) -> list[Path]:
    """Write the charts; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for name, text in sorted(charts.items()):
        path = directory / name
        path.write_text(text, encoding="utf-8")
        out.append(path)
    return out
