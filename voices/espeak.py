"""espeak-ng phonemes through ctypes, from the library and data that `espeakng-loader` ships.

No system package and no GPL Python wrapper: we call the C API (espeak_TextToPhonemes, IPA mode)
ourselves. espeak-ng (GPL-3.0) is a separate shared library loaded at run time. Its state is global, so
every call holds one lock.
"""
from __future__ import annotations

import ctypes
import threading
import unicodedata

from pipelines.errors import MissingDependency

AUDIO_OUTPUT_SYNCHRONOUS = 0x02
CHARS_UTF8 = 1
PHONEMES_IPA = 0x02

_lock = threading.Lock()
_lib = None
_voice = None


def _library():
    global _lib
    if _lib is None:
        try:
            import espeakng_loader
        except ImportError:
            raise MissingDependency("espeak-ng is needed for phonemes; run: pip install espeakng-loader") from None
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        data = espeakng_loader.get_data_path()
        if lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(), 0) < 0:
            raise RuntimeError(f"espeak-ng could not start with its data at {data}")
        _lib = lib
    return _lib


def phonemize(text: str, voice: str = "en-us") -> str:
    """IPA for `text` (one clause: espeak drops punctuation, the caller keeps it), NFD-decomposed as
    Piper's phoneme_id_map expects."""
    global _voice
    with _lock:
        lib = _library()
        if voice != _voice:
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"espeak-ng has no voice '{voice}'")
            _voice = voice
        buffer = ctypes.create_string_buffer(text.encode("utf-8"))
        pointer = ctypes.c_void_p(ctypes.addressof(buffer))
        parts = []
        while pointer.value:
            out = lib.espeak_TextToPhonemes(ctypes.byref(pointer), CHARS_UTF8, PHONEMES_IPA)
            if out:
                parts.append(out.decode("utf-8").strip())
    return unicodedata.normalize("NFD", " ".join(p for p in parts if p))
