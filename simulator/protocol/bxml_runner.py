"""How Bandwidth runs BXML on a call, Sans-I/O: events in, commands out.

:class:`BxmlRunner` executes the steps :func:`~simulator.protocol.verbs.plan` made from a
document. The call shell feeds it what happened (:data:`Event`) and carries out what it
asks for (:data:`Command`); it never opens a socket, starts a task or reads a clock, so
times are the ``now`` the shell passes in (seconds on any monotonic clock). The rules it
keeps:

- ``<StartStream>`` opens a stream and goes on at once (it does not block), unless its
  name is taken by a stream of the call that has not ended or its tracks would pass the
  call's limit: then it is rejected (docs/bandwidth.md §1.9,
  :func:`~simulator.protocol.stream_rules.admit_stream`);
- ``<Pause>`` and ``<Ring>`` hold the call for their duration (``<Ring>`` answers it
  unless ``answerCall`` is false); ``<SpeakSentence>`` holds it as long as speaking the
  text takes (:func:`~simulator.protocol.verbs.speech_seconds`); ``<PlayAudio>`` asks for
  its file (:class:`FetchAudio`) and holds as long as the file lasts (:class:`AudioFetched`);
  what the caller hears during these three is announced with :class:`PlayVerbAudio`;
- ``<StopStream>`` stops the stream and goes on; with ``wait`` it holds the call until
  the stream's socket has closed;
- ``<Gather>`` collects the keys the caller presses (:class:`DigitPressed`) by the rules
  of :class:`~simulator.protocol.gather.DigitCollector`; with a URL it then ends the
  document like ``<Redirect>``: the runner asks for the webhook and runs the document it
  returns; a webhook that fails ends the call;
- after ``<StartGather>`` each key pressed outside a ``<Gather>`` is sent as a ``dtmf``
  webhook (:class:`SendDtmf`) until ``<StopGather>``; a key nothing collects is noted;
- ``<Hangup>`` ends the call; verbs bwsim does not simulate are noted and skipped; a
  document that runs out hangs up (implicit hang-up);
- ``<Transfer>`` asks the shell to dial its targets (:class:`TransferCall`) and holds the
  document until :class:`TransferEnded`: then ``transferComplete`` goes to its
  ``transferCompleteUrl`` and the BXML it answers runs, or, without one, the verbs after
  ``<Transfer>`` run (docs/bandwidth.md §2.7); BXML the Voice API gives the call while it
  is bridged ends the bridge (:class:`EndTransfer`) and runs instead;
- a redirect or a BXML replacement through the Voice API interrupts the running verb
  (a hold, a wait) and runs the new document; one that comes while a webhook is in
  flight runs instead of that webhook's answer;
- the call ending (any hang-up) ends execution;
- an **orphaned leg**: when every stream has closed while a ``<Pause>`` (or ``<Ring>``)
  holds the call and one of them had been accepted, the bot has ``orphan_grace_s``
  (bounded by the end of the pause) to hang up; if it does not, the runner reports the
  orphaned leg and ends the call. Streams that were never accepted leave the pause to
  simply hold, and so do streams that had all closed before the pause began.

After :class:`Done` the runner ignores every event and emits nothing more.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from simulator.protocol.bxml_events import (
    Answer,
    BxmlReplaced,
    CloseStream,
    Command,
    Done,
    Ended,
    EndTransfer,
    Event,
    HangUp,
    Note,
    OpenStream,
    Redirected,
    RejectStream,
    ReportOrphanedLeg,
    SendWebhook,
    SetTag,
    SetTimer,
    Started,
    StreamClosed,
    TimerFired,
    Trace,
    TransferCall,
    TransferEnded,
    VerbStarted,
    WebhookAnswered,
    WebhookFailed,
    webhook_for,
)
from simulator.protocol.gather import (
    DigitCollector,
    DigitPressed,
    GatherEnded,
    GatherResult,
    SendDtmf,
    start_collector,
)
from simulator.protocol.ids import new_stream_id
from simulator.protocol.stream_rules import admit_stream
from simulator.protocol.verb_audio import AudioFetched, FetchAudio, PlayVerbAudio, TimedVerb
from simulator.protocol.verbs import (
    Gather,
    Hangup,
    Pause,
    PlayAudio,
    Redirect,
    Ring,
    SpeakSentence,
    StartGather,
    StartStream,
    Step,
    StopGather,
    StopStream,
    Tag,
    Transfer,
    Unsimulated,
    speech_seconds,
)

__all__ = [
    "Answer",
    "BxmlReplaced",
    "BxmlRunner",
    "CloseStream",
    "Command",
    "DigitPressed",
    "Done",
    "EndTransfer",
    "Ended",
    "Event",
    "GatherEnded",
    "HangUp",
    "Note",
    "OpenStream",
    "Redirected",
    "RejectStream",
    "ReportOrphanedLeg",
    "SendDtmf",
    "SendWebhook",
    "SetTag",
    "SetTimer",
    "Started",
    "StreamClosed",
    "TimerFired",
    "Trace",
    "TransferCall",
    "TransferEnded",
    "VerbStarted",
    "WebhookAnswered",
    "WebhookFailed",
    "orphaned_leg_detail",
]


def orphaned_leg_detail(grace_s: float) -> str:
    """The sentence that explains an orphaned leg and its fix."""
    return (
        f"the media stream ended while <Pause> held the call, and the bot did not hang "
        f"the call up within {grace_s:g} s: on Bandwidth the call would stay up, silent, "
        "until the pause ends. Hang the call up (POST {'state':'completed'}) when the "
        "stream ends."
    )


# -- the runner ---------------------------------------------------------------------------


@dataclass
class _Stream:
    tracks: tuple[str, ...] = ("inbound",)
    closed: bool = False
    accepted: bool = False


class BxmlRunner:
    """Run one call's BXML: feed :meth:`handle` events, carry out the commands it returns."""

    def __init__(
        self,
        *,
        orphan_grace_s: float,
        stream_ids: Callable[[], str] = new_stream_id,
    ) -> None:
        self.orphan_grace_s = orphan_grace_s
        self._stream_ids = stream_ids
        self._state: Literal[
            "idle",
            "ready",
            "holding",
            "stop-wait",
            "webhook",
            "gathering",
            "fetching",
            "transferring",
            "done",
        ] = "idle"
        self._queue: deque[Step] = deque()
        self._gather: tuple[Gather, DigitCollector] | None = None
        self._transfer: Transfer | None = None
        self._dtmf: StartGather | None = None
        self._streams: dict[str, _Stream] = {}
        self._pending: Redirected | BxmlReplaced | None = None
        self._deadline: float | None = None
        self._hold_end = 0.0
        self._watch_orphan = False
        self._orphan_clock = False
        self._waiting_for: str | None = None
        self._fetching: PlayAudio | None = None

    @property
    def done(self) -> bool:
        """Whether execution is over."""
        return self._state == "done"

    def handle(self, event: Event, now: float) -> list[Command]:
        """Take one event that happened at ``now`` and return the commands it leads to."""
        if self._state == "done":
            return []
        match event:
            case Ended():
                return self._finish([])
            case TransferEnded():
                return self._transfer_ended(now)
            case Started(steps=steps):
                if self._state != "idle":
                    return []
                if self._pending is not None:
                    return self._take_pending(now)
                return self._run(steps, now)
            case Redirected() | BxmlReplaced():
                self._pending = event
                if self._state in ("idle", "webhook"):
                    return []  # taken once the document (or the webhook's answer) arrives
                return self._take_pending(now)
            case WebhookAnswered(steps=steps):
                if self._state != "webhook":
                    return []
                if self._pending is not None:
                    return self._take_pending(now)
                return self._run(steps, now)
            case WebhookFailed(cause=cause, message=message):
                if self._state != "webhook":
                    return []
                return self._finish([HangUp(cause, message)])
            case StreamClosed():
                return self._stream_closed(event, now)
            case TimerFired():
                return self._timer(now)
            case DigitPressed(digit=digit):
                return self._digit(digit, now)
            case AudioFetched(step=step, seconds=seconds):
                if self._state != "fetching" or step is not self._fetching:
                    return []  # the verb was interrupted while its file was fetched
                self._fetching = None
                out: list[Command] = []
                return out if self._play(step, seconds, now, out) else [*out, *self._advance(now)]

    # -- events -----------------------------------------------------------------------

    def _stream_closed(self, event: StreamClosed, now: float) -> list[Command]:
        stream = self._streams.get(event.name)
        if stream is None:
            return []
        stream.closed, stream.accepted = True, event.accepted
        if self._state == "stop-wait" and self._waiting_for == event.name:
            self._waiting_for = None
            return self._advance(now)
        if self._state != "holding" or not self._watch_orphan or not self._all_closed():
            return []
        self._watch_orphan = False
        if not any(s.accepted for s in self._streams.values()):
            return []  # no stream ever opened: the pause simply holds the call
        self._orphan_clock = True
        self._deadline = min(now + self.orphan_grace_s, self._hold_end)
        return [SetTimer(self._deadline)]

    def _digit(self, digit: str, now: float) -> list[Command]:
        if self._gather is not None:
            result = self._gather[1].press(digit, now)
            if result is None:
                return [SetTimer(self._gather[1].deadline)]
            return self._gather_ended(result, now)
        if self._dtmf is not None:  # paused while a <Gather> runs (docs/bandwidth.md §3.4)
            return [SendDtmf(self._dtmf, digit)]
        return [Note(f"the caller pressed {digit!r}; no <Gather> or <StartGather> collects it")]

    def _gather_ended(self, result: GatherResult, now: float) -> list[Command]:
        assert self._gather is not None
        step, self._gather = self._gather[0], None
        out: list[Command] = [GatherEnded(step, result)]
        if step.url is None:
            return [*out, *self._advance(now)]  # the digits are dropped; the document goes on
        self._state = "webhook"
        return [*out, webhook_for("gather", step, result.digits, result.terminating_digit)]

    def _timer(self, now: float) -> list[Command]:
        if self._gather is not None:
            result = self._gather[1].timer(now)
            if result is None:
                return [SetTimer(self._gather[1].deadline)]
            return self._gather_ended(result, now)
        if self._state != "holding" or self._deadline is None:
            return []
        if now < self._deadline:
            return [SetTimer(self._deadline)]  # woken early: keep waiting
        self._deadline = None
        if self._orphan_clock and now < self._hold_end:
            self._orphan_clock = False
            return self._finish(
                [
                    ReportOrphanedLeg(orphaned_leg_detail(self.orphan_grace_s)),
                    Note("bwsim ends the orphaned call"),
                    HangUp("hangup"),
                ]
            )
        self._orphan_clock = False
        return self._advance(now)

    # -- running steps ----------------------------------------------------------------

    def _finish(self, commands: list[Command]) -> list[Command]:
        self._state = "done"
        self._queue.clear()
        self._deadline = None
        self._gather = self._dtmf = None
        self._transfer = None
        return [*commands, Done()]

    def _transfer_ended(self, now: float) -> list[Command]:
        if self._state != "transferring" or self._transfer is None:
            return []
        step, self._transfer = self._transfer, None
        if step.complete_url is None:
            return self._advance(now)  # the verbs after <Transfer> run
        self._state = "webhook"
        return [webhook_for("transferComplete", step)]

    def _take_pending(self, now: float) -> list[Command]:
        """Interrupt whatever runs and run what the Voice API asked for instead."""
        out: list[Command] = []
        if self._state == "transferring":
            out.append(EndTransfer())  # new BXML takes the caller back from the bridge
            self._transfer = None
        pending, self._pending = self._pending, None
        self._queue.clear()
        self._deadline = None
        self._watch_orphan = self._orphan_clock = False
        self._waiting_for = None
        self._gather = None
        if isinstance(pending, Redirected):
            self._state = "webhook"
            return [*out, webhook_for("redirect", pending)]
        steps = () if pending is None or pending.steps is None else pending.steps
        return [*out, *self._run(steps, now)]  # invalid BXML runs nothing: the call hangs up

    def _run(self, steps: Iterable[Step], now: float) -> list[Command]:
        self._queue = deque(steps)
        return self._advance(now)

    def _advance(self, now: float) -> list[Command]:
        """Run items until one blocks; hang up when the document runs out."""
        self._state = "ready"
        out: list[Command] = []
        while self._queue:
            item = self._queue.popleft()
            out.append(VerbStarted(item))
            if self._step(item, now, out):
                return out
        out.append(Note("BXML ran out: implicit hang-up"))
        return self._finish([*out, HangUp("hangup")])

    def _step(self, item: Step, now: float, out: list[Command]) -> bool:
        """Run one item, appending its commands; True when it blocks (or ends the call)."""
        match item:
            case StartStream():
                out.append(Answer())
                self._start_stream(item, out)
            case Pause():
                out.append(Answer())
                return self._hold(item.seconds, now, out, watch_orphan=True)
            case Ring():
                if item.answer:
                    out.append(Answer())
                return self._play(item, item.seconds, now, out)
            case StopStream():
                return self._stop_stream(item, out)
            case SpeakSentence():
                out.extend([Answer(), Trace("speak", {"text": item.text[:500]})])
                return self._play(item, speech_seconds(item.text), now, out)
            case PlayAudio():
                out.extend([Answer(), FetchAudio(item)])
                self._state, self._fetching = "fetching", item
                return True
            case Hangup():
                out.extend(self._finish([HangUp("hangup")]))
                return True
            case Transfer():
                out.extend([Answer(), TransferCall(item)])
                self._state, self._transfer = "transferring", item
                return True
            case Redirect():
                self._state = "webhook"
                out.append(webhook_for("redirect", item))
                return True
            case Tag():
                out.append(SetTag(item.value))
            case Gather():
                out.append(Answer())
                out.extend(Trace("speak", {"text": p.text[:500]}) for p in item.prompts)
                self._gather, self._state = (item, start_collector(item, now)), "gathering"
                out.append(SetTimer(self._gather[1].deadline))
                return True
            case StartGather():
                out.append(Answer())
                self._dtmf = item
            case StopGather():
                self._dtmf = None
            case Unsimulated():
                out.append(Note(f"<{item.verb}> is not simulated; skipped"))
        return False

    def _start_stream(self, step: StartStream, out: list[Command]) -> None:
        stream_id = self._stream_ids()
        name = step.name or stream_id
        open_streams = {n: s.tracks for n, s in self._streams.items() if not s.closed}
        rejection = admit_stream(name, step.tracks, open_streams)
        if rejection is not None:
            out.append(
                RejectStream(
                    step, stream_id, name, rejection.cause, rejection.detail, rejection.original
                )
            )
            return
        # A name whose stream has ended is free again (§1.9); the new stream takes it over.
        self._streams[name] = _Stream(step.tracks)
        out.append(OpenStream(step, stream_id, name))

    def _stop_stream(self, step: StopStream, out: list[Command]) -> bool:
        stream = self._streams.get(step.name)
        if stream is None:
            out.append(Note(f"<StopStream name={step.name!r}>: no such stream"))
            return False
        if not step.wait:
            out.append(CloseStream(step.name))
            return False
        if stream.closed:
            return False
        # wait="true": the document holds here until the socket is closed.
        self._state, self._waiting_for = "stop-wait", step.name
        return True

    def _play(self, item: TimedVerb, seconds: float, now: float, out: list[Command]) -> bool:
        """Hold while ``item`` is heard for ``seconds`` (a ``<Ring>`` like a ``<Pause>``)."""
        if seconds > 0:
            out.append(PlayVerbAudio(item, seconds))
        return self._hold(seconds, now, out, watch_orphan=isinstance(item, Ring))

    def _hold(
        self, seconds: float, now: float, out: list[Command], *, watch_orphan: bool = False
    ) -> bool:
        if seconds <= 0:
            return False
        self._state = "holding"
        self._hold_end = self._deadline = now + seconds
        # Only a pause that begins with a stream still open can leave an orphaned leg.
        self._watch_orphan = watch_orphan and bool(self._streams) and not self._all_closed()
        self._orphan_clock = False
        out.append(SetTimer(self._deadline))
        return True

    def _all_closed(self) -> bool:
        return all(s.closed for s in self._streams.values())
