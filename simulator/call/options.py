"""How bwsim places one call: the options a test or the CLI can set."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from simulator.errors import ConfigError
from simulator.protocol.transfer import TransferParty, TransferStream
from simulator.protocol.verbs import PLAY_AUDIO_S
from simulator.protocol.webhook_auth import AuthMode, check_signing_secret
from simulator.protocol.webhook_signing import Signing
from simulator.protocol.wire import DEFAULT_WIRE, WireName, wire_profile

__all__ = ["DEFAULT_MAX_CALL_S", "FALLBACK_ON", "CallOptions", "FallbackOn", "RingSound"]


DEFAULT_MAX_CALL_S: Final = 60.0
"""Longest call, in seconds, unless a call says otherwise: every command, scenario and
library call has this one default (``CallOptions.max_call_s``, ``call.max_call_s`` in
scenario files, ``--max-seconds``); bwsim then ends the call and says so."""


FallbackOn = Literal["failure", "no-answer"]
FALLBACK_ON: Final[tuple[FallbackOn, ...]] = ("failure", "no-answer")
"""When a webhook goes to the verb's fallback URL (docs/bandwidth.md §2.1, §6)."""

RingSound = Literal["ringback", "silence"]
"""What the caller hears during ``<Ring>`` (docs/bandwidth.md §3.5, §6)."""


@dataclass
class CallOptions:
    """How Bandwidth places the call, and which of its undocumented choices to make."""

    from_: str = "+15555550100"
    to: str = "+15555550199"
    webhook_path: str = "/"
    auth_mode: AuthMode = "challenge"
    webhook_username: str | None = None
    webhook_password: str | None = field(default=None, repr=False)
    webhook_timeout_s: float = 15.0
    signing: Signing | None = None
    """bwsim's opt-in signing *extension* for the webhooks it sends (Bandwidth signs no voice
    webhook; docs/bandwidth.md §2.8): secret, header, algorithm and mode. None signs nothing."""
    signing_secret: str | None = field(default=None, repr=False)
    """The shortcut for ``signing=Signing(signing_secret)`` (good HMAC-SHA256 signatures)."""
    initiate_overrides: Mapping[str, Any] | None = None
    """Keys replaced in the ``initiate`` body (a malformed-webhook scenario); None removes."""
    initiate_raw: bytes | None = None
    """Send these bytes as the ``initiate`` body instead of JSON (a fuzzer's garbage)."""
    disconnect_path: str | None = None
    """Where the ``disconnect`` webhook goes (the application's CallStatusCallbackUrl);
    None sends none, as for an application without one."""
    fallback_on: FallbackOn = "failure"
    """When a webhook is resent to the verb's ``*FallbackUrl``: ``failure`` after any
    delivery that was not answered 2xx (a timeout, a refused connection, an error status);
    ``no-answer`` only when no answer came (a timeout or a refused connection). Bandwidth
    says only "fails to respond" (docs/bandwidth.md §2.1)."""
    metadata_overrides: Mapping[str, Any] | None = None
    """Keys replaced in the ``start`` frame's metadata: forged ids for spoofing checks."""
    sequence_start: int = 1
    wire: WireName = DEFAULT_WIRE
    """The form of the media-stream frames (docs/bandwidth.md §1.5): ``observed`` (what a
    live Bandwidth stream carried, the default), ``documented`` (Bandwidth's 2023 page:
    ``eventType`` first, encoding ``audio/PCMU``) or ``numeric-account`` (``accountId`` a
    JSON number)."""
    stream_delay_s: float = 0.0
    """How long Bandwidth waits before opening the media socket (an expired-token check)."""
    stream_open_timeout_s: float = 10.0
    max_call_s: float = DEFAULT_MAX_CALL_S
    orphan_grace_s: float = 5.0
    strict_root: bool = False
    play_audio_s: float = PLAY_AUDIO_S
    """How long a ``<PlayAudio>`` lasts when bwsim cannot get or read its file from the bot
    (it then plays a tone that long and notes why; docs/bandwidth.md §6)."""
    ring_sound: RingSound = "ringback"
    """What the caller hears during ``<Ring>``: the North American ringback tone, or
    silence. Bandwidth says "ringing audio" without saying which (docs/bandwidth.md §6)."""
    caller_lines: list[str] = field(default_factory=list)
    """What the caller says, as text, for a bot's scripted speech-to-text."""
    transfer: TransferParty = field(default_factory=TransferParty)
    """What the people a ``<Transfer>`` dials do: answer after a short ring and talk for
    a few seconds, or be busy, not answer, reject (docs/bandwidth.md §2.7)."""
    transfer_stream: TransferStream = "ends"
    """What a transfer does to the A-leg's stream and API control: ``ends`` (the Pipecat
    guide's account, the default) or ``stays`` (the API reference's; docs/bandwidth.md §5.5)."""

    def __post_init__(self) -> None:
        if self.signing is not None and self.signing_secret is not None:
            msg = "give CallOptions signing or signing_secret (its shortcut), not both"
            raise ConfigError(msg)
        if self.signing_secret is not None:
            check_signing_secret(self.signing_secret)  # refused here, not mid-call
        wire_profile(self.wire)  # a ValueError naming the choices, before any call starts

    @property
    def webhook_signing(self) -> Signing | None:
        """How webhooks are signed: ``signing``, or ``Signing(signing_secret)``, or None."""
        if self.signing_secret is not None:
            return Signing(self.signing_secret)
        return self.signing
