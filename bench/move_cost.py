"""What the move back to the person's pitch costs a clone's words. A clone trained in its base voice's
register (voices/finetune.py) speaks through a pitch move (TD-PSOLA, voices/pitch.py) and, by default, with
the base voice's melody; training scores it that way. This scores one training checkpoint three ways on the
evaluation sentences (3 seeds, faster-whisper, Whisper's English normaliser): as the decoder speaks (in the
base voice's register), moved, and moved with the melody (what training scores). On 2026-11-28 this found
that the clone's own speech keeps its words (1.8 % at step 75 of a draft, where the scored speech had
13.8 %): what it loses, it loses in the move and the borrowed melody (README, "Where the words go").

Usage: python bench/move_cost.py VOICE_FOLDER [--checkpoint training/checkpoint.pt] [--base joe]
VOICE_FOLDER is a clone's folder (its training/state.json gives the shift, melody gain and noise scale);
the checkpoint is its last training step unless another file is named (kept.pth: the kept weights).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("voice", type=Path)
    parser.add_argument("--checkpoint", default="training/checkpoint.pt")
    parser.add_argument("--base", default="joe")
    args = parser.parse_args()

    import torch

    from pipelines.config import build_stage, load_config
    from voices.evaluation import evaluate_model, word_error_rate
    from voices.finetune import EVAL_SENTENCES
    from voices.profiles import load_voice
    from voices.synthesis import MelodyGuide
    from voices.vits.engine import TorchVits
    from voices.vits.port import load_voice_model

    state = json.loads((args.voice / "training" / "state.json").read_text())
    shift, gain, noise = state["pitch_shift"], state["melody_gain"], state["noise_scale"]
    base = load_voice(args.base)
    model = load_voice_model(base)
    saved = torch.load(args.voice / args.checkpoint, map_location="cpu", weights_only=False)
    missing, unexpected = model.load_state_dict(saved.get("model", saved), strict=False)
    if unexpected or any(not k.startswith("disc.") for k in missing):   # kept.pth has no discriminator
        raise SystemExit(f"{args.checkpoint} is not a checkpoint of a {args.base} clone")
    base_model = load_voice_model(base).eval()
    guide = MelodyGuide(TorchVits(base_model, base_model.config.audio.sample_rate, "cpu"), gain, base.noise_scale)
    asr = build_stage(load_config(), "asr")
    step = saved["step"] if isinstance(saved.get("step"), int) else "kept"
    print(f"{args.voice.name}, step {step}: moved {shift:+.1f} semitones, melody x {gain:g}, noise {noise}")

    class Heard:
        """A Scorer (voices/evaluation.py) for words only: the WER, and what was misheard."""
        def __init__(self):
            self.missed: list[str] = []

        def __call__(self, synthesize, sentences):
            wers = []
            for sentence in sentences:
                heard = asr.transcribe(synthesize(sentence), language=base.language).text
                wers.append(word_error_rate(sentence, heard, base.language))
                if wers[-1] > 0:
                    self.missed.append(heard.strip())
            return 0.0, float(np.mean(wers))

    ways = [("as the decoder speaks", {}), ("moved", {"pitch": shift}),
            ("moved, with the melody", {"pitch": shift, "melody": guide})]
    for label, options in ways:   # as training scores: evaluate_model, every seed
        began, heard = time.monotonic(), Heard()
        _, wer = evaluate_model(model, base, "cpu", heard, EVAL_SENTENCES, noise_scale=noise, **options)
        print(f"{label:24} WER {wer:5.1%}   ({time.monotonic() - began:.0f} s)")
        for line in heard.missed:
            print(f"    heard: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
