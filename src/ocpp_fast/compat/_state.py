"""What every part of the drop-in ChargePoint reads: its own per-connection state, the
version ``_ocpp_version`` names, the JSON encoder and decoder, and the small tests of a frame's
parts the reading, routing, handling and calling sides share.

:class:`State` is the base of the parts (:mod:`._handling`, :mod:`._routing`, :mod:`._calling`,
then :class:`~ocpp_fast.compat._charge_point.ChargePoint`): one class at run time, split by
side so each module reads alone; the state's attributes are typed here, once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from typing import Any, ClassVar

import msgspec
import ocpp.charge_point

from ocpp_fast._log_text import named_calls
from ocpp_fast._protocol_version import ProtocolVersion, by_label
from ocpp_fast._reference import MESSAGE_ID_MAX_LENGTH
from ocpp_fast.compat._reading import Reading, wait_handlers

__all__ = ["LOGGER", "State"]

LOGGER = ocpp.charge_point.LOGGER
"""``ocpp``'s default logger (named ``ocpp``): logs go where they went before."""

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode
_DECIMAL_PAYLOADS = frozenset(
    {("1.6", 2, "SetChargingProfile"), ("1.6", 2, "RemoteStartTransaction")}
    | {("1.6", 3, "GetCompositeSchedule")}
)
"""Payloads whose floats ``ocpp`` hands over as ``Decimal`` once it validated them
(its ``multipleOf: 0.1`` check parses them so); a handler may rely on it."""


def _usable_id(unique_id: Any) -> bool:
    """A string id the spec allows, or an integer one as ``ocpp`` tolerates (echoed as sent)."""
    kind = type(unique_id)
    return (kind is str and len(unique_id) <= MESSAGE_ID_MAX_LENGTH) or kind is int


def _competing_recv(error: BaseException) -> bool:
    """A connection refusing a second concurrent ``recv()``: ``websockets`` raises
    RuntimeError (its ConcurrencyError, a subclass, since version 14) naming ``recv``."""
    return isinstance(error, RuntimeError) and "recv" in str(error)


_VERSIONS: dict[str, ProtocolVersion] = {}
"""The ProtocolVersion of each ``_ocpp_version`` label seen: its tables are built once."""
_cached_version = _VERSIONS.get
"""``_VERSIONS.get``, bound once, for the other modules of the drop-in: there a call of the
imported name's method (``_VERSIONS.get(label)``) is compiled as an attribute read, not a
method call (CPython takes an imported name for a module), which binds ``dict.get`` anew on
every message: some 100 instructions per CALL (the bench's f) the class's split had added."""


def _version_of(label: str) -> ProtocolVersion:
    version = _VERSIONS.get(label)
    if version is None:
        version = _VERSIONS[label] = by_label(label)
    return version


class State(ocpp.charge_point.ChargePoint):  # type: ignore[misc]
    """``ocpp``'s ChargePoint with the drop-in's own state (``_fast_...``) and version."""

    handler_grace: ClassVar[float] = 10.0
    """Seconds an ending ``start()`` waits for its handlers to end: those it cancels when
    cancelled, those still running when the connection failed (see
    :meth:`_fast_end_handlers`); and for a ``route_message`` override that caught its cancel
    (see :meth:`~ocpp_fast.compat._reading.Reading._outlive`)."""

    def _fast_init_state(self) -> None:
        """Make the drop-in's own per-connection state (``_fast_...``), by :meth:`__new__`
        and ``__init__``."""
        self._fast_details_missing_logged = False
        self._fast_waiting: dict[Any, asyncio.Future[Any]] = {}
        self._fast_reading: set[Any] = set()  # ids our _get_specific_response awaits
        self._fast_unknown_ids = 0
        self._fast_hooks: set[asyncio.Task[Any]] = set()  # @after coroutines running
        self._fast_run: Reading | None = None  # the latest start() while it reads
        # CALLs a start() read and did not route, for the next start() on that connection
        self._fast_unread: tuple[Any, list[str | bytes]] | None = None
        # the run whose route_read steps through a frame start() took for no CALL, and the
        # runs awaiting one's routing (a reconnect's old run may route one meanwhile)
        self._fast_turn: Reading | None = None
        self._fast_turns: list[Reading] = []

    async def _fast_end_handlers(
        self,
        tasks: Collection[asyncio.Future[Any]],
        named: Callable[[list[asyncio.Future[Any]]], list[tuple[str, str]]],
        cancel: bool = True,
    ) -> None:
        """Wait for the handlers of a ``start()`` that ends, at most ``handler_grace`` seconds,
        cancelling them first if ``cancel`` (``start()`` cancelled; not when the connection
        failed: they end, their answers sent or failed, as ``ocpp``'s would): ``start()`` then
        raises whatever a handler does (one that awaits on is left running, logged), so a
        backend cancelling it (the server closing the connection) or awaiting its end is never
        kept waiting. Cancelled meanwhile, it cancels them and raises at once.

        The WARNING names the CALLs left running (``named``: their action and message id, the
        first :data:`~ocpp_fast._log_text.NAMED_CALLS`, the others counted), as the servers'
        lines do: a count alone told an operator nothing to look up."""
        left = await wait_handlers(tasks, self.handler_grace, cancel)
        if left:
            self.logger.warning(
                "%s: %d handler(s) still running %.3g s after %s: %s; start() stops anyway, "
                "leaving them running; %s",
                self.id,
                len(left),
                self.handler_grace,
                *(
                    ("start() was cancelled (they caught CancelledError)",
                     named_calls(named(left), len(left)),
                     "let CancelledError leave the handler (and route_message)")
                    if cancel
                    else ("the connection failed", named_calls(named(left), len(left)),
                          "bound what the handler awaits")
                ),
            )  # fmt: skip

    @property
    def _fast_version(self) -> ProtocolVersion:
        """The version ``_ocpp_version`` names *now*, read where ``ocpp`` reads it.

        Backends built on the generic class set ``_ocpp_version`` after
        ``super().__init__()`` (from the negotiated subprotocol), and may change it
        between messages; the version's tables are cached per label, so reading it
        costs a dict lookup (the per-message path inlines it as
        ``_cached_version(self._ocpp_version) or self._fast_version``, saving the call).
        Unset, it raises the AttributeError ``ocpp`` raises.
        """
        return _version_of(self._ocpp_version)

    @property
    def _fast_version_if_set(self) -> ProtocolVersion | None:
        """The version, or None while ``_ocpp_version`` is unset: for the paths ``ocpp`` walks
        without reading it (a route of ``skip_schema_validation=True``, a ``call()`` with it,
        a frame it cannot parse), which a generic class without a version still serves."""
        try:
            label = self._ocpp_version
        except AttributeError:
            return None
        return _version_of(label)
