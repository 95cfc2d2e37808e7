"""Print one version's section of CHANGELOG.md: the notes of its GitHub release.

    python tools/changelog_section.py 0.2.0      # the body under "## [0.2.0] ..."

Exits non-zero when the changelog has no such section, so a tag whose version was never
written up fails the release instead of publishing empty notes.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

CHANGELOG = Path(__file__).resolve().parent.parent / "CHANGELOG.md"


def section(version: str, text: str) -> str:
    """The lines under ``## [version]`` up to the next ``## `` heading or the link list."""
    heading = re.compile(rf"^## \[{re.escape(version)}\][^\n]*\n", re.M)
    found = heading.search(text)
    if found is None:
        raise LookupError(f"CHANGELOG.md has no section for {version}")
    rest = text[found.end() :]
    end = re.search(r"^## |^\[[^\]]+\]: ", rest, re.M)
    body = rest[: end.start()] if end else rest
    return body.strip() + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        print(section(argv[0].removeprefix("v"), CHANGELOG.read_text(encoding="utf-8")), end="")
    except LookupError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
