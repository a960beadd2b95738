"""G.711 μ-law, linear PCM, resampling and the content types of Bandwidth's media stream.

Pure functions over numpy arrays; no I/O. Bandwidth streams the caller as base64 PCMU
(μ-law, 8 kHz, mono) in 160-byte frames of 20 ms (docs/bandwidth.md §1.5); the bot
answers with ``playAudio`` in ``audio/pcmu`` or 16-bit little-endian signed linear PCM at
8, 16 or 24 kHz (docs/bandwidth.md §1.6). Inside the simulator every signal is int16 at
8 kHz mono, the rate a phone line carries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import soxr

__all__ = [
    "FRAME_BYTES",
    "FRAME_MS",
    "PCM_RATES",
    "PHONE_RATE",
    "ULAW_SILENCE",
    "AudioFormat",
    "ContentTypeError",
    "Pcm",
    "parse_content_type",
    "resample",
    "to_phone_pcm",
    "ulaw_decode",
    "ulaw_encode",
]

Pcm = npt.NDArray[np.int16]
"""Mono 16-bit linear samples."""

PHONE_RATE = 8000
FRAME_MS = 20
FRAME_BYTES = PHONE_RATE * FRAME_MS // 1000  # 160 μ-law bytes per 20 ms frame
ULAW_SILENCE = 0xFF
"""μ-law code of zero amplitude; a silent frame is 160 of these."""
PCM_RATES = frozenset({8000, 16000, 24000})
"""Linear PCM rates pipecat-bandwidth sends in ``playAudio`` (docs/bandwidth.md §1.6)."""

_BIAS = 0x84


def _build_decode_table() -> npt.NDArray[np.int16]:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _build_encode_table() -> npt.NDArray[np.uint8]:
    # The reference G.711 encoder (CPython's audioop, which pipecat's μ-law code follows):
    # 14-bit magnitude, bias 0x21, segment search over the upper ends below.
    samples = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(samples < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(samples), 8159) + 0x21
    seg_ends = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    segment = np.searchsorted(seg_ends, magnitude, side="left")
    value = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    value = np.where(segment >= 8, 0x7F, value)
    return ((value ^ mask) & 0xFF).astype(np.uint8)


_DECODE = _build_decode_table()
_ENCODE = _build_encode_table()
# The same table indexed by the int16 sample's bit pattern read as uint16 (x + 32768 is
# x ^ 0x8000 there): encoding a frame is one gather, with no int32 copy (~40% faster).
_ENCODE_U16 = np.ascontiguousarray(np.concatenate([_ENCODE[32768:], _ENCODE[:32768]]))


def ulaw_decode(data: bytes) -> Pcm:
    """Decode G.711 μ-law bytes to int16 samples (one sample per byte)."""
    return _DECODE[np.frombuffer(data, dtype=np.uint8)]


def ulaw_encode(samples: Pcm) -> bytes:
    """Encode int16 samples to G.711 μ-law bytes."""
    if samples.dtype == np.int16:
        return bytes(_ENCODE_U16[samples.view(np.uint16)].tobytes())
    index = samples.astype(np.int32) + 32768
    return bytes(_ENCODE[index].tobytes())


def resample(samples: npt.NDArray[np.floating] | Pcm, rate_in: int, rate_out: int) -> Pcm:
    """Band-limited resampling (soxr) of mono samples, returned as int16."""
    if samples.dtype == np.int16:
        data = samples.astype(np.float32) / 32768.0
    else:
        data = samples.astype(np.float32)
    if rate_in != rate_out and data.size:
        data = soxr.resample(data, rate_in, rate_out, quality="HQ")
    return np.clip(np.round(data * 32768.0), -32768, 32767).astype(np.int16)


def to_phone_pcm(samples: npt.NDArray[np.floating] | Pcm, rate: int) -> Pcm:
    """Mix down (when 2-D: frames by channels) and resample to 8 kHz int16 mono."""
    data = samples
    if data.ndim == 2:
        floats = data.astype(np.float32)
        if data.dtype == np.int16:
            floats /= 32768.0
        data = floats.mean(axis=1)
    return resample(data, rate, PHONE_RATE)


class ContentTypeError(ValueError):
    """A ``playAudio`` content type Bandwidth's media stream does not carry."""


@dataclass(frozen=True)
class AudioFormat:
    """What a ``playAudio`` payload holds: ``pcmu`` at 8 kHz, or ``pcm`` (s16le) at a rate."""

    encoding: str
    rate: int

    def decode(self, payload: bytes) -> Pcm:
        """Decode a payload to 8 kHz int16; raises ValueError on an odd PCM length."""
        if self.encoding == "pcmu":
            return ulaw_decode(payload)
        if len(payload) % 2:
            msg = f"{len(payload)} bytes is not a whole number of 16-bit samples"
            raise ValueError(msg)
        pcm = np.frombuffer(payload, dtype="<i2").astype(np.int16)
        return resample(pcm, self.rate, PHONE_RATE) if self.rate != PHONE_RATE else pcm


_PCM_PARAMS = {"channels": "1", "bit-depth": "16", "endian": "little", "encoding": "signed"}


_KNOWN_FORMATS: dict[str, AudioFormat] = {}
"""Content types already parsed (a bot sends the same one 25-50 times a second)."""


def parse_content_type(value: object) -> AudioFormat:
    """Parse a ``playAudio`` ``media.contentType`` (docs/bandwidth.md §1.6).

    ``audio/pcmu`` (μ-law 8 kHz), or
    ``audio/pcm;rate=R;channels=1;bit-depth=16;endian=little;encoding=signed`` with R one of
    8000, 16000, 24000. Whether Bandwidth accepts shorter forms is undocumented, so they
    are refused with the full form in the message.
    """
    if isinstance(value, str):
        known = _KNOWN_FORMATS.get(value)
        if known is None:
            known = _parse_content_type(value)
            if len(_KNOWN_FORMATS) < 64:
                _KNOWN_FORMATS[value] = known
        return known
    return _parse_content_type(value)


def _parse_content_type(value: object) -> AudioFormat:
    if not isinstance(value, str):
        raise ContentTypeError(f"contentType must be a string, got {value!r}")
    parts = [p.strip() for p in value.split(";")]
    media = parts[0].lower()
    if media == "audio/pcmu" and len(parts) == 1:
        return AudioFormat("pcmu", PHONE_RATE)
    full = "audio/pcm;rate=24000;channels=1;bit-depth=16;endian=little;encoding=signed"
    if media != "audio/pcm":
        raise ContentTypeError(
            f"contentType {value!r} is not one Bandwidth plays: use 'audio/pcmu' or {full!r}"
        )
    params: dict[str, str] = {}
    for part in parts[1:]:
        key, sep, val = part.partition("=")
        if not sep:
            raise ContentTypeError(f"contentType {value!r}: parameter {part!r} has no value")
        params[key.strip().lower()] = val.strip().lower()
    try:
        rate = int(params.pop("rate", ""))
    except ValueError:
        raise ContentTypeError(
            f"contentType {value!r} has no integer rate; expected e.g. {full!r}"
        ) from None
    if rate not in PCM_RATES:
        raise ContentTypeError(
            f"contentType {value!r}: rate {rate} is not one of {sorted(PCM_RATES)}"
        )
    if params != _PCM_PARAMS:
        raise ContentTypeError(
            f"contentType {value!r} must carry exactly channels=1;bit-depth=16;"
            f"endian=little;encoding=signed (e.g. {full!r})"
        )
    return AudioFormat("pcm", rate)
