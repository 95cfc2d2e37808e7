"""The station's transaction queue: transaction messages survive a lost CSMS and a power cut.

OCPP requires a station to keep its transaction-related CALLs while it is
offline or the CSMS does not answer, deliver them in order, and retry one the
CSMS failed to process. :class:`TransactionQueue` is the store;
:class:`~ocpp_fast.transport.client.StationClient` (``queue=``) writes to it
before sending and delivers its head, one message at a time.

What is queued (:func:`classify`):

- 2.0.1 and 2.1: ``TransactionEvent`` (Started, Updated, Ended). A
  ``MeterValues`` request is not queued there: it carries no transaction id,
  the meter values of a transaction travel inside TransactionEvent.
- 1.6: ``StartTransaction``, ``StopTransaction``, and ``MeterValues`` with a
  ``transactionId``.

Every other CALL is sent as before. Each message keeps the version it was made
for: one found on a connection of another version (a station that offers
several and got another this time) cannot be sent there, and is dropped, logged.

The store is a SQLite database (the standard library's ``sqlite3``) in a file, for a
station that must survive a restart, or Python containers for ``":memory:"``, a queue that
need not (a simulator's: nothing on disk, lost with the process). The rules below are the
queue's, written once over either store, so both behave alike. The file is opened in WAL mode with
``synchronous=FULL``: each write is one append to the log and one fsync before
:meth:`TransactionQueue.put` returns, so a message put is on disk even if the
power goes a moment later (WAL with ``NORMAL`` would survive a crash of the
process but not of the power; a rollback journal costs two fsyncs a write).
Writes happen in the event loop's thread: a row is small, transaction messages
come seconds apart, and a synchronous write keeps the order of the queue the
order of the calls with no lock.

The queue is bounded (``max_messages``). When it is full, the oldest
*update* (2.x TransactionEvent Updated, 1.6 MeterValues of a transaction) is
dropped to make room, and logged: the spec allows a station short of memory to
drop intermediate meter values, never the start or the end of a transaction
(the CSMS sees the gap in ``seqNo``). When only starts and ends are left,
:meth:`TransactionQueue.put` raises :class:`QueueFull`.

1.6 has the converse problem: the CSMS gives the transaction id in its
answer to StartTransaction, which an offline station does not have. A queued
StartTransaction gets a placeholder id, its position negated
(:attr:`QueuedMessage.transaction_id`); MeterValues and StopTransaction may
carry it, and the queue puts the real id in them once the answer came (before
they are sent, and in those put later; :meth:`TransactionQueue.csms_transaction_id` tells it
to the station's own code). Should the StartTransaction be dropped
(its retries spent), they go out with the placeholder, which the CSMS refuses.

For 2.x TransactionEvents the queue owns ``seqNo``: it numbers each
transaction's events 0, 1, 2... in the order they are put, whatever the caller
wrote there, and keeps the counter in the same store: a file queue's numbering goes on
across restarts.
"""

from __future__ import annotations

import abc
import collections
import contextlib
import dataclasses
import enum
import functools
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from ocpp_fast._model import OcppStruct, Request
from ocpp_fast._outgoing import encode_checked_payload
from ocpp_fast._protocol_version import ProtocolVersion, by_label
from ocpp_fast._ratelimit import ConnectionLog

if TYPE_CHECKING:
    from ocpp_fast.aio import AsyncConnection

__all__ = ["Kind", "QueueFull", "QueuedMessage", "TransactionQueue", "classify"]

log: logging.Logger = logging.getLogger("ocpp_fast.transport")

MEMORY = ":memory:"
"""The path of a queue kept in the process's memory (no SQLite), for a station whose messages
need not outlive it: ``ocpp-fast simulate`` gives each of its thousands of stations one."""
DEFAULT_MAX_MESSAGES = 10_000
"""Messages kept at most: a day of 15-second meter values on three connectors, and some."""


@functools.cache
def _version(label: str) -> ProtocolVersion:
    """:func:`by_label`, once per label: each queued message is sent by its label, and
    ``by_label`` imports the version's package at every call (about a microsecond)."""
    return by_label(label)


class Kind(enum.Enum):
    """Where a queued message stands in its transaction: only updates may be dropped."""

    START = "start"
    UPDATE = "update"
    END = "end"


class QueueFull(Exception):
    """The queue is full of starts and ends: nothing may be dropped to make room."""


@dataclass(frozen=True)
class QueuedMessage:
    """One stored CALL, as it will be sent."""

    position: int
    """Its place in the queue (increasing, never reused)."""
    version: str
    """The OCPP version label it was made for ("1.6", "2.0.1", "2.1")."""
    action: str
    payload: bytes
    """The checked JSON of the request."""
    attempts: int
    """How many times the CSMS failed to process it (a lost connection is no attempt)."""
    transaction: str
    """The transaction id ("" for a 1.6 StartTransaction: the CSMS has not given one yet)."""
    kind: Kind

    @property
    def transaction_id(self) -> int:
        """1.6: the transactionId to use in MeterValues and StopTransaction of this
        StartTransaction's transaction (a placeholder, < 0, until the CSMS answers)."""
        return int(self.transaction)

    def send(self, connection: AsyncConnection, timeout: float) -> Awaitable[Any]:
        """Send it on ``connection`` as the CALL of its checked :attr:`payload`, as it was put:
        the frame ``connection.call(self.request())`` would write, without checking, encoding
        and decoding the request again at each sending; awaited, the CSMS's typed response
        (raises as ``connection.call`` does; ``ValueError`` on a connection of another
        version)."""
        return connection.call_checked(self.action, self.payload, self.version, timeout)

    def request(self) -> Request[OcppStruct]:
        """The request Struct again, to hand to the connection (a transaction message's: its
        class is in :attr:`action` and :attr:`version`, so a checker knows it answered only)."""
        request: Request[OcppStruct] = (
            _version(self.version).request_decoders[self.action].decode(self.payload)
        )
        return request


_EVENT_KINDS = {"Started": Kind.START, "Ended": Kind.END}
"""The kind of a 2.x TransactionEvent by its ``eventType`` (any other: an update)."""


def classify(action: str, request: Any) -> tuple[Kind, str] | None:
    """``(kind, transaction id)`` of a transaction-related CALL; ``None`` for any other."""
    if action == "TransactionEvent":
        kind = _EVENT_KINDS.get(request.event_type, Kind.UPDATE)  # a StrEnum: its str's hash
        return kind, request.transaction_info.transaction_id
    if action == "StartTransaction":
        return Kind.START, ""
    if action == "StopTransaction":
        return Kind.END, str(request.transaction_id)
    if action == "MeterValues" and isinstance(getattr(request, "transaction_id", None), int):
        return Kind.UPDATE, str(request.transaction_id)  # 1.6 only: 2.x has no such field
    return None


class _Store(abc.ABC):
    """Where a :class:`TransactionQueue` keeps its rows: the queue's rules (numbering, placeholder
    ids, what is dropped when full) are the queue's, written once; a store only keeps what it is
    told, in position order. Every write of one queue operation happens inside
    :meth:`transaction`, after the operation's checks (the schema, :class:`QueueFull`): a store
    without transactions (:class:`_MemoryStore`) is then all-or-nothing too."""

    @abc.abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """The writes inside reach the store together, or none does (a power cut included)."""

    @abc.abstractmethod
    def append(
        self, version: str, action: str, payload: bytes, transaction: str | None, kind: Kind
    ) -> QueuedMessage:
        """Store a new message after every other, at a position increasing and never reused;
        what was stored. ``transaction`` ``None``: the placeholder id of a 1.6
        StartTransaction, its position negated."""

    @abc.abstractmethod
    def retag(self, position: int, transaction: str, payload: bytes | None = None) -> None:
        """Give the message at ``position`` another transaction id (and payload)."""

    @abc.abstractmethod
    def head(self) -> QueuedMessage | None:
        """The message of the lowest position."""

    @abc.abstractmethod
    def messages(self, transaction: str | None = None) -> list[QueuedMessage]:
        """Every message (of ``transaction``), oldest first."""

    @abc.abstractmethod
    def oldest_update(self, besides: int | None) -> QueuedMessage | None:
        """The oldest message of kind :attr:`Kind.UPDATE` but the one at ``besides``."""

    @abc.abstractmethod
    def delete(self, position: int) -> None:
        """Forget the message at ``position`` (none there: nothing happens)."""

    @abc.abstractmethod
    def count_failure(self, position: int) -> int:
        """Add one to the attempts of the message at ``position``; the new count (0: gone)."""

    @abc.abstractmethod
    def count(self) -> int:
        """The number of messages."""

    @abc.abstractmethod
    def next_seq_no(self, transaction: str) -> int:
        """The seqNo the next TransactionEvent of ``transaction`` gets (read only)."""

    @abc.abstractmethod
    def set_next_seq_no(self, transaction: str, seq_no: int | None) -> None:
        """Keep ``seq_no`` as the next of ``transaction`` (``None``: the transaction ended)."""

    @abc.abstractmethod
    def real_id(self, placeholder: int) -> int | None:
        """1.6: the CSMS's transactionId of ``placeholder``, if known."""

    @abc.abstractmethod
    def set_real_id(self, placeholder: int, real: int) -> None:
        """1.6: keep ``real``, the CSMS's id of ``placeholder``."""

    @abc.abstractmethod
    def forget_real_id(self, real: int) -> None:
        """1.6: forget the placeholder of the CSMS's id ``real`` (its transaction ended)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Let go of what the store holds open."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    version TEXT NOT NULL,
    action TEXT NOT NULL,
    payload BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    txn TEXT NOT NULL,
    kind TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS seq_nos (txn TEXT PRIMARY KEY, next INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS transaction_ids (placeholder INTEGER PRIMARY KEY, real INTEGER NOT NULL);
"""
_COLUMNS = "position, version, action, payload, attempts, txn, kind"


class _SqliteStore(_Store):
    """A SQLite file: WAL, ``synchronous=FULL``, one fsync per :meth:`transaction`, so what a
    queue operation wrote is on disk when it returns and survives a kill or a power cut."""

    def __init__(self, path: str) -> None:
        db = None
        try:
            db = sqlite3.connect(path, isolation_level=None)  # we open transactions ourselves
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            if db is not None:
                db.close()
            # sqlite names no file ("unable to open database file", "file is not a database"):
            # a station's configured path was a guess from the traceback. Same class, so an
            # ``except sqlite3.OperationalError`` still catches it.
            raise type(exc)(f"transaction queue {path!r}: {exc}") from exc
        self._db = db

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def append(
        self, version: str, action: str, payload: bytes, transaction: str | None, kind: Kind
    ) -> QueuedMessage:
        cursor = self._db.execute(
            "INSERT INTO messages (version, action, payload, txn, kind) VALUES (?, ?, ?, ?, ?)",
            (version, action, payload, "" if transaction is None else transaction, kind.value),
        )
        position = cursor.lastrowid
        assert position is not None
        if transaction is None:  # its position is known now
            transaction = str(-position)
            self.retag(position, transaction)
        return QueuedMessage(position, version, action, payload, 0, transaction, kind)

    def retag(self, position: int, transaction: str, payload: bytes | None = None) -> None:
        if payload is None:
            self._db.execute(
                "UPDATE messages SET txn = ? WHERE position = ?", (transaction, position)
            )
        else:
            self._db.execute(
                "UPDATE messages SET payload = ?, txn = ? WHERE position = ?",
                (payload, transaction, position),
            )

    def head(self) -> QueuedMessage | None:
        found = self._select("ORDER BY position LIMIT 1", ())
        return found[0] if found else None

    def messages(self, transaction: str | None = None) -> list[QueuedMessage]:
        if transaction is None:
            return self._select("ORDER BY position", ())
        return self._select("WHERE txn = ? ORDER BY position", (transaction,))

    def oldest_update(self, besides: int | None) -> QueuedMessage | None:
        found = self._select(
            "WHERE kind = ? AND position != ? ORDER BY position LIMIT 1",
            (Kind.UPDATE.value, -1 if besides is None else besides),
        )
        return found[0] if found else None

    def _select(self, where: str, parameters: tuple[Any, ...]) -> list[QueuedMessage]:
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM messages {where}", parameters).fetchall()
        return [
            QueuedMessage(position, version, action, payload, attempts, transaction, Kind(kind))
            for position, version, action, payload, attempts, transaction, kind in rows
        ]

    def delete(self, position: int) -> None:
        self._db.execute("DELETE FROM messages WHERE position = ?", (position,))

    def count_failure(self, position: int) -> int:
        self._db.execute(
            "UPDATE messages SET attempts = attempts + 1 WHERE position = ?", (position,)
        )
        row = self._db.execute(
            "SELECT attempts FROM messages WHERE position = ?", (position,)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def count(self) -> int:
        count: int = self._db.execute("SELECT count(*) FROM messages").fetchone()[0]
        return count

    def next_seq_no(self, transaction: str) -> int:
        row = self._db.execute("SELECT next FROM seq_nos WHERE txn = ?", (transaction,)).fetchone()
        return 0 if row is None else int(row[0])

    def set_next_seq_no(self, transaction: str, seq_no: int | None) -> None:
        if seq_no is None:
            self._db.execute("DELETE FROM seq_nos WHERE txn = ?", (transaction,))
        else:
            self._db.execute(
                "INSERT OR REPLACE INTO seq_nos (txn, next) VALUES (?, ?)", (transaction, seq_no)
            )

    def real_id(self, placeholder: int) -> int | None:
        row = self._db.execute(
            "SELECT real FROM transaction_ids WHERE placeholder = ?", (placeholder,)
        ).fetchone()
        return None if row is None else int(row[0])

    def set_real_id(self, placeholder: int, real: int) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO transaction_ids (placeholder, real) VALUES (?, ?)",
            (placeholder, real),
        )

    def forget_real_id(self, real: int) -> None:
        self._db.execute("DELETE FROM transaction_ids WHERE real = ?", (real,))

    def close(self) -> None:
        self._db.close()


_NO_TRANSACTION: contextlib.nullcontext[None] = contextlib.nullcontext()
"""What a :class:`_MemoryStore`'s transaction is: nothing (one, as it holds no state)."""


class _MemoryStore(_Store):
    """Python containers, for a queue that need not outlive its process (:data:`MEMORY`): the
    SQLite store's rows without its statements, which cost ``ocpp-fast simulate`` about 110 µs
    of CPU per transaction message and an empty queue about 31 KB (thousands of stations each
    hold one). It loses everything when the process ends, as SQLite's ``":memory:"`` did."""

    def __init__(self) -> None:
        self._messages: collections.OrderedDict[int, QueuedMessage] = collections.OrderedDict()
        """By position; appended in increasing order, so its order is the queue's (an
        OrderedDict: its first item is found at once however many were removed before it)."""
        self._last = 0
        self._seq_nos: dict[str, int] = {}
        self._real_ids: dict[int, int] = {}

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        return _NO_TRANSACTION  # the queue writes only after its checks passed

    def append(
        self, version: str, action: str, payload: bytes, transaction: str | None, kind: Kind
    ) -> QueuedMessage:
        self._last += 1
        position = self._last
        message = QueuedMessage(
            position,
            version,
            action,
            payload,
            0,
            str(-position) if transaction is None else transaction,
            kind,
        )
        self._messages[position] = message
        return message

    def retag(self, position: int, transaction: str, payload: bytes | None = None) -> None:
        message = self._messages[position]
        self._messages[position] = dataclasses.replace(
            message,
            transaction=transaction,
            payload=message.payload if payload is None else payload,
        )

    def head(self) -> QueuedMessage | None:
        return next(iter(self._messages.values()), None)

    def messages(self, transaction: str | None = None) -> list[QueuedMessage]:
        return [
            message
            for message in self._messages.values()
            if transaction is None or message.transaction == transaction
        ]

    def oldest_update(self, besides: int | None) -> QueuedMessage | None:
        return next(
            (
                message
                for message in self._messages.values()
                if message.kind is Kind.UPDATE and message.position != besides
            ),
            None,
        )

    def delete(self, position: int) -> None:
        self._messages.pop(position, None)

    def count_failure(self, position: int) -> int:
        message = self._messages.get(position)
        if message is None:
            return 0
        attempts = message.attempts + 1
        self._messages[position] = dataclasses.replace(message, attempts=attempts)
        return attempts

    def count(self) -> int:
        return len(self._messages)

    def next_seq_no(self, transaction: str) -> int:
        return self._seq_nos.get(transaction, 0)

    def set_next_seq_no(self, transaction: str, seq_no: int | None) -> None:
        if seq_no is None:
            self._seq_nos.pop(transaction, None)
        else:
            self._seq_nos[transaction] = seq_no

    def real_id(self, placeholder: int) -> int | None:
        return self._real_ids.get(placeholder)

    def set_real_id(self, placeholder: int, real: int) -> None:
        self._real_ids[placeholder] = real

    def forget_real_id(self, real: int) -> None:
        for placeholder, its_real in list(self._real_ids.items()):
            if its_real == real:
                del self._real_ids[placeholder]

    def close(self) -> None:
        """Nothing held open; what it holds stays readable until the queue is dropped (the
        simulator counts what a station's queue still holds once its client closed)."""


_BOUND_16 = frozenset({"MeterValues", "StopTransaction"})
"""1.6 actions that carry the transactionId the CSMS gave (or its placeholder, < 0)."""


class TransactionQueue:
    """Transaction-related CALLs waiting for their CALLRESULT, oldest first.

    ``path`` is the SQLite file (created if missing), or ``":memory:"`` (:data:`MEMORY`): kept
    in the process's memory, no SQLite, lost when the process ends. The two behave alike
    (numbering, order, retries, the bound: the rules below are written once, over either store).
    A position is removed only by :meth:`remove`: the client does that once
    the CSMS answered, or gave up retrying.
    """

    def __init__(self, path: str = MEMORY, *, max_messages: int = DEFAULT_MAX_MESSAGES) -> None:
        if max_messages < 2:
            raise ValueError("max_messages must leave room for a start and an end")
        self.path = path
        self.max_messages = max_messages
        self.durable: bool = path != MEMORY
        """Whether what is put outlives the process: a file does, :data:`MEMORY` does not."""
        self._store: _Store = _SqliteStore(path) if self.durable else _MemoryStore()
        self.sending: int | None = None
        """The position on the wire now: never dropped to make room."""
        self.on_size: list[Callable[[int], None]] = []
        """Told the number of queued messages after each change (a metrics gauge...)."""
        self.identity = ""
        """The station whose queue this is, for its log lines (its client sets it)."""

    def put(self, version: ProtocolVersion, action: str, request: Any) -> QueuedMessage:
        """Check ``request``, number it (2.x ``seqNo``), store it durably; return what was stored.

        Raises the request's OcppError when it breaks the schema (nothing is
        stored), ``ValueError`` for a CALL that is not transaction-related, and
        :class:`QueueFull` (nothing is stored either, and no seqNo taken).
        """
        found = classify(action, request)
        if found is None:
            raise ValueError(f"{action} is not a transaction-related message")
        return self._put(version, action, found, request)

    def _put(
        self, version: ProtocolVersion, action: str, found: tuple[Kind, str], request: Any
    ) -> QueuedMessage:
        """:meth:`put` of a ``request`` whose :func:`classify` is ``found`` (the client's sender
        classified it already, to know it is queued: not done twice per message)."""
        store = self._store
        with store.transaction():
            if action in _BOUND_16 and request.transaction_id < 0:
                request = self._known_id(request)
                known = classify(action, request)
                assert known is not None
                found = known
            kind, transaction = found
            seq_no = None
            if action == "TransactionEvent":
                seq_no = store.next_seq_no(transaction)
                request = msgspec.structs.replace(request, seq_no=seq_no)
            payload = encode_checked_payload(request, action, version, response=False)
            self._make_room()  # the last check: the writes follow
            if seq_no is not None:
                store.set_next_seq_no(transaction, None if kind is Kind.END else seq_no + 1)
            placeholder = action == "StartTransaction"  # until the CSMS gives the real id
            message = store.append(
                version.label, action, payload, None if placeholder else transaction, kind
            )
        self._sized()
        return message

    def _known_id(self, request: Any) -> Any:
        """1.6: ``request`` with its placeholder transactionId replaced, if the real id is known."""
        real = self._store.real_id(request.transaction_id)
        return request if real is None else msgspec.structs.replace(request, transaction_id=real)

    def csms_transaction_id(self, transaction_id: int) -> int | None:
        """1.6: the CSMS's transactionId for ``transaction_id``, a placeholder (< 0) the
        queue gave a StartTransaction put while the answer was not in hand; ``None`` while
        that StartTransaction is unanswered (and once the transaction's StopTransaction was
        answered: the queue forgets the pair then). An id >= 0 is the CSMS's already, and is
        returned as it is.

        How firmware that kept only the placeholder (through a restart, say) learns the id the
        CSMS knows the transaction by, to match a RemoteStopTransaction or a
        GetCompositeSchedule against its own transaction, without awaiting the ``Queued`` of the
        start (gone with the process that put it). Read from the same store the queue replaces
        the placeholders from, so both agree."""
        if transaction_id >= 0:
            return transaction_id
        return self._store.real_id(transaction_id)

    def acknowledged(self, message: QueuedMessage, response: Any) -> None:
        """The CSMS answered ``message``: forget it.

        1.6: the answer to a StartTransaction carries the transaction id; the
        messages queued with its placeholder get the real one, in the same
        write (a power cut cannot leave them orphaned). A StopTransaction's
        answer ends the transaction's placeholder.
        """
        store = self._store
        with store.transaction():
            if message.action == "StartTransaction":
                placeholder, real = int(message.transaction), response.transaction_id
                bound = [  # encoded (checked) before the first write
                    (bound.position, self._with_id(bound, real))
                    for bound in store.messages(str(placeholder))
                    if bound.position != message.position  # the start itself
                ]
                store.set_real_id(placeholder, real)
                for position, payload in bound:
                    store.retag(position, str(real), payload)
            elif message.action == "StopTransaction":
                store.forget_real_id(int(message.transaction))
            self.remove(message.position)

    @staticmethod
    def _with_id(message: QueuedMessage, real: int) -> bytes:
        """1.6: the payload of ``message`` with the CSMS's transactionId ``real`` in it."""
        request = msgspec.structs.replace(message.request(), transaction_id=real)
        return encode_checked_payload(
            request, message.action, _version(message.version), response=False
        )

    def _make_room(self) -> None:
        size = self._store.count()
        if size < self.max_messages:
            return
        dropped = self._store.oldest_update(self.sending)
        if dropped is None:
            raise QueueFull(f"{size} starts and ends queued: none may be dropped")
        self._store.delete(dropped.position)
        ConnectionLog(log, self.identity).warning(
            "queue full: dropped %s %d of transaction %r",
            dropped.action,
            dropped.position,
            dropped.transaction,
        )

    def head(self) -> QueuedMessage | None:
        """The oldest message, the next to send."""
        return self._store.head()

    def messages(self) -> list[QueuedMessage]:
        """Every queued message, oldest first (to inspect; sending takes :meth:`head`)."""
        return self._store.messages()

    def failed(self, position: int) -> int:
        """The CSMS failed to process the message at ``position``: count it; return the count."""
        return self._store.count_failure(position)

    def remove(self, position: int) -> None:
        """Forget the message at ``position`` (answered, or given up)."""
        self._store.delete(position)
        self._sized()

    def _sized(self) -> None:
        if self.on_size:
            size = self._store.count()
            for watcher in self.on_size:
                watcher(size)

    def __len__(self) -> int:
        return self._store.count()

    def close(self) -> None:
        """Close the store (what a file stored stays stored; a memory queue's goes with the
        queue object)."""
        self._store.close()
