"""How high a voice speaks: the median fundamental frequency of its voiced frames. A clone can score a high
speaker similarity while keeping the base voice's pitch (a male-pitched clone of a female reader reached
0.77), so the quality report puts the clone's pitch beside the person's."""
from __future__ import annotations

import contextlib
import math
import os
import threading

import numpy as np

from pipelines.types import Audio

PITCH_RATE = 16000             # pYIN on 16 kHz audio: ~0.024 x real time on one CPU core (librosa's own: 0.084)
F0_MIN, F0_MAX = 50.0, 500.0   # spans low male to high female and child speech
# semitones per pitch bin. librosa's dense Viterbi grows with the square of the bins (viterbi.py decodes only
# the possible transitions: the same F0, 3.6 x faster, bench/pitch.py). 0.2 was 2.6 x faster with the dense
# one, but the LJ round trip (down to 86 Hz and back) fell from 0.89 / 1.7 % to 0.87 / 3.7 %
PYIN_RESOLUTION = 0.1
MIN_VOICED_FRAMES = 10         # fewer than this (~0.3 s) and a median means nothing
# semitones: a borrowed melody is softly limited to this far from the median (tanh). joe lifts his "Please"
# 10 semitones; times a gain of 2.09 that was 21, a squeak Whisper heard as "I want to make sure that you
# remember" (LJ's reader stays within -8.6 and +9.9 on 99 % of her voiced frames)
MELODY_LIMIT = 10.0
SAME_REGISTER = 3.0            # semitones: nearer than a minor third, two voices speak in the same register


def voiced_f0(audio: Audio) -> np.ndarray:
    """F0 in Hz of each voiced 64 ms frame (pYIN, hop 16 ms); empty for silence or noise."""
    f0, _ = f0_track(audio)
    return f0[np.isfinite(f0)]


def in_parallel(function, items: list, progress=None) -> list:
    """`function` over `items`, in order, in worker processes: pYIN cost ~1 s per clip per core with
    librosa's dense Viterbi and was most of a clone's set-up (68 of its 143 s on a 16-core GPU server, one
    clip after another). Serial with one core or a few items. joblib's loky workers: they do not re-run the
    caller's script (a plain script without a `__main__` guard still works) and stay up for the next call.
    `progress(done)` as items finish."""
    workers = min(os.cpu_count() or 1, len(items), 8)
    if workers < 2 or len(items) < 4:
        results = []
        for item in items:
            results.append(function(item))
            if progress:
                progress(len(results))
        return results
    from joblib import Parallel, delayed

    results = []
    for result in Parallel(n_jobs=workers, backend="loky", return_as="generator")(
            delayed(function)(item) for item in items):
        results.append(result)
        if progress:
            progress(len(results))
    return results


def median_pitch(audios: list[Audio]) -> float | None:
    """Median F0 over all voiced frames of these clips, in Hz; None when too little of it is voiced."""
    return pitch_summary(audios)[0]


def pitch_spread(audios: list[Audio]) -> float | None:
    """How much each clip's pitch moves around its own median (the standard deviation of its voiced frames,
    in semitones), the median over clips: intonation. A monotone, "robotic" voice has little; None when too
    little is voiced."""
    return pitch_summary(audios)[1]


def pitch_summary(audios: list[Audio]) -> tuple[float | None, float | None]:
    """(median pitch, pitch spread) from one pYIN pass over each clip: both figures of a report at the
    cost of one."""
    frames = in_parallel(voiced_f0, list(audios))
    pooled = np.concatenate(frames) if frames else np.zeros(0)
    median = float(np.median(pooled)) if len(pooled) >= MIN_VOICED_FRAMES else None
    spreads = [float(np.std(12.0 * np.log2(f0 / np.median(f0)))) for f0 in frames if len(f0) >= MIN_VOICED_FRAMES]
    return median, (float(np.median(spreads)) if spreads else None)


def semitones(f0: float, reference: float) -> float:
    """How far `f0` is above (+) or below (-) `reference`, in semitones."""
    return 12.0 * math.log2(f0 / reference)


def f0_track(audio: Audio, *, librosa_decoding: bool = False) -> tuple[np.ndarray, float]:
    """(F0 in Hz per frame, NaN where unvoiced; seconds between frames), from pYIN on 16 kHz audio.
    `librosa_decoding`: librosa's own dense Viterbi, what the sparse one is checked and timed against."""
    import librosa

    samples = np.asarray(audio.samples, dtype=np.float32)
    if audio.sample_rate != PITCH_RATE:
        samples = librosa.resample(samples, orig_sr=audio.sample_rate, target_sr=PITCH_RATE)
    hop = 256
    if len(samples) < 1024:
        return np.full(0, np.nan, dtype=np.float32), hop / PITCH_RATE
    with contextlib.nullcontext() if librosa_decoding else _sparse_viterbi_in_librosa():
        f0, voiced, _ = librosa.pyin(samples, fmin=F0_MIN, fmax=F0_MAX, sr=PITCH_RATE, frame_length=1024,
                                     hop_length=hop, resolution=PYIN_RESOLUTION)
    return np.where(voiced & np.isfinite(f0), f0, np.nan).astype(np.float32), hop / PITCH_RATE


_LIBROSA_SWAP = threading.Lock()


@contextlib.contextmanager
def _sparse_viterbi_in_librosa():
    """librosa.pyin, decoded by viterbi.sparse_viterbi: the same states (tested against librosa's own
    decoding), without scoring the transitions pYIN rules out. pyin looks the decoder up in
    `librosa.sequence` when it runs, so it is swapped there for the call, one caller at a time."""
    import librosa.sequence

    from .viterbi import sparse_viterbi

    with _LIBROSA_SWAP:
        original = librosa.sequence.viterbi
        librosa.sequence.viterbi = sparse_viterbi
        try:
            yield
        finally:
            librosa.sequence.viterbi = original


def shift_pitch(audio: Audio, steps: float, melody: np.ndarray | None = None) -> Audio:
    """The same speech `steps` semitones higher (+) or lower (-), same length, formants kept (TD-PSOLA:
    each glottal pulse is cut out with a two-period window and laid down again at the new spacing), so a
    voice moves to another register without sounding like a sped-up tape. Unvoiced stretches pass through.

    `melody` (semitones per sample around its own median; NaN where unknown) replaces the speech's own pitch
    movement: each pulse is laid down at the speech's median pitch moved by `steps` and by the melody there.
    A clone whose fine-tuned decoder speaks in a monotone gets its intonation back this way (synthesis.py)."""
    if (abs(steps) < 0.05 and melody is None) or len(audio.samples) == 0:
        return audio
    x = np.asarray(audio.samples, dtype=np.float64)
    sr, n = audio.sample_rate, len(x)
    f0, hop_s = f0_track(audio)
    voiced_frames = np.isfinite(f0)
    if not voiced_frames.any():
        return audio
    frame = np.clip(np.round(np.arange(n) / (hop_s * sr)).astype(int), 0, len(f0) - 1)
    smooth_f0 = np.interp(np.arange(n) / sr, np.flatnonzero(voiced_frames) * hop_s, f0[voiced_frames])
    period = np.where(voiced_frames[frame], sr / smooth_f0, 0.0)   # samples per pulse; 0 where unvoiced
    ratio = np.full(n, 2.0 ** (steps / 12.0))
    if melody is not None:
        ratio = ratio * _melody_ratio(np.asarray(melody, dtype=np.float64), smooth_f0, period > 0,
                                      float(np.median(f0[voiced_frames])))
    edges = np.flatnonzero(np.diff(np.r_[0, (period > 0).astype(np.int8), 0]))
    segments = list(zip(edges[::2], edges[1::2]))
    marks = _pulse_marks(x, sr, period, segments)
    y = np.zeros(n)
    if len(marks):
        for start, end in segments:
            t = float(start)
            while t < end:
                here = int(t)
                half = max(int(period[here]), 1)
                after = int(np.searchsorted(marks, here))
                nearest = marks[max(after - 1, 0): after + 1]   # the marks either side of `here`
                source = int(nearest[np.argmin(np.abs(nearest - here))])
                # Hann grains of two periods at a spacing of period/ratio overlap ratio-fold
                _add_grain(y, x, source, here, half, min(1.0, 1.0 / ratio[here]))
                t += period[here] / ratio[here]
    step = max(int(0.005 * sr), 1)
    for here in range(0, n, step):   # unvoiced: plain overlap-add of Hann windows at 50 %, which sums to one
        if period[here] == 0:
            _add_grain(y, x, here, here, step, 1.0)
    rms_in, rms_out = np.sqrt(np.mean(x ** 2)), np.sqrt(np.mean(y ** 2))
    if rms_out > 0:
        y *= rms_in / rms_out
    return Audio(np.clip(y, -1.0, 1.0).astype(np.float32), sr)


def _melody_ratio(melody: np.ndarray, own_f0: np.ndarray, voiced: np.ndarray, own_median: float) -> np.ndarray:
    """Per-sample pitch ratio that takes speech at `own_f0` to its median moved by `melody` (centred on the
    voiced samples, so the voice's register stays where it was; gaps filled from the nearest known values;
    cut or padded to the speech's length)."""
    melody = np.pad(melody[: len(own_f0)], (0, max(len(own_f0) - len(melody), 0)), constant_values=np.nan)
    known = np.isfinite(melody)
    if not known.any():
        return np.ones(len(own_f0))
    filled = np.interp(np.arange(len(own_f0)), np.flatnonzero(known), melody[known])
    if voiced.any():
        filled -= np.median(filled[voiced])
    return own_median * 2.0 ** (filled / 12.0) / own_f0


def borrowed_melody(guide: Audio, guide_frames: np.ndarray, frames: np.ndarray, length: int, hop: int,
                    gain: float = 1.0) -> np.ndarray:
    """The guide's pitch movement (semitones around its median, times `gain`) for each of `length` samples of
    speech of the same phonemes: both give their frames per phoneme, and each phoneme of the speech takes the
    stretch of the guide that said the same phoneme. NaN where the guide is unvoiced. The pYIN track is
    median-filtered (a stray frame is no jump) and averaged over 80 ms: intonation, not the frame-to-frame
    jitter that a gain would widen too. On a real clone (lj-sing, 3 seeds of 8 sentences and 24 book
    sentences, words pooled) the averaging took the WER from 12.9 to 10.7 % (its own flat melody: 11.3 %).
    The movement is then softly limited to MELODY_LIMIT semitones around the median."""
    f0, hop_s = f0_track(guide)
    return follow_melody(f0, hop_s, guide_frames, frames, length, hop, guide.sample_rate, gain)


def follow_melody(f0: np.ndarray, hop_s: float, guide_frames: np.ndarray, frames: np.ndarray, length: int,
                  hop: int, sample_rate: int, gain: float = 1.0) -> np.ndarray:
    """`borrowed_melody` from the guide's pitch track (`f0_track`) rather than its audio."""
    from scipy.signal import medfilt

    voiced = np.isfinite(f0)
    if voiced.sum() < MIN_VOICED_FRAMES:
        return np.full(length, np.nan)
    contour = medfilt(12.0 * np.log2(f0[voiced] / np.median(f0[voiced])), 5)
    contour = np.convolve(np.pad(contour, 2, mode="edge"), np.ones(5) / 5, mode="valid")
    movement = np.full(len(f0), np.nan)
    movement[voiced] = MELODY_LIMIT * np.tanh(contour * gain / MELODY_LIMIT)
    own_edges = np.concatenate([[0.0], np.cumsum(frames)]) * hop
    guide_edges = np.concatenate([[0.0], np.cumsum(guide_frames[: len(frames)])]) * hop
    at = np.interp(np.arange(length), own_edges, guide_edges) / sample_rate   # seconds into the guide
    return movement[np.clip(np.round(at / hop_s).astype(int), 0, len(f0) - 1)]


def _pulse_marks(x: np.ndarray, sr: int, period: np.ndarray, segments: list[tuple[int, int]]) -> np.ndarray:
    """One mark per glottal pulse of each voiced stretch: the peak of the low-passed signal, looked for a
    quarter-period either side of where the previous pulse and the local period put it."""
    from scipy.signal import butter, sosfiltfilt

    smooth = sosfiltfilt(butter(4, min(1000.0 / (sr / 2), 0.99), output="sos"), x)
    marks: list[int] = []
    for start, end in segments:
        first = int(start + np.argmax(smooth[start:min(start + max(int(period[start]), 1), end)]))
        pos = first
        while pos < end:
            marks.append(pos)
            span = period[pos]
            predicted = pos + int(round(span))
            low, high = predicted - int(span / 4), min(predicted + int(span / 4) + 1, len(x))
            if low >= end or low >= high:
                break
            pos = max(low + int(np.argmax(smooth[low:high])), pos + 1)
    return np.array(sorted(set(marks)), dtype=np.int64)


def _add_grain(y: np.ndarray, x: np.ndarray, source: int, target: int, half: int, gain: float) -> None:
    """Add x[source-half : source+half] under a Hann window to y around `target`, clipped at both ends."""
    window = np.hanning(2 * half + 1)
    lo = max(-half, -source, -target)
    hi = min(half, len(x) - 1 - source, len(y) - 1 - target)
    if hi < lo:
        return
    y[target + lo: target + hi + 1] += gain * window[lo + half: hi + half + 1] * x[source + lo: source + hi + 1]
