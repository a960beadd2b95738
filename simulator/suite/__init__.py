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
- :data:`PATHS_DIR` holds opt-in scenario files for the paths a bot takes less often
  (cleanup on ``disconnect``, an outbound call answered after a long ring, a ``<Gather>``
  menu the caller does not answer). They are not in the default run; a user runs them by
  name, ``bwsim run --app mybot:app bwsim:paths/outbound.yaml``, and points them at the
  bot's own paths with a file of theirs that says ``extends: bwsim:paths/outbound.yaml``.

Any ``bwsim:NAME`` (``bwsim:audio``, ``bwsim:paths/dtmf.yaml``, ``bwsim:scenarios``)
names a file or folder of this package: :func:`resolve_packaged` is the one place that
turns it into a path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import yaml

__all__ = [
    "AUDIO_DIR",
    "AUDIO_DIR_NAME",
    "PACKAGED_PREFIX",
    "PATHS_DIR",
    "SCENARIOS_DIR",
    "resolve_audio_dir",
    "resolve_audio_file",
    "resolve_packaged",
    "transcript",
]

_HERE: Final = Path(__file__).resolve().parent
SCENARIOS_DIR: Final = _HERE / "scenarios"
"""The packaged scenario files."""
AUDIO_DIR: Final = _HERE / "audio"
"""The packaged caller recordings and their ``transcripts.yaml``."""
PATHS_DIR: Final = _HERE / "paths"
"""The opt-in scenario files for disconnect cleanup, outbound calls and DTMF menus."""
PACKAGED_PREFIX: Final = "bwsim:"
"""How a path names a file or folder of this package: ``bwsim:paths/outbound.yaml``."""
AUDIO_DIR_NAME: Final = PACKAGED_PREFIX + "audio"
"""What a scenario file writes as ``audio_dir`` to use :data:`AUDIO_DIR`."""


def resolve_packaged(value: str) -> Path | None:
    """The file or folder of this package that ``bwsim:NAME`` names; None for other paths.

    Raises ``ValueError`` for a name that leads outside the package (``bwsim:../x``).
    Whether the file exists is the caller's to check, so its message can name the key.
    """
    if not value.startswith(PACKAGED_PREFIX):
        return None
    name = value.removeprefix(PACKAGED_PREFIX).strip("/")
    path = (_HERE / name).resolve()
    if not path.is_relative_to(_HERE):
        raise ValueError(f"{value!r} leads outside bwsim's packaged files")
    return path


def resolve_audio_dir(value: str, base: Path) -> Path:
    """The folder an ``audio_dir`` value names: :data:`AUDIO_DIR`, or a path from ``base``."""
    return resolve_packaged(value) or (base / value).resolve()


def resolve_audio_file(value: str, base: Path | None = None) -> Path:
    """The file an audio value names: ``bwsim:audio/NAME.wav`` (packaged) or a path.

    A relative path is taken from ``base`` (default: the current folder).
    """
    if value.startswith(AUDIO_DIR_NAME + "/"):
        packaged = resolve_packaged(value)
        assert packaged is not None  # it starts with the prefix
        return packaged
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
