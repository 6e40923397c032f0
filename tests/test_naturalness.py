"""DNSMOS on real speech: it must tell a clean recording from the same one with noise or a buzz added, so
the clone report's "how clean it sounds" can rank voices at all."""
import numpy as np
import pytest

from pipelines.audio import load_audio
from pipelines.types import Audio
from voices.naturalness import dnsmos

pytest.importorskip("speechmos")


def test_dnsmos_hears_noise_and_buzz_added_to_a_real_recording(shared):
    clips = sorted((shared / "voice" / "ljspeech" / "wavs").glob("*.wav"))[:3]
    clean = [load_audio(c, 22050) for c in clips]
    rng = np.random.default_rng(0)
    noisy = [Audio(a.samples + rng.normal(0, 0.1, len(a.samples)).astype(np.float32), a.sample_rate) for a in clean]
    def chopped(a: Audio) -> Audio:   # gated at 86 Hz, the pulse a broken decoder falls into
        t = np.arange(len(a.samples)) / a.sample_rate
        return Audio((a.samples * (0.5 + 0.5 * np.sign(np.sin(2 * np.pi * 86 * t)))).astype(np.float32), a.sample_rate)

    buzz = [chopped(a) for a in clean]
    scores = {name: dnsmos(audios) for name, audios in (("clean", clean), ("noisy", noisy), ("buzz", buzz))}
    assert set(scores["clean"]) == {"sig", "bak", "ovrl", "p808"}
    assert all(1.0 <= v <= 5.0 for s in scores.values() for v in s.values())
    assert scores["clean"]["ovrl"] > scores["noisy"]["ovrl"] + 0.5
    assert scores["clean"]["ovrl"] > scores["buzz"]["ovrl"] + 0.3
    assert dnsmos(clean[:1]) != dnsmos(clean[1:2])   # each clip its own score: not a constant


def test_dnsmos_needs_some_audio():
    with pytest.raises(ValueError, match="at least one clip"):
        dnsmos([])
