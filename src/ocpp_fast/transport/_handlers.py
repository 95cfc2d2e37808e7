"""What ``serve()`` and ``connect()`` take as ``handlers``: one handler, or one per subprotocol.

One rule for both sides, so a CSMS and a station are given their versions the same way (and
refused alike when given something else).
"""

from __future__ import annotations

from collections.abc import Mapping

from ocpp_fast.dispatch import OcppHandler

__all__ = ["by_subprotocol"]


def by_subprotocol(
    handlers: OcppHandler | Mapping[str, OcppHandler], kind: str
) -> dict[str, OcppHandler]:
    """One handler (under its version's subprotocol) or a mapping of subprotocol to handler,
    as a new dict; ``kind`` (``"Charger"``, ``"ChargeSystem"``) names what is expected in the
    ``TypeError`` for anything else."""
    if isinstance(handlers, OcppHandler):
        return {handlers.version.subprotocol: handlers}
    if not isinstance(handlers, Mapping):
        raise TypeError(
            f"handlers is one {kind} or a mapping of subprotocol to {kind} "
            f'({{"ocpp1.6": {kind.lower()}}}), not {type(handlers).__name__}'
        )
    return dict(handlers)
