"""Payload keys named exactly as the ``ocpp`` package names them, at the cost of a dict lookup.

``ocpp`` renames every key of every payload, both ways, with regexes
(``camel_to_snake_case`` / ``snake_to_camel_case`` in ``ocpp.charge_point``):
handlers are called with its names, quirks included (``prioritizedEMAIDs``
becomes ``prioritized_emai_ds``), and the dataclasses it builds take them. So
this module calls its functions, once per distinct key, and remembers the
answer. Keys a peer chooses (vendor keys in ``customData``, a DataTransfer
``data`` object) are renamed too, as ``ocpp`` renames them, but only a bounded
number of them is remembered.

Outgoing payloads are serialised as ``ocpp`` serialises them (dataclass field
order, ``None`` dropped at every depth, snake_case to camelCase, a ``Decimal``
written with one decimal), with one repair: where ``ocpp`` 2.1.0 writes a 2.1
name its own schema does not allow (``limitL2`` for ``limit_L2``,
``priceScheduleId`` for ``priceScheduleID``), the schema's name is written. The
repair follows the Struct of the schema at each depth, because one spelling can
be right in one type and wrong in another (``soc`` / ``soC``). It repairs only
what ``ocpp``'s conversion makes of a name of its own: the name a handler was
handed (``limit_l2``) or a field of ``ocpp``'s dataclasses (``prioritized_emaids``).
Any other spelling (``ChargePointVendor``, ``connector_ID``) is written as
``ocpp`` writes it, so validation refuses it as ``ocpp``'s does: no key of 1.6 or
2.0.1 is ever repaired, ``ocpp``'s names being right there.
"""

from __future__ import annotations

import dataclasses
import decimal
import enum
import math
import sys
from collections.abc import Callable
from typing import Any

import msgspec
from msgspec import inspect as mi
from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case

__all__ = [
    "NestedTooDeeply",
    "NonFiniteNumber",
    "Shape",
    "floats_as_decimals",
    "shape_of",
    "to_snake",
    "to_wire",
    "written",
]

MEMO_LIMIT = 4096
"""Distinct keys remembered per direction; the schemas hold fewer than 2,000, and
a peer inventing keys must not grow the memory without bound."""


class _KeyMemo:
    """``key -> ocpp's name for it``, computed by ``ocpp``'s function on first sight.

    The names are a plain dict (:attr:`known`) the walks index themselves, a miss
    sent to :meth:`miss`: indexing an exact dict is one specialised instruction, a dict
    subclass's (with ``__missing__``) the generic path, which cost the drop-in about
    2 % of its instructions per message."""

    __slots__ = ("_convert", "known")

    def __init__(self, convert: Callable[[dict[str, None]], dict[str, None]]) -> None:
        self.known: dict[str, str] = {}
        self._convert = convert

    def __getitem__(self, key: str) -> str:
        try:
            return self.known[key]
        except KeyError:
            return self.miss(key)

    def miss(self, key: str) -> str:
        """``key``'s name, remembered while fewer than :data:`MEMO_LIMIT` are."""
        name = next(iter(self._convert({key: None})))
        if len(self.known) < MEMO_LIMIT:
            self.known[key] = name
        return name


_snake_names = _KeyMemo(camel_to_snake_case)
_camel_names = _KeyMemo(snake_to_camel_case)


RECURSION_BUDGET = 32
"""Levels a walk of a payload descends by recursion before it queues what lies deeper: the
frames a walk stacks on its caller's (one a level) stay this few, however deep the payload."""


class NestedTooDeeply(RecursionError):
    """A value nested deeper than any JSON the codec reads or writes (``sys.getrecursionlimit()``
    levels, msgspec's bound): one that holds itself, most likely.

    A RecursionError, as what ``ocpp`` raises for the same value (its ``asdict`` and
    ``json.dumps`` recurse): a backend's ``except RecursionError`` around ``call()`` catches
    it on both. It is no ``OCPPError`` on either, nothing having been sent or received."""

    def __init__(self) -> None:
        super().__init__(f"nested deeper than {sys.getrecursionlimit()} levels")


_Queued = list[tuple[Any, Any, tuple[Any, ...]]]
"""What a walk left for later: ``(object or list, key or index, walk's leading arguments)``."""


def _walked(out: Any, queued: _Queued, walk: Callable[..., Any]) -> Any:
    """``out`` once every value a walk queued is walked and put in its place.

    A peer's DataTransfer ``data`` may nest as deep as the codec reads (about the
    interpreter's recursion limit, from a shallower stack than a walk runs on), so a walk
    that recursed all the way down raised RecursionError out of ``route_message`` (500
    nested lists did), which ended ``start()``. A walk recurses :data:`RECURSION_BUDGET`
    levels and queues the values below; this loop walks them, one depth band after the
    other, each from its own shallow stack: a payload of usual depth queues nothing and costs
    what the recursion did. :class:`NestedTooDeeply` past the interpreter's bound, where a
    value that holds itself would keep the loop going for good.
    """
    limit = sys.getrecursionlimit()
    depth = 0
    while queued:
        depth += RECURSION_BUDGET + 1
        if depth > limit:
            raise NestedTooDeeply
        band, queued = queued, []
        for parent, slot, args in band:
            parent[slot] = walk(*args, RECURSION_BUDGET, queued)
    return out


def _deeper(walk: Callable[..., Any], *args: Any) -> Any:
    """``walk(*args)`` for a value a walk without a queue reached out of budget: walked with
    a queue of its own (:func:`_walked`). The walks start without one, so a payload of usual
    depth makes no queue and no extra call: their first :data:`RECURSION_BUDGET` levels are
    a plain recursion, what lies deeper is walked in bands from here."""
    queued: _Queued = []
    out = walk(*args, RECURSION_BUDGET, queued)
    return _walked(out, queued, walk) if queued else out


def to_snake(data: Any, budget: int = RECURSION_BUDGET, queued: _Queued | None = None) -> Any:
    """``ocpp``'s ``camel_to_snake_case``: every key of every object renamed, values kept.

    ``budget`` levels down by recursion, what lies deeper queued in ``queued`` (see
    :func:`_walked`) or, without one, walked by :func:`_deeper`."""
    kind = type(data)
    if kind is dict:
        known = _snake_names.known
        out: dict[str, Any] = {}
        for key, value in data.items():
            try:
                name = known[key]
            except KeyError:
                name = _snake_names.miss(key)
            sub = type(value)
            if sub is dict or sub is list:
                if budget:
                    value = to_snake(value, budget - 1, queued)
                elif queued is None:
                    value = _deeper(to_snake, value)
                else:
                    queued.append((out, name, (value,)))
            out[name] = value
        return out
    if kind is list:  # a loop, not a comprehension: one would make a closure of each call
        items: list[Any] = []
        append = items.append
        for item in data:
            sub = type(item)
            if sub is dict or sub is list:
                if budget:
                    item = to_snake(item, budget - 1, queued)
                elif queued is None:
                    item = _deeper(to_snake, item)
                else:
                    queued.append((items, len(items), (item,)))
            append(item)
        return items
    return data


def floats_as_decimals(data: Any) -> Any:
    """Every float as the ``Decimal`` of its repr, as ``ocpp`` hands the payloads it
    validates with decimal arithmetic (1.6 SetChargingProfile, RemoteStartTransaction
    and the GetCompositeSchedule result) to the code that reads them.

    A recursion, bounded: it walks only those payloads, once their schema (a few levels,
    no value of any type) accepted them."""
    kind = type(data)
    if kind is float:
        return decimal.Decimal(repr(data))
    if kind is dict:
        return {key: floats_as_decimals(value) for key, value in data.items()}
    if kind is list:
        return [floats_as_decimals(item) for item in data]
    return data


# --- outgoing -------------------------------------------------------------------------------


class Shape:
    """What the schema says of one object type: its names and the types nested in it.

    :meth:`wire_name` turns a name ``ocpp`` writes into the schema's spelling
    where ``ocpp``'s conversion gets it wrong; ``nested`` maps each wire name to
    the Shape of the object type under it (through lists and optionality).
    """

    __slots__ = ("_by_folded", "_ocpp_spelling", "nested", "wire_names")

    def __init__(self, wire_names: frozenset[str]) -> None:
        self.wire_names = wire_names
        self.nested: dict[str, Shape | None] = {}
        folded: dict[str, str | None] = {}
        written: dict[str, str | None] = {}
        for name in wire_names:  # two names spelt alike are ambiguous: no repair then
            folded[_folded(name)] = None if _folded(name) in folded else name
            spelling = _camel_names[_snake_names[name]]
            if spelling != name:
                written[spelling] = None if spelling in written else name
        self._by_folded = folded
        self._ocpp_spelling = written

    def wire_name(self, name: str) -> str:
        """A dict key as the schema spells it: ``name`` itself, or the schema's name
        ``name`` is what ``ocpp`` writes for (``limitL2``: a handler handed
        ``limit_l2`` gives it back so). Any other name is kept, for validation to refuse
        as ``ocpp``'s does (``ChargePointVendor`` was repaired, and sent where ``ocpp``
        raises FormatViolationError)."""
        if name in self.wire_names:
            return name
        return self._ocpp_spelling.get(name) or name

    def field_wire_name(self, name: str, ocpp_field: bool) -> str:
        """A dataclass field's written name as the schema spells it: as :meth:`wire_name`,
        and for a field of ``ocpp``'s own dataclasses (``ocpp_field``) also a name that
        differs only in case or underscores (``prioritized_emaids``, written
        ``prioritizedEmaids``, is 2.1's ``prioritizedEMAIDs``): ``ocpp`` names the
        schema's field so, and the drop-in sends it as the schema spells it."""
        repaired = self.wire_name(name)
        if repaired == name and ocpp_field and name not in self.wire_names:
            repaired = self._by_folded.get(_folded(name)) or name
        return repaired


_shapes: dict[type[Any], Shape] = {}


def _folded(name: str) -> str:
    return name.replace("_", "").lower()


def _struct_inside(info: mi.Type) -> type[Any] | None:
    """The Struct class under optionality, lists and constraints, if there is one."""
    if isinstance(info, mi.StructType):
        return info.cls
    if isinstance(info, mi.Metadata):
        return _struct_inside(info.type)
    if isinstance(info, mi.ListType):
        return _struct_inside(info.item_type)
    if isinstance(info, mi.UnionType):
        for member in info.types:
            found = _struct_inside(member)
            if found is not None:
                return found
    return None


def shape_of(struct: type[Any] | None) -> Shape | None:
    """The Shape of a generated Struct class (built once per class), or None."""
    if struct is None:
        return None
    shape = _shapes.get(struct)
    if shape is None:
        info = mi.type_info(struct)
        assert isinstance(info, mi.StructType)
        shape = Shape(frozenset(field.encode_name for field in info.fields))
        _shapes[struct] = shape  # registered first: a type may nest itself
        for field in info.fields:
            inner = _struct_inside(field.type)
            shape.nested[field.encode_name] = shape_of(inner) if inner is not None else None
    return shape


_field_plans: dict[tuple[type[Any], Shape | None], tuple[tuple[str, str, Shape | None], ...]] = {}


def _field_plan(cls: type[Any], shape: Shape | None) -> tuple[tuple[str, str, Shape | None], ...]:
    """``(attribute, wire name, nested Shape)`` per dataclass field, in field order."""
    plan = _field_plans.get((cls, shape))
    if plan is None:
        entries = []
        ocpp_field = cls.__module__.partition(".")[0] == "ocpp"
        for field in dataclasses.fields(cls):
            wire = _camel_names[field.name]
            nested = None
            if shape is not None:
                wire = shape.field_wire_name(wire, ocpp_field)
                nested = shape.nested.get(wire)
            entries.append((field.name, wire, nested))
        plan = _field_plans[(cls, shape)] = tuple(entries)
    return plan


_PLAIN = (str, int, float, bool)


def to_wire(
    value: Any,
    shape: Shape | None,
    budget: int = RECURSION_BUDGET,
    queued: _Queued | None = None,
) -> Any:
    """A value as ``ocpp`` writes it: what ``serialize_as_dict``, ``remove_nones`` and
    ``snake_to_camel_case`` make of it, with the schema's spelling of every name.

    A handler's result may hold what a peer sent (a DataTransfer ``data`` echoed), so the
    walk is bounded as :func:`to_snake`'s is (``budget``, ``queued``; :func:`_walked`):
    :class:`NestedTooDeeply` for a value that holds itself, where the recursion raised
    RecursionError out of ``route_message``.
    """
    kind = type(value)
    if kind in _PLAIN or isinstance(value, enum.Enum):
        return value
    if hasattr(kind, "__dataclass_fields__"):
        out = {}
        for attribute, wire, nested in _field_plans.get((kind, shape)) or _field_plan(kind, shape):
            item = getattr(value, attribute)
            if item is not None:
                if budget:
                    out[wire] = to_wire(item, nested, budget - 1, queued)
                elif queued is None:
                    out[wire] = _deeper(to_wire, item, nested)
                else:
                    out[wire] = None
                    queued.append((out, wire, (item, nested)))
        return out
    if kind is dict or isinstance(value, dict):
        out = {}
        known = _camel_names.known
        for key, item in value.items():
            if item is None:
                continue
            if type(key) is not str:
                wire = key
            else:
                try:
                    wire = known[key]
                except KeyError:
                    wire = _camel_names.miss(key)
            nested = None
            if shape is not None:
                wire = shape.wire_name(wire)
                nested = shape.nested.get(wire)
            if budget:
                out[wire] = to_wire(item, nested, budget - 1, queued)
            elif queued is None:
                out[wire] = _deeper(to_wire, item, nested)
            else:
                out[wire] = None
                queued.append((out, wire, (item, nested)))
        return out
    if kind is list:  # a loop, not a comprehension: one would make a closure of each call
        items: list[Any] = []
        append = items.append
        for item in value:
            if item is not None:
                if budget:
                    append(to_wire(item, shape, budget - 1, queued))
                elif queued is None:
                    append(_deeper(to_wire, item, shape))
                else:
                    queued.append((items, len(items), (item, shape)))
                    append(None)
        return items
    if kind is decimal.Decimal:
        return float(f"{value:.1f}")  # as ocpp's JSON encoder writes a Decimal
    return value


_encode = msgspec.json.Encoder().encode


class NonFiniteNumber(ValueError):
    """A float NaN or infinity in a payload to send, at ``path`` (``$.meterValue[0]...``)."""

    def __init__(self, path: str, value: float) -> None:
        super().__init__(f"{value!r} at {path}: JSON has no such number")
        self.path = path


def written(value: Any) -> bytes:
    """:func:`to_wire`'s output as JSON; :class:`NonFiniteNumber` for a float NaN or infinity.

    msgspec writes those as ``null``, so a NaN became a ``null`` nobody wrote, sent
    wherever validation did not refuse it (``skip_schema_validation=True``, DataTransfer
    ``data``, which takes any value); ``ocpp`` writes ``NaN``, which is no JSON. Since
    :func:`to_wire` drops every ``None``, a ``null`` in the text comes from such a float
    (or a string or tuple holding it), so only then is the payload walked for it: the
    frames that carry none pay one search of the text. :class:`NestedTooDeeply` for a value
    msgspec cannot write from this depth of the stack (its RecursionError), as deep as what
    the codec reads from a shallower one.
    """
    try:
        body = _encode(value)
    except RecursionError:
        raise NestedTooDeeply from None
    if body.find(b"null") >= 0:  # not ``in``: bytes' ``in`` tries the needle as an int first
        _refuse_non_finite(value)
    return body


def _refuse_non_finite(value: Any) -> None:
    """:class:`NonFiniteNumber` for the first float NaN or infinity in ``value`` (in the
    order it is written), by a loop: ``value`` may nest as deep as :func:`to_wire`'s."""
    todo: list[tuple[Any, str]] = [(value, "$")]
    pop, extend = todo.pop, todo.extend
    while todo:
        item, path = pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                raise NonFiniteNumber(path, item)
        elif isinstance(item, dict):
            extend(reversed([(sub, f"{path}.{key}") for key, sub in item.items()]))
        elif isinstance(item, list | tuple):
            extend(reversed([(sub, f"{path}[{index}]") for index, sub in enumerate(item)]))
