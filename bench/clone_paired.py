"""Paired benchmark of ways to SCORE one training run: a preset is trained once, and at every evaluation the
same weights are scored several ways (3 seeds, held-out clips, round-trip WER after Whisper's normaliser, and
the pitch spread of the first seed's 8 sentences: how far the melody moves, in semitones). None of them changes the training itself, so they are compared on one trajectory, which separate runs cannot
do: their noise differs from run to run. Ways, as `--score` tokens:
  live        the weights as they are, sampled at Piper's noise scale 0.667 (presets now score at 0.333)
  ema0.9      a running average of the weights (decay per step; `Preset.ema`)
  noise0.5    the live weights, latents sampled at this noise scale (0: the text prior's mean)
The clips are moved to the base voice's register first, as `dh clone` does (`--keep-base-pitch` not to).

Usage: python bench/clone_paired.py DATA [--preset draft] [--score live ema0.9 noise0.5] [--steps 150]
       [--json out.json]   (--preset takes bench/clone_variants.py's variants too: draft+freeze-posterior)
DATA is a folder of clips as `dh clone` takes it (its dataset is prepared in a temporary folder).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_way(token: str) -> tuple[float, float]:
    """'live' / 'ema0.9' / 'noise0.5' -> (ema decay, noise scale)."""
    from voices.profiles import PIPER_NOISE_SCALE as PIPER_NOISE

    if token == "live":
        return 0.0, PIPER_NOISE
    if m := re.fullmatch(r"ema(0?\.\d+)", token):
        return float(m.group(1)), PIPER_NOISE
    if m := re.fullmatch(r"noise([\d.]+)", token):
        return 0.0, float(m.group(1))
    raise SystemExit(f"unknown --score token '{token}'; valid: live, emaD (0 < D < 1), noiseS")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--preset", default="draft")
    parser.add_argument("--score", nargs="+", default=["live", "noise0.5", "noise0.333"])
    parser.add_argument("--steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--keep-base-pitch", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    ways = {token: parse_way(token) for token in args.score}
    decays = {decay for decay, _ in ways.values() if decay}
    if len(decays) > 1:
        raise SystemExit("one running average per run: give a single emaD token")

    from pipelines.audio import load_audio
    from pipelines.config import build_stage, load_config
    from voices.dataset import SAMPLE_RATE, prepare_dataset
    from voices.evaluation import evaluate_model, split_held_out
    from bench.clone_variants import variant_preset
    from voices.finetune import (EVAL_SENTENCES, Trainer, _default_scorer, rebuild_posterior, measure_register,
                                 training_items, usable_clips)
    from voices.pitch import pitch_spread
    from voices.profiles import load_voice
    from voices.vits.port import load_voice_model

    preset = variant_preset(args.preset)
    preset = replace(preset, ema=decays.pop() if decays else 0.0, steps=args.steps or preset.steps)
    asr = build_stage(load_config(), "asr")
    base = load_voice("joe")
    folder = Path(tempfile.mkdtemp(prefix="dh-paired-")) / "dataset"
    prepare_dataset(args.data, folder, asr)
    train_files, held_out = split_held_out(usable_clips(folder))
    shift = 0.0
    if not args.keep_base_pitch:
        person = [load_audio(folder / "wavs" / f, SAMPLE_RATE) for f in train_files]
        shift, person_hz, base_hz, _, _ = measure_register(person, base)
        print(f"person {person_hz:.0f} Hz, base {base_hz:.0f} Hz: training {-shift:+.1f} semitones", flush=True)
    model = load_voice_model(base)
    rebuild_posterior(model, base, preset.posterior_steps, "cpu", seed=0)
    trainer = Trainer(model, training_items(folder, base, train_files, pitch=-shift), preset, "cpu", 0)
    scorer = _default_scorer(folder, held_out, asr, base.language)
    sentences = list(EVAL_SENTENCES)

    def score_all() -> dict:
        figures = {}
        for token, (decay, noise) in ways.items():
            spoken = []

            def keeping(synthesize, texts):   # the Scorer interface: the first pass's speech is kept
                def speak(text):
                    audio = synthesize(text)
                    if len(spoken) < len(texts):
                        spoken.append(audio)
                    return audio
                return scorer(speak, texts)

            with (trainer.averaged() if decay else contextlib.nullcontext(model)) as scored:
                sim, wer = evaluate_model(scored, base, "cpu", keeping, sentences, pitch=shift, noise_scale=noise)
            figures[token] = (sim, wer, pitch_spread(spoken) or 0.0)
        return figures

    rows, t0 = [], time.monotonic()
    while True:
        figures = score_all()
        rows.append({"step": trainer.step_no, **{k: [round(x, 4) for x in v] for k, v in figures.items()}})
        print(f"step {trainer.step_no:3}: " + "   ".join(f"{k} {s:.3f} / {w:.1%} / {p:.2f} st"
                                                      for k, (s, w, p) in figures.items())
              + f"   {(time.monotonic() - t0) / 60:.1f} min", flush=True)
        if args.json:
            args.json.write_text(json.dumps({"preset": args.preset, "pitch_shift": shift, "rows": rows}, indent=1))
        if trainer.step_no >= preset.steps:
            break
        while trainer.step_no < preset.steps:
            trainer.step()
            if trainer.step_no % preset.eval_every == 0:
                break
    trainer.close()
    trained = rows[1:]
    for token in ways:
        print(f"{token:10} mean over {len(trained)} evaluations: similarity "
              f"{sum(r[token][0] for r in trained) / len(trained):.3f}, "
              f"WER {sum(r[token][1] for r in trained) / len(trained):.1%}, "
              f"pitch spread {sum(r[token][2] for r in trained) / len(trained):.2f} semitones")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
