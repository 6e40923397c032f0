"""Plain data passed between stages. Frozen so a stage can never mutate its caller's input."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True, eq=False)
class Audio:
    """Mono float32 samples in [-1, 1]; `source` names the file it came from, for error messages."""

    samples: np.ndarray
    sample_rate: int
    source: str | None = None

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"Audio samples must be mono (1-D), got shape {samples.shape}")
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        object.__setattr__(self, "samples", samples)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate

    def slice(self, start: float, end: float) -> "Audio":
        a, b = int(round(start * self.sample_rate)), int(round(end * self.sample_rate))
        return Audio(self.samples[max(a, 0):max(b, 0)], self.sample_rate, self.source)


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float
    probability: float | None = None


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    segments: tuple[Segment, ...] = ()
    duration: float | None = None

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(w for s in self.segments for w in s.words)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Message:
    role: str               # "system" | "user" | "assistant"
    content: str
    name: str | None = None  # the speaker's name, used as the label in completion prompts


@dataclass(frozen=True)
class Timing:
    """A labelled span of synthesized audio: one phoneme or one word."""

    label: str
    start: float
    end: float


@dataclass(frozen=True, eq=False)
class Speech:
    audio: Audio
    text: str = ""
    phonemes: tuple[Timing, ...] = ()
    words: tuple[Timing, ...] = ()


@dataclass(frozen=True)
class Video:
    path: Path
    duration: float
    fps: float = 25.0
    size: tuple[int, int] = field(default=(0, 0))
