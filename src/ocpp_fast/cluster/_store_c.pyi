"""Types of the compiled twin: those of :mod:`ocpp_fast.cluster._store_py`."""

from ocpp_fast.cluster._store_py import event_body, event_head, hpub, pub, stamp

__all__ = ["event_body", "event_head", "hpub", "pub", "stamp"]
