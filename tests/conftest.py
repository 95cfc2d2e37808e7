"""Shared fixtures: every codec test runs on both implementations."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

from ocpp_fast import _codec_py

# The examples (MyTestCharger, MyTestChargeSystem) are exercised by the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))


def compiled_expected() -> bool:
    """The compiled codec must load unless the pure build was asked for."""
    return os.environ.get("OCPP_FAST_NO_EXTENSIONS", "") in ("", "0")


def implementations() -> list[ModuleType]:
    """The codecs this run can test: always the pure one, the compiled one if built."""
    found: list[ModuleType] = [_codec_py]
    try:
        from ocpp_fast import _codec_c
    except ImportError:
        return found
    found.append(_codec_c)
    return found


IMPLEMENTATIONS = implementations()


@pytest.fixture(params=IMPLEMENTATIONS, ids=[m.IMPLEMENTATION for m in IMPLEMENTATIONS])
def impl(request: pytest.FixtureRequest) -> ModuleType:
    """A codec implementation module (``_codec_py`` or ``_codec_c``)."""
    module: ModuleType = request.param
    return module
