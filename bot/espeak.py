"""Offline speech synthesis with espeak-ng, from the library the ``espeakng-loader`` wheel ships.

No system package and no network: the wheel carries ``libespeak-ng`` and its voice data.
espeak-ng keeps global state, so every call goes through one lock; callers run
:func:`synthesize` in a thread (``asyncio.to_thread``) so the event loop never blocks.
"""

from __future__ import annotations

import ctypes
import threading

import espeakng_loader
import numpy as np

SAMPLE_RATE = 22050
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_ESPEAK_RATE = 1
_CHARS_UTF8 = 1

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_chunks: list[np.ndarray] = []


@_CALLBACK
def _collect(wav, count, _events):  # type: ignore[no-untyped-def]
    if count > 0 and wav:
        _chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
    return 0


def _library() -> ctypes.CDLL:
    global _lib  # noqa: PLW0603 - espeak-ng is a process-wide singleton
    if _lib is None:
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data = espeakng_loader.get_data_path().encode()
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
        if rate <= 0:
            msg = f"espeak-ng did not initialise (data at {data.decode()})"
            raise RuntimeError(msg)
        lib.espeak_SetSynthCallback(_collect)
        lib.espeak_SetVoiceByName(b"en-us")
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        _lib = lib
    return _lib


def synthesize(text: str, words_per_minute: int = 175) -> np.ndarray:
    """Speak ``text``: int16 mono samples at :data:`SAMPLE_RATE` (22050 Hz)."""
    with _lock:
        lib = _library()
        lib.espeak_SetParameter(_ESPEAK_RATE, words_per_minute, 0)
        _chunks.clear()
        data = text.encode("utf-8") + b"\0"
        lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        lib.espeak_Synchronize()
        audio = np.concatenate(_chunks) if _chunks else np.zeros(0, dtype=np.int16)
        _chunks.clear()
    return audio.astype(np.int16)
