"""The generated pages of the docs site cover what they claim: every command and flag of the
CLI, every public module of the API."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import docs_hooks  # noqa: E402
import docs_names  # noqa: E402

from ocpp_fast import bench, cli  # noqa: E402


def flags(parser: argparse.ArgumentParser) -> list[str]:
    return [
        flag
        for action in parser._actions
        if action.help != argparse.SUPPRESS
        for flag in (action.option_strings or [str(action.metavar or action.dest)])
        if flag not in ("-h", "--help")
    ]


def test_cli_page_has_every_command_and_flag() -> None:
    page = docs_hooks.cli_markdown()
    top = docs_hooks.parser_of(cli.main)
    commands = {
        name: (docs_hooks.parser_of(bench.main) if name == "bench" else sub)
        for action in top._actions
        if isinstance(action, argparse._SubParsersAction)
        for name, sub in action.choices.items()
    }
    assert set(commands) >= {"serve", "worker", "simulate", "validate", "bench"}
    for name, parser in commands.items():
        section = page.split(f"## `ocpp-fast {name}`", 1)[1].split("\n## ", 1)[0]
        for flag in flags(parser):
            assert f"| `{flag}` |" in section or f", `{flag}` |" in section, (name, flag)


def test_the_guides_tables_have_every_flag() -> None:
    """The how-to pages' own tables of every flag (``ocpp-fast serve``'s in Serve your own
    CSMS, ``simulate``'s in Load-test) claim to be whole: a flag added to the command and not
    to the table leaves a user of that page without it (``simulate --log-format`` was)."""
    top = docs_hooks.parser_of(cli.main)
    commands = {
        name: sub
        for action in top._actions
        if isinstance(action, argparse._SubParsersAction)
        for name, sub in action.choices.items()
    }
    for name, page, heading in (
        ("serve", "how-to/serve-your-app.md", "## Every flag"),
        ("simulate", "getting-started/simulator.md", "## Every option"),
    ):
        text = (ROOT / "docs" / page).read_text(encoding="utf-8")
        table = text.split(heading, 1)[1].split("\n## ", 1)[0]
        rows = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
        missing = [flag for flag in flags(commands[name]) if not any(flag in r for r in rows)]
        assert not missing, (page, missing)


def test_hidden_flags_stay_hidden() -> None:
    assert "--reuse-port" not in docs_hooks.cli_markdown()


def test_every_public_module_has_an_api_page() -> None:
    modules = docs_hooks.public_modules()
    for expected in ("ocpp_fast", "ocpp_fast.transport.server", "ocpp_fast.cluster.client"):
        assert expected in modules
    assert not [m for m in modules if any(part.startswith("_") for part in m.split("."))]
    nav = str(docs_hooks.api_nav())
    for module in modules:
        assert f"'{docs_hooks.api_page(module)}'" in nav, module


def test_every_example_is_linked_from_a_page() -> None:
    pages = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").rglob("*.md"))
    examples = sorted(p.name for p in (ROOT / "examples").glob("*.py"))
    assert examples
    unlinked = [name for name in examples if f"](repo:examples/{name})" not in pages]
    assert not unlinked, f"examples no page links to: {unlinked}"


def test_the_names_page_maps_the_ocpp_package_s_names_to_existing_classes() -> None:
    """Each counterpart the page names exists, the 1.6 names that all differ are there, and
    the plain Accepted/Rejected statuses are told apart by name, not listed by the dozen."""
    import importlib
    import re

    page = docs_names.names_markdown()
    rows = dict(re.findall(r"^\| `(\w+)` \| (.+?) \|", page, flags=re.MULTILINE))
    for cell in rows.values():
        for dotted in re.findall(r"`(ocpp_fast\.[\w.]+)`", cell):
            module, name = dotted.rsplit(".", 1)
            assert hasattr(importlib.import_module(module), name), dotted
    assert rows["ChargePointStatus"] == "`ocpp_fast.v16.enums.StatusNotificationRequestStatusEnum`"
    assert rows["ResetStatus"] == "`ocpp_fast.v16.enums.ResetResponseStatusEnum`"
    assert rows["IdTagInfo"] == "`ocpp_fast.v16.datatypes.IdTagInfoType`"
    assert rows["MonitorBaseEnumType"] == "`ocpp_fast.v201.enums.MonitoringBaseEnumType`"
    assert rows["RemoteStartStopStatus"].count(" or ") == 1  # RemoteStart... or RemoteStop...
    assert "`RegistrationStatusEnumType`" not in page  # the same name in 2.0.1: not listed
