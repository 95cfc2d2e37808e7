"""The README's and the docs' benchmark chart, drawn from the load benchmark's JSON output.

``benchmarks/load.py --json FILE`` writes one record per row and mode (``Figures``); this
script reads such a file and writes an SVG bar chart of the CSMS process's CPU time per
message: ocpp_fast on picows, the ``ocpp`` package, and the echo floor (bare picows that
validates nothing), at saturation and at a fleet's rate. The chart is never drawn by hand:
``tests/test_bench_chart.py`` checks that the committed SVG is what this script makes of the
committed JSON.

    python tools/bench_chart.py [--json docs/assets/bench/load-latest.json] [--svg ...svg]

To refresh it: ``.venv/bin/python benchmarks/load.py --rows echo ocpp_fast-picows ocpp
--json docs/assets/bench/load-latest.json``, then this script.
"""

from __future__ import annotations

import argparse
from html import escape
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parent.parent
JSON = ROOT / "docs" / "assets" / "bench" / "load-latest.json"
SVG = ROOT / "docs" / "assets" / "bench" / "load-latest.svg"

ROWS = (
    ("ocpp_fast-picows", "ocpp_fast (picows)", "#00897b"),
    ("ocpp", "ocpp 2.1.0 package", "#c62828"),
    ("echo", "floor: echo, no validation", "#9e9e9e"),
)
"""(row key in the JSON, label, colour), top to bottom within a mode."""

MODES = (
    ("saturation", "saturation: 1,000 stations, each calling as soon as answered"),
    ("fleet", "fleet rate: 5,000 stations, a call every 4 s each"),
)


class Figures(msgspec.Struct):
    """The fields of one ``benchmarks/load.py --json`` record this chart reads."""

    row: str
    mode: str
    available: bool
    cpu_us_per_msg: float | None = None
    rate: float | None = None


WIDTH, LEFT, RIGHT, BAR, GAP, TITLE_H, MODE_H = 760, 210, 150, 22, 6, 44, 30


def _figures(path: Path) -> dict[tuple[str, str], float]:
    """CPU µs per message by (row, mode); the first run of each when repeated."""
    found: dict[tuple[str, str], float] = {}
    for record in msgspec.json.decode(path.read_bytes(), type=list[Figures]):
        if record.available and record.cpu_us_per_msg is not None:
            found.setdefault((record.row, record.mode), record.cpu_us_per_msg)
    return found


def render(path: Path) -> str:
    """The SVG of the figures in ``path`` (deterministic: same JSON, same bytes)."""
    figures = _figures(path)
    modes = [(mode, title) for mode, title in MODES if any((r, mode) in figures for r, *_ in ROWS)]
    if not modes:
        raise SystemExit(f"{path}: no figures of the rows {[r for r, *_ in ROWS]}")
    largest = max(
        figures[(row, mode)] for row, *_ in ROWS for mode, _ in modes if (row, mode) in figures
    )
    span = WIDTH - LEFT - RIGHT
    height = TITLE_H + len(modes) * (MODE_H + len(ROWS) * (BAR + GAP)) + 28
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif" '
        'role="img" aria-label="CPU time per OCPP message">',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        '<text x="12" y="26" font-size="17" font-weight="bold" fill="#212121">'
        "CPU time of the CSMS per OCPP 2.0.1 message (µs, lower is better)</text>",
    ]
    y = TITLE_H
    for mode, title in modes:
        out.append(
            f'<text x="12" y="{y + 20}" font-size="14" fill="#424242">{escape(title)}</text>'
        )
        y += MODE_H
        floor = figures.get(("echo", mode))
        for row, label, colour in ROWS:
            value = figures.get((row, mode))
            if value is None:
                continue
            width = max(1.0, span * value / largest)
            ratio = f" ({value / floor:.2f}x floor)" if floor and row != "echo" else ""
            out += [
                f'<text x="{LEFT - 8}" y="{y + BAR - 6}" font-size="13" text-anchor="end" '
                f'fill="#212121">{escape(label)}</text>',
                f'<rect x="{LEFT}" y="{y}" width="{width:.1f}" height="{BAR}" fill="{colour}"/>',
                f'<text x="{LEFT + width + 6:.1f}" y="{y + BAR - 6}" font-size="13" '
                f'fill="#212121">{value:,.1f}{ratio}</text>',
            ]
            y += BAR + GAP
    out += [
        f'<text x="12" y="{height - 10}" font-size="11" fill="#757575">'
        "make load (benchmarks/load.py): CPU time of the CSMS process / messages answered, "
        "simulated stations on 127.0.0.1, 15 s window</text>",
        "</svg>",
    ]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=JSON, help="benchmarks/load.py --json output")
    parser.add_argument("--svg", type=Path, default=SVG, help="where to write the chart")
    args = parser.parse_args()
    args.svg.write_text(render(args.json), encoding="utf-8")
    print(f"wrote {args.svg}")


if __name__ == "__main__":
    main()
