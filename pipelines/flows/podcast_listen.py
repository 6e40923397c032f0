"""Listening to hours of audio: streamed decoding, energy-VAD windows, cached ASR per window, and the
repeated-phrase hallucinations Whisper writes over silence removed.

Memory stays flat: the file is decoded block by block and cut into windows of at most ~28 s at pauses
(Whisper's own 30 s context), each transcribed on its own. A window's result is stored in the `Job` under
a hash of its samples and the ASR settings, so a killed run resumes without transcribing it again, and
windows that hold no speech are never sent to the model (that is where Whisper invents text).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..audio import ASR_SAMPLE_RATE, audio_duration, stream_audio
from ..errors import UserInputError
from ..jobs import Job, content_key
from ..stages import ASR, Progress, no_progress
from ..types import Audio, Segment, Word

FRAME = 0.02                 # VAD frame, seconds
MAX_WINDOW = 28.0            # seconds; Whisper sees 30 s at a time
MIN_WINDOW = 8.0             # never cut a window shorter than this at a pause
MIN_SPEECH = 0.4             # a window with less speech than this is not transcribed
SILENT_DBFS = -50.0          # frames below this are never speech

# Embeds ~1.6 s slices of a window: (samples, sample_rate) -> (spans (n, 2) seconds, embeddings (n, d)).
Embedder = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]
# Finds speech in a window: (samples, sample_rate) -> spans in seconds. It tells music from speech,
# which the energy gate cannot.
VoiceActivity = Callable[[np.ndarray, int], list[tuple[float, float]]]


# --- voice activity ---------------------------------------------------------------------------------

def frame_levels(samples: np.ndarray, sr: int = ASR_SAMPLE_RATE) -> np.ndarray:
    """Energy of each 20 ms frame in dBFS."""
    hop = int(FRAME * sr)
    n = len(samples) // hop
    if n == 0:
        return np.zeros(0)
    frames = samples[: n * hop].reshape(n, hop).astype(np.float64)
    return 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)


def speech_mask(samples: np.ndarray, sr: int = ASR_SAMPLE_RATE) -> np.ndarray:
    """Which 20 ms frames hold speech: an energy gate adapted to this stretch's noise floor, smoothed
    (gaps under 0.3 s filled, blips under 0.1 s dropped, 0.15 s kept around each run)."""
    db = frame_levels(samples, sr)
    if len(db) == 0:
        return np.zeros(0, bool)
    floor, loud = np.percentile(db, 10), np.percentile(db, 95)
    threshold = max(min(floor + 12.0, loud - 20.0), SILENT_DBFS)
    mask = db > threshold
    mask = _fill_runs(mask, False, int(0.3 / FRAME))     # short pauses inside speech stay speech
    mask = _fill_runs(mask, True, int(0.1 / FRAME))      # clicks are not speech
    pad = int(0.15 / FRAME)
    if pad and mask.any():
        mask = np.convolve(mask.astype(int), np.ones(2 * pad + 1, int), "same") > 0
    return mask


def _fill_runs(mask: np.ndarray, value: bool, shorter_than: int) -> np.ndarray:
    """Flip runs of `value` shorter than `shorter_than` frames that sit between runs of the other value."""
    out = mask.copy()
    runs = _runs(mask)
    for i, (v, a, b) in enumerate(runs):
        if v == value and b - a < shorter_than and 0 < i < len(runs) - 1:
            out[a:b] = not value
    return out


def _runs(mask: np.ndarray) -> list[tuple[bool, int, int]]:
    if len(mask) == 0:
        return []
    edges = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [len(mask)]])
    return [(bool(mask[a]), int(a), int(b)) for a, b in zip(starts, ends)]


def speech_spans(mask: np.ndarray, offset: float = 0.0) -> list[tuple[float, float]]:
    return [(round(offset + a * FRAME, 3), round(offset + b * FRAME, 3)) for v, a, b in _runs(mask) if v]


def intersect_spans(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The stretches both span lists cover (each sorted, non-overlapping)."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi > lo:
            out.append((round(lo, 3), round(hi, 3)))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _cut_point(samples: np.ndarray, sr: int) -> int:
    """Where to end a window: the middle of the last pause after MIN_WINDOW, else the quietest 100 ms
    of its last 6 s (a cut through a word is the last resort)."""
    mask = speech_mask(samples, sr)
    hop = int(FRAME * sr)
    lo = int(MIN_WINDOW / FRAME)
    pauses = [(a, b) for v, a, b in _runs(mask) if not v and b - a >= int(0.2 / FRAME) and (a + b) // 2 >= lo
              and b < len(mask)]
    if pauses:
        a, b = pauses[-1]
        return ((a + b) // 2) * hop
    db = frame_levels(samples, sr)
    tail = max(len(db) - int(6.0 / FRAME), 0)
    smooth = np.convolve(db[tail:], np.ones(5) / 5, "same")
    return (tail + int(np.argmin(smooth))) * hop


@dataclass(frozen=True)
class Window:
    index: int
    start: float                     # seconds into the file
    samples: np.ndarray = field(repr=False)

    @property
    def end(self) -> float:
        return self.start + len(self.samples) / ASR_SAMPLE_RATE


def windows(blocks: Iterator[np.ndarray], sr: int = ASR_SAMPLE_RATE) -> Iterator[Window]:
    """Cut a stream of sample blocks into windows of at most MAX_WINDOW seconds, ending at pauses."""
    buffer = np.zeros(0, np.float32)
    offset = 0
    index = 0
    limit = int(MAX_WINDOW * sr)
    for block in blocks:
        buffer = np.concatenate([buffer, block]) if len(buffer) else block
        while len(buffer) >= limit:
            cut = max(_cut_point(buffer[:limit], sr), int(MIN_WINDOW * sr) // 2)
            yield Window(index, offset / sr, buffer[:cut].copy())
            index += 1
            offset += cut
            buffer = buffer[cut:]
    if len(buffer):
        yield Window(index, offset / sr, buffer.copy())


# --- hallucinations -----------------------------------------------------------------------------------

def _norm(text: str) -> str:
    return re.sub(r"[^\w']+", " ", text.lower()).strip()


def collapse_repeats(words: list[Word], min_times: int = 3, max_n: int = 8) -> list[Word]:
    """Keep one copy of a phrase said `min_times` or more times in a row ("thank you. thank you. thank you.")
    — Whisper's loop when it has nothing to hear. Single words need one more repeat (people do say
    "no, no, no")."""
    keys = [_norm(w.text) for w in words]
    out_idx: list[int] = []
    i = 0
    while i < len(words):
        best = None
        for n in range(1, max_n + 1):
            times = 1
            while keys[i:i + n] == keys[i + times * n:i + (times + 1) * n] and i + (times + 1) * n <= len(keys):
                times += 1
            need = min_times + (1 if n == 1 else 0)
            if times >= need and any(keys[i:i + n]):
                best = (n, times)
                break
        if best:
            n, times = best
            out_idx.extend(range(i, i + n))
            i += n * times
        else:
            out_idx.append(i)
            i += 1
    return [words[k] for k in out_idx]


def _overlap(a: float, b: float, spans: list[tuple[float, float]]) -> float:
    return sum(max(0.0, min(b, y) - max(a, x)) for x, y in spans)


def clean_segments(segments: list[Segment], spans: list[tuple[float, float]], joiner: str = " ") -> list[Segment]:
    """Drop segments over silence and repeated-phrase loops; the rest pass unchanged."""
    out: list[Segment] = []
    run = 0
    for seg in segments:
        length = max(seg.end - seg.start, 0.02)
        if _overlap(seg.start, seg.end, spans) < min(0.2, 0.5 * length):
            continue  # nothing audible under it: invented
        if seg.words:
            kept = collapse_repeats(list(seg.words))
            if len(kept) < len(seg.words):
                seg = Segment(kept[0].start, kept[-1].end, joiner.join(w.text for w in kept).strip(), tuple(kept))
        if not re.search(r"[^\W_]", seg.text):
            continue  # no letter or digit: "", "♪ ♪", "______"
        if out and _norm(out[-1].text) == _norm(seg.text) and _norm(seg.text):
            run += 1
            if run >= 2:
                continue  # the same line a third time in a row
        else:
            run = 0
        out.append(seg)
    return out


# --- the listening loop -------------------------------------------------------------------------------

@dataclass
class Listening:
    source: str
    language: str
    duration: float
    segments: list[Segment]
    speech: list[tuple[float, float]]               # speech spans, seconds
    voice_spans: np.ndarray                         # (n, 2) slices embedded for speakers
    voices: np.ndarray                              # (n, d) their embeddings
    windows: int = 0
    transcribed: int = 0                            # windows sent to the ASR this run (the rest were cached)
    seconds: dict = field(default_factory=dict)     # asr / speakers wall time this run


def _engine_id(stage) -> str:
    return f"{type(stage).__module__}.{type(stage).__name__}:{getattr(stage, 'config', '')}"


def _segment_json(seg: Segment, offset: float) -> dict:
    return {"start": round(seg.start + offset, 3), "end": round(seg.end + offset, 3), "text": seg.text,
            "words": [[w.text, round(w.start + offset, 3), round(w.end + offset, 3), w.probability]
                      for w in seg.words]}


def _segment_of(d: dict) -> Segment:
    return Segment(d["start"], d["end"], d["text"], tuple(Word(t, a, b, p) for t, a, b, p in d["words"]))


def listen(path: str | Path, asr: ASR, job: Job, *, language: str | None = None, embedder: Embedder | None = None,
           voice_activity: VoiceActivity | None = None, progress: Progress = no_progress) -> Listening:
    """Transcribe (and embed for speakers) a whole file window by window; finished windows come from `job`.

    Speech is what the energy gate hears, narrowed to what `voice_activity` (when given) calls speech."""
    import time

    source = str(path)
    total = audio_duration(path)
    engine = _engine_id(asr)
    chosen, language = language, None   # language: decided by the first speech window(s)
    segments: list[Segment] = []
    speech: list[tuple[float, float]] = []
    spans, embeds = [], []
    count = transcribed = 0
    end = 0.0
    asr_s = spk_s = 0.0
    detected: list[str] = []
    for win in windows(stream_audio(path, ASR_SAMPLE_RATE)):
        count += 1
        end = win.end
        mask = speech_mask(win.samples)
        win_speech = loud = speech_spans(mask, win.start)
        if voice_activity is not None and win_speech:
            voiced = [(a + win.start, b + win.start) for a, b in voice_activity(win.samples, ASR_SAMPLE_RATE)]
            win_speech = intersect_spans(win_speech, voiced)
        speech.extend(win_speech)
        talk = sum(b - a for a, b in win_speech)
        if total:
            progress(min(win.end / total, 0.99), f"listening: {win.end / 60:.1f} of {total / 60:.1f} min")
        if talk < MIN_SPEECH:
            continue
        digest = content_key(win.samples.tobytes())
        if language is None:  # the first speech window decides the language for the whole file
            probe = job.get_json(content_key("probe", engine, digest))
            if probe is None:
                t = time.perf_counter()
                result = asr.transcribe(Audio(win.samples, ASR_SAMPLE_RATE, source))
                asr_s += time.perf_counter() - t
                transcribed += 1
                probe = {"language": result.language,
                         "segments": [_segment_json(s, 0.0) for s in result.segments]}
                job.put_json(content_key("probe", engine, digest), probe)
                job.put_json(content_key("asr", engine, probe["language"], digest), probe)
            detected.append(probe["language"])
            if chosen is None:
                language = probe["language"]
            elif probe["language"] == chosen:
                language = chosen
            elif len(detected) >= 3:
                raise UserInputError(f"no speech in the chosen language '{chosen}' found: the first speech "
                                     f"sounds like '{', '.join(sorted(set(detected)))}'", path=source)
            else:
                continue  # maybe music or another language first: try the next speech window
        key = content_key("asr", engine, language, digest)
        piece = job.get_json(key)
        if piece is None:
            t = time.perf_counter()
            result = asr.transcribe(Audio(win.samples, ASR_SAMPLE_RATE, source), language=language)
            asr_s += time.perf_counter() - t
            transcribed += 1
            piece = {"language": result.language, "segments": [_segment_json(s, 0.0) for s in result.segments]}
            job.put_json(key, piece)
        raw = [_segment_of(_segment_json(_segment_of(d), win.start)) for d in piece["segments"]]
        joiner = "" if language in ("zh", "ja", "yue") else " "
        segments.extend(clean_segments(raw, win_speech, joiner))
        if embedder is not None:
            t = time.perf_counter()
            voices = job.cached_json(content_key("voices", digest), lambda: _embed_json(embedder, win.samples))
            spk_s += time.perf_counter() - t
            # voice slices are picked by loudness: the VAD's narrower spans lost one of the AMI clip's 32 slices
            # and with it the speaker of its first line (DER 21 % -> 36 %)
            for (a, b), e in zip(voices["spans"], voices["embeddings"]):
                if _overlap(a, b, [(x - win.start, y - win.start) for x, y in loud]) >= 0.5 * (b - a):
                    spans.append((a + win.start, b + win.start))
                    embeds.append(e)
    if chosen is not None and language is None:
        raise UserInputError(f"no speech in the chosen language '{chosen}' found: the speech sounds like "
                             f"'{', '.join(sorted(set(detected)))}'", path=source)
    if not segments:
        raise UserInputError("no speech found (silent, music only, or nothing Whisper could recognise)",
                             path=source)
    progress(1.0, f"listened: {len(segments)} segments in {count} windows")
    voice_spans = np.array(spans, dtype=np.float64).reshape(-1, 2)
    voices = np.array(embeds, dtype=np.float32) if embeds else np.zeros((0, 256), np.float32)
    return Listening(source, language or "", round(end, 3), segments, speech, voice_spans, voices, count,
                     transcribed, {"asr": asr_s, "speakers": spk_s})


def _embed_json(embedder: Embedder, samples: np.ndarray) -> dict:
    spans, embeddings = embedder(samples, ASR_SAMPLE_RATE)
    return {"spans": np.round(np.asarray(spans), 3).tolist(),
            "embeddings": np.round(np.asarray(embeddings, dtype=np.float64), 5).tolist()}
