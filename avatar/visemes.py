"""Mouth shapes over time: from phoneme timings (exact, when speech comes from our voice stage) or from
the audio alone (loudness and brightness), sampled once per video frame.

A viseme is (open, spread): jaw/lip opening 0..1, and lip spread (+) or rounding (-). Coarticulation
follows a dominance model: every phoneme pulls the mouth towards its shape with a weight that decays
with distance in time, so shapes blend like real speech; bilabials (p, b, m) dominate strongly, so the
lips really close on them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pipelines.types import Audio, Timing

# IPA symbol -> (viseme name); espeak's stress and length marks carry no shape of their own
VISEMES = {  # name: (open, spread, dominance)
    "sil": (0.0, 0.0, 1.0), "PP": (0.0, 0.0, 4.0), "FF": (0.12, 0.15, 2.0), "TH": (0.22, 0.1, 1.5),
    "DD": (0.28, 0.1, 1.0), "kk": (0.32, 0.05, 0.8), "CH": (0.25, -0.45, 1.5), "SS": (0.12, 0.45, 1.5),
    "RR": (0.3, -0.35, 1.0), "aa": (0.95, 0.1, 1.2), "E": (0.6, 0.45, 1.0), "ih": (0.35, 0.6, 1.0),
    "oh": (0.7, -0.6, 1.2), "ou": (0.35, -0.9, 1.5), "schwa": (0.45, 0.0, 0.6), "j": (0.3, 0.4, 0.8),
}
PHONEME_VISEME = {
    **dict.fromkeys("pbm", "PP"), **dict.fromkeys("fv", "FF"), **dict.fromkeys("θð", "TH"),
    **dict.fromkeys("tdnlɾɫ", "DD"), **dict.fromkeys("kgŋhxʔ", "kk"), **dict.fromkeys("ʃʒ", "CH"),
    **dict.fromkeys("szʧʤ", "SS"), **dict.fromkeys("ɹrɚɝʁ", "RR"), **dict.fromkeys("aɑæʌɐɒ", "aa"),
    **dict.fromkeys("ɛeœ", "E"), **dict.fromkeys("ɪiyɨ", "ih"), **dict.fromkeys("oɔø", "oh"),
    **dict.fromkeys("uʊwɯ", "ou"), **dict.fromkeys("əɜɘ", "schwa"), **dict.fromkeys("jç", "j"),
}
IGNORED = set("ˈˌːˑ̩̯̃ ,.;:!?-'\"")


@dataclass(frozen=True)
class MouthTrack:
    """Per-frame mouth parameters for a video at `fps`."""

    open: np.ndarray
    spread: np.ndarray
    fps: float

    def __len__(self) -> int:
        return len(self.open)


def frame_times(duration: float, fps: float) -> np.ndarray:
    n = max(1, int(np.ceil(duration * fps - 1e-6)))
    return (np.arange(n) + 0.5) / fps  # the middle of each frame's display interval


def from_phonemes(phonemes: Sequence[Timing], duration: float, fps: float = 25.0) -> MouthTrack:
    times = frame_times(duration, fps)
    keys = []
    for p in phonemes:
        name = PHONEME_VISEME.get(p.label)
        if name is None:
            if p.label in IGNORED:
                continue
            name = "schwa"  # an unknown vowel-ish symbol: a neutral open shape
        keys.append((0.5 * (p.start + p.end), max(p.end - p.start, 0.02), VISEMES[name]))
    if not keys:
        return MouthTrack(np.zeros(len(times)), np.zeros(len(times)), fps)
    centers = np.array([k[0] for k in keys])
    lengths = np.array([k[1] for k in keys])
    shape = np.array([k[2] for k in keys])  # open, spread, dominance
    # silence pulls the mouth shut between words and at the ends
    first, last = keys[0][0] - keys[0][1], keys[-1][0] + keys[-1][1]
    gaps = [(p.start, p.end) for p in phonemes if p.label.strip() == "" or p.label in ",.;:!?"]
    sil_centers = [first - 0.1, last + 0.1] + [0.5 * (a + b) for a, b in gaps]
    centers = np.concatenate([centers, sil_centers])
    lengths = np.concatenate([lengths, [0.15] * len(sil_centers)])
    shape = np.vstack([shape, np.tile(VISEMES["sil"], (len(sil_centers), 1))])
    tau = 0.35 * lengths + 0.02
    distance = np.abs(times[:, None] - centers[None, :])
    weight = shape[None, :, 2] * np.exp(-distance / tau[None, :]) + 1e-9
    open_ = (weight * shape[None, :, 0]).sum(1) / weight.sum(1)
    spread = (weight * shape[None, :, 1]).sum(1) / weight.sum(1)
    # outside all speech the mouth rests
    inside = (times > first - 0.05) & (times < last + 0.05)
    open_ = np.where(inside, open_, 0.0)
    return MouthTrack(np.clip(open_, 0, 1), np.clip(spread, -1, 1), fps)


def from_audio(audio: Audio, fps: float = 25.0) -> MouthTrack:
    """No phonemes: opening follows loudness (gated, so silence is closed), rounding follows how dark the
    spectrum is (low spectral centroid = rounded vowels)."""
    sr, x = audio.sample_rate, audio.samples
    times = frame_times(audio.duration, fps)
    win = int(sr / fps)
    opens, spreads = np.zeros(len(times)), np.zeros(len(times))
    window = np.hanning(win)
    freqs = np.fft.rfftfreq(win, 1 / sr)
    rms = np.zeros(len(times))
    centroid = np.zeros(len(times))
    for i, t in enumerate(times):
        a = int(t * sr) - win // 2
        seg = x[max(a, 0): max(a, 0) + win]
        if len(seg) < win:
            seg = np.pad(seg, (0, win - len(seg)))
        rms[i] = np.sqrt(np.mean(seg ** 2))
        spectrum = np.abs(np.fft.rfft(seg * window))
        band = (freqs > 200) & (freqs < 4000)
        centroid[i] = (spectrum[band] * freqs[band]).sum() / (spectrum[band].sum() + 1e-9)
    if rms.max() <= 0:
        return MouthTrack(opens, spreads, fps)
    db = 20 * np.log10(rms / np.percentile(rms, 95) + 1e-9)
    opens = np.clip((db + 30) / 25, 0, 1)  # -30 dB below loud speech and quieter: closed
    spreads = np.clip((centroid - 1500) / 1000, -1, 1) * (opens > 0)
    kernel = np.array([0.25, 0.5, 0.25])
    return MouthTrack(np.convolve(opens, kernel, "same"), np.convolve(spreads, kernel, "same"), fps)


def with_loudness(track: MouthTrack, audio: Audio) -> MouthTrack:
    """Phonemes decide the shape, the sound decides how much: stressed, loud vowels open wider than
    reduced ones, as in real speech."""
    loud = from_audio(audio, track.fps).open[: len(track)]
    gain = 0.35 + 0.65 * np.pad(loud, (0, len(track) - len(loud)))
    return MouthTrack(np.clip(track.open * gain, 0, 1), track.spread, track.fps)
