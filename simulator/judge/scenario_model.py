"""The scenario format's vocabulary and the records a scenario file becomes.

What a scenario may say (:data:`EVENTS`, :data:`SCENARIO_KEYS`, :data:`CALL_KEYS`,
:data:`ACTIONS`, :data:`EXPECTATIONS` and the values some keys take) and the typed,
checked records the loader builds: :class:`Scenario`, its :class:`CallSpec`, the caller's
:class:`Action` steps and the :class:`Expectation` list, with :class:`Anchor` points on
the timeline. No parsing here (:mod:`simulator.judge.scenario` loads the files).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.call.audio_files import channel_label
from simulator.call.live import DTMF_GAP_MS
from simulator.call.options import DEFAULT_MAX_CALL_S
from simulator.protocol.codec import Pcm
from simulator.protocol.transfer import TransferParty, TransferStream
from simulator.protocol.verbs import PLAY_AUDIO_S
from simulator.protocol.webhook_signing import Signing
from simulator.protocol.wire import DEFAULT_WIRE

if TYPE_CHECKING:
    from simulator.replay.plan import ReplayPlan

__all__ = [
    "ACTIONS",
    "ACTION_COMMON_KEYS",
    "CALL_KEYS",
    "CALL_START",
    "CALL_TARGETS",
    "CLOSERS",
    "DEFAULT_CREATE_WITHIN_MS",
    "DIRECTIONS",
    "ENCODINGS",
    "EVENTS",
    "EXPECTATIONS",
    "EXPECT_COMMON_KEYS",
    "INBOUND_ONLY_KEYS",
    "OUTBOUND_KEYS",
    "SCENARIO_KEYS",
    "TRIGGER_KEYS",
    "TRIGGER_METHODS",
    "UNTIMED_KINDS",
    "VERB_AUDIO_CHOICES",
    "VICTIMS",
    "Action",
    "Anchor",
    "CallSpec",
    "Expectation",
    "OutboundSpec",
    "Scenario",
]

EVENTS: Mapping[str, str] = {
    "call_start": "call-start",
    "webhook_answered": "webhook-answered",
    "call_answered": "call-answered",
    "stream_accepted": "stream-accepted",
    "stream_refused": "stream-refused",
    "stream_rejected": "stream-rejected",
    "caller_audio_start": "caller-audio-start",
    "caller_audio_end": "caller-audio-end",
    "bot_audio_first": "bot-audio-first",
    "bot_speech_start": "bot-speech-start",
    "bot_speech_end": "bot-speech-end",
    "clear": "clear",
    "api_request": "api-request",
    "hangup_request": "hangup-request",
    "transfer": "transfer",
    "stop_sent": "stop-sent",
    "ws_closed": "ws-closed",
    "call_ended": "call-ended",
    "gather_start": "gather-start",
    "gather": "gather",
    "dtmf": "dtmf",
    "dtmf_webhook": "dtmf-webhook",
    "transfer_ringing": "transfer-ringing",
    "transfer_answered": "transfer-answered",
    "transfer_bridged": "transfer-bridged",
    "transfer_ended": "transfer-ended",
    "verb_audio_start": "verb-audio-start",
    "verb_audio_end": "verb-audio-end",
}
"""Event names a scenario may wait for or anchor on, and the timeline kind of each.
``call_start`` is time zero (the ``initiate`` webhook going out). ``stream_rejected`` is a
``<StartStream>`` bwsim did not open (a duplicate name, past the track limit, or a socket
it could not connect: the event's ``cause``). ``gather_start`` is a
``<Gather>`` beginning (its prompts, then the wait for keys), ``gather`` one ending,
``dtmf`` a key the caller pressed, ``dtmf_webhook`` a ``dtmf`` webhook sent to the bot,
``verb_audio_start``/``verb_audio_end`` a ``<SpeakSentence>``, ``<PlayAudio>`` or ``<Ring>``
beginning and ending to be heard. ``transfer_ringing`` … ``transfer_ended`` are a
``<Transfer>``'s targets ringing, one answering, the caller bridged to it, and the
transfer over (every B-leg ended)."""

SCENARIO_KEYS = frozenset(
    {
        "name",
        "description",
        "audio_dir",
        "bot_env",
        "allow_hosts",
        "call",
        "victim",
        "caller",
        "expect",
        "ordered",
        "allow_violations",
    }
)
CALL_KEYS = frozenset(
    {
        "auth",
        "from",
        "to",
        "webhook_path",
        "disconnect_path",
        "body",
        "raw_body",
        "start_metadata",
        "stream_delay_ms",
        "max_call_s",
        "orphan_grace_s",
        "sequence_start",
        "wire",
        "linger_ms",
        "transfer",
        "play_audio_s",
        "ring_sound",
        "signing",
        *("direction", "trigger", "answer", "ring_ms"),
    }
)
VICTIMS = ("same_account", "other_account")
"""A second live call a spoofing scenario forges ids of: in this call's account or another."""

ACTION_COMMON_KEYS = frozenset({"send_after", "delay_ms", "within_ms"})
ACTIONS: Mapping[str, frozenset[str]] = {
    "say": frozenset({"text", "wait"}),
    "silence": frozenset(),
    "wait_for": frozenset(),
    "stay": frozenset(),
    "hangup": frozenset(),
    "drop": frozenset(),
    "replay_stream": frozenset(),
    "dtmf": frozenset(),
    "replay": frozenset(),
}
"""Caller actions, each with the keys it takes besides ``send_after``/``delay_ms``/``within_ms``.

- ``say: FILE`` speak an audio file (``text``: what it says, for a bot's scripted STT;
  else looked up in ``transcripts.yaml`` beside the file); ``wait: false`` goes on at once.
  ``say: {file: FILE, channel: left}`` speaks one channel of a file of several (``left``,
  ``right`` or a 0-based number); such a file without a channel is refused.
- ``silence: MS`` stay on the line, silent; the call ending meanwhile is fine.
- ``wait_for: EVENT`` wait for an event after the previous action (``within_ms``).
- ``stay: MS`` stay on the line until the call ends, at most ``MS``.
- ``hangup: true`` hang up (``stop``, close 1000). ``drop: true`` the connection dies.
- ``replay_stream: true`` open a second socket with this call's stream URL (token reuse).
- ``dtmf: "12#"`` press DTMF keys, one every 200 ms; ``dtmf: {digits: "12#", gap_ms: N}``
  sets the time from one key to the next.
- ``replay: PATH`` or ``replay: {archive: PATH, timing: turns}`` speak a recorded call's
  caller (a call archive), at its recorded times or turn by turn, then hang up as it did
  (:mod:`simulator.judge.scenario_replay`).
"""

EXPECT_COMMON_KEYS = frozenset({"absent", "within_ms", "after", "count", "min_count", "max_count"})
EXPECTATIONS: Mapping[str, frozenset[str]] = {
    "webhook_response": frozenset(
        {"status", "statuses", "delivered", "www_authenticate", "start_stream", "keeps_call_up"}
    ),
    "stream_accepted": frozenset({"stream"}),
    "stream_refused": frozenset({"stream"}),
    "ws_closed": frozenset({"stream", "code", "by"}),
    "play_audio": frozenset({"encoding", "min_audio_ms"}),
    "clear": frozenset({"bot_was_speaking"}),
    "hangup_request": frozenset({"status", "call"}),
    "transfer_request": frozenset({"status", "call", "target"}),
    "api_response": frozenset({"route", "method", "status", "call"}),
    "violation": frozenset({"rule"}),
    "callback": frozenset({"event", "delivered", "status", "method", "cause", "fallback"}),
    "orphaned_leg": frozenset(),
    "call_state": frozenset({"call", "state", "cause"}),
    "gather": frozenset({"digits", "terminating_digit", "reason"}),
    "dtmf_webhook": frozenset({"digit"}),
    "transfer": frozenset({"cause", "bridged", "to"}),
    "caller_hears": frozenset(),
    "verb_audio": frozenset({"verb", "sound", "interrupted"}),
}
"""What a scenario can expect, each with the keys it takes besides the common ones:
``absent`` (must not happen), ``within_ms`` (from ``after``, default the call's start),
``after`` (an event name, ``name#N`` for the N-th), ``count``/``min_count``/``max_count``."""

VERB_AUDIO_CHOICES: Mapping[str, tuple[str, ...]] = {
    "verb": ("SpeakSentence", "PlayAudio", "Ring"),
    "sound": ("file", "tone", "ringback", "silence"),
}
"""The values of ``verb_audio.verb`` and ``verb_audio.sound`` (what bwsim played: the
fetched file, the placeholder tone, ringback, or nothing; docs/bandwidth.md §3.5)."""

ENCODINGS: Mapping[str, str] = {
    "pcmu": "audio/pcmu",
    "pcm8k": "audio/pcm;rate=8000;channels=1;bit-depth=16;endian=little;encoding=signed",
    "pcm16k": "audio/pcm;rate=16000;channels=1;bit-depth=16;endian=little;encoding=signed",
    "pcm24k": "audio/pcm;rate=24000;channels=1;bit-depth=16;endian=little;encoding=signed",
}
"""Short names for ``play_audio.encoding``; a full content type is accepted too."""

CALL_TARGETS = ("this", "victim")
CLOSERS = ("simulator", "bot", "dropped")
UNTIMED_KINDS = frozenset({"webhook_response", "call_state"})
"""Kinds judged once, on the whole call: the timing and counting keys do not apply."""


DIRECTIONS = ("inbound", "outbound")
OUTBOUND_KEYS = frozenset({"direction", "trigger", "answer", "ring_ms"})
"""Keys of ``call`` for outbound calls (``direction`` is for both)."""
TRIGGER_KEYS = frozenset({"method", "path", "json", "create_within_ms"})
INBOUND_ONLY_KEYS = frozenset({"webhook_path", "body", "raw_body"})
"""Keys about the ``initiate`` webhook, which an outbound call never sends."""
TRIGGER_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
DEFAULT_CREATE_WITHIN_MS = 10_000.0


@dataclass(frozen=True)
class OutboundSpec:
    """An outbound call: the request that makes the bot dial, and what the callee does."""

    method: str = "POST"
    path: str = "/dial"
    json: Any = None
    create_within_ms: float = DEFAULT_CREATE_WITHIN_MS
    answer: str = "answered"
    ring_ms: float | None = None


# -- the records -------------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    """A point on a call's timeline: ``delay_ms`` after the ``nth`` event of ``kind``."""

    kind: str
    nth: int = 1
    name: str = "call_start"
    delay_ms: float = 0.0
    """How long after the event the point is (``after: {event: call_ended, delay_ms: 1500}``)."""

    def describe(self) -> str:
        """As written in the scenario (``bot_speech_start#2``, ``call_ended + 1500 ms``)."""
        text = self.name if self.nth == 1 else f"{self.name}#{self.nth}"
        return f"{text} + {self.delay_ms:g} ms" if self.delay_ms else text


CALL_START = Anchor("call-start")


@dataclass(frozen=True)
class Action:
    """One thing the caller does (see :data:`ACTIONS`)."""

    kind: str
    line: int
    audio: Path | None = None
    channel: int | None = None
    samples: Pcm | None = field(default=None, repr=False, compare=False)
    text: str | None = None
    wait: bool = True
    ms: float = 0.0
    event: str | None = None
    send_after: str | None = None
    delay_ms: float = 0.0
    within_ms: float = 15_000.0
    digits: str | None = None
    gap_ms: float = DTMF_GAP_MS
    archive: Path | None = None
    """``replay``: the call archive's folder."""
    replay: ReplayPlan | None = field(default=None, repr=False, compare=False)
    """``replay``: the recorded caller's part, planned when the file is loaded."""

    def describe(self) -> str:
        """A short label for reports (``say person.wav``)."""
        if self.kind == "say" and self.audio is not None:
            if self.channel is not None:
                return f"say {self.audio.name} ({channel_label(self.channel)})"
            return f"say {self.audio.name}"
        if self.kind == "replay" and self.archive is not None:
            timing = self.replay.timing if self.replay is not None else "recorded"
            return f"replay {self.archive.name} ({timing})"
        if self.kind in ("silence", "stay"):
            return f"{self.kind} {self.ms:g} ms"
        if self.kind == "wait_for":
            return f"wait_for {self.event}"
        if self.kind == "dtmf":
            return f"dtmf {self.digits}"
        return self.kind


@dataclass(frozen=True)
class Expectation:
    """One thing that must (or, with ``absent``, must not) be seen on the wire."""

    kind: str
    line: int
    absent: bool = False
    within_ms: float | None = None
    after: Anchor = CALL_START
    count: int | None = None
    min_count: int | None = None
    max_count: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """The expectation in one line, as a person would write it."""
        parts = [f"{k}={v}" for k, v in self.params.items()]
        if self.after != CALL_START:
            parts.append(f"after {self.after.describe()}")
        if self.within_ms is not None:
            parts.append(f"within {self.within_ms:g} ms")
        if self.count is not None:
            parts.append(f"count={self.count}")
        if self.min_count is not None:
            parts.append(f"min_count={self.min_count}")
        if self.max_count is not None:
            parts.append(f"max_count={self.max_count}")
        text = self.kind + (f" ({', '.join(parts)})" if parts else "")
        return f"no {text}" if self.absent else text


@dataclass(frozen=True)
class CallSpec:
    """How Bandwidth places the call (see :data:`CALL_KEYS`)."""

    auth: str = "challenge"
    from_: str = "+15555550100"
    to: str = "+15555550199"
    webhook_path: str = "/"
    disconnect_path: str | None = None
    body: Mapping[str, Any] | None = None
    raw_body: str | None = None
    start_metadata: Mapping[str, Any] | None = None
    stream_delay_ms: float = 0.0
    max_call_s: float = DEFAULT_MAX_CALL_S
    orphan_grace_s: float = 5.0
    sequence_start: int = 1
    wire: str = DEFAULT_WIRE
    """The form of the media-stream frames (``CallOptions.wire``): a name of ``WIRES``."""
    linger_ms: float = 0.0
    """How long after the call ends bwsim still records the bot's requests, at least (the
    runner's own settle time applies when it is longer): a bot's late work on the ended call."""
    outbound: OutboundSpec | None = None
    """Set for ``direction: outbound``: the bot dials, bwsim plays the callee."""
    transfer: TransferParty = field(default_factory=TransferParty)
    """What the people the bot's ``<Transfer>`` dials do (``call.transfer``)."""
    transfer_stream: TransferStream = "ends"
    """What the A-leg's stream does during a transfer (``call.transfer.stream``)."""
    play_audio_s: float = PLAY_AUDIO_S
    """How long a ``<PlayAudio>`` whose file bwsim cannot get or play lasts."""
    ring_sound: str = "ringback"
    """What the caller hears during ``<Ring>``: ``ringback`` or ``silence``."""
    signing: Signing | None = None
    """bwsim's webhook-signing extension for this call (``call.signing``); None signs nothing."""


@dataclass(frozen=True)
class Scenario:
    """One call, its caller's actions and what must be seen."""

    id: str
    name: str
    path: Path
    line: int
    description: str = ""
    bot_env: tuple[tuple[str, str], ...] = ()
    allow_hosts: tuple[str, ...] = ()
    """Outside hosts the bot may reach (added to ``--allow-host``), e.g. its speech provider."""
    call: CallSpec = field(default_factory=CallSpec)
    victim: str | None = None
    caller: tuple[Action, ...] = ()
    expect: tuple[Expectation, ...] = ()
    ordered: bool = False
    allow_violations: tuple[str, ...] = ()

    @property
    def caller_lines(self) -> list[str]:
        """What the caller says, as text, in order (for a bot's scripted STT)."""
        return [a.text for a in self.caller if a.kind == "say" and a.text]

    @property
    def where(self) -> str:
        """``file:line`` of the scenario."""
        return f"{self.path}:{self.line}"
