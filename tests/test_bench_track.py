"""The benchmark history and its gate (benchmarks/track*.py, docs/explanation/benchmarks.md).

The fast tests run in the suite: the bench table read back as the bench prints it, the
probe run natively against this tree's bench (on both mixes), the gate's decision on both
tables, the charts drawn from a history. The end-to-end proof, ``track.py check`` under
valgrind failing on a commit with an extra dict copy per message in the bench's handlers
(on both mixes) and passing on an unchanged one, takes about a minute and a half (eight
callgrind runs), so it is marked ``bench_gate`` and run by
``make bench-gate-test``, like the ``wheel`` tests by ``make wheel``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import instructions  # noqa: E402  # benchmarks/ is no package
import track_chart  # noqa: E402
import track_gate  # noqa: E402
import track_history  # noqa: E402
import track_measure  # noqa: E402

from ocpp_fast import bench  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


def test_the_bench_table_reads_back_as_printed() -> None:
    """parse_bench_table reads what bench.report prints: every ns/op cell, frame and weighted."""
    frames = bench.load_mix(bench.DEFAULT_MIX)
    best = {
        key: [1000.0 * (n + 1) + 37 * k for k in range(len(frames))]
        for n, key in enumerate("abcdefgi")
    }
    ran = {v.key: "ran" for v in bench.VARIANTS}
    text = bench.report(frames, best, ran, [], markdown=True)
    parsed = track_measure.parse_bench_table(text)
    total = sum(f.weight for f in frames)
    for key, values in best.items():
        weighted = sum(f.weight * t for f, t in zip(frames, values, strict=True)) / total
        assert parsed["variants"][key] == round(weighted)
        assert parsed["per_frame"][key] == {
            f.label: round(t) for f, t in zip(frames, values, strict=True)
        }
    assert "j" not in parsed["variants"]  # an n/a column is left out, not read as 0


def probe(mix: Path, plan_file: Path, *options: str) -> dict[str, Any]:
    """The probe run natively (no valgrind) on ``mix``: the plan it wrote, once it exited 0."""
    command = [sys.executable, str(track_measure.PROBE), str(mix), str(plan_file), *options]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    plan: dict[str, Any] = json.loads(plan_file.read_text())
    return plan


def test_the_probe_runs_every_region_of_this_tree(tmp_path: Path) -> None:
    """Run natively (no valgrind), the probe builds this tree's variants and plans one region
    per frame and variant, in the order it runs them, with the counts asked for."""
    options = ("--variants", "d,e,i,z", "--per-frame", "2", "--fewer", "e=1")
    plan = probe(track_measure.MIX, tmp_path / "plan.json", *options)
    frames = bench.load_mix(bench.DEFAULT_MIX)
    assert [(r["variant"], r["frame"], r["count"]) for r in plan["regions"]] == [
        (key, f.key, 1 if key == "e" else 2) for key in "dei" for f in frames
    ]
    assert plan["errors"] == {"z": "RuntimeError: this version's bench has no variant (z)"}
    assert Path(plan["bench_file"]) == Path(bench.__file__).resolve()


@pytest.mark.parametrize(
    ("version", "its_own"),
    [("1.6", {"StartTransaction", "StopTransaction"}), ("2.1", {"NotifyPeriodicEventStream"})],
)
def test_the_probe_measures_each_mix_on_its_model(
    tmp_path: Path, version: str, its_own: set[str]
) -> None:
    """``--version 1.6`` (``2.1``): that mix's frames, each variant built by the bench for
    that version (its records verify every frame against that model, so a 2.0.1 build would
    refuse them: 1.6's transactions, 2.1's SEND)."""
    plan_file = tmp_path / "plan.json"
    mix = track_measure.MIXES[version]
    plan = probe(mix, plan_file, "--variants", "a,e,f,i", "--per-frame", "1", "--version", version)
    frames = bench.load_mix(mix)
    assert {f.action for f in frames} >= its_own
    assert plan["errors"] == {}
    assert [(r["variant"], r["frame"]) for r in plan["regions"]] == [
        (key, f.key) for key in "aefi" for f in frames
    ]
    refused = probe(mix, plan_file, "--variants", "a", "--version", "9.9")
    assert refused["regions"] == [] and "cannot measure OCPP 9.9" in refused["errors"]["a"]


@pytest.mark.parametrize("variant", instructions.VARIANTS)
def test_instructions_builds_each_variant_as_the_probe_does(variant: str) -> None:
    """``benchmarks/instructions.py``'s workload, run natively (its child also pauses the GC
    for good, so not here): each variant's batches come from the probe's builder (the
    bench's records) and run over the mix and over Heartbeats alone."""
    for heartbeat_only in (False, True):
        run, messages = instructions._workload(variant, heartbeat_only)
        run()
        assert messages >= (1 if heartbeat_only else 100)


def _entry(short: str, counts: dict[str, int], wall: dict[str, float] | None = None) -> Any:
    return {
        "commit": short * 6,
        "short": short,
        "date": "2026-11-30T00:00:00+00:00",
        "subject": "s",
        "machine": "m",
        "python": "CPython 3.11.7",
        "versions": {"msgspec": "0.23.0"},
        "valgrind": "valgrind-3.19.0",
        "instructions": {"variants": counts, "per_frame": {}},
        "wall": {"variants": wall or {}},
    }


def test_the_gate_fails_beyond_its_threshold_only_on_gated_variants() -> None:
    """A gated variant over the threshold fails; the same growth within it, or in the floor
    or the ocpp package (not ours), does not; a gated variant head cannot measure fails."""
    base = {"a": 40_000, "c": 6_700_000, "d": 34_000, "e": 48_000, "i": 58_000}
    step = 1 + track_gate.THRESHOLD_PCT / 100
    within = {**base, "e": int(48_000 * (step - 0.001)), "d": 40_000, "c": 9_000_000}
    beyond = {**base, "e": int(48_000 * (step + 0.001)) + 1}
    missing = {k: v for k, v in base.items() if k != "i"}
    assert _failing(base, within) == []
    assert _failing(base, beyond) == ["e"]
    assert _failing(base, missing) == ["i"]
    summary = track_gate.markdown(_entry("aaaaaaa", base), _entry("bbbbbbb", beyond))
    assert summary.startswith("### Benchmark gate: FAIL")
    assert "| e handle | 48,000 |" in summary
    assert "REGRESSION" in summary
    passing = track_gate.markdown(
        _entry("aaaaaaa", base, {"d": 2000.0, "e": 3000.0}),
        _entry("bbbbbbb", within, {"d": 2100.0, "e": 3300.0}),
    )
    assert passing.startswith("### Benchmark gate: pass")
    assert "| e handle | 1.50 | 1.57 |" in passing


@pytest.mark.parametrize(
    ("table", "version"), [("instructions_v16", "1.6"), ("instructions_v21", "2.1")]
)
def test_the_gate_checks_each_version_mix_with_the_same_rules(table: str, version: str) -> None:
    """A 1.6 (2.1) regression fails the gate though every other version is unchanged; a
    base line recorded before the history kept that version gates the others alone (its
    rows read "not measured"); a head that lost a figure its base had fails."""
    counts = {"a": 40_000, "d": 34_000, "e": 48_000, "i": 58_000}
    others = {t: {"variants": {"a": 1_000, "e": 2_000}} for t in track_history.TABLES}
    v16 = {"a": 30_000, "d": 25_000, "e": 36_000, "i": 44_000}
    slower = {**v16, "i": int(44_000 * (1 + track_gate.THRESHOLD_PCT / 100)) + 100}

    def line(short: str, figures: dict[str, int] | None) -> Any:
        entry = {**others, **_entry(short, counts)}
        del entry[table]
        if figures is not None:
            entry[table] = {"variants": figures, "per_frame": {}}
        return entry

    def verdict(base: Any, head: Any) -> list[tuple[str, str]]:
        tables = track_gate.compare_tables(base, head)
        return [(v, row.variant) for v in tables for row in track_gate.failed(tables[v])]

    assert verdict(line("b", v16), line("h", v16)) == []
    assert verdict(line("b", v16), line("h", slower)) == [(version, "i")]
    assert verdict(line("b", None), line("h", slower)) == []
    assert verdict(line("b", v16), line("h", {k: v for k, v in v16.items() if k != "e"})) == [
        (version, "e")
    ]
    summary = track_gate.markdown(line("b", v16), line("h", slower))
    assert summary.startswith("### Benchmark gate: FAIL")
    assert f"OCPP {version} mix:" in summary and "| i live path | 44,000 |" in summary
    old_base = track_gate.markdown(line("b", None), line("h", v16))
    assert old_base.startswith("### Benchmark gate: pass")
    assert "| e handle | n/a | 36,000 | n/a | not measured |" in old_base
    # a commit whose bench has no 2.1 writes a table of errors only: no figure yet, either side
    errors_only = {**line("b", None), table: {"variants": {}, "errors": {"e": "no 2.1"}}}
    assert verdict(errors_only, line("h", slower)) == []
    assert verdict(line("b", None), errors_only) == []
    neither = track_gate.markdown(line("b", None), line("h", None))
    assert f"OCPP {version} mix:\n\nnot measured at either side." in neither


def test_the_gate_against_the_history_takes_the_last_comparable_line() -> None:
    """BASE=history: the last line with counts measured on the same Python and msgspec; a
    line of another msgspec or one whose counts failed is passed over."""
    head = _entry("h000000", {"e": 1})
    older, newer = _entry("o000000", {"e": 2}), _entry("n000000", {"e": 3})
    other_msgspec = {**_entry("m000000", {"e": 4}), "versions": {"msgspec": "0.19.0"}}
    failed = {**_entry("f000000", {}), "instructions": {"error": "valgrind is not installed"}}
    entries = [older, newer, other_msgspec, failed]
    assert track_history.last_comparable(entries, head) is newer
    assert track_history.last_comparable([other_msgspec, failed], head) is None


def _failing(base: dict[str, int], head: dict[str, int]) -> list[str]:
    rows = track_gate.compare({"variants": base}, {"variants": head})
    return [row.variant for row in track_gate.failed(rows)]


def test_the_charts_draw_every_commit_and_mark_the_step() -> None:
    """One point per commit and series, in git's order; the commit where the live path's
    instructions stepped is marked with its hash."""
    counts = [58_000, 58_100, 52_000, 52_050]
    entries = [
        _entry(f"c{n}00000", {"d": 34_000, "e": 47_000, "i": count}, {"d": 1800.0, "i": 3000.0})
        for n, count in enumerate(counts)
    ]
    topo = [e["commit"] for e in reversed(entries)]  # git's order wins over the file's
    ordered = track_chart.ordered(entries, list(reversed(topo)))
    assert [e["short"] for e in ordered] == [e["short"] for e in entries]
    charts = track_chart.codec_charts(ordered)
    assert set(charts) == {"throughput.svg", "ratios.svg", "live_path.svg"}
    root = ElementTree.fromstring(charts["live_path.svg"])
    lines = root.findall(f"{SVG}polyline")
    assert lines and all(len(line.get("points", "").split()) == 4 for line in lines)
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "c200000 i -10%" in labels
    assert track_chart.codec_charts(ordered) == charts  # same history, same bytes
    for entry, count in zip(ordered[1:], (44_000, 40_000, 40_100), strict=True):
        entry["instructions_v16"] = {"variants": {"d": 25_000, "i": count}}
    v16 = ElementTree.fromstring(track_chart.codec_charts(ordered)["v16.svg"])
    lines = v16.findall(f"{SVG}polyline")  # from the first line that has 1.6 figures on
    assert lines and all(len(line.get("points", "").split()) == 3 for line in lines)
    assert "c200000 i -9%" in [t.text for t in v16.iter(f"{SVG}text")]
    assert "v21.svg" not in track_chart.codec_charts(ordered)  # no line has 2.1 figures yet


def test_the_21_chart_starts_at_the_first_line_with_21_figures() -> None:
    """Lines recorded before the history kept 2.1, and a commit whose bench has no 2.1 (its
    table holds errors only), are "no figure yet": v21.svg starts after them, and a line
    with no 2.1 later on is a gap in its lines, not a zero."""
    entries = [_entry(f"c{n}00000", {"d": 34_000, "i": 58_000}) for n in range(5)]
    entries[1]["instructions_v21"] = {"variants": {}, "errors": {"i": "no 2.1 in this bench"}}
    for entry, count in zip(entries[2:], (60_000, 60_100, 54_000), strict=True):
        entry["instructions_v21"] = {"variants": {"d": 35_000, "i": count}}
    del entries[3]["instructions_v21"]  # a line without it, after the first that has it
    charts = track_chart.codec_charts(entries)
    assert "v16.svg" not in charts
    root = ElementTree.fromstring(charts["v21.svg"])
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "OCPP 2.1 mix: instructions per message (3 commits)" in texts
    assert "c000000" not in texts and "c100000" not in texts
    # c2 and c4, apart: a point each per series (d and i; i over the floor), no line between
    assert root.findall(f"{SVG}polyline") == []
    assert len(root.findall(f"{SVG}circle")) == 2 * 3
    assert "c400000 i -10%" not in texts  # no step across the gap: no neighbour to compare


def test_the_load_chart_has_a_line_per_csms_and_mode() -> None:
    """history/load.jsonl as ``track.py load`` writes it: CPU µs per message per row; a row
    not measured in one release leaves a gap, not a zero."""

    def figure(row: str, mode: str, cpu: float | None) -> dict[str, Any]:
        return {"row": row, "mode": mode, "cpu_us_per_msg": cpu}

    releases = [
        {**_entry("r100000", {}), "tags": ["v0.1.0"], "figures": [figure("fast", m, 40.0)
         for m in ("saturation", "fleet")] + [figure("ocpp", "fleet", 900.0)]},
        {**_entry("r200000", {}), "tags": [], "figures": [figure("fast", "fleet", 35.0),
         figure("ocpp", "fleet", None)]},
    ]  # fmt: skip
    svg = track_chart.load_chart(releases)
    assert svg is not None
    root = ElementTree.fromstring(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "CSMS CPU µs per message (saturation)" in texts
    assert "CSMS CPU µs per message (fleet)" in texts
    assert "v0.1.0" in texts and "r200000" in texts
    assert len(root.findall(f"{SVG}polyline")) == 1  # fast in fleet; the rest are single points
    assert len(root.findall(f"{SVG}circle")) == 4
    assert track_chart.load_chart([]) is None


SLOWER = (
    "            took if response is None else (lambda self, request, r=response: r)\n",
    "            took if response is None\n"
    "            else (lambda self, request, r=response: (dict(self._routes), r)[1])\n",
)
"""The slowing: a copy of the route table per message in the handlers of the bench's
``ChargeSystem`` (``ocpp_fast.bench``), which ``handle`` (e) and the live path (i, j) call.
It used to be in ``OcppHandler.handle`` itself, beside its route lookup; that lookup is on
the general path now, and the compiled build replaces ``handle`` with its C twin, so no
frame of the bench ran the line there (e did not move; and its indentation no longer
fitted: the slowed commit failed to import)."""


def _git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


def _check(base: str, head: str, summary: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(ROOT / "benchmarks" / "track.py"), "check"]
    command += ["--base", base, "--head", head, "--variants", "d,e,i", "--no-wall"]
    return subprocess.run(
        [*command, "--summary", str(summary)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.bench_gate
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_the_gate_fails_a_slowed_commit_and_passes_an_unchanged_one(tmp_path: Path) -> None:
    """HEAD with one extra copy of the route table per message in ``handle``, committed on no
    branch, fails ``track.py check``; HEAD against itself passes (measured twice, so the
    run-to-run spread is inside the comparison)."""
    head = _git("rev-parse", "HEAD")
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "slowed"
        _git("worktree", "add", "--detach", "--quiet", str(tree), head)
        try:
            slowed_file = tree / "src" / "ocpp_fast" / "bench.py"
            text = slowed_file.read_text()
            assert text.count(SLOWER[0]) == 1
            slowed_file.write_text(text.replace(*SLOWER))
            _git("-c", "user.name=bench", "-c", "user.email=bench@invalid", "commit", "-qam",
                 "deliberately slowed", cwd=tree)  # fmt: skip
            slowed = _git("rev-parse", "HEAD", cwd=tree)
        finally:
            _git("worktree", "remove", "--force", str(tree))
    failing = _check(head, slowed, tmp_path / "slowed.md")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    summary = (tmp_path / "slowed.md").read_text()
    print(summary)
    assert summary.startswith("### Benchmark gate: FAIL")
    assert "| e handle |" in summary and "REGRESSION" in summary
    assert "REGRESSION" in summary.split("OCPP 1.6 mix:")[1].split("OCPP 2.1 mix:")[0]
    assert "REGRESSION" in summary.split("OCPP 2.1 mix:")[1]  # the 1.6 and 2.1 tables gate too
    passing = _check(head, head, tmp_path / "same.md")
    assert passing.returncode == 0, passing.stdout + passing.stderr
    print((tmp_path / "same.md").read_text())
    assert (tmp_path / "same.md").read_text().startswith("### Benchmark gate: pass")
