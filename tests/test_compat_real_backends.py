"""The drop-in against ``ocpp`` 2.1.0 on patterns of real backends the sweeps left open.

Each test runs the same backend on ``ocpp``'s class and on the drop-in's and compares what
each sends, logs, raises or returns; where they differ on purpose, the test says why.

- A generic ChargePoint with no ``_ocpp_version`` and routes of
  ``skip_schema_validation=True``: ``ocpp`` never reads the version there, the drop-in
  raised AttributeError on every frame and every ``call()``
  [a_generic_class_without_a_version_serves_unvalidated_routes].
- A response of an id no call waits for was logged at WARNING; ``ocpp`` logs it at ERROR
  on the backend's logger [an_unknown_id_is_logged_as_ocpp_logs_it].
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

import ocpp.charge_point
import ocpp.exceptions
import pytest
from compat_pair import Sink, charge_point_classes, ocpp_validating_inline, parsed
from ocpp.routing import on
from ocpp.v201 import call, call_result

from ocpp_fast import compat


@pytest.fixture(autouse=True)
def _inline_validation() -> Iterator[None]:
    with ocpp_validating_inline():
        yield


async def _until(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition`` holds (a test that would hang fails instead)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


def _both(body: dict[str, Any]) -> list[type[Any]]:
    """The same backend class on ``ocpp``'s generic ChargePoint and on the drop-in's."""
    return [
        type("Theirs", (ocpp.charge_point.ChargePoint,), dict(body)),
        type("Ours", (compat.ChargePoint,), dict(body)),
    ]


def _unvalidated_backend() -> dict[str, Any]:
    def heartbeat(self: Any) -> Any:
        return call_result.Heartbeat(current_time="2026-12-04T15:00:00Z")

    def data_transfer(self: Any, **kwargs: Any) -> Any:
        raise ValueError("a bug of the backend")

    def authorize(self: Any, **kwargs: Any) -> Any:
        raise ocpp.exceptions.FormationViolationError(description="refused")

    heartbeat.__name__ = "on_heartbeat_unvalidated"
    data_transfer.__name__ = "on_data_transfer_unvalidated"
    authorize.__name__ = "on_authorize_unvalidated"
    # ocpp finds a route by its function's name (one global list): the attribute bears it
    return {
        heartbeat.__name__: on("Heartbeat", skip_schema_validation=True)(heartbeat),
        data_transfer.__name__: on("DataTransfer", skip_schema_validation=True)(data_transfer),
        authorize.__name__: on("Authorize", skip_schema_validation=True)(authorize),
    }


async def _serve_without_version(cls: type[Any]) -> tuple[list[Any], list[str], Any]:
    sink = Sink()
    backend = cls("CP", sink)
    backend._call_result = call_result
    outcomes = []
    for frame in (
        '[2,"1","Heartbeat",{}]',
        '[2,"2","DataTransfer",{"vendorId":"V"}]',
        '[2,"3","Authorize",{}]',
        '[2,"4","Reset",{"type":"Immediate"}]',  # no route: ocpp reads the version
    ):
        try:
            await backend.route_message(frame)
            outcomes.append("returned")
        except AttributeError as error:
            outcomes.append(f"AttributeError {error.name}")
    backend._unique_id_generator = lambda: "c1"
    calling = asyncio.ensure_future(backend.call(call.Heartbeat(), skip_schema_validation=True))
    await _until(lambda: len(sink.sent) == 4)
    await backend.route_message('[3,"c1",{"currentTime":"not checked"}]')
    result = await asyncio.wait_for(calling, 5)
    return outcomes, parsed(sink.sent), result


def test_a_generic_class_without_a_version_serves_unvalidated_routes() -> None:
    """``ocpp`` reads ``_ocpp_version`` only to validate or to refuse an action: its
    routes of ``skip_schema_validation=True`` and a ``call(skip_schema_validation=True)``
    work without it; an action with no route raises its AttributeError. The drop-in raised
    it on every frame; now it sends what ``ocpp`` sends, codes as raised."""
    theirs, ours = (
        asyncio.run(_serve_without_version(cls)) for cls in _both(_unvalidated_backend())
    )
    assert ours == theirs
    outcomes, sent, result = ours
    assert outcomes[:3] == ["returned"] * 3
    assert outcomes[3] == "AttributeError _ocpp_version"
    assert sent == [
        [3, "1", {"currentTime": "2026-12-04T15:00:00Z"}],
        [4, "2", "InternalError", "An unexpected error occurred.", {}],
        [4, "3", "FormationViolation", "refused", {}],
        [2, "c1", "Heartbeat", {}],
    ]
    assert result == call_result.Heartbeat(current_time="not checked")


def test_a_validated_call_without_a_version_still_raises_as_ocpp_does() -> None:
    """A ``call()`` to be validated needs the version, on both."""
    for cls in _both({}):
        backend = cls("CP", Sink())
        with pytest.raises(AttributeError, match="_ocpp_version"):
            asyncio.run(backend.call(call.Heartbeat()))


async def _unknown_then_call(cls: type[Any]) -> Any:
    sink = Sink()
    backend = cls("CP", sink)
    await backend.route_message('[3,"stale",{"currentTime":"2026-12-04T15:00:00Z"}]')
    backend._unique_id_generator = lambda: "c1"
    calling = asyncio.ensure_future(backend.call(call.Heartbeat()))
    await _until(lambda: bool(sink.sent))
    await backend.route_message('[3,"c1",{"currentTime":"2026-12-04T15:00:00Z"}]')
    return await asyncio.wait_for(calling, 5)


@pytest.mark.parametrize("side", ["theirs", "ours"])
def test_an_unknown_id_is_logged_as_ocpp_logs_it(
    side: str, caplog: pytest.LogCaptureFixture
) -> None:
    """``ocpp`` logs a response of an id no call waits for at ERROR on the backend's logger
    (``ocpp``), saying "unknown unique id" (when its next ``call()`` takes it off); the
    drop-in logged a WARNING of its own words (when it arrives): alerts on ``ocpp``'s line
    missed it."""
    theirs_class, ours_class = charge_point_classes("2.0.1", [])
    cls = theirs_class if side == "theirs" else ours_class
    with caplog.at_level(logging.DEBUG, logger="ocpp"):
        result = asyncio.run(_unknown_then_call(cls))
    assert result.current_time == "2026-12-04T15:00:00Z"
    lines = [r for r in caplog.records if "unknown unique id" in r.getMessage().lower()]
    assert [(r.name, r.levelname) for r in lines] == [("ocpp", "ERROR")]
    assert "stale" in lines[0].getMessage()
