"""``bwsim load --processes N``: the calls of one load run spread over N worker processes.

One event loop carries a few hundred real-time streams (benchmarks/README.md); a machine
has several cores. Here each worker is a process of its own (started with the ``spawn``
context: a fresh interpreter, never a fork of a process with a running loop), with its
own event loop, pacer and fake Bandwidth, and its share of the calls and of the
concurrency (split as evenly as possible, :func:`split`).

How the bot reaches one Voice API: the parent process runs the harness as a one-process
run does (the fake Voice API on ``--api-port``, the bot started against it, or a
``--url`` bot checked), with a router in front of the Voice API. Each worker runs its
own fake Voice API on a loopback port and mints call ids that carry its number (``c-``
then two hex digits of the worker number, then the usual random part: still the
documented shape). The router (:class:`CallRouter`, on the routing core it shares with
the Locust router, :mod:`simulator.rest.call_router`) sends every request whose path
names a call (the control API's caller lines too) to the worker that owns the call, and
serves everything else itself (OAuth tokens, requests naming no call or a call nobody
owns: those are journaled by the parent's fake and reported as unattributed). A token
the parent issued is valid at every worker: the router checks it against the parent's
fake and forwards the request with a token each worker was given at start (an invalid
or expired token is forwarded as it came, and refused by the worker).

The parent merges the workers' reports (their call records and raw pacing samples, never
their percentiles) into one :class:`~simulator.runner.load.LoadReport`. A worker that
crashes, stalls (no word for ``stall_s``) or fails is named in the report with its error;
its calls that never reported count as failed. The parent waits on the workers' pipes (a
reader thread each, whose pipe ends when its worker does), never on sleeps; Ctrl-C (or
SIGTERM) in the parent stops every worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import secrets
import signal
import threading
import time
import traceback
import uuid
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

from simulator.call.options import CallOptions
from simulator.call.pacer import quiet_gc, request_realtime
from simulator.protocol.codec import Pcm
from simulator.rest.call_router import Forwarder, Owner, call_id_in, call_tag
from simulator.rest.fake import FakeBandwidth, IssuedToken
from simulator.rest.relay import read_body
from simulator.rest.voice_api import VoiceApiApp
from simulator.runner.harness import Harness
from simulator.runner.lifetime import interrupt_on_termination
from simulator.runner.load import CallRecord, LoadReport, WorkerTiming, loop_factory, place_load
from simulator.runner.targets import BotCredentials, Target, UrlTarget

__all__ = ["CallRouter", "WorkerSpec", "run_load_processes", "split", "worker_call_ids"]


def split(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` shares as even as possible, larger ones first (sum: ``total``)."""
    if parts < 1:
        raise ValueError(f"parts must be at least 1, got {parts}")
    base, extra = divmod(total, parts)
    return [base + (i < extra) for i in range(parts)]


def worker_call_ids(worker: int) -> Callable[[], str]:
    """Call ids for worker ``worker`` (1-255): ``c-`` + its number in 2 hex + 6 random hex."""
    if not 1 <= worker <= 255:
        raise ValueError(f"worker numbers run from 1 to 255, got {worker}")

    def mint() -> str:
        return f"c-{worker:02x}{secrets.token_hex(3)}-{uuid.uuid4()}"

    return mint


def call_owner(call_id: str | None) -> int | None:
    """The worker whose ids look like ``call_id`` (see :func:`worker_call_ids`), if any.

    The routers' one rule (:func:`~simulator.rest.call_router.call_tag`: the owner's mark
    is the id's first field), read as a worker number: the mark's first two hex digits.
    """
    tag = call_tag(call_id)
    return None if tag is None else int(tag[:2], 16)


class CallRouter:
    """ASGI front of the parent's Voice API: a call's requests go to the worker that owns it.

    The owners are the workers started so far (:attr:`workers`); the tokens it replaces
    are the parent's fake's. Requests naming no call, or a call of no started worker, are
    the parent's app's (journaled there, reported as unattributed).
    """

    def __init__(self, worker_token: str) -> None:
        self.worker_token = worker_token
        self.workers: dict[int, str] = {}
        """Worker number → base URL of its fake Voice API (filled as workers start)."""
        self.app: VoiceApiApp | None = None
        self._forwarder = Forwarder()

    def wrap(self, app: VoiceApiApp) -> CallRouter:
        """Route in front of ``app`` (the parent's own Voice API); the Harness's ``front``."""
        self.app = app
        return self

    @property
    def fake(self) -> FakeBandwidth:
        """The parent's fake Bandwidth (its tokens are the ones the bot is given)."""
        assert self.app is not None
        return self.app.fake

    def owner(self, path: str) -> Owner | None:
        """The started worker that owns the call ``path`` names, if any."""
        number = call_owner(call_id_in(path))
        base = self.workers.get(number) if number is not None else None
        return None if base is None else Owner(f"worker {number}", base, self.worker_token)

    def ours(self, token: str) -> bool:
        """Whether ``token`` is one the parent's fake issued (so no worker knows it)."""
        return self.fake.lookup_token(token) is not None

    async def aclose(self) -> None:
        """Close the connections to the workers."""
        await self._forwarder.aclose()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Forward a request naming a worker's call; serve anything else with the app."""
        assert self.app is not None
        owner = self.owner(scope["path"]) if scope["type"] == "http" else None
        if owner is None:
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is not None:
            await self._forwarder.pass_on(owner, scope, body, send, ours=self.ours)


@dataclass
class WorkerSpec:
    """What one worker process needs: its share of the run and where the bot is."""

    worker: int
    bot_url: str
    credentials: BotCredentials
    worker_token: str
    voice: Pcm
    calls: int
    concurrency: int
    first_index: int
    options: CallOptions
    linger_ms: float
    greeting_wait_ms: float
    reply_wait_ms: float
    realtime: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def worker_main(spec: WorkerSpec, conn: multiprocessing.connection.Connection) -> None:
    """A worker process: its own loop and fake, its calls, its report sent to the parent.

    Messages to the parent: ``("ready", pid, api_base)``, one ``("call", record)`` per
    call, then ``("done", report)`` or ``("error", text)``. It waits for ``"go"`` after
    ``ready`` (the parent's router knows it by then). SIGINT is ignored (the parent stops
    the workers with SIGTERM, which ends the run as Ctrl-C would).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if spec.realtime:
        request_realtime()
    try:
        with interrupt_on_termination(), asyncio.Runner(loop_factory=loop_factory()) as runner:
            report = runner.run(_worker_run(spec, conn))
        conn.send(("done", report))
    except KeyboardInterrupt:
        with contextlib.suppress(OSError):
            conn.send(("error", "stopped"))
    except BaseException as exc:  # noqa: BLE001 - everything goes to the parent, named
        with contextlib.suppress(OSError):
            conn.send(("error", _describe(exc)))
    finally:
        conn.close()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {text}{where}"


async def _worker_run(spec: WorkerSpec, conn: multiprocessing.connection.Connection) -> LoadReport:
    harness = Harness(UrlTarget(spec.bot_url), credentials=spec.credentials)
    harness.fake.registry.new_call_id = worker_call_ids(spec.worker)
    account = harness.fake.default_account
    harness.fake.tokens[spec.worker_token] = IssuedToken(
        spec.worker_token, account.client_id, account.account_id, float("inf")
    )
    async with harness as h:
        conn.send(("ready", os.getpid(), h.api_base))
        go = await asyncio.to_thread(conn.recv)
        if go != "go":
            raise RuntimeError(f"the parent sent {go!r} instead of go")
        quiet_gc()

        def sent(record: CallRecord) -> None:
            conn.send(("call", record))

        return await place_load(
            h,
            spec.voice,
            calls=spec.calls,
            concurrency=spec.concurrency,
            options=spec.options,
            linger_ms=spec.linger_ms,
            greeting_wait_ms=spec.greeting_wait_ms,
            reply_wait_ms=spec.reply_wait_ms,
            first_index=spec.first_index,
            worker=spec.worker,
            on_call=sent,
        )


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while workers start: they inherit it, so Ctrl-C reaches the parent only."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: nothing to change
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _exit_text(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


async def run_load_processes(
    target: Target,
    voice: Pcm,
    *,
    processes: int,
    calls: int,
    concurrency: int,
    options: CallOptions | None = None,
    linger_ms: float = 1500.0,
    greeting_wait_ms: float = 5000.0,
    reply_wait_ms: float = 10_000.0,
    api_port: int = 0,
    credentials: BotCredentials | None = None,
    bot_env: dict[str, str] | None = None,
    realtime: bool = False,
    stall_s: float | None = None,
    on_call: Callable[[CallRecord], None] | None = None,
    on_worker: Callable[[int, int], None] | None = None,
) -> LoadReport:
    """Place the calls of a load run from ``processes`` worker processes; one merged report.

    ``processes`` is capped at ``calls`` and ``concurrency`` (a worker with no call to
    place is not started). ``on_worker(number, pid)`` is called as each worker is ready;
    ``on_call`` with each call's record as it arrives. A worker silent for ``stall_s``
    (default: the longest call allowed plus a minute) is stopped and reported as stalled.
    """
    if calls < 1 or concurrency < 1 or processes < 1:
        raise ValueError(
            f"calls, concurrency and processes must be at least 1, got {calls}, "
            f"{concurrency}, {processes}"
        )
    opts = options or CallOptions()
    n = min(processes, calls, concurrency)
    shares, gates = split(calls, n), split(concurrency, n)
    stall = stall_s if stall_s is not None else opts.max_call_s + 60.0
    router = CallRouter(secrets.token_urlsafe(24))
    started = time.monotonic()
    harness = Harness(
        target, api_port=api_port, credentials=credentials, bot_env=bot_env, front=router.wrap
    )
    async with harness as h:
        assert h.bot is not None
        try:
            specs = []
            first = 1
            for i in range(n):
                specs.append(
                    WorkerSpec(
                        worker=i + 1,
                        bot_url=h.bot.base_url,
                        credentials=h.credentials,
                        worker_token=router.worker_token,
                        voice=voice,
                        calls=shares[i],
                        concurrency=gates[i],
                        first_index=first,
                        options=opts,
                        linger_ms=linger_ms,
                        greeting_wait_ms=greeting_wait_ms,
                        reply_wait_ms=reply_wait_ms,
                        realtime=realtime,
                    )
                )
                first += shares[i]
            pool = _Pool(specs, router, stall, on_call, on_worker)
            try:
                parts, failed = await pool.run()
            finally:
                await pool.stop()
        finally:
            await router.aclose()
        mine = {r.call_id for p in parts for r in p.records}
        stray = [
            f"{v.kind}: {v.detail}"
            for v in h.fake.journal.violations
            if v.evidence.get("call_id") not in mine
        ]
    return LoadReport.merge(
        parts,
        calls=calls,
        concurrency=concurrency,
        wall_s=time.monotonic() - started,
        failed=failed,
        unattributed=stray,
    )


class _Pool:
    """The worker processes of one run, and the parent's side of their pipes."""

    def __init__(
        self,
        specs: list[WorkerSpec],
        router: CallRouter,
        stall_s: float,
        on_call: Callable[[CallRecord], None] | None,
        on_worker: Callable[[int, int], None] | None,
    ) -> None:
        self.specs = {s.worker: s for s in specs}
        self.router = router
        self.stall_s = stall_s
        self.on_call = on_call
        self.on_worker = on_worker
        self.procs: dict[int, BaseProcess] = {}
        self.conns: dict[int, multiprocessing.connection.Connection] = {}
        self.inbox: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
        self.readers: list[threading.Thread] = []
        self._loop = asyncio.get_running_loop()

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        with _sigint_ignored():
            for number, spec in self.specs.items():
                parent_end, child_end = ctx.Pipe(duplex=True)
                proc = ctx.Process(
                    target=worker_main,
                    args=(spec, child_end),
                    name=f"bwsim-load-worker-{number}",
                    daemon=True,
                )
                proc.start()
                child_end.close()  # the worker's end is now only the worker's: EOF when it ends
                self.procs[number], self.conns[number] = proc, parent_end
                reader = threading.Thread(
                    target=self._read,
                    args=(number, parent_end),
                    name=f"bwsim-load-reader-{number}",
                    daemon=True,
                )
                reader.start()
                self.readers.append(reader)

    def _read(self, number: int, conn: multiprocessing.connection.Connection) -> None:
        """A thread per worker: its messages into the inbox, then ``exited`` at end of pipe.

        Blocking reads in a thread of their own, because a worker's report can be larger
        than the pipe's buffer: read in the event loop, a half-arrived message would stall
        it (or, on a non-blocking descriptor, be lost).
        """
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                message = ("exited",)
            except Exception as exc:  # noqa: BLE001 - a message that cannot be read is named
                message = ("error", f"its message could not be read: {_describe(exc)}")
            try:
                self._loop.call_soon_threadsafe(self.inbox.put_nowait, (number, message))
            except RuntimeError:  # the loop has closed: nobody is listening any more
                return
            if message[0] in ("exited", "error", "done"):
                return

    async def run(self) -> tuple[list[LoadReport], list[WorkerTiming]]:
        """Start the workers and gather their reports, or what went wrong with each."""
        self._start()
        pending = set(self.specs)
        heard = dict.fromkeys(pending, time.monotonic())
        counted: dict[int, int] = dict.fromkeys(pending, 0)
        parts: list[LoadReport] = []
        failed: list[WorkerTiming] = []

        def fail(number: int, error: str) -> None:
            pending.discard(number)
            spec = self.specs[number]
            failed.append(WorkerTiming(number, spec.calls, array("d"), 0.0, 0.0, error=error))
            self._terminate(number)

        while pending:
            deadline = min(heard[w] for w in pending) + self.stall_s
            try:
                async with asyncio.timeout_at(self._loop.time() + deadline - time.monotonic()):
                    number, message = await self.inbox.get()
            except TimeoutError:
                now = time.monotonic()
                for w in [w for w in pending if now - heard[w] >= self.stall_s]:
                    fail(
                        w,
                        f"stalled: no word for {self.stall_s:g} s after {counted[w]} of "
                        f"{self.specs[w].calls} calls; stopped",
                    )
                continue
            heard[number] = time.monotonic()
            kind, payload = message[0], message[1:]
            if number not in pending:
                continue
            if kind == "ready":
                pid, api_base = payload
                self.router.workers[number] = api_base
                self.conns[number].send("go")
                if self.on_worker is not None:
                    self.on_worker(number, pid)
            elif kind == "call":
                counted[number] += 1
                if self.on_call is not None:
                    self.on_call(payload[0])
            elif kind == "done":
                pending.discard(number)
                parts.append(payload[0])
            elif kind == "error":
                fail(number, f"failed: {payload[0]}")
            else:  # exited without a report
                # The pipe ends as the process exits, a moment before it can be reaped:
                # join (bounded) to read its exit code.
                await asyncio.to_thread(self.procs[number].join, 5.0)
                code = self.procs[number].exitcode
                fail(
                    number,
                    f"crashed ({_exit_text(code)}) after {counted[number]} of "
                    f"{self.specs[number].calls} calls",
                )
        return parts, failed

    def _terminate(self, number: int) -> None:
        proc = self.procs.get(number)
        if proc is not None and proc.is_alive():
            proc.terminate()

    async def stop(self) -> None:
        """Stop every worker still running (SIGTERM, then SIGKILL after 5 s) and close pipes."""
        for number in self.procs:
            self._terminate(number)
        for proc in self.procs.values():
            await asyncio.to_thread(proc.join, 5.0)
            if proc.is_alive():
                proc.kill()
                await asyncio.to_thread(proc.join, 5.0)
        for reader in self.readers:  # each ends at its worker's end of pipe
            await asyncio.to_thread(reader.join, 5.0)
        for conn in self.conns.values():
            conn.close()
