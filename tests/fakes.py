"""Fakes that implement the real stage Protocols (livekit-agents style), for fast flow and app tests."""
from __future__ import annotations

from dataclasses import dataclass

from pipelines.audio import as_audio
from pipelines.stages import Progress, no_progress
from pipelines.types import Segment, Transcript, Word


class FakeASR:
    """Returns a fixed sentence spread over the audio; can be told to fail, to test error paths."""

    @dataclass(frozen=True)
    class Config:
        text: str = "hello from the fake"
        fail: bool = False

    def __init__(self, config: Config | None = None):
        self.config = config or self.Config()
        self.calls = 0

    def transcribe(self, audio, *, language=None, progress: Progress = no_progress) -> Transcript:
        self.calls += 1
        if self.config.fail:
            raise RuntimeError("fake ASR failure")
        audio = as_audio(audio)
        words = self.config.text.split()
        step = audio.duration / max(len(words), 1)
        timed = tuple(Word(w, i * step, (i + 1) * step) for i, w in enumerate(words))
        progress(1.0, "done")
        return Transcript(self.config.text, language or "en",
                          (Segment(0.0, audio.duration, self.config.text, timed),), audio.duration)
