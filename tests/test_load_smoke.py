"""The load benchmark (``make load``) in small: every row runs and yields numbers, 0 errors.

The harness itself runs as a subprocess (``benchmarks/load.py``, as ``make
load`` runs it) with 50 stations in 2 simulator processes for a 2 s window per
row, and writes its figures with ``--json``. Nothing here asserts on timings:
only that each available row measured something, that no station saw an error,
and that a row which cannot run here (ocpp_fast on picows, until its backend
lands) says so instead of failing. The parts with logic of their own (the merge
of several simulator processes' windows, the echo floor's prebuilt answers)
are checked directly.
"""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec
import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import load_report  # noqa: E402  # benchmarks/ is no package: its modules import each other
from bench_harness import run_harness  # noqa: E402
from load import Figures  # noqa: E402
from load_rows import BY_KEY  # noqa: E402

from ocpp_fast import codec, v201  # noqa: E402
from ocpp_fast.transport import backend  # noqa: E402

HARNESS_TIMEOUT = 120.0
"""Seconds the whole small run may take (about 25 s here)."""


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Figures]:
    out = tmp_path_factory.mktemp("load") / "figures.json"
    argv = [sys.executable, str(BENCHMARKS / "load.py"), "--modes", "saturation"]
    argv += ["--saturation-stations", "50", "--saturation-interval", "0.05"]
    argv += ["--saturation-processes", "2", "--window", "2", "--settle", "0.5"]
    argv += ["--ramp", "20", "--quiet-wait", "0", "--json", str(out)]
    run_harness(argv, HARNESS_TIMEOUT)
    rows = msgspec.json.decode(out.read_bytes(), type=list[Figures])
    return {row.row: row for row in rows}


def test_every_row_is_reported(figures: dict[str, Figures]) -> None:
    assert sorted(figures) == sorted(BY_KEY)
    assert all(row.mode == "saturation" and row.stations == 50 for row in figures.values())


@pytest.mark.parametrize("key", ["echo", "ocpp_fast-websockets", "ocpp", "ocpp-rpc"])
def test_row_measures_with_no_error(figures: dict[str, Figures], key: str) -> None:
    row = figures[key]
    assert row.available, row.notes
    assert row.connected == 50, row.notes
    assert row.messages > 0
    assert row.errors == {}
    assert row.rate is not None and row.rate > 0
    assert row.cpu_us_per_msg is not None and row.cpu_us_per_msg > 0
    assert row.p50_ms is not None and row.p99_ms is not None and row.p50_ms <= row.p99_ms
    assert row.rss_kib_per_connection is not None
    assert row.csms_cpu_pct is not None
    assert len(row.simulator_cpu_pct) == 2  # --saturation-processes 2
    assert row.simulator_gc_frozen  # every simulator froze its start-up objects


def test_picows_row_follows_the_backend(figures: dict[str, Figures]) -> None:
    row = figures["ocpp_fast-picows"]
    if backend.available("picows"):
        assert row.available and row.messages > 0 and row.errors == {}, row.notes
    else:
        assert not row.available and row.messages == 0
        assert "not available" in row.notes[0]


def _window(latencies: list[int], errors: dict[str, int], connected: int) -> load_report.Window:
    return load_report.Window(
        stations=connected,
        connected=connected,
        seconds=2.0,
        messages=len(latencies),
        latencies_us=latencies,
        errors=errors,
        errors_total=errors,
        loop_lag_ms=(0.0, 1.0, 2.0),
        gc_pause_ms=(0.0, 0.0),
        gc_collections=(0, 0, 0),
        gc_frozen=True,
        backend="websockets",
        loop="uvloop",
    )


def test_merge_pools_latencies_and_sums_counts() -> None:
    # One fast process and one slow: the merged p99 is the slow one's, not an average.
    fast = _window([1000] * 99, {"InternalError": 1}, 10)
    slow = _window([50_000] * 3, {"InternalError": 2, "TimeoutError": 1}, 5)
    merged = load_report.merge([fast, slow])
    assert (merged.processes, merged.connected, merged.messages) == (2, 15, 102)
    assert merged.p50_ms == 1.0
    assert merged.p99_ms == 50.0
    assert merged.errors == {"InternalError": 3, "TimeoutError": 1}
    assert merged.backends == ["websockets on uvloop"]


def test_reports_round_trip_as_typed_lines() -> None:
    window = _window([5, 6], {}, 2)
    assert load_report.decode(load_report.encode(window)) == window
    progress = load_report.Progress(connected=3, messages=4, errors=0, gc_frozen=False)
    assert load_report.decode(load_report.encode(progress)) == progress
    with pytest.raises(msgspec.ValidationError):
        load_report.decode(b'{"kind": "window", "stations": 1}')


def test_echo_floor_answers_are_valid_responses() -> None:
    from echo_floor import ANSWERS

    from ocpp_fast.simulator import MIX_SHARES

    actions = {kind.split(".")[0] for kind in MIX_SHARES}
    assert actions <= set(ANSWERS)
    for action in sorted(actions):
        frame = b'[3,"1",' + ANSWERS[action] + b"]"
        result = codec.decode_frame(frame, v201.VERSION, {"1": action})
        assert result is not None and result.message_id == "1", action
