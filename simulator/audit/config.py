"""The audit's settings: budgets, the token lifetime, and what the caller says.

Budgets are product behaviour (how long a bot may take to greet, to stop talking when
talked over, to hang up a dropped call); each has a default from what Bandwidth's guide
and Pipecat 1.14 do, and each can be changed.

The caller's lines are real speech, one sentence per file (the packaged recordings,
:data:`simulator.suite.AUDIO_DIR`), and the audit gives the same sentence as text to the
simulator's control API, so a bot on real speech services (its STT hears the audio) and
a bot on scripted stand-ins (they read the text from ``$BWSIM_CONTROL_URL``) take the
same turns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from simulator.call.audio_files import channel_count, load_caller_audio
from simulator.errors import AudioFileError
from simulator.protocol.codec import Pcm
from simulator.protocol.webhook_signing import Signing
from simulator.suite import AUDIO_DIR

__all__ = ["DEFAULT_AUDIO_DIR", "LINES", "AuditConfig", "Line", "Utterance", "load_lines"]

DEFAULT_AUDIO_DIR: Final = AUDIO_DIR
"""The packaged caller recordings (``--audio-dir`` takes a folder of your own)."""


@dataclass(frozen=True)
class Line:
    """One caller sentence: the file that says it, and its words."""

    file: str
    text: str


LINES: Final = {
    "hello": Line("hello.wav", "Hello, can you hear me?"),
    "person": Line("person.wav", "I would like to speak to a person please."),
    "goodbye": Line("goodbye.wav", "Thank you, goodbye."),
    "monologue": Line(
        "monologue.wav",
        "I have been a customer of yours for many years, and I am calling because my last "
        "bill was much higher than usual, even though I did not use the service any more "
        "than I normally do.",
    ),
}
"""What the audit's caller says (fixtures/README.md lists how each file was made)."""


@dataclass(frozen=True)
class Utterance:
    """A caller sentence ready to stream: 8 kHz samples and the text it says."""

    name: str
    text: str
    samples: Pcm = field(repr=False)

    @property
    def seconds(self) -> float:
        """How long it takes to say."""
        return len(self.samples) / 8000


def load_lines(audio_dir: Path) -> dict[str, Utterance]:
    """Load every caller line; raises AudioFileError (exit 2) for a missing file."""
    return {
        name: Utterance(name, line.text, _load_line(audio_dir / line.file))
        for name, line in LINES.items()
    }


def _load_line(path: Path) -> Pcm:
    """One caller line: a mono file (``--audio-dir`` has no channel to choose)."""
    try:
        return load_caller_audio(path)
    except AudioFileError:
        channels = channel_count(path)
        if channels is not None and channels > 1:
            raise AudioFileError(
                path,
                f"bwsim audit speaks each caller line as one voice: give a mono file (this "
                f"one has {channels} channels; bwsim call --channel or a scenario's "
                "say: {file, channel} speak one channel of a recording)",
            ) from None
        raise


@dataclass(frozen=True)
class AuditConfig:
    """What to run and how strictly.

    ``only`` holds check ids or areas (``webhook`` selects every ``webhook.*`` check);
    empty runs every check. ``slow`` adds the checks that wait for a bot's idle timeout.
    """

    only: tuple[str, ...] = ()
    slow: bool = False
    strict: bool = False
    """Warnings, inconclusive and unreliable verdicts fail the audit too (exit 1)."""
    token_ttl_s: float = 60.0
    """The bot's stream-token lifetime; ``ws.token_expiry`` uses a token after it."""
    token_margin_s: float = 3.0
    """How long past ``token_ttl_s`` the expired token is presented."""
    greeting_budget_ms: float = 3000.0
    """How soon after the stream opens the caller must hear the bot."""
    clear_budget_ms: float = 1500.0
    """How soon after the caller starts talking over the bot ``clear`` must come."""
    hangup_budget_s: float = 5.0
    """How soon after its stream drops the bot must hang its call up."""
    transfer_budget_s: float = 20.0
    """How soon after the caller asks for a person the transfer must be requested."""
    idle_timeout_s: float = 300.0
    """The bot's idle timeout (Pipecat's default); ``hangup.on_silence`` waits this long."""
    idle_margin_s: float = 30.0
    settle_s: float = 2.0
    """How long to keep watching for late Voice API requests after a call."""
    max_retries: int = 3
    """Requests for a gone call beyond this many count as retrying forever."""
    fuzz_examples: int = 12
    """How many generated ``start`` sequences ``fuzz.start_metadata`` sends."""
    fuzz_seed: int | None = None
    """Hypothesis's seed for ``fuzz.start_metadata`` (``--fuzz-seed``; else ``HYPOTHESIS_SEED``,
    else a random one); the same seed sends the same examples again."""
    fuzz_out: Path | None = None
    """Folder the scenario replaying a failing example is written to (``bwsim audit``:
    beside ``--json``, else the current directory); None keeps it in the evidence only."""
    max_calls: int = 4
    """Simulated calls with real-time media at once (the bot's CPU is shared)."""
    webhook_path: str = "/"
    signing: Signing | None = None
    """bwsim's signing extension, for a bot behind a signing gateway (``--signing-secret``):
    every webhook the audit sends is signed with it, and ``webhook.signature`` runs. None
    (the default, a bot for plain Bandwidth): nothing about signatures is sent or checked."""
    audio_dir: Path = DEFAULT_AUDIO_DIR
    check_timeout_s: float = 180.0
    """A check still running after this long (plus its own waits) is an audit error."""
