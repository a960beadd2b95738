"""What the caller hears during ``<SpeakSentence>``, ``<PlayAudio>`` and ``<Ring>``: the shell.

:class:`VerbAudio` carries out the runner's audio commands for one call
(:mod:`simulator.protocol.verb_audio`). It fetches a ``<PlayAudio>`` file from the bot on
loopback (the URL is mapped to the bot as every URL in the bot's BXML is,
:func:`~simulator.protocol.urls.http_url`; bwsim never goes further), decodes it with
libsndfile and takes its real length; a file it cannot get or read lasts
``CallOptions.play_audio_s`` and the timeline notes why. Each verb's sound goes on a
:class:`~simulator.protocol.media.Playout` of its own in the recorder, at the time it is
heard, so it is on the bot side of ``call.wav`` and in the outbound track of every stream
that carries it (docs/bandwidth.md §1.9, §3.5). A redirect, a BXML replacement or the
call's end cuts it off where the caller stopped hearing it. The timeline gets
``verb-audio-start`` and ``verb-audio-end``.
"""

from __future__ import annotations

import io
import math
from urllib.parse import urlsplit

import httpx
import numpy as np
import soundfile as sf

from simulator.call.options import CallOptions
from simulator.call.recorder import CallRecorder
from simulator.protocol.codec import PHONE_RATE, Pcm, to_phone_pcm
from simulator.protocol.media import SAMPLES_PER_MS, Playout
from simulator.protocol.urls import http_url
from simulator.protocol.verb_audio import (
    PLAYABLE_CONTENT_TYPES,
    AudioFetched,
    PlayVerbAudio,
    placeholder_tone,
    playable_content_type,
    ringback,
)
from simulator.protocol.verbs import PlayAudio, Ring, SpeakSentence

__all__ = ["MAX_AUDIO_BYTES", "VerbAudio", "decode_audio"]

MAX_AUDIO_BYTES = 64 * 1024 * 1024
"""The largest ``<PlayAudio>`` file bwsim fetches: a minute of audio is a few megabytes, an
hour of 8 kHz μ-law WAV 29 MB. Bandwidth recommends files under 250 MB."""


class _Unplayable(Exception):
    """Why a ``<PlayAudio>`` file is not played (the note says what to do)."""


def decode_audio(data: bytes) -> Pcm:
    """Decode a WAV or MP3 file to 8 kHz mono int16; raises ValueError if it holds none."""
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        why = getattr(exc, "error_string", None) or str(exc)
        raise ValueError(f"libsndfile cannot read it ({why})") from None
    if len(samples) == 0 or not np.isfinite(samples).all():
        raise ValueError("it holds no audio")
    return to_phone_pcm(samples, int(rate))


class VerbAudio:
    """The sound of one call's timed verbs, on the call's outbound track."""

    def __init__(self, recorder: CallRecorder, options: CallOptions, bot_base_url: str) -> None:
        self.recorder = recorder
        self.options = options
        self.bot_base_url = bot_base_url
        self.playout = Playout()
        """Every verb's sound, heard in order (added to the recording at its first sound)."""
        self._fetched: tuple[PlayAudio, Pcm] | None = None
        self._playing: tuple[str, int] | None = None
        """The verb being heard and the sample where its sound ends."""

    # -- <PlayAudio>'s file -------------------------------------------------------------

    async def fetch(self, client: httpx.AsyncClient, step: PlayAudio) -> AudioFetched:
        """Get ``step``'s file from the bot; its length, or the default with a note."""
        self._fetched = None
        try:
            samples = await self._get(client, step)
        except _Unplayable as why:
            seconds = self.options.play_audio_s
            self.recorder.event(
                "note",
                detail=f"<PlayAudio> {step.url}: {why}; bwsim plays a {seconds:g} s tone "
                "instead (CallOptions.play_audio_s)",
            )
            return AudioFetched(step, seconds)
        self._fetched = (step, samples)
        return AudioFetched(step, len(samples) / PHONE_RATE)

    async def _get(self, client: httpx.AsyncClient, step: PlayAudio) -> Pcm:
        if not step.url:
            raise _Unplayable("the verb names no file (its text is the file's URL)")
        if urlsplit(step.url).scheme.lower() not in ("http", "https"):
            raise _Unplayable("not an http(s) URL")
        url = http_url(step.url, self.bot_base_url)
        auth = None
        if step.username is not None and step.password is not None:
            auth = httpx.BasicAuth(step.username, step.password)
        body = bytearray()
        try:
            async with client.stream(
                "GET", url, auth=auth, timeout=self.options.webhook_timeout_s
            ) as response:
                status, kind = response.status_code, response.headers.get("content-type")
                if status == 200:
                    async for chunk in response.aiter_bytes():
                        body.extend(chunk)
                        if len(body) > MAX_AUDIO_BYTES:
                            raise _Unplayable(f"the file is over {MAX_AUDIO_BYTES:,} bytes")
        except httpx.HTTPError as exc:
            raise _Unplayable(
                f"bwsim could not get it from the bot at {url} ({type(exc).__name__}); it "
                "maps every URL in the bot's BXML to the bot on loopback: serve the file "
                "from the bot to hear it"
            ) from None
        self.recorder.log("play-audio-fetch", url=url, status=status, content_type=kind)
        if status != 200:
            raise _Unplayable(
                f"the bot answered GET {url} with HTTP {status}, not 200 with the file "
                "(bwsim maps every URL in the bot's BXML to the bot on loopback)"
            )
        if not playable_content_type(kind):
            types = ", ".join(sorted(PLAYABLE_CONTENT_TYPES))
            raise _Unplayable(
                f"it was served as Content-Type {kind!r}; Bandwidth tells the format by "
                f"the Content-Type and plays only {types}"
            )
        try:
            return decode_audio(bytes(body))
        except ValueError as exc:
            raise _Unplayable(f"it is not a WAV or MP3 file bwsim can play: {exc}") from None

    # -- what the caller hears ----------------------------------------------------------

    def play(self, command: PlayVerbAudio) -> None:
        """Put the sound of ``command``'s verb on the outbound track, from now."""
        step, seconds = command.step, command.seconds
        now_ms = self.recorder.clock.ms()
        # The runner moved on, so the verb before has ended (its last sample may lie a
        # fraction of a millisecond ahead of this clock reading).
        self.settle(math.inf)
        detail: dict[str, object] = {"verb": type(step).__name__, "seconds": round(seconds, 3)}
        samples: Pcm | None
        if isinstance(step, PlayAudio):
            detail["url"] = step.url
            fetched, self._fetched = self._fetched, None
            if fetched is not None and fetched[0] is step:
                detail["sound"], samples = "file", fetched[1]
            else:
                detail["sound"], samples = "tone", placeholder_tone(seconds)
        elif isinstance(step, Ring) and self.options.ring_sound == "silence":
            detail["sound"], samples = "silence", None
        elif isinstance(step, Ring):
            detail["sound"], samples = "ringback", ringback(seconds)
        else:
            assert isinstance(step, SpeakSentence)
            detail["sound"], samples = "tone", placeholder_tone(seconds)
        start = round(now_ms * SAMPLES_PER_MS)
        if samples is not None and len(samples):
            if self.playout not in self.recorder.playouts:
                self.recorder.playouts.append(self.playout)
            start = self.playout.enqueue(samples, now_ms).start
        self.recorder.event("verb-audio-start", at_ms=start / SAMPLES_PER_MS, **detail)
        self._playing = (str(detail["verb"]), start + round(seconds * PHONE_RATE))

    def settle(self, now_ms: float | None = None) -> None:
        """Record the end of a verb's sound once it has been heard to the end."""
        now = self.recorder.clock.ms() if now_ms is None else now_ms
        if self._playing is not None and self._playing[1] <= now * SAMPLES_PER_MS:
            verb, end = self._playing
            self._playing = None
            self.recorder.event("verb-audio-end", at_ms=end / SAMPLES_PER_MS, verb=verb)

    def cut(self) -> None:
        """Stop the sound now (the verb was interrupted, or the call ended)."""
        now_ms = self.recorder.clock.ms()
        self.settle(now_ms)
        if self._playing is None:
            return
        verb, _ = self._playing
        self._playing = None
        self.playout.clear(now_ms)
        self.recorder.event("verb-audio-end", at_ms=now_ms, verb=verb, interrupted=True)
