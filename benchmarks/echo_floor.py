"""The floor of the load benchmark: a bare picows + uvloop server that answers OCPP calls blindly.

``python benchmarks/echo_floor.py --port P``

It is what any CSMS on picows must at least spend per message: read a text
frame, parse it once with msgspec, and send back ``[3, id, payload]`` with a
payload prebuilt per action. No schema validation, no dispatch, no state. The
simulated stations of ``benchmarks/load.py`` validate every answer, so each
prebuilt payload is a valid 2.0.1 response of its action (the answers
``DemoChargeSystem`` gives, the timestamp fixed at start-up). It negotiates the
``ocpp2.0.1`` subprotocol, as a station demands; picows has no
permessage-deflate, so frames travel uncompressed.

Prints one line when it listens; SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import signal

import msgspec
import uvloop
from picows import (
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

SUBPROTOCOL = "ocpp2.0.1"


def _answers() -> dict[str, bytes]:
    """The JSON payload answered to each action the simulator's mix sends."""
    now = datetime.datetime.now(datetime.UTC).isoformat()
    accepted = {"idTokenInfo": {"status": "Accepted"}}
    payloads: dict[str, object] = {
        "BootNotification": {"currentTime": now, "interval": 300, "status": "Accepted"},
        "Heartbeat": {"currentTime": now},
        "StatusNotification": {},
        "Authorize": accepted,
        "TransactionEvent": {},  # idTokenInfo is optional, even for Started
        "MeterValues": {},
        "NotifyReport": {},
        "SecurityEventNotification": {},
        "DataTransfer": {"status": "Accepted"},
    }
    return {action: msgspec.json.encode(payload) for action, payload in payloads.items()}


ANSWERS = _answers()
_decode = msgspec.json.Decoder(tuple[int, str, str, msgspec.Raw]).decode
_encode_id = msgspec.json.encode


class Floor(WSListener):
    """One connection: each CALL gets its action's prebuilt CALLRESULT; the rest is dropped."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind == WSMsgType.TEXT:
            try:
                _, unique_id, action, _ = _decode(frame.get_payload_as_bytes())
            except msgspec.ValidationError:
                return  # not a CALL: the stations send none of those
            answer = ANSWERS.get(action, b"{}")
            reply = b"[3," + _encode_id(unique_id) + b"," + answer + b"]"
            transport.send(WSMsgType.TEXT, reply)
        elif kind == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()


def route(request: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
    """Every path is a station; the subprotocol is what the stations ask for."""
    headers = {"Sec-WebSocket-Protocol": SUBPROTOCOL}
    return WSUpgradeResponseWithListener(WSUpgradeResponse.create_101_response(headers), Floor())


async def run(host: str, port: int) -> None:
    server = await ws_create_server(route, host, port, websocket_handshake_timeout=30)
    bound = server.sockets[0].getsockname()[1]
    print(f"echo floor (picows {SUBPROTOCOL}) on ws://{host}:{bound}/<identity>", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    uvloop.run(run(args.host, args.port))


if __name__ == "__main__":
    main()
