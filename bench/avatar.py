"""Avatar benchmark: render speed as a multiple of real time (audio seconds per wall second; > 1 is faster
than real time) per engine side by side — the landmark renderer (default `warp`), the old Haar-box renderer
(`warp`, renderer = "haar"), the video avatar, and Wav2Lip with random weights of the public architecture —
plus measured quality per renderer (lip closure on p/b/m, artefacts) and a contact sheet PNG of frames at
closed / open / rounded / blink moments, old vs new, for people to judge.
Usage: python bench/avatar.py [--data ../shared/data] [--seconds 20] [--sheet bench/out/avatar_contact_sheet.png]
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FACES = ["astronaut_eileen_collins.png", "bbaf2n_frame0.png", "lbax4n_frame0.png"]


def trimmed(speech, seconds):
    return type(speech)(speech.audio.slice(0, seconds), speech.text,
                        tuple(p for p in speech.phonemes if p.end <= seconds),
                        tuple(w for w in speech.words if w.end <= seconds))


def moments(speech, track, blinks):
    """Frame indices worth looking at: lips closed on a p/b/m, half open, wide open, rounded, a blink."""
    n = len(track)
    bilabial = [int((p.start + p.end) / 2 * track.fps) for p in speech.phonemes if p.label in "pbm"]
    closed = min((i for i in bilabial if i < n), key=lambda i: track.open[i], default=0)
    wide = int(np.argmax(track.open))
    half = int(np.argmin(np.abs(track.open - 0.5 * track.open[wide])))
    rounded = int(np.argmin(np.where(track.open > 0.25, track.spread, 9)))
    blink = int(np.argmax(blinks))
    return {"p/b/m closed": closed, "half open": half, "wide open": wide, "rounded (o/u/w)": rounded, "blink": blink}


def face_crop(frame, pts, width=220):
    import cv2

    x0, y0 = pts[:, 0].min(), pts[:, 1].min()
    x1, y1 = pts[:, 0].max(), pts[:, 1].max()
    m = 0.08 * (x1 - x0)
    x0, y0, x1, y1 = int(max(x0 - m, 0)), int(max(y0 + 0.12 * (y1 - y0), 0)), int(x1 + m), int(y1 + m)
    crop = frame[y0:y1, x0:x1]
    return cv2.resize(crop, (width, int(width * crop.shape[0] / crop.shape[1])), interpolation=cv2.INTER_CUBIC)


def label(image, text, colour=(255, 255, 255)):
    import cv2

    out = image.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 18), (0, 0, 0), -1)
    cv2.putText(out, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, colour, 1, cv2.LINE_AA)
    return out


def contact_sheet(data: Path, speech, path: Path) -> list[tuple]:
    """Old vs new renderer on every portrait at the same moments; returns the quality figures."""
    import cv2

    from avatar.eyes import blink_curve
    from avatar.face import detect_face, load_portrait
    from avatar.landmarks import find_landmarks
    from avatar.quality import ArtefactMeter, EyeInterior, MouthInterior
    from avatar.render import make_renderer, mouth_track
    from avatar.warp import Pose

    track = mouth_track(speech, 25)
    blinks = blink_curve(len(track), 25, 0, track.open)
    picks = moments(speech, track, blinks)
    bilabial = [int((p.start + p.end) / 2 * 25) for p in speech.phonemes if p.label in "pbm"]
    bilabial = [i for i in bilabial if i < len(track)]
    vowels = np.flatnonzero(track.open > 0.5)
    rows, figures = [], []
    for name in FACES:
        image = load_portrait(data / "faces" / name)
        layout = detect_face(image)
        pts = find_landmarks(image, layout.face)
        inside, eyes, meter = MouthInterior(image, pts), EyeInterior(image, pts), ArtefactMeter(image, pts)
        for kind, tag in (("haar", "old (Haar boxes)"), ("landmarks", "new (landmarks)")):
            renderer = make_renderer(image, layout, kind)
            frames = [renderer.render(Pose(float(track.open[i]), float(track.spread[i]), float(blinks[i])))
                      for i in range(len(track))]
            shown = np.array([inside.share(f) for f in frames])
            closed_eyes = max(eyes.share(f) for f, b in zip(frames, blinks) if b > 0.9) / max(eyes.share(image), 1e-6)
            figures.append((name.split("_")[0], tag.split()[0], np.median(shown[bilabial]), np.median(shown[vowels]),
                            closed_eyes, max(meter.flat(f) for f in frames), max(meter.hard(f) for f in frames)))
            cells = [label(face_crop(image, pts), f"{name.split('_')[0]}: portrait")]
            cells += [label(face_crop(frames[i], pts), f"{tag}: {what}", (120, 255, 120) if kind == "landmarks" else (120, 180, 255))
                      for what, i in picks.items()]
            h = min(c.shape[0] for c in cells)
            rows.append(np.hstack([c[:h] for c in cells]))
    width = max(r.shape[1] for r in rows)
    sheet = np.vstack([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0))) for r in rows])
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), sheet)
    return figures


def video_strip(data: Path, speech, path: Path, work: Path) -> None:
    """The video avatar: source clip frames (top) and re-animated frames (bottom) at the same moments."""
    import av
    import cv2

    from pipelines import registry
    from avatar.video_avatar import load_clip, pingpong

    out = work / "video_avatar.mp4"
    registry.build("lipsync", "warp").render(data / "video" / "bbaf2n.mp4", speech, out)
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    source, _ = load_clip(data / "video" / "bbaf2n.mp4")
    picks = np.linspace(10, len(frames) - 10, 6).astype(int)
    crop = lambda f: cv2.resize(f[40:260, 70:250], (180, 220), interpolation=cv2.INTER_CUBIC)  # noqa: E731
    top = np.hstack([label(crop(source[pingpong(i, len(source))]), f"clip frame {pingpong(i, len(source))}") for i in picks])
    bottom = np.hstack([label(crop(frames[i]), f"avatar frame {i}", (120, 255, 120)) for i in picks])
    cv2.imwrite(str(path), np.vstack([top, bottom]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the speech to render")
    parser.add_argument("--sheet", type=Path, default=ROOT / "bench" / "out" / "avatar_contact_sheet.png")
    parser.add_argument("--no-wav2lip", action="store_true")
    args = parser.parse_args()

    import cv2
    import torch

    from pipelines import registry

    text = ("Hello, I am your digital twin. I can read the news, narrate a story, or answer your questions. "
            "Maybe Bob bought a map for my puppy. Every word you hear is lip-synced on this portrait, on a "
            "plain laptop CPU. ") * 3
    speech = trimmed(registry.build("tts", "vits-onnx").synthesize(text), args.seconds)
    work = Path(tempfile.mkdtemp(prefix="dh-bench-"))
    faces = args.data / "faces"
    astronaut = cv2.imread(str(faces / "astronaut_eileen_collins.png"))
    cv2.imwrite(str(work / "astronaut_1080.png"), cv2.resize(astronaut, (1080, 1080), interpolation=cv2.INTER_CUBIC))
    cases = [("astronaut 512x512", faces / "astronaut_eileen_collins.png"),
             ("GRID still 360x288", faces / "bbaf2n_frame0.png"),
             ("astronaut upscaled 1080x1080", work / "astronaut_1080.png")]
    print(f"Avatar benchmark: {speech.audio.duration:.1f} s of speech, 25 fps, {torch.get_num_threads()} threads\n")
    print("(wall: audio seconds per wall second; cpu: per second of this process's CPU time, which other\n"
          " processes on a busy machine do not inflate)")
    print(f"{'engine':24} {'face':30} {'render s':>9} {'x real time':>12} {'x (cpu)':>8}")

    def timed(run):
        t0, c0 = time.perf_counter(), time.process_time()
        run()
        return time.perf_counter() - t0, time.process_time() - c0
    engines = [("warp (landmarks, new)", registry.build("lipsync", "warp")),
               ("warp (haar, old)", registry.build("lipsync", "warp", renderer="haar"))]
    for label_, face in cases:
        for name, engine in engines:
            took, cpu = timed(lambda: engine.render(face, speech, work / "out.mp4"))
            d = speech.audio.duration
            print(f"{name:24} {label_:30} {took:9.2f} {d / took:12.2f} {d / cpu:8.2f}")
    took, cpu = timed(lambda: engines[0][1].render(args.data / "video" / "bbaf2n.mp4", speech, work / "out.mp4"))
    d = speech.audio.duration
    print(f"{'warp (video avatar)':24} {'GRID clip 360x288, 3 s looped':30} {took:9.2f} {d / took:12.2f} {d / cpu:8.2f}")
    if not args.no_wav2lip:
        from avatar.wav2lip import build_model

        model = build_model()
        torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, work / "w2l.pth")
        w2l = registry.build("lipsync", "wav2lip", checkpoint=str(work / "w2l.pth"))
        for label_, face in cases[:2]:
            took, cpu = timed(lambda: w2l.render(face, speech, work / "out.mp4"))
            d = speech.audio.duration
            print(f"{'wav2lip (random weights)':24} {label_:30} {took:9.2f} {d / took:12.2f} {d / cpu:8.2f}")

    figures = contact_sheet(args.data, trimmed(speech, min(args.seconds, 8.0)), args.sheet)
    strip = args.sheet.with_name("avatar_video_strip.png")
    video_strip(args.data, trimmed(speech, min(args.seconds, 6.0)), strip, work)
    print("\nQuality (same speech and poses; mouth interior = share of the lips' middle that is cavity or teeth;")
    print("eyes at blink = eye still showing at a blink's peak, of the open eye; flat = largest new flat patch /")
    print("mouth area; hard = share of the face with edges sharper than the portrait's own)")
    print(f"{'face':11} {'renderer':9} {'mouth p/b/m':>11} {'mouth vowels':>12} {'eyes at blink':>13} {'flat':>7} {'hard':>8}")
    for face, renderer, closed, vowels, eyes, flat, hard in figures:
        print(f"{face:11} {renderer:9} {closed:11.3f} {vowels:12.3f} {eyes:13.2f} {flat:7.3f} {hard:8.4f}")
    print(f"\ncontact sheet: {args.sheet}\nvideo avatar strip: {strip}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB "
          "(frames stream to the encoder; memory does not grow with length)")


if __name__ == "__main__":
    main()
