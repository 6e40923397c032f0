"""What both Whisper engines share: input checks, device choice, tidy timings, script conversion."""
from __future__ import annotations

from typing import Iterable

import numpy as np

from ..audio import ASR_SAMPLE_RATE, as_audio, require_sound
from ..errors import ConfigError
from ..text import to_chinese_script
from ..types import Audio, Segment, Transcript, Word

CHINESE_SCRIPTS = ("simplified", "traditional", "as-is")


def check_chinese(value: str) -> None:
    if value not in CHINESE_SCRIPTS:
        raise ConfigError(f"chinese must be one of {', '.join(CHINESE_SCRIPTS)}, got '{value}'")


def prepare(audio) -> Audio:
    audio = as_audio(audio, ASR_SAMPLE_RATE)
    require_sound(audio)
    return audio


def quiet_cut_points(audio: Audio, max_seconds: float = 30.0, search_seconds: float = 5.0) -> list[int]:
    """Chunk boundaries (sample indices) at the quietest 50 ms inside the last `search_seconds` of each
    window, so long audio is decoded piece by piece without cutting through a word."""
    sr, x = audio.sample_rate, audio.samples
    hop = sr // 20
    max_len, search = int(max_seconds * sr), int(search_seconds * sr)
    cuts, start = [0], 0
    while len(x) - start > max_len:
        lo, hi = start + max_len - search, start + max_len
        frames = x[lo:hi][: (hi - lo) // hop * hop].reshape(-1, hop)
        cut = lo + int(np.argmin(np.square(frames).mean(axis=1))) * hop + hop // 2
        cuts.append(cut)
        start = cut
    cuts.append(len(x))
    return cuts


def tidy_segments(raw: Iterable[Segment], duration: float, script: str, language: str) -> tuple[Segment, ...]:
    """Clamp timings into the audio and make them monotonic; models drift a few ms at the edges."""
    out: list[Segment] = []
    last = 0.0
    for seg in raw:
        words = []
        for w in seg.words:
            start = min(max(w.start, last), duration)
            end = min(max(w.end, start), duration)
            text = to_chinese_script(w.text, script) if language == "zh" else w.text
            words.append(Word(text, round(start, 3), round(end, 3), w.probability))
            last = start
        start = min(max(seg.start, out[-1].start if out else 0.0), duration)
        if words:
            start = min(start, words[0].start)
        end = min(max(seg.end, start, words[-1].end if words else 0.0), duration)
        text = seg.text.strip()
        if language == "zh":
            text = to_chinese_script(text, script)
        if text:
            out.append(Segment(round(start, 3), round(end, 3), text, tuple(words)))
    return tuple(out)


def join_text(segments: tuple[Segment, ...], language: str) -> str:
    sep = "" if language in ("zh", "ja", "yue") else " "
    return sep.join(s.text for s in segments).strip()


def make_transcript(segments, audio: Audio, language: str, script: str) -> Transcript:
    segs = tidy_segments(segments, audio.duration, script, language)
    return Transcript(join_text(segs, language), language, segs, round(audio.duration, 3))
