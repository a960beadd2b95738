"""How Bandwidth runs a BXML document: verbs turned into steps, Sans-I/O.

:func:`plan` turns a checked :class:`~simulator.protocol.bxml.BxmlDocument` into the steps the
call driver executes, with attributes typed and URLs resolved against the URL that
served the document (docs/bandwidth.md §2.1, §3). The semantics that matter for a
streaming bot (docs/bandwidth.md §1.4, §3.2):

- ``<StartStream>`` does not block: execution goes on to the next verb at once.
- ``<StopStream wait="true">`` blocks until the stream's socket is closed (by the app,
  or a timeout); without ``wait`` it stops the stream and goes on.
- ``<Pause>`` holds the call for ``duration`` seconds; ``<Ring>``, ``<SpeakSentence>`` and
  ``<PlayAudio>`` hold it as long as they play (docs/bandwidth.md §3.5).
- A document that runs out without handing control to another webhook hangs up
  (implicit ``<Hangup>``); so ``<Redirect>``, and ``<Gather>`` with a ``gatherUrl``, end
  the current document.
- Verbs Bandwidth documents but bwsim does not simulate (Conference, Record, …) become
  :class:`Unsimulated` steps: recorded in the trace, then skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urljoin

from simulator.protocol.bxml import BxmlDocument, TransferTarget, Verb

__all__ = [
    "Fallback",
    "Gather",
    "Hangup",
    "Pause",
    "PlayAudio",
    "Redirect",
    "Ring",
    "SpeakSentence",
    "StartGather",
    "StartStream",
    "Step",
    "StopGather",
    "StopStream",
    "StreamHold",
    "Tag",
    "Transfer",
    "TransferLeg",
    "Unsimulated",
    "gather_prompt_seconds",
    "plan",
    "speech_seconds",
    "stream_hold",
]

WORDS_PER_SECOND = 2.6
"""Speaking rate bwsim assumes for ``<SpeakSentence>`` (it synthesises no speech)."""

PLAY_AUDIO_PROMPT_S = 2.0
"""How long bwsim takes a ``<PlayAudio>`` prompt inside ``<Gather>`` to play (it fetches no
audio file, so it cannot know; docs/bandwidth.md §6)."""

PLAY_AUDIO_S = 2.0
"""How long a top-level ``<PlayAudio>`` lasts when bwsim cannot read its file (the default
of ``CallOptions.play_audio_s``), and what :func:`stream_hold` counts for one, since it
fetches nothing (docs/bandwidth.md §6)."""


@dataclass(frozen=True)
class Fallback:
    """Where a verb's webhook goes when its URL fails (``*FallbackUrl``; docs/bandwidth.md §2.1)."""

    url: str
    method: str
    username: str | None
    password: str | None = field(repr=False)


@dataclass(frozen=True)
class StartStream:
    """Open a media stream to ``destination`` (non-blocking)."""

    line: int | None
    destination: str
    name: str | None
    bidirectional: bool
    tracks: tuple[str, ...]
    username: str | None
    password: str | None = field(repr=False)
    params: dict[str, str]
    event_url: str | None
    event_method: str
    event_username: str | None
    event_password: str | None = field(repr=False)


@dataclass(frozen=True)
class StopStream:
    """Stop the named stream; with ``wait``, block until its socket has closed."""

    line: int | None
    name: str
    wait: bool


@dataclass(frozen=True)
class Pause:
    """Hold the call, silent, for ``seconds``."""

    line: int | None
    seconds: float


@dataclass(frozen=True)
class Ring:
    """Ring (or hold) for ``seconds``; answers the call unless ``answer`` is false."""

    line: int | None
    seconds: float
    answer: bool


@dataclass(frozen=True)
class Hangup:
    """End the call (reject it when unanswered)."""

    line: int | None


@dataclass(frozen=True)
class SpeakSentence:
    """Speak text to the caller (bwsim waits as long as speaking it would take)."""

    line: int | None
    text: str
    voice: str | None


@dataclass(frozen=True)
class TransferLeg:
    """One ``<PhoneNumber>``/``<SipUri>`` of a ``<Transfer>``: who is dialled, its webhooks."""

    to: str
    answer_url: str | None = None
    answer_method: str = "POST"
    answer_fallback: Fallback | None = None
    disconnect_url: str | None = None
    disconnect_method: str = "POST"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tag: str | None = None


@dataclass(frozen=True)
class PlayAudio:
    """Play the audio file at ``url`` to the caller (WAV or MP3); it holds while it plays.

    ``username``/``password`` go with the request for the file.
    """

    line: int | None
    url: str
    username: str | None
    password: str | None = field(repr=False)


@dataclass(frozen=True)
class Transfer:
    """Hand the caller to one of ``targets`` (rung simultaneously; docs/bandwidth.md §2.7).

    ``complete_url`` is ``transferCompleteUrl``, with its method, credentials and
    fallback; ``legs`` describe each target's own webhooks.
    """

    line: int | None
    targets: tuple[str, ...]
    attributes: dict[str, str]
    complete_url: str | None
    legs: tuple[TransferLeg, ...] = ()
    caller_id: str | None = None
    """``transferCallerId``: the B-legs' ``from`` (default: the A-leg's ``from``)."""
    call_timeout_s: float = 30.0
    method: str = "POST"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    fallback: Fallback | None = None
    tag: str | None = None

    @property
    def url(self) -> str | None:
        """Where ``transferComplete`` goes (None: the verbs after ``<Transfer>`` run)."""
        return self.complete_url


@dataclass(frozen=True)
class Redirect:
    """Fetch new BXML from ``url`` (the redirect webhook) and run it instead."""

    line: int | None
    url: str
    method: str
    username: str | None
    password: str | None = field(repr=False)
    fallback: Fallback | None = None
    tag: str | None = None
    """The verb's ``tag``: the call's tag from this webhook on (``""`` clears it)."""


@dataclass(frozen=True)
class Gather:
    """Collect DTMF digits, then post them to ``url`` (if any) and run its BXML."""

    line: int | None
    url: str | None
    method: str
    username: str | None
    password: str | None = field(repr=False)
    max_digits: int
    terminating_digits: str
    first_digit_timeout_s: float
    inter_digit_timeout_s: float
    prompts: tuple[SpeakSentence, ...]
    audio_prompts: tuple[str, ...] = ()
    """The URLs of nested ``<PlayAudio>`` prompts."""
    repeat_count: int = 1
    fallback: Fallback | None = None
    tag: str | None = None
    """The verb's ``tag``: the call's tag from this webhook on (``""`` clears it)."""


@dataclass(frozen=True)
class StartGather:
    """Send a ``dtmf`` webhook to ``url`` for each key the caller presses (non-blocking)."""

    line: int | None
    url: str
    method: str
    username: str | None
    password: str | None = field(repr=False)


@dataclass(frozen=True)
class StopGather:
    """Stop what ``<StartGather>`` started."""

    line: int | None


@dataclass(frozen=True)
class Tag:
    """Set the tag every later webhook of the call carries (``""`` clears it)."""

    line: int | None
    value: str


@dataclass(frozen=True)
class Unsimulated:
    """A documented verb bwsim does not simulate: recorded, then skipped."""

    line: int | None
    verb: str


Step = (
    StartStream
    | StopStream
    | Pause
    | Ring
    | Hangup
    | SpeakSentence
    | PlayAudio
    | Transfer
    | Redirect
    | Gather
    | StartGather
    | StopGather
    | Tag
    | Unsimulated
)


def speech_seconds(text: str) -> float:
    """How long bwsim holds a ``<SpeakSentence>``: at least a second."""
    return max(1.0, len(text.split()) / WORDS_PER_SECOND)


def gather_prompt_seconds(step: Gather) -> float:
    """How long one playing of a ``<Gather>``'s nested prompts lasts."""
    spoken = sum(speech_seconds(p.text) for p in step.prompts)
    return spoken + PLAY_AUDIO_PROMPT_S * len(step.audio_prompts)


def _url(base: str, value: str | None) -> str | None:
    return urljoin(base, value) if value else None


def _float(verb: Verb, name: str, default: float) -> float:
    raw = verb.attributes.get(name)
    return default if raw is None else float(raw)


def _bool(verb: Verb, name: str, default: bool) -> bool:
    raw = verb.attributes.get(name)
    return default if raw is None else raw.strip().lower() == "true"


def _method(verb: Verb, name: str) -> str:
    return verb.attributes.get(name, "POST").upper()


def _fallback(verb: Verb, base: str, prefix: str) -> Fallback | None:
    """The verb's ``{prefix}FallbackUrl`` with its method and ``fallbackUsername``/``Password``."""
    url = _url(base, verb.attributes.get(f"{prefix}FallbackUrl"))
    if url is None:
        return None
    return Fallback(
        url,
        _method(verb, f"{prefix}FallbackMethod"),
        verb.attributes.get("fallbackUsername"),
        verb.attributes.get("fallbackPassword"),
    )


def _transfer_leg(target: TransferTarget, base: str) -> TransferLeg:
    a = target.attributes
    fallback_url = _url(base, a.get("transferAnswerFallbackUrl"))
    fallback = None
    if fallback_url is not None:
        fallback = Fallback(
            fallback_url,
            a.get("transferAnswerFallbackMethod", "POST").upper(),
            a.get("fallbackUsername"),
            a.get("fallbackPassword"),
        )
    return TransferLeg(
        to=target.value.strip(),
        answer_url=_url(base, a.get("transferAnswerUrl")),
        answer_method=a.get("transferAnswerMethod", "POST").upper(),
        answer_fallback=fallback,
        disconnect_url=_url(base, a.get("transferDisconnectUrl")),
        disconnect_method=a.get("transferDisconnectMethod", "POST").upper(),
        username=a.get("username"),
        password=a.get("password"),
        tag=a.get("tag"),
    )


def _speak(verb: Verb) -> SpeakSentence:
    return SpeakSentence(verb.line, verb.text, verb.attributes.get("voice"))


def _step(verb: Verb, base: str) -> Step:
    a = verb.attributes
    match verb.name:
        case "StartStream":
            tracks = a.get("tracks", "inbound")
            return StartStream(
                line=verb.line,
                destination=a["destination"],
                name=a.get("name"),
                bidirectional=a.get("mode", "unidirectional") == "bidirectional",
                tracks=("inbound", "outbound") if tracks == "both" else (tracks,),
                username=a.get("destinationUsername"),
                password=a.get("destinationPassword"),
                params={
                    c.attributes.get("name", ""): c.attributes.get("value", "")
                    for c in verb.children
                    if c.name == "StreamParam"
                },
                event_url=_url(base, a.get("streamEventUrl")),
                event_method=_method(verb, "streamEventMethod"),
                event_username=a.get("username"),
                event_password=a.get("password"),
            )
        case "StopStream":
            return StopStream(verb.line, a["name"], _bool(verb, "wait", default=False))
        case "Pause":
            return Pause(verb.line, _float(verb, "duration", 1.0))
        case "Ring":
            return Ring(verb.line, _float(verb, "duration", 5.0), _bool(verb, "answerCall", True))
        case "Hangup":
            return Hangup(verb.line)
        case "SpeakSentence":
            return _speak(verb)
        case "PlayAudio":
            url = _url(base, verb.text.strip()) or ""  # none: the shell says so
            return PlayAudio(verb.line, url, a.get("username"), a.get("password"))
        case "Transfer":
            return Transfer(
                line=verb.line,
                targets=tuple(t.value for t in verb.targets),
                attributes=dict(a),
                complete_url=_url(base, a.get("transferCompleteUrl")),
                legs=tuple(_transfer_leg(t, base) for t in verb.targets),
                caller_id=a.get("transferCallerId"),
                call_timeout_s=_float(verb, "callTimeout", 30.0),
                method=_method(verb, "transferCompleteMethod"),
                username=a.get("username"),
                password=a.get("password"),
                fallback=_fallback(verb, base, "transferComplete"),
                tag=a.get("tag"),
            )
        case "Redirect":
            return Redirect(
                line=verb.line,
                url=_url(base, a["redirectUrl"]) or base,
                method=_method(verb, "redirectMethod"),
                username=a.get("username"),
                password=a.get("password"),
                fallback=_fallback(verb, base, "redirect"),
                tag=a.get("tag"),
            )
        case "Gather":
            return Gather(
                line=verb.line,
                url=_url(base, a.get("gatherUrl")),
                method=_method(verb, "gatherMethod"),
                username=a.get("username"),
                password=a.get("password"),
                max_digits=int(_float(verb, "maxDigits", 50)),
                terminating_digits=a.get("terminatingDigits", ""),
                first_digit_timeout_s=_float(verb, "firstDigitTimeout", 5.0),
                inter_digit_timeout_s=_float(verb, "interDigitTimeout", 5.0),
                prompts=tuple(_speak(c) for c in verb.children if c.name == "SpeakSentence"),
                audio_prompts=tuple(c.text for c in verb.children if c.name == "PlayAudio"),
                repeat_count=int(_float(verb, "repeatCount", 1)),
                fallback=_fallback(verb, base, "gather"),
                tag=a.get("tag"),
            )
        case "StartGather":
            return StartGather(
                line=verb.line,
                url=_url(base, a["dtmfUrl"]) or base,
                method=_method(verb, "dtmfMethod"),
                username=a.get("username"),
                password=a.get("password"),
            )
        case "StopGather":
            return StopGather(verb.line)
        case "Tag":
            return Tag(verb.line, verb.text.strip())  # trimmed (docs/bandwidth.md §2.1)
        case _:
            return Unsimulated(verb.line, verb.name)


def plan(document: BxmlDocument, base_url: str) -> list[Step]:
    """The steps Bandwidth would run for ``document``, served from ``base_url``.

    Steps after a ``<Redirect>``, or after a ``<Gather>`` that posts to a URL, are never
    reached and are left out; the implicit hang-up at the end is the executor's.
    """
    steps: list[Step] = []
    for verb in document.verbs:
        step = _step(verb, base_url)
        steps.append(step)
        if isinstance(step, Redirect) or (isinstance(step, Gather) and step.url):
            break
    return steps


@dataclass(frozen=True)
class StreamHold:
    """What holds the call up once a document's first ``<StartStream>`` has run."""

    stream: StartStream | None
    """The first ``<StartStream>``; None when the document opens no stream."""
    verbs: tuple[str, ...]
    """The verbs after it that run while the stream is up, in order."""
    seconds: float | None
    """How long they hold the call; None for "until the stream's socket closes"."""

    def keeps_up(self, at_least_s: float = 0.0) -> bool:
        """Whether the stream opens and the call is held longer than ``at_least_s``.

        ``<StartStream>`` does not block: a document that ends after it hangs up at once.
        """
        if self.stream is None:
            return False
        return self.seconds is None or self.seconds > at_least_s


def stream_hold(steps: list[Step]) -> StreamHold:
    """Read what holds the call after the first ``<StartStream>`` of ``steps``.

    ``<Pause>`` and ``<Ring>`` hold for their duration, ``<SpeakSentence>`` for its speech
    time, ``<PlayAudio>`` for :data:`PLAY_AUDIO_S`, ``<StopStream wait="true">`` on that
    stream until its socket closes. Stopping the stream, or a verb that hands control
    away or ends the call, ends the count.
    """
    index = next((i for i, s in enumerate(steps) if isinstance(s, StartStream)), None)
    if index is None:
        return StreamHold(None, (), 0.0)
    stream = steps[index]
    assert isinstance(stream, StartStream)
    held = 0.0
    verbs: list[str] = []
    for step in steps[index + 1 :]:
        verbs.append(type(step).__name__)
        if isinstance(step, StopStream) and step.name == stream.name:
            if step.wait:
                return StreamHold(stream, tuple(verbs), None)
            break  # the stream is stopped: the call goes on without it
        if isinstance(step, Pause | Ring):
            held += step.seconds
        elif isinstance(step, SpeakSentence):
            held += speech_seconds(step.text)
        elif isinstance(step, PlayAudio):
            held += PLAY_AUDIO_S
        elif isinstance(step, Redirect | Gather | Transfer | Hangup):
            break  # control leaves the document, or the call ends, here
    return StreamHold(stream, tuple(verbs), held)
