"""The `gpu` preset on a lent GPU, scored here: `train` runs the real `clone_voice` there, recording the audio
of every evaluation; `score` measures that audio here with the same scorer `dh clone` uses, and re-applies the
keep-and-stop rule to the curve.

Why two halves: a lent GPU machine has no network and takes 64 MiB per call; faster-whisper with Whisper's
weights (~290 MB) does not fit beside the training stack. Training does not depend on the scores (only the
stop does), so the curve scored here is what `dh clone` would have seen, and where the rule would have
stopped is read off it. Not measured there: the scoring's own time (printed here, on this machine's CPU).
How the GPU side is carried and run: bench/gpu/prepare.sh.

  python bench/gpu_clone.py train VARIANT --data ../shared/data/voice/ljspeech --out OUT --minutes 5
  python bench/gpu_clone.py score OUT/VARIANT.zip [...]   (the 2026-11-27 H200 run: --patience 4)
"""
from __future__ import annotations

import argparse
import io
import json
import math
import sys
import threading
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# the log is written by training's progress and by the scorer, which runs in a helper thread beside training
# (Preset.score_beside): one holds this while it changes or writes the log
LOG_LOCK = threading.RLock()
SCORE_RATE = 16000   # what both resemblyzer and Whisper hear: the scorer resamples to it first, so storing it loses nothing

# the `gpu` preset as shipped and what was tried beside it; patience is lifted on the GPU (the scores come
# later, here) and the preset's own patience is applied when scoring
VARIANTS = {
    "gpu": {},
    "gpu-base": {"base_share": 0.5, "batch_size": 32},     # half of each batch the base voice's own speech
}


def _flac(audio) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(audio.samples, -1, 1), audio.sample_rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


class RecordingScorer:
    """Stores what the scorer would hear (16 kHz) instead of scoring it; returns no score (training goes on).
    A new archive is begun past 15.5 MB (what comes back from the GPU machine is capped at 16 MiB a file, and
    one evaluation's pass adds ~0.5 MB)."""

    def __init__(self, archive: Path, log: dict, save_log, voice_folder: Path):
        self.archives, self.log, self.calls = [archive], log, 0
        self.save_log, self.voice_folder = save_log, voice_folder

    def __call__(self, synthesize, sentences):
        from pipelines.audio import resample

        t = time.monotonic()
        if self.archives[-1].is_file() and self.archives[-1].stat().st_size > 15.5e6:
            first = self.archives[0]
            self.archives.append(first.with_name(f"{first.stem}.part{len(self.archives) + 1}.zip"))
        with zipfile.ZipFile(self.archives[-1], "a") as z:
            for j, sentence in enumerate(sentences):
                audio = resample(synthesize(sentence), SCORE_RATE)
                z.writestr(f"pass{self.calls:03d}/{j}.flac", _flac(audio))
        with LOG_LOCK:
            self.log["passes"].append({"pass": self.calls, "at": time.monotonic(),
                                       "synth_s": round(time.monotonic() - t, 2), "archive": self.archives[-1].name})
        self.calls += 1
        state = self.voice_folder / "training" / "state.json"
        if "held_out" not in self.log and state.is_file():   # written after the first evaluation
            with LOG_LOCK:
                self.log["held_out"] = json.loads(state.read_text())["held_out"]
            with zipfile.ZipFile(self.archives[0], "a") as z:
                for name in self.log["held_out"]:
                    z.write(self.voice_folder / "dataset" / "wavs" / name, f"held_out/{name}")
        self.save_log()   # as it goes: a run cut off by the machine's time limit still comes back
        return 0.0, 0.0


def train(args) -> None:
    import os

    try:   # resemblyzer imports a scipy module newer scipy releases dropped
        import scipy.ndimage.morphology  # noqa: F401
    except ImportError:
        import scipy.ndimage
        sys.modules["scipy.ndimage.morphology"] = scipy.ndimage

    for name in filter(None, args.block.split(",")):
        sys.modules[name] = None

    os.environ.setdefault("DH_VOICES_DIR", str(Path(args.work) / args.variant / "voices"))
    os.environ.setdefault("DH_CACHE_DIR", str(Path(args.work) / args.variant / "cache"))
    import torch

    from voices.finetune import PRESETS, CloneOptions, clone_voice

    if args.variant in VARIANTS:
        preset = replace(PRESETS["gpu"], **VARIANTS[args.variant])
    else:   # bench/clone_variants.py's tokens: gpu+text0.5, gpu+base0.5+bs32 ...
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from clone_variants import variant_preset

        preset = variant_preset(args.variant)
    preset = replace(preset, patience=10**6)
    PRESETS[args.variant] = preset
    import voices.vits.export as export
    export.export_voice = lambda profile: None   # not needed to score; saves ~20 s

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    label = args.variant.replace("+", "_")   # file names the device machine sends back as they are
    archive, log_path = out / f"{label}.zip", out / f"{label}.json"
    for old in out.glob(f"{label}.*zip"):
        old.unlink()
    log: dict = {"variant": args.variant, "preset": {k: v for k, v in vars(preset).items() if k != "gives"},
                 "torch": torch.__version__, "device": torch.cuda.get_device_name(0) if torch.cuda.is_available()
                 else "cpu", "progress": [], "passes": [], "rule_patience": PRESETS["gpu"].patience}
    start = time.monotonic()
    log["for_passes_start"] = start

    def save_log():
        with LOG_LOCK:
            log_path.write_text(json.dumps(log, indent=1))

    last = [0.0]

    def progress(fraction, message=""):
        now = time.monotonic()
        if message and (now - last[0] > 5 or "scored" in message or "step" not in message):
            last[0] = now
            with LOG_LOCK:
                log["progress"].append([round(now - start, 1), round(fraction, 3), message])
            print(f"[{args.variant} {now - start:6.1f}s] {message}", flush=True)
            if "scored" in message:
                save_log()

    scorer = RecordingScorer(archive, log, save_log, Path(os.environ["DH_VOICES_DIR"]) / args.variant)
    options = CloneOptions(name=args.variant, consent="LJ Speech, public domain (bench)", preset=args.variant,
                           device=args.device, max_minutes=args.minutes, steps=args.steps,
                           posterior_steps=args.posterior_steps, eval_every=args.eval_every)
    try:
        clone_voice(args.data, options, progress=progress, scorer=scorer)
    except Exception as exc:   # the quality report needs faster-whisper, absent there; the curve is all we need
        log["ended_with"] = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        state_path = Path(os.environ["DH_VOICES_DIR"]) / args.variant / "training" / "state.json"
        if state_path.is_file():
            state = json.loads(state_path.read_text())
            log["state"] = {k: v for k, v in state.items() if k != "losses"}
            log["losses"] = state.get("losses", [])[-40:]
        log["total_s"] = round(time.monotonic() - start, 1)
        log["modules"] = sorted({m.split(".")[0] for m in sys.modules if not m.startswith("_")})
        if torch.cuda.is_available():
            log["max_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        save_log()


def score(args) -> None:
    from pipelines import registry
    from pipelines.audio import load_audio
    from pipelines.types import Audio
    from voices.evaluation import EVAL_SEEDS, HeldOutScorer
    from voices.finetune import EVAL_SENTENCES, PRESETS, SAMPLE_RATE
    from voices.selection import Evaluation, choose

    import soundfile as sf

    asr = registry.build("asr", "faster-whisper")
    for path in map(Path, args.archives):
        log = json.loads(path.with_suffix(".json").read_text())
        steps = [int(m.split()[2].rstrip(":")) for _, _, m in log["progress"] if m.startswith("scored step ")]
        parts = {p["pass"]: path.with_name(p.get("archive", path.name)) for p in log["passes"]}
        zips = {a: zipfile.ZipFile(a) for a in set(parts.values()) | {path}}
        refs = []
        for name in log["held_out"]:
            tmp = Path("/tmp") / f"held_{name}"
            tmp.write_bytes(zips[path].read(f"held_out/{name}"))
            refs.append(load_audio(tmp, SAMPLE_RATE))
        scorer = HeldOutScorer.from_clips(refs, asr, "en")
        seeds = len(EVAL_SEEDS)
        t0 = time.monotonic()
        figures = []
        for k in range(min(len(parts) // seeds, len(steps))):
            sims, wers = [], []
            for p in range(k * seeds, (k + 1) * seeds):
                def stored(sentence, z=zips[parts[p]], p=p):
                    j = EVAL_SENTENCES.index(sentence)
                    samples, rate = sf.read(io.BytesIO(z.read(f"pass{p:03d}/{j}.flac")), dtype="float32")
                    return Audio(samples, rate)
                s, w = scorer(stored, EVAL_SENTENCES)
                sims.append(s)
                wers.append(w)
            figures.append(Evaluation(steps[k], round(float(np.mean(sims)), 4), round(float(np.mean(wers)), 4)))
            print(f"  {path.stem} step {steps[k]}: {figures[-1].similarity:.3f} / {figures[-1].wer:.1%}", flush=True)
        scoring_s = (time.monotonic() - t0) / max(len(figures), 1)
        # when each evaluation ended, in the run's own clock (training started at the first pass's end)
        ends = [p["at"] - log["for_passes_start"] for p in log["passes"]][seeds - 1::seeds]
        train_start = next((t for t, _, m in log["progress"] if m.startswith("scoring the base voice")), 0.0)
        # the patience of the preset the run was made with (the 2026-11-27 run: 4, before it scored every 25 steps)
        patience = args.patience or log.get("rule_patience", PRESETS["gpu"].patience)
        stop_at = None
        for n in range(1, len(figures) + 1):
            decision = choose(figures[:n], figures[0].wer, patience=patience)
            if decision.stop:
                stop_at = n
                break
        decision = choose(figures[:stop_at or len(figures)], figures[0].wer, patience=patience)
        print(f"\n{path.stem}: {log['device']}, torch {log['torch']}, peak GPU memory {log.get('max_memory_gib')} GiB;"
              f" set-up before training {train_start:.0f} s; scoring here {scoring_s:.0f} s per evaluation "
              f"(2 CPU cores)")
        print(f"{'step':>6} {'similarity':>10} {'WER':>7} {'min from training start':>24}")
        for i, e in enumerate(figures):
            mark = " kept" if e.step == decision.kept.step else ""
            stop = "  <- the rule stops here" if stop_at == i + 1 else ""
            when = (ends[i] - train_start) / 60 if i < len(ends) else math.nan
            print(f"{e.step:>6} {e.similarity:>10.3f} {e.wer:>6.1%} {when:>24.1f}{mark}{stop}")
        print(f"kept step {decision.kept.step}: {decision.reason}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    t = sub.add_parser("train")
    t.add_argument("variant", help=f"{', '.join(VARIANTS)}, or a preset changed by bench/clone_variants.py's "
                                   "tokens: gpu+text0.5, gpu+base0.5+bs32 ...")
    t.add_argument("--data", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--work", default="/tmp/gpu-clone")
    t.add_argument("--minutes", type=float, default=5.0)
    t.add_argument("--steps", type=int, default=None)
    t.add_argument("--device", default="auto")
    t.add_argument("--posterior-steps", type=int, default=None)
    t.add_argument("--eval-every", type=int, default=None)
    t.add_argument("--block", default="", help="modules to make unimportable (to check what the GPU side needs)")
    s = sub.add_parser("score")
    s.add_argument("archives", nargs="+")
    s.add_argument("--patience", type=int, help="the keep rule's patience (default: the run's preset's)")
    args = parser.parse_args()
    {"train": train, "score": score}[args.verb](args)


if __name__ == "__main__":
    main()
