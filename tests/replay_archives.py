"""Synthetic call archives for the replay's tests: tones and silences, frame by frame.

They pin down what the plan, the turn schedule and the comparison do with an archive of
known content. The integration tests replay archives the real recorder wrote
(``tests/integration/test_replay.py``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from simulator.archive.model import (
    ApiRecord,
    CallArchive,
    FrameRecord,
    Sender,
    StreamRecord,
    WebhookRecord,
)
from simulator.protocol.codec import Pcm, ulaw_encode
from simulator.protocol.media import SAMPLES_PER_MS

FRAME_MS = 20.0
FRAME = int(FRAME_MS * SAMPLES_PER_MS)
CALL_ID = "c-recorded-0001"
ACCOUNT_ID = "9900001"
APPLICATION_ID = "app-recorded"
STREAM_ID = "s-recorded-0001"


def tone(ms: float, freq: float = 440.0, amp: float = 8000.0) -> Pcm:
    """A sine tone of ``ms`` at 8 kHz."""
    n = round(ms * SAMPLES_PER_MS)
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / 8000)).astype(np.int16)


def silence(ms: float) -> Pcm:
    """``ms`` of digital silence at 8 kHz."""
    return np.zeros(round(ms * SAMPLES_PER_MS), dtype=np.int16)


def initiate_body(**extra: Any) -> dict[str, Any]:
    """A recorded ``initiate`` body with recorded ids and numbers."""
    return {
        "eventType": "initiate",
        "eventTime": "2026-12-01T10:00:00.000Z",
        "accountId": ACCOUNT_ID,
        "applicationId": APPLICATION_ID,
        "from": "+15550001111",
        "to": "+15550002222",
        "direction": "inbound",
        "callId": CALL_ID,
        "callUrl": f"https://voice.bandwidth.com/api/v2/accounts/{ACCOUNT_ID}/calls/{CALL_ID}",
        "startTime": "2026-12-01T10:00:00.000Z",
        **extra,
    }


def _media(at_ms: float, samples: Pcm, seq: int) -> FrameRecord:
    payload = base64.b64encode(ulaw_encode(samples)).decode("ascii")
    text = json.dumps(
        {
            "eventType": "media",
            "media": {"track": "inbound", "sequenceNumber": str(seq), "payload": payload},
        }
    )
    return FrameRecord(at_ms=at_ms, stream=0, sender="caller", text=text)


def _play(at_ms: float, samples: Pcm) -> FrameRecord:
    payload = base64.b64encode(ulaw_encode(samples)).decode("ascii")
    text = json.dumps(
        {"eventType": "playAudio", "media": {"contentType": "audio/pcmu", "payload": payload}}
    )
    return FrameRecord(at_ms=at_ms, stream=0, sender="bot", text=text)


def _clear(at_ms: float) -> FrameRecord:
    return FrameRecord(at_ms=at_ms, stream=0, sender="bot", text='{"eventType": "clear"}')


def build_archive(
    caller: Pcm,
    bot: Sequence[tuple[float, Pcm]] = (),
    *,
    clears: Sequence[float] = (),
    opened_ms: float = 100.0,
    caller_offset_ms: float = 0.0,
    answer: str = "<Response><StartStream destination='wss://bot/ws'/><Pause duration='60'/>"
    "</Response>",
    body: dict[str, Any] | None = None,
    voice_api: list[ApiRecord] | None = None,
    closed_by: Sender = "caller",
    close_code: int = 1000,
    metadata: dict[str, Any] | None = None,
) -> CallArchive:
    """A recorded call: the caller's leg and the bot's plays, in 20 ms frames.

    The caller's leg is sent from ``caller_offset_ms`` after the stream opened; each
    ``(at_ms, audio)`` of ``bot`` is played in ``playAudio`` frames from ``at_ms``.
    """
    start_at = opened_ms + caller_offset_ms
    frames: list[FrameRecord] = []
    for seq, lo in enumerate(range(0, len(caller), FRAME)):
        chunk = caller[lo : lo + FRAME]
        frames.append(_media(start_at + lo / SAMPLES_PER_MS, chunk, seq + 1))
    for at_ms, audio in bot:
        for lo in range(0, len(audio), FRAME):
            frames.append(_play(at_ms + lo / SAMPLES_PER_MS, audio[lo : lo + FRAME]))
    frames.extend(_clear(c) for c in clears)
    frames.sort(key=lambda f: f.at_ms)
    end = max([start_at + len(caller) / SAMPLES_PER_MS] + [f.at_ms + FRAME_MS for f in frames])
    start = {
        "eventType": "start",
        "metadata": {
            "accountId": ACCOUNT_ID,
            "callId": CALL_ID,
            "streamId": STREAM_ID,
            "streamName": "stream-1",
            "tracks": [
                {"name": "inbound", "mediaFormat": {"encoding": "PCMU", "sampleRate": 8000}}
            ],
            **(metadata or {}),
        },
    }
    return CallArchive(
        recorded_at="2026-12-01T10:00:00Z",
        recorded_by="bwsim test",
        webhooks=[
            WebhookRecord(
                at_ms=0.0,
                method="POST",
                path="/",
                headers={"content-type": "application/json"},
                body=json.dumps(body or initiate_body()),
                status=200,
                answer=answer,
                answered_ms=30.0,
            )
        ],
        streams=[
            StreamRecord(
                index=0,
                destination="wss://bot/ws",
                opened_ms=opened_ms,
                start=start,
                closed_ms=end,
                closed_by=closed_by,
                close_code=close_code,
            )
        ],
        frames=frames,
        voice_api=voice_api,
        ended_ms=end,
    )


def hangup_request(at_ms: float, status: int = 200) -> ApiRecord:
    """The bot's Voice API request that hangs the recorded call up, and its answer."""
    return ApiRecord(
        at_ms=at_ms,
        method="POST",
        path=f"/api/v2/accounts/{ACCOUNT_ID}/calls/{CALL_ID}",
        body='{"state": "completed"}',
        status=status,
    )
