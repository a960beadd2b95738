"""One fake Bandwidth, served on loopback, with the bot under test started against it.

``Harness`` is the object every front end shares (the CLI commands, the pytest plugin,
the audit): it owns the :class:`~simulator.rest.fake.FakeBandwidth` state, serves the Voice
API on a real uvicorn, starts the target with matching credentials and the request
interception, and gathers violations from every side at the end. With ``log_path`` the bot's
output goes to that file (a report's output folder) instead of a temporary one.

Whatever happens on the way in (a bot that does not start, a cancellation), what was
already started is stopped; on the way out the bot is stopped and the harness's temporary
folder removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from simulator.call.live import Caller
from simulator.call.options import CallOptions
from simulator.call.outbound import OutboundTrigger, run_outbound_call
from simulator.call.result import CallResult
from simulator.call.session import CallSession
from simulator.protocol.create_call import CalleePlan
from simulator.rest.fake import FakeBandwidth, FakeSettings
from simulator.rest.intercept import Interceptor
from simulator.rest.journal import Violation
from simulator.rest.voice_api import VoiceApiApp
from simulator.runner.servers import RunningServer, serve
from simulator.runner.targets import BotCredentials, Launch, RunningBot, Target

__all__ = ["Harness"]


class Harness:
    """Run the fake Bandwidth and (optionally) a bot for the duration of an ``async with``."""

    def __init__(
        self,
        target: Target | None = None,
        *,
        settings: FakeSettings | None = None,
        intercept_in_process: bool = False,
        bot_env: dict[str, str] | None = None,
        startup_timeout_s: float = 30.0,
        api_port: int = 0,
        credentials: BotCredentials | None = None,
        log_path: Path | None = None,
        allow_hosts: Sequence[str] = (),
        front: Callable[[VoiceApiApp], Any] | None = None,
    ) -> None:
        self.api_port = api_port
        self.log_path = log_path
        """Where the bot's output goes (a report's output folder); None: a temporary file."""
        self.allow_hosts = tuple(allow_hosts)
        self.fake = FakeBandwidth(settings=settings or FakeSettings())
        self.app = VoiceApiApp(self.fake)
        self.front = front
        """Wraps the Voice API app before it is served (``bwsim load --processes``: the
        router that sends each call's requests to the worker process that owns the call)."""
        self.target = target
        self.intercept_in_process = intercept_in_process
        self.bot_env = dict(bot_env or {})
        self.startup_timeout_s = startup_timeout_s
        account = self.fake.default_account
        if credentials is not None:
            # A bot started by hand keeps its own secrets and ids: the fake adopts them.
            account.client_id = credentials.client_id
            account.client_secret = credentials.client_secret
            self._adopt_ids(credentials.account_id, credentials.application_id)
            self.credentials = replace(
                credentials,
                account_id=account.account_id,
                application_id=account.application_id,
            )
        else:
            self.credentials = BotCredentials.generate(
                account.client_id,
                account.client_secret,
                account_id=account.account_id,
                application_id=account.application_id,
            )
        self.app.control_token = self.credentials.control_token  # what its bots are given
        self.api: RunningServer | None = None
        self.bot: RunningBot | None = None
        self.interceptor: Interceptor | None = None
        self._stack = contextlib.AsyncExitStack()
        self._tmp: Path | None = None
        self._child_violations_read = 0
        self._dial_lock = asyncio.Lock()

    def _adopt_ids(self, account_id: str, application_id: str) -> None:
        """Give the fake's account the ids a bot started by hand already has (if any)."""
        account = self.fake.default_account
        registry = self.fake.registry
        if account_id and account_id != account.account_id:
            registry.accounts.pop(account.account_id, None)
            account.account_id = account_id
            registry.accounts[account_id] = account
        if application_id:
            account.application_id = application_id

    @property
    def violations_file(self) -> Path:
        """The file the bot's hooks append refused requests to (in a temporary folder).

        The folder is made on first use and removed when the harness stops.
        """
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="bwsim-"))
        return self._tmp / "blocked-requests.jsonl"

    def _remove_tmp(self) -> None:
        """Remove the temporary folder, unless it holds the log of a bot that failed.

        Such a log is kept for the message that names it (the bots' other temporary logs
        are removed as they stop); the folder then stays with that log only.
        """
        if self._tmp is None:
            return
        (self._tmp / "blocked-requests.jsonl").unlink(missing_ok=True)
        if not any(self._tmp.glob("*.log")):
            shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp = None

    @property
    def api_base(self) -> str:
        """Base URL of the fake Voice API (``http://127.0.0.1:PORT``)."""
        if self.api is None:
            raise RuntimeError("the harness is not running: use `async with Harness(...)`")
        return self.api.base_url

    async def __aenter__(self) -> Harness:
        try:
            served = self.app if self.front is None else self.front(self.app)
            self.api = await self._stack.enter_async_context(serve(served, port=self.api_port))
            if self.intercept_in_process:
                self.interceptor = Interceptor(
                    self.api.base_url, on_blocked=self._blocked, allow_hosts=self.allow_hosts
                )
                self.interceptor.install()
                self._stack.callback(self.interceptor.uninstall)
            if self.target is not None:
                launch = Launch(
                    credentials=self.credentials,
                    api_base=self.api.base_url,
                    violations_file=self.violations_file,
                    log_path=self.log_path,
                    extra_env=self.bot_env,
                    startup_timeout_s=self.startup_timeout_s,
                    allow_hosts=self.allow_hosts,
                )
                self.bot = await self.target.start(launch)
                self._stack.push_async_callback(self.bot.stop)
        except BaseException:
            try:
                await self._stack.aclose()
            finally:
                self._remove_tmp()
            raise
        return self

    async def place_call(
        self,
        caller: Caller | None = None,
        *,
        options: CallOptions | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> CallResult:
        """Place one inbound call to the bot and run it to its end.

        The webhook credentials default to the ones the bot was started with. ``caller``
        is the caller's script (see :class:`~simulator.call.live.LiveCall`); without one the
        caller stays silent until the call ends or ``options.max_call_s`` passes.
        ``client`` sends the call's webhooks (a load run shares one: making a client
        holds the loop 25-60 ms, every other call's frames with it); without one the call
        makes its own.
        """
        if self.bot is None:
            raise RuntimeError("no bot: create the Harness with a target to place calls")
        opts = options or CallOptions()
        if (
            opts.webhook_username is None
            and opts.auth_mode != "none"
            and self.credentials.webhook_username  # unset for a bot started by hand: none
        ):
            opts = replace(
                opts,
                webhook_username=self.credentials.webhook_username,
                webhook_password=self.credentials.webhook_password,
            )
        session = CallSession(
            self.fake, self.bot.base_url, options=opts, caller=caller, client=client
        )
        before = self._unexpected_calls()
        result = await session.run()
        for violation in self.collect_child_violations():
            result.violations.append(violation)
        result.violations.extend(v for k, v in self._unexpected_calls().items() if k not in before)
        return result

    def _unexpected_calls(self) -> dict[int, Violation]:
        """The ``unexpected-outbound-call`` violations so far, by identity.

        Such a call belongs to no call session (nobody expected it); the calls running
        while the bot created it report it, so that it fails them and is never lost.
        """
        kind = "unexpected-outbound-call"
        return {id(v): v for v in self.fake.journal.violations if v.kind == kind}

    async def place_outbound_call(
        self,
        trigger: OutboundTrigger,
        callee: CalleePlan | None = None,
        caller: Caller | None = None,
        *,
        options: CallOptions | None = None,
    ) -> CallResult:
        """Make the bot dial out with ``trigger`` and play the callee (``callee``, answers).

        ``caller`` is the callee's script, as for :meth:`place_call`. If the bot creates
        no call within ``trigger.create_within_s``, the result says so in its errors.
        """
        if self.bot is None:
            raise RuntimeError("no bot: create the Harness with a target to place calls")
        before = self._unexpected_calls()
        result = await run_outbound_call(
            self.fake,
            self.bot.base_url,
            trigger,
            callee or CalleePlan(),
            options=options,
            caller=caller,
            dial_lock=self._dial_lock,
        )
        for violation in self.collect_child_violations():
            result.violations.append(violation)
        result.violations.extend(v for k, v in self._unexpected_calls().items() if k not in before)
        return result

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.collect_child_violations()
        finally:
            try:
                await self._stack.aclose()
            finally:
                self._remove_tmp()

    def _blocked(self, host: str, url: str) -> None:
        self.fake.journal.violation(
            "blocked-request",
            f"the code under test tried to reach {host!r}, outside loopback; bwsim refused it",
            host=host,
            url=url,
            method="",
        )

    def collect_child_violations(self) -> list[Violation]:
        """Move blocked requests reported by child processes into the journal."""
        if self._tmp is None or not self.violations_file.exists():
            return []
        lines = self.violations_file.read_text(encoding="utf-8").splitlines()
        new = lines[self._child_violations_read :]
        self._child_violations_read = len(lines)
        found = []
        for line in new:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            self._blocked(str(record.get("host")), str(record.get("url")))
            found.append(self.fake.journal.violations[-1])
        return found
