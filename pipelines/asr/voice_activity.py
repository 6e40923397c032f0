"""Where people speak, by the Silero VAD model that faster-whisper ships (no download, ~0.2 % real time).

An energy gate cannot tell music from speech, and Whisper writes words over music that it cannot hear
(one CI machine's int8 kernels produced a line over a synthetic song that ours did not). The podcast
listener keeps only what both this and its energy gate call speech.
"""
from __future__ import annotations

import numpy as np

from ..audio import ASR_SAMPLE_RATE


class SileroVoiceActivity:
    """(samples, sample_rate) -> speech spans in seconds, padded as faster-whisper pads them (0.4 s)."""

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold

    def __call__(self, samples: np.ndarray, sr: int = ASR_SAMPLE_RATE) -> list[tuple[float, float]]:
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        if sr != ASR_SAMPLE_RATE:
            raise ValueError(f"Silero VAD reads {ASR_SAMPLE_RATE} Hz audio, got {sr} Hz")
        found = get_speech_timestamps(np.asarray(samples, np.float32), VadOptions(threshold=self.threshold))
        return [(t["start"] / sr, t["end"] / sr) for t in found]


def default_voice_activity():
    """Silero when faster-whisper is installed, else None (the energy gate alone)."""
    try:
        import faster_whisper.vad  # noqa: F401
    except ImportError:
        return None
    return SileroVoiceActivity()
