"""pytest-benchmark micro-benchmarks of the frame codec, both implementations.

``ocpp-fast bench`` (:mod:`ocpp_fast.bench`) times the whole CSMS round trip
against other libraries; these time its two halves alone, per frame of the mix,
so a regression shows up in the half that caused it. They live outside
``testpaths`` and run only when named:

    .venv/bin/python -m pytest benchmarks --benchmark-enable

Under pyproject's default ``--benchmark-disable`` each body runs once, so the
same file doubles as a quick check that every mix frame still takes the fast
path of both codecs.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ocpp_fast import _codec_py, v201
from ocpp_fast.bench import DEFAULT_MIX, MixFrame, compiled_codec, fast_responses, load_mix
from ocpp_fast.frames import Call, CallResult

_MIX = Path(
    os.environ.get(
        "OCPP_FAST_BENCH_MIX",
        DEFAULT_MIX,
    )
)
_FRAMES = load_mix(_MIX)
_RESPONSES = fast_responses()
_COMPILED = compiled_codec()

CODECS = [
    pytest.param(
        _COMPILED,
        id="cython",
        marks=pytest.mark.skipif(_COMPILED is None, reason="ocpp_fast._codec_c is not built"),
    ),
    pytest.param(_codec_py, id="python"),
]
_NO_MIX = pytest.mark.skip(reason=f"mix not found: {_MIX}")
FRAMES: list[Any] = [pytest.param(f, id=f.key) for f in _FRAMES] or [
    pytest.param(None, marks=_NO_MIX)
]
ACTIONS: list[Any] = sorted({f.action for f in _FRAMES}) or [pytest.param(None, marks=_NO_MIX)]


@pytest.mark.parametrize("frame", FRAMES)
@pytest.mark.parametrize("codec", CODECS)
def test_decode_frame(benchmark: Any, codec: ModuleType, frame: MixFrame) -> None:
    """Request bytes to a validated ``Call``: the half that grows with the payload."""
    benchmark.group = f"decode {frame.key}"
    call = benchmark(codec.decode_frame, frame.data, v201.VERSION, {})
    assert isinstance(call, Call)
    assert call.action == frame.action
    assert call.message_id == frame.message_id
    assert type(call.payload) is v201.VERSION.request_types[frame.action]


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("codec", CODECS)
def test_encode_call_result(benchmark: Any, codec: ModuleType, action: str) -> None:
    """A prebuilt response Struct to CALLRESULT bytes: the constant half of the round trip."""
    benchmark.group = f"encode {action}"
    response = _RESPONSES[action]
    reply = benchmark(codec.encode_call_result, "msg-0001", response)
    back = _codec_py.decode_frame(reply, v201.VERSION, {"msg-0001": action})
    assert isinstance(back, CallResult)
    assert back.payload == response
