"""The built documentation site, for the tests that read it (links, the browser test)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "build" / "site"
MKDOCS_YML = ROOT / "mkdocs.yml"


def setting(name: str) -> str:
    """A top-level string setting of mkdocs.yml (``site_url``, ``repo_url``)."""
    found = re.search(rf"^{name}: (\S+)$", MKDOCS_YML.read_text(encoding="utf-8"), re.M)
    assert found, f"mkdocs.yml has no {name}"
    return found.group(1)


def built_site() -> Path:
    """build/site, built strict first when it is missing (``make docs`` builds it in make test)."""
    if not (SITE / "index.html").is_file():
        subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "--strict"],
            cwd=ROOT,
            check=True,
            timeout=300,
            capture_output=True,
        )
    return SITE
