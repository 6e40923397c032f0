"""Scoring a voice while it trains: speak fixed sentences with the current generator, then measure how much
it sounds like the person (speaker similarity to clips held out of training) and whether it is still
understood (round-trip WER through the ASR stage). `voices/selection.py` decides what to keep from these."""
from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from pipelines.stages import ASR
from pipelines.text import word_error_rate
from pipelines.types import Audio

from .profiles import VoiceProfile
from .similarity import centroid, embed
from .synthesis import synthesize_text

Synthesize = Callable[[str], Audio]
HOLD_OUT, HOLD_OUT_FROM = 3, 8   # with at least 8 usable clips, 3 are never trained on
# Each seed is another draw of the voice's noise (timing and timbre). One pass over the 8 sentences swings
# WER by about 2 points from seed to seed with the same weights (a GPU clone: 1.0 / 5.1 / 3.8 %), as much
# as the keep rule's margin, so a step is scored as the mean over several seeds.
EVAL_SEEDS = (0, 1, 2)


class Scorer(Protocol):
    def __call__(self, synthesize: Synthesize, sentences: list[str]) -> tuple[float, float]:
        """(speaker similarity, mean round-trip WER) of the voice behind `synthesize`."""


def split_held_out(files: list[str]) -> tuple[list[str], list[str]]:
    """(train, held out): evenly spread over the clips so no single recording session decides the score.
    With too few clips nothing is held out and scores compare with the training clips (the report says so)."""
    if len(files) < HOLD_OUT_FROM:
        return list(files), []
    picks = {int((i + 0.5) * len(files) / HOLD_OUT) for i in range(HOLD_OUT)}
    return [f for i, f in enumerate(files) if i not in picks], [f for i, f in enumerate(files) if i in picks]


class HeldOutScorer:
    """Similarity to the centroid of reference clips (resemblyzer) and WER through the ASR stage; used while
    training and by the final quality report, so both measure the same way."""

    def __init__(self, target: np.ndarray, asr: ASR, language: str = "en"):
        self.target, self.asr, self.language = target, asr, language

    @classmethod
    def from_clips(cls, references: list[Audio], asr: ASR, language: str = "en") -> "HeldOutScorer":
        return cls(centroid(references), asr, language)

    def __call__(self, synthesize: Synthesize, sentences: list[str]) -> tuple[float, float]:
        sims, wers = [], []
        for sentence in sentences:
            audio = synthesize(sentence)
            sims.append(float(np.dot(embed(audio), self.target)))
            heard = self.asr.transcribe(audio, language=self.language).text
            wers.append(word_error_rate(sentence, heard, self.language))
        return float(np.mean(sims)), float(np.mean(wers))


def score_over_seeds(scorer: Scorer, speak: Callable[[str, int], Audio], sentences: list[str],
                     seeds=EVAL_SEEDS) -> tuple[float, float]:
    """(similarity, WER), each the mean of one scoring pass per seed."""
    figures = [scorer(lambda text, seed=seed: speak(text, seed), sentences) for seed in seeds]
    return float(np.mean([f[0] for f in figures])), float(np.mean([f[1] for f in figures]))


def evaluate_model(model, profile: VoiceProfile, device: str, scorer: Scorer, sentences: list[str],
                   speaker: int | None = None, seeds=EVAL_SEEDS, pitch: float = 0.0,
                   noise_scale: float = 0.667, melody=None) -> tuple[float, float]:
    """Score the model as it is now, in eval mode, and leave it in train mode as training expects.
    `speaker`: which voice of a two-speaker model (the person's, while training with the base voice's speech);
    `pitch`: semitones its speech is moved by before scoring (a clone trained in the base voice's register);
    `noise_scale`: how far from the text's prior its latents are sampled (the voice's own setting when saved);
    `melody`: the base voice's melody it speaks with once saved (synthesis.MelodyGuide), so what is scored is
    what the user will hear."""
    from .vits.engine import TorchVits

    generator = TorchVits(model, model.config.audio.sample_rate, device, training=True, speaker=speaker)
    id_map = profile.piper_config["phoneme_id_map"]
    model.eval()
    try:
        return score_over_seeds(
            scorer, lambda text, seed: synthesize_text(text, generator, id_map, profile.espeak_voice, seed=seed,
                                                         pitch=pitch, noise_scale=noise_scale, melody=melody).audio,
            sentences, seeds)
    finally:
        model.train()
