"""A second hearing for stretches where Whisper's decoding broke down, so no speech is silently lost.

On repetitive speech Whisper's greedy decoding loops, falls back to sampling and can give up: a
segment of symbols ("¶¶¶¶…") stands where the words were, or the window's timestamps jump past
twenty seconds of speech. faster-whisper did this once to JFK's 11 s speech tiled four times, in a CI
run (its sampling is not reproducible, even seeded; 24 runs here did not repeat it, 4 of them looped a
segment). Such stretches are found here,
by text that holds no word or by a gap between segments where the audio is as loud as the speech
around it, and decoded again on their own, without the previous text as prompt.
"""
from __future__ import annotations

import zlib
from typing import Callable

import numpy as np

from ..types import Audio, Segment, Word

MIN_GAP_SECONDS = 2.0      # shorter gaps are pauses
LOUD_FRACTION = 0.5        # a gap is speech when half its 50 ms frames are this loud ...
LOUD_BELOW_SPEECH_DB = 20  # ... within this many dB of the median frame inside heard segments
LOOP_RATIO = 2.4           # Whisper's own threshold on the gzip compression ratio of looping text

Decode = Callable[[float, float], list[Segment]]


def is_degenerate(text: str) -> bool:
    """Text that holds no letter or digit at all, or one phrase looped over and over."""
    if not has_words(text):
        return True
    raw = text.strip().encode("utf-8")
    return len(raw) >= 60 and len(raw) / len(zlib.compress(raw)) > LOOP_RATIO


def has_words(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def unheard_spans(segments: list[Segment], audio: Audio) -> list[tuple[float, float]]:
    """(start, end) in seconds of degenerate segments and of loud gaps, merged where they touch."""
    sr, x = audio.sample_rate, np.asarray(audio.samples, dtype=np.float32)
    hop = max(1, sr // 20)
    n = len(x) // hop
    if n == 0:
        return []
    db = 10 * np.log10(np.square(x[:n * hop].reshape(n, hop)).mean(axis=1) + 1e-10)
    heard = np.zeros(n, dtype=bool)
    spans = []
    for seg in segments:
        if is_degenerate(seg.text):
            spans.append((seg.start, seg.end))
            continue
        for w in seg.words or (seg,):  # words are timed closer than segments
            heard[int(w.start * 20):int(np.ceil(w.end * 20))] = True
    if not heard.any():
        return _merge(spans)
    speech_db = float(np.median(db[heard]))
    loud = db > speech_db - LOUD_BELOW_SPEECH_DB
    edges = np.flatnonzero(np.diff(np.concatenate([[1], heard.astype(np.int8), [1]])))
    for a, b in zip(edges[::2], edges[1::2]):  # runs of frames no good segment covers
        sounding = np.flatnonzero(loud[a:b])
        if len(sounding) == 0:
            continue
        a, b = a + sounding[0], a + sounding[-1] + 1  # without the quiet at either end
        if (b - a) / 20 >= MIN_GAP_SECONDS and loud[a:b].mean() >= LOUD_FRACTION:
            spans.append((max(0.0, a / 20 - 0.2), min(b / 20 + 0.2, audio.duration)))
    return _merge(spans)


def rehear(segments: list[Segment], audio: Audio, decode: Decode,
           say: Callable[[str], None] = lambda _: None) -> list[Segment]:
    """Segments with degenerate ones replaced, and loud gaps filled, by decoding those spans anew.

    `decode(start, end)` transcribes that stretch on its own and returns segments in the audio's time.
    A second hearing that loops again is kept (a song's chorus does repeat); symbols are never shown.
    """
    spans = unheard_spans(segments, audio)
    if not spans:
        return segments
    first = [s for s in segments if not is_degenerate(s.text)]
    kept = list(first)
    for start, end in spans:
        say(f"hearing {start:.0f}-{end:.0f} s again")
        again = [s for s in decode(start, end) if has_words(s.text)]
        before = [s.words for s in first if s.end <= start + 1.0]
        after = [s.words for s in first if s.start >= end - 1.0]
        again = _without_echoes(again, before[-1] if before else (), after[0] if after else ())
        looped = [s for s in segments if is_degenerate(s.text) and has_words(s.text) and start <= s.start < end]
        kept += again or looped  # a looping first hearing beats none
    return sorted(kept, key=lambda s: s.start)


def _without_echoes(again: list[Segment], before: tuple[Word, ...], after: tuple[Word, ...]) -> list[Segment]:
    """The second hearing starts where a word of the first may still ring ("country. country."):
    words it repeats from the neighbouring segments at either seam are dropped."""
    words = [w for s in again for w in s.words]
    head = _overlap([_token(w) for w in before[-5:]], [_token(w) for w in words[:5]])
    tail = _overlap([_token(w) for w in words[-5:]], [_token(w) for w in after[:5]])
    echoes = {id(w) for w in words[:head]} | {id(w) for w in words[len(words) - tail:]}
    if not echoes:
        return again
    out = []
    for seg in again:
        left = tuple(w for w in seg.words if id(w) not in echoes)
        if len(left) == len(seg.words):
            out.append(seg)
        elif left:
            spaced = any(ch.isascii() and ch.isalpha() for w in left for ch in w.text)
            out.append(Segment(left[0].start, left[-1].end, (" " if spaced else "").join(w.text for w in left), left))
    return out


def _token(word: Word) -> str:
    return "".join(ch for ch in word.text.lower() if ch.isalnum())


def _overlap(ending: list[str], starting: list[str]) -> int:
    """How many tokens `ending` ends with that `starting` starts with."""
    for k in range(min(len(ending), len(starting)), 0, -1):
        if ending[-k:] == starting[:k]:
            return k
    return 0


def _merge(spans):
    out = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + 0.5:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
