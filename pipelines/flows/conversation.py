"""The conversation flow: user audio (or text) -> ASR -> LLM (streamed) -> voice -> avatar video.

Pipelined: the reply is cut into sentences as the LLM writes them; a worker thread keeps the LLM going
while the first sentence is voiced (and rendered), so the first audio arrives long before the reply is
finished. The very first piece voiced may be a clause ("The Pacific is the largest ocean,"): it is complete
a few tokens before its sentence, and that is the time the listener waits. Flows take stage objects (any objects with the Protocols' methods); only the apps turn names
into engines. Progress and partial results come out as a stream of events, which the web UI and the
benchmark consume.
"""
from __future__ import annotations

import logging
import queue
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import StageError, UserInputError
from ..llm.conversation import sentence_ends
from ..stages import ASR, TTS, LipSync
from ..text import has_cjk
from ..types import Audio, Speech, Timing, Transcript, Video

log = logging.getLogger(__name__)
_DONE = object()


@dataclass(frozen=True)
class Event:
    """kind: transcript | text | sentence | first_video | audio | video | done; `at` = seconds since start."""

    kind: str
    value: Any
    at: float


@dataclass
class TurnResult:
    transcript: Transcript | None = None
    reply: str = ""
    speech: Speech | None = None
    video: Video | None = None
    timings: dict = field(default_factory=dict)


def complete_sentences(buffer: str) -> tuple[list[str], str]:
    """Sentences that are finished in a streamed buffer (English or Chinese), and the unfinished rest."""
    ends = sentence_ends(buffer)
    if not ends:
        return [], buffer
    cuts = [0, *ends]
    done = [" ".join(buffer[a:b].split()) for a, b in zip(cuts, cuts[1:])]
    return [d for d in done if d], buffer[ends[-1]:].lstrip()


_CLAUSE_END = re.compile(r"[,;:](?=\s)|[，；：]")
MIN_CLAUSE_WORDS, MIN_CLAUSE_CHARS = 4, 6


def first_clause(buffer: str) -> tuple[str, str] | None:
    """The first clause of an unfinished sentence, once it is long enough to be said on its own."""
    for m in _CLAUSE_END.finditer(buffer):
        clause = buffer[:m.end()].strip()
        long_enough = len(clause) >= MIN_CLAUSE_CHARS if has_cjk(clause) else len(clause.split()) >= MIN_CLAUSE_WORDS
        if long_enough:
            return " ".join(clause.split()), buffer[m.end():].lstrip()
    return None


def join_speech(parts: list[Speech], pause: float = 0.25) -> Speech:
    """One Speech from several, with timings shifted and a short pause between them."""
    if not parts:
        raise ValueError("nothing to join")
    sr = parts[0].audio.sample_rate
    gap = np.zeros(int(pause * sr), np.float32)
    samples, phonemes, words, offset = [], [], [], 0.0
    for i, part in enumerate(parts):
        shift = lambda items: tuple(Timing(t.label, round(t.start + offset, 4), round(t.end + offset, 4)) for t in items)  # noqa: E731,B023
        phonemes += shift(part.phonemes)
        words += shift(part.words)
        samples.append(part.audio.samples)
        offset += part.audio.duration
        if i < len(parts) - 1:
            samples.append(gap)
            offset += pause
    return Speech(Audio(np.concatenate(samples), sr), " ".join(p.text for p in parts), tuple(phonemes), tuple(words))


class ConversationFlow:
    def __init__(self, asr: ASR | None, conversation, tts: TTS, lipsync: LipSync | None = None,
                 portrait: str | Path | None = None, workdir: str | Path | None = None,
                 first_sentence_video: bool = True):
        self.asr, self.conversation, self.tts, self.lipsync = asr, conversation, tts, lipsync
        self.portrait = portrait
        self.workdir = Path(workdir) if workdir else None
        self.first_sentence_video = first_sentence_video

    def _stage(self, kind: str, engine, call):
        try:
            return call()
        except (UserInputError, StageError):
            raise
        except Exception as exc:
            name = type(engine).__name__
            raise StageError(kind, name, exc) from exc

    def turn(self, audio=None, text: str | None = None) -> Iterator[Event]:
        """Run one exchange, yielding events as results arrive. Exactly one of audio/text."""
        t0 = time.perf_counter()
        at = lambda: round(time.perf_counter() - t0, 3)  # noqa: E731
        transcript = None
        if text is None:
            if audio is None:
                raise UserInputError("say something first: no audio and no text")
            if self.asr is None:
                raise UserInputError("no ASR stage configured for audio input")
            transcript = self._stage("asr", self.asr, lambda: self.asr.transcribe(audio))
            text = transcript.text
            yield Event("transcript", transcript, at())
            if not text.strip():
                raise UserInputError("no speech was recognised in the recording")
        sentences: queue.Queue = queue.Queue()
        failure: list[BaseException] = []

        def write() -> None:  # the LLM keeps writing while the main thread voices finished sentences
            buffer, voiced = "", False
            try:
                for piece in self.conversation.say(text):
                    buffer += piece
                    sentences.put(("text", piece))
                    done, buffer = complete_sentences(buffer)
                    if not done and not voiced and (clause := first_clause(buffer)):
                        done, buffer = [clause[0]], clause[1]
                    voiced = voiced or bool(done)
                    for s in done:
                        sentences.put(("sentence", s))
                if buffer.strip():
                    sentences.put(("sentence", buffer.strip()))
            except BaseException as exc:  # handed to the consumer, which raises it with the stage's name
                failure.append(exc)
            finally:
                sentences.put((_DONE, None))

        writer = threading.Thread(target=write, name="llm-writer", daemon=True)
        writer.start()
        spoken: list[Speech] = []
        reply = ""
        while True:
            kind, value = sentences.get()
            if kind is _DONE:
                break
            if kind == "text":
                reply += value
                yield Event("text", reply, at())
                continue
            speech = self._stage("tts", self.tts, lambda s=value: self.tts.synthesize(s))
            spoken.append(speech)
            yield Event("sentence", speech, at())
            if len(spoken) == 1 and self.lipsync and self.portrait and self.first_sentence_video and self.workdir:
                first = self._stage("lipsync", self.lipsync, lambda: self.lipsync.render(
                    self.portrait, speech, self.workdir / f"first-{time.time_ns()}.mp4"))
                yield Event("first_video", first, at())
        writer.join()
        if failure:
            exc = failure[0]
            if isinstance(exc, (UserInputError, StageError)):
                raise exc
            raise StageError("llm", type(getattr(self.conversation, "llm", self.conversation)).__name__, exc) from exc
        if not spoken:
            raise StageError("llm", "conversation", RuntimeError("the reply was empty"))
        full = join_speech(spoken)
        yield Event("audio", full, at())
        video = None
        if self.lipsync and self.portrait and self.workdir:
            video = self._stage("lipsync", self.lipsync, lambda: self.lipsync.render(
                self.portrait, full, self.workdir / f"reply-{time.time_ns()}.mp4"))
            yield Event("video", video, at())
        yield Event("done", TurnResult(transcript, reply.strip(), full, video), at())


def run_turn(flow: ConversationFlow, audio=None, text: str | None = None) -> TurnResult:
    """The whole turn at once, with the time each event arrived in `timings`."""
    result, timings = None, {}
    for event in flow.turn(audio=audio, text=text):
        timings.setdefault(event.kind, event.at)
        if event.kind == "done":
            result = event.value
    result.timings = timings
    return result
