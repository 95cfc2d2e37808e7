"""The weighted 2.1 mix (``ocpp_fast/data/mix-v21.jsonl``) and ``ocpp-fast bench --version 2.1``.

Every frame is valid under the official 2.1 JSON schemas (the schema files the ``ocpp``
package ships, each read with its own draft's validator and date-time checked), the frames
are the 2.0.1 mix's actions at the 2.0.1 mix's weights plus a small share of what only 2.1
has (docs/getting-started/demo.md says how the weights were chosen), a SEND only where the
spec has one, and each frame reaches its handler on a live connection and through
``handle``: the 2.1 figures of the history measure the work, not an error path.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import msgspec
import ocpp
import pytest

from ocpp_fast import _codec_py
from ocpp_fast._actions import Sender
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
from ocpp_fast.frames import Call, CallResult, Send
from ocpp_fast.protocol import Protocol
from ocpp_fast.v21 import VERSION
from ocpp_fast.v21.actions import ACTIONS

V21 = BENCH_VERSIONS["2.1"]
FRAMES = load_mix(V21.mix)
SCHEMAS = Path(ocpp.__file__).resolve().parent / "v21" / "schemas"

SEND_ACTIONS = {"NotifyPeriodicEventStream"}
"""OCPP-J 2.1's one SEND action (docs: /work/shared/spec/OCPP-J.md, the frames table)."""


def _schema_errors(frame: Any) -> list[str]:
    """What the official 2.1 schema of ``frame``'s request finds wrong with its payload: a
    CALL's is ``<Action>Request.json``, the SEND's ``<Action>.json`` (as shipped)."""
    kind, _, action, payload = json.loads(frame.text)
    name = f"{action}Request.json" if kind == 2 else f"{action}.json"
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8-sig"))
    validator = jsonschema.validators.validator_for(schema)(
        schema, format_checker=jsonschema.FormatChecker()
    )
    return [error.message for error in validator.iter_errors(payload)]


def test_the_mix_is_the_201_mix_plus_a_small_share_of_what_21_adds() -> None:
    """Each 2.0.1 frame's action, in the same order and at the same weight; what follows is
    station-sent traffic 2.0.1 does not have, together at most 5 % of the mix."""
    frames_201 = load_mix(DEFAULT_MIX)
    ours = FRAMES[: len(frames_201)]
    assert [(f.label, f.weight) for f in ours] == [(f.label, f.weight) for f in frames_201]
    added = FRAMES[len(frames_201) :]
    assert [f.action for f in added] == ["NotifyPeriodicEventStream"]
    version_201 = BENCH_VERSIONS["2.0.1"].model.VERSION
    for frame in added:
        assert frame.action not in version_201.request_types
        assert ACTIONS[frame.action].sender is Sender.STATION
    share = sum(f.weight for f in added) / sum(f.weight for f in FRAMES)
    assert 0 < share <= 0.05


def test_the_transactions_carry_21_fields() -> None:
    """The 2.1 form of the transaction: its operation mode and tariff, and the cost the
    station calculated at the end (fields 2.0.1's schema refuses), so 2.1's own generated
    types are on the measured path."""
    by_label = {f.label: json.loads(f.text)[3] for f in FRAMES}
    assert by_label["TransactionEvent (Started)"]["transactionInfo"]["tariffId"]
    for label in ("TransactionEvent (Started)", "TransactionEvent (Updated)"):
        assert by_label[label]["transactionInfo"]["operationMode"] == "ChargingOnly"
    assert by_label["TransactionEvent (Ended)"]["costDetails"]["totalCost"]["currency"] == "EUR"


@pytest.mark.parametrize("frame", FRAMES, ids=[f.key for f in FRAMES])
def test_every_frame_is_valid_under_the_official_21_schema(frame: Any, impl: ModuleType) -> None:
    assert _schema_errors(frame) == []
    assert frame.send == (frame.action in SEND_ACTIONS)
    decoded = impl.decode_frame(frame.data, VERSION, {})
    assert type(decoded) is (Send if frame.send else Call)
    assert type(decoded.payload) is VERSION.request_types[frame.action]
    assert decoded == _codec_py.decode_frame(frame.data, VERSION, {})


def test_the_schema_check_refuses_a_21_field_out_of_place() -> None:
    """The check above reads the 2.1 schemas for real: a cost given the wrong shape (a
    price where the schema has its two amounts) is found."""
    ended = next(f for f in FRAMES if f.label == "TransactionEvent (Ended)")
    frame = json.loads(ended.text)
    frame[3]["costDetails"]["totalCost"]["energy"] = {"price": {"exclTax": 9.0}}
    broken = dataclasses.replace(ended, text=json.dumps(frame))
    assert any("'price' was unexpected" in error for error in _schema_errors(broken))


@pytest.mark.parametrize("action", sorted({f.action for f in FRAMES} - SEND_ACTIONS))
def test_every_answer_of_the_bench_is_a_valid_21_response(action: str) -> None:
    response = fast_responses("2.1")[action]
    reply = _codec_py.encode_call_result("m1", response)
    back = _codec_py.decode_frame(reply, VERSION, {"m1": action})
    assert isinstance(back, CallResult) and back.payload == response


def test_the_send_has_no_answer_on_either_side() -> None:
    """(e)'s handlers and (f)'s (``ocpp.v21.call_result``, made from (e)'s: the 1.6 mix's
    tests compare them for every version) answer every CALL of the mix, the SEND never."""
    ours = V21.responses()
    theirs = V21.ocpp_responses(ours)
    assert {a for a, r in ours.items() if r is None} == SEND_ACTIONS
    assert {a for a, r in theirs.items() if r is None} == SEND_ACTIONS
    assert ours.keys() == {f.action for f in FRAMES}
    assert all(type(r).__module__ == "ocpp.v21.call_result" for r in theirs.values() if r)


@pytest.mark.usefixtures("dispatch_twin")
@pytest.mark.parametrize("frame", FRAMES, ids=[f.key for f in FRAMES])
def test_every_frame_of_the_mix_reaches_its_handler_live(
    frame: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``AsyncConnection.feed`` (the bench's (i)) and ``handle`` ((e)), on either twin: a
    CALL is answered as the general path answers it, without the sans-I/O protocol (the
    compiled path); the SEND is handed to its handler and never answered."""
    csms = bench_charge_system(V21, fast_responses("2.1"))
    written: list[bytes] = []
    connection = AsyncConnection(csms, write=written.append, identity="CS21")
    general: list[Any] = []
    receive = Protocol.receive

    def counted(self: Protocol, data: bytes | str) -> Any:
        general.append(data)
        return receive(self, data)

    if frame.send:
        connection.feed(frame.data)
        assert written == []
        assert type(csms.last_sent) is VERSION.request_types[frame.action]
        csms.last_sent = None
        assert csms.handle(frame.data, "CS21") is None
        assert type(csms.last_sent) is VERSION.request_types[frame.action]
        return
    expected = finish_at_once(csms.handle_async(frame.data, "CS21"))  # the general path's
    monkeypatch.setattr(Protocol, "receive", counted)
    connection.feed(frame.data)
    assert csms.handle(frame.data, "CS21") == expected
    assert general == []
    assert written == [expected]
    assert msgspec.json.decode(written[0])[:2] == [3, frame.message_id]


def test_bench_version_21_prints_the_21_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--version", "2.1", "--quick"]) == 0  # as typed: ocpp-fast bench ...
    out = capsys.readouterr().out
    rows = [line.split("  ")[0] for line in out.splitlines()]
    assert "NotifyPeriodicEventStream" in rows and "TransactionEvent (Ended)" in rows
    assert "(f) ocpp_fast.compat ChargePoint.route_message" in out
    ran = {line[:3]: line for line in out.splitlines() if line[:1] == "("}
    assert all("not run" not in ran[f"({k})"] for k in "abdefghij"), ran
    assert "reads no SEND frame (type 6)" in ran["(c)"]  # it would time a parse error
    assert f"{V21.mix} (12 frames, OCPP 2.1)" in out
