"""Where does a fine-tune lose the melody? Trains a preset variant for a few steps and, every N steps, prints
the pitch spread (semitones around each sentence's median, voices/pitch.py) of:

  reconstruction  the person's training clips (moved into the base voice's register) -> the posterior
                  encoder's mean -> the decoder: the path the decoder learns from
  from text       the model speaking fixed sentences at noise 0.333, before any pitch shift back: what the
                  clone will say

and the share of voiced frames within 1 % of sample rate / hop (86.13 Hz for Piper's 22050 / 256): a
decoder that makes one glottal pulse per latent frame sits there, whatever it is asked to say.

    python bench/clone_melody.py ../shared/data/voice/ljspeech draft draft+harm45 --steps 50 --every 25

Variants use bench/clone_variants.py's tokens. CPU only; run one at a time on 2 cores.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def frame_lock_share(f0: np.ndarray, frame_rate: float) -> float:
    """Share of voiced frames within 1 % of the latent frame rate."""
    return float(np.mean(np.abs(f0 / frame_rate - 1.0) < 0.01)) if len(f0) else 0.0


def run(spec: str, data: Path, steps: int, every: int, sentences: list[str]) -> None:
    import torch

    from bench.clone_variants import variant_preset
    from pipelines.audio import load_audio
    from pipelines.config import build_stage, load_config
    from pipelines.types import Audio
    from voices.dataset import SAMPLE_RATE, prepare_dataset
    from voices.evaluation import split_held_out
    from voices.finetune import (Trainer, phoneme_ids, rebuild_posterior, reconstruct, measure_register,
                                 training_items, usable_clips)
    from voices.pitch import pitch_spread, voiced_f0
    from voices.profiles import load_voice
    from voices.vits.port import load_voice_model

    preset = replace(variant_preset(spec), steps=steps)
    base = load_voice("joe")
    folder = Path(tempfile.mkdtemp(prefix="dh-melody-")) / "dataset"
    prepare_dataset(data, folder, build_stage(load_config(), "asr"))
    train_files, _ = split_held_out(usable_clips(folder))
    person = [load_audio(folder / "wavs" / f, SAMPLE_RATE) for f in train_files]
    shift = measure_register(person, base).shift
    model = load_voice_model(base)
    rebuild_posterior(model, base, preset.posterior_steps, "cpu", seed=0)
    items = training_items(folder, base, train_files, pitch=-shift)
    moved = [Audio(w, SAMPLE_RATE) for _, w in items[:6]]
    trainer = Trainer(model, items, preset, "cpu", 0)
    rate = model.config.audio.sample_rate / model.config.audio.hop_length
    t0 = time.monotonic()

    def probe() -> None:
        model.eval()
        with torch.no_grad():
            rebuilt = []
            for clip in moved:
                wave = reconstruct(model, torch.tensor(clip.samples, dtype=torch.float32)[None])
                rebuilt.append(Audio(wave.reshape(-1).numpy(), SAMPLE_RATE))
            model.inference_noise_scale, model.inference_noise_scale_dp, model.length_scale = 0.333, 0.8, 1.0
            torch.manual_seed(0)
            spoken = [Audio(model.inference(torch.tensor([phoneme_ids(s, base)]))["model_outputs"].reshape(-1).numpy(),
                            SAMPLE_RATE) for s in sentences]
        locked = frame_lock_share(np.concatenate([voiced_f0(a) for a in spoken]), rate)
        print(f"{spec:32} step {trainer.step_no:4}: reconstruction {pitch_spread(rebuilt) or 0:.2f} "
              f"(clips {pitch_spread(moved) or 0:.2f}), from text {pitch_spread(spoken) or 0:.2f}, "
              f"{locked:.0%} of voiced frames at {rate:.2f} Hz   {(time.monotonic() - t0) / 60:.1f} min", flush=True)

    probe()
    while trainer.step_no < steps:
        trainer.step()
        if trainer.step_no % every == 0 or trainer.step_no == steps:
            probe()
    trainer.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--every", type=int, default=25)
    args = parser.parse_args()
    from bench.clone_variants import variant_preset
    from voices.finetune import EVAL_SENTENCES

    for spec in args.variants:
        variant_preset(spec)   # fail before training anything
    for spec in args.variants:
        run(spec, args.data, args.steps, args.every, list(EVAL_SENTENCES[:6]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
