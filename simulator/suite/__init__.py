"""The packaged suite: generic scenarios for any Bandwidth bot, and the caller's audio.

Both ship in the wheel as package data, so ``bwsim run --app mybot:app`` with no paths,
``bwsim audit`` and the files ``bwsim init`` writes work outside this checkout.

- :data:`SCENARIOS_DIR` holds the scenario files (greeting, conversation, barge-in,
  hang-ups, transfer, forged ids, token replay, webhook authentication and bodies,
  dropped stream, replays of each recording).
- :data:`AUDIO_DIR` holds the caller recordings, one sentence per file, and
  ``transcripts.yaml`` saying what each one says (``fixtures/README.md`` lists how each
  was made). A scenario file names this folder as ``audio_dir: bwsim:audio``
  (:data:`AUDIO_DIR_NAME`), wherever the file itself lives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import yaml

__all__ = [
    "AUDIO_DIR",
    "AUDIO_DIR_NAME",
    "SCENARIOS_DIR",
    "resolve_audio_dir",
    "resolve_audio_file",
    "transcript",
]

_HERE: Final = Path(__file__).resolve().parent
SCENARIOS_DIR: Final = _HERE / "scenarios"
"""The packaged scenario files."""
AUDIO_DIR: Final = _HERE / "audio"
"""The packaged caller recordings and their ``transcripts.yaml``."""
AUDIO_DIR_NAME: Final = "bwsim:audio"
"""What a scenario file writes as ``audio_dir`` to use :data:`AUDIO_DIR`."""


def resolve_audio_dir(value: str, base: Path) -> Path:
    """The folder an ``audio_dir`` value names: :data:`AUDIO_DIR`, or a path from ``base``."""
    if value == AUDIO_DIR_NAME:
        return AUDIO_DIR
    return (base / value).resolve()


def resolve_audio_file(value: str, base: Path | None = None) -> Path:
    """The file an audio value names: ``bwsim:audio/NAME.wav`` (packaged) or a path.

    A relative path is taken from ``base`` (default: the current folder).
    """
    prefix = AUDIO_DIR_NAME + "/"
    if value.startswith(prefix):
        return AUDIO_DIR / value.removeprefix(prefix)
    path = Path(value)
    return path if base is None or path.is_absolute() else base / path


def transcript(audio: Path) -> str | None:
    """What ``audio`` says, from ``transcripts.yaml`` beside it (None if it is not there)."""
    index = audio.parent / "transcripts.yaml"
    if not index.is_file():
        return None
    try:
        data = yaml.safe_load(index.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    text = data.get(audio.name) if isinstance(data, dict) else None
    return text if isinstance(text, str) and text.strip() else None
