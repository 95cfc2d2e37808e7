"""Measuring one commit for the benchmark history: a checkout, its extension, two measures.

A commit is checked out with ``git worktree add --detach`` into a temporary directory (the
repository's own checkout is never touched, so the tree being worked on can be dirty),
its compiled extensions are built there (or copied from a cache keyed by the blobs of
its ``.pyx`` and ``.pxi`` files: most commits change none), and it is run by this tree's
interpreter with ``PYTHONPATH`` naming its ``src``:

- **instructions** (deterministic): ``benchmarks/track_probe.py`` under
  ``valgrind --tool=callgrind``, which counts the instructions of a fixed number of
  messages per frame of the mix and variant, and nothing else (see the probe);
- **wall time** (noisy): that commit's own ``python -m ocpp_fast.bench --markdown``, its
  table parsed, so a version whose bench differs still says what it measured.

Either measure that cannot run (no valgrind, an old bench) is recorded as an error, not
guessed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROBE = Path(__file__).resolve().parent / "track_probe.py"
MIX = ROOT / "src" / "ocpp_fast" / "data" / "mix-v201.jsonl"
"""Today's mix, fed to every commit measured, so every entry measures the same messages."""
MIXES = {
    "2.0.1": MIX,
    "1.6": ROOT / "src" / "ocpp_fast" / "data" / "mix-v16.jsonl",
    "2.1": ROOT / "src" / "ocpp_fast" / "data" / "mix-v21.jsonl",
}
"""Today's mix of each OCPP version the history tracks (the probe's ``--version``)."""

PER_FRAME = {"c": 1}
"""Messages per frame and region where the default (10) is too slow under valgrind: the
``ocpp`` package spends ~7 million instructions per message. Counts are deterministic,
so fewer messages lose nothing but the amortising of per-call caches."""
DEFAULT_PER_FRAME = 10
TOGGLE = "_CallPythonObject"
"""The C function of CPython's ctypes that runs a Python callback (see the probe)."""


def git(*args: str, cwd: Path = ROOT) -> str:
    """A git command's stdout, stripped; its failure raises with its stderr."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def commit_facts(commit: str) -> dict[str, Any]:
    """The commit's full hash, date, subject and the tags that point at it."""
    sha, date, subject = git("log", "-1", "--format=%H%n%cI%n%s", commit).split("\n", 2)
    tags = git("tag", "--points-at", sha).split()
    return {"commit": sha, "short": sha[:7], "date": date, "subject": subject, "tags": tags}


@contextlib.contextmanager
def checkout(commit: str) -> Iterator[Path]:
    """The commit in a detached worktree under a temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="ocpp-fast-track-") as tmp:
        tree = Path(tmp) / "tree"
        git("worktree", "add", "--detach", "--quiet", str(tree), commit)
        try:
            yield tree
        finally:
            with contextlib.suppress(RuntimeError):
                git("worktree", "remove", "--force", str(tree))
            with contextlib.suppress(RuntimeError):
                git("worktree", "prune")


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ocpp-fast" / "bench-ext"


def _extension_sources(commit: str) -> str:
    """The blob ids of the commit's extension sources (every ``.pyx`` and ``.pxi`` of the
    package, each named), empty where it has none: what a build depends on."""
    listing = git("ls-tree", commit, "src/ocpp_fast/")
    return "\n".join(line for line in listing.splitlines() if line.endswith((".pyx", ".pxi")))


def build_extension(tree: Path, commit: str) -> str:
    """Build the commit's compiled extensions (the codec, and the dispatch path where the
    commit has it) in place; say whether they were built or cached.

    The cache is keyed by every ``.pyx`` and ``.pxi`` the commit has (an included
    ``_scan.pxi`` changes the build as much as a ``.pyx``) and holds every extension
    built: keyed by the codec's ``.pyx`` alone and holding only ``_codec_c``, it handed
    commits a stale codec and no dispatch path (measured then as the pure twin).
    """
    sources = _extension_sources(commit)
    if not sources:
        return "no extension at this commit"
    blob = hashlib.sha1(sources.encode()).hexdigest()
    tag = f"{sys.implementation.cache_tag}-sources-{blob}"
    cached = _cache_dir() / tag
    target = tree / "src" / "ocpp_fast"
    if cached.is_dir() and any(cached.iterdir()):
        for built in cached.iterdir():
            shutil.copy2(built, target / built.name)
        return f"cached ({blob[:10]})"
    env = {**os.environ, "OCPP_FAST_REQUIRE_EXTENSIONS": "1", "OCPP_FAST_NO_EXTENSIONS": ""}
    done = subprocess.run(
        [sys.executable, "setup.py", "--quiet", "build_ext", "--inplace"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"build_ext failed: {done.stderr[-2000:]}")
    cached.mkdir(parents=True, exist_ok=True)
    for built in target.glob("_*_c.*.so"):
        shutil.copy2(built, cached / built.name)
    return f"built ({blob[:10]})"


def _child_env(tree: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "PYTHONHASHSEED": "0"}
    for name in ("OCPP_FAST_NO_EXTENSIONS", "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    return env


def valgrind_version() -> str | None:
    """``valgrind --version`` or ``None`` where it is not installed."""
    if shutil.which("valgrind") is None:
        return None
    out = subprocess.run(["valgrind", "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or None


_TOTALS = re.compile(r"^totals:\s+(\d+)", re.MULTILINE)


def count_instructions(
    tree: Path, variants: Sequence[str], version: str = "2.0.1"
) -> dict[str, Any]:
    """Instructions per message, per variant and frame and weighted, under callgrind, on
    ``version``'s mix. The probe is told the version only where it is not 2.0.1, the one
    every bench since the first measures: so every commit can be measured on 2.0.1."""
    mix = MIXES[version]
    out: dict[str, Any] = {"variants": {}, "per_frame": {}, "errors": {}}
    fewer = ",".join(f"{k}={n}" for k, n in PER_FRAME.items() if k in variants)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ocpp-fast-cg-") as tmp:
        plan_file, out_file = Path(tmp) / "plan.json", Path(tmp) / "cg.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--collect-atstart=no",
            f"--toggle-collect={TOGGLE}",
            f"--dump-after={TOGGLE}",
            f"--callgrind-out-file={out_file}",
            sys.executable,
            str(PROBE),
            str(mix),
            str(plan_file),
            "--variants",
            ",".join(variants),
            "--per-frame",
            str(DEFAULT_PER_FRAME),
            "--fewer",
            fewer,
            *(() if mix == MIX else ("--version", version)),
        ]
        done = subprocess.run(
            command, cwd=tmp, env=_child_env(tree), capture_output=True, text=True, check=False
        )
        if done.returncode or not plan_file.exists():
            out["error"] = f"probe failed: {done.stderr[-1500:]}"
            return out
        plan = json.loads(plan_file.read_text(encoding="utf-8"))
        if not Path(plan["bench_file"]).is_relative_to(tree):
            raise RuntimeError(f"measured the wrong tree: {plan['bench_file']}")
        out["errors"] = plan["errors"]
        _collect(out, plan, out_file)
    out["seconds"] = round(time.monotonic() - started, 1)
    return out


def _collect(out: dict[str, Any], plan: dict[str, Any], out_file: Path) -> None:
    """Fold the profile parts (one per region, in the plan's order) into per-message counts."""
    sums: dict[str, list[float]] = {}
    for part, region in enumerate(plan["regions"], 1):
        text = Path(f"{out_file}.{part}").read_text(encoding="utf-8")
        match = _TOTALS.search(text)
        if match is None or int(match[1]) == 0:
            raise RuntimeError(
                f"callgrind counted nothing in part {part}: has this Python no symbol {TOGGLE}?"
            )
        per_message = int(match[1]) / region["count"]
        key, frame, weight = region["variant"], region["frame"], region["weight"]
        out["per_frame"].setdefault(key, {})[frame] = round(per_message)
        total = sums.setdefault(key, [0.0, 0.0])
        total[0] += weight * per_message
        total[1] += weight
    for key, (weighted, weight) in sums.items():
        out["variants"][key] = round(weighted / weight)
    out["messages_per_frame"] = {r["variant"]: r["count"] for r in plan["regions"]}


_CELL = re.compile(r"^\*{0,2}([\d,.]+)\*{0,2}$")


def parse_bench_table(text: str) -> dict[str, Any]:
    """The ``ns/op`` columns of a ``--markdown`` bench table: per variant, weighted and per
    frame (label as printed). Ratio columns are not kept: they are derived."""
    weighted: dict[str, float] = {}
    per_frame: dict[str, dict[str, float]] = {}
    header: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "action":
            header = cells
            continue
        if header is None or cells[0].startswith(":"):
            continue
        label = cells[0].strip("*")
        for name, cell in zip(header, cells, strict=False):
            if not name.endswith(" ns/op"):
                continue
            match = _CELL.match(cell)
            if match is None:
                continue  # n/a
            value = float(match[1].replace(",", ""))
            key = name.split()[0]
            if label == "weighted":
                weighted[key] = value
            else:
                per_frame.setdefault(key, {})[label] = value
    if not weighted:
        raise RuntimeError("no bench table in the output")
    return {"variants": weighted, "per_frame": per_frame}


def wall_time(tree: Path, repeats: int, budget: float, mix: Path = MIX) -> dict[str, Any]:
    """The commit's own bench, in its own process, its table parsed (ns per message)."""
    command = [
        sys.executable,
        "-m",
        "ocpp_fast.bench",
        str(mix),
        "--markdown",
        "--repeats",
        str(repeats),
        "--budget",
        str(budget),
    ]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ocpp-fast-wall-") as tmp:
        done = subprocess.run(
            command, cwd=tmp, env=_child_env(tree), capture_output=True, text=True
        )
    if done.returncode:
        return {"error": f"bench failed: {done.stderr[-1500:]}"}
    figures = parse_bench_table(done.stdout)
    figures.update(repeats=repeats, budget_s=budget, seconds=round(time.monotonic() - started))
    return figures
