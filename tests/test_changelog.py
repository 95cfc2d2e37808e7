"""CHANGELOG.md keeps its form: the release workflow takes a version's notes from it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import changelog_section  # noqa: E402

import ocpp_fast  # noqa: E402

TEXT = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


def test_versions_are_headed_newest_first_and_linked() -> None:
    versions = re.findall(r"^## \[([^\]]+)\]", TEXT, re.M)
    assert versions[0] == "Unreleased"
    released = versions[1:]
    assert released == sorted(released, key=lambda v: [int(x) for x in v.split(".")], reverse=True)
    for version in versions:
        assert re.search(rf"^\[{re.escape(version)}\]: https://", TEXT, re.M), version


def test_the_current_version_is_written_up() -> None:
    versions = re.findall(r"^## \[([^\]]+)\]", TEXT, re.M)
    assert ocpp_fast.__version__ in versions


def test_a_versions_section_is_its_release_notes() -> None:
    notes = changelog_section.section("0.1.0", TEXT)
    assert notes.startswith("The first version")
    assert "### Added" in notes and "### Deprecated" in notes
    assert "## [" not in notes and "[Unreleased]:" not in notes
    assert changelog_section.main(["v0.1.0"]) == 0


def test_an_unknown_version_fails_the_release() -> None:
    with pytest.raises(LookupError):
        changelog_section.section("9.9.9", TEXT)
    assert changelog_section.main(["9.9.9"]) == 1
