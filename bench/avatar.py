"""Avatar benchmark: render speed as a multiple of real time (audio seconds per wall second; > 1 is
faster than real time) for the warp engine at 512x512, at each real portrait's own size and at 1080p,
plus Wav2Lip's model speed with random weights of the public architecture (no checkpoint is shipped).
Usage: python bench/avatar.py [--data ../shared/data] [--seconds 20]
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the speech to render")
    args = parser.parse_args()

    import cv2
    import torch

    from pipelines import registry

    text = ("Hello, I am your digital twin. I can read the news, narrate a story, or answer your questions. "
            "Every word you hear is lip-synced on this portrait, on a plain laptop CPU. ") * 4
    speech = registry.build("tts", "vits-onnx").synthesize(text)
    speech = type(speech)(speech.audio.slice(0, args.seconds), speech.text,
                          tuple(p for p in speech.phonemes if p.end <= args.seconds),
                          tuple(w for w in speech.words if w.end <= args.seconds))
    work = Path(tempfile.mkdtemp(prefix="dh-bench-"))
    faces = args.data / "faces"
    astronaut = cv2.imread(str(faces / "astronaut_eileen_collins.png"))
    cv2.imwrite(str(work / "astronaut_1080.png"), cv2.resize(astronaut, (1080, 1080), interpolation=cv2.INTER_CUBIC))
    cases = [("astronaut 512x512", faces / "astronaut_eileen_collins.png"),
             ("GRID still 360x288", faces / "bbaf2n_frame0.png"),
             ("astronaut upscaled 1080x1080", work / "astronaut_1080.png")]
    print(f"Avatar benchmark: {speech.audio.duration:.1f} s of speech, 25 fps, {torch.get_num_threads()} threads\n")
    print(f"{'engine':10} {'portrait':30} {'render s':>9} {'x real time':>12}")
    warp = registry.build("lipsync", "warp")
    for label, face in cases:
        t0 = time.perf_counter()
        warp.render(face, speech, work / "out.mp4")
        took = time.perf_counter() - t0
        print(f"{'warp':10} {label:30} {took:9.2f} {speech.audio.duration / took:12.2f}")

    from avatar.wav2lip import build_model

    model = build_model()
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, work / "w2l.pth")
    w2l = registry.build("lipsync", "wav2lip", checkpoint=str(work / "w2l.pth"))
    for label, face in cases[:2]:
        t0 = time.perf_counter()
        w2l.render(face, speech, work / "out.mp4")
        took = time.perf_counter() - t0
        print(f"{'wav2lip':10} {label:30} {took:9.2f} {speech.audio.duration / took:12.2f}  (random weights)")
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB "
          "(frames stream to the encoder; memory does not grow with length)")


if __name__ == "__main__":
    main()
