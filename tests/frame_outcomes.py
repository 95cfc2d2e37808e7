"""What a codec makes of a frame, as a comparable value (shared by the fuzz tests)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import msgspec

from ocpp_fast import errors, v201
from ocpp_fast.bench import DEFAULT_MIX

MIX = DEFAULT_MIX


def mix_frames() -> list[bytes]:
    """The CALL frames of the shared 2.0.1 traffic mix, compact."""
    lines = MIX.read_text(encoding="utf-8").splitlines()
    return [msgspec.json.encode(msgspec.json.decode(line)["frame"]) for line in lines]


def outcome(impl: ModuleType, data: bytes | str, pending: dict[str, str] | None = None) -> Any:
    """The frame decoded, ``None`` if ignored, or the error's identifying facts.

    Only :class:`~ocpp_fast.errors.OcppError` is caught: anything else a codec
    raises is a crash and fails the calling test.
    """
    try:
        return ("frame", impl.decode_frame(data, v201.VERSION, pending or {}))
    except errors.OcppError as exc:
        assert len(exc.description) <= errors.DESCRIPTION_MAX_LENGTH
        assert isinstance(exc.details, dict)
        assert isinstance(exc.message_id, str) and len(exc.message_id) <= 36
        return ("error", type(exc), exc.message_id, exc.message_type, exc.description, exc.details)
