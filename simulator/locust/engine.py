"""The asyncio side of a Locust worker: one fake Bandwidth that places whole calls.

Locust runs its users on gevent; bwsim's calls run on asyncio. Each Locust worker process
therefore holds one :class:`CallEngine`: a fake Bandwidth (its Voice API served on a real
uvicorn) and the call machinery of ``bwsim load``, on one asyncio loop that runs in a real
OS thread (:class:`LoopThread`). The user greenlets hand it calls and wait for the
:class:`CallReport` of each. Nothing here imports gevent or Locust, so the engine is plain
asyncio code, testable on its own.

Every call id the engine mints carries the engine's ``tag`` in its first field
(``c-<tag>-<uuid4>``, the shape of Bandwidth's ids), so the router
(:mod:`simulator.locust.router`) can send each Voice API request of the bot to the worker
that owns the call.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from simulator.call.live import Caller
from simulator.call.options import CallOptions
from simulator.call.result import CallResult
from simulator.call.session import CallSession
from simulator.judge.verdicts import call_problems
from simulator.protocol.ids import CALL_ID_RE, STREAM_ID_RE
from simulator.rest.fake import FakeBandwidth
from simulator.rest.voice_api import VoiceApiApp
from simulator.runner.bot_env import BotCredentials
from simulator.runner.servers import RunningServer, serve

__all__ = [
    "REFUSED_PAUSE_S",
    "CallEngine",
    "CallReport",
    "EngineSettings",
    "Health",
    "LoopThread",
    "Sample",
    "failure_reason",
    "judge_health",
    "new_tag",
    "pause_after",
    "report_call",
    "router_base_url",
]

T = TypeVar("T")


def new_tag() -> str:
    """A worker's tag: the 8 hex digits every call id it mints starts with."""
    return secrets.token_hex(4)


@dataclass(frozen=True)
class Sample:
    """One figure of a call, as Locust will record it (``name``, milliseconds, failure)."""

    name: str
    ms: float
    failure: str | None = None


@dataclass
class CallReport:
    """What one call gave: its samples and the pacing of the frames the engine sent."""

    call_id: str
    samples: list[Sample]
    problems: list[str]
    lateness_ms: list[float] = field(default_factory=list, repr=False)


_IDS = re.compile(rf"{CALL_ID_RE.pattern}|{STREAM_ID_RE.pattern}")
_WHEN = re.compile(r"\bat \d+(\.\d+)? ms")
_HEARD = re.compile(r"\b\d+(\.\d+)? ms of its audio")


REFUSED_PAUSE_S = 1.0
"""How long a user waits after a call that never got its media stream, before the next."""


def pause_after(report: CallReport) -> float:
    """The user's pause before its next call: none, or 1 s after a call with no stream.

    Calls follow each other at once, as a load test wants. A call that never got a media
    stream (the bot refused the webhook, answered no ``<StartStream>``, or is down) ends in
    milliseconds, so without a pause a misconfigured run floods the bot with refused
    calls (thousands a second, seen with the webhook credentials unset).
    """
    return 0.0 if any(s.name == "setup" for s in report.samples) else REFUSED_PAUSE_S


def failure_reason(problems: list[str]) -> str:
    """The failure Locust shows for a call: bwsim's first problem, ids left out.

    Locust's failure table groups by this text, so what differs on every call is left
    out: call and stream ids read ``{callId}``/``{streamId}``, and the moment a thing
    happened in the call (``at 2140 ms``) reads ``at … ms``. One reason is one row.
    """
    first = _IDS.sub(lambda m: "{callId}" if m[0].startswith("c-") else "{streamId}", problems[0])
    first = _HEARD.sub("… ms of its audio", _WHEN.sub("at … ms", first))
    more = len(problems) - 1
    return first[:300] + (f" (and {more} more)" if more else "")


def _first(result: CallResult, kinds: tuple[str, ...]) -> float | None:
    times = [e.at_ms for e in result.recorder.timeline if e.kind in kinds]
    return min(times) if times else None


def _last(result: CallResult, kind: str) -> float | None:
    times = [e.at_ms for e in result.recorder.timeline if e.kind == kind]
    return max(times) if times else None


def report_call(result: CallResult, duration_ms: float) -> CallReport:
    """The Locust samples of one finished call (see :mod:`simulator.locust` for each name).

    ``call`` fails with bwsim's reason (a rule broken, an orphaned leg, no answer, a
    webhook error) exactly when ``bwsim load`` would fail the call. ``setup``,
    ``first_audio``, ``response``, ``clear`` and ``hangup`` are recorded when the call
    has them; a figure the call never reached is no sample (the ``call`` failure says why).
    """
    problems = call_problems(result, stream=True, metrics=True)
    samples = [Sample("call", duration_ms, failure_reason(problems) if problems else None)]
    m = result.metrics
    if m.stream_opened_at_ms is not None:
        samples.append(Sample("setup", m.stream_opened_at_ms))
    if m.first_audio_ms is not None:
        samples.append(Sample("first_audio", m.first_audio_ms))
    samples += [Sample("response", ms) for ms in m.response_latencies]
    samples += [Sample("clear", ms) for ms in m.clear_latencies]
    hung_up = _first(result, ("stop-sent", "hangup-request"))
    closed = _last(result, "ws-closed")
    if hung_up is not None and closed is not None and closed >= hung_up:
        samples.append(Sample("hangup", closed - hung_up))
    lateness = [ms for s in result.streams for ms in s.lateness_ms]
    return CallReport(result.call_id, samples, problems, lateness)


@dataclass(frozen=True)
class Health:
    """One interval of a worker's own timing, and whether its figures can be trusted."""

    pacing_p99_ms: float | None
    """99th percentile of how late the caller's frames went out (None: no frame ended)."""
    cpu_percent: float
    reasons: list[str]

    @property
    def overloaded(self) -> bool:
        """The worker was past its capacity: its latencies measure itself, not the bot."""
        return bool(self.reasons)

    @property
    def reason(self) -> str:
        """What was over budget, in one line."""
        return "; ".join(self.reasons)


def judge_health(
    lateness_ms: list[float], cpu_percent: float, *, pacing_budget_ms: float, cpu_budget: float
) -> Health:
    """Judge one interval: pacing p99 over ``pacing_budget_ms`` or CPU over ``cpu_budget``.

    ``cpu_percent`` is the worker process's CPU over the interval in percent of one core
    (its asyncio loop, which sends every frame, runs on one core at a time).
    """
    p99 = None
    reasons = []
    if lateness_ms:
        ordered = sorted(lateness_ms)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        if p99 > pacing_budget_ms:
            reasons.append(f"pacing p99 {p99:.1f} ms is over the {pacing_budget_ms:g} ms budget")
    if cpu_percent > cpu_budget:
        reasons.append(f"CPU {cpu_percent:.0f}% of a core is over the {cpu_budget:g}% budget")
    return Health(p99, cpu_percent, reasons)


def router_base_url(url: str) -> str:
    """``--bwsim-router`` as the router's base URL; a ValueError says what to give instead.

    Workers register at a fixed path under the router's address, so a URL with a path of
    its own (the bot's ``…/api/v2`` or ``…/_bwsim``, copied by mistake) would reach the
    router as a Voice API request and be refused for a reason that does not name the URL.
    """
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"--bwsim-router {url!r} is not a URL: give the router's address, "
            "http://HOST:PORT (what python -m simulator.locust.router printed)"
        )
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ValueError(
            f"--bwsim-router {url!r} has a path: give the router's address alone, "
            f"{parts.scheme}://{parts.netloc} (the bot's URLs add /api/v2 and /_bwsim to it; "
            "the workers add nothing)"
        )
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class EngineSettings:
    """Where a worker's fake Bandwidth listens and what it shares with the bot."""

    credentials: BotCredentials
    api_host: str = "127.0.0.1"
    api_port: int = 0
    tag: str = field(default_factory=new_tag)


class CallEngine:
    """A fake Bandwidth serving its Voice API, placing whole calls to one bot.

    Run :meth:`start`, :meth:`place` and :meth:`stop` on the engine's own loop.
    """

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = s = settings
        self.fake = FakeBandwidth()
        account = self.fake.default_account
        account.client_id = s.credentials.client_id
        account.client_secret = s.credentials.client_secret
        registry = self.fake.registry
        if s.credentials.account_id and s.credentials.account_id != account.account_id:
            registry.accounts.pop(account.account_id, None)
            account.account_id = s.credentials.account_id
            registry.accounts[account.account_id] = account
        if s.credentials.application_id:
            account.application_id = s.credentials.application_id
        self.app = VoiceApiApp(self.fake)
        self.app.control_token = s.credentials.control_token
        self._server: Any = None
        self.api: RunningServer | None = None
        self._http: httpx.AsyncClient | None = None

    @property
    def api_base(self) -> str:
        """Where this worker's fake Voice API listens (``http://HOST:PORT``)."""
        if self.api is None:
            raise RuntimeError("the engine is not started")
        return self.api.base_url

    def router_token(self) -> str:
        """A token of this fake's account, for the router to use on the bot's behalf."""
        return self.fake.issue_token(self.fake.default_account).token

    async def start(self) -> None:
        """Serve the fake's Voice API on ``api_host:api_port``; make the webhooks' client.

        Every call's webhooks go through one HTTP client: making one costs 25-60 ms of
        the loop (its TLS context), which would hold every other call's frames that long
        each time a call starts (measured: pacing p99 30-70 ms at 10 calls, one process).
        """
        self._http = httpx.AsyncClient(
            trust_env=False,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
        )
        self._server = serve(self.app, host=self.settings.api_host, port=self.settings.api_port)
        self.api = await self._server.__aenter__()

    async def stop(self) -> None:
        """Stop serving; close the webhooks' client."""
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()
        if self._server is not None:
            server, self._server = self._server, None
            await server.__aexit__(None, None, None)

    async def place(self, bot_url: str, caller: Caller, *, max_call_s: float) -> CallReport:
        """Place one inbound call to the bot at ``bot_url``, run it to its end, report it.

        ``caller`` is the caller's script (:func:`simulator.runner.load.load_caller`).
        """
        s = self.settings
        creds = s.credentials
        opts = CallOptions(
            max_call_s=max_call_s,
            # Without them (unset where Locust runs), Bandwidth's flow still: a bot that
            # asks for credentials fails the call with an error naming what to export.
            webhook_username=creds.webhook_username or None,
            webhook_password=creds.webhook_password if creds.webhook_username else None,
            auth_mode="challenge",
        )
        account = self.fake.default_account
        call = self.fake.registry.create_call(
            account.account_id,
            from_=opts.from_,
            to=opts.to,
            call_id=f"c-{s.tag}-{uuid.uuid4()}",
        )
        session = CallSession(
            self.fake, bot_url, options=opts, caller=caller, call=call, client=self._http
        )
        t0 = time.monotonic()
        result = await session.run()
        report = report_call(result, (time.monotonic() - t0) * 1000)
        self.fake.registry.calls.pop(call.call_id, None)  # a long run keeps no ended calls
        return report


class LoopThread:
    """One asyncio loop running forever in a real OS thread.

    ``start_thread`` starts a real thread running its argument (under gevent, the
    unpatched ``_thread.start_new_thread``: a greenlet would block the whole hub).
    """

    def __init__(
        self,
        start_thread: Callable[[Callable[[], None]], object],
        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
    ) -> None:
        self.loop = (loop_factory or asyncio.new_event_loop)()
        self._start_thread = start_thread
        self.thread_id: int | None = None

    def start(self) -> None:
        """Run the loop in its thread."""
        self._start_thread(self._run)

    def _run(self) -> None:
        self.thread_id = threading.get_ident()
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def submit(
        self, coro: Coroutine[Any, Any, T], done: Callable[[asyncio.Task[T]], None]
    ) -> Callable[[], None]:
        """Run ``coro`` on the loop; ``done(task)`` is called in the loop's thread.

        Returns a function that cancels the task (safe to call from any thread).
        """
        holder: list[asyncio.Task[T]] = []

        def begin() -> None:
            task = self.loop.create_task(coro)
            holder.append(task)
            task.add_done_callback(done)

        def cancel() -> None:
            if holder:
                holder[0].cancel()

        def cancel_soon() -> None:
            self.loop.call_soon_threadsafe(cancel)

        self.loop.call_soon_threadsafe(begin)
        return cancel_soon

    def stop(self) -> None:
        """Stop the loop (its thread then ends); safe to call from any thread."""
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
