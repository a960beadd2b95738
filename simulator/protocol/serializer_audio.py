"""The ``playAudio`` frame exactly as Pipecat's Bandwidth serializer writes it. No I/O.

A bot built on Pipecat sends its audio 25-50 times a second per stream, always as
``json.dumps({"eventType": "playAudio", "media": {"contentType": CT, "payload": P}})``
(the form docs/bandwidth.md §1.6 gives). :func:`serializer_play_audio` reads that exact
text with a prefix test and a split instead of a JSON parse;
:class:`~simulator.protocol.media.MediaStream` gives every other frame its full checks.
"""

from __future__ import annotations

import binascii

from simulator.protocol.codec import PCM_RATES, AudioFormat, Pcm, parse_content_type

__all__ = ["serializer_play_audio"]

_SERIALIZER_HEAD = '{"eventType": "playAudio", "media": {"contentType": "'
_SERIALIZER_MIDDLE = '", "payload": "'
_SERIALIZER_TAIL = '"}}'
_SERIALIZER_TYPES = {
    ct: parse_content_type(ct)
    for ct in (
        "audio/pcmu",
        *(
            f"audio/pcm;rate={rate};channels=1;bit-depth=16;endian=little;encoding=signed"
            for rate in sorted(PCM_RATES)
        ),
    )
}
"""The content types Pipecat's Bandwidth serializer writes, exactly as it writes them."""


def serializer_play_audio(data: str) -> tuple[AudioFormat, str, Pcm, int] | None:
    """``playAudio`` exactly as Pipecat's serializer writes it, or None for anything else.

    Returns the audio format, the content type as written, the samples (8 kHz) and the
    payload's size in bytes.

    ``json.dumps({"eventType": "playAudio", "media": {"contentType": CT, "payload": P}})``
    with CT one of :data:`_SERIALIZER_TYPES` and P valid base64 is a text whose every
    character is fixed but P's, and P holds nothing JSON escapes: such a frame means what
    the full checks of :meth:`simulator.protocol.media.MediaStream.receive` make of it,
    found here with a prefix test and a split instead of a JSON parse. Every other frame,
    well-formed or not, gets the full checks, so the events and violations are the same.
    """
    if not data.startswith(_SERIALIZER_HEAD) or not data.endswith(_SERIALIZER_TAIL):
        return None
    content_type, sep, payload = data[len(_SERIALIZER_HEAD) : -len(_SERIALIZER_TAIL)].partition(
        _SERIALIZER_MIDDLE
    )
    fmt = _SERIALIZER_TYPES.get(content_type) if sep else None
    if fmt is None:
        return None
    try:
        # What base64.b64decode(validate=True) does; the alphabet excludes '"' and '\\'.
        raw = binascii.a2b_base64(payload, strict_mode=True)
        samples = fmt.decode(raw)
    except (binascii.Error, ValueError):
        return None
    return fmt, content_type, samples, len(raw)
