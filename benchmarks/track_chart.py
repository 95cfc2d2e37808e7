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

from track_history import VARIANT_NAMES
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


def _instr_16(entry: Entry, key: str) -> float | None:
    """The 1.6 mix's count (``None`` on the lines recorded before the history kept it)."""
    return _instr(entry, key, "instructions_v16")


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


def _v16_chart(entries: Sequence[Entry], machine: str) -> str:
    """The 1.6 mix, from the first line that measured it on (older lines have no 1.6
    figures: drawn, they would only be an empty stretch)."""
    first = next((n for n, e in enumerate(entries) if "instructions_v16" in e), len(entries))
    shown = entries[first:]
    labels = [e["short"] for e in shown]
    marks = steps(shown, value=_instr_16)
    return (
        chart(
            f"OCPP 1.6 mix: instructions per message ({len(shown)} commits)",
            labels,
            [
                Panel(
                    "instructions per message (callgrind, weighted 1.6 mix; deterministic)",
                    "instructions",
                    _series(shown, SHOWN, _instr_16),
                    marks,
                ),
                Panel(
                    "over the msgspec floor (instructions, 1.6 mix)",
                    "x floor",
                    _series(shown, OURS, _ratio(_instr_16, None, "d")),
                    marks,
                    y_from_zero=False,
                ),
            ],
        )
        + f"<!-- {machine} -->\n"
    )


def codec_charts(entries: Sequence[Entry]) -> dict[str, str]:
    """File name -> SVG text, for the codec and dispatch history (v16.svg: the 1.6 mix)."""
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
    if any("instructions_v16" in e for e in entries):
        charts["v16.svg"] = _v16_chart(entries, machine)
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
