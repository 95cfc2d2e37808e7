"""The demo's 1.6 transaction ids: each process (a cluster's worker) starts at a random id, so
that two workers do not give two stations the same one, as each counting from 1 did."""

from __future__ import annotations

import secrets
import subprocess
import sys

import pytest

from ocpp_fast import demo
from ocpp_fast.demo import DemoChargeSystem16, _TransactionIds
from ocpp_fast.v16 import messages

_FIRST_ID = """
import datetime
from ocpp_fast.demo import DemoChargeSystem16
from ocpp_fast.v16 import messages
start = messages.StartTransactionRequest(
    connector_id=1, id_tag="T", meter_start=0, timestamp=datetime.datetime.now(datetime.UTC)
)
print(DemoChargeSystem16().default_start_transaction(start).transaction_id)
"""


def test_two_processes_give_different_transaction_ids() -> None:
    """Two worker processes of the demo app: their first ids differ (each process counted from
    1: two stations, one on each worker, both had transaction 1)."""
    firsts = [
        int(
            subprocess.run(
                [sys.executable, "-c", _FIRST_ID], capture_output=True, check=True, text=True
            ).stdout
        )
        for _ in range(2)
    ]
    assert firsts[0] != firsts[1], firsts
    assert all(1 <= first <= 2**31 - 1 for first in firsts), firsts


def test_ids_count_up_within_int32_and_wrap_to_1(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process counts up from its start, and past the largest 32-bit id goes on at 1, never 0
    nor a negative id (which a 1.6 station stores in a signed 32-bit integer)."""
    monkeypatch.setattr(secrets, "randbelow", lambda below: below - 2)  # the top but one
    ids = _TransactionIds()
    assert [next(ids) for _ in range(4)] == [2**31 - 2, 2**31 - 1, 1, 2]


def test_the_demo_answers_its_ids_in_order() -> None:
    csms = DemoChargeSystem16()
    start = messages.StartTransactionRequest(
        connector_id=1, id_tag="T", meter_start=0, timestamp=demo._now()
    )
    first = csms.default_start_transaction(start).transaction_id
    second = csms.default_start_transaction(start).transaction_id
    assert second == (first % (2**31 - 1)) + 1
