"""The drop-in for ``ocpp.v16.ChargePoint`` (OCPP 1.6): same API, ocpp_fast underneath.

Subclass it exactly as ``ocpp``'s class (``@on``/``@after`` handlers, ``call()``); or call
:func:`ocpp_fast.compat.install` and keep importing ``ocpp.v16.ChargePoint``.
"""

from __future__ import annotations

import ocpp.v16

from ocpp_fast.compat._charge_point import ChargePoint as _FastChargePoint

__all__ = ["ChargePoint"]


class ChargePoint(_FastChargePoint, ocpp.v16.ChargePoint):  # type: ignore[misc]
    """``ocpp.v16.ChargePoint`` validated and routed by ocpp_fast (OCPP 1.6)."""
