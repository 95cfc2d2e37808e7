"""The saturation benchmark (``make load-saturation``) in small, and its load generator's frames.

The harness runs as ``make load-saturation`` runs it (a subprocess, a real nats-server, the
server pinned to one CPU), one round of a 1 s window with 20 stations: both rows must
measure answers and no CALLERROR. Nothing asserts on timings. The generator's frames are
checked directly: each one a valid 2.0.1 CALL of the mix, numbered, its TransactionEvent's
``seqNo`` counted up and its transaction id the station's own (two stations' stores must
never share a deduplication key, or JetStream would drop one as a duplicate).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import saturation  # noqa: E402  # benchmarks/ is no package: its modules import each other
import saturation_child  # noqa: E402
import saturation_instructions  # noqa: E402
import saturation_perf  # noqa: E402
from bench_harness import run_harness  # noqa: E402

from ocpp_fast import codec, frames, v201  # noqa: E402

HARNESS_TIMEOUT = 120.0
"""Seconds the small run may take (about 15 s here)."""

needs_two_cpus = pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2, reason="the harness pins the server to a CPU of its own"
)


@needs_two_cpus
def test_both_rows_measure_answers_and_no_error(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    argv = [sys.executable, str(BENCHMARKS / "saturation.py"), "--quick", "--window", "1"]
    argv += ["--stations", "21", "--quiet-wait", "0", "--json", str(out), "--handler-first"]
    stdout = run_harness(argv, HARNESS_TIMEOUT, cwd=BENCHMARKS)
    rows = msgspec.json.decode(out.read_bytes(), type=list[saturation.Row])
    layouts = [(row.layout, row.stations) for row in rows]
    assert layouts == [("single", 21), ("gateway-share", 7), ("gateway", 21), ("gateway-first", 21)]
    for row in rows:
        assert row.answered > 0, (row, stdout)
        assert row.errors == 0, (row, stdout)
        assert row.server_cpu > 0, row
    assert all(row.nats_cpu > 0 for row in rows[1:])  # the gateways stored durable CALLs
    assert "a gateway-share with 7 stations delivers " in stdout
    assert "a gateway with 21 stations delivers " in stdout
    assert "a gateway-first with 21 stations delivers " in stdout
    assert "3 x gateway-first vs one process over 1 rounds" in stdout
    (share,) = [line for line in stdout.splitlines() if "3 x gateway-share vs" in line]
    assert "target >= 2.5x: " in share  # the target's row; the others are bounds
    (whole,) = [line for line in stdout.splitlines() if "3 x gateway vs" in line]
    assert whole.endswith("(a bound)")


def frames_of(identity: str, count: int) -> list[bytes]:
    """The first ``count`` frames a station of the generator sends (no connection)."""
    sent: list[bytes] = []

    class Transport:
        def send(self, kind: object, data: bytes) -> None:
            sent.append(data)

    station = saturation_child.Station(
        saturation_child.Generator(), identity, saturation_child.schedules(identity, 7)
    )
    station.transport = Transport()  # type: ignore[assignment]
    for _ in range(count):
        station.send_next()
    return sent


def test_the_generator_sends_valid_numbered_calls_of_the_mix() -> None:
    sent = frames_of("SAT00001", 101)
    calls: list[frames.Call] = []
    for data in sent:
        call = codec.decode_frame(data, v201.VERSION)  # raises if the frame is invalid
        assert isinstance(call, frames.Call), data
        calls.append(call)
    assert [call.message_id for call in calls] == [str(n) for n in range(1, 102)]
    assert calls[0].action == "BootNotification"
    mix_actions = {frame[2] for _, frame in saturation_child.mix()}
    assert {call.action for call in calls} == mix_actions
    shares = {
        action: sum(w for w, f in saturation_child.mix() if f[2] == action)
        for action in mix_actions
    }
    for action, share in shares.items():  # a cycle of 100 after the boot: the mix's weights
        assert sum(call.action == action for call in calls[1:]) == share


def test_transaction_events_count_their_seq_no_with_the_station_s_transaction() -> None:
    def events(identity: str) -> list[tuple[str, int]]:
        out = []
        for data in frames_of(identity, 101):
            frame = msgspec.json.decode(data)
            if frame[2] == "TransactionEvent":
                payload = frame[3]
                out.append((payload["transactionInfo"]["transactionId"], payload["seqNo"]))
        return out

    one, other = events("SAT00001"), events("SAT00002")
    assert {tx for tx, _ in one} == {"SAT00001-tx"}
    assert {tx for tx, _ in other} == {"SAT00002-tx"}
    seq = [n for _, n in one]
    assert seq == sorted(seq) and len(set(seq)) == len(seq)


def test_a_round_is_read_by_cpu_per_message_with_msg_per_s_beside() -> None:
    single = saturation.Row("single", seconds=1.0, answered=10_000, server_cpu=0.99)
    gateway = saturation.Row("gateway", seconds=1.0, answered=7_200, server_cpu=0.93)
    share, how = saturation.gateway_share(single, gateway)
    assert share == pytest.approx(99 / (0.93 / 7_200 * 1e6))  # 99 µs against 129.2
    assert how == "CPU per message at saturation; msg/s here 0.72x"
    gateway.server_cpu = 0.5  # not saturated: 69 µs against 99 µs per message
    share, how = saturation.gateway_share(single, gateway)
    assert share == pytest.approx(99 / (0.5 / 7_200 * 1e6))
    assert how == "CPU per message (a row was not saturated)"


PERF_SCRIPT = """\
python  4242
\t          1ab737 Py_TYPE (inlined)
\t          1ab737 _PyObject_Malloc (/usr/lib/libpython3.11.so.1.0)
\t           17397 __pyx_f_Stores_start (/x/_link_bytes_c.cpython-311-x86_64-linux-gnu.so)
\t          158cc7 uv__read (/x/loop.cpython-311-x86_64-linux-gnu.so)

python  4242
\t           2e3c0 __pyx_f_Stores_start (/x/_link_bytes_c.cpython-311-x86_64-linux-gnu.so)
\t          158cc7 uv__read (/x/loop.cpython-311-x86_64-linux-gnu.so)
"""


def test_a_profile_counts_each_frame_once_a_sample_and_an_inlined_leaf_in_its_caller() -> None:
    samples = list(saturation_perf.parse(PERF_SCRIPT))
    assert samples[0][0] == ("Py_TYPE", "inlined")
    inclusive, own, count = saturation_perf.shares(samples)
    assert count == 2
    assert inclusive["_link_bytes_c: __pyx_f_Stores_start"] == 2
    assert inclusive["loop: uv__read"] == 2
    assert inclusive["libpython3.11: _PyObject_Malloc"] == 1
    assert own == {
        "libpython3.11: _PyObject_Malloc < __pyx_f_Stores_start": 1,
        "_link_bytes_c: __pyx_f_Stores_start < uv__read": 1,
    }


@pytest.mark.skipif(shutil.which("gdb") is None, reason="no gdb (make test installs it as root)")
def test_the_type_cache_harness_counts_misses_and_answers() -> None:
    """``type_cache_misses.py`` in small (one process, 5 stations, gdb attached 1 s): the
    window's answers counted and the misses said per message, or, where gdb may not attach
    or the interpreter has no symbols, said so (exit status 3) rather than a count of
    nothing."""
    argv = [sys.executable, str(BENCHMARKS / "type_cache_misses.py"), "--single"]
    argv += ["--stations", "5", "--seconds", "1"]
    done = subprocess.run(argv, cwd=BENCHMARKS, capture_output=True, text=True, timeout=120)
    if done.returncode == 3:
        assert done.stdout.strip().splitlines()[-1].startswith("not measured: "), done.stdout
        return
    assert done.returncode == 0, (done.stdout, done.stderr)
    counted = re.search(r"one process, 5 stations: (\d+) answers while gdb watched", done.stdout)
    assert counted is not None and int(counted.group(1)) > 0, done.stdout
    assert re.search(r"\n\d+ type-cache misses, [0-9.]+ a message\n", done.stdout), done.stdout


def test_a_callgrind_dump_s_totals_are_read_by_their_event_s_name(tmp_path: Path) -> None:
    """``saturation_instructions.py`` divides a dump's totals by the window's answers: each
    event's total read by its name, from ``summary:`` or ``totals:``, whichever the dump has
    (callgrind writes ``summary:`` once per dump part; a cache simulation adds events)."""
    dump = tmp_path / "callgrind.1.1"
    dump.write_text("version: 1\nevents: Ir Dr DLmr\nfn=(1) f\n3 5 6 7\nsummary: 900 80 7\n")
    totals = saturation_instructions.read_totals(dump)
    assert totals == {"Ir": 900, "Dr": 80, "DLmr": 7}
    dump.write_text("events: Ir\ntotals: 1234\n")
    assert saturation_instructions.read_totals(dump) == {"Ir": 1234}
    count = saturation_instructions.Count(totals, answered=300, errors=0, seconds=1.0, dump=dump)
    assert (count.per_message("Ir"), count.per_message("ILmr")) == (3.0, 0.0)
