"""Offline speech synthesis with espeak-ng, from the library the ``espeakng-loader`` wheel ships.

No system package and no network: the wheel carries ``libespeak-ng`` and its voice data.
espeak-ng keeps global state, so every call goes through one lock; callers run
:func:`synthesize` in a thread (``asyncio.to_thread``) so the event loop never blocks.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import espeakng_loader
import numpy as np

SAMPLE_RATE = 22050
"""espeak-ng's output rate: int16 mono."""
VOICE = b"en-us"

# From espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_Synth returns when the text has been synthesized
_POS_CHARACTER = 1
_ESPEAK_RATE = 1  # words per minute
_CHARS_UTF8 = 1
_EE_OK = 0

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_chunks: list[np.ndarray] = []  # filled by the callback, under _lock


@_CALLBACK  # type: ignore[untyped-decorator]  # ctypes' prototypes are untyped
def _collect(wav: Any, count: int, _events: Any) -> int:
    """espeak-ng's synth callback: keep a copy of each chunk of samples it hands over."""
    if count > 0 and wav:
        _chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
    return 0  # 0: go on synthesizing


def _library() -> ctypes.CDLL:
    global _lib  # noqa: PLW0603 - espeak-ng is a process-wide singleton
    if _lib is None:
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        data = espeakng_loader.get_data_path()
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data).encode(), 0)
        if rate != SAMPLE_RATE:
            msg = f"espeak-ng did not initialise from {data} (it answered {rate})"
            raise RuntimeError(msg)
        lib.espeak_SetSynthCallback(_collect)
        if lib.espeak_SetVoiceByName(VOICE) != _EE_OK:
            msg = f"espeak-ng has no voice {VOICE.decode()!r} in {data}"
            raise RuntimeError(msg)
        _lib = lib
    return _lib


def warm_up() -> None:
    """Load the library and voice now (a few hundred ms), not during the first call."""
    with _lock:
        _library()


def synthesize(text: str, words_per_minute: int = 175) -> np.ndarray:
    """Speak ``text``: int16 mono samples at :data:`SAMPLE_RATE` (22050 Hz)."""
    if not text.strip():
        return np.zeros(0, dtype=np.int16)
    with _lock:
        lib = _library()
        lib.espeak_SetParameter(_ESPEAK_RATE, words_per_minute, 0)
        _chunks.clear()
        data = text.encode("utf-8") + b"\0"
        status = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        audio = np.concatenate(_chunks) if _chunks else np.zeros(0, dtype=np.int16)
        _chunks.clear()
    if status != _EE_OK:
        msg = f"espeak-ng could not synthesize {text[:40]!r} (error {status})"
        raise RuntimeError(msg)
    return audio.astype(np.int16)
