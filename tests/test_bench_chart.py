"""The benchmark chart of the README and the docs is drawn from the benchmark's JSON output."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import bench_chart  # noqa: E402


def test_committed_chart_is_what_the_script_draws_from_the_committed_json() -> None:
    assert bench_chart.SVG.read_text(encoding="utf-8") == bench_chart.render(bench_chart.JSON)


def test_chart_shows_each_rows_figure(tmp_path: Path) -> None:
    figures = tmp_path / "load.json"
    figures.write_text(
        '[{"row":"echo","mode":"saturation","available":true,"cpu_us_per_msg":10.0},'
        '{"row":"ocpp_fast-picows","mode":"saturation","available":true,"cpu_us_per_msg":15.0},'
        '{"row":"ocpp","mode":"saturation","available":true,"cpu_us_per_msg":300.0},'
        '{"row":"ocpp-rpc","mode":"saturation","available":true,"cpu_us_per_msg":40.0}]'
    )
    svg = bench_chart.render(figures)
    assert "15.0 (1.50x floor)" in svg and "300.0 (30.00x floor)" in svg and ">10.0<" in svg
    assert "fleet rate" not in svg  # a mode without figures is left out
