"""A griffe extension of the docs build: the docstrings' Sphinx roles become links.

The docstrings name other objects the reStructuredText way (``:class:`Limits```,
``:func:`~ocpp_fast.transport.serve```), which Markdown would show as literal text. Once the
package is loaded, each role is resolved in the scope of the object whose docstring holds it
(as Sphinx would) and written as a cross-reference (``[`Limits`][ocpp_fast.transport.limits.
Limits]``) when its target is on a page of the site, else as plain code: a role naming a
private helper stays readable instead of becoming a dead link that fails the strict build.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):`(~?)([^`<>]+)`")
MODEL = re.compile(r"^ocpp_fast\.v\d+\.(datatypes|enums|messages)\.")
"""Objects of the generated model: they have pages of their own (tools/docs_models.py)."""
GENERATED = re.compile(r"^ocpp_fast\.v\d+\.(actions|handlers|version)\.")
"""Generated modules rendered with every member, docstring or not."""


def _walk(obj: griffe.Object) -> Iterator[griffe.Object]:
    yield obj
    for member in obj.members.values():
        if not isinstance(member, griffe.Alias):
            yield from _walk(member)


def _public(path: str) -> bool:
    return not any(part.startswith("_") for part in path.split("."))


class SphinxRoles(griffe.Extension):
    """Rewrite ``:role:`target``` in every docstring of the package as a link or as code."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        for obj in _walk(pkg):
            if obj.docstring is not None:
                rewrite = functools.partial(self._rewrite, obj)
                obj.docstring.value = ROLE.sub(rewrite, obj.docstring.value)

    def _rewrite(self, scope: griffe.Object, match: re.Match[str]) -> str:
        short, name = match.group(1) == "~", match.group(2).strip().removesuffix("()")
        shown = name.rsplit(".", 1)[-1] if short else name
        path = self._target(scope, name)
        if path is None:
            return f"`{shown}`"
        return f"[`{shown}`][{path}]"

    def _target(self, scope: griffe.Object, name: str) -> str | None:
        """The documented path ``name`` names from ``scope``, or None."""
        head, _, tail = name.partition(".")
        try:
            path = name if name.startswith("ocpp_fast.") else scope.resolve(head)
        except griffe.NameResolutionError:
            return None
        if not name.startswith("ocpp_fast.") and tail:
            path = f"{path}.{tail}"
        try:
            target = scope.modules_collection[path]
        except KeyError:
            return None
        if isinstance(target, griffe.Alias):
            try:
                target = target.final_target
            except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                return None
        path = str(target.path)
        if not _public(path):
            return None
        if MODEL.match(path) or GENERATED.match(path) or target.is_module:
            return path
        return path if target.docstring is not None else None
