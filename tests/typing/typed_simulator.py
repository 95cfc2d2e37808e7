# pyright: strict
"""A simulated station's state is typed: ``station.traffic.transaction``, the running
transaction's id, is the station's ``str`` in 2.0.1 and 2.1 and the CSMS's ``int`` in 1.6
(``None`` when none runs), where it was ``Any`` and a typo or a wrong comparison passed.

Checked by mypy --strict (``make typecheck``) and pyright strict (tests/test_typing.py);
never run.
"""

from __future__ import annotations

from typing import assert_type

from ocpp_fast.simulator import SimulatedStation, SimulatedStation16, SimulatedStation21


def transactions(
    station: SimulatedStation, station21: SimulatedStation21, station16: SimulatedStation16
) -> None:
    assert_type(station.traffic.transaction, str | None)
    assert_type(station21.traffic.transaction, str | None)
    assert_type(station16.traffic.transaction, int | None)
    assert_type(station.reboots, int)
