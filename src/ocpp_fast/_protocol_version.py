"""What the codec and the connection need to know about one OCPP version.

Each version package (``ocpp_fast.v201`` ...) builds one :class:`ProtocolVersion`
from its generated ``actions`` table. Typed msgspec decoders are compiled on
first use of an action, so importing a version stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import msgspec
from msgspec import inspect as mi

from ocpp_fast._actions import Action, Sender
from ocpp_fast._model import dec_hook

__all__ = ["ProtocolVersion", "TypedDecoder", "contains_datetime", "needs_reference"]


class TypedDecoder(NamedTuple):
    """The compiled decoder of one payload type, and what its result still needs.

    ``has_datetime``: the fast paths must search the payload for date-time
    spellings msgspec accepts beyond RFC 3339 (a type without date-times is
    spared the scan). ``reference_only``: the type has constraints msgspec
    cannot check (1.6 ``multipleOf`` and ``format: uri``), so every payload of
    it goes through the reference path.
    """

    decode: Callable[[bytes], Any]
    has_datetime: bool
    reference_only: bool


def needs_reference(info: mi.Type, seen: set[type] | None = None) -> bool:
    """Whether a msgspec type carries a constraint only the reference path checks."""
    seen = set() if seen is None else seen
    if isinstance(info, mi.Metadata):  # Meta(extra=...): multipleOf, format uri
        return bool(info.extra) or needs_reference(info.type, seen)
    if isinstance(info, mi.ListType):
        return needs_reference(info.item_type, seen)
    if isinstance(info, mi.UnionType):
        return any(needs_reference(t, seen) for t in info.types)
    if isinstance(info, mi.StructType) and info.cls not in seen:
        seen.add(info.cls)
        return any(needs_reference(f.type, seen) for f in info.fields)
    return False


def contains_datetime(info: mi.Type, seen: set[type] | None = None) -> bool:
    """Whether a msgspec type holds a ``datetime`` anywhere inside."""
    seen = set() if seen is None else seen
    if isinstance(info, mi.DateTimeType):
        return True
    if isinstance(info, mi.ListType):
        return contains_datetime(info.item_type, seen)
    if isinstance(info, mi.UnionType):
        return any(contains_datetime(t, seen) for t in info.types)
    if isinstance(info, mi.StructType) and info.cls not in seen:
        seen.add(info.cls)
        return any(contains_datetime(f.type, seen) for f in info.fields)
    return False


class _DecoderTable(dict[str, TypedDecoder]):
    """``action -> TypedDecoder``, filled on first lookup of each action."""

    def __init__(self, types: Mapping[str, type[Any]]) -> None:
        super().__init__()
        self._types = types

    def __missing__(self, action: str) -> TypedDecoder:
        tp = self._types[action]
        decoder = msgspec.json.Decoder(tp, dec_hook=dec_hook)
        info = mi.type_info(tp)
        entry = TypedDecoder(decoder.decode, contains_datetime(info), needs_reference(info))
        self[action] = entry
        return entry


class ProtocolVersion:
    """One OCPP version: its actions, decoders and the rules that differ by version."""

    def __init__(
        self,
        label: str,
        actions: Mapping[str, Action],
        *,
        draft04_messages: frozenset[type[Any]] = frozenset(),
        message_types: frozenset[int] = frozenset({2, 3, 4}),
        reply_to_unknown_message_type: bool = True,
    ) -> None:
        self.label = label
        """"1.6", "2.0.1" or "2.1"."""
        self.subprotocol = "ocpp" + label
        """The WebSocket subprotocol that negotiates this version."""
        self.actions = actions
        self.draft04_messages = draft04_messages
        """Payload types whose schema is draft-04 (1.6 core): ``1.0`` is no integer there."""
        self.message_types = message_types
        """Frame type numbers the version defines."""
        self.reply_to_unknown_message_type = reply_to_unknown_message_type
        """2.0.1 answers MessageTypeNotSupported; 1.6 and 2.1 ignore such frames."""
        self.request_types = {name: action.request for name, action in actions.items()}
        self.response_types = {
            name: action.response for name, action in actions.items() if action.response is not None
        }
        self.request_decoders = _DecoderTable(self.request_types)
        self.response_decoders = _DecoderTable(self.response_types)
        self._side_tables = (self._tables_of(Sender.STATION), self._tables_of(Sender.CSMS))

    def side_tables(self, side: Sender) -> tuple[dict[type[Any], str], frozenset[str]]:
        """For one side: the requests it may send (type -> action), and the actions it receives.

        Computed once per version, so a connection costs next to nothing to open.
        """
        return self._side_tables[0 if side is Sender.STATION else 1]

    def _tables_of(self, side: Sender) -> tuple[dict[type[Any], str], frozenset[str]]:
        peer = Sender.CSMS if side is Sender.STATION else Sender.STATION
        sendable = {
            action.request: name
            for name, action in self.actions.items()
            if action.sender in (side, Sender.BOTH)
        }
        receivable = frozenset(
            name for name, action in self.actions.items() if action.sender in (peer, Sender.BOTH)
        )
        return sendable, receivable

    def __repr__(self) -> str:
        return f"<ProtocolVersion {self.label}>"
