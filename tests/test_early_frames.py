"""No frame is lost for want of a connection object: a CALL the CSMS sends the moment a
station appears in ``server.connections`` (as a cluster gateway's routed call can) arrives
with, or right behind, the 101 answer, before the station's client made its connection."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from my_test_charge_system import MyTestChargeSystem
from my_test_charger import MyTestCharger

from ocpp_fast.transport import Backoff, connect, serve
from ocpp_fast.transport.backend import BACKENDS
from ocpp_fast.v201 import enums, messages

STATIONS = 30
pytestmark = pytest.mark.usefixtures("listener_twin")  # picows' listener: both twins


@pytest.mark.parametrize("client_backend", BACKENDS)
@pytest.mark.parametrize("server_backend", BACKENDS)
def test_a_call_sent_the_moment_a_station_appears_is_answered(
    server_backend: str, client_backend: str
) -> None:
    async def session() -> list[Any]:
        server = await serve(MyTestChargeSystem(), backend=server_backend)
        calls: list[asyncio.Task[Any]] = []

        def appeared(identity: str) -> None:
            connection = server.connections.get(identity)
            if connection is not None:  # it became live (not: it left)
                unlock = messages.UnlockConnectorRequest(evse_id=1, connector_id=1)
                calls.append(asyncio.ensure_future(connection.call(unlock, timeout=5)))

        server.on_station.append(appeared)
        url = f"ws://127.0.0.1:{server.port}/ocpp/CS"
        fast = Backoff(minimum=0.05, random_range=0.05, repeat_times=1)
        clients = await asyncio.gather(
            *(
                connect(MyTestCharger(), f"{url}{n}", backend=client_backend, backoff=fast)
                for n in range(STATIONS)
            )
        )
        try:
            return list(await asyncio.gather(*calls, return_exceptions=True))
        finally:
            await asyncio.gather(*(client.close() for client in clients))
            await server.close()

    answers = asyncio.run(asyncio.wait_for(session(), 30))
    unlocked = [
        a
        for a in answers
        if isinstance(a, messages.UnlockConnectorResponse)
        and a.status is enums.UnlockStatusEnumType.UNLOCKED
    ]
    assert len(answers) == STATIONS
    assert len(unlocked) == STATIONS, [a for a in answers if a not in unlocked]
