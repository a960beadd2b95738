"""Call archives: the recorded call ``bwsim record`` writes and ``bwsim replay`` plays back."""

from simulator.archive.model import (
    ARCHIVE_FILE,
    FRAMES_FILE,
    SCHEMA,
    WAV_FILE,
    ApiRecord,
    ArchiveError,
    CallArchive,
    FrameRecord,
    Sender,
    StreamRecord,
    WebhookRecord,
)
from simulator.archive.tracks import RecordedAudio, caller_audio, recorded_audio

__all__ = [
    "ARCHIVE_FILE",
    "FRAMES_FILE",
    "SCHEMA",
    "WAV_FILE",
    "ApiRecord",
    "ArchiveError",
    "CallArchive",
    "FrameRecord",
    "RecordedAudio",
    "Sender",
    "StreamRecord",
    "WebhookRecord",
    "caller_audio",
    "recorded_audio",
]
