"""Every ```python block of the README and of the documentation site runs as written.

Each block is self-contained and runs on its own, in a fresh namespace, in a temporary
working directory (a block that writes files leaves nothing behind). A block whose first
line is ``# file: test_NAME.py`` is a pytest module: it is written under that name and run
by pytest in a subprocess, which must pass every test it collects. So is any other block that
defines a test function: a reader copies it into a test file, where plain pytest must pass it
too (an ``async def test_`` run by ``asyncio.run`` at the bottom of the block passed when run
as a script, and fails under pytest without a plugin).
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
TEST_FILE = re.compile(r"# file: (test_\w+\.py)\n")
DEFINES_TESTS = re.compile(r"^(async )?def test_", re.M)


def blocks() -> list[tuple[str, str]]:
    """``(page:line, code)`` of every python block, in page order."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 2  # the block's first line of code
            found.append((f"{page.relative_to(ROOT)}:{line}", match.group(1)))
    return found


BLOCKS = blocks()


def test_there_are_examples_in_readme_and_docs() -> None:
    pages = {where.split(":")[0] for where, _ in BLOCKS}
    assert "README.md" in pages
    assert sum(1 for page in pages if page.startswith("docs/")) >= 10


@pytest.fixture(autouse=True)
def logging_as_it_was() -> Iterator[None]:
    """An example configures logging as a user would (a handler on ``ocpp_fast``, DEBUG on
    ``ocpp_fast.frames``); what it set must not outlive it, or a later test of log volume
    sees every frame logged."""
    loggers = [logging.getLogger(), *map(logging.getLogger, list(logging.root.manager.loggerDict))]
    kept = [(lg, lg.level, list(lg.handlers), lg.propagate, lg.disabled) for lg in loggers]
    yield
    for logger, level, handlers, propagate, disabled in kept:
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate, logger.disabled = propagate, disabled


USES_OCPP_PACKAGE = re.compile(r"^\s*(from|import) ocpp(\.|\s)", re.M)
"""Blocks written against the ``ocpp`` package (the migration pages): it ships no types."""


@pytest.mark.parametrize("code", [code for _, code in BLOCKS], ids=[w for w, _ in BLOCKS])
def test_example_runs(code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    test_file = TEST_FILE.match(code)
    if test_file is None and USES_OCPP_PACKAGE.search(code):
        # The migration pages' blocks run as a backend runs them, in a process of their own:
        # compat.install() warns of ocpp subclasses made before it, and this process holds the
        # tests' own. A warning there is a defect of the example (-W error).
        (tmp_path / "docs_example.py").write_text(code, encoding="utf-8")
        ran = subprocess.run(
            [sys.executable, "-W", "error", "docs_example.py"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
        return
    if test_file is None:
        exec(compile(code, "docs_example.py", "exec"), {"__name__": "docs_example"})
        if not DEFINES_TESTS.search(code):
            return
    name = test_file.group(1) if test_file else "test_docs_example.py"
    (tmp_path / name).write_text(code, encoding="utf-8")
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert re.search(r"^\d+ passed", ran.stdout.splitlines()[-1]), ran.stdout


def test_examples_type_check(tmp_path: Path) -> None:
    """Every block passes ``mypy --strict`` as written: the docs promise typed calls and
    handlers, so an example that needs a ``cast`` or an ``Any`` to check is a defect of the
    example or of the API. One run over all blocks (each its own module)."""
    written = []
    for number, (where, code) in enumerate(BLOCKS):
        if USES_OCPP_PACKAGE.search(code):
            continue
        path = tmp_path / f"block_{number}.py"
        path.write_text(code, encoding="utf-8")
        written.append((path.name, where))
    assert len(written) >= 40
    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--cache-dir",
            str(ROOT / "build" / "mypy-docs"),
            *(name for name, _ in written),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    where_of = dict(written)
    errors = [
        f"{where_of.get(line.split(':', 1)[0], '?')} {line}"
        for line in ran.stdout.splitlines()
        if ": error:" in line
    ]
    assert ran.returncode == 0 and not errors, "\n".join(errors) or ran.stdout + ran.stderr
