"""The paths a handler class's CALLs take, for a module whose every scenario must come out the
same on each: the compiled path on each twin of ``FastDispatch`` (``_dispatch_py``, and
``_dispatch_c`` where built), and the general path.

One ``path`` fixture for such modules (``test_cluster_gated``, ``test_future_answers``), which
each had a copy of the same parameters and the same patch of the twin.
"""

from __future__ import annotations

from typing import Any, TypeVar

import pytest
from test_fastpath import TWINS

from ocpp_fast import dispatch
from ocpp_fast.dispatch import OcppHandler

__all__ = ["path_fixture"]

Handler = TypeVar("Handler", bound=OcppHandler)


def path_fixture(compiled: type[Handler], general: type[Handler]) -> Any:
    """The module's ``path`` fixture (``path = path_fixture(Csms, CsmsGeneral)``): the handler
    class to run, ``compiled`` on each twin (ids ``compiled-py``...), then ``general``, its
    subclass whose own ``invoke_handler`` keeps every CALL off the compiled path (on the first
    twin, which it does not run)."""
    params = [
        pytest.param((compiled, twin), id=f"compiled-{twin.IMPLEMENTATION}") for twin in TWINS
    ]
    params.append(pytest.param((general, TWINS[0]), id="general"))

    @pytest.fixture(params=params, name="path")
    def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> type[Handler]:
        """A handler class, with the compiled path's twin it runs on."""
        cls: type[Handler]
        cls, twin = request.param
        monkeypatch.setattr(dispatch, "fast_dispatch_class", lambda: twin.FastDispatch)
        return cls

    return path
