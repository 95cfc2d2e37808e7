"""The weighted 1.6 mix (``ocpp_fast/data/mix-v16.jsonl``) and ``ocpp-fast bench --version 1.6``.

Every frame is valid under the official 1.6 schemas (ocpp_fast's codecs and the ``ocpp``
package's jsonschema both accept it), its weights are the 2.0.1 mix's read as 1.6 traffic
(docs/getting-started/demo.md says how), and every action of it takes the compiled path on
a live connection: a 1.6 action falling back to the general path would cost 1.6 fleets
what the bench's 2.0.1 figures never show.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from types import ModuleType
from typing import Any

import msgspec
import pytest
from ocpp.charge_point import remove_nones, snake_to_camel_case
from ocpp.messages import Call as OcppCall
from ocpp.messages import validate_payload

from ocpp_fast import _codec_py
from ocpp_fast._awaitless import finish_at_once
from ocpp_fast.aio import AsyncConnection
from ocpp_fast.bench import (
    BENCH_VERSIONS,
    DEFAULT_MIX,
    bench_charge_system,
    fast_responses,
    load_mix,
)
from ocpp_fast.cli import main
from ocpp_fast.frames import Call, CallResult
from ocpp_fast.protocol import Protocol
from ocpp_fast.v16 import VERSION

V16 = BENCH_VERSIONS["1.6"]
FRAMES = load_mix(V16.mix)

DERIVED_FROM = {
    # 1.6 frame (label) -> the 2.0.1 frame (label) whose traffic it carries
    "BootNotification": "BootNotification",
    "Heartbeat": "Heartbeat",
    "StatusNotification": "StatusNotification",
    "Authorize": "Authorize",
    "StartTransaction": "TransactionEvent (Started)",
    "MeterValues (transaction)": "TransactionEvent (Updated)",
    "StopTransaction": "TransactionEvent (Ended)",
    "MeterValues (clock-aligned)": "MeterValues",
    # 1.6 has no device model report: its station-sent status reports take NotifyReport's share
    "FirmwareStatusNotification": "NotifyReport",
    "DiagnosticsStatusNotification": "NotifyReport",
    # the security extension: a certificate's renewal is a tenth of its security events
    "SecurityEventNotification": "SecurityEventNotification",
    "SignCertificate": "SecurityEventNotification",
    "DataTransfer": "DataTransfer",
}


def test_the_mix_holds_what_a_16_station_sends() -> None:
    assert [f.label for f in FRAMES] == list(DERIVED_FROM)
    assert sum(f.weight for f in FRAMES) == pytest.approx(100)
    transaction = next(f for f in FRAMES if f.label == "MeterValues (transaction)")
    payload = json.loads(transaction.text)[3]
    assert payload["transactionId"] == 170112
    measurands = {s["measurand"] for s in payload["meterValue"][0]["sampledValue"]}
    assert {"Energy.Active.Import.Register", "Power.Active.Import", "SoC"} <= measurands
    stop = json.loads(next(f for f in FRAMES if f.action == "StopTransaction").text)[3]
    assert stop["transactionData"]


def test_each_weight_is_the_201_share_it_carries() -> None:
    """Summed over the 1.6 frames that carry them, the weights are the 2.0.1 mix's."""
    weights_201 = {f.label: f.weight for f in load_mix(DEFAULT_MIX)}
    carried: dict[str, float] = dict.fromkeys(weights_201, 0.0)
    for frame in FRAMES:
        carried[DERIVED_FROM[frame.label]] += frame.weight
    assert carried.keys() == weights_201.keys()
    for label, weight in weights_201.items():
        assert carried[label] == pytest.approx(weight), label


@pytest.mark.parametrize("frame", FRAMES, ids=[f.key for f in FRAMES])
def test_every_frame_is_valid_for_ocpp_fast_and_the_ocpp_package(
    frame: Any, impl: ModuleType
) -> None:
    call = impl.decode_frame(frame.data, VERSION, {})
    assert isinstance(call, Call) and type(call.payload) is VERSION.request_types[frame.action]
    payload = json.loads(frame.text)[3]
    # the ocpp package's own jsonschema check of a received 1.6 CALL (raises if invalid)
    asyncio.run(validate_payload(OcppCall(frame.message_id, frame.action, payload), "1.6"))


@pytest.mark.parametrize("action", sorted({f.action for f in FRAMES}))
def test_every_answer_of_the_bench_is_a_valid_16_response(action: str) -> None:
    response = fast_responses("1.6")[action]
    reply = _codec_py.encode_call_result("m1", response)
    back = _codec_py.decode_frame(reply, VERSION, {"m1": action})
    assert isinstance(back, CallResult) and back.payload == response


@pytest.mark.parametrize("label", list(BENCH_VERSIONS))
def test_the_ocpp_package_answers_what_ocpp_fast_answers(label: str) -> None:
    """(c) and (f) return the ``ocpp`` package's dataclasses made from (e)'s Structs: on the
    wire, as ``ocpp`` writes them, they are the same answers (a 2.1 SEND has none on
    either side)."""
    version = BENCH_VERSIONS[label]
    ours = version.responses()
    theirs = version.ocpp_responses(ours)
    assert theirs.keys() == ours.keys()
    for action, answer in theirs.items():
        if answer is None or ours[action] is None:
            assert answer is ours[action] is None, action
            continue
        assert type(answer).__module__ == f"ocpp.{version.package}.call_result"
        payload = snake_to_camel_case(remove_nones(dataclasses.asdict(answer)))
        frame = json.dumps([3, "m1", payload]).encode()
        back = _codec_py.decode_frame(frame, version.model.VERSION, {"m1": action})
        assert isinstance(back, CallResult) and back.payload == ours[action], action


@pytest.mark.usefixtures("dispatch_twin")
@pytest.mark.parametrize("frame", FRAMES, ids=[f.key for f in FRAMES])
def test_every_action_of_the_mix_takes_the_compiled_path_live(
    frame: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``AsyncConnection.feed`` (the bench's (i)) and ``handle`` ((e)) answer each frame with
    the general path's reply, and never hand it to the sans-I/O protocol (the general path's
    way in), on either twin."""
    csms = bench_charge_system(V16, fast_responses("1.6"))
    expected = finish_at_once(csms.handle_async(frame.data, "CS16"))  # the general path's
    written: list[bytes] = []
    connection = AsyncConnection(csms, write=written.append, identity="CS16")
    general: list[Any] = []
    receive = Protocol.receive

    def counted(self: Protocol, data: bytes | str) -> Any:
        general.append(data)
        return receive(self, data)

    monkeypatch.setattr(Protocol, "receive", counted)
    connection.feed(frame.data)
    assert csms.handle(frame.data, "CS16") == expected  # and ChargeSystem.handle, (e)
    assert general == []
    assert written == [expected]
    assert msgspec.json.decode(written[0])[:2] == [3, frame.message_id]


def test_bench_version_16_prints_the_16_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--version", "1.6", "--quick"]) == 0  # as typed: ocpp-fast bench ...
    out = capsys.readouterr().out
    rows = [line.split("  ")[0] for line in out.splitlines()]
    assert "MeterValues (transaction)" in rows and "SignCertificate" in rows
    assert "c/f = " in out and "worst e/d = " in out
    assert "(f) ocpp_fast.compat ChargePoint.route_message" in out and "not run" not in out
    assert f"{V16.mix} (13 frames, OCPP 1.6)" in out
