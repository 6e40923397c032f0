"""Blending a clone with its base voice: the generator's weights (1 - a) x base + a x clone, scored exactly as
training scores its steps (held-out clips, the voice's pitch shift, noise scale and melody, 3 seeds), for a
few blend factors a. Fine-tuning moves along one similarity/clarity line step by step; this asks whether the
straight line between the two weight sets lies above it (as WiSE-FT found for fine-tuned image models).

Usage: python bench/clone_blend.py VOICE [--weights training/checkpoint.pt] [--alphas 0.4 0.6 0.8 1.0]
       [--json out.json]
VOICE is a cloned voice's name or folder (its training/state.json says how it was scored); --weights picks
another generator than the saved one (a training checkpoint: its last step, which may have been refused).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def blended_state(base: dict, tuned: dict, alpha: float) -> dict:
    """(1 - alpha) x base + alpha x tuned, tensor by tensor, for what the tuned voice has (the discriminator
    left out): a voice part way between the base voice and its fine-tune, on the straight line between their
    weights rather than along the training path."""
    blended = {}
    for key, value in tuned.items():
        if key.startswith("disc."):
            continue
        if key in base and value.is_floating_point() and base[key].shape == value.shape:
            value = base[key].to(value.dtype) * (1 - alpha) + value * alpha
        blended[key] = value
    return blended


def main() -> None:
    import torch

    from voices.evaluation import evaluate_model
    from voices.finetune import EVAL_SENTENCES, _default_scorer
    from voices.profiles import load_voice
    from voices.synthesis import MelodyGuide
    from voices.vits.engine import TorchVits
    from voices.vits.port import load_voice_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("voice")
    parser.add_argument("--weights", help="a generator state (or training checkpoint) inside or outside the voice")
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.4, 0.6, 0.8, 1.0])
    parser.add_argument("--flow-alpha", type=float, help="the flow's own blend factor (the decoder's is each a)")
    parser.add_argument("--json")
    args = parser.parse_args()

    clone = load_voice(args.voice)
    base = load_voice(clone.base)
    state = json.loads((clone.folder / "training" / "state.json").read_text())
    weights = Path(args.weights) if args.weights else clone.weights_path
    if not weights.is_absolute() and not weights.is_file():
        weights = clone.folder / weights
    loaded = torch.load(weights, map_location="cpu", weights_only=True)
    tuned = loaded.get("model", loaded)   # a training checkpoint holds the whole model under "model"
    scorer = _default_scorer(clone.folder / "dataset", state["held_out"], None, base.language)
    guide = None
    if state.get("scored_in_melody"):
        guide_model = load_voice_model(base)
        guide = MelodyGuide(TorchVits(guide_model, guide_model.config.audio.sample_rate, "cpu"),
                            state["melody_gain"], base.noise_scale)
    rows = []
    for alpha in args.alphas:
        model = load_voice_model(base)
        blended = blended_state(model.state_dict(), tuned, alpha)
        if args.flow_alpha is not None:
            flow = {k: v for k, v in tuned.items() if k.startswith("flow.")}
            blended.update(blended_state(model.state_dict(), flow, args.flow_alpha))
        model.load_state_dict(blended, strict=False)
        t0 = time.monotonic()
        sim, wer = evaluate_model(model, base, "cpu", scorer, EVAL_SENTENCES, pitch=state["pitch_shift"],
                                  noise_scale=state["noise_scale"], melody=guide)
        rows.append({"alpha": alpha, "similarity": round(sim, 4), "wer": round(wer, 4),
                     "seconds": round(time.monotonic() - t0, 1)})
        print(f"a={alpha:.2f}: similarity {sim:.3f}  WER {wer:.1%}  ({rows[-1]['seconds']:.0f} s)", flush=True)
    print(f"\n{clone.name} ({weights.name}) blended with {base.name}; base WER at step 0 of its training: "
          f"{state.get('base_wer', float('nan')):.1%}")
    print("| blend a | similarity | WER |\n|---|---|---|")
    for r in rows:
        print(f"| {r['alpha']:.2f} | {r['similarity']:.3f} | {r['wer']:.1%} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"voice": clone.name, "weights": str(weights), "rows": rows},
                                              indent=1))


if __name__ == "__main__":
    main()
