"""Text a peer chose, as it may appear in a log line.

A station writes much of what the library logs about it: an error code and description of a
CALLERROR, a field name quoted in a decode error, an identity, a subprotocol. Written raw, a
line break in any of them starts a line of the station's own in a text log, one that reads as
a record of the server's (``<time> info CS9: connected (ocpp1.6)``, which ``ocpp-fast
validate`` and log collectors believe), and a megabyte of it makes one line a megabyte.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = [
    "LINE_CONTINUED",
    "NAMED_CALLS",
    "PEER_TEXT_LIMIT",
    "PeerText",
    "continued",
    "escaped",
    "named_calls",
    "shown",
]

PEER_TEXT_LIMIT = 300
"""Characters of one peer-made argument a log line keeps (a decode error's message, with its
path, fits; a description a station made a megabyte long does not)."""


LINE_CONTINUED = "\t"
"""What the command's text log writes after each line break inside one record (CR, LF, CR
LF): a record's line starts with its time, so a line of a frame or of a traceback read alone
is none (and a collector's multi-line rule on ``^\\s`` joins it to its record)."""

_LINE_BREAK = re.compile(r"\r\n?|\n")


def continued(text: str) -> str:
    """``text`` with :data:`LINE_CONTINUED` after each of its line breaks: written whole (a
    frame, a traceback quoting a station's field in its exception), none of its lines reads
    as a record of the log."""
    return _LINE_BREAK.sub(lambda line_break: line_break[0] + LINE_CONTINUED, text)


def escaped(text: str, limit: int = 80) -> str:
    """``text`` as it may appear in a log line: control characters escaped, cut at ``limit``."""
    return ascii(text[:limit])[1:-1]


def shown(text: str, limit: int | None) -> str:
    """``text`` (a peer's, untrusted) as one bounded piece of a log line: cut at ``limit``
    characters (``None``: whole, for text already bounded otherwise), every character that is
    not printable (a line break, a terminal escape) escaped, so that no peer writes a line of
    its own into the log; printable ones, accented letters included, kept."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text[:limit])


class PeerText:
    """A log argument made by the peer: ``%s`` writes it as :func:`shown` does, ``%r`` as
    ``ascii()`` does; both cut at
    :data:`PEER_TEXT_LIMIT`. Lazy: the text is made only if the record is written (the peer's
    log lines are rate-limited, most are dropped)."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __str__(self) -> str:
        return shown(str(self.value), PEER_TEXT_LIMIT)

    def __repr__(self) -> str:
        value = self.value
        return ascii(value[:PEER_TEXT_LIMIT] if isinstance(value, str) else value)


NAMED_CALLS = 5
"""Handlers named in one line (the rest counted: ``and 7 more``)."""


def named_calls(
    calls: Sequence[tuple[str, str]], total: int | None = None, limit: int = NAMED_CALLS
) -> str:
    """``Authorize m1, DataTransfer m2 and 3 more``: the first ``limit`` of ``calls``
    (``(action, message id)``; the id is the peer's, shown escaped and cut), then how many
    more of ``total`` (``None``: ``len(calls)``; more when some could not be named). The one
    wording of every line that names CALLs left running, cancelled or unanswered: the servers',
    the cluster's and the drop-in's (which imports no transport)."""
    total = len(calls) if total is None else max(total, len(calls))
    names = ", ".join(
        f"{action} {shown(message_id, PEER_TEXT_LIMIT)}" for action, message_id in calls[:limit]
    )
    more = total - min(len(calls), limit)
    if not names:
        return f"{more} unnamed"
    return f"{names} and {more} more" if more else names
