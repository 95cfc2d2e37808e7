"""The types of the ``ocpp-fast`` command's flags, checked by argparse as it reads them.

A value out of range is a usage error of one line (``argument --port: 99999 is no port (0 to
65535)``), exit code 2, before anything starts. ``serve``'s and ``simulate``'s flags share
these, so that the commands check in one place and word their refusals alike (``simulate``
checked its own after parsing, in words of its own).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from ocpp_fast.transport.identity import websocket_url_problem

__all__ = [
    "count",
    "nats_servers",
    "natural",
    "port",
    "seconds",
    "seconds_above_0",
    "timeout",
    "websocket_url",
]

N = TypeVar("N", int, float, str)


def _ranged(
    name: str, convert: Callable[[str], N], accept: Callable[[N], bool], wanted: str
) -> Callable[[str], N]:
    """A flag's type: ``convert`` the text, refuse it unless ``accept``; ``wanted`` ends the
    refusal (``<text> is <wanted>``). ``name`` is what argparse calls text that is no number
    at all (``invalid port value: 'x'``)."""

    def parse(text: str) -> N:
        number = convert(text)
        if not accept(number):
            raise argparse.ArgumentTypeError(f"{text} is {wanted}")
        return number

    parse.__name__ = parse.__qualname__ = name
    return parse


port = _ranged("port", int, lambda number: 0 <= number <= 65535, "no port (0 to 65535)")
"""A TCP port, 0 to 65535. Unchecked, 99999 listened on 34463 (the kernel keeps 16 bits) and a
metrics port over 65535 ended in a traceback."""

seconds = _ranged(
    "seconds", float, lambda number: 0 <= number < math.inf, "no number of seconds (0 or more)"
)
"""A duration of 0 s or more (a negative one was taken as it came); not NaN nor infinite."""

seconds_above_0 = _ranged(
    "seconds", float, lambda number: number > 0, "no number of seconds above 0"
)
"""A duration above 0 s: ``simulate``'s ``--duration`` and ``--interval`` (no time, or a
negative one, would pass a CI job having sent nothing). Infinite is accepted: ``--duration
inf`` runs until SIGINT or SIGTERM. NaN is refused (it compares false)."""

timeout = _ranged(
    "seconds", float, lambda number: 0 < number < math.inf, "no timeout (seconds above 0, finite)"
)
"""How long something waits, above 0 s and finite: no wait at all fails every call, and an
endless one holds the station's script where a timeout is what it reports."""

count = _ranged("count", int, lambda number: number >= 1, "not 1 or more")
"""An integer of 1 or more (``--max-size 0`` refused every message, ``--workers 0`` ran one
process, ``--chargers 0`` tested nothing)."""

natural = _ranged("number", int, lambda number: number >= 0, "not 0 or more")
"""An integer of 0 or more (``--first-station``: the stations' numbers)."""


def websocket_url(text: str) -> str:
    """A CSMS's URL for ``simulate``: without ``ws://`` or ``wss://`` each station's connect
    would fail, one by one, rather than the command once. The check is ``connect()``'s own
    (:func:`~ocpp_fast.transport.identity.websocket_url_problem`)."""
    problem = websocket_url_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{text} is {problem}")
    return text


NATS_SCHEMES = ("nats", "tls", "ws", "wss")
"""The schemes of a NATS server's URL that the cluster's connections speak."""


def nats_servers(text: str) -> list[str]:
    """``--nats``: one NATS server's URL, or several separated by commas, as the ``nats``
    command and nats-server's own settings write a cluster's (``nats://a:4222,nats://b:4222``);
    each is tried in turn. A URL NATS cannot use is a usage error here, naming it: unchecked,
    a list or a port out of range ended the start in nats-py's traceback, and an ``http://``
    URL in 10 s of retries said as ``Name or service not known``."""
    servers = [url.strip() for url in text.split(",") if url.strip()]
    if not servers:
        raise argparse.ArgumentTypeError(f"{text!r} names no NATS server")
    for url in servers:
        parts = urlsplit(url if "://" in url else f"nats://{url}")  # as nats-py reads it
        if parts.scheme not in NATS_SCHEMES:
            raise argparse.ArgumentTypeError(
                f"{url} is no NATS server's URL (nats://, tls://, ws:// or wss://HOST:PORT)"
            )
        try:
            port = parts.port  # None: NATS's own, 4222
        except ValueError:  # not a number, or over 65535
            port = 0
        if port == 0:
            raise argparse.ArgumentTypeError(f"{url} has no valid port (1 to 65535)")
        if not parts.hostname:
            raise argparse.ArgumentTypeError(f"{url} names no host")
    return servers
