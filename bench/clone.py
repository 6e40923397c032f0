"""Cloning benchmark: one quality-driven fine-tune of joe towards the LJ Speech reader (24 clips).

Prints the preset, wall minutes, seconds per step, the curve (similarity to the 3 held-out clips, round-trip
WER through the configured ASR), the kept step and why, and the final report's figures. The voice is made
in a temporary voices folder and deleted afterwards (--keep DIR keeps it there).
Usage: nice -n 10 python bench/clone.py [--preset draft] [--data ../shared/data] [--keep DIR]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="draft")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--keep", type=Path, help="make the voice in this folder and keep it")
    args = parser.parse_args()
    voices = args.keep or Path(tempfile.mkdtemp(prefix="dh-clone-bench-"))
    os.environ["DH_VOICES_DIR"] = str(voices)

    from pipelines.config import build_stage, load_config
    from voices.finetune import CloneOptions, clone_voice

    asr = build_stage(load_config(), "asr")
    steps: list[tuple[float, str]] = []
    t0 = time.monotonic()

    def progress(fraction: float, message: str = "") -> None:
        if message.startswith(("scored", "posterior encoder: cached", "resumed")) or "posterior encoder 300" in message:
            print(f"[{(time.monotonic() - t0) / 60:5.1f} min] {message}", flush=True)
        steps.append((time.monotonic(), message))

    try:
        profile = clone_voice(args.data / "voice" / "ljspeech",
                              CloneOptions(name="lj-bench", consent="LJ Speech reader (public domain)",
                                           preset=args.preset, device=args.device),
                              asr=asr, progress=progress)
        minutes = (time.monotonic() - t0) / 60
        t, q = profile.training, profile.quality
        import json

        state = json.loads((profile.folder / "training" / "state.json").read_text())
        print()
        print("| step | similarity (held-out) | round-trip WER |")
        print("|---|---|---|")
        for e in state["curve"]:
            mark = " (kept)" if e["step"] == t.get("kept_step") else ""
            print(f"| {e['step']}{mark} | {e['similarity']:.3f} | {e['wer']:.1%} |")
        print()
        print("| preset | minutes (wall, all stages) | training minutes | steps run | kept step | "
              "similarity base → clone | WER base → clone | stopped early |")
        print("|---|---|---|---|---|---|---|---|")
        print(f"| {t['preset']} | {minutes:.1f} | {t['minutes']:.1f} | {t['trained_steps']} | "
              f"{t.get('kept_step')} | {q['base_similarity']:.3f} → {q['clone_similarity']:.3f} | {q['base_wer']:.1%} → {q['clone_wer']:.1%} | "
              f"{t.get('stopped_early_at', 'no')} |")
        print(f"\nkept because: {t.get('kept_because')}")
        print(f"reference: {q['reference']}; verdict: {q['verdict']}")
    finally:
        if args.keep is None:
            shutil.rmtree(voices, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
