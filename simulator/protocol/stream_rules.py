"""Bandwidth's rules for several media streams on one call, Sans-I/O.

Which ``<StartStream>`` is opened and which is rejected (docs/bandwidth.md §1.9): a name
already used by a stream of the call that has not ended is rejected with cause
``duplicate``; a stream whose tracks would take the call past 4 concurrent tracks
(``tracks="both"`` counts 2) is rejected with cause ``track-limit``. And which frames a
stream gets (§1.2, §1.5): the ``inbound`` track is the caller's audio, copied to every
stream that asked for it; the ``outbound`` track is what the call leg hears, i.e. the
audio every bidirectional stream of the call sends back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "MAX_CONCURRENT_TRACKS",
    "StreamRejection",
    "admit_stream",
    "sends_inbound",
    "sends_outbound",
]

MAX_CONCURRENT_TRACKS = 4
"""Tracks that may stream at once on one call; ``tracks="both"`` counts 2 (§1.9)."""


@dataclass(frozen=True)
class StreamRejection:
    """Why a ``<StartStream>`` is not opened: a mediaStreamRejected ``cause`` (§1.8).

    ``original`` names the stream that already holds the name, for ``duplicate``.
    """

    cause: str
    detail: str
    original: str | None = None


def admit_stream(
    name: str, tracks: tuple[str, ...], open_streams: Mapping[str, tuple[str, ...]]
) -> StreamRejection | None:
    """Whether a new stream may open next to ``open_streams`` (name: tracks), or why not.

    ``open_streams`` are the call's streams that have not ended (a stream asked to stop
    still counts until its socket has closed). The name is checked first: which check
    Bandwidth makes first is not documented (§1.9).
    """
    if name in open_streams:
        return StreamRejection(
            "duplicate",
            f"a stream named {name!r} is already open on this call; each stream of a call "
            "needs its own name",
            original=name,
        )
    in_use = sum(len(t) for t in open_streams.values())
    if in_use + len(tracks) > MAX_CONCURRENT_TRACKS:
        asked = "+".join(tracks)
        return StreamRejection(
            "track-limit",
            f"the call already streams {in_use} track(s) and this stream asks for "
            f"{len(tracks)} ({asked}): at most {MAX_CONCURRENT_TRACKS} tracks may stream at "
            'once on a call (tracks="both" counts 2)',
        )
    return None


def sends_inbound(tracks: tuple[str, ...]) -> bool:
    """Whether a stream with these tracks gets the caller's audio (the ``inbound`` track)."""
    return "inbound" in tracks


def sends_outbound(tracks: tuple[str, ...]) -> bool:
    """Whether a stream with these tracks gets what the caller hears (``outbound``)."""
    return "outbound" in tracks
