"""Pitch-tracking benchmark: librosa's pyin as it ships (dense Viterbi) beside voices.pitch.f0_track (the same
pyin decoded by voices/viterbi.py), on the real clips in ../shared/data/voice, first 30 s of each. Prints
seconds, real-time factor (seconds per second of audio, one process), the speed-up, and whether the two
gave the same F0 and voicing on every frame. Also the TD-PSOLA shift (what a moved clone runs per sentence).
Usage: python bench/pitch.py [--data ../shared/data] [--clips 30]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data")
    parser.add_argument("--clips", type=int, default=30)
    args = parser.parse_args()
    from pipelines.audio import load_audio
    from pipelines.types import Audio
    from voices.pitch import PITCH_RATE, f0_track, shift_pitch

    paths = sorted((args.data / "voice").rglob("*.wav"))[: args.clips]
    clips = [Audio(load_audio(p, PITCH_RATE).samples[: 30 * PITCH_RATE], PITCH_RATE) for p in paths]
    f0_track(clips[0])   # compiles (or loads) the decoder once
    seconds = sum(len(c.samples) for c in clips) / PITCH_RATE
    timings, same = {"librosa pyin (dense Viterbi)": 0.0, "f0_track (sparse Viterbi)": 0.0}, 0
    for clip in clips:
        t0 = time.perf_counter()
        expected, _ = f0_track(clip, librosa_decoding=True)
        t1 = time.perf_counter()
        track, _ = f0_track(clip)
        t2 = time.perf_counter()
        timings["librosa pyin (dense Viterbi)"] += t1 - t0
        timings["f0_track (sparse Viterbi)"] += t2 - t1
        same += np.array_equal(track, expected, equal_nan=True)
    print(f"{len(clips)} clips, {seconds:.0f} s of speech; identical F0 and voicing on every frame: {same}/{len(clips)}")
    print(f"{'pitch track':32} {'seconds':>8} {'x real time':>12}")
    for name, spent in timings.items():
        print(f"{name:32} {spent:8.2f} {spent / seconds:12.3f}")
    dense, sparse = timings.values()
    print(f"speed-up: {dense / sparse:.1f} x")
    sentence = load_audio(paths[0], 22050)
    t0 = time.perf_counter()
    shift_pitch(sentence, -5.0)
    spent = time.perf_counter() - t0
    print(f"shift_pitch -5 semitones, {len(sentence.samples) / 22050:.1f} s clip: {spent:.2f} s "
          f"({spent * 22050 / len(sentence.samples):.3f} x real time)")


if __name__ == "__main__":
    main()
