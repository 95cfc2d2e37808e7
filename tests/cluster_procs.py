"""What the cluster tests share: a nats-server, gateway and worker processes (always killed),
stations that answer routed calls with their own identity, and reading the events stream."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from ocpp_fast._machine import free_port
from ocpp_fast.cluster import ClusterConfig, DurableEvent, Names, decode_event
from ocpp_fast.cluster._replies import Requests
from ocpp_fast.cluster._server import NatsServer
from ocpp_fast.dispatch import CallContext
from ocpp_fast.v201 import Charger, enums, messages

__all__ = [
    "IdentityStation",
    "NatsServer",
    "Proc",
    "Procs",
    "cluster_config",
    "read_events",
    "run",
    "until_routed",
]

TESTS = Path(__file__).resolve().parent

_prefixes = itertools.count()


def run(coro: Callable[[], Awaitable[Any]]) -> Any:
    """Run a test's scenario in a loop of its own, 30 s at most."""
    return asyncio.run(asyncio.wait_for(coro(), 30))


async def until_routed(requests: Requests, subject: str) -> None:
    """Wait until a request on ``subject`` through ``requests`` reaches a subscriber.

    nats-server (2.15, under load) may still answer another connection's publish "no
    responders" for some milliseconds after a new subscription was flushed (nats-server
    issue 2876 describes it): a test that subscribes and then counts on the gateway's
    publishes reaching it waits for this first. The probe reaches the subscriber too.
    """
    async with asyncio.timeout(5):
        while True:
            try:
                await requests.request(subject, b"probe", 0.05)
            except NoRespondersError:
                await asyncio.sleep(0.01)
            except NatsTimeout:
                return  # taken, not answered: routed
            else:
                return


def cluster_config(nats_url: str) -> ClusterConfig:
    """A cluster of its own on the shared server: a fresh prefix, stream and bucket."""
    return ClusterConfig(nats_url, Names(prefix=f"t{next(_prefixes)}"))


class IdentityStation(Charger):
    """Answers a DataTransfer with the identity it is connected as: who got the call."""

    def data_transfer(
        self, request: messages.DataTransferRequest, context: CallContext
    ) -> messages.DataTransferResponse:
        return messages.DataTransferResponse(
            status=enums.DataTransferStatusEnumType.ACCEPTED, data=context.identity
        )


class Proc:
    """A child process whose output lines are collected as they come."""

    def __init__(self, argv: list[str]) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), *sys.path]))
        self.popen = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if text in line:
                return line
        raise TimeoutError(f"no {text!r} from {self.popen.args!r}: {''.join(self.seen)[-2000:]}")

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)


class Procs:
    """Gateways and workers of one test, all killed when it ends, whatever happens."""

    def __init__(self, nats_url: str) -> None:
        self.nats_url = nats_url
        self.all: list[Proc] = []

    def gateway(self, *flags: str, wait: bool = True) -> tuple[Proc, int]:
        """A gateway process (``ocpp-fast serve --nats``) on a port of its own."""
        port = free_port()
        command = [sys.executable, "-m", "ocpp_fast.cli", "serve", "--port", str(port)]
        proc = Proc([*command, "--quiet", "--nats", self.nats_url, *flags])
        self.all.append(proc)
        if wait:
            proc.wait_for("gateway ")
        return proc, port

    def worker(self, *specs: str, wait: bool = True) -> Proc:
        """A worker process (``ocpp-fast worker``) running the tests' WorkerCsms by default."""
        command = [sys.executable, "-m", "ocpp_fast.cli", "worker", "--nats", self.nats_url]
        proc = Proc([*command, *(specs or ["cluster_handlers:WorkerCsms"])])
        self.all.append(proc)
        if wait:
            proc.wait_for("worker serving")
        return proc

    def kill_all(self) -> None:
        for proc in self.all:
            proc.kill()


@contextlib.contextmanager
def cluster_processes(nats_url: str) -> Iterator[Procs]:
    procs = Procs(nats_url)
    try:
        yield procs
    finally:
        procs.kill_all()


async def read_events(nats_url: str, names: Names | None = None) -> list[DurableEvent]:
    """Every message of the events stream, in order (an ephemeral consumer from the start)."""
    import nats

    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        names = names or Names()
        info = await js.stream_info(names.stream)
        total = info.state.messages
        subscription = await js.pull_subscribe(names.events(), stream=names.stream)
        found: list[DurableEvent] = []
        while len(found) < total:
            batch = await subscription.fetch(min(500, total - len(found)), timeout=5)
            for msg in batch:
                found.append(decode_event(msg.data))
                await msg.ack()
        return found
    finally:
        await asyncio.wait_for(nc.close(), 5)
