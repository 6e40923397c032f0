"""ASR benchmark: both engines side by side on the same real files.

Prints load time, real-time factor (processing seconds / audio seconds, warm model), word error rate
(English) / character error rate (Mandarin) and peak memory. Each engine runs in its own process so
memory figures do not mix. Usage: python bench/asr.py [--data ../shared/data] [--repeat 2]
"""
from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def files(data: Path) -> list[tuple[Path, str, str]]:
    rows = []
    for lang in ("en", "zh"):
        with open(data / "asr" / lang / "transcripts.tsv", encoding="utf-8") as f:
            rows += [(data / "asr" / lang / r["file"], r["transcript"], lang) for r in csv.DictReader(f, delimiter="\t")]
    rows.append((data / "podcast/dev00.wav", "", "en"))  # 30 s meeting: speed only, no reference
    return rows


def run_engine(name: str, data: Path, repeat: int) -> dict:
    from pipelines import registry
    from pipelines.audio import load_audio
    from pipelines.text import char_error_rate, word_error_rate

    asr = registry.build("asr", name)
    t0 = time.perf_counter()
    _ = asr.model
    load_s = time.perf_counter() - t0
    results = []
    for path, reference, lang in files(data):
        audio = load_audio(path)
        asr.transcribe(audio)  # warm-up (first-call allocations)
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            transcript = asr.transcribe(audio)
            best = min(best, time.perf_counter() - t0)
        error = None
        if reference:
            error = (char_error_rate if lang == "zh" else word_error_rate)(reference, transcript.text)
        results.append({"file": path.name, "seconds": audio.duration, "rtf": best / audio.duration,
                        "error": error, "metric": "CER" if lang == "zh" else "WER", "text": transcript.text})
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"engine": name, "load_s": load_s, "peak_rss_mb": peak_mb, "files": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--engine", help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    if args.engine:
        print(json.dumps(run_engine(args.engine, args.data, args.repeat)))
        return

    from pipelines import registry

    runs = []
    for name in registry.names("asr"):
        out = subprocess.run([sys.executable, __file__, "--engine", name, "--data", str(args.data),
                              "--repeat", str(args.repeat)], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))

    import platform
    import os
    print(f"ASR benchmark on {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"best of {args.repeat} warm runs\n")
    names = [r["engine"] for r in runs]
    print(f"{'file':28} {'sec':>5}  " + "  ".join(f"{n + ' RTF':>18} {'err':>5}" for n in names))
    for i, row in enumerate(runs[0]["files"]):
        cells = []
        for r in runs:
            f = r["files"][i]
            err = "" if f["error"] is None else f"{f['metric']} {f['error']:.1%}"
            cells.append(f"{f['rtf']:>18.3f} {err:>5}")
        print(f"{row['file']:28} {row['seconds']:5.1f}  " + "  ".join(cells))
    print()
    for r in runs:
        scored = [f for f in r["files"] if f["error"] is not None and f["metric"] == "WER"]
        total_audio = sum(f["seconds"] for f in r["files"])
        total_proc = sum(f["rtf"] * f["seconds"] for f in r["files"])
        mean_wer = sum(f["error"] for f in scored) / len(scored)
        print(f"{r['engine']:16} load {r['load_s']:5.2f} s   overall RTF {total_proc / total_audio:.3f}   "
              f"mean English WER {mean_wer:.1%}   peak RSS {r['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
