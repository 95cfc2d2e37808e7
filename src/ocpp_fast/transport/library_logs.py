"""The loggers the WebSocket libraries write to, under ours and quiet by default.

picows logs two INFO lines per connection and websockets three ("connection
open", "connection closed", ...), none with the station identity, which our own
lines on ``ocpp_fast.transport`` give ("CS001: connected (ocpp2.0.1)"): with
5,000 stations reconnecting after a restart that is 15,000 lines saying less.
Each library writes to a logger of ours whose level is WARNING unless the
application lowers it (``logging.getLogger("ocpp_fast.transport.picows")
.setLevel(logging.DEBUG)`` to see them again).
"""

from __future__ import annotations

import logging

__all__ = ["picows_log", "websockets_log"]


def _quiet(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    if logger.level == logging.NOTSET:  # the application's own setting wins
        logger.setLevel(logging.WARNING)
    return logger


picows_log: logging.Logger = _quiet("ocpp_fast.transport.picows")
websockets_log: logging.Logger = _quiet("ocpp_fast.transport.websockets")
