"""Clause-by-clause synthesis with timings, shared by the PyTorch and ONNX VITS engines.

Each clause is one model call (bounded memory, nothing truncated; frontend.sentence_phonemes says why); the
model's own durations (frames per phoneme id) become phoneme and word start/end times and say where it
paused (silenced there: gate_pauses); sentences are joined with natural pauses.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from pipelines.errors import UserInputError
from pipelines.stages import Progress, no_progress
from pipelines.types import Audio, Speech, Timing

from .frontend import sentence_phonemes, split_sentences, to_ids

HOP = 256


class VoiceModel(Protocol):
    sample_rate: int

    def generate(self, ids: list[int], *, length_scale: float, noise_scale: float, noise_w: float,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Audio samples and frames per id."""


@dataclass(frozen=True)
class MelodyGuide:
    """A voice whose intonation another voice speaks with: a clone's base voice, which says the same phonemes
    (a clone keeps its base's text encoder and duration predictor) with a melody the clone's fine-tuned
    decoder flattens, moved `gain` times as far to span the person's own range (voices/finetune.py)."""
    model: VoiceModel
    gain: float = 1.0
    noise_scale: float = 0.667
    heard: dict = field(default_factory=dict, compare=False, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def track(self, ids: list[int], *, length_scale: float, noise_w: float, seed: int):
        """The guide's pitch track (F0 per frame, seconds per frame) and its frames per id for these phonemes.
        Remembered (the last 512): training scores the same sentences with the same seeds at every
        evaluation, and tracking the guide's pitch is the slow half of borrowing its melody."""
        key = (tuple(ids), length_scale, noise_w, seed)
        with self.lock:
            if key in self.heard:
                return self.heard[key]
        from .pitch import f0_track

        samples, frames = self.model.generate(ids, length_scale=length_scale, noise_scale=self.noise_scale,
                                              noise_w=noise_w, seed=seed)
        f0, hop_s = f0_track(Audio(samples, self.model.sample_rate))
        with self.lock:
            while len(self.heard) >= 512:
                self.heard.pop(next(iter(self.heard)))
            self.heard[key] = (f0, hop_s, frames)
        return f0, hop_s, frames


def synthesize_text(text: str, model: VoiceModel, id_map: dict, espeak_voice: str, *, speed: float = 1.0,
                    pitch: float = 0.0, noise_scale: float = 0.667, noise_w: float = 0.8, seed: int = 0,
                    sentence_pause: float = 0.3, paragraph_pause: float = 0.7, melody: MelodyGuide | None = None,
                    progress: Progress = no_progress) -> Speech:
    if not text or not text.strip():
        raise UserInputError("nothing to say: the text is empty")
    if not 0.25 <= speed <= 4.0:
        raise UserInputError(f"speed must be between 0.25 and 4, got {speed}")
    sr = model.sample_rate
    frame = HOP / sr
    sentences = split_sentences(text, sentence_pause, paragraph_pause)
    pieces: list[np.ndarray] = []
    contours: list[np.ndarray] = []   # the guide's melody per sample, when there is a guide
    phonemes: list[Timing] = []
    words: list[Timing] = []
    pauses: list[tuple[float, float]] = []   # each call's lead-in, punctuation and lead-out, in seconds
    t = 0.0
    for n, (sentence_text, pause) in enumerate(sentences):
        for chunk in sentence_phonemes(sentence_text, espeak_voice):
            ids, owner = to_ids(chunk.phonemes, id_map)
            samples, frames = model.generate(ids, length_scale=1.0 / speed, noise_scale=noise_scale,
                                             noise_w=noise_w, seed=seed)
            starts = np.concatenate([[0.0], np.cumsum(frames)]) * frame
            pauses += [(t + a, t + b) for a, b in _pause_spans(chunk, owner, starts)]
            spans: dict[int, list[float]] = {}
            for i, k in enumerate(owner):
                if k is not None:
                    span = spans.setdefault(k, [starts[i], starts[i + 1]])
                    span[1] = starts[i + 1]
            word_spans: dict[int, list[float]] = {}
            for k, (a, b) in sorted(spans.items()):
                symbol = chunk.phonemes[k]
                if symbol.strip():
                    phonemes.append(Timing(symbol, round(float(t + a), 4), round(float(t + b), 4)))
                w = chunk.word_of[k]
                if w is not None:
                    span = word_spans.setdefault(w, [a, b])
                    span[1] = b
            for w, (a, b) in sorted(word_spans.items()):
                if words and words[-1].label == chunk.words[w] and abs(words[-1].end - (t + a)) < 1e-6:
                    continue
                words.append(Timing(chunk.words[w], round(float(t + a), 4), round(float(t + b), 4)))
            pieces.append(samples.astype(np.float32))
            if melody is not None:
                from .pitch import follow_melody

                f0, hop_s, guide_frames = melody.track(ids, length_scale=1.0 / speed, noise_w=noise_w, seed=seed)
                contours.append(follow_melody(f0, hop_s, guide_frames, frames, len(samples), HOP,
                                              melody.model.sample_rate, melody.gain))
            t += len(samples) / sr
        if n < len(sentences) - 1:
            gap = np.zeros(int(round(pause * sr)), np.float32)
            pieces.append(gap)
            if melody is not None:
                contours.append(np.full(len(gap), np.nan))
            t += len(gap) / sr
        progress((n + 1) / len(sentences), f"spoke {n + 1} of {len(sentences)} sentences")
    if not pieces:
        raise UserInputError("nothing to say: the text has no pronounceable words")
    audio = np.concatenate(pieces)
    if pitch or melody is not None:   # formants kept: a resampling shift (librosa's) garbled words at +12 semitones
        from .pitch import shift_pitch

        audio = shift_pitch(Audio(audio, sr), float(pitch),
                            np.concatenate(contours) if melody is not None else None).samples
    audio = gate_pauses(audio, sr, pauses)
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak > 0.99:
        audio = audio * (0.99 / peak)
    return Speech(Audio(audio, sr), text, tuple(phonemes), tuple(words))


def _pause_spans(chunk, owner: list[int | None], starts: np.ndarray) -> list[tuple[float, float]]:
    """(start, end) in seconds of the runs of ids that carry no speech: BOS and its pad, the closing
    punctuation with its pad, and EOS (spaces between words are left alone)."""
    silent = [k is None or (chunk.word_of[k] is None and chunk.phonemes[k].strip() != "") for k in owner]
    spans, begin = [], None
    for i, quiet in enumerate(silent + [False]):
        if quiet and begin is None:
            begin = i
        elif not quiet and begin is not None:
            spans.append((float(starts[begin]), float(starts[i])))
            begin = None
    return spans


PAUSE_GATE_DB = 40.0   # under the speech's loud frames (95th percentile): what a pause may hold and still be kept


def gate_pauses(samples: np.ndarray, sample_rate: int, spans: list[tuple[float, float]],
                below_db: float = PAUSE_GATE_DB) -> np.ndarray:
    """Silence the 10 ms frames of the pauses that are `below_db` under the speech, fading over 10 ms.
    A fine-tuned decoder hums in its pauses: `lj-heard` held a 252 Hz tone at -65 dBFS there, ~50 dB under
    its speech, where joe's pauses are digitally silent; a listener on headphones hears it between clauses.
    Only frames the model spent on pauses are touched, and only quiet ones: a word's tail that runs into a
    pause is louder than the limit and stays."""
    hop = max(int(0.01 * sample_rate), 1)
    n = len(samples) // hop
    if n == 0 or not spans:
        return samples
    frame_db = 10 * np.log10(np.mean(samples[:n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1) + 1e-20)
    limit = np.percentile(frame_db, 95) - below_db
    out = samples.copy()
    for start, end in spans:
        i0, i1 = int(round(start * sample_rate)), min(int(round(end * sample_rate)), len(samples))
        if i1 - i0 < hop:
            continue
        segment = out[i0:i1].astype(np.float64)
        edges = np.arange(0, len(segment), hop)   # the last frame may be shorter
        power = np.add.reduceat(segment ** 2, edges) / np.diff(np.append(edges, len(segment)))
        keep = (10 * np.log10(power + 1e-20) >= limit).astype(np.float64)
        if keep.all():
            continue
        # each frame's own gain at its centre, linear between (10 ms fades); a quiet edge frame meets the
        # speech beside it with a step of under -50 dB
        centres = (edges + np.minimum(edges + hop, len(segment))) / 2
        gain = np.interp(np.arange(len(segment)), centres, keep)
        out[i0:i1] = (segment * gain).astype(out.dtype)
    return out
