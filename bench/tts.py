"""TTS benchmark: the PyTorch (Coqui Vits) and onnxruntime paths side by side, same voice, same texts.

Prints load time, real-time factor (synthesis seconds / audio seconds, warm), first-sentence latency,
peak memory, and round-trip WER through Whisper (faster-whisper) for the paragraph.
Usage: python bench/tts.py [--data ../shared/data]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PARAGRAPH = ("Dr. Smith arrived at 10:30 am on March 3rd, 2021. She paid $12.50 for 3 coffees, "
             "about 45% more than last year! The U.S. office is 25 km away, isn't it?")


def run_engine(name: str, data: Path) -> dict:
    from pipelines import registry

    t0 = time.perf_counter()
    tts = registry.build("tts", name)
    _ = tts.model
    load = time.perf_counter() - t0
    tts.synthesize("Warm up.")
    chapter = (data / "books/alice_chapter01.txt").read_text(encoding="utf-8")
    rows = {}
    for label, text in (("first sentence", "Hello! How are you today?"), ("paragraph", PARAGRAPH),
                        ("chapter (Alice ch.1)", chapter)):
        t0 = time.perf_counter()
        speech = tts.synthesize(text)
        took = time.perf_counter() - t0
        rows[label] = {"seconds": speech.audio.duration, "took": took, "rtf": took / speech.audio.duration}
        if label == "paragraph":
            from whisper.normalizers import EnglishTextNormalizer

            from pipelines.text import word_error_rate

            heard = registry.build("asr", "faster-whisper").transcribe(speech.audio).text
            norm = EnglishTextNormalizer()
            join = lambda t: __import__("re").sub(r"\b(\w) (?=\w\b)", r"\1", norm(t))  # noqa: E731  "u s" = "us"
            rows[label]["wer"] = word_error_rate(join(PARAGRAPH), join(heard))
    return {"engine": name, "load": load, "rows": rows,
            "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        print(json.dumps(run_engine(args.engine, args.data)))
        return
    from pipelines import registry

    runs = [json.loads(subprocess.run([sys.executable, __file__, "--engine", n, "--data", str(args.data)],
                                      capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
            for n in registry.names("tts")]
    import os

    print(f"TTS benchmark, voice joe (VITS medium, 22.05 kHz), {os.cpu_count()} cores, warm models\n")
    print(f"{'text':24} {'audio s':>8}  " + "  ".join(f"{r['engine'] + ' s':>14} {'RTF':>6}" for r in runs))
    for label in runs[0]["rows"]:
        cells = "  ".join(f"{r['rows'][label]['took']:14.2f} {r['rows'][label]['rtf']:6.3f}" for r in runs)
        print(f"{label:24} {runs[0]['rows'][label]['seconds']:8.1f}  {cells}")
    print()
    for r in runs:
        print(f"{r['engine']:10} load {r['load']:5.2f} s   paragraph round-trip WER {r['rows']['paragraph']['wer']:.1%}"
              f"   peak RSS {r['rss']:.0f} MB (includes the Whisper used for WER)")


if __name__ == "__main__":
    main()
