"""An admin HTTP API beside the CSMS, in the same event loop (aiohttp): list the connected
stations and start a charge on one, whatever its OCPP version.

    python examples/admin_api.py            # the demo CSMS on :9000, this API on :8080
    curl http://127.0.0.1:8080/stations
    curl -X POST http://127.0.0.1:8080/stations/CS001/start -d '{"id_token": "04A1B2C3"}'

The API is written against :class:`ocpp_fast.stations.StationCaller`, which the server of
one process (``await serve(...)``) and a cluster's ``ClusterClient`` both are: the same
code serves a single process or a whole cluster. A 1.6 station is sent
RemoteStartTransaction, a 2.0.1 or 2.1 station RequestStartTransaction.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal

from aiohttp import web

from ocpp_fast import errors
from ocpp_fast.stations import StationCaller, StationNotConnected
from ocpp_fast.v16 import messages as messages16
from ocpp_fast.v21 import datatypes as datatypes21
from ocpp_fast.v21 import messages as messages21
from ocpp_fast.v201 import datatypes, enums, messages

STATIONS: web.AppKey[StationCaller] = web.AppKey("stations", StationCaller)
_remote_start_ids = itertools.count(1)


async def request_start(
    stations: StationCaller, identity: str, version: str, id_token: str, evse_id: int
) -> str:
    """Start a charge on the station ``identity`` of OCPP ``version``; the status it answered.

    One call per version, each with its own request and response types: mypy checks each
    (a request built from another version's module is refused by the connection)."""
    if version == "1.6":
        answer16 = await stations.call(
            identity,
            messages16.RemoteStartTransactionRequest(id_tag=id_token, connector_id=evse_id),
            timeout=10,
        )
        return answer16.status.value
    if version == "2.1":
        answer21 = await stations.call(
            identity,
            messages21.RequestStartTransactionRequest(
                id_token=datatypes21.IdTokenType(id_token=id_token, type="ISO14443"),
                remote_start_id=next(_remote_start_ids),
                evse_id=evse_id,
            ),
            timeout=10,
        )
        return answer21.status.value
    answer = await stations.call(
        identity,
        messages.RequestStartTransactionRequest(
            id_token=datatypes.IdTokenType(id_token=id_token, type=enums.IdTokenEnumType.ISO14443),
            remote_start_id=next(_remote_start_ids),
            evse_id=evse_id,
        ),
        timeout=10,
    )
    return answer.status.value


async def list_stations(request: web.Request) -> web.Response:
    """``GET /stations``: every connected station, its version, node and since when."""
    entries = await request.app[STATIONS].stations()
    return web.json_response(
        {
            identity: {"version": e.version, "node": e.node, "since": e.since.isoformat()}
            for identity, e in sorted(entries.items())
        }
    )


async def start_charging(request: web.Request) -> web.Response:
    """``POST /stations/{identity}/start`` with ``{"id_token": ..., "evse_id": 1}``."""
    stations = request.app[STATIONS]
    identity = request.match_info["identity"]
    try:
        body = await request.json()
        id_token, evse_id = str(body["id_token"]), int(body.get("evse_id", 1))
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "send {'id_token': ..., 'evse_id': 1}"}, status=400)
    entry = (await stations.stations()).get(identity)
    if entry is None:
        return web.json_response({"error": f"{identity} is not connected"}, status=404)
    try:
        status = await request_start(stations, identity, entry.version, id_token, evse_id)
    except StationNotConnected:
        return web.json_response({"error": f"{identity} left"}, status=404)
    except TimeoutError:
        return web.json_response({"error": f"{identity} did not answer"}, status=504)
    except errors.OcppError as exc:
        return web.json_response({"error": exc.code, "description": exc.description}, status=502)
    return web.json_response({"identity": identity, "status": status})


def admin_app(stations: StationCaller) -> web.Application:
    """The API's aiohttp application, reaching stations through ``stations``."""
    app = web.Application()
    app[STATIONS] = stations
    app.router.add_get("/stations", list_stations)
    app.router.add_post("/stations/{identity}/start", start_charging)
    return app


async def start_admin_api(stations: StationCaller, host: str, port: int) -> web.AppRunner:
    """Serve the API on ``host:port`` in the running loop; ``await runner.cleanup()`` stops it."""
    runner = web.AppRunner(admin_app(stations), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def main(csms_port: int, api_port: int) -> None:
    from ocpp_fast.demo import demo_handlers
    from ocpp_fast.transport import serve

    server = await serve(demo_handlers(), "127.0.0.1", csms_port)
    runner = await start_admin_api(server, "127.0.0.1", api_port)
    print(f"CSMS on ws://127.0.0.1:{server.port}/<identity>, API on http://127.0.0.1:{api_port}")
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    await server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=9000, help="the CSMS's port")
    parser.add_argument("--api-port", type=int, default=8080)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.api_port))
