"""Wire profiles: the forms of the media-stream frames Bandwidth is known to send. No I/O.

Bandwidth's sources disagree on small things about the ``start``, ``media`` and ``stop``
frames (docs/bandwidth.md §1.5): where ``eventType`` sits in the object, whether the
track encoding is written ``PCMU`` or ``audio/PCMU``, whether ``accountId`` is a string
or a number. A bot has to survive every one of them, so bwsim can send each, chosen by
name (``CallOptions.wire``, ``call.wire`` in a scenario, ``bwsim call --wire``):

- ``observed`` (the default): what a live Bandwidth stream carried in September 2026
  (§1.5, S28): ``eventType`` last in each frame, encoding ``PCMU``, ``accountId`` a string;
- ``documented``: Bandwidth's 2023 page (S2): ``eventType`` first, as its examples write
  it, and the encoding its table gives, ``audio/PCMU``;
- ``numeric-account``: the observed form with ``accountId`` a JSON number, as one Pipecat
  change describes the wire (no Bandwidth source does).

:mod:`simulator.protocol.media` builds every frame through the profile it is given; this
module is the one home of these differences.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = [
    "DEFAULT_WIRE",
    "DOCUMENTED",
    "OBSERVED",
    "PROFILES",
    "WIRES",
    "WireName",
    "WireProfile",
    "wire_of",
    "wire_profile",
]

WireName = Literal["observed", "documented", "numeric-account"]


@dataclass(frozen=True)
class WireProfile:
    """One form of the media-stream frames: what differs between Bandwidth's sources."""

    name: WireName
    encoding: str
    """``mediaFormat.encoding`` of every track in ``start`` and ``stop``."""
    event_type_last: bool
    """Whether ``eventType`` is the last key of a frame (else the first)."""
    numeric_account: bool
    """Whether ``metadata.accountId`` is a JSON number (when the account id is digits)."""
    source: str
    """Where this form comes from, in a few words (docs/bandwidth.md §1.5)."""

    def frame(self, event_type: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A frame: ``body``'s keys in order, with ``eventType`` first or last."""
        if self.event_type_last:
            return {**body, "eventType": event_type}
        return {"eventType": event_type, **body}

    def account(self, account_id: Any) -> Any:
        """``accountId`` as this profile writes it: a number for digits, when numeric."""
        if self.numeric_account and isinstance(account_id, str) and account_id.isdecimal():
            return int(account_id)
        return account_id

    def media_text(self, quoted_track: str, number: int, payload: str) -> str:
        """One ``media`` frame's JSON text, byte for byte ``json.dumps`` of :meth:`frame`.

        ``quoted_track`` is the track name already JSON-quoted; the payload is base64 and
        the number an int, so nothing else needs escaping. Formatted by hand because it
        runs 50 times a second for every stream.
        """
        fields = f'"track": {quoted_track}, "sequenceNumber": "{number}", "payload": "{payload}"'
        if self.event_type_last:
            return f'{{{fields}, "eventType": "media"}}'
        return f'{{"eventType": "media", {fields}}}'

    def media_parts(self, quoted_track: str) -> tuple[bytes, bytes, bytes]:
        """One track's ``media`` frame as UTF-8 around its two variable parts.

        ``head + str(number) + middle + payload + tail`` is :meth:`media_text`'s text,
        encoded: the stream driver builds each frame's bytes from these, once per track,
        instead of formatting and encoding the whole text 50 times a second.
        """
        text = self.media_text(quoted_track, 0, "\0")
        number_at = text.index('"sequenceNumber": "') + len('"sequenceNumber": "')
        payload_at = text.index("\0")
        head = text[:number_at]
        middle = text[number_at + 1 : payload_at]
        tail = text[payload_at + 1 :]
        return head.encode(), middle.encode(), tail.encode()


OBSERVED: Final = WireProfile(
    name="observed",
    encoding="PCMU",
    event_type_last=True,
    numeric_account=False,
    source="a live Bandwidth stream, September 2026",
)
DOCUMENTED: Final = WireProfile(
    name="documented",
    encoding="audio/PCMU",
    event_type_last=False,
    numeric_account=False,
    source="Bandwidth's 2023 startStream page",
)
NUMERIC_ACCOUNT: Final = WireProfile(
    name="numeric-account",
    encoding="PCMU",
    event_type_last=True,
    numeric_account=True,
    source="the observed form with a numeric accountId, as one Pipecat change describes it",
)
PROFILES: Final[Mapping[str, WireProfile]] = {
    p.name: p for p in (OBSERVED, DOCUMENTED, NUMERIC_ACCOUNT)
}
WIRES: Final[tuple[WireName, ...]] = ("observed", "documented", "numeric-account")
"""Every profile's name, the default first."""
DEFAULT_WIRE: Final[WireName] = "observed"


def wire_profile(name: str) -> WireProfile:
    """The profile called ``name``; ValueError naming the choices for any other."""
    try:
        return PROFILES[name]
    except (KeyError, TypeError):
        msg = f"wire must be one of {', '.join(WIRES)}, got {json.dumps(name, default=str)}"
        raise ValueError(msg) from None


def wire_of(frame: Mapping[str, Any]) -> WireName | None:
    """The profile whose form a ``start`` or ``stop`` frame has, or None when none fits.

    Read from the frame itself: where ``eventType`` is, the first track's encoding, the
    type of ``accountId``. A fuzzer's replay scenario uses it to send the same form.
    """
    keys = list(frame)
    if not keys or "eventType" not in keys:
        return None
    last = keys[-1] == "eventType"
    if not last and keys[0] != "eventType":
        return None
    meta = frame.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    tracks = meta.get("tracks")
    first = tracks[0] if isinstance(tracks, list) and tracks else None
    media_format = first.get("mediaFormat") if isinstance(first, Mapping) else None
    encoding = media_format.get("encoding") if isinstance(media_format, Mapping) else None
    numeric = isinstance(meta.get("accountId"), int) and not isinstance(meta["accountId"], bool)
    for profile in PROFILES.values():
        if (
            profile.event_type_last == last
            and encoding in (None, profile.encoding)
            and profile.numeric_account == numeric
        ):
            return profile.name
    return None
