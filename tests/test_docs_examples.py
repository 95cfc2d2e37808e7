"""Every ```python block of the README and of the documentation site runs as written.

Each block is self-contained and runs on its own, in a fresh namespace, in a temporary
working directory (a block that writes files leaves nothing behind). A block whose first
line is ``# file: test_NAME.py`` is a pytest module: it is written under that name and run
by pytest in a subprocess, which must pass every test it collects.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
TEST_FILE = re.compile(r"# file: (test_\w+\.py)\n")


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


@pytest.mark.parametrize("code", [code for _, code in BLOCKS], ids=[w for w, _ in BLOCKS])
def test_example_runs(code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    test_file = TEST_FILE.match(code)
    if test_file is None:
        exec(compile(code, "docs_example.py", "exec"), {"__name__": "docs_example"})
        return
    (tmp_path / test_file.group(1)).write_text(code, encoding="utf-8")
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test_file.group(1)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert re.search(r"^\d+ passed", ran.stdout.splitlines()[-1]), ran.stdout
