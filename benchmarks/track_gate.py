"""The regression gate: instructions per message of HEAD against a base, and its summary.

The gate decides on instruction counts only (callgrind, see track_measure): on an
unchanged commit they move by at most 0.17 % from run to run (docs/explanation/benchmarks.md,
measured with ``track.py spread --runs 10``) and by up to 0.43 % from commit to commit where
the code measured did not change, where wall time on a shared machine moves by 10 % or more.
So the threshold can be tight enough to see one extra small dict copy per message, and a
noisy neighbour can neither fail it nor hide a loss. Wall time is measured too and shown
beside, as the ratio of each variant to the msgspec floor timed interleaved in the same
process, but it decides nothing.

Gated are the variants whose code is ours: a (compiled round trip), b (pure round trip),
e (``handle``), f (the drop-in), i (the live path) and j (the live path with metrics, as
operators run it). The floor (d) is msgspec alone and
c is the ``ocpp`` package: they move only with those packages.

Each instruction table of a line (``track_history.TABLES``: the 2.0.1, 1.6 and 2.1 mixes)
is compared with the same rules, and a regression in any fails the gate. A table or a
variant only one side has is shown as not measured and decides nothing, unless head lost a
gated figure base had: a base line recorded before the 1.6 (or 2.1) table existed gates the
versions it has alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from track_history import TABLES, VARIANT_NAMES

GATED = ("a", "b", "e", "f", "i", "j")
THRESHOLD_PCT = 1.0
"""Percent of instructions per message (weighted by the mix) a gated variant may grow by.
Chosen from two measured spreads: over 10 runs of one unchanged commit the weighted counts
moved by at most 0.17 % (max/min; standard deviation at most 0.05 %), and between
neighbouring back-filled commits the variants whose code did not change (the floor, the
compiled codec) drifted by up to 0.43 %, as unrelated code moves the interpreter's
allocations. Wall time on the shared machine moved by 40 % to 380 %. 1 % is more than twice
the largest drift, and still catches one extra copy of the route table per message in
``handle`` (+2.5 %)."""

NAMES = VARIANT_NAMES


@dataclass(frozen=True)
class Row:
    """One variant's weighted instructions per message at base and head."""

    variant: str
    base: int | None
    head: int | None
    gated: bool

    @property
    def change_pct(self) -> float | None:
        """Head over base, in percent (positive: more instructions, slower)."""
        if self.base is None or self.head is None:
            return None
        return (self.head / self.base - 1) * 100

    def verdict(self, threshold: float) -> str:
        """regression / faster / same / missing; only a gated row can be a regression."""
        change = self.change_pct
        if change is None:
            return "not measured"
        if change > threshold:
            return "REGRESSION" if self.gated else "slower (not gated)"
        if change < -threshold:
            return "faster"
        return "same"


def compare(base: dict[str, Any], head: dict[str, Any], gated: Sequence[str] = GATED) -> list[Row]:
    """The rows of the instruction table, one per variant measured at either side."""
    base_counts = base.get("variants", {})
    head_counts = head.get("variants", {})
    keys = [k for k in NAMES if k in base_counts or k in head_counts]
    return [Row(k, base_counts.get(k), head_counts.get(k), k in gated) for k in keys]


def compare_tables(base: dict[str, Any], head: dict[str, Any]) -> dict[str, list[Row]]:
    """Per OCPP version, the rows of its instruction table in two history lines (an empty
    list where neither line has it)."""
    return {
        version: compare(base.get(table, {}), head.get(table, {}))
        for table, version in TABLES.items()
    }


def failed_tables(tables: dict[str, list[Row]], threshold: float = THRESHOLD_PCT) -> list[Row]:
    """The failed rows of every version's table."""
    return [row for rows in tables.values() for row in failed(rows, threshold)]


def failed(rows: Sequence[Row], threshold: float = THRESHOLD_PCT) -> list[Row]:
    """The gated rows that grew beyond the threshold, or that head could not measure."""
    out = []
    for row in rows:
        if not row.gated:
            continue
        if (row.head is None and row.base is not None) or row.verdict(threshold) == "REGRESSION":
            out.append(row)
    return out


def _ratios(wall: dict[str, Any]) -> dict[str, float]:
    figures = wall.get("variants", {})
    floor = figures.get("d")
    if not floor:
        return {}
    return {k: figures[k] / floor for k in NAMES if k in figures and k != "d"}


def _worst_frames(base: dict[str, Any], head: dict[str, Any], variant: str) -> str:
    before = base.get("per_frame", {}).get(variant, {})
    after = head.get("per_frame", {}).get(variant, {})
    moves = sorted(
        ((after[f] / before[f] - 1) * 100, f) for f in before if f in after and before[f]
    )
    if not moves:
        return ""
    change, frame = moves[-1]
    return f"; most in {frame} ({change:+.2f} %)"


def _instruction_table(
    rows: Sequence[Row], base: dict[str, Any], head: dict[str, Any], threshold: float
) -> list[str]:
    """One version's rows as a Markdown table, then what moved in each failed row."""
    out = [
        "| variant | base Ir/msg | head Ir/msg | change | verdict |",
        "|:---|---:|---:|---:|:---|",
    ]
    for row in rows:
        change = row.change_pct
        cells = [
            f"{row.variant} {NAMES[row.variant]}" + ("" if row.gated else " (not gated)"),
            "n/a" if row.base is None else f"{row.base:,}",
            "n/a" if row.head is None else f"{row.head:,}",
            "n/a" if change is None else f"{change:+.2f} %",
            row.verdict(threshold),
        ]
        out.append("| " + " | ".join(cells) + " |")
    for row in failed(rows, threshold):
        out.append("")
        out.append(
            f"- **{row.variant} {NAMES[row.variant]}**: "
            + (
                "not measured at head"
                if row.head is None
                else f"{row.change_pct:+.2f} %" + _worst_frames(base, head, row.variant)
            )
        )
    return out


def markdown(
    base_entry: dict[str, Any],
    head_entry: dict[str, Any],
    threshold: float = THRESHOLD_PCT,
) -> str:
    """The comment-ready summary: verdict, an instruction table per OCPP version, wall
    ratios, setup."""
    tables = compare_tables(base_entry, head_entry)
    title = "FAIL" if failed_tables(tables, threshold) else "pass"
    out = [
        f"### Benchmark gate: {title}",
        "",
        f"`{head_entry['short']}` (head) against `{base_entry['short']}` (base): instructions "
        f"per message under callgrind, weighted by the packaged mix of each OCPP version; a "
        f"gated variant may grow by at most {threshold:g} %.",
    ]
    for (table, version), rows in zip(TABLES.items(), tables.values(), strict=True):
        out += ["", f"OCPP {version} mix:", ""]
        if not rows:
            out.append("not measured at either side.")
            continue
        out += _instruction_table(
            rows, base_entry.get(table, {}), head_entry.get(table, {}), threshold
        )
    base_wall, head_wall = base_entry.get("wall", {}), head_entry.get("wall", {})
    before, after = _ratios(base_wall), _ratios(head_wall)
    if before or after:
        out += [
            "",
            "Wall time, for reading only (noisy; decides nothing): each variant's ns per "
            "message over the msgspec floor's, timed interleaved in one process.",
            "",
            "| variant | base x floor | head x floor |",
            "|:---|---:|---:|",
        ]
        for key in NAMES:
            if key in before or key in after:
                cells = [
                    f"{key} {NAMES[key]}",
                    f"{before[key]:,.2f}" if key in before else "n/a",
                    f"{after[key]:,.2f}" if key in after else "n/a",
                ]
                out.append("| " + " | ".join(cells) + " |")
    out += ["", f"Measured on {head_entry.get('machine')}; {head_entry.get('python')}, "]
    versions = head_entry.get("versions", {})
    out[-1] += ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
    out[-1] += f"; {head_entry.get('valgrind')}."
    return "\n".join(out) + "\n"
