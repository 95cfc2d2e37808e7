"""The public API's types as a user's checker sees them: ``pyright --verifytypes``.

pyright walks every public symbol of the installed package (what ``py.typed`` promises) and
reports those whose type it does not know (``unknown``: an unannotated parameter, a base
class from an untyped package) or knows only by inference that another checker may make
differently (``ambiguous``: an attribute assigned without annotation). tests/typing/ proves
what a user's code may do; this proves nothing public was left to inference, so a new
unannotated attribute, or a class built on an untyped base, fails here rather than
showing up as ``Any`` (or as a different type under mypy) in a user's IDE.

One run, about 5 s. pyright finds the package as any user's environment does: through
the interpreter first on ``PATH`` (this one: the editable install of ``src/``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent

LEFT_UNKNOWN = {
    # ocpp_fast.compat mirrors the `ocpp` package's ChargePoint for backends written against
    # it, and subclasses it: `ocpp` ships no types, so its base (and metaclass) is unknown to
    # a checker, as `ocpp`'s own ChargePoint is. A compat backend's typing is `ocpp`'s.
    "ocpp_fast.compat.ChargePoint": "a subclass of ocpp's untyped ChargePoint",
    "ocpp_fast.compat.v16.ChargePoint": "a subclass of ocpp's untyped ChargePoint",
    "ocpp_fast.compat.v201.ChargePoint": "a subclass of ocpp's untyped ChargePoint",
    "ocpp_fast.compat.v21.ChargePoint": "a subclass of ocpp's untyped ChargePoint",
    "ocpp_fast.compat._charge_point.ChargePoint": "the four above's base, on ocpp's",
    # its parts, one module per side, each the base of the next, the first on ocpp's
    "ocpp_fast.compat._calling.Calling": "the calling side, ChargePoint's base",
    "ocpp_fast.compat._routing.Routing": "the routing side, Calling's base",
    "ocpp_fast.compat._handling.Handling": "the handler side, Routing's base",
    "ocpp_fast.compat._state.State": "the drop-in's state, Handling's base, on ocpp's",
}
"""Every public symbol pyright may not know the type of, each with why it cannot be known."""


@pytest.fixture(scope="module")
def completeness() -> dict[str, Any]:
    """pyright's ``typeCompleteness`` report of ``ocpp_fast``."""
    environment = dict(os.environ)
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}"
    command = ["--verifytypes", "ocpp_fast", "--ignoreexternal", "--outputjson"]
    done = subprocess.run(
        [sys.executable, "-m", "pyright", *command],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr + done.stdout  # 1: symbols reported
    report: dict[str, Any] = json.loads(done.stdout)["typeCompleteness"]
    return report


def test_pyright_read_this_package(completeness: dict[str, Any]) -> None:
    """The source tree, with its py.typed, and all of it: not an empty or stale copy."""
    assert Path(completeness["packageRootDirectory"]) == REPO / "src" / "ocpp_fast"
    assert completeness["pyTypedPath"]
    assert completeness["exportedSymbolCounts"]["withKnownType"] > 9000


def test_no_public_symbol_is_typed_by_inference_alone(completeness: dict[str, Any]) -> None:
    ambiguous = sorted(s["name"] for s in completeness["symbols"] if s["isTypeAmbiguous"])
    assert ambiguous == []
    assert completeness["exportedSymbolCounts"]["withAmbiguousType"] == 0


def test_the_unknown_types_left_are_the_listed_ones(completeness: dict[str, Any]) -> None:
    unknown = {
        s["name"]
        for s in completeness["symbols"]
        if not s["isTypeKnown"] and not s["isTypeAmbiguous"]
    }
    assert sorted(unknown - LEFT_UNKNOWN.keys()) == [], "newly unknown to a checker"
    assert sorted(LEFT_UNKNOWN.keys() - unknown) == [], "known now: drop it from the list"


def test_the_completeness_score(completeness: dict[str, Any]) -> None:
    """The score pyright prints: the share of exported symbols of known type (0.9996: the
    four compat classes of 9,317)."""
    assert completeness["completenessScore"] > 0.999
