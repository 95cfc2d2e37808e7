"""tests/typing/ under both type checkers: mypy --strict and pyright strict.

The files directly in tests/typing/ must pass both with no diagnostic at all (typed calls
on every call path, handlers in every form, the public names). Those in
tests/typing/rejected/ must fail, and exactly where and how the ``# expect:`` comment
above each offending line says: ``# expect: mypy[override] pyright[rule]``. A snippet
that stops failing (typing got looser) or fails differently fails this test.

Both checkers run once per session on all the files (mypy from its cache after the
first run). pyright is the PyPI ``pyright`` package, pinned in the dev extras.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TYPING = REPO / "tests" / "typing"
ACCEPTED = sorted(TYPING.glob("*.py"))
REJECTED = sorted((TYPING / "rejected").glob("*.py"))
_EXPECT = re.compile(r"^\s*# expect: mypy\[([^\]]*)\] pyright\[([^\]]*)\]$")
_MYPY_ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")

Diagnostic = tuple[str, int, str]
"""``(file name, line, code)``: mypy's error code, or pyright's rule."""


def expected(files: Iterable[Path]) -> dict[str, set[Diagnostic]]:
    """What each checker must report: read from the ``# expect:`` comment above each line."""
    found: dict[str, set[Diagnostic]] = {"mypy": set(), "pyright": set()}
    for path in files:
        for number, text in enumerate(path.read_text().splitlines(), start=1):
            if (match := _EXPECT.match(text)) is not None:
                for checker, codes in zip(("mypy", "pyright"), match.groups(), strict=True):
                    for code in filter(None, (c.strip() for c in codes.split(","))):
                        found[checker].add((path.name, number + 1, code))
    return found


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def mypy_output() -> list[str]:
    """mypy --strict (the project's configuration) on every file of tests/typing/: its lines."""
    files = [str(p.relative_to(REPO)) for p in (*ACCEPTED, *REJECTED)]
    done = _run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary", *files])
    assert done.returncode in (0, 1), done.stderr + done.stdout  # 2: mypy itself failed
    return done.stdout.splitlines()


@pytest.fixture(scope="module")
def mypy_report(mypy_output: list[str]) -> set[Diagnostic]:
    """What mypy reported, by file, line and code."""
    report = set()
    for line in mypy_output:
        if (match := _MYPY_ERROR.match(line)) is not None:
            report.add((Path(match["path"]).name, int(match["line"]), match["code"]))
        else:
            assert ": note: " in line, line  # every error carries its code
    return report


@pytest.fixture(scope="module")
def pyright_report() -> set[Diagnostic]:
    """pyright on every file of tests/typing/ (each says ``# pyright: strict``)."""
    files = [str(p) for p in (*ACCEPTED, *REJECTED)]
    command = [sys.executable, "-m", "pyright", "--outputjson", "--pythonpath", sys.executable]
    done = _run([*command, *files])
    assert done.returncode in (0, 1), done.stderr + done.stdout
    output = json.loads(done.stdout)
    assert output["summary"]["filesAnalyzed"] == len(files)
    return {
        (Path(d["file"]).name, d["range"]["start"]["line"] + 1, d.get("rule", "?"))
        for d in output["generalDiagnostics"]
        if d["severity"] == "error"
    }


def test_every_file_says_pyright_strict() -> None:
    for path in (*ACCEPTED, *REJECTED):
        assert path.read_text().startswith("# pyright: strict\n"), path


def test_the_accepted_files_pass_mypy_strict(mypy_report: set[Diagnostic]) -> None:
    accepted = {p.name for p in ACCEPTED}
    assert sorted(d for d in mypy_report if d[0] in accepted) == []


def test_the_accepted_files_pass_pyright_strict(pyright_report: set[Diagnostic]) -> None:
    accepted = {p.name for p in ACCEPTED}
    assert sorted(d for d in pyright_report if d[0] in accepted) == []


@pytest.mark.parametrize("checker", ["mypy", "pyright"])
def test_the_rejected_snippets_fail_as_expected(
    checker: str, mypy_report: set[Diagnostic], pyright_report: set[Diagnostic]
) -> None:
    """Every offending line fails with its expected codes, and nothing else fails."""
    want = expected(REJECTED)[checker]
    assert len(want) >= 10  # the snippets are there, and each is marked
    rejected = {p.name for p in REJECTED}
    report = mypy_report if checker == "mypy" else pyright_report
    got = {d for d in report if d[0] in rejected}
    assert sorted(want - got) == [], "expected but not reported"
    assert sorted(got - want) == [], "reported but not expected"


def test_a_request_sent_the_wrong_way_names_its_type_and_the_side_expected(
    mypy_output: list[str],
) -> None:
    """mypy's words for a request handed to the other side's ``call()``, as
    docs/reference/typing.md quotes them: the request's class and the side's base, of the
    default response (``OcppStruct``; without ``ResponseT``'s default it read ``Never``)."""
    wrong = [
        line.split("wrong_sides.py:", 1)[1] for line in mypy_output if "wrong_sides.py:" in line
    ]
    assert (
        '24: error: Argument 2 to "call" of "Stations" has incompatible type "HeartbeatRequest"; '
        'expected "SentByCsms[OcppStruct]"  [arg-type]'
    ) in wrong, wrong
    assert (
        '48: error: Argument 1 to "call" of "StationClient" has incompatible type '
        '"ClearCacheRequest"; expected "SentByStation[OcppStruct]"  [arg-type]'
    ) in wrong, wrong
    assert not [line for line in wrong if "Never" in line], wrong
