"""``_reference.integral_floats_read``, which the drop-in reads before and after its check of a
payload to learn whether the check read an integral float (``1.0``) as an integer, with the
drop-in running in several threads.

It was a count raised by ``+= 1``: a thread switched out between reading the count and
writing it back wrote a stale value later, which could put the count back to what another
thread read before its check, hiding that thread's conversion (its handler handed ``1.0``
where the schema says integer). Each conversion now writes a stamp of its own, drawn whole
(``next()`` on a counter, one step under the GIL): no later write can bring back a value
read before, so a value that did not move means no conversion.
"""

from __future__ import annotations

import dis
import sys
import threading
from types import FrameType
from typing import Any

from ocpp_fast import _reference, v201
from ocpp_fast._reference import decode_payload

_STORE = dis.opmap["STORE_GLOBAL"]
_TYPE = v201.VERSION.request_types["StatusNotification"]


def _integral_float_payload() -> dict[str, Any]:
    return {
        "timestamp": "2026-12-04T03:00:00Z",
        "connectorStatus": "Available",
        "evseId": 1.0,
        "connectorId": 1,
    }


def _check() -> None:
    decode_payload(_integral_float_payload(), _TYPE, v201.VERSION)


def test_a_write_delayed_by_a_thread_switch_cannot_hide_a_conversion() -> None:
    """A thread paused as it writes its conversion (the switch the interpreter may make
    there); meanwhile another conversion, then ours between two reads; then the paused
    write lands. Our reads must differ: with ``+= 1`` the paused write put back the value
    our first read saw."""
    paused, resume = threading.Event(), threading.Event()
    fix_code = _reference._fix.__code__

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code is not fix_code:
            return None
        frame.f_trace_opcodes = True
        storing = event == "opcode" and frame.f_code.co_code[frame.f_lasti] == _STORE
        if storing and not paused.is_set():
            paused.set()
            resume.wait(10)
        return tracer

    def delayed() -> None:
        sys.settrace(tracer)
        try:
            _check()
        finally:
            sys.settrace(None)

    other = threading.Thread(target=delayed)
    other.start()
    try:
        assert paused.wait(10)
        _check()  # a third thread's conversion, while the write is delayed
        before = _reference.integral_floats_read
        _check()  # ours: 1.0 read as an integer
    finally:
        resume.set()
        other.join(10)
    assert _reference.integral_floats_read != before
