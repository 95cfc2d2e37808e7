"""What ``simulate --version 2.1`` adds to the 2.0.1 traffic: the periodic event stream of OCPP
2.1, its samples as SEND frames (``[6, ...]``, NotifyPeriodicEventStream, never answered) at the
weight of the packaged 2.1 mix, between an OpenPeriodicEventStream and a
ClosePeriodicEventStream (CALLs); ``--actions NotifyPeriodicEventStream``; and a report that
counts the SENDs apart from the calls (no answer: never unanswered, never an error)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest

from ocpp_fast import v21
from ocpp_fast._sim_traffic import MIX_SHARES_21, STREAM_SENDS, mix_of
from ocpp_fast.bench import BENCH_VERSIONS, load_mix
from ocpp_fast.cli import main
from ocpp_fast.demo import DemoChargeSystem, DemoChargeSystem16, DemoChargeSystem21
from ocpp_fast.dispatch import OcppHandler
from ocpp_fast.simulator import MIX_SHARES, SimulationReport, chosen_actions, simulate
from ocpp_fast.transport import serve
from ocpp_fast.v21 import enums, messages


class Streams(DemoChargeSystem21):
    """The demo's 2.1 answers, keeping each stream frame as it came: (frame class, action,
    stream id), by station."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.seen: dict[str, list[tuple[str, str, int]]] = {}
        self.actions: Counter[str] = Counter()

    def invoke_handler(self, route: Any, call: Any, identity: str, peer: Any) -> object:
        self.actions[call.action] += 1
        if "PeriodicEventStream" in call.action:
            payload = call.payload
            stream = (
                payload.constant_stream_data.id
                if isinstance(payload, messages.OpenPeriodicEventStreamRequest)
                else payload.id
            )
            kept = (type(call).__name__, call.action, stream)
            self.seen.setdefault(identity, []).append(kept)
        return super().invoke_handler(route, call, identity, peer)

    def open_periodic_event_stream(
        self, request: messages.OpenPeriodicEventStreamRequest
    ) -> messages.OpenPeriodicEventStreamResponse:
        if self.refuse:
            return messages.OpenPeriodicEventStreamResponse(
                status=enums.GenericStatusEnumType.REJECTED
            )
        return self.default_open_periodic_event_stream(request)


def run(
    handlers: dict[str, OcppHandler],
    versions: list[str],
    actions: str | list[str] = "all",
    until: int = 1,
) -> SimulationReport:
    """A fleet of 4 stations until ``until`` SENDs went out (and at least 8 calls were
    answered), at most 60 s: a bound on a hang, not a timed assertion."""

    async def main() -> SimulationReport:
        server = await serve(handlers)
        stop = asyncio.Event()

        def progress(report: SimulationReport, elapsed: float) -> None:
            if report.sends >= until and report.messages >= 8:
                stop.set()

        try:
            return await simulate(
                f"ws://127.0.0.1:{server.port}/ocpp",
                4,
                60.0,
                interval=0.01,
                seed=3,
                versions=versions,
                actions=actions,
                progress=progress,
                stop=stop,
                handle_signals=False,
            )
        finally:
            await server.close()

    return asyncio.run(main())


def test_the_21_shares_are_the_packaged_21_mix() -> None:
    """The 2.1 stations draw from the weights of ``mix-v21.jsonl`` (what ``ocpp-fast bench
    --version 2.1`` measures): the 2.0.1 mix's, 100, and 5 for NotifyPeriodicEventStream."""
    packaged = {
        frame.label.replace(" (", ".").removesuffix(")"): frame.weight
        for frame in load_mix(BENCH_VERSIONS["2.1"].mix)
    }
    assert packaged == MIX_SHARES_21
    assert sum(MIX_SHARES_21.values()) == 105 and MIX_SHARES_21["NotifyPeriodicEventStream"] == 5


def test_1_6_and_2_0_1_stations_draw_what_they_drew() -> None:
    """``all`` is the 2.0.1 mix for 1.6 and 2.0.1 stations, in its order (the same seed, the
    same traffic as before 2.1's stream was added); a 2.1 station's has the stream last."""
    for label in ("1.6", "2.0.1"):
        assert mix_of("all", label) == (list(MIX_SHARES), list(MIX_SHARES.values()))
    kinds, weights = mix_of("all", "2.1")
    assert kinds == [*MIX_SHARES, "NotifyPeriodicEventStream"] and sum(weights) == 105
    assert mix_of("core", "2.1") == mix_of("core", "2.0.1")
    assert chosen_actions("NotifyPeriodicEventStream") == {
        "BootNotification",
        "NotifyPeriodicEventStream",
    }
    assert mix_of(["Heartbeat", "NotifyPeriodicEventStream"], "2.0.1") == (["Heartbeat"], [20])
    with pytest.raises(ValueError, match=r"nothing the OCPP 2\.0\.1 stations send"):
        mix_of("NotifyPeriodicEventStream", "2.0.1")


def test_a_21_fleet_streams_as_sends_between_an_open_and_a_close() -> None:
    """``--actions NotifyPeriodicEventStream``: every pick a step of the stream. Each station
    opens a stream (a CALL) before its first SEND, sends its samples as SENDs (the CSMS's
    handler runs, where a CALL of that action is refused NotSupported without it), closes it
    (a CALL) after ``STREAM_SENDS`` of them, then opens the next, of a new id. The report
    counts the SENDs apart: not in the calls answered, none unanswered, no error."""
    csms = Streams()
    report = run(
        {"ocpp2.1": csms}, ["2.1"], "NotifyPeriodicEventStream", until=2 * STREAM_SENDS + 8
    )
    assert report.ok and report.errors == {} and report.not_supported == {}, report.table()
    assert report.unanswered == {} and report.not_sent == {}
    sends = [
        seen
        for frames in csms.seen.values()
        for seen in frames
        if seen[:2] == ("Send", "NotifyPeriodicEventStream")
    ]
    assert len(sends) == report.sends >= 2 * STREAM_SENDS + 8
    assert csms.actions["NotifyPeriodicEventStream"] == report.sends  # every one a SEND
    calls = report.messages - csms.actions["BootNotification"]
    assert (
        calls == csms.actions["OpenPeriodicEventStream"] + csms.actions["ClosePeriodicEventStream"]
    )
    closed = 0
    for frames in csms.seen.values():
        expected, open_id, sent = 1, None, 0
        for kind, action, stream in frames:
            if action == "OpenPeriodicEventStream":
                assert (kind, open_id, stream) == ("Call", None, expected)
                open_id, sent = stream, 0
            elif action == "NotifyPeriodicEventStream":
                assert (kind, stream) == ("Send", open_id)
                sent += 1
            else:
                assert (kind, stream, sent) == ("Call", open_id, STREAM_SENDS)
                open_id, expected, closed = None, expected + 1, closed + 1
    assert closed >= 1
    lines = report.table().splitlines()
    assert f"SENDs (never answered)         {report.sends}" in lines
    assert report.as_dict()["sends"] == report.sends


def test_the_default_21_mix_sends_its_stream_and_the_others_none() -> None:
    """``all`` (the default): the 2.1 stations send their stream among the 2.0.1 traffic; the
    1.6 and 2.0.1 stations of the same fleet send none of it."""
    csms = Streams()
    handlers: dict[str, OcppHandler] = {
        "ocpp2.1": csms,
        "ocpp2.0.1": DemoChargeSystem(),
        "ocpp1.6": DemoChargeSystem16(),
    }
    report = run(handlers, ["1.6", "2.0.1", "2.1", "2.1"], until=3)
    assert report.ok and report.errors == {}, report.table()
    assert report.sends >= 3 and csms.actions["NotifyPeriodicEventStream"] == report.sends
    assert set(csms.seen) <= {"SIM00002", "SIM00003"}  # the 2.1 stations
    assert csms.actions["TransactionEvent"] > 0  # among the 2.0.1 traffic in its 2.1 form


def test_a_refused_stream_sends_nothing_and_fails_nothing() -> None:
    """A CSMS may refuse a stream (OpenPeriodicEventStream Rejected): the station sends no SEND
    on it, and the report says how many were refused. One without the stream's handlers answers
    NotSupported, an optional action's answer, listed apart."""

    async def main(handler: OcppHandler) -> SimulationReport:
        server = await serve(handler)
        try:
            return await simulate(
                f"ws://127.0.0.1:{server.port}/ocpp",
                2,
                0.5,
                interval=0.01,
                versions="2.1",
                actions="NotifyPeriodicEventStream",
                handle_signals=False,
            )
        finally:
            await server.close()

    refusing = Streams(refuse=True)
    refused = asyncio.run(main(refusing))
    assert refused.ok and refused.sends == 0, refused.table()
    assert refused.streams_refused == refusing.actions["OpenPeriodicEventStream"] > 0
    assert "NotifyPeriodicEventStream" not in refusing.actions
    assert f"SENDs (never answered)         0 (streams refused {refused.streams_refused})" in (
        refused.table().splitlines()
    )

    class Without(v21.ChargeSystem):
        def boot_notification(
            self, request: messages.BootNotificationRequest
        ) -> messages.BootNotificationResponse:
            return DemoChargeSystem21().default_boot_notification(request)

    unsupported = asyncio.run(main(Without()))
    assert unsupported.ok and unsupported.sends == 0, unsupported.table()
    assert set(unsupported.not_supported) == {"OpenPeriodicEventStream"}


def test_the_table_of_a_fleet_without_21_has_no_sends_row() -> None:
    """The SENDs row is a 2.1 fleet's: the table of a 1.6 or 2.0.1 run stays as it was."""
    without = SimulationReport(stations=2, versions=Counter({"1.6": 1, "2.0.1": 1}))
    assert "SENDs" not in without.table()
    with21 = SimulationReport(stations=1, versions=Counter({"2.1": 1}))
    assert "SENDs (never answered)         0" in with21.table().splitlines()


def test_the_command_takes_the_stream_for_21_and_refuses_it_alone_for_201(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--actions NotifyPeriodicEventStream`` was refused as unknown; a fleet of 2.1 takes it,
    one whose 2.0.1 stations would have nothing to send is told so before any starts."""
    url = ["--url", "ws://127.0.0.1:9/ocpp"]  # never reached
    with pytest.raises(SystemExit) as exited:
        main(["simulate", *url, "--version", "2.0.1", "--actions", "NotifyPeriodicEventStream"])
    assert exited.value.code == 2
    assert "nothing the OCPP 2.0.1 stations send" in capsys.readouterr().err

    async def serving() -> int:
        server = await serve({"ocpp2.1": DemoChargeSystem21()})
        try:
            common = ["simulate", "--url", f"ws://127.0.0.1:{server.port}/ocpp"]
            flags = ["--chargers", "2", "--interval", "0.01", "--duration", "0.5", "--json"]
            stream = ["--version", "2.1", "--actions", "NotifyPeriodicEventStream"]
            return await asyncio.to_thread(main, [*common, *flags, *stream])
        finally:
            await server.close()

    assert asyncio.run(serving()) == 0
    said = json.loads(capsys.readouterr().out)
    assert said["ok"] and said["sends"] > 0 and said["errors"] == {}, said
