"""The Locust user that places whole Bandwidth calls, and the hooks that run its engine.

Importing this module imports Locust, which monkey-patches the standard library for
gevent: only a locustfile imports it (``from simulator.locust import BandwidthCallUser``).

Each worker process (or a single-process run) starts one :class:`CallEngine` when Locust
initialises it: a fake Bandwidth on an asyncio loop in a real OS thread (started with the
unpatched ``_thread.start_new_thread``; a greenlet running the loop would block the hub).
A user's task hands the engine one call and waits on a gevent ``AsyncResult`` that the
loop's thread wakes through the hub's thread-safe ``async_`` watcher, so the hub keeps
running every other user meanwhile. Each finished call becomes Locust samples
(``request_type`` ``bwsim``): ``call``, ``setup``, ``first_audio``, ``response``,
``clear``, ``hangup``.

Every ``--bwsim-health-interval-s`` each worker reports its own timing health as samples
of ``request_type`` ``bwsim-health``: ``pacing_p99`` (the 99th percentile of how late the
caller's 20 ms frames went out, in ms, over the calls that ended in that interval) and
``cpu_percent`` (the worker process's CPU over the interval, in percent of one core,
recorded in the "ms" columns). A worker past its budget (``--bwsim-pacing-budget-ms``,
``--bwsim-cpu-budget``) logs a warning and records the sample as the failure
``generator overloaded: …``: the bot's latencies measured in that interval are not to be
trusted, and the bot is not to blame.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import gevent
import gevent.event
import httpx
import locust
import locust.stats
from gevent import monkey
from gevent.event import AsyncResult
from locust import User, events, task
from locust.env import Environment
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

from simulator.call.audio_files import load_caller_audio
from simulator.call.pacer import quiet_gc
from simulator.errors import ConfigError
from simulator.locust.engine import (
    CallEngine,
    CallReport,
    EngineSettings,
    LoopThread,
    judge_health,
    pause_after,
    router_base_url,
)
from simulator.locust.router import Router, WorkerEntry, register_worker
from simulator.protocol.codec import Pcm
from simulator.rest.control_guard import TOKEN_VAR
from simulator.runner.bot_env import NO_WEBHOOK_CREDENTIALS, BotCredentials
from simulator.runner.load import load_caller, loop_factory
from simulator.runner.servers import RunningServer, serve
from simulator.suite import AUDIO_DIR

__all__ = ["BandwidthCallUser", "CallFailed", "GeneratorOverloaded"]

_log = logging.getLogger("bwsim.locust")
T = TypeVar("T")
REQUEST_TYPE = "bwsim"
HEALTH_TYPE = "bwsim-health"
DRAIN, DRAINED = "bwsim_drain", "bwsim_drained"
ENGINE_START_S = 30.0
DEFAULT_AUDIO = AUDIO_DIR / "question.wav"


class CallFailed(Exception):
    """A call bwsim judged failed; the message is bwsim's reason."""


class GeneratorOverloaded(Exception):
    """A worker could not hold its own timing: its figures are not the bot's."""


def _start_real_thread(run: Callable[[], None]) -> object:
    start_new_thread = monkey.get_original("_thread", "start_new_thread")
    return start_new_thread(run, ())


class _WorkerState:
    """What one worker process holds: its loop thread, engine, router and health window."""

    def __init__(self) -> None:
        self.loop: LoopThread | None = None
        self.engine: CallEngine | None = None
        self.router: Any = None
        self.router_api: RunningServer | None = None
        self.voice: Pcm | None = None
        self.voice_source: tuple[str, str] | None = None
        self.lateness: list[float] = []
        self.health: gevent.Greenlet | None = None
        self.health_mark = (0.0, 0.0)
        """Wall clock and process CPU time at the last health report."""
        self.draining: set[str] = set()
        self.drain_until = 0.0
        """When the master stops waiting for the workers' last calls (monotonic clock)."""
        self.drained = gevent.event.Event()
        self.ready = gevent.event.Event()
        """Set once the engine serves (and has registered): the users wait for it."""

    def ensure_loop(self) -> LoopThread:
        if self.loop is None:
            self.loop = LoopThread(_start_real_thread, loop_factory())
            self.loop.start()
        return self.loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the engine's loop; wait for it without blocking the gevent hub."""
        loop = self.ensure_loop()
        hub = gevent.get_hub()
        watcher = hub.loop.async_()
        woken: AsyncResult = AsyncResult()
        finished: list[asyncio.Task[T]] = []

        def done(task: asyncio.Task[T]) -> None:  # in the loop's thread
            finished.append(task)
            watcher.send()

        watcher.start(lambda: woken.set(True))
        cancel = loop.submit(coro, done)
        try:
            woken.get()
        except BaseException:
            cancel()  # the greenlet was killed (the run stops): end the call too
            raise
        finally:
            watcher.close()
        return finished[0].result()


_STATE = _WorkerState()


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    group = parser.add_argument_group("bwsim", "Whole Bandwidth calls placed by bwsim")

    def add(name: str, **kw: Any) -> None:
        env = "BWSIM_" + name.removeprefix("--bwsim-").replace("-", "_").upper()
        group.add_argument(name, env_var=env, **kw)

    add("--bwsim-audio", default=str(DEFAULT_AUDIO), help="caller audio file (every worker)")
    add("--bwsim-archive", default="", help="a call archive: its caller audio is said instead")
    add("--bwsim-linger-ms", type=float, default=1500.0, help="quiet after the answer → hang up")
    add("--bwsim-greeting-wait-ms", type=float, default=5000.0, help="wait for the greeting")
    add("--bwsim-reply-wait-ms", type=float, default=10_000.0, help="wait for each answer")
    add("--bwsim-max-call-s", type=float, default=60.0, help="longest call")
    add("--bwsim-api-host", default="127.0.0.1", help="this worker's fake Voice API address")
    add("--bwsim-api-port", type=int, default=0, help="its port (0: any free one)")
    add("--bwsim-advertise-url", default="", help="URL the router reaches this worker's fake at")
    add("--bwsim-router", default="", help="router URL this worker registers with")
    add("--bwsim-router-host", default="127.0.0.1", help="master: the router's address")
    add("--bwsim-router-port", type=int, default=-1, help="master: run the router on this port")
    add("--bwsim-pacing-budget-ms", type=float, default=5.0, help="pacing p99 budget")
    add("--bwsim-cpu-budget", type=float, default=90.0, help="CPU budget, %% of one core")
    add("--bwsim-health-interval-s", type=float, default=5.0, help="health report interval")


def _fail(message: str) -> None:
    """Say what to do and exit 2.

    A worker does not send Locust's ``quit`` first: the master would drop it and, headless
    with ``--expect-workers``, wait for another worker forever; unannounced, it learns of
    the exit from missed heartbeats, runs on and ends at ``--run-time`` (see
    :func:`_drain_workers`).
    """
    _log.error("bwsim: error: %s", message)
    raise SystemExit(2)


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    opts = environment.parsed_options
    if opts is None:
        return
    runner = environment.runner
    if opts.bwsim_router_port >= 0 and not isinstance(runner, WorkerRunner):
        _start_router(opts)
    if isinstance(runner, MasterRunner):
        runner.register_message(DRAINED, _on_drained)
        environment.events.test_stopping.add_listener(lambda **_: _drain_workers(environment))
        return
    if isinstance(runner, WorkerRunner):
        runner.register_message(DRAIN, _on_drain, concurrent=True)
    _start_engine(environment, opts)


def _drain_workers(environment: Environment) -> None:
    """Master: let every worker finish its calls in flight and report them, then go on.

    A headless master quits at ``--run-time`` and waits only half a second for the
    workers' last statistics, so the calls still running would never be samples. Each
    worker is asked to stop its users (a user ends its call first, within
    ``--stop-timeout``), to send its statistics, then to say so; the master waits for
    all of them (at most ``--stop-timeout`` + 30 s, and not for a worker that has quit or
    gone missing) before it quits and writes its report.
    """
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return
    if not _STATE.draining:  # else a stop came during a drain (the run time ended): join it
        _STATE.draining = _connected(runner)
        if not _STATE.draining:
            return
        _STATE.drained.clear()
        _STATE.drain_until = time.monotonic() + environment.stop_timeout + 30
        runner.send_message(DRAIN)
    # A worker that quits or goes missing (it failed to start, or died) reports nothing more:
    # waiting on it would hold the master for the whole timeout, each time it stops.
    while _STATE.draining and time.monotonic() < _STATE.drain_until:
        _STATE.drained.wait(timeout=1.0)
        _STATE.draining &= _connected(runner)
    if _STATE.draining:
        _log.warning("bwsim: workers %s did not report their last calls", sorted(_STATE.draining))
        _STATE.draining = set()
    _let_csv_catch_up(environment)


def _connected(runner: MasterRunner) -> set[str]:
    """The workers connected to the master and not missing (they can still report)."""
    return {client.id for client in runner.clients.all if client.state != STATE_MISSING}


def _let_csv_catch_up(environment: Environment) -> None:
    """Give Locust's ``--csv`` writer one more pass, so the last calls are in the files.

    The writer rewrites the files every ``CSV_STATS_INTERVAL_SEC`` and is never asked for
    a last pass when Locust exits: calls that ended in the last second would be missing.
    """
    opts = environment.parsed_options
    if opts is not None and getattr(opts, "csv_prefix", None):
        gevent.sleep(locust.stats.CSV_STATS_INTERVAL_SEC + 0.25)


def _on_drained(environment: Environment, msg: Any, **_: Any) -> None:
    _STATE.draining.discard(msg.node_id)
    if not _STATE.draining:
        _STATE.drained.set()


def _on_drain(environment: Environment, msg: Any, **_: Any) -> None:
    runner = environment.runner
    assert runner is not None
    runner.stop()  # each user ends the call it is in (within --stop-timeout), then stops
    send_stats = getattr(runner, "_send_stats", None)  # Locust's own final report, sent now
    if callable(send_stats):
        send_stats()
    runner.send_message(DRAINED)


def _credentials() -> BotCredentials:
    creds = BotCredentials.from_environment()
    if creds is None:
        _fail(
            "set BANDWIDTH_CLIENT_ID and BANDWIDTH_CLIENT_SECRET (and the webhook credentials "
            f"and {TOKEN_VAR}) to the values the bot was started with, on every machine"
        )
        raise AssertionError  # not reached
    if not creds.webhook_username:
        _log.warning("bwsim: %s", NO_WEBHOOK_CREDENTIALS)
    return creds


def _start_router(opts: Any) -> None:
    token = os.environ.get(TOKEN_VAR)
    if not token:
        _fail(f"--bwsim-router-port needs {TOKEN_VAR}: the workers register with it")
    router = Router(str(token))
    _STATE.router = router
    host, port = opts.bwsim_router_host, opts.bwsim_router_port

    async def start() -> RunningServer:
        server = serve(router, host=host, port=port)
        _STATE.router = (router, server)
        return await server.__aenter__()

    _STATE.router_api = api = _STATE.run(start())
    # Printed (not logged) so scripts and tests can read the address on standard output.
    print(f"bwsim router: listening on {api.base_url}", flush=True)


def _start_engine(environment: Environment, opts: Any) -> None:
    # httpx logs every request at INFO: at hundreds of calls that drowns Locust's own log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    creds = _credentials()
    settings = EngineSettings(
        credentials=creds, api_host=opts.bwsim_api_host, api_port=opts.bwsim_api_port
    )
    engine = CallEngine(settings)
    _STATE.run(engine.start())
    _STATE.engine = engine
    router_url = opts.bwsim_router or (
        _STATE.router_api.base_url if _STATE.router_api is not None else ""
    )
    advertised = opts.bwsim_advertise_url or engine.api_base
    _log.info("bwsim: worker %s: fake Voice API at %s", settings.tag, advertised)
    if router_url:
        _register(router_url, WorkerEntry(settings.tag, advertised, engine.router_token()))
    elif isinstance(environment.runner, WorkerRunner):
        # Its calls still pass when the bot only answers them, so say it before they do.
        _log.warning(
            "bwsim: worker %s has no --bwsim-router: the bot's Voice API and control requests "
            "about its calls reach it only if the bot points straight at %s; give every "
            "worker --bwsim-router http://ROUTER:PORT",
            settings.tag,
            advertised,
        )
    quiet_gc()  # as bwsim load does once it is up: no full collection stops every stream
    _STATE.ready.set()


def _register(router_url: str, entry: WorkerEntry) -> None:
    """Register this worker with the router, or end it saying what to do (exit 2)."""
    try:
        router_url = router_base_url(router_url)
    except ValueError as exc:
        _fail(str(exc))
    token = os.environ.get(TOKEN_VAR)
    if not token:
        _fail(
            f"--bwsim-router needs {TOKEN_VAR}, the value the router was started with: "
            "the worker registers with it"
        )
    try:
        _STATE.run(register_worker(router_url, str(token), entry))
    except (httpx.ConnectError, httpx.ConnectTimeout, ConnectionRefusedError) as exc:
        _fail(
            f"nothing answers at --bwsim-router {router_url} ({exc}): start the router first "
            "(python -m simulator.locust.router, or --bwsim-router-port on the master), "
            "then the workers"
        )
    except RuntimeError as exc:  # the router (or whatever listens there) refused
        _fail(str(exc))
    except (OSError, httpx.HTTPError) as exc:
        _fail(f"could not register with the router at {router_url}: {exc}")


# Registered at import, not once the engine is up: a worker is connected (and may be sent
# its users, which fires test_start) while its engine is still starting.
@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    if not isinstance(environment.runner, MasterRunner):
        _start_health(environment)


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_: Any) -> None:
    if not isinstance(environment.runner, MasterRunner):
        _stop_health(environment)


def _voice(opts: Any) -> Pcm:
    """The caller's audio, read once per file (the master's options reach workers late)."""
    source = (opts.bwsim_archive, opts.bwsim_audio)
    if _STATE.voice_source != source:
        _STATE.voice, _STATE.voice_source = None, source
        try:
            if opts.bwsim_archive:
                from simulator.archive import CallArchive, caller_audio  # noqa: PLC0415

                _STATE.voice = caller_audio(CallArchive.load(opts.bwsim_archive))
            else:
                _STATE.voice = load_caller_audio(Path(opts.bwsim_audio))
        except ConfigError as exc:
            _fail(str(exc))
    assert _STATE.voice is not None
    return _STATE.voice


def _start_health(environment: Environment) -> None:
    if _STATE.health is None:
        _STATE.health_mark = (time.monotonic(), time.process_time())
        _STATE.lateness = []
        _STATE.health = gevent.spawn(_health_loop, environment)


def _stop_health(environment: Environment | None = None) -> None:
    """Stop the interval reports; with ``environment``, report the last part interval."""
    if _STATE.health is not None:
        _STATE.health.kill(block=False)
        _STATE.health = None
        if environment is not None:
            _health_tick(environment)  # the calls that ended since the last report


def _health_loop(environment: Environment) -> None:
    opts = environment.parsed_options
    assert opts is not None
    while True:
        gevent.sleep(float(opts.bwsim_health_interval_s))
        _health_tick(environment)


def _health_tick(environment: Environment) -> None:
    wall, cpu = _STATE.health_mark
    now_wall, now_cpu = time.monotonic(), time.process_time()
    _STATE.health_mark = (now_wall, now_cpu)
    window, _STATE.lateness = _STATE.lateness, []
    report_health(environment, window, 100.0 * (now_cpu - cpu) / max(now_wall - wall, 1e-9))


def report_health(environment: Environment, lateness_ms: list[float], cpu_percent: float) -> None:
    """Record one interval's timing health of this worker as ``bwsim-health`` samples."""
    opts = environment.parsed_options
    assert opts is not None
    tag = _STATE.engine.settings.tag if _STATE.engine is not None else "local"
    health = judge_health(
        lateness_ms,
        cpu_percent,
        pacing_budget_ms=opts.bwsim_pacing_budget_ms,
        cpu_budget=opts.bwsim_cpu_budget,
    )
    error = None
    if health.overloaded:
        _log.warning(
            "bwsim: worker %s is past its capacity (%s): its latency figures in this interval "
            "measure the generator, not the bot; run fewer users per worker or more workers",
            tag,
            health.reason,
        )
        error = GeneratorOverloaded(f"generator overloaded: {health.reason}")
    fire = environment.events.request.fire
    if health.pacing_p99_ms is not None:
        fire(
            request_type=HEALTH_TYPE,
            name="pacing_p99",
            response_time=health.pacing_p99_ms,
            response_length=0,
            exception=error,
        )
    fire(
        request_type=HEALTH_TYPE,
        name="cpu_percent",
        response_time=cpu_percent,
        response_length=0,
        exception=error if health.pacing_p99_ms is None else None,
    )


def _shutdown() -> None:
    _stop_health()
    loop = _STATE.loop
    if loop is None:
        return
    if _STATE.engine is not None:
        engine, _STATE.engine = _STATE.engine, None
        _STATE.run(engine.stop())
    if isinstance(_STATE.router, tuple):
        _, server = _STATE.router
        _STATE.router = None
        _STATE.run(server.__aexit__(None, None, None))
    loop.stop()
    _STATE.loop = None


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    if not isinstance(environment.runner, (MasterRunner, WorkerRunner)):
        _let_csv_catch_up(environment)  # a single-process run: its last calls ended as it stopped
    _shutdown()


class BandwidthCallUser(User):
    """A caller: each task places one whole call, as Bandwidth, to the bot at ``--host``.

    Subclass it in a locustfile (it is abstract, so Locust runs only your subclass); the
    ``--bwsim-*`` options say what the caller says and how long it waits.
    """

    abstract = True
    _pause_s = 0.0

    def wait_time(self) -> float:
        """No pause between calls, but 1 s after a call that got no media stream.

        (:func:`~simulator.locust.engine.pause_after`: a misconfigured run must not flood
        the bot with refused calls.) A subclass may set its own ``wait_time``.
        """
        return self._pause_s

    @task
    def place_call(self) -> None:
        """Place one call and record its samples (see the module docstring)."""
        # A worker may be sent its users while its engine is still starting.
        _STATE.ready.wait(timeout=ENGINE_START_S)
        engine = _STATE.engine
        opts = self.environment.parsed_options
        if engine is None or opts is None:
            raise RuntimeError("bwsim: the engine did not start on this worker (see the log)")
        host = self.host or self.environment.host
        if not host:
            raise RuntimeError("bwsim: give the bot's URL with --host http://HOST:PORT")
        caller = load_caller(
            _voice(opts),
            linger_ms=opts.bwsim_linger_ms,
            greeting_wait_ms=opts.bwsim_greeting_wait_ms,
            reply_wait_ms=opts.bwsim_reply_wait_ms,
        )
        report = _STATE.run(engine.place(str(host), caller, max_call_s=opts.bwsim_max_call_s))
        self._pause_s = pause_after(report)
        self.record(report)

    def record(self, report: CallReport) -> None:
        """Fire one Locust request event per sample of ``report``."""
        _STATE.lateness.extend(report.lateness_ms)
        fire = self.environment.events.request.fire
        for sample in report.samples:
            fire(
                request_type=REQUEST_TYPE,
                name=sample.name,
                response_time=sample.ms,
                response_length=0,
                exception=None if sample.failure is None else CallFailed(sample.failure),
                context={"call_id": report.call_id},
            )
