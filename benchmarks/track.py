"""Benchmarks tracked over time: record, back-fill, gate and chart (issue 24).

    python benchmarks/track.py record            # HEAD -> benchmarks/history/codec.jsonl
    python benchmarks/track.py backfill --last 40  # the last 40 commits that touched src/
    python benchmarks/track.py check --base main # HEAD against main, measured in this run
    python benchmarks/track.py spread --runs 10  # run-to-run spread on one commit
    python benchmarks/track.py chart             # the SVGs under docs/explanation/img/
    python benchmarks/track.py load -- ARGS      # load.py --json ARGS -> history/load.jsonl

``make bench-record``, ``make bench-check`` and ``make bench-chart`` run the first ones.
Every measurement runs a commit checked out apart (track_measure), so the working tree
may be dirty; what is measured is the commit.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import track_chart  # benchmarks/ is no package: its modules import each other
import track_gate as gate
import track_history as history
import track_measure as measure

ALL = ",".join(history.VARIANT_NAMES)
CHECKED = "a,b,d,e,f,i,j"
"""What the gate measures: its gated variants and the floor (not the ocpp package: slow
under valgrind, and not ours)."""
CHARTS = history.HISTORY.parent.parent / "docs" / "explanation" / "img"


def measure_commit(
    commit: str,
    variants: Sequence[str],
    *,
    wall: bool = True,
    repeats: int = 5,
    budget: float = 15.0,
) -> dict[str, Any]:
    """One history line for ``commit``: its facts, the machine, both measures."""
    valgrind = measure.valgrind_version()
    entry: dict[str, Any] = {
        **measure.commit_facts(commit),
        **history.machine(valgrind),
        "measured_at": history.stamp(),
    }
    with measure.checkout(entry["commit"]) as tree:
        try:
            entry["build"] = measure.build_extension(tree, entry["commit"])
        except RuntimeError as error:
            entry["build"] = f"failed: {error}"
        for table, version in history.TABLES.items():
            if valgrind is None:
                entry[table] = {"error": "valgrind is not installed"}
            else:
                entry[table] = measure.count_instructions(tree, variants, version)
        if wall:
            entry["wall"] = measure.wall_time(tree, repeats, budget)
    return entry


def _summary(entry: dict[str, Any]) -> str:
    wall = entry.get("wall", {}).get("variants", {})
    parts = []
    for table, version in history.TABLES.items():
        counts = entry.get(table, {}).get("variants", {})
        parts += [f"{k}={counts[k]:,} Ir ({version})" for k in counts]
    parts += [f"{k}={wall[k]:,.0f} ns" for k in ("e", "i") if k in wall]
    return f"{entry['short']} {entry['subject'][:50]}: " + ", ".join(parts)


def commits_touching_src(last: int, until: str, tags: bool, skip: int = 0) -> list[str]:
    """The newest ``last`` commits up to ``until`` that changed src/ (after the newest
    ``skip``), newest first, then the release tags' commits (whatever they changed)."""
    window = [f"--max-count={last}", f"--skip={skip}"]
    out = measure.git("rev-list", "--topo-order", *window, until, "--", "src")
    commits = out.split()
    if tags:
        for tag in measure.git("tag", "--list").split():
            sha = measure.git("rev-list", "-n", "1", tag)
            if sha not in commits:
                commits.append(sha)
    return commits


def cmd_record(args: argparse.Namespace) -> int:
    """Measure one commit and append its line."""
    entry = measure_commit(
        args.commit,
        args.variants.split(","),
        wall=not args.no_wall,
        repeats=args.repeats,
        budget=args.budget,
    )
    history.append(args.history, entry)
    print(_summary(entry))
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    """Measure every commit of the range that has no line yet, newest first."""
    done = history.recorded(args.history)
    commits = commits_touching_src(args.last, args.until, args.tags, args.skip)
    todo = [c for c in commits if c not in done]
    print(f"back-fill: {len(todo)} commit(s) to measure", file=sys.stderr)
    for number, commit in enumerate(todo, 1):
        if commit in history.recorded(args.history):
            continue  # measured meanwhile by another back-fill over the same file
        entry = measure_commit(
            commit,
            args.variants.split(","),
            wall=not args.no_wall,
            repeats=args.repeats,
            budget=args.budget,
        )
        history.append(args.history, entry)
        print(f"[{number}/{len(todo)}] {_summary(entry)}", flush=True)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Measure base and head in this run (or take base from the history); gate on head."""
    variants = args.variants.split(",")
    head = measure_commit(
        args.head, variants, wall=not args.no_wall, repeats=args.repeats, budget=args.budget
    )
    if args.against_history:
        found = history.last_comparable(history.read(args.history), head)
        if found is None:
            print("check: no recorded line measured with this Python and msgspec", file=sys.stderr)
            return 2
        base = found
    else:
        base = measure_commit(
            args.base, variants, wall=not args.no_wall, repeats=args.repeats, budget=args.budget
        )
    summary = gate.markdown(base, head, args.threshold)
    print(summary)
    if args.summary is not None:
        args.summary.write_text(summary, encoding="utf-8")
    tables = gate.compare_tables(base, head)
    return 1 if gate.failed_tables(tables, args.threshold) else 0


def _spread_line(name: str, values: Sequence[float], unit: str) -> str:
    low, high = min(values), max(values)
    spread = (high / low - 1) * 100 if low else float("nan")
    sd = statistics.stdev(values) / statistics.mean(values) * 100 if len(values) > 1 else 0.0
    return (
        f"| {name} | {statistics.mean(values):,.4g} {unit} | {low:,.6g} | {high:,.6g} "
        f"| {spread:.3f} % | {sd:.3f} % |"
    )


def cmd_spread(args: argparse.Namespace) -> int:
    """The same commit measured ``--runs`` times: how far each figure moves with no change."""
    variants = args.variants.split(",")
    counts: list[dict[str, Any]] = []
    walls: list[dict[str, Any]] = []
    with measure.checkout(measure.git("rev-parse", args.commit)) as tree:
        measure.build_extension(tree, measure.git("rev-parse", args.commit))
        for run in range(args.runs):
            counts.append(measure.count_instructions(tree, variants))
            if not args.no_wall:
                walls.append(measure.wall_time(tree, args.repeats, args.budget))
            print(f"run {run + 1}/{args.runs} done", file=sys.stderr, flush=True)
    out = [
        f"Spread over {args.runs} runs of {args.commit} (max/min - 1; sd/mean):",
        "",
        "| figure | mean | min | max | spread | sd |",
        "|:---|---:|---:|---:|---:|---:|",
    ]
    worst_frame = 0.0
    for key in variants:
        values = [c["variants"][key] for c in counts if key in c.get("variants", {})]
        if values:
            out.append(_spread_line(f"{key} Ir/msg weighted", values, "Ir"))
        for frame in counts[0].get("per_frame", {}).get(key, {}):
            per = [c["per_frame"][key][frame] for c in counts]
            worst_frame = max(worst_frame, (max(per) / min(per) - 1) * 100)
    for key in variants:
        values = [w["variants"][key] for w in walls if key in w.get("variants", {})]
        if values:
            out.append(_spread_line(f"{key} wall ns/msg", values, "ns"))
        ratios = [
            w["variants"][key] / w["variants"]["d"]
            for w in walls
            if key in w.get("variants", {}) and "d" in w["variants"] and key != "d"
        ]
        if ratios:
            out.append(_spread_line(f"{key}/d wall ratio", ratios, "x"))
    out += ["", f"Largest per-frame instruction spread: {worst_frame:.3f} %"]
    print("\n".join(out))
    if args.json is not None:
        args.json.write_text(json.dumps({"instructions": counts, "wall": walls}), "utf-8")
    return 0


def cmd_chart(args: argparse.Namespace) -> int:
    """Draw the SVGs from the history files: the commits of main's first-parent line (its
    own commits and its merges), oldest first. A branch's commits stay in the history but
    are not drawn: placed between main's, they would show the older main they branched
    from as a step back and forth."""
    line = measure.git("rev-list", "--first-parent", "--reverse", args.until).split()
    on_line = set(line)
    recorded = history.read(args.history)
    entries = [e for e in track_chart.ordered(recorded, line) if e["commit"] in on_line]
    charts = track_chart.codec_charts(entries)
    topo = measure.git("rev-list", "--topo-order", "--reverse", "--all").split()
    load = track_chart.load_chart(track_chart.ordered(history.read(args.load_history), topo))
    if load is not None:
        charts["load.svg"] = load
    for path in track_chart.write(args.out, charts):
        print(path)
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    """Run the load benchmark (benchmarks/load.py --json) on this tree; append its figures."""
    entry: dict[str, Any] = {
        **measure.commit_facts("HEAD"),
        **history.machine(None),
        "measured_at": history.stamp(),
    }
    passed = args.load_args[1:] if args.load_args[:1] == ["--"] else args.load_args
    with tempfile.TemporaryDirectory(prefix="ocpp-fast-load-") as tmp:
        out = Path(tmp) / "load.json"
        command = [sys.executable, str(Path(__file__).with_name("load.py")), "--json", str(out)]
        subprocess.run([*command, *passed], check=True)
        entry["figures"] = json.loads(out.read_text(encoding="utf-8"))
    entry["arguments"] = passed
    history.append(args.load_history, entry)
    print(f"{entry['short']}: {len(entry['figures'])} rows -> {args.load_history}")
    return 0


def _measure_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--history", type=Path, default=history.CODEC)
    parser.add_argument("--variants", default=ALL, help=f"variant letters (default {ALL})")
    parser.add_argument("--no-wall", action="store_true", help="instructions only")
    parser.add_argument("--repeats", type=int, default=5, help="wall time: bench --repeats")
    parser.add_argument("--budget", type=float, default=15.0, help="wall time: bench --budget")


def parser() -> argparse.ArgumentParser:
    """The subcommands; each one's help says what it writes."""
    top = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    record = commands.add_parser("record", help="append a line for one commit (HEAD)")
    record.add_argument("commit", nargs="?", default="HEAD")
    _measure_options(record)
    record.set_defaults(run=cmd_record)
    backfill = commands.add_parser("backfill", help="append lines for commits not yet measured")
    backfill.add_argument("--last", type=int, default=30, help="commits that touched src/")
    backfill.add_argument("--until", default="HEAD", help="the newest commit of the range")
    backfill.add_argument("--skip", type=int, default=0, help="leave out the newest N first")
    backfill.add_argument("--tags", action="store_true", help="also every release tag")
    _measure_options(backfill)
    backfill.set_defaults(run=cmd_backfill)
    check = commands.add_parser("check", help="the regression gate: head against base")
    check.add_argument("--base", default="main", help="the commit to compare with")
    check.add_argument("--head", default="HEAD")
    check.add_argument(
        "--against-history", action="store_true", help="base: the last recorded line"
    )
    check.add_argument("--threshold", type=float, default=gate.THRESHOLD_PCT, help="percent")
    check.add_argument("--summary", type=Path, help="also write the markdown summary here")
    _measure_options(check)
    check.set_defaults(run=cmd_check, variants=CHECKED, repeats=3, budget=8.0)
    spread = commands.add_parser("spread", help="one commit measured --runs times")
    spread.add_argument("commit", nargs="?", default="HEAD")
    spread.add_argument("--runs", type=int, default=10)
    spread.add_argument("--json", type=Path, help="also write every run's figures here")
    _measure_options(spread)
    spread.set_defaults(run=cmd_spread, variants=CHECKED, repeats=3, budget=8.0)
    draw = commands.add_parser("chart", help="the SVGs from the history")
    draw.add_argument("--history", type=Path, default=history.CODEC)
    draw.add_argument("--load-history", type=Path, default=history.LOAD)
    draw.add_argument("--out", type=Path, default=CHARTS)
    draw.add_argument("--until", default="HEAD", help="whose first-parent line to draw")
    draw.set_defaults(run=cmd_chart)
    load = commands.add_parser("load", help="make load --json, appended to history/load.jsonl")
    load.add_argument("--load-history", type=Path, default=history.LOAD)
    load.add_argument("load_args", nargs=argparse.REMAINDER, help="passed to benchmarks/load.py")
    load.set_defaults(run=cmd_load)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand."""
    args = parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
