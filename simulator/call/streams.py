"""The media streams of one call: each ``<StartStream>``'s socket, its life and its webhooks.

:class:`CallStreams` opens a :class:`~simulator.call.stream.StreamDriver` for each stream
the BXML runner opens, tells the registry when it starts and ends, sends the stream's
``mediaStreamStarted``/``Stopped``/``Rejected`` webhooks to its ``streamEventUrl``, and
reports each stream's close (accepted or not) so the runner can judge holds and waits.
A ``<StartStream>`` the runner rejects (a taken name, too many tracks: docs/bandwidth.md
§1.9) is recorded and gets its ``mediaStreamRejected`` webhook here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx

from simulator.call.options import CallOptions
from simulator.call.recorder import CallRecorder
from simulator.call.stream import StreamDriver, StreamOutcome
from simulator.protocol.bxml_runner import RejectStream
from simulator.protocol.ids import new_stream_id
from simulator.protocol.media import CallerSource, FrameViolation, StreamConfig
from simulator.protocol.urls import http_url, stream_url
from simulator.protocol.verbs import StartStream
from simulator.protocol.webhook_auth import WebhookAuth, basic_authorization
from simulator.protocol.webhook_bodies import (
    CallInfo,
    StreamInfo,
    media_stream_rejected_body,
    media_stream_started_body,
    media_stream_stopped_body,
)
from simulator.protocol.wire import wire_profile
from simulator.rest.registry import Registry

__all__ = ["CallStreams"]

SendAsync = Callable[[httpx.AsyncClient, str, dict[str, Any], WebhookAuth, str], Awaitable[None]]
"""Delivers an async webhook: ``(client, url, body, auth, method)``."""


class CallStreams:
    """Every media stream of one call, by name, plus replayed sockets."""

    def __init__(
        self,
        *,
        registry: Registry,
        info: CallInfo,
        options: CallOptions,
        recorder: CallRecorder,
        caller: CallerSource,
        bot_base_url: str,
        ended: asyncio.Event,
        send_async: SendAsync,
        violation: Callable[..., None],
        on_closed: Callable[[str, bool], None],
        current_info: Callable[[], CallInfo] | None = None,
    ) -> None:
        self.registry = registry
        self.info = info
        self.current_info = current_info or (lambda: info)
        """The call as its next webhook describes it (answered, with its tag)."""
        self.options = options
        self.recorder = recorder
        self.caller = caller
        self.bot_base_url = bot_base_url
        self.ended = ended
        self.send_async = send_async
        self.violation = violation
        """Records a violation: ``(kind, detail, **evidence)``."""
        self.on_closed = on_closed
        """Called with the stream's name, and whether it had opened, once it has closed."""
        self.drivers: dict[str, StreamDriver] = {}
        """The latest stream of each name (a name is free again once its stream ended)."""
        self.infos: dict[str, StreamInfo] = {}
        self.superseded: list[StreamDriver] = []
        """Ended streams whose name a later stream took."""
        self.extra: list[StreamDriver] = []
        """Replayed sockets."""
        self.tasks: list[asyncio.Task[StreamOutcome]] = []
        self.rejections: list[asyncio.Task[None]] = []

    @property
    def outcomes(self) -> list[StreamOutcome]:
        """What happened to every stream, replays included."""
        return [d.outcome for d in [*self.superseded, *self.drivers.values(), *self.extra]]

    def open(self, client: httpx.AsyncClient, step: StartStream, stream_id: str, name: str) -> None:
        """Start the stream ``step`` describes; it runs in its own task."""
        opts = self.options
        config = StreamConfig(
            account_id=self.info.account_id,
            call_id=self.info.call_id,
            stream_id=stream_id,
            stream_name=name,
            tracks=step.tracks,
            bidirectional=step.bidirectional,
            stream_params=step.params or None,
            metadata_overrides=opts.metadata_overrides,
            sequence_start=opts.sequence_start,
            wire=wire_profile(opts.wire),
        )
        headers = {}
        if step.username is not None and step.password is not None:
            headers["Authorization"] = basic_authorization(step.username, step.password)
        driver = StreamDriver(
            config=config,
            destination=step.destination,
            url=stream_url(step.destination, self.bot_base_url),
            headers=headers,
            caller=self.caller,
            recorder=self.recorder,
            on_violation=self._frame_violation,
            open_timeout_s=opts.stream_open_timeout_s,
        )
        if name in self.drivers:
            self.superseded.append(self.drivers[name])
        self.drivers[name] = driver
        info = self._info(step, stream_id, name)
        self.infos[name] = info
        task = asyncio.create_task(self._life(client, driver, step, info), name=name)
        self.tasks.append(task)
        self.registry.stream_started(self.info.call_id, stream_id)

    @staticmethod
    def _info(step: StartStream, stream_id: str, name: str) -> StreamInfo:
        return StreamInfo(
            stream_id=stream_id,
            destination=step.destination,
            start_time=datetime.now(UTC),
            name=name,
            tracks=step.tracks,
        )

    def reject(self, client: httpx.AsyncClient, command: RejectStream) -> None:
        """Record a ``<StartStream>`` that is not opened; send its mediaStreamRejected."""
        self.recorder.event(
            "stream-rejected", cause=command.cause, stream=command.name, error=command.detail
        )
        step = command.step
        if not step.event_url:
            return
        original = self.infos.get(command.original) if command.original else None
        body = media_stream_rejected_body(
            self.current_info(),
            self._info(step, command.stream_id, command.name),
            command.cause,
            command.detail,
            datetime.now(UTC),
            original_stream=original,
        )
        webhook = self._event_webhook(client, step, body)
        name = f"{command.name} (its mediaStreamRejected webhook)"
        self.rejections.append(asyncio.create_task(webhook, name=name))

    def _frame_violation(self, violation: FrameViolation) -> None:
        self.violation(
            f"media-{violation.rule}",
            violation.detail,
            rule=violation.rule,
            frame=violation.frame,
            at_ms=round(violation.at_ms, 1),
        )

    def stop(self, name: str) -> None:
        """Stop the named stream (``stop``, then close 1000)."""
        self.drivers[name].stop()

    def stop_all(self) -> None:
        """Stop every stream, replays included."""
        for driver in [*self.drivers.values(), *self.extra]:
            driver.stop()

    def drop_all(self) -> None:
        """Abort every open media connection without ``stop`` or a close frame."""
        for driver in self.drivers.values():
            driver.drop()

    async def _life(
        self, client: httpx.AsyncClient, driver: StreamDriver, step: StartStream, info: StreamInfo
    ) -> StreamOutcome:
        stream_webhooks: list[asyncio.Task[None]] = []

        def on_open() -> None:
            if step.event_url:
                body = media_stream_started_body(self.current_info(), info, datetime.now(UTC))
                stream_webhooks.append(asyncio.create_task(self._event_webhook(client, step, body)))

        opened = asyncio.create_task(driver.opened.wait())
        opened.add_done_callback(lambda _: on_open())
        delay = self.options.stream_delay_s
        try:
            if delay > 0:
                self.recorder.event("note", detail=f"bwsim waits {delay:g} s to connect")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.ended.wait(), delay)
            outcome = await driver.run()
        finally:
            opened.cancel()
            self.registry.stream_ended(self.info.call_id, info.stream_id)
            self.on_closed(driver.config.stream_name, driver.outcome.status == "accepted")
        if step.event_url:
            stream_webhooks.append(
                asyncio.create_task(
                    self._event_webhook(client, step, self._end_body(outcome, info))
                )
            )
        if stream_webhooks:
            await asyncio.gather(*stream_webhooks)
        return outcome

    def _end_body(self, outcome: StreamOutcome, info: StreamInfo) -> dict[str, Any]:
        now, call = datetime.now(UTC), self.current_info()
        if outcome.status != "accepted":
            error = outcome.error or "refused"
            return media_stream_rejected_body(call, info, "connection-error", error, now)
        if outcome.closed_by == "simulator" or outcome.close_code == 1000:
            return media_stream_stopped_body(call, info, "closed", now, None)
        message = f"the WebSocket closed with code {outcome.close_code}"
        return media_stream_stopped_body(call, info, "connection-error", now, message)

    async def _event_webhook(
        self, client: httpx.AsyncClient, step: StartStream, body: dict[str, Any]
    ) -> None:
        assert step.event_url is not None
        has_creds = step.event_username is not None and step.event_password is not None
        auth = WebhookAuth(
            "challenge",
            step.event_username if has_creds else None,
            step.event_password if has_creds else None,
        )
        url = http_url(step.event_url, self.bot_base_url)
        await self.send_async(client, url, body, auth, step.event_method)

    async def replay(self, hold_ms: float) -> StreamOutcome | None:
        """Open another socket to the first stream's URL, as an attacker replaying its token.

        Returns None when no stream was opened. The extra stream is named ``replay``; if
        the bot accepts it, it is held open for ``hold_ms`` and then stopped.
        """
        first = next(iter(self.drivers.values()), None)
        if first is None:
            return None
        config = replace(first.config, stream_id=new_stream_id(), stream_name="replay")
        driver = StreamDriver(
            config=config,
            destination=first.outcome.destination,
            url=first.url,
            headers=first.headers,
            caller=CallerSource(),
            recorder=self.recorder,
            on_violation=self._frame_violation,
            open_timeout_s=self.options.stream_open_timeout_s,
        )
        self.extra.append(driver)
        task = asyncio.create_task(driver.run(), name="bwsim-replay")
        await asyncio.wait({task}, timeout=hold_ms / 1000)
        driver.stop()
        return await asyncio.wait_for(task, self.options.stream_open_timeout_s + 10)

    async def wind_down(self, timeout_s: float) -> list[str]:
        """Wait for every stream to close; cancel those still open after ``timeout_s``."""
        errors: list[str] = []
        if self.tasks or self.rejections:
            _, pending = await asyncio.wait([*self.tasks, *self.rejections], timeout=timeout_s)
            for task in pending:
                task.cancel()
                errors.append(f"stream {task.get_name()} did not close within {timeout_s:g} s")
        return errors
