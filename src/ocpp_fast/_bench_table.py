"""The table ``ocpp-fast bench`` prints (for :mod:`.bench`): ns per operation per frame and
variant, the weighted row, and the ratios against the targets set for them.

Apart from the variants and their timing, so that what is measured and how it reads stay
small modules each; it knows a frame by its label and weight only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

__all__ = ["LIVE_PATH_TARGET_US", "TARGETS", "WORST_ACTION_TARGET", "Row", "table"]


class Row(Protocol):
    """What the table reads of a frame of the mix (:class:`~ocpp_fast.bench.MixFrame`)."""

    @property
    def label(self) -> str:
        """The row's name: the action, and what tells its frames apart."""

    @property
    def weight(self) -> float:
        """Its share of the traffic."""


WORST_ACTION_TARGET = 2.5
"""No action's e/d above this: small messages (Heartbeat) feel dispatch's fixed cost most."""
LIVE_PATH_TARGET_US = 3.5
"""The live path (i), weighted, in µs per message."""

TARGETS = (
    # (numerator, denominator, comparison, target, what it says)
    ("a", "d", "<=", 1.25, "validation costs little over the untyped floor"),
    ("c", "a", ">=", 250.0, "hundreds of times faster than the ocpp package"),
    ("b", "a", ">=", 1.3, "the compiled codec earns its keep over pure Python"),
    ("e", "d", "<=", 1.30, "dispatch through ChargeSystem.handle stays near the floor"),
    ("c", "e", ">=", 200.0, "dispatch is hundreds of times faster than the ocpp package"),
    ("c", "f", ">=", 10.0, "the drop-in: same ocpp handlers, ocpp_fast.compat underneath"),
    ("g", "e", "<=", 1.05, "a permissive policy costs conformant frames nothing (noise only)"),
    ("j", "i", "<=", 1.15, "Prometheus metrics cost little per message"),
)


def _ns(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def _ratio(num: float | None, den: float | None) -> str:
    return "n/a" if num is None or den is None else f"{num / den:,.2f}"


def _verdict(value: float, op: str, target: float) -> str:
    """``met``, or how far from the target."""
    if value <= target if op == "<=" else value >= target:
        return "met"
    if op == "<=":
        return f"NOT met, {value / target - 1:.0%} over"
    return f"NOT met, {1 - value / target:.0%} short"


def table(
    frames: Sequence[Row],
    best: dict[str, list[float]],
    keys: Sequence[str],
    footer: Sequence[str],
    markdown: bool,
) -> str:
    """The table of the variants ``keys`` (one row per frame, then the weighted row), the
    ratios against their targets, then ``footer`` (the machine, what ran, how it was timed)."""
    total_weight = sum(f.weight for f in frames)

    def cell(v: str, i: int | None) -> float | None:
        if v not in best:
            return None
        if i is None:
            return sum(f.weight * t for f, t in zip(frames, best[v], strict=True)) / total_weight
        return best[v][i]

    ran_variants = list(keys)
    header = ["action", "weight", *(f"{v} ns/op" for v in ran_variants)]
    header += [f"{num}/{den}" for num, den, *_ in TARGETS]
    rows = []
    for i in [*range(len(frames)), None]:
        if i is None:
            label, weight = "weighted", total_weight
        else:
            label, weight = frames[i].label, frames[i].weight
        rows.append(
            [
                label,
                f"{weight:g}",
                *(_ns(cell(v, i)) for v in ran_variants),
                *(_ratio(cell(num, i), cell(den, i)) for num, den, *_ in TARGETS),
            ]
        )

    out: list[str] = []
    if markdown:
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "|".join([":---", *["---:"] * (len(header) - 1)]) + "|")
        for row in rows:
            if row[0] == "weighted":
                row = [f"**{x}**" for x in row]
            out.append("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]

        def line(row: list[str]) -> str:
            first = row[0].ljust(widths[0])
            return "  ".join(
                [first, *(x.rjust(w) for x, w in zip(row[1:], widths[1:], strict=True))]
            )

        out.append(line(header))
        out.append("-" * len(out[0]))
        out += [line(r) for r in rows[:-1]]
        out.append("-" * len(out[0]))
        out.append(line(rows[-1]))

    out.append("")
    bullet = "- " if markdown else ""
    for num, den, op, target, meaning in TARGETS:
        x, y = cell(num, None), cell(den, None)
        if x is None or y is None:
            out.append(f"{bullet}{num}/{den}: n/a (target {op} {target:g}: not measured)")
            continue
        ratio = x / y
        out.append(
            f"{bullet}{num}/{den} = {ratio:,.2f} (target {op} {target:g}: "
            f"{_verdict(ratio, op, target)}; {meaning})"
        )
    if "e" in best and "d" in best:
        worst, label = max(
            (e / d, f.label) for e, d, f in zip(best["e"], best["d"], frames, strict=True)
        )
        out.append(
            f"{bullet}worst e/d = {worst:,.2f}, {label} (target <= {WORST_ACTION_TARGET:g}: "
            f"{_verdict(worst, '<=', WORST_ACTION_TARGET)}; no action far from the floor)"
        )
    live = cell("i", None)
    if live is not None:
        out.append(
            f"{bullet}i = {live / 1000:,.2f} µs (target <= {LIVE_PATH_TARGET_US:g} µs: "
            f"{_verdict(live / 1000, '<=', LIVE_PATH_TARGET_US)}; a live connection's cost "
            "per message)"
        )
    out.append("")
    out += [f"{bullet}{x}" for x in footer]
    return "\n".join(out)
