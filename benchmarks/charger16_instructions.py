"""Instructions per message of a 1.6 station answering the CSMS's requests whose types carry
a constraint msgspec cannot check (``multipleOf``, ``format: uri``), and whether each took
the compiled path.

The bench's mixes are what stations send; these requests go the other way, so no bench
table holds them. This runs ``v16.Charger.handle`` (plain handlers returning prebuilt
responses) on one valid frame of each under ``valgrind --tool=callgrind``: the run with
``--rounds`` rounds minus the run with none (start, imports and warm-up cancel out), as
``benchmarks/instructions.py`` does. ChangeAvailability, a request without such a
constraint, is the control. The path column says whether the compiled path answered the
frame itself (the handler's dispatcher returned the reply) or left it to the general code.

Run: ``python benchmarks/charger16_instructions.py [--rounds 200]`` (valgrind must be
installed). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sys
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))

from instructions import callgrind_total  # benchmarks/ is no package

SELF = Path(__file__).resolve()
_PROFILE = {
    "chargingProfileId": 7,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": {
        "chargingRateUnit": "A",
        "minChargingRate": 6.1,
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 32.0},
            {"startPeriod": 3600, "limit": 21.4, "numberPhases": 3},
            {"startPeriod": 7200, "limit": 10.1},
        ],
    },
}
REQUESTS: dict[str, dict[str, Any]] = {
    "GetDiagnostics": {"location": "ftp://diag.example.com/upload/"},
    "RemoteStartTransaction": {"idTag": "04A1B2C3", "connectorId": 1, "chargingProfile": {
        **_PROFILE, "chargingProfilePurpose": "TxProfile"}},
    "SetChargingProfile": {"connectorId": 1, "csChargingProfiles": _PROFILE},
    "UpdateFirmware": {
        "location": "https://fw.example.com/v2.bin",
        "retrieveDate": "2026-12-05T03:00:00Z",
    },
    "GetCompositeSchedule": {"connectorId": 1, "duration": 3600},
    "ChangeAvailability": {"connectorId": 1, "type": "Operative"},
}  # fmt: skip
"""A valid payload of each request measured (GetCompositeSchedule's response is the one
with ``multipleOf``)."""


def _responses() -> dict[str, Any]:
    from ocpp_fast.v16 import datatypes, enums, messages

    schedule = msgspec.convert(_PROFILE["chargingSchedule"], datatypes.ChargingScheduleType)
    return {
        "GetDiagnostics": messages.GetDiagnosticsResponse(file_name="diag.zip"),
        "RemoteStartTransaction": messages.RemoteStartTransactionResponse(
            status=enums.RemoteStartTransactionResponseStatusEnum.ACCEPTED
        ),
        "SetChargingProfile": messages.SetChargingProfileResponse(
            status=enums.SetChargingProfileResponseStatusEnum.ACCEPTED
        ),
        "UpdateFirmware": messages.UpdateFirmwareResponse(),
        "GetCompositeSchedule": messages.GetCompositeScheduleResponse(
            status=enums.GetCompositeScheduleResponseStatusEnum.ACCEPTED,
            connector_id=1,
            charging_schedule=schedule,
        ),
        "ChangeAvailability": messages.ChangeAvailabilityResponse(
            status=enums.ChangeAvailabilityResponseStatusEnum.ACCEPTED
        ),
    }


def station() -> Any:
    """A ``v16.Charger`` whose plain handlers return the prebuilt responses."""
    from ocpp_fast import v16

    handlers = {
        v16.actions.ACTIONS[action].method: (lambda self, request, r=response: r)
        for action, response in _responses().items()
    }
    return type("BenchCharger", (v16.Charger,), handlers)()


def frame(action: str) -> bytes:
    """The CALL of ``action`` as the CSMS sends it."""
    return msgspec.json.encode([2, "m-1", action, REQUESTS[action]])


def path_of(charger: Any, action: str) -> str:
    """``compiled`` where the compiled path answered the frame itself (its dispatcher
    returned the reply), else ``general`` (no route, or it stepped aside)."""
    answered = charger._handle_dispatcher().answer(frame(action), "")
    return "compiled" if isinstance(answered, bytes) else "general"


def child(action: str, rounds: int) -> None:
    """The measured process: answer the frame once (checked), then ``rounds`` times."""
    charger, data = station(), frame(action)
    reply = charger.handle(data)
    if reply is None or msgspec.json.decode(reply)[:2] != [3, "m-1"]:
        raise SystemExit(f"{action}: no CALLRESULT: {reply!r}")
    gc.collect()
    gc.disable()
    handle = charger.handle
    for _ in range(rounds):
        handle(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200, help="messages per action")
    parser.add_argument("--child", choices=list(REQUESTS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.rounds)
        return 0
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed")
    from ocpp_fast import codec

    charger = station()
    print(
        f"v16.Charger.handle, instructions per message under callgrind ({args.rounds} rounds; "
        f"codec: {codec.IMPLEMENTATION}; python {sys.version.split()[0]})"
    )
    for action in REQUESTS:
        base = callgrind_total(SELF, ["--child", action, "--rounds", "0"], valgrind, action)
        arguments = ["--child", action, "--rounds", str(args.rounds)]
        full = callgrind_total(SELF, arguments, valgrind, action)
        each = (full - base) / args.rounds
        print(f"{action:>22} {path_of(charger, action):>8} {each:>10,.0f} instructions/msg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
