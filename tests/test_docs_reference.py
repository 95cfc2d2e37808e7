"""The generated pages of the docs site cover what they claim: every command and flag of the
CLI, every public module of the API."""

from __future__ import annotations

import argparse
import re
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


def _commands() -> dict[str, argparse.ArgumentParser]:
    top = docs_hooks.parser_of(cli.main)
    return {
        name: sub
        for action in top._actions
        if isinstance(action, argparse._SubParsersAction)
        for name, sub in action.choices.items()
        if name != "bench"
    }


def test_each_flag_names_its_value_as_the_guides_do() -> None:
    """A flag that takes a value names what to give (``SECONDS``, ``PORT``, ``N``...), not
    argparse's upper-cased name of the flag: ``--help`` and the CLI page read
    ``--shutdown-timeout SHUTDOWN_TIMEOUT`` and ``--metrics-port METRICS_PORT`` (``worker``'s
    own ``--shutdown-timeout SECONDS``), where the guides say seconds and a port."""
    unnamed = [
        f"{name} {action.option_strings[0]} {action.dest.upper()}"
        for name, parser in _commands().items()
        for action in parser._actions
        if action.option_strings
        and action.nargs != 0
        and action.choices is None
        and action.help != argparse.SUPPRESS
        and action.metavar is None
        and "_" in action.dest  # one word (HOST, URL) reads as the value already
    ]
    assert not unnamed, unnamed


def test_the_cli_page_shows_defaults_as_typed() -> None:
    """A repeatable flag's default of none read ``[]``, and ``simulate --version``'s
    ``['2.0.1']``: Python's words, not what one types."""
    page = docs_hooks.cli_markdown()
    assert "`[]`" not in page and "['" not in page
    assert "| `--version` | `1.6` \\| `2.0.1` \\| `2.1` | `2.0.1` |" in page


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


OTHER_TOOLS_FLAGS = {
    "--strict": "mypy",
    "--verifytypes": "pyright",
    "--no-binary": "pip",
    "--max-time": "curl",
    "--max-age": "nats stream edit",
    "--instructions": "benchmarks/store_calls.py",
}
"""Flags the user's pages name that belong to another program, each with that program."""


def test_every_flag_the_user_pages_name_exists() -> None:
    """A flag in backticks on a page a user works from (getting started, how-to, reference,
    the README) is a flag of an ``ocpp-fast`` command, or of another program named above: the
    metrics reference once said ``--write-window``, which no command has (it is
    ``--nats-write-window``), and a reader typing it gets argparse's error."""
    top = docs_hooks.parser_of(cli.main)
    known = {
        flag
        for action in top._actions
        if isinstance(action, argparse._SubParsersAction)
        for name, sub in action.choices.items()
        for parser in ([docs_hooks.parser_of(bench.main)] if name == "bench" else [sub])
        for flag in flags(parser)
    }
    pages = [ROOT / "README.md"] + [
        page
        for folder in ("getting-started", "how-to", "reference")
        for page in sorted((ROOT / "docs" / folder).rglob("*.md"))
    ]
    unknown = {
        f"{page.relative_to(ROOT)}: {flag}"
        for page in pages
        for quoted in re.findall(r"`[^`\n]*`", page.read_text(encoding="utf-8"))
        for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", quoted)
        if flag not in known and flag not in OTHER_TOOLS_FLAGS
    }
    assert not unknown, sorted(unknown)


def test_the_pages_call_a_station_back_through_context_peer() -> None:
    """Prose and tables are not type-checked as the code blocks are: the migration table once
    told a handler to ``await context.connection.call(...)``, which ``mypy --strict`` refuses
    (``context.connection`` may be ``None``); ``context.peer`` is the typed way."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    told = [
        str(page.relative_to(ROOT))
        for page in pages
        if "await context.connection.call(" in page.read_text(encoding="utf-8")
    ]
    assert not told, told


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
