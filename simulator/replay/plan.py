"""A recorded call turned into the call bwsim places to replay it: the plan, pure.

bwsim plays Bandwidth for the replay as for any call, so ids are fresh (the fake's) and
the ``start`` frame is built by bwsim from the bot's BXML answer *now*; what is taken from
the archive:

- the first webhook's ``from``/``to`` and its other fields that are not ids or times
  (``diversion``, ``stirShaken``, ``uui``, ``sipCallId``, custom fields …) through
  ``initiate_overrides``; its path (``webhook_path``); the ``disconnect`` webhook's path
  (``disconnect_path``) when the recording has one;
- recorded ``start`` metadata keys bwsim does not write itself, through
  ``metadata_overrides`` (a key holding one of the recorded ids is left out: it would be
  a stale id);
- the caller's audio: the whole leg (``recorded`` timing) or its turns (``turns``).

The recorded ids are kept (:attr:`ReplayPlan.recorded_ids`) so the report can map them to
the fresh ones. No I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from simulator.archive.model import ARCHIVE_FILE, ArchiveError, CallArchive
from simulator.archive.tracks import caller_audio, recorded_audio
from simulator.call.options import DEFAULT_MAX_CALL_S, CallOptions
from simulator.judge.metrics import MetricsConfig
from simulator.protocol.codec import Pcm
from simulator.protocol.media import SAMPLES_PER_MS
from simulator.replay.facts import CallFacts, facts_from_archive
from simulator.replay.turns import TurnStep, turn_schedule

__all__ = [
    "DEFAULT_LINGER_MS",
    "DEFAULT_REPLY_TIMEOUT_MS",
    "FRESH_KEYS",
    "ID_KEYS",
    "TIMINGS",
    "ReplayPlan",
    "Timing",
    "plan_replay",
]

Timing = Literal["recorded", "turns"]
TIMINGS: Final[tuple[Timing, ...]] = ("recorded", "turns")

ID_KEYS: Final = ("accountId", "applicationId", "callId")
"""The recorded ids a replay replaces with fresh ones (and maps in its report)."""
FRESH_KEYS: Final = frozenset(
    {
        *ID_KEYS,
        "eventType",
        "eventTime",
        "startTime",
        "enqueuedTime",
        "answerTime",
        "callUrl",
        "direction",
        "from",
        "to",
    }
)
"""Keys of the first webhook bwsim writes itself for the replay (ids, times, numbers)."""
START_KEYS: Final = frozenset({"accountId", "callId", "streamId", "streamName", "tracks"})
"""Keys of the ``start`` metadata bwsim writes itself from the bot's ``<StartStream>``."""

DEFAULT_LINGER_MS: Final = 3000.0
"""How much longer than in the recording the caller stays on the line after its last words
when the bot (or no one known) ended the recorded call: the time the bot gets to hang up
as it did, before the caller hangs up instead."""
DEFAULT_REPLY_TIMEOUT_MS: Final = 15_000.0
"""In ``turns`` timing, how long a turn waits for the bot's reply to the previous one
before it is sent anyway (with a note)."""


@dataclass
class ReplayPlan:
    """How to replay one archive: the call's options and the caller's script."""

    options: CallOptions
    timing: Timing
    caller: Pcm = field(repr=False)
    """The caller's whole recorded leg (``recorded`` timing)."""
    offset_ms: float
    """When the caller's first frame came after the stream opened, in the recording."""
    turns: list[TurnStep]
    """The caller's turns and their anchors (``turns`` timing; also for the report)."""
    hangup_after_ms: float
    """How long the caller stays after its last audio before hanging up."""
    then: CallFacts
    """What the recorded call did, measured once (the comparison's "then")."""
    reply_timeout_ms: float = DEFAULT_REPLY_TIMEOUT_MS
    recorded_ids: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def id_map(self, fresh: dict[str, str]) -> dict[str, dict[str, str]]:
        """Each recorded id and the fresh one that replaced it: ``{key: {then, now}}``."""
        return {
            key: {"then": value, "now": fresh.get(key, "")}
            for key, value in self.recorded_ids.items()
        }


def plan_replay(
    archive: CallArchive,
    *,
    timing: Timing = "recorded",
    caller_lines: list[str] | None = None,
    linger_ms: float = DEFAULT_LINGER_MS,
    reply_timeout_ms: float = DEFAULT_REPLY_TIMEOUT_MS,
    config: MetricsConfig | None = None,
) -> ReplayPlan:
    """The replay of ``archive``; an archive that cannot be replayed is an ArchiveError."""
    if timing not in TIMINGS:
        msg = f"timing must be one of {', '.join(TIMINGS)}, got {timing!r}"
        raise ArchiveError(archive.path or "archive", msg, field_name="timing")
    first = archive.first_webhook()
    where = (archive.path or Path()) / ARCHIVE_FILE
    body = first.json_body()
    if body is None:
        raise ArchiveError(
            where,
            "the first webhook's body is not a JSON object: bwsim can only replay a call "
            "that began with Bandwidth's JSON initiate webhook",
            field_name="webhooks[0].body",
        )
    if body.get("eventType") == "answer" or body.get("direction") == "outbound":
        raise ArchiveError(
            where,
            "the recorded call is outbound (it began with an answer webhook); bwsim "
            "replay plays inbound calls only",
            field_name="webhooks[0].body",
        )
    notes: list[str] = []
    recorded_ids = {k: str(body[k]) for k in ID_KEYS if isinstance(body.get(k), str | int)}
    overrides = {k: v for k, v in body.items() if k not in FRESH_KEYS}
    options = CallOptions(
        from_=str(body.get("from", CallOptions.from_)),
        to=str(body.get("to", CallOptions.to)),
        webhook_path=first.path if first.path.startswith("/") else "/" + first.path,
        initiate_overrides=overrides or None,
        caller_lines=list(caller_lines or []),
    )
    for hook in archive.webhooks[1:]:
        if hook.event_type == "disconnect":
            options.disconnect_path = hook.path
            break
    stale = set(recorded_ids.values())
    if archive.streams:
        stream = archive.streams[0]
        recorded_ids.update(
            {
                f"start.{k}": str(v)
                for k, v in stream.metadata.items()
                if k in ("streamId",) and isinstance(v, str)
            }
        )
        extra = {k: v for k, v in stream.metadata.items() if k not in START_KEYS}
        dropped = sorted(k for k, v in extra.items() if str(v) in stale)
        extra = {k: v for k, v in extra.items() if k not in dropped}
        if extra:
            options.metadata_overrides = extra
        if dropped:
            notes.append(
                f"start metadata {', '.join(dropped)} held a recorded id: left out (bwsim "
                "sends fresh ids)"
            )
    audio = recorded_audio(archive)
    opened = audio.stream_opened_ms
    options.max_call_s = max(DEFAULT_MAX_CALL_S, audio.ended_ms / 1000 + 30)
    caller_frames = list(archive.frames_of(0, "caller")) if archive.streams else []
    media = [f for f in caller_frames if f.event_type == "media"]
    offset = max(0.0, media[0].at_ms - (opened or 0.0)) if media else 0.0
    turns = turn_schedule(audio.caller, audio.bot, stream_opened_ms=opened, config=config)
    if timing == "recorded":
        last = len(audio.caller) / SAMPLES_PER_MS
    else:
        last = turns[-1].end_ms if turns else (opened or 0.0)
    stream_end = archive.streams[0].closed_ms if archive.streams else None
    end = stream_end if stream_end is not None else audio.ended_ms
    tail = max(0.0, end - last)
    then = facts_from_archive(archive, config, audio=audio)
    hangup_after = tail if then.hangup is False and then.closed_by == "caller" else tail + linger_ms
    if not media:
        notes.append("the recording holds no caller audio: the caller stays silent")
    return ReplayPlan(
        options=options,
        timing=timing,
        caller=caller_audio(archive) if archive.streams else audio.caller[:0],
        offset_ms=offset,
        turns=turns,
        hangup_after_ms=hangup_after,
        then=then,
        reply_timeout_ms=reply_timeout_ms,
        recorded_ids=recorded_ids,
        notes=notes,
    )
