"""mkdocs hooks of the documentation site (mkdocs.yml ``hooks:``): the generated pages.

- ``reference/cli.md``: every command and flag of ``ocpp-fast``, written from the argparse
  parsers the command itself builds, at build time, so the page cannot drift from the code.
- ``reference/ocpp-package-names.md``: the `ocpp` package's names of enums and data types
  beside ocpp_fast's (:mod:`docs_names`), from both packages as installed.
- ``reference/api/<module>.md``: one page per public module (no ``_`` in its dotted path),
  found by walking ``src/ocpp_fast``; a module added later gets its page and its place in the
  nav without anyone remembering to add it.
- ``](repo:PATH)`` in a page becomes a link to PATH in the repository (``repo_url`` of
  mkdocs.yml, the one place the address is written for the site); a PATH that does not exist
  fails the build, so a renamed example cannot leave a dead link behind.

mkdocs hooks rather than a plugin package (mkdocs-gen-files): three small functions need no
extra dependency, and they run in the same build that ``--strict`` checks.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # mkdocs loads hooks by file path

from docs_models import is_model, model_markdown
from docs_names import PAGE as NAMES_PAGE
from docs_names import names_markdown

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "ocpp_fast"
API_DIR = "reference/api"
CLI_PAGE = "reference/cli.md"
API_NAV_TITLE = "API"

GENERATED = ("actions", "handlers", "version")
"""Generated modules of a version package rendered by mkdocstrings (the model's own modules
are written by :mod:`docs_models`): their members have no docstrings, shown all the same."""


# --- the public modules ----------------------------------------------------------------------


def public_modules() -> list[str]:
    """Every public module of the package, dotted, packages before their modules."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(part.startswith("_") for part in parts):
            continue
        found.append(".".join(parts))
    return sorted(found, key=lambda name: name.split("."))


def is_package(module: str) -> bool:
    return (PACKAGE.parent / module.replace(".", "/") / "__init__.py").is_file()


def api_page(module: str) -> str:
    return f"{API_DIR}/{module}.md"


@functools.cache
def _package_tree() -> Any:
    """The whole package as griffe reads it, statically, loaded once for every page."""
    import griffe

    return griffe.load("ocpp_fast", search_paths=[str(PACKAGE.parent)], resolve_aliases=False)


def _exports(package: str) -> list[tuple[str, str | None]]:
    """``(name, module)`` for each name in a package's ``__all__``: the public module whose page
    documents it, or None when it is documented on the package's own page (defined there, or
    in a private module).

    Read with griffe, statically: the packages export lazily (PEP 562), from imports that
    run only under ``TYPE_CHECKING``, which griffe follows as aliases.
    """
    import griffe

    loaded = _package_tree()
    for part in package.split(".")[1:]:
        loaded = loaded.members[part]
    modules = set(public_modules())
    exports: list[tuple[str, str | None]] = []
    for name in loaded.exports or ():
        member = loaded.members.get(str(name))
        if member is None:
            continue
        target = member.target_path if isinstance(member, griffe.Alias) else member.path
        owner = target if target in modules else target.rsplit(".", 1)[0]
        exports.append((str(name), owner if owner in modules and owner != package else None))
    return exports


def api_markdown(module: str) -> str:
    """The page of one module: its docstring and members, rendered by mkdocstrings.

    A package's page shows what it defines itself (or re-exports from a private module) in
    full, and links each other export to the page of the module that defines it.
    """
    if is_model(module):
        return model_markdown(module)
    lines = [f"# `{module}`", ""]
    if is_package(module):
        exports = _exports(module)
        own = [name for name, owner in exports if owner is None]
        lines += [f"::: {module}", "    options:", "      show_root_heading: false"]
        lines += [f"      members: [{', '.join(own)}]" if own else "      members: false", ""]
        elsewhere = [(name, owner) for name, owner in exports if owner is not None]
        if elsewhere:
            lines += ["## Exported from its modules", "", "| name | documented in |"]
            lines.append("|:---|:---|")
            for name, owner in elsewhere:
                lines.append(f"| `{name}` | [`{owner}`]({owner}.md) |")
            lines.append("")
        return "\n".join(lines)
    lines += [f"::: {module}", "    options:", "      show_root_heading: false"]
    if module.rsplit(".", 1)[-1] in GENERATED:
        lines += ["      show_if_no_docstring: true"]
    return "\n".join(lines) + "\n"


def api_nav() -> list[Any]:
    """The API section of the nav: a package's page first, then its modules, nested."""

    def entries(prefix: str) -> list[Any]:
        depth = prefix.count(".") + 1
        nav: list[Any] = []
        for module in public_modules():
            if not module.startswith(prefix + ".") or module.count(".") != depth:
                continue
            if is_package(module):
                nav.append({module: [api_page(module), *entries(module)]})
            else:
                nav.append({module: api_page(module)})
        return nav

    return [{"ocpp_fast": api_page("ocpp_fast")}, *entries("ocpp_fast")]


# --- the command line ------------------------------------------------------------------------


class _Captured(Exception):  # a signal carrying the parser, not an error
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


@contextlib.contextmanager
def _capturing() -> Iterator[None]:
    """Make parsing stop with the parser itself: the command builds its parsers inside
    ``main()``, and this takes them exactly as a user's run would, whatever their shape."""

    def capture(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
        raise _Captured(self)

    saved = argparse.ArgumentParser.parse_known_args, argparse.ArgumentParser.parse_args
    argparse.ArgumentParser.parse_known_args = capture  # type: ignore[method-assign]
    argparse.ArgumentParser.parse_args = capture  # type: ignore[method-assign]
    try:
        yield
    finally:
        argparse.ArgumentParser.parse_known_args = saved[0]  # type: ignore[method-assign]
        argparse.ArgumentParser.parse_args = saved[1]  # type: ignore[method-assign]


def parser_of(main: Callable[[list[str]], Any]) -> argparse.ArgumentParser:
    """The parser ``main`` builds and parses its arguments with."""
    with _capturing():
        try:
            main([])
        except _Captured as captured:
            return captured.parser
    raise RuntimeError(f"{main} parsed no arguments")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _help_of(parser: argparse.ArgumentParser, name: str) -> str:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.dest == name:
                    return choice.help or ""
    return ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _options_table(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(
            action, argparse._HelpAction | argparse._SubParsersAction
        ):
            continue
        if action.option_strings:
            name = ", ".join(f"`{flag}`" for flag in action.option_strings)
        else:
            name = f"`{action.metavar or action.dest}`"
        if action.nargs == 0:
            value = "(a flag)"
        elif action.choices is not None:
            value = " \\| ".join(f"`{choice}`" for choice in action.choices)
        else:
            metavar = action.metavar or action.dest.upper()
            value = f"`{metavar}`" + (" ..." if action.nargs in ("+", "*") else "")
        if action.required or (not action.option_strings and action.nargs not in ("?", "*")):
            default = "required"
        elif action.default in (None, False, "", [], argparse.SUPPRESS) or action.nargs == 0:
            default = ""  # a repeatable flag's [] is "none", not a value to type
        elif isinstance(action.default, Path) and action.default.is_relative_to(PACKAGE.parent):
            default = f"`{action.default.relative_to(PACKAGE.parent).as_posix()}` (packaged)"
        elif isinstance(action.default, list):  # as typed: `1.6 2.0.1`, not ['1.6', '2.0.1']
            default = f"`{' '.join(str(value) for value in action.default)}`"
        else:
            default = f"`{action.default}`"
        rows.append(f"| {name} | {value} | {default} | {_cell(action.help or '')} |")
    if not rows:
        return []
    return ["| argument | value | default | what it does |", "|:---|:---|:---|:---|", *rows, ""]


def _usage(parser: argparse.ArgumentParser) -> list[str]:
    usage = parser.format_usage().removeprefix("usage: ").strip()
    return ["```text", usage, "```", ""]


def cli_markdown() -> str:
    """The CLI reference, from the parsers of ``ocpp_fast.cli.main`` (and ``bench``'s own)."""
    from ocpp_fast import bench, cli

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # the usage lines wrap the same on every machine
    try:
        top = parser_of(cli.main)
        lines = [
            "# The `ocpp-fast` command",
            "",
            "<!-- Generated at build time from the command's own parsers (tools/docs_hooks.py)."
            " -->",
            "",
            f"{top.description}",
            "",
            "This page is written from the argparse parsers of `ocpp_fast.cli` while the site is"
            " built: every command and flag below is the command's own. `ocpp-fast COMMAND"
            " --help` prints the same.",
            "",
            *_usage(top),
        ]
        for name, sub in _subcommands(top).items():
            if name == "bench":  # it hands its arguments on to ocpp_fast.bench's own parser
                sub = parser_of(bench.main)
            summary = _help_of(top, name)
            lines += [f"## `ocpp-fast {name}`", "", summary[:1].upper() + summary[1:] + ".", ""]
            lines += _usage(sub) + _options_table(sub)
        return "\n".join(lines)
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


# --- mkdocs hooks ----------------------------------------------------------------------------


def on_config(config: Any) -> Any:
    """Put the generated API pages in the nav, in the section titled ``API``."""

    def fill(nav: list[Any]) -> bool:
        for entry in nav:
            if isinstance(entry, dict):
                for title, value in entry.items():
                    if title == API_NAV_TITLE and value == []:
                        entry[title] = api_nav()
                        return True
                    if isinstance(value, list) and fill(value):
                        return True
        return False

    if not fill(config["nav"]):
        raise ValueError(f"mkdocs.yml: no empty '{API_NAV_TITLE}: []' section in the nav")
    return config


def on_files(files: Any, config: Any) -> Any:
    """Add the CLI page, the `ocpp` package's names page and one page per public module."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, CLI_PAGE, content=cli_markdown()))
    files.append(File.generated(config, NAMES_PAGE, content=names_markdown()))
    for module in public_modules():
        files.append(File.generated(config, api_page(module), content=api_markdown(module)))
    return files


REPO_LINK = re.compile(r"\]\(repo:([^)#\s]+)(#[^)\s]*)?\)")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """``](repo:examples/x.py)`` -> a link to the file in the repository, which must exist."""
    base = config["repo_url"].rstrip("/")

    def link(match: re.Match[str]) -> str:
        path = match.group(1)
        if not (ROOT / path).exists():
            raise ValueError(f"{page.file.src_uri}: repo:{path} does not exist in the repository")
        kind = "tree" if (ROOT / path).is_dir() else "blob"
        return f"]({base}/{kind}/main/{path}{match.group(2) or ''})"

    return REPO_LINK.sub(link, markdown)
