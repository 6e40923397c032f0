"""Cloning benchmark: each variant is a real quality-driven clone (voices/finetune.py) of the same clips, run
in its own process so several share one GPU (on a CPU, give one), then a table of the curve each gave
(similarity to held-out clips, round-trip WER), the step the keep rule chose and why, the final report's
figures and the wall time. One preset alone (`draft`, `clear`...) is that preset's benchmark.

A variant is the `gpu` preset (or another, named first) changed by `+`-joined tokens:
  flow0.1   the flow learns at 0.1 x the learning rate     bs32   batch size 32
  lr3e-4    learning rate                                   eval50 score every 50 steps
  freeze-flow  train only the decoder and posterior          steps1200  at most this many steps
  freeze-posterior  keep the (rebuilt) posterior encoder as the base voice's
  base0.5   half of each batch is the base voice's own speech (a second speaker, folded away when saved)
  prior     ... and that speech trains only the KL term (flow, posterior), not the decoder
  speaker10 the speaker embedding and conditioning layers learn at 10 x the learning rate
  kl3       the KL term (posterior vs the text's prior) weighs 3 x Coqui's 1 (the mel loss weighs 45)
  ema0.9    score, keep and save a running average of the generator's weights (decay 0.9 per step)
  noise0.667  the clone speaks (and is scored) with its latents sampled at this noise scale (presets: 0.333)
  text0.5   a second mel loss (0.5 x the mel loss) on speech decoded from the text's prior through the
            reversed flow, as the voice speaks, not from the real clip's posterior latents
  upcond    (with base...) the speaker is added after every upsampling layer of the decoder too
  adv0      the adversarial terms (generator and feature-matching losses) weigh 0 x Coqui's (0: the
            discriminator is not trained; the voice learns from the mel and KL terms alone)
  warm25    the learning rate rises linearly over the first 25 steps
  cos0.1    the learning rate falls along a cosine to 0.1 x itself by the preset's last step
  beside    score each evaluation in a helper thread while training goes on (on in `gpu`);
            in-line  score with training standing still (as the CPU presets do)
  base-pitch  train on the clips as they are (`dh clone --keep-base-pitch`), not moved to the base
            voice's register
  seed1     the clone's seed (default 0): its random starts, its batches and the noise of its training
            (the same seed gives the same clone, bit for bit; other seeds tell what a preset gives apart
            from luck)
Usage: python bench/clone_variants.py DATA gpu gpu+flow0.1 gpu+flow0.1+bs32 [--minutes 5] [--device cuda]
       [--set asr.engine=whisper ...] [--json out.json] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOKENS = {
    r"flow([\d.]+)": lambda p, v: replace(p, flow_lr_scale=float(v)),
    r"bs(\d+)": lambda p, v: replace(p, batch_size=int(v)),
    r"lr([\d.e-]+)": lambda p, v: replace(p, lr=float(v)),
    r"eval(\d+)": lambda p, v: replace(p, eval_every=int(v), checkpoint_every=int(v)),
    r"steps(\d+)": lambda p, v: replace(p, steps=int(v)),
    r"patience(\d+)": lambda p, v: replace(p, patience=int(v)),
    r"freeze-flow()": lambda p, v: replace(p, frozen=(*p.frozen, "flow")),
    r"freeze-posterior()": lambda p, v: replace(p, frozen=(*p.frozen, "posterior_encoder")),
    r"base([\d.]+)": lambda p, v: replace(p, base_share=float(v)),
    r"prior()": lambda p, v: replace(p, base_losses="prior"),
    r"speaker([\d.]+)": lambda p, v: replace(p, speaker_lr_scale=float(v)),
    r"kl([\d.]+)": lambda p, v: replace(p, kl_weight=float(v)),
    r"ema([\d.]+)": lambda p, v: replace(p, ema=float(v)),
    r"noise([\d.]+)": lambda p, v: replace(p, noise_scale=float(v)),
    r"harm([\d.]+)": lambda p, v: replace(p, harmonic_weight=float(v)),
    r"text([\d.]+)": lambda p, v: replace(p, text_path_weight=float(v)),
    r"upcond()": lambda p, v: replace(p, speaker_every_up_layer=True),
    r"adv([\d.]+)": lambda p, v: replace(p, adversarial_weight=float(v)),
    r"warm(\d+)": lambda p, v: replace(p, warmup_steps=int(v)),
    r"cos([\d.]+)": lambda p, v: replace(p, lr_floor=float(v)),
    r"beside()": lambda p, v: replace(p, score_beside=True),
    r"in-line()": lambda p, v: replace(p, score_beside=False),
}


BASE_PITCH = "base-pitch"
SEED = r"seed(\d+)"   # a clone option too


def variant_seed(spec: str) -> int:
    return next((int(m.group(1)) for t in spec.split("+") if (m := re.fullmatch(SEED, t))), 0)


def variant_preset(spec: str):
    """'gpu+flow0.1+bs32' -> the gpu preset with those changes."""
    from voices.finetune import PRESETS, preset_name

    name, *changes = spec.split("+")
    preset = PRESETS[preset_name(name)]
    for token in changes:
        if token == BASE_PITCH or re.fullmatch(SEED, token):   # clone options, not preset values: run_one reads them
            continue
        for pattern, change in TOKENS.items():
            if m := re.fullmatch(pattern, token):
                preset = change(preset, m.group(1))
                break
        else:
            valid = ", ".join(re.sub(r"\(.+\)", "N", t).replace("()", "") for t in TOKENS)
            raise SystemExit(f"unknown variant token '{token}' in '{spec}'; valid: {valid} (see --help)")
    return preset


def run_one(args) -> int:
    """Child process: one clone with the variant's preset; its profile and training state tell the rest."""
    from pipelines.config import build_stage, load_config
    from voices.finetune import PRESETS, CloneOptions, clone_voice

    PRESETS[args.one] = variant_preset(args.one)   # registered under its own name, in this process only
    asr = build_stage(load_config(overrides=args.overrides), "asr")
    t0 = time.monotonic()

    def progress(fraction: float, message: str = "") -> None:
        if message.startswith(("scored", "stopping", "voice", "posterior encoder: cached")):
            print(f"[{args.one} {(time.monotonic() - t0) / 60:5.2f} min] {message}", flush=True)

    clone_voice(args.data, CloneOptions(name="variant", consent="benchmark clips", preset=args.one,
                                        device=args.device, max_minutes=args.minutes, seed=variant_seed(args.one),
                                        match_pitch=BASE_PITCH not in args.one.split("+")),
                asr=asr, progress=progress)
    return 0


def summary(folder: Path, spec: str, wall: float) -> dict:
    import tomllib

    profile = tomllib.loads((folder / "voice.toml").read_text())
    state = json.loads((folder / "training" / "state.json").read_text())
    t, q = profile["training"], profile["quality"]
    return {"variant": spec, "wall_min": round(wall / 60, 2), "train_min": t["minutes"],
            "trained_steps": t["trained_steps"], "kept_step": t.get("kept_step"),
            "kept_similarity": t.get("kept_similarity"), "kept_wer": t.get("kept_wer"),
            "why": t.get("kept_because"), "curve": state.get("curve"),
            "pitch_shift": profile.get("pitch_shift", 0.0),
            "report": {k: q.get(k) for k in ("clone_similarity", "base_similarity", "clone_wer", "base_wer",
                                             "clone_pitch_hz", "person_pitch_hz", "clone_pitch_spread",
                                             "person_pitch_spread", "base_dnsmos", "clone_dnsmos",
                                             "person_dnsmos")}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("variants", nargs="*", default=["gpu"])
    parser.add_argument("--minutes", type=float, help="training time budget per variant")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", type=Path, help="make the voices under this folder (default: a temporary one)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        return run_one(args)
    for spec in args.variants:
        variant_preset(spec)   # fail before starting anything
    root = args.keep or Path(tempfile.mkdtemp(prefix="dh-variants-"))
    procs = {}
    for spec in args.variants:
        folder = root / re.sub(r"[^\w.-]", "_", spec)
        folder.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, __file__, args.data, "--one", spec, "--device", args.device,
               *(["--minutes", str(args.minutes)] if args.minutes else []),
               *[x for o in args.overrides for x in ("--set", o)]]
        procs[spec] = (subprocess.Popen(cmd, env={**os.environ, "DH_VOICES_DIR": str(folder)}), folder,
                       time.monotonic())
    results = []
    for spec, (proc, folder, t0) in procs.items():
        code = proc.wait()
        wall = time.monotonic() - t0
        if code != 0:
            results.append({"variant": spec, "error": f"exit {code}"})
            continue
        results.append(summary(folder / "variant", spec, wall))
    print(f"\n{'variant':28} {'wall':>6} {'steps':>6} {'kept':>5} {'similarity':>10} {'WER':>6}")
    for r in results:
        if "error" in r:
            print(f"{r['variant']:28} {r['error']}")
            continue
        print(f"{r['variant']:28} {r['wall_min']:5.1f}m {r['trained_steps']:6} {r['kept_step']:5} "
              f"{r['kept_similarity']:10.3f} {r['kept_wer']:6.1%}")
        print("    curve: " + "  ".join(f"{e['step']}:{e['similarity']:.3f}/{e['wer']:.1%}" for e in r["curve"]))
        q = r["report"]
        print(f"    kept because: {r['why']}")
        print(f"    final report: similarity {q['base_similarity']:.3f} (base) -> {q['clone_similarity']:.3f}, "
              f"WER {q['base_wer']:.1%} -> {q['clone_wer']:.1%}; median pitch {q.get('clone_pitch_hz') or 0:.0f} Hz "
              f"(the person {q.get('person_pitch_hz') or 0:.0f} Hz, trained moved {-r['pitch_shift']:+.1f} semitones); "
              f"pitch spread {q.get('clone_pitch_spread') or 0:.2f} semitones (the person "
              f"{q.get('person_pitch_spread') or 0:.2f}); DNSMOS {q.get('base_dnsmos') or 0:.2f} (base) -> "
              f"{q.get('clone_dnsmos') or 0:.2f} (the person's clips {q.get('person_dnsmos') or 0:.2f})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
