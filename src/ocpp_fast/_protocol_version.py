"""What the codec and the connection need to know about one OCPP version.

Each version package (``ocpp_fast.v201`` ...) builds one :class:`ProtocolVersion`
from its generated ``actions`` table. Typed msgspec decoders are compiled on
first use of an action, so importing a version stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import msgspec
from msgspec import inspect as mi

from ocpp_fast._actions import Action, Sender
from ocpp_fast._model import OcppStruct, dec_hook

__all__ = [
    "LABELS",
    "NotVouched",
    "ProtocolVersion",
    "TypedDecoder",
    "by_label",
    "contains_datetime",
    "needs_reference",
    "with_typed_check",
]

LABELS = {"1.6": "ocpp_fast.v16", "2.0.1": "ocpp_fast.v201", "2.1": "ocpp_fast.v21"}
"""Each OCPP version ocpp_fast speaks, and the package holding its model."""

_CALLRESULTERROR = 5  # frames.CALLRESULTERROR (this module sits below frames)


class TypedDecoder(NamedTuple):
    """The compiled decoder of one payload type, and what its result still needs.

    ``decode`` is msgspec's typed decode; for a type with constraints msgspec cannot check
    (1.6's ``multipleOf`` and ``format: uri``) it also checks those on the values decoded,
    and raises :class:`NotVouched` where it cannot vouch for them: so the fast paths, which
    leave to the reference path whatever the decode refuses, take such a type too.
    ``has_datetime``: the fast paths must search the payload for date-time
    spellings msgspec accepts beyond RFC 3339 (a type without date-times is
    spared the scan).
    """

    decode: Callable[[bytes], Any]
    has_datetime: bool


class NotVouched(msgspec.ValidationError):
    """A typed decode's value breaks a constraint only the reference path checks, or may
    (:func:`ocpp_fast._reference.typed_check`): the reference path judges the payload, and
    its error is the one to give. A ``ValidationError``, so every fast path that falls back
    on a refused decode falls back on this one too."""


def _anywhere(info: mi.Type, found: Callable[[mi.Type], bool], seen: set[type]) -> bool:
    """Whether ``found`` holds for ``info`` or any type nested in it."""
    if found(info):
        return True
    if isinstance(info, mi.Metadata):
        return _anywhere(info.type, found, seen)
    if isinstance(info, mi.ListType):
        return _anywhere(info.item_type, found, seen)
    if isinstance(info, mi.UnionType):
        return any(_anywhere(t, found, seen) for t in info.types)
    if isinstance(info, mi.StructType) and info.cls not in seen:
        seen.add(info.cls)
        return any(_anywhere(f.type, found, seen) for f in info.fields)
    return False


def needs_reference(info: mi.Type) -> bool:
    """Whether a msgspec type carries a constraint msgspec does not check (what the
    generator put in ``Meta(extra=...)``: multipleOf, format uri): its typed decode then
    checks them too."""
    return _anywhere(info, lambda t: isinstance(t, mi.Metadata) and bool(t.extra), set())


def contains_datetime(info: mi.Type) -> bool:
    """Whether a msgspec type holds a ``datetime`` anywhere inside."""
    return _anywhere(info, lambda t: isinstance(t, mi.DateTimeType), set())


class _DecoderTable(dict[str, TypedDecoder]):
    """``action -> TypedDecoder``, filled on first lookup of each action."""

    def __init__(self, types: Mapping[str, type[Any]]) -> None:
        super().__init__()
        self._types = types

    def __missing__(self, action: str) -> TypedDecoder:
        tp = self._types[action]
        decode: Callable[[bytes], Any] = msgspec.json.Decoder(tp, dec_hook=dec_hook).decode
        info = mi.type_info(tp)
        if needs_reference(info):
            decode = with_typed_check(decode, tp)
        entry = TypedDecoder(decode, contains_datetime(info))
        self[action] = entry
        return entry


def with_typed_check(
    decode: Callable[[bytes], Any], tp: type[Any], item: int | None = None
) -> Callable[[bytes], Any]:
    """``decode`` followed by the check of the constraints of ``tp`` msgspec cannot check,
    on what it decoded (or, with ``item``, on that element of it: a whole ``[3, id,
    payload]`` frame's payload), raising :class:`NotVouched` where it cannot vouch."""
    from ocpp_fast._reference import typed_check  # it imports this module

    vouches = typed_check(tp)

    def checked(data: bytes) -> Any:
        obj = decode(data)
        if not vouches(obj if item is None else obj[item]):
            raise NotVouched(f"a value of {tp.__name__} is for the reference path to judge")
        return obj

    return checked


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
        self.subprotocol: str = "ocpp" + label
        """The WebSocket subprotocol that negotiates this version."""
        self.actions = actions
        self.draft04_messages = draft04_messages
        """Payload types whose schema is draft-04 (1.6 core): ``1.0`` is no integer there."""
        self.message_types = message_types
        """Frame type numbers the version defines."""
        self.reply_to_unknown_message_type = reply_to_unknown_message_type
        """2.0.1 answers MessageTypeNotSupported; 1.6 and 2.1 ignore such frames."""
        # The rules where versions differ live here, not as label checks around the code.
        self.legacy_spellings: bool = label == "1.6"
        """1.6 writes FormationViolation and OccurenceConstraintViolation (sic), and
        answers a CALL whose id is still in hand with ProtocolError (2.x: RpcFrameworkError)."""
        self.answers_bad_results: bool = _CALLRESULTERROR in message_types
        """2.1 answers an invalid CALLRESULT with a CALLRESULTERROR; earlier versions never do."""
        self.request_types: dict[str, type[OcppStruct]] = {
            name: action.request for name, action in actions.items()
        }
        self.response_types: dict[str, type[OcppStruct]] = {
            name: action.response for name, action in actions.items() if action.response is not None
        }
        self.send_only: frozenset[str] = frozenset(self.request_types.keys() - self.response_types)
        """Actions without a response (2.1's NotifyPeriodicEventStream), which OCPP-J sends as a
        SEND only: a CALL of one is refused NotSupported (:meth:`send_only_refusal`)."""
        self.request_decoders: _DecoderTable = _DecoderTable(self.request_types)
        self.response_decoders: _DecoderTable = _DecoderTable(self.response_types)
        self._side_tables = (self._tables_of(Sender.STATION), self._tables_of(Sender.CSMS))

    @staticmethod
    def send_only_refusal(action: str) -> str:
        """The description of the NotSupported answering a CALL of a :attr:`send_only` action:
        the station's developer reads it, so it says how the action travels."""
        return f"{action} is sent as a SEND ([6, ...]) only, never as a CALL: it has no response"

    def code_of(self, error: Any) -> str:
        """The wire spelling of an :class:`~ocpp_fast.errors.OcppError`'s code in this version."""
        code: str = error.code_16 if self.legacy_spellings else error.code
        return code

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

    @property
    def messages_module(self) -> str:
        """The module its requests are built from (``ocpp_fast.v16.messages``): what an error
        about a request of another version tells to use, the classes of every version sharing
        their names."""
        return f"{LABELS[self.label]}.messages"

    def __repr__(self) -> str:
        return f"<ProtocolVersion {self.label}>"

    def __str__(self) -> str:
        """The label (``2.0.1``), as operators write the version in logs and dashboards."""
        return self.label


def by_label(label: str) -> ProtocolVersion:
    """The :class:`ProtocolVersion` of "1.6", "2.0.1" or "2.1" (its package loaded on demand)."""
    package = LABELS.get(label)
    if package is None:
        raise ValueError(f"ocpp_fast speaks OCPP {', '.join(LABELS)}, not {label!r}")
    version: ProtocolVersion = importlib.import_module(package).VERSION
    return version
