"""The whole stage contract on one screen.

A stage is any object with the method below: engines, third-party classes and test fakes need no
inheritance. `Progress` is a plain callable so Gradio's `gr.Progress` and a tqdm adapter both fit.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence, runtime_checkable

from .types import Audio, Message, Speech, Transcript, Video

Progress = Callable[[float, str], None]
KINDS = ("asr", "llm", "tts", "lipsync")


def no_progress(fraction: float, message: str = "") -> None:
    """The default progress sink: library code stays silent unless the caller asks."""


@runtime_checkable
class ASR(Protocol):
    def transcribe(self, audio: Audio, *, language: str | None = None,
                   progress: Progress = no_progress) -> Transcript: ...


@runtime_checkable
class LLM(Protocol):
    def reply(self, messages: Sequence[Message]) -> Iterator[str]: ...


@runtime_checkable
class TTS(Protocol):
    def synthesize(self, text: str) -> Speech: ...


@runtime_checkable
class LipSync(Protocol):
    def render(self, face: Path, speech: Speech, out: Path, *,
               progress: Progress = no_progress) -> Video: ...
