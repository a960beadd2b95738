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

__all__ = ["AUDIO_DIR", "AUDIO_DIR_NAME", "SCENARIOS_DIR", "resolve_audio_dir"]

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
