"""The drop-in for ``ocpp.v21.ChargePoint`` (OCPP 2.1): same API, ocpp_fast underneath.

Subclass it exactly as ``ocpp``'s class (``@on``/``@after`` handlers, ``call()``); or call
:func:`ocpp_fast.compat.install` and keep importing ``ocpp.v21.ChargePoint``.
"""

from __future__ import annotations

import ocpp.v21

from ocpp_fast.compat._charge_point import ChargePoint as _FastChargePoint

__all__ = ["ChargePoint"]


class ChargePoint(_FastChargePoint, ocpp.v21.ChargePoint):  # type: ignore[misc]
    """``ocpp.v21.ChargePoint`` validated and routed by ocpp_fast (OCPP 2.1)."""
