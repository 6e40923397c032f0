"""How clean a voice sounds, measured without a reference recording: Microsoft's DNSMOS P.835 (ONNX weights in
the `speechmos` wheel, MIT) predicts listeners' 1-5 scores for the speech itself (SIG), its background (BAK)
and overall (OVRL), and P.808's overall score. It was trained on noisy and enhanced speech, not on synthetic
voices: it hears buzz, hiss, roughness and broken pulses (what a fine-tuned decoder and a large pitch shift
add), not whether the melody is natural. Used to compare voices on the same sentences, never as a verdict."""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from pipelines.types import Audio

RATE = 16000
GAP = 0.1   # seconds of silence between joined sentences: DNSMOS scores 9-second windows


@functools.lru_cache(maxsize=1)
def _model():
    try:
        from speechmos.dnsmos import DNSMOS
    except ImportError as exc:   # pragma: no cover - installed with the tts extra
        raise ImportError("DNSMOS needs the speechmos package: pip install speechmos") from exc
    import speechmos

    models = Path(speechmos.__file__).parent / "dnsmos_models"
    return DNSMOS(str(models / "sig_bak_ovr.onnx"), str(models / "model_v8.onnx"))


def dnsmos(audios: list[Audio]) -> dict[str, float]:
    """{"sig", "bak", "ovrl", "p808"} for these clips joined (short pauses between them) at 16 kHz, each clip
    peak-normalised as a player would; under 9 s DNSMOS repeats the audio to fill its window."""
    from pipelines.audio import resample

    if not audios:
        raise ValueError("DNSMOS needs at least one clip")
    gap = np.zeros(int(GAP * RATE), np.float32)
    pieces = []
    for audio in audios:
        samples = np.asarray(resample(audio, RATE).samples, np.float32)
        peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
        pieces += [samples / peak * 0.95 if peak > 0 else samples, gap]
    scores = _model()(np.concatenate(pieces[:-1]), RATE, False)
    return {"sig": float(scores["sig_mos"]), "bak": float(scores["bak_mos"]), "ovrl": float(scores["ovrl_mos"]),
            "p808": float(scores["p808_mos"])}
