"""Speaker similarity with resemblyzer (its 17 MB pretrained encoder ships in the wheel): cosine of 256-d
voice embeddings. Same speaker scores ~0.9+, different real speakers ~0.45-0.65 on our test media."""
from __future__ import annotations

import threading
import warnings
from contextlib import contextmanager
from typing import Iterable

import numpy as np

from pipelines.audio import resample
from pipelines.types import Audio

_encoder = None
_module = None
_lock = threading.RLock()


def _resemblyzer():
    """The resemblyzer module, imported once without webrtcvad's pkg_resources deprecation notice (a user's
    terminal showed it in the middle of `dh clone`'s progress); warnings' filters are process-wide, so they
    are not touched again on every embedding (scoring runs in a helper thread beside training)."""
    global _module
    with _lock:
        if _module is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import resemblyzer
            _module = resemblyzer
        return _module


def _voice_encoder():
    global _encoder
    with _lock:
        if _encoder is None:
            _encoder = _resemblyzer().VoiceEncoder("cpu", verbose=False)
        return _encoder


def embed(audio: Audio) -> np.ndarray:
    """A unit-length speaker embedding of one utterance."""
    wav = _resemblyzer().preprocess_wav(resample(audio, 16000).samples, source_sr=16000)
    if len(wav) < 1600:  # resemblyzer trims silence; keep something to embed
        wav = resample(audio, 16000).samples
    with _lock, _one_torch_thread():
        e = _voice_encoder().embed_utterance(wav)
    return e / (np.linalg.norm(e) + 1e-9)


@contextmanager
def _one_torch_thread():
    """One utterance is a batch of a few 1.6-s slices through a small LSTM, where splitting each matrix
    product over threads costs more than it saves: a 10-s clip embeds in 0.046 s on one thread, 0.135 s on
    two (2 quiet cores); with a training run beside it, 0.06 against 0.45-0.66 s. A long recording's
    hundreds of slices (partial_embeddings) do gain from threads, so only this call runs on one, and the
    caller's thread count is put back after it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v) + 1e-9)


def centroid(audios: Iterable[Audio]) -> np.ndarray:
    """The unit mean of the utterances' embeddings: what a voice's similarity to a person is measured against."""
    return unit(np.array([embed(a) for a in audios]).mean(axis=0))


def similarity(audio: Audio, reference: np.ndarray) -> float:
    return float(np.dot(embed(audio), reference))


def partial_embeddings(samples: np.ndarray, sample_rate: int = 16000, rate: float = 1.3):
    """Unit embeddings of ~1.6 s slices along a recording, with each slice's (start, end) in seconds.

    Unlike `embed`, silence is not trimmed first, so the times stay true to the recording: this is what
    speaker turns are clustered from. Returns (spans (n, 2), embeddings (n, 256)); empty for < 0.5 s.
    """
    wav = resample(Audio(samples, sample_rate), 16000).samples
    if len(wav) < 8000:
        return np.zeros((0, 2)), np.zeros((0, 256), np.float32)
    wav = _resemblyzer().normalize_volume(wav, -30, increase_only=True)
    with _lock:
        _, partials, slices = _voice_encoder().embed_utterance(wav, return_partials=True, rate=rate)
    spans = np.array([(s.start / 16000, min(s.stop, len(wav)) / 16000) for s in slices])
    partials = partials / (np.linalg.norm(partials, axis=1, keepdims=True) + 1e-9)
    return spans, partials.astype(np.float32)
