"""Audiobook benchmark: characters narrated per second, with and without the self-check, per TTS engine.

Each configuration runs in its own process (so peak memory is its own) on the same excerpt of a real book
(Alice's first chapter by default), from an empty work folder, through the whole flow: sentences, cached
pieces, chapter WAV, chapter .m4a, the chaptered .m4b. Model loading is timed apart and not counted in
chars/s. Prints chars/s, real-time factor, peak memory and the projected hours for a 300-page book
(500,000 characters) on this machine.

Usage: python bench/audiobook.py [--data ../shared/data] [--chars 4000] [--engines vits,vits-onnx] [--voice lj]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BOOK_CHARS = 500_000


def excerpt(data: Path, chars: int, folder: Path) -> Path:
    """The first `chars` characters of Alice's chapter 1, cut at a paragraph end."""
    text = (data / "books/alice_chapter01.txt").read_text(encoding="utf-8")
    cut = text.rfind("\n\n", 0, chars)
    path = folder / "alice_excerpt.txt"
    path.write_text(text[:cut if cut > 0 else chars] + "\n", encoding="utf-8")
    return path


def run_one(engine: str, check: bool, book_path: str, out: str, voice: str = "joe") -> dict:
    from pipelines.apps.audiobook_cmd import build_checker, build_narrator
    from pipelines.books import read_book
    from pipelines.config import load_config
    from pipelines.flows.audiobook import AudiobookFlow, AudiobookOptions

    config = load_config()
    t0 = time.perf_counter()
    narrator = build_narrator(config, engine=engine, voice=voice)   # as `dh audiobook` builds them
    warm = narrator.tts.synthesize("Warm up, please.")
    asr = None
    if check:
        asr = build_checker(config)
        asr.transcribe(warm.audio, language="en")
    load = time.perf_counter() - t0
    book = read_book(book_path)
    t0, usage0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    result = AudiobookFlow(book, out, narrator, asr=asr, options=AudiobookOptions(check=check)).run()
    took, usage = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage.ru_utime - usage0.ru_utime) + (usage.ru_stime - usage0.ru_stime)
    return {"engine": engine, "voice": voice, "check": check, "chars": result.chars, "seconds": took, "cpu": cpu, "load": load,
            "audio": result.audio_seconds, "wrong": len(result.wrong), "sentences": result.sentences,
            "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--chars", type=int, default=4000)
    parser.add_argument("--engines", default="vits,vits-onnx")
    parser.add_argument("--voice", default="joe", help="a voice profile: joe, or a clone (dh voices)")
    parser.add_argument("--one", nargs=5, metavar=("ENGINE", "CHECK", "BOOK", "OUT", "VOICE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        engine, check, book, out, voice = args.one
        print(json.dumps(run_one(engine, check == "1", book, out, voice)))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-audiobook-") as tmp:
        book = excerpt(Path(args.data), args.chars, Path(tmp))
        for engine in args.engines.split(","):
            for check in (False, True):
                out = Path(tmp) / f"{engine}-{int(check)}"
                proc = subprocess.run([sys.executable, __file__, "--one", engine, str(int(check)), str(book), str(out),
                                       args.voice],
                                      capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
                if proc.returncode != 0:
                    print(f"{engine} check={check} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
                    continue
                rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    load = os.getloadavg()
    print(f"Load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min) on {os.cpu_count()} cores")
    print(f"Audiobook narration on {os.cpu_count()} CPU cores, {rows[0]['chars'] if rows else 0} characters "
          f"of Alice ch. 1, voice {args.voice} (model load not counted)")
    print("chars/s: wall clock (depends on what else the machine runs); chars/CPU-s: per second of CPU time "
          "used by the process, all threads (a shared machine inflates it less); an idle 2-core machine "
          "narrates between 1x and 2x chars/CPU-s per wall second")
    print(f"{'engine':10} {'self-check':10} {'chars/s':>8} {'chars/CPU-s':>11} {'RTF':>6} {'audio s':>8} "
          f"{'wrong':>6} {'peak MB':>8} {'load s':>7} {'500k chars, wall':>17}")
    for r in rows:
        rate = r["chars"] / r["seconds"]
        print(f"{r['engine']:10} {'yes' if r['check'] else 'no':10} {rate:8.0f} {r['chars'] / r['cpu']:11.0f} "
              f"{r['seconds'] / r['audio']:6.3f} {r['audio']:8.1f} {r['wrong']:>6} {r['rss']:8.0f} "
              f"{r['load']:7.1f} {BOOK_CHARS / rate / 3600:15.2f} h")


if __name__ == "__main__":
    main()
