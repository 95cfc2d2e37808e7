"""Valid and mutated instances of a JSON schema, for the schema conformance tests.

The conformance suite asks one question of the decoder: does it accept exactly
what the official JSON schema accepts? Answering it needs many instances near
the schema's edges, so this module generates them from the schema alone. It is
a plain JSON-schema walker that knows nothing about OCPP or about our model:
it reads ``type``, ``enum``, ``maxLength``/``minLength``, ``minimum``/
``maximum`` (both drafts' ``exclusive*``), ``multipleOf``, ``format``,
``properties``/``required``/``additionalProperties``, ``items``/``minItems``/
``maxItems`` and local ``$ref`` pointers, which is what the OCPP 1.6 (draft-04),
2.0.1 and 2.1 (draft-06) schemas use. A model generated from the same schemas
would share a misreading of them; an independent walker does not.

Two kinds of instances come out:

- *valid* instances, which the schema accepts by construction and which are
  spelt the way msgspec re-emits them (canonical date-times, floats for
  ``number``, ints for ``integer``), so a round trip through the decoder must
  reproduce them exactly;
- *mutations*: a valid base instance with one change at one path, top level or
  nested. A mutation is not assumed to be invalid: lower-casing an enum value
  that is already lower case, or adding a key to the open ``CustomDataType``,
  leaves it valid. The test judges every mutation with jsonschema and compares.

Everything is drawn from the ``random.Random`` given to :class:`SchemaCases`, and
nothing iterates over a set, so a seed reproduces the same cases on every run.
"""

from __future__ import annotations

import calendar
import math
import random
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

__all__ = [
    "ABSENT",
    "CATEGORIES",
    "DATETIME_VARIANTS",
    "JSON_TYPES",
    "Mutation",
    "SchemaCases",
    "Site",
    "format_path",
    "is_multiple",
    "replace_at",
]

Json = Any
"""A JSON value as ``json.loads`` returns it."""
Schema = Mapping[str, Any]
Path = tuple[str | int, ...]

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
"""Integers are drawn from int64: wider integers are outside the model's scope."""
EXACT_FLOAT_INT: Final = 2**53
"""Integral floats stay below this, where every integer is exactly a double."""

JSON_TYPES: Final = ("string", "integer", "number", "boolean", "object", "array")
"""The JSON types a wrong-type mutation picks from (``null`` is its own category)."""

CATEGORIES: Final = (
    "drop-required",
    "unknown-field",
    "wrong-type",
    "null",
    "string-too-long",
    "enum-invalid",
    "enum-lowercase",
    "below-minimum",
    "above-maximum",
    "non-integral-float-for-integer",
    "integral-float-for-integer",
    "int-for-number",
    "not-multiple-of",
    "array-empty",
    "array-overfill",
    "date-time",
    "format",
    "at-limit",
)
"""Every kind of mutation, in the order the generator cycles through them."""

_ASCII_CHARS: Final = string.ascii_letters + string.digits + " -_.,:;/+*#@!?'\"\\\t\n"
_NON_ASCII_CHARS: Final = "éüßñÅæøçЖжΩλ中文字€£¥😀🚗⚡\u0301\u00a0\u200b"
"""Latin-1, other BMP scripts, astral emoji (surrogate pairs in UTF-16), combining marks.

``maxLength`` counts code points, so a string of these at exactly ``maxLength``
is valid even though its UTF-8 form is several times longer.
"""


class _Absent:
    """The value at a path where an object has no such property."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()


def format_path(path: Path) -> str:
    """``$.a[0].b`` style, quoting keys that are not identifiers."""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}"
        else:
            out += f"[{part!r}]"
    return out


@dataclass(frozen=True)
class Site:
    """A place in a base instance a mutation can change.

    ``value`` is :data:`ABSENT` for an optional property the base left out, so
    that "null for an optional field" can target fields that are not there.
    """

    path: Path
    schema: Schema
    value: Json
    required: bool


@dataclass(frozen=True)
class Mutation:
    """One changed instance: which category of change, where, and what exactly."""

    category: str
    path: Path
    detail: str
    instance: Json
    variant: str = ""
    """The sub-kind where a category has named ones (date-time spellings, target types)."""

    def describe(self) -> str:
        """A one-line account for assertion messages."""
        return f"{self.category} at {format_path(self.path)}: {self.detail}"


@dataclass(frozen=True)
class _Change:
    """What a mutation maker puts at its site, and how to describe it."""

    detail: str
    value: Json
    variant: str = ""


# --- date-times -------------------------------------------------------------------------


@dataclass(frozen=True)
class _DateTime:
    """The parts of an RFC 3339 date-time, kept apart so variants can respell them."""

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    fraction: str  # "" or "." plus digits
    offset: str  # "Z" or "+HH:MM" / "-HH:MM"

    @property
    def date(self) -> str:
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"

    @property
    def time(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}:{self.second:02d}"

    def text(self) -> str:
        return f"{self.date}T{self.time}{self.fraction}{self.offset}"


def _non_leap_year(rng: random.Random) -> int:
    while True:
        year = rng.randint(1901, 2099)
        if not calendar.isleap(year):
            return year


def _numeric_offset(dt: _DateTime, rng: random.Random) -> tuple[str, int, int]:
    if dt.offset != "Z":
        return dt.offset[0], int(dt.offset[1:3]), int(dt.offset[4:6])
    return rng.choice("+-"), rng.randint(0, 23), rng.randint(1, 59)


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) - ord("0") + 0xFF10) if c.isdigit() else c for c in text)


_DatetimeVariant = Callable[[_DateTime, random.Random], str]

DATETIME_VARIANTS: Final[tuple[tuple[str, _DatetimeVariant], ...]] = (
    # Spellings RFC 3339 (and so jsonschema's rfc3339-validator) rejects.
    ("missing offset", lambda d, r: f"{d.date}T{d.time}{d.fraction}"),
    ("space instead of T", lambda d, r: f"{d.date} {d.time}{d.fraction}{d.offset}"),
    (
        "offset without colon",
        lambda d, r: "{}T{}{}{}{:02d}{:02d}".format(
            d.date, d.time, d.fraction, *_numeric_offset(d, r)
        ),
    ),
    (
        "invalid day",
        lambda d, r: (
            r.choice(
                [
                    f"{_non_leap_year(r):04d}-02-29",
                    f"{d.year:04d}-04-31",
                    f"{d.year:04d}-{d.month:02d}-00",
                    f"{d.year:04d}-{d.month:02d}-32",
                ]
            )
            + f"T{d.time}{d.offset}"
        ),
    ),
    ("month 13", lambda d, r: f"{d.year:04d}-13-{min(d.day, 28):02d}T{d.time}{d.offset}"),
    ("month 00", lambda d, r: f"{d.year:04d}-00-{min(d.day, 28):02d}T{d.time}{d.offset}"),
    ("hour 24", lambda d, r: f"{d.date}T24:00:00{d.fraction}{d.offset}"),
    ("leap second :60", lambda d, r: f"{d.date}T23:59:60{d.offset}"),
    ("minute 60", lambda d, r: f"{d.date}T{d.hour:02d}:60:00{d.offset}"),
    ("year 0000", lambda d, r: f"0000-{d.month:02d}-{min(d.day, 28):02d}T{d.time}{d.offset}"),
    ("missing seconds", lambda d, r: f"{d.date}T{d.hour:02d}:{d.minute:02d}{d.offset}"),
    ("comma fraction", lambda d, r: f"{d.date}T{d.time},{r.randint(1, 999):03d}{d.offset}"),
    ("empty fraction", lambda d, r: f"{d.date}T{d.time}.{d.offset}"),
    (
        "trailing garbage",
        lambda d, r: d.text() + r.choice(["x", " ", "Z", "0", "+01:00", "T", "\t"]),
    ),
    ("leading space", lambda d, r: " " + d.text()),
    ("date only", lambda d, r: d.date),
    ("time only", lambda d, r: f"{d.time}{d.offset}"),
    ("offset hour 24", lambda d, r: f"{d.date}T{d.time}{r.choice('+-')}24:00"),
    ("offset minute 60", lambda d, r: f"{d.date}T{d.time}+01:60"),
    ("offset with seconds", lambda d, r: f"{d.date}T{d.time}+01:00:00"),
    ("two-digit year", lambda d, r: f"{d.year % 100:02d}-{d.month:02d}-{d.day:02d}T{d.time}Z"),
    ("non-ASCII digits", lambda d, r: _fullwidth(d.text())),
    ("week date", lambda d, r: f"{d.year:04d}-W{r.randint(10, 52)}-1T{d.time}Z"),
    ("basic format", lambda d, r: d.text().replace("-", "").replace(":", "")),
    ("empty string", lambda d, r: ""),
    # Spellings jsonschema accepts (its checker upper-cases first) that are not canonical.
    ("lowercase t", lambda d, r: f"{d.date}t{d.time}{d.fraction}{d.offset}"),
    ("lowercase z", lambda d, r: f"{d.date}T{d.time}{d.fraction}z"),
    ("lowercase t and z", lambda d, r: f"{d.date}t{d.time}{d.fraction}z"),
    ("-00:00 offset", lambda d, r: f"{d.date}T{d.time}{d.fraction}-00:00"),
    ("+00:00 offset", lambda d, r: f"{d.date}T{d.time}{d.fraction}+00:00"),
    (
        "short fraction",
        lambda d, r: f"{d.date}T{d.time}.{r.randint(0, 999):0{r.randint(1, 3)}d}{d.offset}",
    ),
    (
        "long fraction",
        lambda d, r: f"{d.date}T{d.time}.{r.randint(0, 10**12 - 1):012d}{d.offset}",
    ),
    ("leap day", lambda d, r: f"{r.choice([2000, 2024, 2028, 1996])}-02-29T{d.time}{d.offset}"),
    ("first instant", lambda d, r: "0001-01-01T00:00:00" + r.choice(["Z", "+14:00"])),
    ("last instant", lambda d, r: "9999-12-31T23:59:59" + r.choice(["Z", "-12:00"])),
    (
        "last instant with a fraction that rounds up",
        lambda d, r: "9999-12-31T23:59:59.9999995" + r.choice(["Z", "+01:00"]),
    ),
)
"""Respellings of a date-time, named. The test judges each one with jsonschema.

Not here on purpose: a trailing newline (see the conformance test's docstring).
"""


# --- the generator ----------------------------------------------------------------------


class SchemaCases:
    """Valid and mutated instances of one JSON schema (a whole schema document).

    ``rng`` is the only source of randomness. Call :meth:`valid_instances` and
    :meth:`mutations` in a fixed order to get the same cases every time.
    """

    def __init__(self, schema: Schema, rng: random.Random) -> None:
        self.root = schema
        self.rng = rng
        self._enum_queues: dict[tuple[Json, ...], list[Json]] = {}
        self._any_queue: list[str] = []
        self._enum_seen: dict[tuple[Json, ...], list[Json]] = {}
        self._variant_cursor = rng.randrange(len(DATETIME_VARIANTS))
        self._lean_arrays = False

    # --- schema reading -----------------------------------------------------------------

    def resolve(self, node: Schema) -> Schema:
        """Follow local ``$ref`` pointers (``#/definitions/X``) to the schema they name."""
        seen = 0
        while "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#"):
                raise ValueError(f"only local $ref pointers are supported, got {ref!r}")
            target: Any = self.root
            for token in ref[1:].split("/")[1:]:
                target = target[token.replace("~1", "/").replace("~0", "~")]
            node = target
            seen += 1
            if seen > 64:
                raise ValueError(f"$ref cycle at {ref!r}")
        return node

    @staticmethod
    def types_of(node: Schema) -> list[str]:
        """The node's declared JSON types; ``[]`` when it has none (any value goes)."""
        declared = node.get("type")
        if declared is None:
            return ["object"] if "properties" in node else []
        return [declared] if isinstance(declared, str) else list(declared)

    def enums(self) -> dict[tuple[Json, ...], Json]:
        """Every ``enum`` reachable from the root, keyed by its values."""
        found: dict[tuple[Json, ...], Json] = {}
        visited: list[int] = []

        def walk(node: Schema) -> None:
            node = self.resolve(node)
            if id(node) in visited:
                return
            visited.append(id(node))
            if "enum" in node:
                found[tuple(node["enum"])] = node["enum"]
            for sub in node.get("properties", {}).values():
                walk(sub)
            items = node.get("items")
            for sub in items if isinstance(items, list) else [items] if items else []:
                walk(sub)
            extra = node.get("additionalProperties")
            if isinstance(extra, Mapping):
                walk(extra)

        walk(self.root)
        return found

    def unseen_enum_values(self) -> list[tuple[tuple[Json, ...], Json]]:
        """Enum values no valid instance has used yet, in schema order."""
        return [
            (key, value)
            for key in self.enums()
            for value in key
            if value not in self._enum_seen.get(key, [])
        ]

    # --- valid instances ----------------------------------------------------------------

    def valid_instances(self, count: int, limit: int) -> list[Json]:
        """At least ``count`` valid instances; more (up to ``limit``) until every enum
        value has appeared, because one value per instance would leave long enums
        (25 measurands) partly untested after ``count`` instances.

        Optional fields are included with a probability that cycles from none to
        all, so the instances range from minimal to complete.
        """
        self._enum_seen = {}
        richness = [0.0, 1.0, 0.5, 0.8, 0.3, 1.0, 0.65]
        out: list[Json] = []
        while len(out) < count or (self.unseen_enum_values() and len(out) < limit):
            out.append(self.generate(self.root, richness[len(out) % len(richness)]))
        return out

    def generate(self, node: Schema, richness: float, depth: int = 0) -> Json:
        """A valid instance of ``node``; each optional property is present with
        probability ``richness`` (falling off with depth to bound the size)."""
        if depth > 24:
            raise ValueError("schema nests too deeply (a required recursion?)")
        node = self.resolve(node)
        if "enum" in node:
            return self._next_enum(node["enum"])
        types = self.types_of(node)
        if not types:
            return self.any_json(self._next_any_kind())
        kind = self.rng.choice(types)
        if kind == "object":
            return self._object(node, richness, depth)
        if kind == "array":
            return self._array(node, richness, depth)
        if kind == "string":
            return self._string(node)
        if kind == "integer":
            return self._integer(node)
        if kind == "number":
            return self._number(node)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        raise ValueError(f"unsupported type {kind!r}")

    def _next_enum(self, values: Sequence[Json]) -> Json:
        """Enum values in a shuffled round robin, so all of them come up soon."""
        key = tuple(values)
        queue = self._enum_queues.get(key)
        if not queue:
            queue = list(values)
            self.rng.shuffle(queue)
            self._enum_queues[key] = queue
        value = queue.pop()
        seen = self._enum_seen.setdefault(key, [])
        if value not in seen:
            seen.append(value)
        return value

    def _next_any_kind(self) -> str:
        """Kinds of JSON for an untyped node, round robin so ``null`` always comes up."""
        if not self._any_queue:
            self._any_queue = ["null", "boolean", "integer", "number", "string", "array"]
            self._any_queue.append("object")
            self.rng.shuffle(self._any_queue)
        return self._any_queue.pop()

    def _object(self, node: Schema, richness: float, depth: int) -> dict[str, Json]:
        props: Mapping[str, Schema] = node.get("properties", {})
        required = list(node.get("required", []))
        keep = richness if depth < 3 else richness * 0.6
        items: list[tuple[str, Json]] = []
        for name, sub in props.items():
            if name in required or self.rng.random() < keep:
                items.append((name, self.generate(sub, richness, depth + 1)))
        for name in required:  # required names the properties do not describe
            if name not in props:
                items.append((name, self.any_json()))
        extra = node.get("additionalProperties", True)
        if extra is not False and self.rng.random() < max(keep, 0.3):
            for _ in range(self.rng.randint(1, 3)):
                name = self.unknown_name(node)
                if isinstance(extra, Mapping):
                    items.append((name, self.generate(extra, richness, depth + 1)))
                else:  # vendor data: any JSON value
                    items.append((name, self.any_json(depth=depth)))
        self.rng.shuffle(items)
        return dict(items)

    def _array(self, node: Schema, richness: float, depth: int) -> list[Json]:
        low, high = self.item_bounds(node)
        if self._lean_arrays:  # mutation bases: every nested site, few repeats
            length = self.rng.randint(low, min(high, low + (depth == 0)))
        elif high - low <= 8 and self.rng.random() < 0.25:
            length = high
        else:
            length = self.rng.randint(low, min(high, low + (3 if depth < 3 else 1)))
        return [
            self.generate(self.item_schema(node, index), richness, depth + 1)
            for index in range(length)
        ]

    @staticmethod
    def item_bounds(node: Schema) -> tuple[int, int]:
        """``(minItems, maxItems)``, the upper bound capped for unbounded arrays."""
        low = int(node.get("minItems", 0))
        return low, int(node.get("maxItems", low + 4))

    @staticmethod
    def item_schema(node: Schema, index: int) -> Schema:
        items = node.get("items", {})
        if isinstance(items, list):  # tuple validation
            if index < len(items):
                item: Schema = items[index]
                return item
            extra = node.get("additionalItems", {})
            return extra if isinstance(extra, Mapping) else {}
        return items if isinstance(items, Mapping) else {}

    def _string(self, node: Schema) -> str:
        fmt = node.get("format")
        if fmt is not None and fmt in self.FORMATS:
            return self.FORMATS[fmt](self)
        low = int(node.get("minLength", 0))
        high = node.get("maxLength")
        if high is None:
            length = self.rng.randint(low, low + 40)
        else:
            high = int(high)
            roll = self.rng.random()
            if roll < 0.2:
                length = high
            elif roll < 0.3:
                length = low
            else:
                length = self.rng.randint(low, high)
        return self.text(length, self.rng.random() < 0.4)

    def text(self, length: int, non_ascii: bool) -> str:
        """``length`` code points, mostly ASCII (with JSON escapes) or mixed non-ASCII.

        Past 200 code points a random stretch repeats: drawing every character of
        the 5500-character certificates would dominate the generation time.
        """
        pool = _ASCII_CHARS + _NON_ASCII_CHARS if non_ascii else _ASCII_CHARS
        stretch = "".join(self.rng.choices(pool, k=min(length, 200)))
        return (stretch * (length // 200 + 1))[:length] if length > 200 else stretch

    def word(self) -> str:
        return "".join(
            self.rng.choice(string.ascii_lowercase) for _ in range(self.rng.randint(3, 10))
        )

    def datetime_parts(self) -> _DateTime:
        rng = self.rng
        year = rng.randint(1990, 2040) if rng.random() < 0.85 else rng.randint(1, 9999)
        month = rng.randint(1, 12)
        day = rng.randint(1, calendar.monthrange(year, month)[1])
        fraction = "" if rng.random() < 0.5 else f".{rng.randint(1, 999_999):06d}"
        if rng.random() < 0.5:
            offset = "Z"
        else:
            hours, minutes = rng.randint(0, 23), rng.choice([0, 30, 45, rng.randint(0, 59)])
            if hours == minutes == 0:
                hours = 1
            offset = f"{rng.choice('+-')}{hours:02d}:{minutes:02d}"
        return _DateTime(
            year,
            month,
            day,
            rng.randint(0, 23),
            rng.randint(0, 59),
            rng.randint(0, 59),
            fraction,
            offset,
        )

    def datetime(self) -> str:
        """A canonical RFC 3339 date-time, spelt exactly as msgspec re-emits it:
        ``Z`` for UTC, other offsets as ``+HH:MM``, no fraction or six digits with a
        non-zero microsecond (msgspec writes a zero microsecond as no fraction)."""
        roll = self.rng.random()
        if roll < 0.03:
            return "0001-01-01T00:00:00" + self.rng.choice(["Z", "+05:00"])
        if roll < 0.06:
            return "9999-12-31T23:59:59.999999" + self.rng.choice(["Z", "-05:30"])
        if roll < 0.1:
            return f"2024-02-29T12:00:00.{self.rng.randint(1, 999_999):06d}Z"
        return self.datetime_parts().text()

    def uri(self) -> str:
        return f"https://{self.word()}.example.com/{self.word()}?q={self.rng.randint(0, 99)}"

    FORMATS: Final[dict[str, Callable[[SchemaCases], str]]] = {
        "date-time": datetime,
        "uri": uri,
    }
    """Generators of valid strings per ``format``; other formats get plain text."""

    @staticmethod
    def int_bounds(node: Schema) -> tuple[int, int]:
        """The integer range a node allows, within int64."""
        low, high = INT64_MIN, INT64_MAX
        if "minimum" in node:
            low = max(low, math.ceil(node["minimum"]))
            if node.get("exclusiveMinimum") is True and low == node["minimum"]:
                low += 1
        if "maximum" in node:
            high = min(high, math.floor(node["maximum"]))
            if node.get("exclusiveMaximum") is True and high == node["maximum"]:
                high -= 1
        exclusive_low = node.get("exclusiveMinimum")
        if isinstance(exclusive_low, int | float) and not isinstance(exclusive_low, bool):
            low = max(low, math.floor(exclusive_low) + 1)
        exclusive_high = node.get("exclusiveMaximum")
        if isinstance(exclusive_high, int | float) and not isinstance(exclusive_high, bool):
            high = min(high, math.ceil(exclusive_high) - 1)
        return low, high

    def _integer(self, node: Schema) -> int:
        low, high = self.int_bounds(node)
        rng = self.rng
        roll = rng.random()
        if roll < 0.15:
            return low if ("minimum" in node or rng.random() < 0.3) else 0
        if roll < 0.3:
            return high if ("maximum" in node or rng.random() < 0.3) else 1
        if roll < 0.85:
            return rng.randint(max(low, -1000), min(high, 100_000))
        return rng.randint(low, high)

    @staticmethod
    def number_bounds(node: Schema) -> tuple[float, float]:
        low = float(node.get("minimum", -1e12))
        high = float(node.get("maximum", 1e12))
        return low, high

    def _number(self, node: Schema) -> float:
        """A float (never an int: msgspec re-emits a ``number`` as a float) within bounds."""
        low, high = self.number_bounds(node)
        rng = self.rng
        step = node.get("multipleOf")
        for _ in range(100):
            roll = rng.random()
            if step is not None:
                count = rng.randint(math.ceil(low / step), math.floor(high / step))
                value = float(Decimal(count) * Decimal(str(step)))
            elif roll < 0.1:
                value = low if "minimum" in node else rng.choice([0.0, -0.0, 5e-324])
            elif roll < 0.2:
                value = high if "maximum" in node else rng.choice([1e300, -2.5e-300, 1e16])
            elif roll < 0.4:
                value = float(rng.randint(math.ceil(max(low, -1e6)), math.floor(min(high, 1e6))))
            elif roll < 0.7:
                value = round(rng.uniform(max(low, -1e5), min(high, 1e5)), rng.randint(0, 4))
            else:
                value = rng.uniform(max(low, -1e9), min(high, 1e9))
            on_grid = step is None or (
                is_multiple(value, step) and is_decimal_multiple(value, step)
            )
            if low <= value <= high and on_grid:
                return value  # a multiple for jsonschema's floats and for decimals alike
        raise ValueError(f"cannot draw a number for {dict(node)!r}")

    def any_json(self, kind: str | None = None, depth: int = 0) -> Json:
        """Any JSON value (vendor data, untyped fields), nested at most three deep."""
        rng = self.rng
        if kind is None:
            kinds = ["null", "boolean", "integer", "number", "string"]
            if depth < 3:
                kinds += ["array", "object"]
            kind = rng.choice(kinds)
        if kind == "null":
            return None
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "integer":
            return rng.choice([rng.randint(-100, 100), rng.randint(INT64_MIN, INT64_MAX)])
        if kind == "number":
            return rng.choice([round(rng.uniform(-1e4, 1e4), 3), rng.uniform(-1e300, 1e300)])
        if kind == "string":
            return self.text(rng.randint(0, 20), rng.random() < 0.5)
        if kind == "array":
            return [self.any_json(depth=depth + 1) for _ in range(rng.randint(0, 3))]
        return {
            self.text(rng.randint(0, 8), rng.random() < 0.3): self.any_json(depth=depth + 1)
            for _ in range(rng.randint(0, 3))
        }

    def value_of_type(self, kind: str) -> Json:
        """A value of JSON type ``kind``, varied so repeated mutations differ."""
        rng = self.rng
        if kind == "string":
            return rng.choice(
                [
                    self.text(rng.randint(0, 12), rng.random() < 0.3),
                    str(rng.randint(-5, 500)),
                    rng.choice(["true", "false", "null", "{}", "[]", "1.5"]),
                ]
            )
        if kind == "integer":
            return rng.choice([0, 1, -1, rng.randint(-(10**6), 10**6)])
        if kind == "number":
            return rng.choice([1.5, -0.25, round(rng.uniform(-1e4, 1e4), 2) + 0.5])
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "object":
            return rng.choice([{}, {self.word(): self.any_json(depth=2)}])
        if kind == "array":
            return rng.choice([[], [self.any_json(depth=2) for _ in range(rng.randint(1, 3))]])
        raise ValueError(kind)

    def unknown_name(self, node: Schema) -> str:
        """A key the object's ``properties`` do not declare, often a near miss of one
        that they do (other case, snake_case, stray space), since those are the
        spellings a lenient decoder might let through."""
        props = list(node.get("properties", {}))
        rng = self.rng
        candidates = [
            f"x{self.word()}",
            self.text(rng.randint(0, 6), True),
            f"{self.word()}Id",
        ]
        if props:
            name = rng.choice(props)
            snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
            candidates += [
                snake,
                name[:1].upper() + name[1:],
                name.lower(),
                name.upper(),
                name + " ",
                f"{name}{rng.randint(0, 9)}",
            ]
        for _ in range(20):
            name = rng.choice(candidates)
            if name not in props:
                return name
        return f"x{self.word()}-{rng.randint(0, 10**6)}"

    # --- mutations ----------------------------------------------------------------------

    def sites(self, instance: Json) -> list[Site]:
        """Every place in a valid ``instance`` a mutation can target, root first."""
        out: list[Site] = []
        self._collect(instance, self.root, (), True, out)
        return out

    def _collect(
        self, value: Json, node: Schema, path: Path, required: bool, out: list[Site]
    ) -> None:
        node = self.resolve(node)
        out.append(Site(path, node, value, required))
        if isinstance(value, dict) and "object" in self.types_of(node):
            props: Mapping[str, Schema] = node.get("properties", {})
            needed = node.get("required", [])
            extra = node.get("additionalProperties", True)
            for name, sub in props.items():
                if name in value:
                    self._collect(value[name], sub, (*path, name), name in needed, out)
                else:
                    out.append(Site((*path, name), self.resolve(sub), ABSENT, False))
            for name, item in value.items():
                if name not in props:
                    sub = extra if isinstance(extra, Mapping) else {}
                    self._collect(item, sub, (*path, name), name in needed, out)
        elif isinstance(value, list) and "array" in self.types_of(node):
            for index, item in enumerate(value):
                self._collect(item, self.item_schema(node, index), (*path, index), True, out)

    def datetime_sites(self, instance: Json) -> list[Site]:
        """The date-time strings present in ``instance``."""
        return [site for site in self.sites(instance) if self._applies_datetime(site)]

    def mutations(self, count: int, bases: int = 8) -> list[Mutation]:
        """``count`` mutations, cycling through the categories that apply.

        Each mutation changes one site of one of ``bases`` valid instances that
        have most optional fields but short arrays (the valid instances already
        cover array lengths, and judging big instances is what takes time).
        A schema too small for ``count`` different mutations (HeartbeatRequest
        has only ``customData``) gets its categories repeated with new random
        values and paths; a repeat identical to an earlier mutation is tried
        again a few times and then kept, so the count is always met.
        """
        richness = [1.0, 0.9, 0.75, 0.6, 1.0, 0.0, 0.85, 0.5]
        self._lean_arrays = True  # jsonschema's time grows with the instance
        try:
            pool = [self.generate(self.root, richness[i % len(richness)]) for i in range(bases)]
        finally:
            self._lean_arrays = False
        pool_sites = [self.sites(base) for base in pool]
        applicable: dict[str, list[tuple[int, Site]]] = {}
        for category in CATEGORIES:
            check = self._APPLIES[category]
            found = [
                (index, site)
                for index, sites in enumerate(pool_sites)
                for site in sites
                if check(self, site)
            ]
            if found:
                applicable[category] = found
        order = list(applicable)
        out: list[Mutation] = []
        seen: set[bytes] = set()
        for number in range(count):
            category = order[number % len(order)]
            for attempt in range(12):
                mutation = self._mutate(category, applicable[category], pool)
                key = category.encode() + repr(mutation.instance).encode()
                if key not in seen or attempt == 11:
                    seen.add(key)
                    out.append(mutation)
                    break
        return out

    def _mutate(
        self, category: str, candidates: list[tuple[int, Site]], pool: list[Json]
    ) -> Mutation:
        """Change one site, preferring the top two levels a third of the time (they
        would otherwise be drowned by the many nested sites of large schemas).

        Filling an array to ``maxItems`` 1024 makes jsonschema walk a thousand
        items, so such arrays get a fifth of their category's share, not more.
        """
        shallow = [c for c in candidates if len(c[1].path) <= 1]
        if shallow and self.rng.random() < 0.33:
            candidates = shallow
        if category in ("array-overfill", "at-limit"):
            cheap = [c for c in candidates if int(c[1].schema.get("maxItems", 0)) <= 64]
            if cheap and self.rng.random() < 0.8:
                candidates = cheap
        index, site = self.rng.choice(candidates)
        change = self._MAKERS[category](self, site)
        instance = replace_at(pool[index], site.path, change.value)
        return Mutation(category, site.path, change.detail, instance, change.variant)

    # Each category: does it apply to a site, and what does it put there instead.

    def _is_object(self, site: Site) -> bool:
        return isinstance(site.value, dict) and "object" in self.types_of(site.schema)

    def _is_type(self, site: Site, kind: str) -> bool:
        return site.value is not ABSENT and kind in self.types_of(site.schema)

    def _applies_drop_required(self, site: Site) -> bool:
        return self._is_object(site) and any(
            n in site.value for n in site.schema.get("required", [])
        )

    def _make_drop_required(self, site: Site) -> _Change:
        present = [n for n in site.schema.get("required", []) if n in site.value]
        name = self.rng.choice(present)
        return _Change(
            f"required {name!r} dropped", {k: v for k, v in site.value.items() if k != name}
        )

    def _applies_unknown_field(self, site: Site) -> bool:
        return self._is_object(site)

    def _make_unknown_field(self, site: Site) -> _Change:
        name = self.unknown_name(site.schema)
        value = self.any_json(depth=1)
        items = list(site.value.items())
        items.insert(self.rng.randint(0, len(items)), (name, value))
        return _Change(f"unknown key {name!r} added", dict(items))

    def _applies_wrong_type(self, site: Site) -> bool:
        return site.value is not ABSENT

    def _make_wrong_type(self, site: Site) -> _Change:
        declared = self.types_of(site.schema)
        others = [t for t in JSON_TYPES if t not in declared]
        if "number" in declared:  # an integer is a number: not a wrong type
            others = [t for t in others if t != "integer"]
        if "integer" in declared:  # floats for integers are categories of their own
            others = [t for t in others if t != "number"]
        kind = self.rng.choice(others)
        value = self.value_of_type(kind)
        declared_text = "/".join(declared) or "untyped"
        return _Change(f"{declared_text} replaced by {kind} {short(value)}", value, kind)

    def _applies_null(self, site: Site) -> bool:
        return True

    def _make_null(self, site: Site) -> _Change:
        kind = "required" if site.required else "optional"
        where = "absent " if site.value is ABSENT else ""
        declared = "/".join(self.types_of(site.schema)) or "untyped"
        return _Change(f"null for {where}{kind} {declared}", None, f"{where}{kind}")

    def _applies_string_too_long(self, site: Site) -> bool:
        return self._is_type(site, "string") and "maxLength" in site.schema

    def _make_string_too_long(self, site: Site) -> _Change:
        limit = int(site.schema["maxLength"])
        over = self.rng.choice([1, 1, self.rng.randint(2, 10), limit + 1])
        non_ascii = self.rng.random() < 0.5
        value = self.text(limit + over, non_ascii)
        kind = "mixed non-ASCII" if non_ascii else "ASCII"
        return _Change(f"{kind} string of {limit + over} code points (maxLength {limit})", value)

    def _applies_enum(self, site: Site) -> bool:
        return site.value is not ABSENT and "enum" in site.schema

    def _make_enum_invalid(self, site: Site) -> _Change:
        values: list[Json] = list(site.schema["enum"])
        value = str(site.value)
        candidates = [
            value + self.rng.choice(["X", " ", "s", "."]),
            " " + value,
            value[:-1],
            self.word().capitalize(),
            "",
            value.replace(".", "_"),
        ]
        wrong = [c for c in candidates if c not in values]
        new = self.rng.choice(wrong)
        return _Change(f"enum value {value!r} changed to {new!r}", new)

    def _applies_enum_lowercase(self, site: Site) -> bool:
        return (
            self._applies_enum(site)
            and isinstance(site.value, str)
            and site.value.lower() != site.value
        )

    def _make_enum_lowercase(self, site: Site) -> _Change:
        new = site.value.lower() if self.rng.random() < 0.8 else site.value.upper()
        return _Change(f"enum value {site.value!r} respelt {new!r}", new)

    def _applies_below_minimum(self, site: Site) -> bool:
        return self._is_numeric(site) and "minimum" in site.schema

    def _make_below_minimum(self, site: Site) -> _Change:
        limit = site.schema["minimum"]
        value = self._out_of_range(limit, -1, site)
        return _Change(f"{short(value)} below minimum {limit}", value)

    def _applies_above_maximum(self, site: Site) -> bool:
        return self._is_numeric(site) and "maximum" in site.schema

    def _make_above_maximum(self, site: Site) -> _Change:
        limit = site.schema["maximum"]
        value = self._out_of_range(limit, 1, site)
        return _Change(f"{short(value)} above maximum {limit}", value)

    def _is_numeric(self, site: Site) -> bool:
        return self._is_type(site, "integer") or self._is_type(site, "number")

    def _out_of_range(self, limit: float, sign: int, site: Site) -> Json:
        rng = self.rng
        if "integer" in self.types_of(site.schema):
            step = rng.choice([1, 1, rng.randint(2, 1000), 2**40])
            bound = math.ceil(limit) if sign < 0 else math.floor(limit)
            return max(INT64_MIN, min(INT64_MAX, bound + sign * step))
        step_f = rng.choice([1e-9, 0.5, rng.uniform(1, 1e6)])
        return float(limit) + sign * step_f

    def _applies_integer(self, site: Site) -> bool:
        return self._is_type(site, "integer") and isinstance(site.value, int)

    def _make_non_integral_float(self, site: Site) -> _Change:
        low, high = self.int_bounds(site.schema)
        # Far from zero, adding 1e-6 would round back to an integral float.
        base = min(max(site.value, low, -(10**6)), high - 1, 10**6)
        value = float(base) + self.rng.choice([0.5, 0.25, 0.999, 1e-6])
        return _Change(f"non-integral float {value!r} for integer", value)

    def _make_integral_float(self, site: Site) -> _Change:
        low, high = self.int_bounds(site.schema)
        low, high = max(low, -EXACT_FLOAT_INT), min(high, EXACT_FLOAT_INT)
        roll = self.rng.random()
        if roll < 0.25:
            value = float(low if "minimum" in site.schema else 0)
            if value == 0:
                value = self.rng.choice([0.0, -0.0])
        elif roll < 0.4 and "maximum" in site.schema:
            value = float(high)
        elif roll < 0.55 and ("minimum" in site.schema or "maximum" in site.schema):
            # an integral float out of range must stay out of range
            value = float(low - 1 if "minimum" in site.schema else high + 1)
        else:
            value = float(self.rng.randint(max(low, -(10**6)), min(high, 10**6)))
        return _Change(f"integral float {value!r} for integer", value)

    def _applies_number(self, site: Site) -> bool:
        return self._is_type(site, "number") and "integer" not in self.types_of(site.schema)

    def _make_int_for_number(self, site: Site) -> _Change:
        low, high = self.number_bounds(site.schema)
        step = site.schema.get("multipleOf")
        value = self.rng.randint(math.ceil(max(low, -(10**6))), math.floor(min(high, 10**6)))
        if step is not None and self.rng.random() < 0.7:
            value = 0
        return _Change(f"integer {value} for number", value)

    def _applies_multiple_of(self, site: Site) -> bool:
        return self._is_numeric(site) and "multipleOf" in site.schema

    def _make_not_multiple(self, site: Site) -> _Change:
        step = site.schema["multipleOf"]
        for _ in range(100):
            value = float(site.value) + step * self.rng.choice([0.5, 0.25, 1.5, 0.01])
            if not is_multiple(value, step) and not is_decimal_multiple(value, step):
                break  # off the grid for jsonschema's floats and for decimals alike
        return _Change(f"{value!r} not a multiple of {step}", value)

    def _applies_array(self, site: Site) -> bool:
        return self._is_type(site, "array") and isinstance(site.value, list)

    def _make_array_empty(self, site: Site) -> _Change:
        low, _ = self.item_bounds(site.schema)
        return _Change(f"array emptied (minItems {low})", [])

    def _make_array_overfill(self, site: Site) -> _Change:
        high = self.item_bounds(site.schema)[1]
        if "maxItems" in site.schema:
            length = high + self.rng.choice([1, 1, self.rng.randint(2, 5)])
        else:
            length = len(site.value) + self.rng.randint(1, 6)
        detail = f"array of {length} items (maxItems {site.schema.get('maxItems')})"
        return _Change(detail, self._fill(site, length))

    def _fill(self, site: Site, length: int) -> list[Json]:
        """``length`` valid items: the existing ones, then lean new ones repeated (a
        1025-item array of full objects would only slow the run down)."""
        items = list(site.value[:length])
        fresh = [
            self.generate(self.item_schema(site.schema, len(items) + i), 0.0) for i in range(3)
        ]
        index = 0
        while len(items) < length:
            items.append(fresh[index % len(fresh)])
            index += 1
        return items

    def _applies_datetime(self, site: Site) -> bool:
        return self._is_type(site, "string") and site.schema.get("format") == "date-time"

    def _make_datetime(self, site: Site) -> _Change:
        name, variant = DATETIME_VARIANTS[self._variant_cursor % len(DATETIME_VARIANTS)]
        self._variant_cursor += 1
        value = variant(self.datetime_parts(), self.rng)
        return _Change(f"date-time {name}: {value!r}", value, name)

    _BAD_FORMATS: Final[dict[str, tuple[str, ...]]] = {
        "uri": ("not a uri", "//example.com", "relative/path", "http://exa mple.com", ""),
    }
    """Strings to try for a ``format`` other than date-time (jsonschema judges them)."""

    def _applies_format(self, site: Site) -> bool:
        return self._is_type(site, "string") and site.schema.get("format") in self._BAD_FORMATS

    def _make_format(self, site: Site) -> _Change:
        fmt = site.schema["format"]
        value = self.rng.choice(self._BAD_FORMATS[fmt])
        return _Change(f"{fmt} format: {value!r}", value)

    def _applies_at_limit(self, site: Site) -> bool:
        schema = site.schema
        if self._is_type(site, "string") and "maxLength" in schema and "format" not in schema:
            return "enum" not in schema
        if self._is_numeric(site) and ("minimum" in schema or "maximum" in schema):
            return True
        return self._applies_array(site) and "maxItems" in schema

    def _make_at_limit(self, site: Site) -> _Change:
        """Valid values exactly at a limit: a boundary must not be off by one."""
        schema = site.schema
        if "maxLength" in schema:
            limit = int(schema["maxLength"])
            pool = self.rng.choice(["😀⚡", "é中", "a", _NON_ASCII_CHARS])
            value = ("".join(self.rng.choices(pool, k=min(limit, 200))) * limit)[:limit]
            return _Change(f"string of exactly maxLength {limit} code points from {pool!r}", value)
        if "maxItems" in schema:
            limit = int(schema["maxItems"])
            return _Change(f"array of exactly maxItems {limit}", self._fill(site, limit))
        integer = "integer" in self.types_of(schema)
        key = self.rng.choice([k for k in ("minimum", "maximum") if k in schema])
        number: Json = schema[key]
        number = int(number) if integer else float(number)
        return _Change(f"exactly {key} {number!r}", number)

    _APPLIES: Final[dict[str, Callable[[SchemaCases, Site], bool]]] = {
        "drop-required": _applies_drop_required,
        "unknown-field": _applies_unknown_field,
        "wrong-type": _applies_wrong_type,
        "null": _applies_null,
        "string-too-long": _applies_string_too_long,
        "enum-invalid": _applies_enum,
        "enum-lowercase": _applies_enum_lowercase,
        "below-minimum": _applies_below_minimum,
        "above-maximum": _applies_above_maximum,
        "non-integral-float-for-integer": _applies_integer,
        "integral-float-for-integer": _applies_integer,
        "int-for-number": _applies_number,
        "not-multiple-of": _applies_multiple_of,
        "array-empty": _applies_array,
        "array-overfill": _applies_array,
        "date-time": _applies_datetime,
        "format": _applies_format,
        "at-limit": _applies_at_limit,
    }
    _MAKERS: Final[dict[str, Callable[[SchemaCases, Site], _Change]]] = {
        "drop-required": _make_drop_required,
        "unknown-field": _make_unknown_field,
        "wrong-type": _make_wrong_type,
        "null": _make_null,
        "string-too-long": _make_string_too_long,
        "enum-invalid": _make_enum_invalid,
        "enum-lowercase": _make_enum_lowercase,
        "below-minimum": _make_below_minimum,
        "above-maximum": _make_above_maximum,
        "non-integral-float-for-integer": _make_non_integral_float,
        "integral-float-for-integer": _make_integral_float,
        "int-for-number": _make_int_for_number,
        "not-multiple-of": _make_not_multiple,
        "array-empty": _make_array_empty,
        "array-overfill": _make_array_overfill,
        "date-time": _make_datetime,
        "format": _make_format,
        "at-limit": _make_at_limit,
    }


def is_multiple(value: float, step: float) -> bool:
    """``multipleOf`` as jsonschema computes it (float division, then integrality)."""
    if isinstance(step, float):
        quotient = value / step
        return math.isfinite(quotient) and int(quotient) == quotient
    return value % step == 0


def is_decimal_multiple(value: float, step: float) -> bool:
    """``multipleOf`` in decimal arithmetic on the shortest spelling, as the codec checks it.

    Where it and :func:`is_multiple` disagree (21.4 for 0.1) the float artefact
    decides jsonschema's verdict; the generator keeps out of that strip.
    """
    return Decimal(repr(float(value))) % Decimal(str(step)) == 0


def replace_at(instance: Json, path: Path, value: Json) -> Json:
    """A copy of ``instance`` with ``value`` at ``path`` (or the key removed for
    :data:`ABSENT`). Only the containers along the path are copied; the rest is
    shared, which is safe because nothing here mutates an instance afterwards."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(instance, dict):
        assert isinstance(head, str)
        copy_d = dict(instance)
        if rest:
            copy_d[head] = replace_at(instance[head], rest, value)
        elif value is ABSENT:
            del copy_d[head]
        else:
            copy_d[head] = value
        return copy_d
    assert isinstance(instance, list) and isinstance(head, int)
    copy_l = list(instance)
    copy_l[head] = replace_at(instance[head], rest, value) if rest else value
    return copy_l


def short(value: Json, limit: int = 60) -> str:
    """``repr`` cut to ``limit`` characters for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
