"""How a backend sets its ChargePoint up, run on ``ocpp`` 2.1.0 and on the drop-in.

- The generic class with no ``_ocpp_version`` set: what fails, and when, is ``ocpp``'s:
  ``call()`` makes the message id, then reads the version (AttributeError naming
  ``_ocpp_version``), a dict given for the dataclass is ``ocpp``'s TypeError before that;
  the drop-in read the version first (the id generator never called)
  [the_generic_class_without_a_version_fails_where_ocpp_fails]. A missing attribute is
  named as Python names it, the drop-in making its own state in ``__new__`` for a backend
  that calls no ``super().__init__()``
  [a_missing_attribute_is_named_as_python_names_it]; one a mixin after the ChargePoint
  in the bases answers from its ``__getattr__`` still goes there, and a mixin's own
  ``__new__`` taking the constructor's arguments still gets them
  [a_mixins_getattr_after_the_charge_point_still_answers, a_mixins_new_gets_the_arguments].
- A backend whose ``_get_specific_response`` reads ``self._response_queue`` as ``ocpp``'s
  does, calling no ``super()``: on a queue of its own, or on the drop-in's, the answer
  reaches it (the drop-in filled neither, and the call waited out its timeout)
  [an_override_reading_the_queue_gets_the_answer].
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import ocpp.charge_point
import ocpp.v201
import pytest
from compat_pair import Sink, ocpp_validating_inline
from ocpp.routing import create_route_map
from ocpp.v201 import call as call201

from ocpp_fast.compat import _charge_point, v201

GENERIC = [ocpp.charge_point.ChargePoint, _charge_point.ChargePoint]


@pytest.fixture(autouse=True)
def _inline_validation() -> Iterator[None]:
    with ocpp_validating_inline():
        yield


def _bare(base: type[Any]) -> type[Any]:
    """A backend whose ``__init__`` sets ``ocpp``'s attributes itself."""

    class Bare(base):  # type: ignore[misc]
        def __init__(self, id: str, connection: Any) -> None:  # no super().__init__()
            self.id = id
            self._connection = connection
            self._response_timeout = 0.2
            self.route_map = create_route_map(self)
            self._call_lock = asyncio.Lock()
            self._response_queue: asyncio.Queue[Any] = asyncio.Queue()
            self._unique_id_generator = uuid.uuid4
            self.logger = logging.getLogger("ocpp")

    return Bare


async def _attempts(charge_point: Any) -> list[Any]:
    made: list[str] = []

    def make_id() -> str:
        made.append("id")
        return "u1"

    charge_point._unique_id_generator = make_id
    outcomes: list[Any] = []
    for payload in ({"type": "Immediate"}, call201.Heartbeat()):
        try:
            await charge_point.call(payload)
        except Exception as error:
            outcomes.append((type(error).__name__, str(error), list(made)))
    try:
        await charge_point.route_message('[2,"m1","Heartbeat",{}]')
    except Exception as error:
        outcomes.append((type(error).__name__, str(error)))
    outcomes.append(charge_point._connection.sent)
    return outcomes


def test_the_generic_class_without_a_version_fails_where_ocpp_fails() -> None:
    theirs, ours = (
        asyncio.run(_attempts(_bare(base)("CP", Sink())))
        for base in GENERIC  # the generic class, ocpp's and ours
    )
    assert ours == theirs
    named = "'Bare' object has no attribute '_ocpp_version'"
    assert ours == [
        ("TypeError", "asdict() should be called on dataclass instances", []),
        ("AttributeError", named, ["id"]),
        ("AttributeError", named),
        [],
    ]


def test_a_missing_attribute_is_named_as_python_names_it() -> None:
    for base in GENERIC:
        charge_point = _bare(base)("CP", Sink())
        with pytest.raises(AttributeError, match="'Bare' object has no attribute 'nothing'"):
            charge_point.nothing  # noqa: B018
        assert not hasattr(charge_point, "_fast_version")  # a property: _ocpp_version unset
    charge_point = _bare(_charge_point.ChargePoint)("CP", Sink())
    with pytest.raises(AttributeError, match="'_ocpp_version'"):
        charge_point._fast_version  # noqa: B018
    assert charge_point._fast_waiting == {}  # the drop-in's own state, made by __new__


def _reading_the_queue(base: type[Any], own: bool) -> type[Any]:
    """``ocpp``'s ``_get_specific_response`` written anew (keeping each id it drops), on a
    queue of the backend's own if ``own``, else the one ``__init__`` made."""

    class Csms(base):  # type: ignore[misc]
        def __init__(self, id: str, connection: Any) -> None:
            super().__init__(id, connection, response_timeout=0.5)
            if own:
                self._response_queue: asyncio.Queue[Any] = asyncio.Queue()
            self.dropped: list[str] = []

        async def _get_specific_response(self, unique_id: str, timeout: float) -> Any:
            while True:
                response = await asyncio.wait_for(self._response_queue.get(), timeout)
                if response.unique_id == unique_id:
                    return response
                self.dropped.append(response.unique_id)

    return Csms


async def _answered(cls: type[Any]) -> Any:
    csms = cls("CP", Sink())
    csms._unique_id_generator = lambda: "u1"
    calling = asyncio.ensure_future(csms.call(call201.ClearCache()))
    await asyncio.sleep(0.01)
    await csms.route_message('[3,"zz",{"status":"Rejected"}]')
    await csms.route_message('[3,"u1",{"status":"Accepted"}]')
    try:
        result = await calling
    except Exception as error:
        return type(error).__name__, csms.dropped
    return result.status, csms.dropped


@pytest.mark.parametrize("own", [True, False], ids=["its own queue", "the queue made"])
def test_an_override_reading_the_queue_gets_the_answer(own: bool) -> None:
    theirs = asyncio.run(_answered(_reading_the_queue(ocpp.v201.ChargePoint, own)))
    ours = asyncio.run(_answered(_reading_the_queue(v201.ChargePoint, own)))
    assert theirs == ("Accepted", ["zz"])
    assert ours == theirs


class _Delegating:
    """A mixin that answers any attribute nobody has from an object of its own."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("site_"):
            return f"from the mixin: {name}"
        raise AttributeError(name)


def test_a_mixins_getattr_after_the_charge_point_still_answers() -> None:
    """``class Csms(ChargePoint, Mixin)``: a name no class has goes to the mixin's
    ``__getattr__``, as with ``ocpp``'s class (the drop-in's own, made for its state,
    must not end the lookup)."""
    for base in (ocpp.v201.ChargePoint, v201.ChargePoint):
        csms = type("Csms", (base, _Delegating), {})("CP", Sink())
        assert csms.site_name == "from the mixin: site_name"
        with pytest.raises(AttributeError):
            csms.other  # noqa: B018


class _Counting:
    """A mixin whose ``__new__`` keeps what each instance was made with."""

    made: ClassVar[list[Any]] = []

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        cls.made.append((args, kwargs))
        return super().__new__(cls)


def test_a_mixins_new_gets_the_arguments() -> None:
    for base in (ocpp.v201.ChargePoint, v201.ChargePoint):
        _Counting.made.clear()
        csms = type("Csms", (base, _Counting), {})("CP", Sink(), response_timeout=3)
        assert _Counting.made == [(("CP", csms._connection), {"response_timeout": 3})]
        assert csms._response_timeout == 3
