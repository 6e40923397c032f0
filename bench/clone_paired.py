"""Paired benchmark of the weight average (`Preset.ema`): ONE training run of a preset, and at every
evaluation both the live weights and their running average are scored the same way (3 seeds, held-out clips,
round-trip WER after Whisper's normaliser). The average never changes the training itself, so this compares
the two on the same trajectory, which two separate runs cannot: their noise differs from run to run.

Usage: python bench/clone_ema.py DATA [--preset draft] [--decay 0.9] [--steps 250] [--json out.json]
DATA is a folder of clips as `dh clone` takes it (its dataset is prepared in a temporary folder).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--preset", default="draft")
    parser.add_argument("--decay", type=float, default=0.9)
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from pipelines.config import build_stage, load_config
    from voices.dataset import prepare_dataset
    from voices.evaluation import evaluate_model, split_held_out
    from voices.finetune import (EVAL_SENTENCES, PRESETS, Trainer, _default_scorer, preset_name,
                                 rebuild_posterior, training_items, usable_clips)
    from voices.profiles import load_voice
    from voices.vits.port import load_voice_model

    preset = replace(PRESETS[preset_name(args.preset)], ema=args.decay, steps=args.steps)
    asr = build_stage(load_config(), "asr")
    base = load_voice("joe")
    folder = Path(tempfile.mkdtemp(prefix="dh-ema-")) / "dataset"
    prepare_dataset(args.data, folder, asr)
    train_files, held_out = split_held_out(usable_clips(folder))
    model = load_voice_model(base)
    rebuild_posterior(model, base, preset.posterior_steps, "cpu", seed=0)
    trainer = Trainer(model, training_items(folder, base, train_files), preset, "cpu", 0)
    scorer = _default_scorer(folder, held_out, asr, base.language)
    sentences = list(EVAL_SENTENCES)

    rows, t0 = [], time.monotonic()
    sim, wer = evaluate_model(model, base, "cpu", scorer, sentences)
    rows.append({"step": 0, "live": [sim, wer], "average": [sim, wer]})
    print(f"step   0: base {sim:.3f} / {wer:.1%}", flush=True)
    while trainer.step_no < preset.steps:
        trainer.step()
        if trainer.step_no % preset.eval_every:
            continue
        live = evaluate_model(model, base, "cpu", scorer, sentences)
        with trainer.averaged() as averaged:
            mean = evaluate_model(averaged, base, "cpu", scorer, sentences)
        rows.append({"step": trainer.step_no, "live": list(live), "average": list(mean)})
        print(f"step {trainer.step_no:3}: live {live[0]:.3f} / {live[1]:.1%}   average (decay {args.decay}) "
              f"{mean[0]:.3f} / {mean[1]:.1%}   {(time.monotonic() - t0) / 60:.1f} min", flush=True)
        if args.json:
            args.json.write_text(json.dumps({"preset": args.preset, "decay": args.decay, "rows": rows}, indent=1))
    trainer.close()
    trained = rows[1:]
    for key in ("live", "average"):
        print(f"{key:8} mean over {len(trained)} evaluations: similarity "
              f"{sum(r[key][0] for r in trained) / len(trained):.3f}, WER {sum(r[key][1] for r in trained) / len(trained):.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
