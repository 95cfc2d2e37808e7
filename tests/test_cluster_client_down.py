"""A routed call made while the caller's own NATS connection is down (nats-server killed):
nats-py holds the request for the reconnect, and at its end the TimeoutError says that the
client's connection is down; it blamed "the node holding" the station, which the call never
reached. Against a real nats-server."""

from __future__ import annotations

import asyncio

import pytest

from ocpp_fast.cluster import ClusterClient, NatsServer
from ocpp_fast.v201 import messages

UNLOCK = messages.UnlockConnectorRequest(evse_id=1, connector_id=1)


def test_a_call_while_the_clients_connection_is_down_says_so() -> None:
    async def main(nats: NatsServer) -> str:
        async with ClusterClient(nats.url) as client:
            nats.kill()
            async with asyncio.timeout(10):
                while client.nats.is_connected:
                    await asyncio.sleep(0.02)
            with pytest.raises(TimeoutError) as caught:
                await client.call("CS.9", UNLOCK, timeout=0.2)
            assert client.calls["timeout"] == 1
            return str(caught.value)

    with NatsServer() as nats:
        said = asyncio.run(asyncio.wait_for(main(nats), 30))
    assert said == (
        f"no answer for CS.9 within 2.2 s: this client's NATS connection to {nats.url} is "
        "down, reconnecting (the call waited for it)"
    )
