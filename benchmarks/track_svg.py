"""A small SVG line-chart writer for the benchmark history (no plotting library).

Why by hand: the charts are committed next to the history they are drawn from, so they
must be byte-for-byte the same for the same history (a plotting library's SVG carries ids,
dates and glyph outlines that change from run to run and weigh hundreds of kilobytes), and
they need only lines, points, axes and labels. This writes exactly that, with rounded
coordinates, in a few kilobytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")


@dataclass(frozen=True)
class Series:
    """One line: its name in the legend and a value (or a gap) per x position."""

    name: str
    values: Sequence[float | None]


@dataclass
class Panel:
    """One plot: a title, its y axis, its lines, and x positions to mark (index, label)."""

    title: str
    y_label: str
    series: list[Series]
    marks: list[tuple[int, str]] = field(default_factory=list)
    y_from_zero: bool = True


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / ticks if span > 0 else 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _fmt(value: float) -> str:
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def chart(title: str, x_labels: Sequence[str], panels: Sequence[Panel], width: int = 900) -> str:
    """The SVG text: panels stacked, sharing the x axis (one position per label)."""
    panel_h, top, left, right, bottom = 230, 40, 70, 190, 70
    height = top + len(panels) * (panel_h + 40) + bottom
    plot_w = width - left - right
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2:g}" y="22" text-anchor="middle" font-size="15">'
        f"{escape(title)}</text>",
    ]
    count = len(x_labels)

    def x_of(index: int) -> float:
        return left + (plot_w * index / (count - 1) if count > 1 else plot_w / 2)

    for number, panel in enumerate(panels):
        y0 = top + number * (panel_h + 40) + 20
        out += _panel(panel, y0, panel_h, left, plot_w, x_of)
    label_every = max(1, math.ceil(count / 40))
    base = top + len(panels) * (panel_h + 40) - 20
    for index, label in enumerate(x_labels):
        if index % label_every and index != count - 1:
            continue
        x = x_of(index)
        out.append(
            f'<text x="{_n(x)}" y="{base + 8}" font-size="9" font-family="monospace" '
            f'transform="rotate(60 {_n(x)} {base + 8})">{escape(label)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _panel(
    panel: Panel, y0: float, height: int, left: int, plot_w: int, x_of: Callable[[int], float]
) -> list[str]:
    values = [v for s in panel.series for v in s.values if v is not None]
    low = 0.0 if panel.y_from_zero or not values else min(values)
    high = max(values) if values else 1.0
    step = _nice_step(high - low)
    low = math.floor(low / step) * step
    high = math.ceil(high / step) * step if high > low else low + step

    def y_of(value: float) -> float:
        return y0 + height - (value - low) / (high - low) * height

    out = [
        f'<text x="{left}" y="{_n(y0 - 6)}" font-size="12" font-weight="bold">'
        f"{escape(panel.title)}</text>",
        f'<text x="14" y="{_n(y0 + height / 2)}" text-anchor="middle" '
        f'transform="rotate(-90 14 {_n(y0 + height / 2)})">{escape(panel.y_label)}</text>',
        f'<rect x="{left}" y="{_n(y0)}" width="{plot_w}" height="{height}" fill="none" '
        f'stroke="#999"/>',
    ]
    tick = low
    while tick <= high + step / 2:
        y = y_of(tick)
        out.append(
            f'<line x1="{left}" y1="{_n(y)}" x2="{left + plot_w}" y2="{_n(y)}" stroke="#eee"/>'
        )
        out.append(f'<text x="{left - 6}" y="{_n(y + 4)}" text-anchor="end">{_fmt(tick)}</text>')
        tick += step
    for number, (index, label) in enumerate(panel.marks):
        x = x_of(index)
        label_y = y0 + 12 + (number % 4) * 12  # staggered: neighbouring marks' labels overlap
        out.append(
            f'<line x1="{_n(x)}" y1="{_n(y0)}" x2="{_n(x)}" y2="{_n(y0 + height)}" '
            f'stroke="#888" stroke-dasharray="4 3"/>'
        )
        # a mark in the right part of the plot is labelled on its left: to its right
        # lies the legend, which a label there would run over
        at_right = x > left + plot_w * 0.8
        anchor = f'x="{_n(x - 3)}" text-anchor="end"' if at_right else f'x="{_n(x + 3)}"'
        out.append(
            f'<text {anchor} y="{_n(label_y)}" font-size="10" fill="#444">{escape(label)}</text>'
        )
    for number, series in enumerate(panel.series):
        color = PALETTE[number % len(PALETTE)]
        runs: list[list[str]] = [[]]
        for index, value in enumerate(series.values):
            if value is None:
                runs.append([])
                continue
            runs[-1].append(f"{_n(x_of(index))},{_n(y_of(value))}")
        for run in runs:
            if len(run) > 1:
                out.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{color}" '
                    f'stroke-width="1.6"/>'
                )
            for point in run:
                cx, cy = point.split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{color}"/>')
        legend_y = y0 + 14 + number * 16
        out.append(
            f'<line x1="{left + plot_w + 12}" y1="{_n(legend_y - 4)}" '
            f'x2="{left + plot_w + 30}" y2="{_n(legend_y - 4)}" stroke="{color}" '
            f'stroke-width="2"/>'
        )
        out.append(
            f'<text x="{left + plot_w + 34}" y="{_n(legend_y)}">{escape(series.name)}</text>'
        )
    return out
