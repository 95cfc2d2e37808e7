"""A boot answered through a cluster is logged once: by the worker that ran the handler, as
the logging reference says. The gateway forwarding the CALL logged the same line again, so
each boot of a fleet read twice in a cluster's logs. Against a real nats-server."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ocpp_fast import v16
from ocpp_fast.cluster import ClusterConfig, Gateway, Worker
from ocpp_fast.demo import DemoChargeSystem16
from ocpp_fast.transport import connect, serve
from ocpp_fast.v16 import messages as messages16


def test_a_boot_answered_by_a_worker_is_logged_once(
    nats_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> str:
        config = ClusterConfig(nats_url)
        gateway = Gateway(config, handlers_in="workers")
        server = await serve(DemoChargeSystem16(), cluster=gateway)
        worker = Worker(DemoChargeSystem16(), config)
        await worker.start()
        try:
            station = await connect(v16.Charger(), f"ws://127.0.0.1:{server.port}/OLD-7")
            boot = messages16.BootNotificationRequest(
                charge_point_vendor="Old", charge_point_model="Box"
            )
            answer = await station.call(boot, timeout=5)
            await station.close()
        finally:
            await server.close()
            await gateway.close()
            await worker.close()
        assert worker.handled == 1
        return str(answer.status)

    caplog.set_level(logging.INFO, logger="ocpp_fast")
    assert asyncio.run(asyncio.wait_for(main(), 20)) == "Accepted"
    lines = [r for r in caplog.records if "BootNotification answered" in r.getMessage()]
    assert [r.getMessage() for r in lines] == ["OLD-7: BootNotification answered Accepted: Old Box"]
    assert lines[0].name == "ocpp_fast" and lines[0].identity == "OLD-7"  # type: ignore[attr-defined]
